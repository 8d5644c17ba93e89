"""Swarm statistics: counted in the store on announce, taken atomically, written per release and day."""

import datetime
import time

import pytest
from django.utils import timezone

from distribution.models import ReleaseDayStats, ReleaseTotals, SwarmSample
from harness.polling import wait_until
from tests.tracker.conftest import announce_query, info_hash, publish_release, redis_url
from tests.tracker.test_runtracker import fetch
from tests.tracker.test_swarm_store import peer
from tracker import tasks
from tracker.protocol import Event
from tracker.statistics_flush import configured_swarm_store, flush_statistics, write_statistics
from tracker.swarm_store import SwarmAnnounce, SwarmStatistics

TTL = 100


def by_swarm(taken: list[SwarmStatistics]) -> dict[int, tuple[int, ...]]:
    return {t.swarm_id: tuple(t)[1:] for t in taken}


def test_it_counts_completed_once_per_peer_and_download(make_store):
    store = make_store(peer_ttl=TTL)
    store.announce(SwarmAnnounce(1, peer(1), Event.STARTED, 100, 50, now=0))
    store.announce(SwarmAnnounce(1, peer(1), Event.COMPLETED, 0, 50, now=1))
    # A repeat, not a second download:
    store.announce(SwarmAnnounce(1, peer(1), Event.COMPLETED, 0, 50, now=2))
    # Never seen leeching: not a download.
    store.announce(SwarmAnnounce(1, peer(2), Event.COMPLETED, 0, 50, now=3))
    assert by_swarm(store.take_statistics(now=4)) == {1: (1, 0, 0, 2, 0)}


def test_it_adds_the_growth_of_the_reported_totals(make_store):
    store = make_store(peer_ttl=TTL)
    store.announce(SwarmAnnounce(1, peer(1), Event.STARTED, 100, 50, 0, 10, 20))
    store.announce(SwarmAnnounce(1, peer(1), Event.NONE, 100, 50, 1, 15, 120))
    store.announce(SwarmAnnounce(2, peer(2), Event.STARTED, 100, 50, 1, 0, 0))
    assert by_swarm(store.take_statistics(now=2)) == {1: (0, 15, 120, 0, 1), 2: (0, 0, 0, 0, 1)}
    store.announce(SwarmAnnounce(1, peer(1), Event.NONE, 100, 50, 3, 40, 130))
    store.announce(SwarmAnnounce(1, peer(1), Event.STOPPED, 100, 50, 4, 41, 131))
    assert by_swarm(store.take_statistics(now=5)) == {1: (0, 26, 11, 0, 0), 2: (0, 0, 0, 0, 1)}


def test_a_client_that_restarted_its_counters_adds_its_new_totals(make_store):
    store = make_store(peer_ttl=TTL)
    store.announce(SwarmAnnounce(1, peer(1), Event.STARTED, 100, 50, 0, 1000, 1000))
    store.take_statistics(now=1)
    store.announce(SwarmAnnounce(1, peer(1), Event.STARTED, 100, 50, 2, 5, 7))
    assert by_swarm(store.take_statistics(now=3)) == {1: (0, 5, 7, 0, 1)}


def test_taking_resets_and_forgets_swarms_that_emptied(make_store):
    store = make_store(peer_ttl=TTL)
    store.announce(SwarmAnnounce(1, peer(1), Event.STARTED, 100, 50, now=0))
    store.announce(SwarmAnnounce(1, peer(1), Event.COMPLETED, 0, 50, now=0))
    assert by_swarm(store.take_statistics(now=1)) == {1: (1, 0, 0, 1, 0)}
    # Peers still there: sampled again, nothing counted twice.
    assert by_swarm(store.take_statistics(now=2)) == {1: (0, 0, 0, 1, 0)}
    # Expired: one last sample at zero, then nothing.
    assert by_swarm(store.take_statistics(now=TTL + 1)) == {1: (0, 0, 0, 0, 0)}
    assert store.take_statistics(now=TTL + 2) == []


def test_scrape_downloaded_survives_taking(make_store):
    store = make_store(peer_ttl=TTL)
    store.announce(SwarmAnnounce(1, peer(1), Event.STARTED, 100, 50, now=0))
    store.announce(SwarmAnnounce(1, peer(1), Event.COMPLETED, 0, 50, now=0))
    store.take_statistics(now=1)
    assert store.scrape([1], now=2)[0].downloaded == 1


def test_concurrent_takes_never_count_an_announce_twice(redis_client, redis_prefix):
    from tracker.swarm_store import RedisSwarmStore

    first = RedisSwarmStore(redis_client, peer_ttl=TTL, prefix=redis_prefix)
    second = RedisSwarmStore(redis_client, peer_ttl=TTL, prefix=redis_prefix)
    first.SWARMS_PER_CALL = 7
    for n in range(50):
        first.announce(SwarmAnnounce(n, peer(n), Event.STARTED, 100, 50, 0, 0, 0))
        first.announce(SwarmAnnounce(n, peer(n), Event.COMPLETED, 0, 50, 0, 10, 10))
    taken = first.take_statistics(now=1) + second.take_statistics(now=1)
    assert sum(t.completed for t in taken) == 50 and sum(t.uploaded for t in taken) == 500


# Into the database.


