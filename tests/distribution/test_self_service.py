"""A publisher's own actions after the publish page: notes and tags, tags when publishing, deleting
a draft or a failed release (page, service, API, admin), and no product left by a refused release."""

import io
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse

from distribution import services, uploads
from distribution.api_tokens import issue_api_token
from distribution.models import ApiToken, Product, Release, Tag, Upload
from tests.distribution.test_tus import create, declare, patch
from tests.factories import ReleaseFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def uploads_dir(settings, tmp_path):
    settings.UPLOADS_DIR = tmp_path / "uploads"
    settings.UPLOADS_DIR.mkdir()
    return settings.UPLOADS_DIR


def incoming(path: str, data: bytes) -> services.IncomingFile:
    return services.IncomingFile(path=path, size=len(data), source=io.BytesIO(data))


def published_release(product, version="1.0", **fields) -> Release:
    release = services.create_release(
        product=product, version=version, files=[incoming("atlas.iso", b"hello")], **fields
    )
    services.build_release_torrent(release_id=release.pk)
    release.refresh_from_db()
    return release


def token_of(user) -> dict[str, str]:
    return {
        "HTTP_AUTHORIZATION": f"Bearer {issue_api_token(user, name='t', scope=ApiToken.Scope.PUBLISH)[1]}"
    }


# Notes and tags after publishing ------------------------------------------------------------


def test_a_publisher_edits_notes_and_tags_on_the_release_page(client, publisher, product):
    release = published_release(product, notes="Old notes.")
    client.force_login(publisher)
    page = client.get(release.get_absolute_url()).content.decode()
    assert 'data-testid="edit-details"' in page and "Old notes." in page

    response = client.post(
        reverse("release-edit", args=[release.pk]),
        {"notes": "## New\n\nFaster *hashing*.", "tags": "linux, Stable, linux, "},
    )

    assert response.status_code == 302 and response["Location"] == release.get_absolute_url()
    release.refresh_from_db()
    assert release.notes == "## New\n\nFaster *hashing*."
    assert sorted(release.tags.values_list("slug", flat=True)) == ["linux", "stable"]
    page = client.get(release.get_absolute_url()).content.decode()
    assert "<em>hashing</em>" in page and 'value="linux, Stable"' in page
    assert client.get("/", {"tag": "stable"}).content.decode().count('data-testid="catalogue-row"') == 1


def test_a_refused_tag_changes_nothing_and_says_why(client, publisher, product):
    release = published_release(product, notes="Kept.", tags=["kept"])
    client.force_login(publisher)

    response = client.post(
        reverse("release-edit", args=[release.pk]), {"notes": "Lost?", "tags": "ok, " + "x" * 51}
    )

    assert response.status_code == 400
    assert "A tag has at most 50 characters" in response.content.decode()
    release.refresh_from_db()
    assert release.notes == "Kept." and list(release.tags.values_list("name", flat=True)) == ["kept"]
    assert not Tag.objects.filter(name="ok").exists()


def test_only_the_products_publishers_and_staff_edit_notes(
    client, product, other_publisher, outsider, admin_user
):
    release = published_release(product, notes="Mine.")
    draft = ReleaseFactory(product=product, version="draft-1", status=Release.Status.DRAFT)
    client.force_login(outsider)
    assert 'data-testid="edit-details"' not in client.get(release.get_absolute_url()).content.decode()
    assert client.post(reverse("release-edit", args=[release.pk]), {"notes": "x"}).status_code == 403
    assert client.post(reverse("release-edit", args=[draft.pk]), {"notes": "x"}).status_code == 404
    client.force_login(other_publisher)
    assert client.post(reverse("release-edit", args=[release.pk]), {"notes": "x"}).status_code == 403
    release.refresh_from_db()
    assert release.notes == "Mine."

    client.force_login(admin_user)
    assert client.post(reverse("release-edit", args=[release.pk]), {"notes": "Staff."}).status_code == 302
    release.refresh_from_db()
    assert release.notes == "Staff."


# Tags when publishing ---------------------------------------------------------------------


def test_the_publish_page_tags_a_release_it_uploads(client, publisher, product):
    client.force_login(publisher)
    client.post(
        reverse("release-create"),
        {
            "product": product.pk,
            "version": "4.2",
            "tags": "linux, x86_64",
            "visibility": "public",
            "torrent_format": "v1",
            "files": [SimpleUploadedFile("a.txt", b"aaa")],
        },
    )

    release = Release.objects.get(version="4.2")
    assert sorted(release.tags.values_list("name", flat=True)) == ["linux", "x86_64"]


