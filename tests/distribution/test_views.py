import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from distribution import services
from distribution.models import Passkey, Release
from tests.factories import ReleaseFactory, ReleaseFileFactory


def build(release: Release) -> Release:
    services.build_release_torrent(release_id=release.pk)
    release.refresh_from_db()
    return release


@pytest.fixture
def published(product):
    release = services.create_release(
        product=product,
        version="1.0",
        notes="First & finest",
        files=[services.IncomingFile(path="atlas.iso", size=5, source=_stream(b"hello"))],
    )
    return build(release)


@pytest.fixture
def private_release(product):
    release = services.create_release(
        product=product,
        version="secret-1",
        visibility=Release.Visibility.PRIVATE,
        files=[services.IncomingFile(path="s.bin", size=3, source=_stream(b"abc"))],
    )
    return build(release)


def _stream(data: bytes):
    import io

    return io.BytesIO(data)


def test_it_lists_published_releases_in_the_catalogue(client, published):
    ReleaseFactory(product=published.product, version="draft-only", status=Release.Status.PROCESSING)

    page = client.get("/").content.decode()

    assert "Atlas" in page and "1.0" in page
    assert "draft-only" not in page
    assert reverse("release-torrent", args=[published.pk]) in page


def test_it_searches_the_catalogue(client, published, product):
    other = ReleaseFactory(version="7.7", product__name="Zephyr")
    ReleaseFileFactory(release=other)

    assert "Zephyr" in client.get("/?q=zeph").content.decode()
    page = client.get("/?q=zeph").content.decode()
    assert reverse("release-detail", args=[published.pk]) not in page
    assert "No release matches" in client.get("/?q=nothing-like-this").content.decode()


def test_it_hides_private_releases_from_anonymous_users(client, private_release, outsider):
    assert "secret-1" not in client.get("/").content.decode()
    assert client.get(private_release.get_absolute_url()).status_code == 404
    assert client.get(reverse("release-torrent", args=[private_release.pk])).status_code == 404

    client.force_login(outsider)
    assert "secret-1" in client.get("/").content.decode()
    assert client.get(reverse("release-torrent", args=[private_release.pk])).status_code == 200


def test_a_private_release_page_shows_the_viewers_own_magnet_and_is_never_cached(
    client, private_release, published, outsider
):
    client.force_login(outsider)

    public_page = client.get(published.get_absolute_url())
    assert not Passkey.objects.filter(user=outsider).exists()
    assert "no-store" not in public_page.get("Cache-Control", "")
    private_page = client.get(private_release.get_absolute_url())

    passkey = Passkey.objects.get(user=outsider).key
    assert f"announce%2F{passkey}" in private_page.content.decode()
    assert {"private", "no-store"} <= {part.strip() for part in private_page["Cache-Control"].split(",")}


def test_it_shows_files_hashes_torrent_and_magnet(client, published):
    page = client.get(published.get_absolute_url()).content.decode()

    assert "atlas.iso" in page
    assert published.files.get().sha256 in page
    assert published.torrent.info_hash_v1 in page
    assert "magnet:?xt=urn:btih:" + published.torrent.info_hash_v1 in page
    assert "First &amp; finest" in page


def test_it_serves_the_torrent(client, published):
    response = client.get(reverse("release-torrent", args=[published.pk]))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/x-bittorrent"
    assert bytes(response.content) == bytes(published.torrent.metainfo)
    assert 'filename="atlas-1.0.torrent"' in response["Content-Disposition"]


def test_it_does_not_serve_torrents_of_retired_or_unbuilt_releases(client, published, product):
    services.retire_release(release=published)
    assert client.get(reverse("release-torrent", args=[published.pk])).status_code == 404
    page = client.get(published.get_absolute_url()).content.decode()
    assert "no longer tracked or seeded" in page
    processing = ReleaseFactory(product=product, status=Release.Status.PROCESSING)
    assert client.get(reverse("release-torrent", args=[processing.pk])).status_code == 404


def test_it_lets_a_publisher_upload_a_release(client, publisher, product, django_capture_on_commit_callbacks):
    client.force_login(publisher)
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(
            reverse("release-create"),
            {
                "product": product.pk,
                "version": "4.2",
                "notes": "",
                "visibility": "public",
                "torrent_format": "v1",
                "files": [SimpleUploadedFile("a.txt", b"aaa"), SimpleUploadedFile("b.txt", b"bbbb")],
            },
        )

    release = Release.objects.get(version="4.2")
    assert response.status_code == 302 and response["Location"] == release.get_absolute_url()
    assert release.status == Release.Status.PROCESSING
    assert sorted(release.files.values_list("path", "size")) == [("a.txt", 3), ("b.txt", 4)]
    assert len(callbacks) == 1


def test_it_creates_a_new_product_for_its_publisher(client, publisher, settings):
    settings.FANOUT_PRODUCT_CREATORS = "publishers"
    client.force_login(publisher)
    client.post(
        reverse("release-create"),
        {
            "new_product": "Brand New",
            "version": "1",
            "visibility": "public",
            "torrent_format": "v1",
            "files": [SimpleUploadedFile("a.txt", b"a")],
        },
    )

    release = Release.objects.get()
    assert release.product.slug == "brand-new"
    assert release.product.can_publish(publisher)


