"""Property tests: hostile bytes only ever get a well-formed answer, never an exception."""

import struct
import uuid
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bittorrent import bencode
from tests.tracker.conftest import connect_redis, info_hash
from tracker.engine import Tracker, UdpTracker
from tracker.http1 import MAX_HEAD_BYTES, HttpError, RequestReader
from tracker.protocol import UDP_PROTOCOL_ID
from tracker.swarm_store import MemorySwarmStore, RedisSwarmStore

TRACKED = info_hash("fuzz")

tracker = Tracker(MemorySwarmStore(peer_ttl=100), interval=1800, min_interval=60)
tracker.swarms = {TRACKED: 1}
udp = UdpTracker(tracker, key=b"k" * 32)

field_names = st.sampled_from(
    [
        b"info_hash",
        b"peer_id",
        b"port",
        b"left",
        b"uploaded",
        b"downloaded",
        b"event",
        b"numwant",
        b"compact",
        b"no_peer_id",
        b"ip",
        b"key",
        b"",
    ]
)
field_values = st.one_of(
    st.binary(max_size=80),
    st.just(b"".join(b"%%%02X" % byte for byte in TRACKED)),
    st.integers(-(2**70), 2**70).map(lambda n: str(n).encode()),
    st.sampled_from([b"started", b"stopped", b"completed", b"paused", b"-1", b"0", b"1"]),
)
queries = st.one_of(
    st.binary(max_size=400),
    st.lists(st.tuples(field_names, field_values), max_size=14).map(
        lambda fields: b"&".join(name + b"=" + value for name, value in fields)
    ),
)
ips = st.sampled_from(["10.0.0.1", "::1", "::ffff:192.168.1.1", "2001:db8::7", "bogus"])


def is_well_formed_announce_answer(answer: bytes) -> bool:
    decoded = bencode.decode(answer)
    return list(decoded) == [b"failure reason"] or {b"complete", b"incomplete", b"peers"} <= set(decoded)


@settings(max_examples=400, database=None)
@given(queries, ips)
def test_it_answers_any_announce_query_with_a_bencoded_dictionary(query, ip):
    assert is_well_formed_announce_answer(tracker.handle_announce(query, ip))


@settings(max_examples=300, database=None)
@given(queries)
def test_it_answers_any_scrape_query_with_a_bencoded_dictionary(query):
    assert list(bencode.decode(tracker.handle_scrape(query))) in ([b"failure reason"], [b"files"])


valid_connection_id = udp.connection_ids.issue(bytes([10, 0, 0, 1]), tracker.clock())
udp_packets = st.one_of(
    st.binary(max_size=200),
    st.tuples(
        st.sampled_from([UDP_PROTOCOL_ID, valid_connection_id, 0]),
        st.integers(0, 4),
        st.integers(0, 2**32 - 1),
        st.binary(max_size=150),
    ).map(lambda parts: struct.pack(">QII", *parts[:3]) + parts[3]),
    st.tuples(
        st.integers(0, 2**32 - 1), st.binary(min_size=40, max_size=40), st.binary(min_size=42, max_size=60)
    ).map(
        lambda parts: (
            struct.pack(">QII", valid_connection_id, 1, parts[0]) + TRACKED + parts[1][20:] + parts[2]
        )
    ),
)


def assert_bep15_answer_or_dropped(packet: bytes, answer: bytes | None) -> None:
    if len(packet) < 16:
        assert answer is None
        return
    action, transaction_id = struct.unpack_from(">II", answer)
    assert transaction_id == struct.unpack_from(">I", packet, 12)[0]
    sizes = {0: lambda n: n == 16, 1: lambda n: n >= 20 and (n - 20) % 6 == 0, 2: lambda n: (n - 8) % 12 == 0}
    assert action == 3 or sizes[action](len(answer))


@settings(max_examples=400, database=None)
@given(udp_packets)
def test_it_answers_any_datagram_with_a_bep15_packet_or_drops_it(packet):
    assert_bep15_answer_or_dropped(packet, udp.handle(packet, "10.0.0.1"))


@pytest.fixture(scope="module")
def batched_udp() -> Iterator[UdpTracker]:
    """A UdpTracker on a Redis store, for the path the UDP server takes with a store that batches."""
    client = connect_redis()
    prefix = f"test:tracker:{uuid.uuid4().hex}:"
    batched = Tracker(RedisSwarmStore(client, peer_ttl=100, prefix=prefix), interval=1800, min_interval=60)
    batched.swarms = tracker.swarms
    yield UdpTracker(batched, key=b"k" * 32)
    keys = list(client.scan_iter(match=prefix + "*"))
    if keys:
        client.delete(*keys)
    client.close()


@settings(max_examples=100, database=None)
@given(packets=st.lists(udp_packets, max_size=20))
def test_it_answers_any_batch_of_datagrams_packet_by_packet(packets, batched_udp):
    answers = batched_udp.handle_many([(packet, "10.0.0.1") for packet in packets])
    assert len(answers) == len(packets)
    for packet, answer in zip(packets, answers, strict=True):
        assert_bep15_answer_or_dropped(packet, answer)


@settings(max_examples=300, database=None)
@given(st.lists(st.binary(max_size=3000), max_size=12))
def test_it_frames_any_byte_stream_or_refuses_it_within_the_buffer_cap(chunks):
    reader = RequestReader()
    try:
        for chunk in chunks:
            reader.feed(chunk)
            while reader.next_request() is not None:
                pass
            assert len(reader._buffer) <= MAX_HEAD_BYTES + len(chunk)
    except HttpError as error:
        assert error.status in (400, 431, 505)


@settings(max_examples=500, database=None)
@given(st.binary(max_size=200))
def test_it_decodes_any_bytes_canonically_or_refuses_them(data):
    try:
        value = bencode.decode(data)
    except bencode.BencodeError:
        return
    assert bencode.encode(value) == data
