"""The one suite every SwarmStore implementation passes (``make_store`` yields each kind)."""

import random
import socket
import threading

import pytest
import redis
from redis.backoff import ConstantBackoff
from redis.retry import Retry

from bittorrent import bencode
from harness.polling import wait_until
from tests.tracker.conftest import announce_query, info_hash
from tracker.engine import Tracker, admission_digest
from tracker.protocol import Event, Peer, SwarmCounts
from tracker.swarm_store import MemorySwarmStore, RedisSwarmStore, SwarmAnnounce, SwarmStoreUnavailable

TTL = 100
SWARM = 1


def peer(n: int, port: int = 6881) -> Peer:
    return Peer(b"-PY0001-%012d" % n, bytes([10, 0, n // 256, n % 256]) + port.to_bytes(2, "big"))


def test_it_gives_the_first_peer_nobody(make_store):
    store = make_store(peer_ttl=TTL)
    assert store.announce(SwarmAnnounce(SWARM, peer(1), Event.STARTED, 100, 50, now=0)) == (0, 1, [])


def test_it_gives_each_peer_the_others_but_never_itself(make_store):
    store = make_store(peer_ttl=TTL)
    store.announce(SwarmAnnounce(SWARM, peer(1), Event.STARTED, 100, 50, now=0))
    complete, incomplete, peers = store.announce(SwarmAnnounce(SWARM, peer(2), Event.STARTED, 0, 50, now=1))
    assert (complete, incomplete, peers) == (1, 1, [peer(1)])
    assert store.announce(SwarmAnnounce(SWARM, peer(1), Event.NONE, 100, 50, now=2)).peers == [peer(2)]


def test_it_gives_seeds_only_leechers_and_leechers_everyone(make_store):
    store = make_store(peer_ttl=TTL)
    for n in (1, 2):
        store.announce(SwarmAnnounce(SWARM, peer(n), Event.STARTED, 0, 50, now=0))
    for n in (3, 4):
        store.announce(SwarmAnnounce(SWARM, peer(n), Event.STARTED, 100, 50, now=0))
    seed_view = store.announce(SwarmAnnounce(SWARM, peer(1), Event.NONE, 0, 50, now=1))
    assert (seed_view.complete, seed_view.incomplete) == (2, 2)
    assert sorted(seed_view.peers) == [peer(3), peer(4)]
    assert sorted(store.announce(SwarmAnnounce(SWARM, peer(3), Event.NONE, 100, 50, now=1)).peers) == [
        peer(1),
        peer(2),
        peer(4),
    ]


def test_a_leecher_gets_seeds_and_leechers_in_proportion_to_their_numbers(make_store):
    """10 seeds among 99 others, 10 peers asked for: 1.01 seeds due, so 1 or 2, never none or more."""
    store = make_store(peer_ttl=TTL)
    for n in range(1, 101):
        store.announce(SwarmAnnounce(SWARM, peer(n), Event.STARTED, 0 if n <= 10 else 100, 0, now=0))
    seeds = {peer(n).endpoint for n in range(1, 11)}
    for _ in range(50):
        answer = store.announce_compact(SwarmAnnounce(SWARM, peer(50), Event.NONE, 100, 10, now=1)).peers4
        endpoints = [answer[i : i + 6] for i in range(0, len(answer), 6)]
        assert len(endpoints) == 10
        assert 1 <= len(seeds.intersection(endpoints)) <= 2


def test_it_forgets_a_stopped_peer(make_store):
    store = make_store(peer_ttl=TTL)
    store.announce(SwarmAnnounce(SWARM, peer(1), Event.STARTED, 100, 50, now=0))
    store.announce(SwarmAnnounce(SWARM, peer(2), Event.STARTED, 0, 50, now=0))
    assert store.announce(SwarmAnnounce(SWARM, peer(1), Event.STOPPED, 100, 50, now=1)) == (1, 0, [])
    assert store.announce(SwarmAnnounce(SWARM, peer(2), Event.NONE, 0, 50, now=2)) == (1, 0, [])
    assert store.announce(SwarmAnnounce(SWARM, peer(9), Event.STOPPED, 0, 50, now=3)) == (1, 0, [])


def test_it_keys_peers_by_address_and_port(make_store):
    store = make_store(peer_ttl=TTL)
    store.announce(SwarmAnnounce(SWARM, peer(1), Event.STARTED, 100, 50, now=0))
    restarted = Peer(b"-PY0001-restarted000", peer(1).endpoint)
    assert store.announce(SwarmAnnounce(SWARM, restarted, Event.STARTED, 100, 50, now=1)) == (0, 1, [])
    other_port = SwarmAnnounce(SWARM, peer(1, port=7000), Event.STARTED, 100, 50, now=2)
    assert store.announce(other_port).peers == [restarted]


def test_it_moves_a_peer_that_finished_to_the_seeds(make_store):
    store = make_store(peer_ttl=TTL)
    store.announce(SwarmAnnounce(SWARM, peer(1), Event.STARTED, 100, 50, now=0))
    store.announce(SwarmAnnounce(SWARM, peer(2), Event.STARTED, 100, 50, now=0))
    assert store.announce(SwarmAnnounce(SWARM, peer(1), Event.COMPLETED, 0, 50, now=1))[:2] == (1, 1)
    assert store.announce(SwarmAnnounce(SWARM, peer(1), Event.NONE, 100, 50, now=2))[:2] == (0, 2)


def test_it_counts_a_completed_download_once_per_peer(make_store):
    store = make_store(peer_ttl=TTL)
    store.announce(SwarmAnnounce(SWARM, peer(1), Event.STARTED, 100, 50, now=0))
    store.announce(SwarmAnnounce(SWARM, peer(1), Event.COMPLETED, 0, 50, now=1))
    store.announce(SwarmAnnounce(SWARM, peer(1), Event.COMPLETED, 0, 50, now=2))
    # Never seen leeching: a seed's or a forged announce.
    store.announce(SwarmAnnounce(SWARM, peer(2), Event.COMPLETED, 0, 50, now=3))
    assert store.scrape([SWARM], now=4) == [SwarmCounts(complete=2, downloaded=1, incomplete=0)]


def test_it_gives_at_most_numwant_distinct_peers(make_store):
    store = make_store(peer_ttl=TTL)
    for n in range(1, 101):
        store.announce(SwarmAnnounce(SWARM, peer(n), Event.STARTED, 100, 0, now=0))
    assert store.announce(SwarmAnnounce(SWARM, peer(1), Event.NONE, 100, 0, now=1)).peers == []
    seen = set()
    for _ in range(20):
        peers = store.announce(SwarmAnnounce(SWARM, peer(1), Event.NONE, 100, 30, now=1)).peers
        assert len(peers) == len(set(peers)) == 30
        assert peer(1) not in peers
        seen.update(peers)
    # Random picks spread the load over the swarm instead of always naming the same peers.
    assert len(seen) > 60


def test_it_expires_peers_not_heard_from_within_the_ttl(make_store):
    store = make_store(peer_ttl=TTL)
    store.announce(SwarmAnnounce(SWARM, peer(1), Event.STARTED, 100, 50, now=0))
    store.announce(SwarmAnnounce(SWARM, peer(2), Event.STARTED, 0, 50, now=50))
    store.announce(SwarmAnnounce(SWARM, peer(1), Event.NONE, 100, 50, now=90))
    assert store.announce(SwarmAnnounce(SWARM, peer(3), Event.STARTED, 100, 50, now=149)).incomplete == 2
    result = store.announce(SwarmAnnounce(SWARM, peer(3), Event.NONE, 100, 50, now=151))
    assert (result.complete, result.incomplete, sorted(result.peers)) == (0, 2, [peer(1)])
    assert store.scrape([SWARM], now=250) == [SwarmCounts(complete=0, downloaded=0, incomplete=1)]
    assert store.scrape([SWARM], now=252) == [SwarmCounts(complete=0, downloaded=0, incomplete=0)]


def test_it_keeps_swarms_apart(make_store):
    store = make_store(peer_ttl=TTL)
    store.announce(SwarmAnnounce(1, peer(1), Event.STARTED, 100, 50, now=0))
    assert store.announce(SwarmAnnounce(2, peer(2), Event.STARTED, 100, 50, now=0)) == (0, 1, [])
    assert store.scrape([2, 3, 1], now=0) == [
        SwarmCounts(0, 0, 1),
        SwarmCounts(0, 0, 0),
        SwarmCounts(0, 0, 1),
    ]


def test_it_serves_ipv4_and_ipv6_peers_together(make_store):
    store = make_store(peer_ttl=TTL)
    v6 = Peer(b"-PY0001-ipv6ipv6ipv6", bytes(15) + b"\x01\x1a\xe1")
    store.announce(SwarmAnnounce(SWARM, v6, Event.STARTED, 0, 50, now=0))
    assert store.announce(SwarmAnnounce(SWARM, peer(1), Event.STARTED, 100, 50, now=0)).peers == [v6]


def test_it_tells_clients_when_redis_is_unreachable(caplog):
    store = RedisSwarmStore(redis.Redis(port=1, socket_connect_timeout=1), peer_ttl=TTL, prefix="unused:")
    tracker = Tracker(store, interval=1800, min_interval=60)
    tracker.swarms = {info_hash("down"): SWARM}
    for port in (1, 2):
        answer = tracker.handle_announce(announce_query(info_hash("down"), port=port), "10.0.0.1")
        assert bencode.decode(answer) == {b"failure reason": b"tracker temporarily unavailable"}
    with pytest.raises(SwarmStoreUnavailable):
        store.scrape([SWARM], now=0)
    assert caplog.text.count("swarm store unavailable") == 1


def test_an_unanswering_redis_costs_one_attempt_per_call_whatever_retries_the_client_has():
    """The tracker's loop waits for the store: it must not sit through the client's retries and backoff."""
    callers = []  # the address of each connection accepted, in order
    with socket.create_server(("127.0.0.1", 0)) as server:

        def hang_up() -> None:
            while True:
                try:
                    connection, address = server.accept()
                except OSError:  # the server shut down: the test is over
                    return
                callers.append(address)
                connection.close()

        threading.Thread(target=hang_up, daemon=True).start()
        client = redis.Redis(port=server.getsockname()[1], retry=Retry(ConstantBackoff(0.01), 5))
        store = RedisSwarmStore(client, peer_ttl=TTL, prefix="unused:")
        announces = [SwarmAnnounce(SWARM, peer(1), Event.STARTED, 0, 50, now=0)]
        assert isinstance(store.announce_compact_many(announces)[0], SwarmStoreUnavailable)
        with pytest.raises(SwarmStoreUnavailable):
            store.scrape([SWARM], now=0)
        # Accepted after every attempt of the store's: once it is, all of them were.
        with socket.create_connection(server.getsockname()) as last:
            wait_until(lambda: last.getsockname() in callers, timeout=5, what="the last connection")
        server.shutdown(socket.SHUT_RDWR)  # wakes the thread's accept
    assert len(callers) == 3


def test_compact_answers_hold_the_same_kind_of_peers_as_full_ones(make_store):
    store = make_store(peer_ttl=TTL)
    v6 = Peer(b"-PY0001-000000000600", bytes(15) + b"\x01" + (6881).to_bytes(2, "big"))
    for n in range(1, 6):
        store.announce(SwarmAnnounce(SWARM, peer(n), Event.STARTED, 100, 50, now=0))
    store.announce(SwarmAnnounce(SWARM, peer(9), Event.STARTED, 0, 50, now=0))
    store.announce(SwarmAnnounce(SWARM, v6, Event.STARTED, 100, 50, now=0))
    result = store.announce_compact(SwarmAnnounce(SWARM, peer(1), Event.NONE, 100, 50, now=1))
    assert (result.complete, result.incomplete) == (1, 6)
    assert sorted(result.peers4[i : i + 6] for i in range(0, len(result.peers4), 6)) == sorted(
        peer(n).endpoint for n in (2, 3, 4, 5, 9)
    )
    assert result.peers6 == v6.endpoint
    # A seed gets leechers only; numwant bounds the answer and never includes the asker.
    seed = store.announce_compact(SwarmAnnounce(SWARM, peer(9), Event.NONE, 0, 3, now=2))
    assert len(seed.peers4) // 6 + len(seed.peers6) // 18 == 3
    assert peer(9).endpoint not in [seed.peers4[i : i + 6] for i in range(0, len(seed.peers4), 6)]
    stopped = store.announce_compact(SwarmAnnounce(SWARM, peer(2), Event.STOPPED, 100, 50, now=3))
    assert stopped[2:] == (b"", b"")


def test_the_redis_store_reloads_its_script_after_a_script_flush(redis_client, redis_prefix):
    store = RedisSwarmStore(redis_client, peer_ttl=TTL, prefix=redis_prefix)
    store.announce(SwarmAnnounce(SWARM, peer(1), Event.STARTED, 0, 50, now=0))
    redis_client.script_flush()
    results = store.announce_compact_many(
        [SwarmAnnounce(SWARM, peer(n), Event.STARTED, 100, 50, now=1) for n in (2, 3)]
    )
    assert [(r.complete, r.incomplete) for r in results] == [(1, 1), (1, 2)]
    redis_client.script_flush()
    assert store.announce(SwarmAnnounce(SWARM, peer(4), Event.STARTED, 100, 50, now=2)).complete == 1
    redis_client.script_flush()
    assert store.scrape([SWARM], now=3) == [SwarmCounts(1, 0, 3)]


@pytest.mark.parametrize("numwant", [10, 58, 59, 200])
def test_a_compact_answer_holds_numwant_distinct_others_never_the_asker(make_store, numwant):
    store = make_store(peer_ttl=TTL)
    for n in range(1, 61):
        store.announce(SwarmAnnounce(SWARM, peer(n), Event.STARTED, 0 if n > 30 else 100, 0, now=0))
    for asker, left in ((peer(7), 100), (peer(40), 0)):
        for _ in range(40):
            answer = store.announce_compact(
                SwarmAnnounce(SWARM, asker, Event.NONE, left, numwant, now=1)
            ).peers4
            endpoints = [answer[i : i + 6] for i in range(0, len(answer), 6)]
            # A leecher may get all 59 others; a seed gets only the 30 leechers.
            assert len(endpoints) == min(numwant, 59 if left else 30)
            assert len(set(endpoints)) == len(endpoints)
            assert asker.endpoint not in endpoints


def test_every_key_of_a_redis_swarm_has_a_lifetime(redis_client, redis_prefix):
    store = RedisSwarmStore(redis_client, peer_ttl=TTL, prefix=redis_prefix)
    store.announce(SwarmAnnounce(SWARM, peer(1), Event.STARTED, 100, 50, now=0))
    # The seeders' key is first written after the keys' lifetime was set.
    store.announce(SwarmAnnounce(SWARM, peer(2), Event.STARTED, 0, 50, now=10))
    keys = list(redis_client.scan_iter(match=redis_prefix + "{*"))
    assert len(keys) == 4  # peers, order and the two IPv4 groups' strings
    for key in keys:
        assert 0 < redis_client.ttl(key) <= 2 * TTL


def test_an_ipv6_swarm_answers_in_peers6_without_the_asker(make_store):
    store = make_store(peer_ttl=TTL)
    v6 = [Peer(b"-PY0001-00000000060%d" % n, bytes(15) + bytes([n]) + b"\x1a\xe1") for n in range(1, 4)]
    for p in v6:
        store.announce(SwarmAnnounce(SWARM, p, Event.STARTED, 100, 0, now=0))
    result = store.announce_compact(SwarmAnnounce(SWARM, v6[0], Event.NONE, 100, 50, now=1))
    assert result.peers4 == b""
    assert sorted(result.peers6[i : i + 18] for i in range(0, 36, 18)) == [v6[1].endpoint, v6[2].endpoint]
    assert len(result.peers6) == 36


def test_the_redis_store_keeps_the_same_swarm_as_the_memory_store_through_churn(redis_client, redis_prefix):
    """Peers join, finish, leave and expire, in both address families, batched: same peers, same counts.

    The Redis store moves peers between slots of its strings as others leave;
    asking for more peers than there are shows every peer it still holds.
    """
    rng = random.Random(20261127)
    memory = MemorySwarmStore(peer_ttl=TTL)
    redis_store = RedisSwarmStore(redis_client, peer_ttl=TTL, prefix=redis_prefix)
    v4 = [peer(n) for n in range(1, 41)]
    v6 = [Peer(b"-PY0001-%012d" % (1000 + n), bytes(15) + bytes([n]) + b"\x1a\xe1") for n in range(1, 21)]
    everyone = v4 + v6
    now = 0.0
    for _ in range(30):
        now += rng.choice([1, 5, 30])  # sometimes long enough for the earliest peers to expire
        announces = []
        for _ in range(rng.randint(1, 12)):
            event = rng.choice([Event.NONE, Event.STARTED, Event.COMPLETED, Event.STOPPED, Event.NONE])
            announces.append(SwarmAnnounce(SWARM, rng.choice(everyone), event, rng.choice([0, 100]), 5, now))
        for announce, remembered in zip(announces, redis_store.announce_compact_many(announces), strict=True):
            expected = memory.announce_compact(announce)
            assert (remembered.complete, remembered.incomplete) == (expected.complete, expected.incomplete)
        for asker, left in ((rng.choice(everyone), 100), (rng.choice(everyone), 0)):
            kept = redis_store.announce_compact(SwarmAnnounce(SWARM, asker, Event.NONE, left, 200, now))
            expected = memory.announce_compact(SwarmAnnounce(SWARM, asker, Event.NONE, left, 200, now))
            assert (kept.complete, kept.incomplete) == (expected.complete, expected.incomplete)
            assert sorted(endpoints(kept.peers4, 6)) == sorted(endpoints(expected.peers4, 6))
            assert sorted(endpoints(kept.peers6, 18)) == sorted(endpoints(expected.peers6, 18))
    assert redis_store.scrape([SWARM], now) == memory.scrape([SWARM], now)


def endpoints(joined: bytes, size: int) -> list[bytes]:
    return [joined[at : at + size] for at in range(0, len(joined), size)]


def test_a_client_claiming_absurd_totals_spoils_no_other_announce_of_its_batch(make_store):
    store = make_store(peer_ttl=TTL)
    absurd = 10**20 - 1  # the most digits the query parser takes
    announces = [
        SwarmAnnounce(SWARM, peer(1), Event.STARTED, 100, 50, 0, absurd, absurd),
        SwarmAnnounce(SWARM, peer(2), Event.STARTED, 100, 50, 0, 5, 7),
        SwarmAnnounce(SWARM, peer(3), Event.STARTED, 0, 50, 0),
    ]
    results = store.announce_compact_many(announces)
    assert [(r.complete, r.incomplete) for r in results] == [(0, 1), (0, 2), (1, 2)]
    assert store.scrape([SWARM], 1) == [SwarmCounts(1, 0, 2)]


def test_over_many_announces_every_other_peer_is_handed_out(make_store):
    store = make_store(peer_ttl=TTL)
    for n in range(1, 61):
        store.announce(SwarmAnnounce(SWARM, peer(n), Event.STARTED, 100, 0, now=0))
    handed_out = set()
    for _ in range(200):
        answer = store.announce_compact(SwarmAnnounce(SWARM, peer(1), Event.NONE, 100, 5, now=1))
        handed_out.update(endpoints(answer.peers4, 6))
    assert handed_out == {peer(n).endpoint for n in range(2, 61)}


# Admission records: whom a private swarm let in, with which key (tracker.engine.admission_digest).

KEY_A, KEY_B = b"A" * 15, b"B" * 15


def admitted(announce: SwarmAnnounce, digest: bytes) -> SwarmAnnounce:
    return announce._replace(admitted_with=digest)


def test_it_records_which_key_admitted_each_peer_of_a_private_swarm(make_store):
    store = make_store(peer_ttl=TTL)
    store.announce(admitted(SwarmAnnounce(SWARM, peer(1), Event.STARTED, 100, 50, now=0), KEY_A))
    store.announce_compact_many(
        [
            admitted(SwarmAnnounce(SWARM, peer(2), Event.STARTED, 0, 50, now=1), KEY_B),
            SwarmAnnounce(2, peer(3), Event.STARTED, 100, 50, now=1),  # a public swarm: no record
        ]
    )
    # A peer that announces again with another key (its user's new passkey) is recorded with that one.
    store.announce(admitted(SwarmAnnounce(SWARM, peer(1), Event.NONE, 100, 50, now=2), KEY_B))

    listed = store.admissions([SWARM, 2, 3], now=3)

    assert sorted(listed[0]) == [(peer(1).endpoint, KEY_B), (peer(2).endpoint, KEY_B)]
    assert listed[1:] == [[], []]


def test_a_peer_that_announces_without_a_key_keeps_no_admission(make_store):
    """A swarm made public: its peers announce without a passkey from then on."""
    store = make_store(peer_ttl=TTL)
    store.announce(admitted(SwarmAnnounce(SWARM, peer(1), Event.STARTED, 100, 50, now=0), KEY_A))
    store.announce(SwarmAnnounce(SWARM, peer(1), Event.NONE, 100, 50, now=1))
    assert store.admissions([SWARM], now=2) == [[]]


def test_a_stopped_peer_leaves_no_admission_and_the_others_keep_theirs(make_store):
    store = make_store(peer_ttl=TTL)
    for n, key in ((1, KEY_A), (2, KEY_B), (3, KEY_A)):
        store.announce(admitted(SwarmAnnounce(SWARM, peer(n), Event.STARTED, 100, 50, now=0), key))
    # Peer 1 leaves: in Redis the last peer of its group moves into its slot, with its record.
    store.announce(admitted(SwarmAnnounce(SWARM, peer(1), Event.STOPPED, 100, 50, now=1), KEY_A))
    assert sorted(store.admissions([SWARM], now=2)[0]) == [
        (peer(2).endpoint, KEY_B),
        (peer(3).endpoint, KEY_A),
    ]


def test_admissions_expire_with_their_peers(make_store):
    store = make_store(peer_ttl=TTL)
    store.announce(admitted(SwarmAnnounce(SWARM, peer(1), Event.STARTED, 100, 50, now=0), KEY_A))
    store.announce(admitted(SwarmAnnounce(SWARM, peer(2), Event.STARTED, 0, 50, now=50), KEY_B))
    assert len(store.admissions([SWARM], now=99)[0]) == 2
    assert store.admissions([SWARM], now=101) == [[(peer(2).endpoint, KEY_B)]]
    assert store.admissions([SWARM], now=151) == [[]]


def test_a_private_swarm_hands_out_its_peers_with_their_own_peer_ids_in_both_families(make_store):
    store = make_store(peer_ttl=TTL)
    v6 = Peer(b"-PY0001-ipv6ipv6ipv6", bytes(15) + b"\x01\x1a\xe1")
    store.announce(admitted(SwarmAnnounce(SWARM, v6, Event.STARTED, 0, 50, now=0), KEY_A))
    store.announce(admitted(SwarmAnnounce(SWARM, peer(1), Event.STARTED, 0, 50, now=0), KEY_A))

    answer = store.announce(admitted(SwarmAnnounce(SWARM, peer(2), Event.STARTED, 100, 50, now=1), KEY_B))

    assert sorted(answer.peers) == sorted([v6, peer(1)])
    assert sorted(store.admissions([SWARM], now=1)[0]) == sorted(
        [(v6.endpoint, KEY_A), (peer(1).endpoint, KEY_A), (peer(2).endpoint, KEY_B)]
    )


def test_many_private_swarms_are_listed_over_several_redis_calls(redis_client, redis_prefix):
    store = RedisSwarmStore(redis_client, peer_ttl=TTL, prefix=redis_prefix)
    store.SWARMS_PER_CALL = 3
    store.announce_compact_many(
        [admitted(SwarmAnnounce(n, peer(n), Event.STARTED, 100, 50, now=0), KEY_A) for n in range(1, 8)]
    )
    assert store.admissions(list(range(1, 9)), now=1) == [
        [(peer(n).endpoint, KEY_A)] for n in range(1, 8)
    ] + [[]]


def test_a_small_private_swarm_stays_a_compact_redis_hash(redis_client, redis_prefix):
    """The digest keeps a peer's record within hash-max-listpack-value (64 bytes).

    See tracker.engine.ADMISSION_DIGEST_BYTES.
    """
    store = RedisSwarmStore(redis_client, peer_ttl=TTL, prefix=redis_prefix)
    digest = admission_digest(b"some passkey")
    store.announce(
        admitted(SwarmAnnounce(SWARM, peer(1), Event.STARTED, 100, 50, now=0, uploaded=2**40), digest)
    )
    assert redis_client.object("encoding", f"{redis_prefix}{{{SWARM}}}:peers") == b"listpack"