@pytest.mark.parametrize(
    ("version", "files", "error"),
    [
        ("1.0", [SimpleUploadedFile("empty.txt", b"")], "The release is empty"),
        ("1.0", [], "at least one file"),
        ("existing", [SimpleUploadedFile("a.txt", b"a")], "already has a release existing"),
    ],
)
def test_it_shows_why_an_upload_was_refused_and_keeps_nothing(
    client, publisher, product, version, files, error
):
    ReleaseFactory(product=product, version="existing")
    client.force_login(publisher)

    response = client.post(
        reverse("release-create"),
        {
            "product": product.pk,
            "version": version,
            "visibility": "public",
            "torrent_format": "v1",
            "files": files,
        },
    )

    assert response.status_code == 200
    assert error in response.content.decode()
    assert list(Release.objects.values_list("version", flat=True)) == ["existing"]


def test_it_refuses_the_publish_page_to_non_publishers(client, outsider):
    assert client.get(reverse("release-create")).status_code == 302
    client.force_login(outsider)
    assert client.get(reverse("release-create")).status_code == 403


def test_it_refuses_releases_of_other_publishers_products(client, other_publisher, product):
    client.force_login(other_publisher)
    page = client.get(reverse("release-create")).content.decode()
    assert "Atlas" not in page
    response = client.post(
        reverse("release-create"),
        {
            "product": product.pk,
            "version": "9",
            "visibility": "public",
            "torrent_format": "v1",
            "files": [SimpleUploadedFile("a.txt", b"a")],
        },
    )
    assert "Select a valid choice" in response.content.decode()
    assert not Release.objects.exists()


def test_it_shows_a_failed_build_with_its_reason_and_a_retry_button(client, publisher, product):
    release = ReleaseFactory(product=product, status=Release.Status.FAILED, failure_reason="disk on fire")

    client.force_login(publisher)
    page = client.get(release.get_absolute_url()).content.decode()
    assert "disk on fire" in page and "Retry the build" in page

    response = client.post(reverse("release-retry", args=[release.pk]))
    assert response.status_code == 302
    release.refresh_from_db()
    assert release.status == Release.Status.PROCESSING


def test_it_lets_only_the_products_publishers_retry_or_retire(client, other_publisher, published):
    client.force_login(other_publisher)
    assert client.post(reverse("release-retire", args=[published.pk])).status_code == 403
    published.refresh_from_db()
    assert published.status == Release.Status.PUBLISHED


def test_it_reports_build_progress(client, publisher, product):
    release = ReleaseFactory(
        product=product, status=Release.Status.PROCESSING, build_pieces_done=3, build_pieces_total=12
    )
    client.force_login(publisher)

    assert client.get(reverse("release-progress", args=[release.pk])).json() == {
        "status": "processing",
        "pieces_done": 3,
        "pieces_total": 12,
        "percent": 25,
        "failure_reason": "",
    }


def test_it_lists_the_publishers_releases_in_every_state(client, publisher, product, other_publisher):
    ReleaseFactory(product=product, version="a", status=Release.Status.FAILED, failure_reason="broken")
    ReleaseFactory(version="not-mine")
    client.force_login(publisher)

    page = client.get(reverse("publisher-releases")).content.decode()

    assert "broken" in page
    assert "not-mine" not in page


def test_it_serves_web_seed_ranges_of_a_multi_file_release(client, product):
    release = build(
        services.create_release(
            product=product,
            version="m",
            files=[
                services.IncomingFile(path="dir/a.bin", size=10, source=_stream(b"0123456789")),
                services.IncomingFile(path="b.bin", size=3, source=_stream(b"xyz")),
            ],
        )
    )
    url = reverse("release-file", args=[release.pk, "atlas-m/dir/a.bin"])

    whole = client.get(url)
    assert whole.status_code == 200 and b"".join(whole.streaming_content) == b"0123456789"
    assert whole["Accept-Ranges"] == "bytes"

    part = client.get(url, HTTP_RANGE="bytes=2-5")
    assert part.status_code == 206
    assert b"".join(part.streaming_content) == b"2345"
    assert part["Content-Range"] == "bytes 2-5/10" and part["Content-Length"] == "4"

    suffix = client.get(url, HTTP_RANGE="bytes=-3")
    assert b"".join(suffix.streaming_content) == b"789"

    beyond = client.get(url, HTTP_RANGE="bytes=10-")
    assert beyond.status_code == 416 and beyond["Content-Range"] == "bytes */10"

    assert client.get(url, HTTP_IF_NONE_MATCH=whole["ETag"]).status_code == 304
    stale = client.get(url, HTTP_RANGE="bytes=0-0", HTTP_IF_RANGE='"old"')
    assert stale.status_code == 200
    assert client.get(reverse("release-file", args=[release.pk, "b.bin"])).status_code == 404
    assert client.get(reverse("release-file", args=[release.pk, "atlas-m/../b.bin"])).status_code == 404


def test_it_links_each_file_for_direct_download(client, published):
    page = client.get(published.get_absolute_url()).content.decode()
    link = re.search(r'href="([^"]+/files/[^"]+)"', page).group(1)

    response = client.get(link)

    assert b"".join(response.streaming_content) == b"hello"
