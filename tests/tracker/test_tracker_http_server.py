"""The standalone HTTP server over real sockets: routing, keep-alive, refusals."""

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable

import pytest

from bittorrent import bencode
from tests.tracker.conftest import announce_query, info_hash
from tracker.engine import Tracker
from tracker.http1 import MAX_HEAD_BYTES
from tracker.http_server import HttpTrackerServer
from tracker.swarm_store import MemorySwarmStore

HASH = info_hash("served")


class BrokenStore(MemorySwarmStore):
    def announce(self, *args, **kwargs):
        raise RuntimeError("secret internals")

    announce_compact = announce


def serve(scenario: Callable[[int], Awaitable[None]], store=None) -> None:
    async def main() -> None:
        tracker = Tracker(store or MemorySwarmStore(peer_ttl=100), interval=1800, min_interval=60)
        tracker.swarms = {HASH: 1}
        server = HttpTrackerServer(tracker)
        await server.start("127.0.0.1", 0)
        try:
            await scenario(server.address[1])
        finally:
            server.close()

    asyncio.run(main())


async def read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = (await reader.readuntil(b"\r\n\r\n")).decode()
    status = int(head.split(" ")[1])
    headers = dict(re.findall(r"([\w-]+): ([^\r]*)", head))
    return status, headers, await reader.readexactly(int(headers["Content-Length"]))


def get(path: bytes, *headers: bytes) -> bytes:
    return b"GET " + path + b" HTTP/1.1\r\nHost: t\r\n" + b"".join(h + b"\r\n" for h in headers) + b"\r\n"


