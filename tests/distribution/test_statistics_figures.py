"""The statistics page's figures: HTTP downloads as whole releases, origin and delivered bytes, no
day before the release existed."""

import csv
import datetime
import io

import pytest
from django.urls import reverse
from django.utils import timezone

from distribution.statistics import add_release_counts, date_range
from tests.distribution.catalogue_data import make_release
from tests.factories import ReleaseFileFactory

pytestmark = pytest.mark.django_db

TODAY = timezone.now().date()
SIZE = 1000


@pytest.fixture
def release(product):
    release = make_release(product=product, version="7.0")
    release.files.all().delete()
    ReleaseFileFactory(release=release, path="a.bin", size=600)
    ReleaseFileFactory(release=release, path="b.bin", size=400)
    release.created_at = timezone.now() - datetime.timedelta(days=2)
    release.save(update_fields=["created_at"])
    return release


def stats_page(client, user, release, **params):
    client.force_login(user)
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return client.get(reverse("release-stats", args=[release.pk]) + (f"?{query}" if query else ""))


def test_http_downloads_are_whole_release_equivalents_of_direct_bytes(client, release, publisher):
    # 2.4 releases over direct downloads in 30 requests; the web seed's bytes went to BitTorrent
    # clients, counted when they complete.
    add_release_counts(
        release_id=release.pk,
        counts={"completed": 6, "http_requests": 30, "http_bytes": 2400 + 5000, "web_seed_bytes": 5000},
    )

    response = stats_page(client, publisher, release)
    page = response.content.decode()

    assert 'data-testid="total-completed">6<' in page
    assert 'data-testid="http-downloads">2.4<' in page
    assert 'data-testid="total-downloads">8.4<' in page
    assert response.context["chart_data"]["http_downloads"][-1] == 2.4


def test_origin_is_seeders_web_seed_and_direct_and_delivered_is_reported_and_direct(
    client, release, publisher
):
    add_release_counts(
        release_id=release.pk,
        counts={
            "origin_bytes": 1000,
            "http_bytes": 3000,
            "web_seed_bytes": 2000,
            "reported_downloaded_bytes": 11000,
        },
    )

    totals = stats_page(client, publisher, release).context["statistics"].totals

    assert totals.origin_sent_bytes == 4000
    assert totals.delivered_bytes == 12000
    assert totals.offload_ratio == 3.0


def test_a_direct_download_alone_offloads_nothing(client, release, publisher):
    add_release_counts(release_id=release.pk, counts={"http_requests": 1, "http_bytes": SIZE})
    page = stats_page(client, publisher, release).content.decode()
    assert 'data-testid="offload">1.0×<' in page and 'data-testid="http-downloads">1.0<' in page


def test_the_days_start_on_the_day_the_release_was_created(client, release, publisher):
    response = stats_page(client, publisher, release)
    assert response.context["chart_data"]["days"] == [
        (TODAY - datetime.timedelta(days=n)).isoformat() for n in (2, 1, 0)
    ]
    assert response.content.decode().count("<tr>") == 1 + 3  # the head and three days

    asked_earlier = stats_page(client, publisher, release, **{"from": "2020-01-01"})
    assert asked_earlier.context["statistics"].start == TODAY - datetime.timedelta(days=2)


def test_a_release_created_today_has_one_day(product):
    release = make_release(product=product, version="7.1")
    assert date_range(None, None, first_day=release.created_at.date()) == (TODAY, TODAY)


def test_the_csv_has_the_figures(client, release, publisher):
    add_release_counts(release_id=release.pk, counts={"completed": 1, "http_bytes": 500})
    rows = list(
        csv.DictReader(io.StringIO(stats_page(client, publisher, release, format="csv").content.decode()))
    )
    assert len(rows) == 3
    assert (rows[-1]["http_downloads"], rows[-1]["downloads"], rows[-1]["direct_bytes"]) == (
        "0.500",
        "1.500",
        "500",
    )


def test_a_sent_file_report_is_taken_only_where_nginx_sends_the_files(client, release, settings):
    report = {
        "HTTP_X_FANOUT_REQUEST_URI": reverse("release-file", args=[release.pk, "a.bin"]),
        "HTTP_X_FANOUT_STATUS": "200",
        "HTTP_X_FANOUT_BODY_BYTES_SENT": "600",
    }
    # `make run`, or any instance whose Django sends the files itself: nobody may report.
    settings.FANOUT_X_ACCEL_REDIRECT = None
    assert client.post(reverse("web-server-sent"), **report).status_code == 404
    assert not release.day_stats.exists()

    settings.FANOUT_X_ACCEL_REDIRECT = "/protected/"
    assert client.post(reverse("web-server-sent"), **report).status_code == 204
    assert release.day_stats.get().http_bytes == 600
