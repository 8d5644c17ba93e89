"""The announce and scrape protocol (BEP 3, 7, 23, 48), fed whole, truncated and hostile."""

import pytest

from bittorrent import bencode
from tests.tracker.conftest import announce_query, info_hash, quoted
from tracker.protocol import (
    DEFAULT_NUMWANT,
    MAX_NUMWANT,
    MAX_SCRAPE_HASHES,
    AnnounceRequest,
    Event,
    Peer,
    SwarmCounts,
    TrackerError,
    announce_response,
    failure_response,
    pack_address,
    parse_announce,
    parse_scrape,
    scrape_response,
)

HASH = info_hash("release")
# As libtorrent 2.1 sends it.
LIBTORRENT_QUERY = (
    b"info_hash=" + quoted(HASH).encode() + b"&peer_id=-LT2110-%2A%7E%28abcdefgh%29"
    b"&port=6881&uploaded=10&downloaded=20&left=1048576&corrupt=0&key=5E1C2A0D&event=started"
    b"&numwant=200&compact=1&no_peer_id=1&supportcrypto=1&redundant=0"
)


def failure_reason(response: bytes) -> str:
    return bencode.decode(response)[b"failure reason"].decode()


def test_it_parses_a_libtorrent_announce():
    assert parse_announce(LIBTORRENT_QUERY) == AnnounceRequest(
        info_hash=HASH,
        peer_id=b"-LT2110-*~(abcdefgh)",
        port=6881,
        uploaded=10,
        downloaded=20,
        left=1048576,
        event=Event.STARTED,
        numwant=200,
        compact=True,
        no_peer_id=True,
    )


@pytest.mark.parametrize("cut", range(len(LIBTORRENT_QUERY)))
def test_it_parses_or_refuses_every_truncation(cut):
    try:
        request = parse_announce(LIBTORRENT_QUERY[:cut])
    except TrackerError as error:
        assert failure_reason(error.response) == error.reason
    else:
        assert request.info_hash == HASH


def test_it_reads_plus_as_space_and_percent_escapes_as_bytes():
    query = b"info_hash=" + quoted(HASH).encode() + b"&peer_id=a+b%2B%00%ff" + b"c" * 14 + b"&port=1&left=0"
    assert parse_announce(query).peer_id == b"a b+\x00\xff" + b"c" * 14


def test_it_fills_in_defaults():
    request = parse_announce(
        b"info_hash=" + quoted(HASH).encode() + b"&peer_id=" + b"p" * 20 + b"&port=1&left=0"
    )
    assert (request.event, request.numwant, request.compact, request.no_peer_id) == (
        Event.NONE,
        DEFAULT_NUMWANT,
        True,
        False,
    )
    assert (request.uploaded, request.downloaded) == (0, 0)


@pytest.mark.parametrize(
    ("numwant", "expected"), [("0", 0), ("7", 7), ("-1", DEFAULT_NUMWANT), ("100000", MAX_NUMWANT)]
)
def test_it_bounds_numwant(numwant, expected):
    assert parse_announce(announce_query(HASH, numwant=numwant)).numwant == expected


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        ("started", Event.STARTED),
        ("completed", Event.COMPLETED),
        ("stopped", Event.STOPPED),
        ("", Event.NONE),
        ("paused", Event.NONE),
    ],
)
def test_it_reads_events(event, expected):
    assert parse_announce(announce_query(HASH, event=event)).event == expected


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        (b"", "missing info_hash"),
        (b"peer_id=" + b"p" * 20 + b"&port=1&left=0", "missing info_hash"),
        (announce_query(HASH[:19]), "info_hash must be 20 bytes"),
        (announce_query(HASH + b"x"), "info_hash must be 20 bytes"),
        (b"info_hash=" + quoted(HASH).encode() + b"&port=1&left=0", "missing peer_id"),
        (announce_query(HASH, peer_id=b"short"), "peer_id must be 20 bytes"),
        (announce_query(HASH).replace(b"port=6881&", b""), "missing port"),
        (announce_query(HASH, port=0), "invalid port"),
        (announce_query(HASH, port=65536), "invalid port"),
        (announce_query(HASH, port=-1), "invalid port"),
        (announce_query(HASH, port="x"), "invalid port"),
        (announce_query(HASH, port=""), "invalid port"),
        (announce_query(HASH, port="١٢"), "invalid port"),
        (announce_query(HASH).replace(b"&left=100", b""), "missing left"),
        (announce_query(HASH, left="-5"), "invalid left"),
        (announce_query(HASH, left="1e9"), "invalid left"),
        (announce_query(HASH, left="9" * 21), "invalid left"),
        (announce_query(HASH, uploaded="x"), "invalid uploaded"),
        (announce_query(HASH, downloaded=" 1"), "invalid downloaded"),
        (announce_query(HASH, numwant="lots"), "invalid numwant"),
        (announce_query(HASH, event="finished"), "invalid event"),
    ],
)
def test_it_refuses_bad_announces_with_a_reason(query, reason):
    with pytest.raises(TrackerError) as refused:
        parse_announce(query if isinstance(query, bytes) else query.encode())
    assert refused.value.reason == reason
    assert bencode.decode(refused.value.response) == {b"failure reason": reason.encode()}