def test_the_publish_pages_declaration_tags_the_draft_with_any_script(client, publisher, product):
    client.force_login(publisher)
    response = client.post(
        "/publish/start",
        {
            "product": product.pk,
            "version": "5.0",
            "tags": "גרסה יציבה, lts",
            "visibility": "public",
            "torrent_format": "v1",
            "manifest": json.dumps([{"path": "a.bin", "size": 3}]),
        },
    )

    assert response.status_code == 201, response.content
    release = Release.objects.get(pk=response.json()["release_id"])
    assert sorted(release.tags.values_list("slug", flat=True)) == ["lts", "גרסה-יציבה"]


def test_a_tag_too_long_refuses_the_release_before_anything_is_stored(publisher, product, releases_dir):
    with pytest.raises(services.ReleaseRejected, match="at most 50 characters"):
        services.create_release(
            product=product, version="1", files=[incoming("a", b"a")], tags=["y" * 51], created_by=publisher
        )

    assert not Release.objects.exists() and not Tag.objects.exists()
    assert not releases_dir.exists() or not any(releases_dir.iterdir())


def test_the_publish_command_tags_with_each_tag_option(tmp_path):
    (tmp_path / "tool.bin").write_bytes(b"x" * 100)

    call_command(
        "publish", str(tmp_path / "tool.bin"), "--product", "atlas", "--version", "1",
        "--tag", "nightly", "--tag", "Linux Builds", stdout=io.StringIO(),
    )  # fmt: skip

    release = Release.objects.get()
    assert sorted(release.tags.values_list("slug", flat=True)) == ["linux-builds", "nightly"]


# Deleting a draft or a failed release -----------------------------------------------------


def started_upload(client, publisher, product, data: bytes = b"a" * 1000) -> tuple[Release, Upload]:
    """A draft whose one file is half sent through tus, its bytes and hashes on disk."""
    client.force_login(publisher)
    declared = declare(client, {"big.bin": data})
    assert declared.status_code == 201, declared.content
    release = Release.objects.get(pk=declared.json()["release_id"])
    created = create(client, release.pk, "big.bin", len(data))
    assert patch(client, created["Location"], 0, data[:400]).status_code == 204
    return release, Upload.objects.get()


def test_deleting_a_stalled_upload_removes_its_row_bytes_and_hashes(
    client, publisher, product, releases_dir, django_capture_on_commit_callbacks
):
    release, upload = started_upload(client, publisher, product)
    assert release.disk_path("big.bin").stat().st_size == 400
    hash_state_dir = upload.hash_state_dir

    with django_capture_on_commit_callbacks(execute=True):
        services.delete_release(release=release)

    assert not Release.objects.filter(pk=release.pk).exists() and not Upload.objects.exists()
    assert not release.content_dir.exists() and not hash_state_dir.exists()
    assert services.publisher_bytes_used(publisher) == 0


def test_deleting_a_failed_release_removes_its_files_and_keeps_the_product(
    product, publisher, django_capture_on_commit_callbacks
):
    release = services.create_release(
        product=product, version="2", files=[incoming("a.bin", b"abc")], created_by=publisher
    )
    release.fail("disk on fire")
    assert release.content_dir.exists()

    with django_capture_on_commit_callbacks(execute=True):
        services.delete_release(release=release)

    assert not Release.objects.exists() and not release.content_dir.exists()
    assert Product.objects.filter(pk=product.pk).exists()


@pytest.mark.parametrize(
    "status", [Release.Status.PROCESSING, Release.Status.PUBLISHED, Release.Status.RETIRED]
)
def test_a_release_that_may_have_been_downloaded_is_never_deleted(product, status):
    release = ReleaseFactory(product=product, status=status)

    with pytest.raises(services.ReleaseRejected, match=f"this one is {status}"):
        services.delete_release(release=release)

    assert Release.objects.filter(pk=release.pk).exists()


def test_a_file_being_written_keeps_its_release_from_being_deleted(client, publisher, product):
    release, upload = started_upload(client, publisher, product)

    with uploads._writer_lock(upload), pytest.raises(services.ReleaseRejected, match="being uploaded now"):
        services.delete_release(release=release)

    assert Release.objects.filter(pk=release.pk).exists()


def test_a_publisher_deletes_a_stalled_draft_from_its_page(
    client, publisher, product, django_capture_on_commit_callbacks
):
    release, _ = started_upload(client, publisher, product)
    page = client.get(release.get_absolute_url()).content.decode()
    assert 'data-testid="delete-release"' in page
    assert 'data-testid="delete-release"' in client.get(reverse("publisher-releases")).content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("release-delete", args=[release.pk]), follow=True)

    assert response.redirect_chain == [(reverse("publisher-releases"), 302)]
    assert "is deleted, and its files with it" in response.content.decode()
    assert not Release.objects.exists() and not release.content_dir.exists()


