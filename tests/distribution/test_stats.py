"""The per-release statistics page: who sees it, the figures per day, the swarm, the CSV, the range."""

import csv
import datetime
import io
import json

import pytest
from django.urls import reverse
from django.utils import timezone

from distribution.models import SwarmSample
from distribution.statistics import MAX_DAYS, add_release_counts, date_range
from tests.distribution.catalogue_data import make_release

pytestmark = pytest.mark.django_db

TODAY = timezone.now().date()


@pytest.fixture
def release(product):
    release = make_release(product=product, version="4.2")
    release.created_at = timezone.now() - datetime.timedelta(days=120)
    release.save(update_fields=["created_at"])
    add_release_counts(
        release_id=release.pk,
        day=TODAY - datetime.timedelta(days=2),
        counts={
            "completed": 10,
            "torrent_fetches": 14,
            "magnet_fetches": 3,
            "http_requests": 2,
            "origin_bytes": 1000,
            "http_bytes": 1000,
            "web_seed_bytes": 1000,
            "reported_downloaded_bytes": 10000,
        },
    )
    add_release_counts(release_id=release.pk, counts={"completed": 5, "torrent_fetches": 1})
    add_release_counts(
        release_id=release.pk, day=TODAY - datetime.timedelta(days=90), counts={"completed": 1000}
    )
    return release


def url(release, **params) -> str:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return reverse("release-stats", args=[release.pk]) + (f"?{query}" if query else "")


def test_only_the_products_publishers_and_staff_see_it(
    client, release, publisher, other_publisher, admin_user
):
    assert client.get(url(release)).status_code == 302  # to the login page
    client.force_login(other_publisher)
    assert client.get(url(release)).status_code == 403
    client.force_login(publisher)
    assert client.get(url(release)).status_code == 200
    client.force_login(admin_user)
    assert client.get(url(release)).status_code == 200


def test_it_shows_the_days_of_the_range_with_totals_and_offload(client, release, publisher):
    client.force_login(publisher)

    response = client.get(url(release))
    page = response.content.decode()

    assert 'data-testid="total-completed">15<' in page  # the day 90 days ago is out of the default range
    assert 'data-testid="offload">5.0×<' in page  # 10,000 delivered / (1,000 + 1,000) from the origin
    data = response.context["chart_data"]
    assert len(data["days"]) == 30 and data["days"][-1] == TODAY.isoformat()
    assert data["completed"][-3:] == [10, 0, 5]
    assert data["origin_sent_bytes"][-3] == 2000 and data["delivered_bytes"][-3] == 10000
    assert "vendor/chart/chart.umd.min.js" in page
    assert json.loads(page.split('id="chart-data" type="application/json">')[1].split("</script>")[0]) == data


def test_it_takes_a_date_range(client, release, publisher):
    client.force_login(publisher)
    start = TODAY - datetime.timedelta(days=100)
    end = TODAY - datetime.timedelta(days=80)

    response = client.get(url(release, **{"from": start.isoformat(), "to": end.isoformat()}))

    assert len(response.context["chart_data"]["days"]) == 21
    assert sum(response.context["chart_data"]["completed"]) == 1000


def test_it_charts_the_swarm_over_time_as_hourly_peaks(client, release, publisher):
    client.force_login(publisher)
    noon = datetime.datetime.combine(TODAY, datetime.time(12, 0), tzinfo=datetime.UTC)
    for minute, seeders in ((0, 3), (20, 8), (40, 5), (70, 2)):
        SwarmSample.objects.create(
            release=release, taken_at=noon + datetime.timedelta(minutes=minute), seeders=seeders, leechers=1
        )

    start = (TODAY - datetime.timedelta(days=1)).isoformat()
    data = client.get(url(release, **{"from": start})).context["chart_data"]

    assert data["seeders"] == [8, 2]
    assert data["swarm_at"][0].startswith(f"{TODAY.isoformat()}T12:00")


def test_it_exports_csv(client, release, publisher):
    client.force_login(publisher)

    response = client.get(url(release, format="csv"))

    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert len(rows) == 30
    busy = next(row for row in rows if row["day"] == (TODAY - datetime.timedelta(days=2)).isoformat())
    assert busy["completed"] == "10" and busy["torrent_fetches"] == "14" and busy["offload_ratio"] == "5.000"
    assert rows[-1]["offload_ratio"] == ""


def test_a_malformed_or_reversed_or_huge_range_is_made_sensible():
    long_ago = datetime.date(1990, 1, 1)
    assert date_range("nonsense", None, first_day=long_ago) == (TODAY - datetime.timedelta(days=29), TODAY)
    assert date_range("2026-03-10", "2026-03-01", first_day=long_ago) == (
        datetime.date(2026, 3, 1),
        datetime.date(2026, 3, 10),
    )
    first, last = date_range("2000-01-01", "2026-01-01", first_day=long_ago)
    assert (last - first).days == MAX_DAYS - 1


@pytest.mark.parametrize(
    ("start", "end"), [("0001-01-01", "9999-12-31"), (None, "0001-01-01"), ("9999-12-31", None)]
)
def test_dates_at_the_calendars_ends_give_a_range_not_an_error(client, release, publisher, start, end):
    first, last = date_range(start, end, first_day=datetime.date.min)
    assert first <= last <= TODAY and (last - first).days < MAX_DAYS
    client.force_login(publisher)
    asked = {name: day for name, day in (("from", start), ("to", end)) if day}
    assert client.get(url(release, **asked)).status_code == 200
