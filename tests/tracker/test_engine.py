"""The tracker core: whitelist, protocol and store joined; no input makes it raise."""

import struct

import pytest

from bittorrent import bencode
from tests.tracker.conftest import announce_query, info_hash, quoted
from tracker.engine import REFUSED, Tracker, UdpTracker
from tracker.protocol import UDP_PROTOCOL_ID
from tracker.swarm_store import MemorySwarmStore

V1 = info_hash("v1")
V2_TRUNCATED = info_hash("v2")


@pytest.fixture
def tracker() -> Tracker:
    tracker = Tracker(MemorySwarmStore(peer_ttl=100), interval=1800, min_interval=60, clock=lambda: 1000.0)
    tracker.swarms = {V1: 7, V2_TRUNCATED: 7, info_hash("other"): 8}
    return tracker


def test_it_refuses_an_info_hash_it_does_not_track(tracker):
    response = tracker.handle_announce(announce_query(info_hash("unknown")), "10.0.0.1")
    assert bencode.decode(response) == {b"failure reason": REFUSED.encode()}


def test_it_answers_an_announce_with_intervals_and_the_other_peers(tracker):
    tracker.handle_announce(announce_query(V1, port=1111, left=0), "10.0.0.1")
    answer = bencode.decode(tracker.handle_announce(announce_query(V1, port=2222), "10.0.0.2"))
    assert answer == {
        b"complete": 1,
        b"incomplete": 1,
        b"interval": 1800,
        b"min interval": 60,
        b"peers": bytes([10, 0, 0, 1]) + (1111).to_bytes(2, "big"),
    }


def test_it_uses_the_connections_address_not_the_ip_parameter(tracker):
    tracker.handle_announce(announce_query(V1, ip="6.6.6.6", left=0), "10.0.0.1")
    answer = bencode.decode(tracker.handle_announce(announce_query(V1, port=2222), "10.0.0.2"))
    assert answer[b"peers"] == bytes([10, 0, 0, 1]) + (6881).to_bytes(2, "big")


def test_it_joins_the_v1_and_v2_halves_of_a_hybrid_into_one_swarm(tracker):
    tracker.handle_announce(announce_query(V1, left=0), "10.0.0.1")
    answer = bencode.decode(tracker.handle_announce(announce_query(V2_TRUNCATED), "10.0.0.2"))
    assert (answer[b"complete"], answer[b"incomplete"]) == (1, 1)


def test_it_follows_the_swarms_it_is_given(tracker):
    tracker.swarms = {}
    response = tracker.handle_announce(announce_query(V1), "10.0.0.1")
    assert bencode.decode(response) == {b"failure reason": REFUSED.encode()}


def test_it_scrapes_the_swarms_it_tracks_and_leaves_out_the_others(tracker):
    tracker.handle_announce(announce_query(V1, event="started"), "10.0.0.1")
    tracker.handle_announce(announce_query(V1, left=0, event="completed"), "10.0.0.1")
    query = f"info_hash={quoted(V2_TRUNCATED)}&info_hash={quoted(info_hash('unknown'))}".encode()
    assert bencode.decode(tracker.handle_scrape(query)) == {
        b"files": {V2_TRUNCATED: {b"complete": 1, b"downloaded": 1, b"incomplete": 0}}
    }


@pytest.mark.parametrize(
    "query",
    [
        b"",
        b"&&&===",
        b"info_hash",
        b"info_hash=%",
        b"info_hash=%zz%1",
        b"info_hash=" + b"%ff" * 5000,
        announce_query(V1, port="99999999999999999999999999"),
        announce_query(V1).replace(b"&", b";"),
        bytes(range(256)),
    ],
)
def test_it_answers_hostile_queries_with_a_well_formed_answer(tracker, query):
    assert b"failure reason" in bencode.decode(tracker.handle_announce(query, "10.0.0.1"))
    assert list(bencode.decode(tracker.handle_scrape(query))) in ([b"failure reason"], [b"files"])


def test_it_answers_an_unusable_client_address_with_a_failure_reason(tracker):
    response = tracker.handle_announce(announce_query(V1), "unix-socket")
    assert bencode.decode(response) == {b"failure reason": b"unusable client address"}


@pytest.fixture
def udp(tracker) -> UdpTracker:
    return UdpTracker(tracker, key=b"k" * 32)


def udp_connect(udp: UdpTracker, client_ip: str) -> int:
    answer = udp.handle(struct.pack(">QII", UDP_PROTOCOL_ID, 0, 1), client_ip)
    return struct.unpack(">IIQ", answer)[2]


def udp_announce(connection_id: int, info_hash: bytes, port: int, left: int = 100) -> bytes:
    return (
        struct.pack(">QII", connection_id, 1, 5)
        + info_hash
        + b"-UD0001-%012d" % port
        + struct.pack(">QQQIIIiH", 0, left, 0, 2, 0, 0, -1, port)
    )