def test_the_page_refuses_to_delete_a_published_release_or_anothers(
    client, publisher, product, other_publisher
):
    published = published_release(product)
    failed = ReleaseFactory(product=product, version="f", status=Release.Status.FAILED)
    client.force_login(publisher)
    assert 'data-testid="delete-release"' not in client.get(published.get_absolute_url()).content.decode()

    refused = client.post(reverse("release-delete", args=[published.pk]), follow=True)
    assert "Only a draft, uploading or failed release can be deleted" in refused.content.decode()

    client.force_login(other_publisher)
    assert client.post(reverse("release-delete", args=[failed.pk])).status_code == 404  # not even seen
    assert client.post(reverse("release-delete", args=[published.pk])).status_code == 403
    assert Release.objects.count() == 2


def test_the_api_deletes_a_draft_and_its_files_and_nothing_published(
    client, publisher, product, other_publisher, django_capture_on_commit_callbacks
):
    release, _ = started_upload(client, publisher, product)
    client.logout()
    published = published_release(product, version="9")
    mine, others = token_of(publisher), token_of(other_publisher)

    assert client.delete(reverse("api-release-detail", args=[release.pk]), **others).status_code == 404
    refused = client.delete(reverse("api-release-detail", args=[published.pk]), **mine)
    assert refused.status_code == 409
    assert refused.json() == {
        "detail": "Only a draft, uploading or failed release can be deleted; this one is published."
    }
    with django_capture_on_commit_callbacks(execute=True):
        deleted = client.delete(reverse("api-release-detail", args=[release.pk]), **mine)

    assert deleted.status_code == 204 and deleted.content == b""
    assert not release.content_dir.exists()
    assert list(Release.objects.values_list("pk", flat=True)) == [published.pk]
    assert client.delete(reverse("api-release-detail", args=[release.pk]), **mine).status_code == 404


def test_the_admin_deletes_drafts_and_failed_releases_through_the_service(
    client, admin_user, product, django_capture_on_commit_callbacks
):
    failed = services.create_release(product=product, version="f", files=[incoming("a.bin", b"abc")])
    failed.fail("broken")
    published = published_release(product, version="p")
    client.force_login(admin_user)
    assert client.get(reverse("admin:distribution_release_delete", args=[published.pk])).status_code == 403

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("admin:distribution_release_changelist"),
            {"action": "delete_unpublished", "_selected_action": [failed.pk, published.pk]},
            follow=True,
        )

    page = response.content.decode()
    assert "1 of 2 selected releases deleted" in page and "they were not draft, uploading or failed" in page
    assert list(Release.objects.values_list("pk", flat=True)) == [published.pk]
    assert not failed.content_dir.exists() and published.content_dir.exists()


# No product left by a refused release -------------------------------------------------------


def test_a_new_product_is_made_with_its_first_release_only(publisher, settings):
    settings.FANOUT_PRODUCT_CREATORS = "publishers"
    product = services.publishable_product(product=None, new_name="Brand New", user=publisher)
    assert product.pk is None and not Product.objects.exists()

    release = services.start_release(
        product=product, version="1", files=[services.torrents.TorrentFile("a", 1)], created_by=publisher
    )

    assert Product.objects.get() == release.product and release.product.can_publish(publisher)


def test_a_refused_declaration_on_the_publish_page_leaves_no_product(client, publisher, settings):
    settings.FANOUT_PRODUCT_CREATORS = "publishers"
    client.force_login(publisher)
    response = client.post(
        "/publish/start",
        {
            "new_product": "Ghost",
            "version": "1",
            "visibility": "public",
            "torrent_format": "v1",
            "manifest": json.dumps([{"path": "../escape", "size": 3}]),
        },
    )

    assert response.status_code == 400 and "'..'" in response.json()["error"]
    assert not Product.objects.exists()


def test_a_refused_upload_on_the_plain_form_leaves_no_product(client, publisher, settings):
    settings.FANOUT_PRODUCT_CREATORS = "publishers"
    client.force_login(publisher)
    response = client.post(
        reverse("release-create"),
        {
            "new_product": "Ghost",
            "version": "1",
            "visibility": "public",
            "torrent_format": "v1",
            "files": [SimpleUploadedFile("empty.txt", b"")],
        },
    )

    assert "The release is empty" in response.content.decode()
    assert not Product.objects.exists()


def test_a_refused_declaration_through_the_api_leaves_no_product(client, publisher, settings):
    settings.FANOUT_PRODUCT_CREATORS = "publishers"
    body = {"product": "Ghost", "version": "not a version!", "files": [{"path": "a", "size": 1}]}

    response = client.post(
        reverse("api-release-list"), body, content_type="application/json", **token_of(publisher)
    )

    assert response.status_code == 400
    assert not Product.objects.exists()


def test_a_refused_publish_command_leaves_no_product(tmp_path):
    with pytest.raises(CommandError, match="no such file"):
        call_command("publish", str(tmp_path / "missing"), "--product", "ghost", "--version", "1")

    assert not Product.objects.exists()