def test_it_answers_announces_and_scrapes_on_one_kept_alive_connection():
    async def scenario(port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(get(b"/announce?" + announce_query(HASH)) + get(b"/scrape?a=1"))
        status, headers, body = await read_response(reader)
        assert (status, headers["Content-Type"]) == (200, "text/plain")
        assert bencode.decode(body)[b"incomplete"] == 1
        status, _, body = await read_response(reader)
        assert bencode.decode(body) == {b"failure reason": b"missing info_hash"}
        writer.write(get(b"/announce?" + announce_query(HASH, port=2)))
        assert bencode.decode((await read_response(reader))[2])[b"incomplete"] == 2
        writer.close()

    serve(scenario)


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (get(b"/announce?a=1", b"Connection: close"), 200),
        (b"GET /announce HTTP/1.0\r\n\r\n", 200),
        (b"POST /announce HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc", 400),
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 400),
        (b"GET /announce?" + b"a" * MAX_HEAD_BYTES, 431),
    ],
)
def test_it_closes_the_connection_when_asked_or_after_a_refusal(request_bytes, status):
    async def scenario(port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(request_bytes)
        answer_status, headers, _ = await read_response(reader)
        assert (answer_status, headers["Connection"]) == (status, "close")
        assert await reader.read() == b""
        writer.close()

    serve(scenario)


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (get(b"/"), 404),
        (get(b"/announce/x/y"), 404),
        (get(b"/announcex"), 404),
        (b"PUT /scrape HTTP/1.1\r\n\r\n", 405),
    ],
)
def test_it_refuses_other_paths_and_methods_and_keeps_the_connection(request_bytes, status):
    async def scenario(port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(request_bytes + get(b"/announce?" + announce_query(HASH)))
        assert (await read_response(reader))[0] == status
        assert (await read_response(reader))[0] == 200
        writer.close()

    serve(scenario)


def test_it_answers_an_internal_error_without_a_traceback(caplog):
    async def scenario(port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(get(b"/announce?" + announce_query(HASH)))
        status, _, body = await read_response(reader)
        assert (status, body) == (500, b"internal error\n")
        assert await reader.read() == b""
        writer.close()

    with caplog.at_level(logging.ERROR, logger="tracker.http_server"):
        serve(scenario, BrokenStore(peer_ttl=100))
    assert "secret internals" in caplog.text


def test_with_a_batching_store_pipelined_answers_keep_their_order(redis_client, redis_prefix):
    from tracker.swarm_store import RedisSwarmStore

    store = RedisSwarmStore(redis_client, peer_ttl=100, prefix=redis_prefix)

    async def scenario(port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        other_reader, other_writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            get(b"/announce?" + announce_query(HASH))
            + get(b"/nowhere")
            + get(b"/scrape?info_hash=" + announce_query(HASH).split(b"&")[0][10:])
            + get(b"/announce?" + announce_query(HASH, port=2, compact=0))
        )
        other_writer.write(get(b"/announce?" + announce_query(HASH, port=3), b"Connection: close"))
        assert bencode.decode((await read_response(reader))[2])[b"incomplete"] >= 1
        assert (await read_response(reader))[0] == 404
        assert HASH in bencode.decode((await read_response(reader))[2])[b"files"]
        assert (
            len(bencode.decode((await read_response(reader))[2])[b"peers"]) >= 1
        )  # the full, non-compact form
        assert (await read_response(other_reader))[0] == 200
        assert await other_reader.read() == b""
        writer.write(get(b"/announce?" + announce_query(HASH, port=4)) + b"BAD\r\n\r\n")
        assert bencode.decode((await read_response(reader))[2])[b"incomplete"] == 4
        assert (await read_response(reader))[0] == 400
        assert await reader.read() == b""
        writer.close()
        other_writer.close()

    serve(scenario, store)


def test_with_a_batching_store_an_outage_is_a_failure_reason():
    import redis

    from tracker.swarm_store import RedisSwarmStore

    store = RedisSwarmStore(redis.Redis(port=1), peer_ttl=100, prefix="x:")

    async def scenario(port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(get(b"/announce?" + announce_query(HASH)))
        body = (await read_response(reader))[2]
        assert bencode.decode(body) == {b"failure reason": b"tracker temporarily unavailable"}
        writer.close()

    serve(scenario, store)


def test_it_closes_connections_silent_for_the_idle_timeout_only(monkeypatch):
    monkeypatch.setattr("tracker.http_server.IDLE_TIMEOUT", 0.3)

    async def scenario(port: int) -> None:
        silent_reader, _ = await asyncio.open_connection("127.0.0.1", port)
        talking_reader, talking_writer = await asyncio.open_connection("127.0.0.1", port)
        for _ in range(6):  # 0.6 s, a request every 0.1 s
            talking_writer.write(get(b"/scrape?a=1"))
            await read_response(talking_reader)
            await asyncio.sleep(0.1)
        # Closed after 3 to 4 sweeps (0.3 to 0.4 s) of silence: end of stream.
        assert await asyncio.wait_for(silent_reader.read(), timeout=1) == b""
        talking_writer.write(get(b"/scrape?a=1"))
        assert (await read_response(talking_reader))[0] == 200

    serve(scenario)


def test_it_answers_a_request_whose_head_arrives_in_pieces():
    request = get(b"/announce?" + announce_query(HASH), b"Connection: close")

    async def scenario(port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(request[:20])
        await writer.drain()
        await asyncio.sleep(0.1)  # accepted with the first piece only
        writer.write(request[20:])
        status, headers, body = await read_response(reader)
        assert (status, headers["Connection"], bencode.decode(body)[b"incomplete"]) == (200, "close", 1)
        assert await reader.read() == b""
        writer.close()

    serve(scenario)


@pytest.mark.parametrize("batching", [False, True])
def test_it_sends_a_large_answer_whole_before_closing(batching, request):
    from tracker.swarm_store import RedisSwarmStore

    store = None
    if batching:
        client, prefix = request.getfixturevalue("redis_client"), request.getfixturevalue("redis_prefix")
        store = RedisSwarmStore(client, peer_ttl=100, prefix=prefix)
    peers = 200

    async def scenario(port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for n in range(peers):
            peer_id = b"-PY0001-%012d" % n
            writer.write(get(b"/announce?" + announce_query(HASH, peer_id=peer_id, port=1000 + n)))
            await read_response(reader)
        writer.close()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        query = announce_query(HASH, peer_id=b"-PY0001-asker0000000", compact=0, numwant=peers)
        writer.write(get(b"/announce?" + query, b"Connection: close"))
        status, headers, body = await read_response(reader)
        assert int(headers["Content-Length"]) > 8192, "larger than the answers sent on the socket at once"
        assert len(bencode.decode(body)[b"peers"]) == peers
        assert await reader.read() == b""
        writer.close()

    serve(scenario, store)


def test_it_pauses_accepting_while_out_of_file_descriptors_then_answers(monkeypatch):
    import os
    import resource
    import time

    monkeypatch.setattr("tracker.http_server.ACCEPT_RETRY_DELAY", 0.3)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)

    async def scenario(port: int) -> None:
        request = get(b"/announce?" + announce_query(HASH), b"Connection: close")
        highest_open = max(int(fd) for fd in os.listdir("/proc/self/fd"))
        resource.setrlimit(resource.RLIMIT_NOFILE, (highest_open + 2, hard))
        fillers = []
        try:
            while True:  # every free descriptor number taken ...
                try:
                    fillers.append(os.open(os.devnull, os.O_RDONLY))
                except OSError:
                    break
            os.close(fillers.pop())  # ... but one, for the client's socket: none for the server's side

            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(request)
            started = time.process_time()
            await asyncio.sleep(0.2)
            assert time.process_time() - started < 0.1, "the loop does not spin on the failing accept"
        finally:
            for filler in fillers:
                os.close(filler)
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        status, _, body = await asyncio.wait_for(read_response(reader), timeout=5)
        assert (status, bencode.decode(body)[b"incomplete"]) == (200, 1)
        writer.close()

    serve(scenario)