def test_it_packs_addresses_in_compact_form():
    assert pack_address("10.1.2.3") == bytes([10, 1, 2, 3])
    assert pack_address("::ffff:10.1.2.3") == bytes([10, 1, 2, 3])
    assert pack_address("2001:db8::1") == bytes.fromhex("20010db8000000000000000000000001")
    assert pack_address("fe80::1%eth0") == bytes.fromhex("fe800000000000000000000000000001")
    with pytest.raises(TrackerError):
        pack_address("not an address")


V4_PEER = Peer(b"a" * 20, bytes([10, 0, 0, 1]) + b"\x1a\xe1")
V6_PEER = Peer(b"b" * 20, bytes(15) + b"\x01" + b"\x00\x50")


def test_it_answers_compact_peers_per_family():
    response = announce_response(
        3, 4, [V4_PEER, V6_PEER], interval=1800, min_interval=60, compact=True, no_peer_id=False
    )
    assert bencode.decode(response) == {
        b"complete": 3,
        b"incomplete": 4,
        b"interval": 1800,
        b"min interval": 60,
        b"peers": V4_PEER.endpoint,
        b"peers6": V6_PEER.endpoint,
    }


def test_it_leaves_out_peers6_when_there_are_none():
    response = announce_response(0, 1, [], interval=1800, min_interval=60, compact=True, no_peer_id=False)
    assert response == bencode.encode(
        {"complete": 0, "incomplete": 1, "interval": 1800, "min interval": 60, "peers": b""}
    )


def test_it_answers_the_peer_list_form_when_compact_is_refused():
    response = announce_response(
        1, 1, [V4_PEER, V6_PEER], interval=1800, min_interval=60, compact=False, no_peer_id=False
    )
    assert bencode.decode(response)[b"peers"] == [
        {b"ip": b"10.0.0.1", b"peer id": b"a" * 20, b"port": 6881},
        {b"ip": b"::1", b"peer id": b"b" * 20, b"port": 80},
    ]
    without_ids = announce_response(
        1, 1, [V4_PEER], interval=1, min_interval=1, compact=False, no_peer_id=True
    )
    assert bencode.decode(without_ids)[b"peers"] == [{b"ip": b"10.0.0.1", b"port": 6881}]


def test_it_answers_failures():
    assert failure_response("no") == b"d14:failure reason2:noe"


def test_it_parses_a_scrape_without_repeats():
    other = info_hash("other")
    query = f"info_hash={quoted(HASH)}&info_hash={quoted(other)}&info_hash={quoted(HASH)}&x=1".encode()
    assert parse_scrape(query) == [HASH, other]


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        (b"", "missing info_hash"),
        (b"info_hash=abc", "info_hash must be 20 bytes"),
        (
            "&".join(f"info_hash={quoted(info_hash(str(n)))}" for n in range(MAX_SCRAPE_HASHES + 1)).encode(),
            f"at most {MAX_SCRAPE_HASHES} info_hash per scrape",
        ),
    ],
)
def test_it_refuses_bad_scrapes_with_a_reason(query, reason):
    with pytest.raises(TrackerError) as refused:
        parse_scrape(query)
    assert refused.value.reason == reason


def test_it_answers_a_scrape():
    response = scrape_response({HASH: SwarmCounts(complete=1, downloaded=2, incomplete=3)})
    assert bencode.decode(response) == {
        b"files": {HASH: {b"complete": 1, b"downloaded": 2, b"incomplete": 3}}
    }
