"""BEP 15 packets, fed whole, truncated and hostile, and the connection ids that guard them."""

import struct

import pytest

from tests.tracker.conftest import info_hash
from tracker.protocol import (
    DEFAULT_NUMWANT,
    MAX_NUMWANT,
    UDP_MAX_SCRAPE_HASHES,
    UDP_PROTOCOL_ID,
    AnnounceRequest,
    ConnectionIds,
    Event,
    Peer,
    SwarmCounts,
    UdpAnnounce,
    UdpConnect,
    UdpError,
    UdpScrape,
    parse_udp,
    udp_announce_response,
    udp_connect_response,
    udp_error,
    udp_scrape_response,
)

HASH = info_hash("udp")
PEER_ID = b"-UD0001-000000000042"
CONNECT = struct.pack(">QII", UDP_PROTOCOL_ID, 0, 7)


def announce_packet(
    connection_id: int = 99, event: int = 2, numwant: int = -1, port: int = 6881, left: int = 1000
) -> bytes:
    return (
        struct.pack(">QII", connection_id, 1, 7)
        + HASH
        + PEER_ID
        + struct.pack(">QQQIIIiH", 10, left, 20, event, 0, 0xDEADBEEF, numwant, port)
    )


def test_it_parses_a_connect():
    assert parse_udp(CONNECT) == UdpConnect(transaction_id=7)


def test_it_parses_an_announce_and_ignores_bep41_options():
    expected = UdpAnnounce(
        transaction_id=7,
        connection_id=99,
        request=AnnounceRequest(
            HASH, PEER_ID, 6881, 20, 10, 1000, Event.STARTED, DEFAULT_NUMWANT, True, True
        ),
    )
    assert parse_udp(announce_packet()) == expected
    assert parse_udp(announce_packet() + b"\x02\x09/announce") == expected


@pytest.mark.parametrize("cut", range(len(announce_packet())))
def test_it_drops_or_refuses_every_truncated_announce(cut):
    if cut < 16:
        assert parse_udp(announce_packet()[:cut]) is None
    else:
        with pytest.raises(UdpError) as refused:
            parse_udp(announce_packet()[:cut])
        assert refused.value.response == udp_error(7, "truncated announce")


@pytest.mark.parametrize(
    ("numwant", "expected"), [(-1, DEFAULT_NUMWANT), (0, 0), (9, 9), (2**31 - 1, MAX_NUMWANT)]
)
def test_it_bounds_numwant(numwant, expected):
    assert parse_udp(announce_packet(numwant=numwant)).request.numwant == expected


@pytest.mark.parametrize("number", [0, 1, 2, 3])
def test_it_reads_events_by_their_bep15_numbers(number):
    assert parse_udp(announce_packet(event=number)).request.event == Event(number)


@pytest.mark.parametrize(
    ("packet", "reason"),
    [
        (struct.pack(">QII", 12345, 0, 7), "not a BEP 15 connect"),
        (announce_packet(event=4), "invalid event"),
        (announce_packet(port=0), "invalid port"),
        (struct.pack(">QII", 99, 2, 7), "malformed scrape"),
        (struct.pack(">QII", 99, 2, 7) + HASH + b"x", "malformed scrape"),
        (
            struct.pack(">QII", 99, 2, 7) + HASH * (UDP_MAX_SCRAPE_HASHES + 1),
            "at most 74 info_hash per scrape",
        ),
        (struct.pack(">QII", 99, 3, 7), "unknown action"),
        (struct.pack(">QII", 99, 0xFFFFFFFF, 7) + bytes(200), "unknown action"),
    ],
)
def test_it_refuses_bad_packets_with_an_error_packet(packet, reason):
    with pytest.raises(UdpError) as refused:
        parse_udp(packet)
    assert refused.value.response == struct.pack(">II", 3, 7) + reason.encode()


def test_it_parses_a_scrape():
    other = info_hash("other")
    assert parse_udp(struct.pack(">QII", 99, 2, 7) + HASH + other) == UdpScrape(7, 99, [HASH, other])


def test_it_answers_a_connect():
    assert udp_connect_response(7, 0x0102030405060708) == struct.pack(">IIQ", 0, 7, 0x0102030405060708)


def test_it_answers_peers_of_the_askers_family_only():
    v4, v6 = Peer(b"a" * 20, bytes([10, 0, 0, 1, 0, 80])), Peer(b"b" * 20, bytes(15) + b"\x01\x00\x50")
    head = struct.pack(">IIIII", 1, 7, 1800, 3, 4)
    assert udp_announce_response(7, 1800, 3, 4, [v4, v6], ipv6=False) == head + v4.endpoint
    assert udp_announce_response(7, 1800, 3, 4, [v4, v6], ipv6=True) == head + v6.endpoint


def test_it_keeps_an_ipv6_answer_in_one_unfragmented_datagram():
    peers = [Peer(b"b" * 20, n.to_bytes(16, "big") + b"\x00\x50") for n in range(MAX_NUMWANT)]
    assert len(udp_announce_response(7, 1800, 0, 0, peers, ipv6=True)) <= 1232


def test_it_answers_a_scrape_in_the_order_asked():
    answer = udp_scrape_response(7, [SwarmCounts(1, 2, 3), SwarmCounts(0, 0, 0)])
    assert answer == struct.pack(">II", 2, 7) + struct.pack(">III", 1, 2, 3) + bytes(12)


def test_it_accepts_a_connection_id_for_the_minute_bep15_allows_and_no_longer():
    ids = ConnectionIds(b"k" * 32)
    address = bytes([10, 0, 0, 1])
    issued = ids.issue(address, now=6000)
    assert ids.valid(issued, address, now=6059)
    assert ids.valid(issued, address, now=6119)
    assert not ids.valid(issued, address, now=6120)
    assert not ids.valid(issued, bytes([10, 0, 0, 2]), now=6000)
    assert not ConnectionIds(b"x" * 32).valid(issued, address, now=6000)