@pytest.mark.django_db
def test_it_writes_counts_per_release_and_day_and_samples_swarms():
    release = publish_release("1.0", v1=info_hash("stats"))
    taken = [SwarmStatistics(release.pk, 2, 300, 400, 5, 6), SwarmStatistics(release.pk + 999, 1, 1, 1, 1, 1)]
    assert write_statistics(taken) == 1
    assert write_statistics([SwarmStatistics(release.pk, 1, 0, 0, 4, 6)]) == 1
    row = ReleaseDayStats.objects.get(release=release, day=timezone.now().date())
    assert (row.completed, row.reported_uploaded_bytes, row.reported_downloaded_bytes) == (3, 300, 400)
    samples = SwarmSample.objects.filter(release=release).order_by("taken_at", "id")
    assert [(s.seeders, s.leechers) for s in samples] == [(5, 6), (4, 6)]
    assert timezone.now() - samples[0].taken_at < datetime.timedelta(minutes=1)


@pytest.mark.django_db
def test_each_flush_updates_the_releases_totals_and_current_swarm():
    release = publish_release("1.0", v1=info_hash("totals"))
    write_statistics([SwarmStatistics(release.pk, 2, 300, 400, 5, 6)])
    write_statistics([SwarmStatistics(release.pk, 1, 10, 0, 0, 3)])

    totals = ReleaseTotals.objects.get(release=release)
    assert (totals.completed, totals.reported_uploaded_bytes) == (3, 310)
    assert (totals.seeders, totals.leechers) == (0, 3)
    assert totals.sampled_at == SwarmSample.objects.filter(release=release).latest("taken_at").taken_at


@pytest.mark.django_db
def test_a_swarm_taken_twice_in_one_flush_adds_both():
    release = publish_release("1.0", v1=info_hash("twice"))
    twice = [SwarmStatistics(release.pk, 2, 30, 40, 1, 1), SwarmStatistics(release.pk, 1, 5, 0, 2, 0)]
    write_statistics(twice)
    assert ReleaseDayStats.objects.get(release=release).completed == 3
    assert ReleaseTotals.objects.get(release=release).reported_uploaded_bytes == 35


@pytest.mark.django_db
def test_flush_takes_from_the_store_and_writes(settings):
    settings.REDIS_URL = None
    release = publish_release("1.0", v1=info_hash("flush"))
    store = configured_swarm_store()
    store.announce(SwarmAnnounce(release.pk, peer(1), Event.STARTED, 100, 50, time.time(), 0, 0))
    store.announce(SwarmAnnounce(release.pk, peer(1), Event.COMPLETED, 0, 50, time.time(), 7, 8))
    assert flush_statistics(store) == 1
    assert flush_statistics(store) == 1  # the peer is still there: sampled, not counted again
    row = ReleaseDayStats.objects.get(release=release)
    assert (row.completed, row.reported_uploaded_bytes, row.reported_downloaded_bytes) == (1, 7, 8)


@pytest.mark.django_db
def test_the_celery_task_flushes_the_redis_store(settings, redis_client):
    settings.REDIS_URL = redis_url()
    release = publish_release("1.0", v1=info_hash("task"))
    store = configured_swarm_store()
    try:
        store.announce(SwarmAnnounce(release.pk, peer(1), Event.STARTED, 100, 50, time.time(), 0, 0))
        store.announce(SwarmAnnounce(release.pk, peer(1), Event.COMPLETED, 0, 50, time.time(), 70, 80))
        assert tasks.flush_tracker_statistics.apply().get() == 1
        assert ReleaseDayStats.objects.get(release=release).completed == 1
        assert SwarmSample.objects.get(release=release).seeders == 1
    finally:
        keys = list(redis_client.scan_iter(match=store.prefix + "*"))
        if keys:
            redis_client.delete(*keys)


def test_the_task_does_nothing_without_redis(settings):
    settings.REDIS_URL = None
    assert tasks.flush_tracker_statistics.apply().get() == 0


def test_the_task_is_scheduled_by_name(settings):
    schedule = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "tracker.flush_statistics" in schedule


@pytest.mark.slow
def test_runtracker_with_the_memory_store_flushes_its_own_statistics(start_tracker):
    release = publish_release("1.0", v1=info_hash("run-stats"))
    tracker = start_tracker(FANOUT_TRACKER_STATS_FLUSH_SECONDS="1", REDIS_URL="")
    fetch(tracker.announce_url + "?" + announce_query(info_hash("run-stats"), event="started").decode())
    query = announce_query(info_hash("run-stats"), left=0, event="completed", uploaded=5, downloaded=9)
    fetch(tracker.announce_url + "?" + query.decode())
    wait_until(
        lambda: ReleaseDayStats.objects.filter(release=release, completed=1).exists(),
        timeout=15,
        what="the completed download to reach the database",
    )
    row = ReleaseDayStats.objects.get(release=release)
    assert (row.reported_uploaded_bytes, row.reported_downloaded_bytes) == (5, 9)
    assert SwarmSample.objects.filter(release=release, seeders=1).exists()


@pytest.mark.slow
def test_runtracker_flushes_once_more_when_it_stops(start_tracker):
    release = publish_release("1.0", v1=info_hash("run-stop"))
    tracker = start_tracker(FANOUT_TRACKER_STATS_FLUSH_SECONDS="3600", REDIS_URL="")
    fetch(tracker.announce_url + "?" + announce_query(info_hash("run-stop"), event="started").decode())
    fetch(
        tracker.announce_url + "?" + announce_query(info_hash("run-stop"), event="completed", left=0).decode()
    )
    assert tracker.process.stop() == 0
    assert ReleaseDayStats.objects.get(release=release).completed == 1
