"""The release page's downloads, notes, files and swarm; the counted .torrent and magnet fetches."""

import pytest
from django.urls import reverse
from django.utils import timezone

from distribution.models import Release, ReleaseDayStats, SwarmSample
from distribution.statistics import add_release_counts, record_swarm_samples
from tests.distribution.catalogue_data import make_release, pieces_root_of
from tests.factories import ReleaseFactory

pytestmark = pytest.mark.django_db


def test_it_renders_notes_as_markdown_without_scripts(client):
    release = make_release(
        notes="## Changes\n\n- **faster** hashing\n\n<script>alert(1)</script>"
        "<img src=x onerror=alert(2)> [docs](https://example.com) [bad](javascript:alert(3))"
    )

    page = client.get(release.get_absolute_url()).content.decode()

    assert "<h4>Changes</h4>" in page and "<strong>faster</strong>" in page
    assert 'href="https://example.com"' in page
    assert "<script>alert" not in page and "onerror" not in page and "javascript:" not in page


def test_the_authors_headings_rank_below_the_pages_notes_heading(client):
    release = make_release(notes="# Title\n\n## Part\n\n###### Smallest\n\nText <h1>raw</h1>")

    page = client.get(release.get_absolute_url()).content.decode()

    assert "<h3>Title</h3>" in page and "<h4>Part</h4>" in page and "<h6>Smallest</h6>" in page
    assert "<h1>raw</h1>" not in page and "<h3>raw</h3>" in page


def test_a_build_not_started_yet_says_it_waits_for_a_worker(client, publisher, product):
    release = ReleaseFactory(product=product, status=Release.Status.PROCESSING, build_pieces_total=0)
    client.force_login(publisher)

    page = client.get(release.get_absolute_url()).content.decode()

    assert "waiting for a worker to start" in page and "0 / 0" not in page
    started = ReleaseFactory(
        product=product, status=Release.Status.PROCESSING, build_pieces_done=1200, build_pieces_total=3000
    )
    assert "1,200 / 3,000 pieces hashed" in client.get(started.get_absolute_url()).content.decode()


def test_a_release_of_thousands_of_files_lists_them_a_page_at_a_time(client, django_assert_max_num_queries):
    release = make_release(torrent_format="v2", files=tuple((f"dir/f{n:05}.bin", n + 1) for n in range(1200)))

    with django_assert_max_num_queries(20):
        page = client.get(release.get_absolute_url()).content.decode()
    last = client.get(release.get_absolute_url(), {"files": 3}).content.decode()

    assert page.count('data-testid="file-row"') == 500 and last.count('data-testid="file-row"') == 200
    assert "1,200 files" in page and "Files 1–500 of 1,200" in page and "Files 1,001–1,200 of 1,200" in last
    assert "dir/f00000.bin" in page and "dir/f01199.bin" in last and "dir/f01199.bin" not in page
    assert pieces_root_of("dir/f01199.bin").hex() in last


def test_it_lists_files_with_sizes_hashes_and_http_links(client):
    release = make_release(files=(("docs/readme.txt", 2048), ("bin/tool", 5 * 1024**2)))

    page = client.get(release.get_absolute_url()).content.decode()

    for file in release.files.all():
        assert file.path in page and file.sha256 in page and file.download_url in page
    assert "5.0\xa0MiB" in page and "2.0\xa0KiB" in page


def test_it_shows_each_files_pieces_root_for_v2(client):
    release = make_release(torrent_format="v2", files=(("a/one.bin", 10), ("b/two.bin", 20)))

    page = client.get(release.get_absolute_url()).content.decode()

    assert pieces_root_of("a/one.bin").hex() in page
    assert pieces_root_of("b/two.bin").hex() in page
    assert "pieces root" in page


def test_it_offers_torrent_magnet_and_http_downloads_with_help(client):
    release = make_release()

    page = client.get(release.get_absolute_url()).content.decode()

    assert reverse("release-torrent", args=[release.pk]) in page
    assert reverse("release-magnet", args=[release.pk]) in page
    assert release.files.get().download_url in page
    assert reverse("release-sha256sums", args=[release.pk]) in page
    assert "How to download" in page and "sha256sum" in page


def test_it_shows_the_live_swarm(client):
    release = make_release()
    record_swarm_samples([SwarmSample(release=release, seeders=12, leechers=4, taken_at=timezone.now())])
    add_release_counts(release_id=release.pk, counts={"completed": 31, "torrent_fetches": 9})

    page = client.get(release.get_absolute_url()).content.decode()

    assert 'data-testid="seeders">12<' in page
    assert 'data-testid="leechers">4<' in page
    assert 'data-testid="completed">31<' in page


def test_it_counts_torrent_fetches(client):
    release = make_release()

    for _ in range(3):
        response = client.get(reverse("release-torrent", args=[release.pk]))
        assert response.status_code == 200

    assert ReleaseDayStats.objects.get(release=release).torrent_fetches == 3


def test_it_counts_a_magnet_fetch_then_redirects_to_the_magnet_uri(client):
    release = make_release()

    response = client.get(reverse("release-magnet", args=[release.pk]))

    assert response.status_code == 302
    assert response["Location"] == release.torrent.magnet_uri
    assert ReleaseDayStats.objects.get(release=release).magnet_fetches == 1


def test_it_hides_private_releases_magnet_from_anonymous_users(client, outsider):
    release = make_release(visibility=Release.Visibility.PRIVATE)

    assert client.get(reverse("release-magnet", args=[release.pk])).status_code == 404
    assert not ReleaseDayStats.objects.filter(release=release).exists()
    client.force_login(outsider)
    assert client.get(reverse("release-magnet", args=[release.pk])).status_code == 302


def test_it_links_the_statistics_for_the_products_publishers_only(client, publisher, outsider):
    release = make_release()
    release.product.publishers.add(publisher)
    Release.objects.filter(pk=release.pk).update(created_by=publisher)
    stats_url = reverse("release-stats", args=[release.pk])

    client.force_login(outsider)
    assert stats_url not in client.get(release.get_absolute_url()).content.decode()
    client.force_login(publisher)
    assert stats_url in client.get(release.get_absolute_url()).content.decode()
