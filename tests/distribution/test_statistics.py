import datetime
import threading
from importlib import import_module

import pytest
from django.apps import apps
from django.db import connection
from django.db.models import Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from distribution import statistics
from distribution.models import Release, ReleaseDayStats, ReleaseTotals, SwarmSample
from distribution.selectors import release_swarm
from distribution.statistics import COUNTERS, add_counts_of_releases, add_release_counts, record_swarm_samples
from tests.factories import ReleaseFactory

pytestmark = pytest.mark.django_db


def test_it_creates_the_days_row_then_adds_to_it():
    release = ReleaseFactory()
    day = datetime.date(2026, 11, 27)

    add_release_counts(release_id=release.pk, counts={"completed": 2, "http_bytes": 100}, day=day)
    add_release_counts(release_id=release.pk, counts={"completed": 3, "origin_bytes": 7}, day=day)
    add_release_counts(release_id=release.pk, counts={"completed": 1}, day=day + datetime.timedelta(days=1))

    first, second = ReleaseDayStats.objects.filter(release=release).order_by("day")
    assert (first.completed, first.http_bytes, first.origin_bytes) == (5, 100, 7)
    assert second.completed == 1


def test_a_counter_stops_at_the_largest_64_bit_value_instead_of_failing():
    release, other = ReleaseFactory(), ReleaseFactory()
    day = datetime.date(2026, 11, 27)
    claimed = 10**20 - 1  # reported bytes are what clients claim
    for _ in range(2):
        add_counts_of_releases(
            {release.pk: {"reported_uploaded_bytes": claimed}, other.pk: {"completed": 1}}, day=day
        )

    assert ReleaseDayStats.objects.get(release=release).reported_uploaded_bytes == statistics.COUNTER_LIMIT
    assert ReleaseTotals.objects.get(release=release).reported_uploaded_bytes == statistics.COUNTER_LIMIT
    assert ReleaseTotals.objects.get(release=other).completed == 2


def test_it_refuses_unknown_counters():
    with pytest.raises(ValueError, match="unknown counters"):
        add_release_counts(release_id=ReleaseFactory().pk, counts={"likes": 1})


def test_it_writes_nothing_for_zero_counts():
    release = ReleaseFactory()
    add_release_counts(release_id=release.pk, counts={"completed": 0})
    assert not ReleaseDayStats.objects.exists()


def sums_of_day_rows(release) -> dict[str, int]:
    return ReleaseDayStats.objects.filter(release=release).aggregate(
        **{name: Coalesce(Sum(name), 0) for name in COUNTERS}
    )


def totals_of(release) -> dict[str, int]:
    return ReleaseTotals.objects.filter(release=release).values(*COUNTERS).get()


def test_the_totals_are_the_sums_of_the_day_rows_when_counts_are_added_twice():
    release, other = ReleaseFactory(), ReleaseFactory()
    day = datetime.date(2026, 11, 27)
    for _ in range(2):
        add_release_counts(release_id=release.pk, counts={"completed": 2, "http_bytes": 100}, day=day)
        add_release_counts(
            release_id=release.pk, counts={"torrent_fetches": 1}, day=day - datetime.timedelta(days=40)
        )
    add_release_counts(release_id=other.pk, counts={"completed": 9}, day=day)

    assert totals_of(release) == sums_of_day_rows(release)
    assert totals_of(release)["completed"] == 4 and totals_of(release)["torrent_fetches"] == 2
    assert totals_of(other)["completed"] == 9


def test_a_retired_release_keeps_its_totals_and_still_adds_to_them(client):
    release = ReleaseFactory(status=Release.Status.PUBLISHED)
    add_release_counts(release_id=release.pk, counts={"completed": 5, "magnet_fetches": 2})
    release.retire()
    add_release_counts(release_id=release.pk, counts={"completed": 1})

    swarm = release_swarm(release)
    assert (swarm.completed, swarm.magnet_fetches) == (6, 2)
    assert ReleaseDayStats.objects.get(release=release).completed == 6


def test_a_release_never_counted_has_zero_totals_and_no_sample_time():
    swarm = release_swarm(ReleaseFactory())
    assert (swarm.completed, swarm.torrent_fetches, swarm.seeders, swarm.sampled_at) == (0, 0, 0, None)


def test_the_latest_recorded_sample_is_the_current_swarm():
    release = ReleaseFactory()
    now = timezone.now()
    record_swarm_samples(
        [
            SwarmSample(release=release, seeders=9, leechers=9, taken_at=now - datetime.timedelta(minutes=5)),
            SwarmSample(release=release, seeders=4, leechers=1, taken_at=now),
        ]
    )
    add_release_counts(release_id=release.pk, counts={"completed": 3})
    assert (release_swarm(release).seeders, release_swarm(release).leechers) == (4, 1)

    record_swarm_samples([SwarmSample(release=release, seeders=0, leechers=2)])

    swarm = release_swarm(release)
    assert (swarm.seeders, swarm.leechers, swarm.completed) == (0, 2, 3)
    assert swarm.sampled_at > now
    assert SwarmSample.objects.filter(release=release).count() == 3


def test_the_migration_fills_the_totals_of_existing_releases():
    release, sampled_only, never = ReleaseFactory(), ReleaseFactory(), ReleaseFactory()
    day = datetime.date(2026, 11, 27)
    add_release_counts(release_id=release.pk, counts={"completed": 2, "origin_bytes": 10}, day=day)
    add_release_counts(release_id=release.pk, counts={"completed": 3}, day=day + datetime.timedelta(days=1))
    now = timezone.now()
    record_swarm_samples([SwarmSample(release=release, seeders=1, leechers=1, taken_at=now)])
    SwarmSample.objects.create(release=sampled_only, seeders=6, leechers=2, taken_at=now)
    SwarmSample.objects.create(
        release=sampled_only, seeders=8, leechers=0, taken_at=now - datetime.timedelta(hours=1)
    )
    expected = totals_of(release)
    ReleaseTotals.objects.all().delete()

    import_module("distribution.migrations.0006_release_totals").backfill_totals(apps, None)

    assert totals_of(release) == expected
    assert totals_of(release)["completed"] == 5
    filled = ReleaseTotals.objects.get(release=sampled_only)
    assert (filled.seeders, filled.leechers, filled.sampled_at, filled.completed) == (6, 2, now, 0)
    assert not ReleaseTotals.objects.filter(release=never).exists()


def test_many_releases_are_counted_in_batches(monkeypatch):
    monkeypatch.setattr(statistics, "_ROWS_PER_STATEMENT", 2)
    releases = [ReleaseFactory() for _ in range(5)]
    counts = {release.pk: {"completed": n + 1, "http_bytes": 10} for n, release in enumerate(releases)}

    add_counts_of_releases(counts)
    add_counts_of_releases(counts)

    assert [totals_of(release)["completed"] for release in releases] == [2, 4, 6, 8, 10]
    assert [sums_of_day_rows(release)["http_bytes"] for release in releases] == [20] * 5


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_never_lose_a_count():
    if connection.vendor != "postgresql":
        pytest.skip("SQLite serialises writers: nothing to race")
    release = ReleaseFactory()
    start = threading.Barrier(4)

    def add_some() -> None:
        start.wait()
        try:
            for _ in range(25):
                add_release_counts(release_id=release.pk, counts={"torrent_fetches": 1})
        finally:
            connection.close()

    threads = [threading.Thread(target=add_some) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert totals_of(release)["torrent_fetches"] == 100
    assert sums_of_day_rows(release)["torrent_fetches"] == 100
