"""Which ``completed`` announces are downloads: once per peer the tracker saw leeching, in both stores."""

import pytest

from tests.tracker.test_swarm_store import peer
from tracker.protocol import Event
from tracker.swarm_store import RedisSwarmStore, SwarmAnnounce, counts_as_download

TTL = 100
SWARM = 7


def downloads(store, now: float = 50) -> tuple[int, int]:
    """The scrape's downloads ever, and the statistics' completed since the last take."""
    return store.scrape([SWARM], now)[0].downloaded, sum(t.completed for t in store.take_statistics(now))


def leech(store, n: int, now: float = 0) -> None:
    store.announce(SwarmAnnounce(SWARM, peer(n), Event.STARTED, 100, 50, now))


def complete(store, n: int, now: float = 1, left: int = 0) -> None:
    store.announce(SwarmAnnounce(SWARM, peer(n), Event.COMPLETED, left, 50, now))


@pytest.mark.parametrize(
    ("event", "left", "was_leeching", "counted_before", "counts"),
    [
        (Event.COMPLETED, 0, True, False, True),
        (Event.COMPLETED, 0, False, False, False),  # never seen leeching
        (Event.COMPLETED, 0, True, True, False),  # counted already
        (Event.COMPLETED, 10, True, False, False),  # still lacks bytes
        (Event.NONE, 0, True, False, False),
        (Event.STARTED, 0, True, False, False),
    ],
)
def test_the_rule(event, left, was_leeching, counted_before, counts):
    assert (
        counts_as_download(event=event, left=left, was_leeching=was_leeching, counted_before=counted_before)
        is counts
    )


def test_a_leecher_that_completes_is_one_download(make_store):
    store = make_store(peer_ttl=TTL)
    leech(store, 1)
    store.announce(SwarmAnnounce(SWARM, peer(1), Event.NONE, 40, 50, 0.5))
    complete(store, 1)
    assert downloads(store) == (1, 1)


def test_a_completed_from_a_peer_never_seen_leeching_is_not_counted(make_store):
    store = make_store(peer_ttl=TTL)
    complete(store, 1)
    # A seed that restarts and says completed, and a forger who announced a seed first.
    store.announce(SwarmAnnounce(SWARM, peer(2), Event.STARTED, 0, 50, 0))
    complete(store, 2)
    assert downloads(store) == (0, 0)


def test_a_repeated_completed_is_counted_once(make_store):
    store = make_store(peer_ttl=TTL)
    leech(store, 1)
    for now in (1, 2, 3):
        complete(store, 1, now)
    assert downloads(store) == (1, 1)


def test_a_peer_that_stops_and_leeches_again_is_counted_once(make_store):
    store = make_store(peer_ttl=TTL)
    leech(store, 1)
    complete(store, 1)
    store.announce(SwarmAnnounce(SWARM, peer(1), Event.STOPPED, 0, 50, 2))
    leech(store, 1, now=3)
    complete(store, 1, now=4)
    assert downloads(store) == (1, 1)


def test_a_completed_that_still_lacks_bytes_is_not_counted_and_does_not_spend_the_peers_count(make_store):
    store = make_store(peer_ttl=TTL)
    leech(store, 1)
    complete(store, 1, left=10)
    assert downloads(store) == (0, 0)
    complete(store, 1, now=2)
    assert downloads(store) == (1, 1)


def test_peers_are_told_apart_by_endpoint(make_store):
    store = make_store(peer_ttl=TTL)
    for port in (6881, 6882):
        store.announce(SwarmAnnounce(SWARM, peer(1, port), Event.STARTED, 100, 50, 0))
        store.announce(SwarmAnnounce(SWARM, peer(1, port), Event.COMPLETED, 0, 50, 1))
    # Another swarm counts its own downloads.
    store.announce(SwarmAnnounce(SWARM + 1, peer(1), Event.COMPLETED, 0, 50, 1))
    assert downloads(store) == (2, 2)


def test_a_batch_counts_as_its_announces_one_by_one(make_store):
    store = make_store(peer_ttl=TTL)
    batch = [
        SwarmAnnounce(SWARM, peer(1), Event.STARTED, 100, 50, 0),
        SwarmAnnounce(SWARM, peer(1), Event.COMPLETED, 0, 50, 0),
        SwarmAnnounce(SWARM, peer(1), Event.COMPLETED, 0, 50, 0),
        SwarmAnnounce(SWARM, peer(2), Event.COMPLETED, 0, 50, 0),
    ]
    store.announce_compact_many(batch)
    assert downloads(store) == (1, 1)


def test_redis_forgets_the_counted_peers_with_the_swarm(redis_client, redis_prefix):
    store = RedisSwarmStore(redis_client, peer_ttl=TTL, prefix=redis_prefix)
    leech(store, 1)
    complete(store, 1)
    counted = f"{redis_prefix}{{{SWARM}}}:counted"
    assert redis_client.smembers(counted) == {peer(1).endpoint}
    assert 0 < redis_client.ttl(counted) <= 2 * TTL