def test_it_answers_a_udp_announce_after_a_connect(udp):
    udp.handle(udp_announce(udp_connect(udp, "10.0.0.1"), V1, 1111, left=0), "10.0.0.1")
    udp.handle(udp_announce(udp_connect(udp, "2001:db8::1"), V1, 3333), "2001:db8::1")
    answer = udp.handle(udp_announce(udp_connect(udp, "10.0.0.2"), V1, 2222), "10.0.0.2")
    assert answer == struct.pack(">IIIII", 1, 5, 1800, 2, 1) + bytes([10, 0, 0, 1]) + (1111).to_bytes(
        2, "big"
    )


def test_it_refuses_a_udp_announce_without_a_valid_connection_id(udp):
    connection_id = udp_connect(udp, "10.0.0.1")
    answer = udp.handle(udp_announce(connection_id, V1, 1111), "10.0.0.2")
    assert answer == struct.pack(">II", 3, 5) + b"invalid connection id"


def test_it_refuses_a_udp_announce_for_an_untracked_torrent(udp):
    answer = udp.handle(udp_announce(udp_connect(udp, "10.0.0.1"), info_hash("unknown"), 1), "10.0.0.1")
    assert answer == struct.pack(">II", 3, 5) + REFUSED.encode()


def test_it_answers_a_udp_scrape_with_zeros_for_untracked_torrents(udp):
    connection_id = udp_connect(udp, "10.0.0.1")
    udp.handle(udp_announce(connection_id, V1, 1111), "10.0.0.1")
    packet = struct.pack(">QII", connection_id, 2, 9) + info_hash("unknown") + V2_TRUNCATED
    assert udp.handle(packet, "10.0.0.1") == struct.pack(">II", 2, 9) + bytes(12) + struct.pack(
        ">III", 0, 0, 1
    )


def test_it_drops_a_datagram_too_short_to_answer(udp):
    assert udp.handle(b"\x00" * 15, "10.0.0.1") is None


def test_it_answers_a_batch_of_announces_in_order_as_one_by_one(tracker):
    answers = tracker.handle_announces(
        [
            (announce_query(V1, port=1), "10.0.0.1", None),
            (b"port=1", "10.0.0.1", None),
            (announce_query(V1, port=2, compact=0), "10.0.0.2", None),
            (announce_query(V1, port=3), "10.0.0.3", None),
            (announce_query(V1, port=4), "10.0.0.4", b"no such key"),
        ]
    )
    decoded = [bencode.decode(answer) for answer in answers]
    assert decoded[0][b"incomplete"] == 1
    assert decoded[1] == {b"failure reason": b"missing info_hash"}
    assert [peer[b"port"] for peer in decoded[2][b"peers"]] == [1]
    assert decoded[3][b"incomplete"] == 3 and len(decoded[3][b"peers"]) == 12
    assert decoded[4] == {b"failure reason": REFUSED.encode()}


def test_it_answers_a_batch_of_datagrams_as_one_by_one(make_store):
    tracker = Tracker(make_store(peer_ttl=100), interval=1800, min_interval=60, clock=lambda: 1000.0)
    tracker.swarms = {V1: 7}
    udp = UdpTracker(tracker, key=b"k" * 32)
    ipv4, ipv6 = udp_connect(udp, "10.0.0.1"), udp_connect(udp, "2001:db8::1")
    scrape = struct.pack(">QII", ipv4, 2, 9) + V1
    answers = udp.handle_many(
        [
            (udp_announce(ipv4, V1, 1111, left=0), "10.0.0.1"),
            (struct.pack(">QII", UDP_PROTOCOL_ID, 0, 4), "10.0.0.3"),
            (udp_announce(ipv4, V1, 2222), "10.0.0.2"),  # the connection id of another address
            (udp_announce(ipv6, V1, 3333), "2001:db8::1"),
            (b"\x00" * 15, "10.0.0.1"),
            (udp_announce(ipv4, info_hash("unknown"), 1), "10.0.0.1"),
            (scrape, "10.0.0.1"),
            (udp_announce(ipv4, V1, 4444), "10.0.0.1"),
        ]
    )
    assert answers[0] == struct.pack(">IIIII", 1, 5, 1800, 0, 1)
    assert answers[1] == udp.handle(struct.pack(">QII", UDP_PROTOCOL_ID, 0, 4), "10.0.0.3")
    assert answers[2] == struct.pack(">II", 3, 5) + b"invalid connection id"
    # BEP 15: an IPv6 asker gets the IPv6 peers only (none here).
    assert answers[3] == struct.pack(">IIIII", 1, 5, 1800, 1, 1)
    assert answers[4] is None
    assert answers[5] == struct.pack(">II", 3, 5) + REFUSED.encode()
    # Scrapes are answered before the batch's announces are recorded.
    assert answers[6] == struct.pack(">II", 2, 9) + bytes(12)
    # Leechers 10.0.0.1:4444 and [2001:db8::1]:3333, the seed 10.0.0.1:1111, whom alone it is handed.
    seed = bytes([10, 0, 0, 1]) + (1111).to_bytes(2, "big")
    assert answers[7] == struct.pack(">IIIII", 1, 5, 1800, 2, 1) + seed
    assert udp.handle(scrape, "10.0.0.1") == struct.pack(">II", 2, 9) + struct.pack(">III", 1, 0, 2)
