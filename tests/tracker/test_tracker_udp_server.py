"""The standalone UDP server over real sockets, with either store."""

import asyncio
import socket
import struct
from collections.abc import Awaitable, Callable

import redis

from tests.tracker.conftest import info_hash
from tracker.engine import Tracker, UdpTracker
from tracker.protocol import UDP_PROTOCOL_ID
from tracker.swarm_store import RedisSwarmStore, SwarmStore
from tracker.udp_server import UdpTrackerServer

HASH = info_hash("served over udp")


def serve(store: SwarmStore, scenario: Callable[[socket.socket], Awaitable[None]]) -> None:
    async def main() -> None:
        tracker = Tracker(store, interval=1800, min_interval=60)
        tracker.swarms = {HASH: 1}
        server = UdpTrackerServer(UdpTracker(tracker, key=b"k" * 32))
        await server.start("127.0.0.1", 0)
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
                client.setblocking(False)
                client.connect(server.address)
                await scenario(client)
        finally:
            server.close()

    asyncio.run(main())


async def exchange(client: socket.socket, *packets: bytes) -> list[bytes]:
    """Send all the packets at once, then read as many answers, in whatever order they come."""
    loop = asyncio.get_running_loop()
    for packet in packets:
        await loop.sock_sendall(client, packet)
    return [await asyncio.wait_for(loop.sock_recv(client, 2048), timeout=5) for _ in packets]


def announce(connection_id: int, transaction_id: int, port: int, left: int = 100) -> bytes:
    return (
        struct.pack(">QII", connection_id, 1, transaction_id)
        + HASH
        + b"-UD0001-%012d" % port
        + struct.pack(">QQQIIIiH", 0, left, 0, 2, 0, 0, -1, port)
    )


def test_it_answers_datagrams_arriving_together(make_store):
    async def scenario(client: socket.socket) -> None:
        (connected,) = await exchange(client, struct.pack(">QII", UDP_PROTOCOL_ID, 0, 77))
        action, transaction_id, connection_id = struct.unpack(">IIQ", connected)
        assert (action, transaction_id) == (0, 77)
        answers = await exchange(
            client, *(announce(connection_id, port, port, left=port % 2) for port in range(1, 11))
        )
        by_transaction = {struct.unpack_from(">II", answer)[1]: answer for answer in answers}
        assert sorted(by_transaction) == list(range(1, 11))
        for answer in answers:
            assert struct.unpack_from(">I", answer)[0] == 1
        (last,) = await exchange(client, announce(connection_id, 11, 11, left=0))
        # Ports 2, 4, ... 10 are seeds (left 0), 1, 3, ... 9 leechers; the seed asking gets leechers only.
        assert struct.unpack_from(">IIIII", last) == (1, 11, 1800, 5, 6)
        ports = sorted(int.from_bytes(last[at + 4 : at + 6], "big") for at in range(20, len(last), 6))
        assert ports == [1, 3, 5, 7, 9]

    serve(make_store(peer_ttl=100), scenario)


def test_with_a_batching_store_an_outage_is_an_error_packet():
    async def scenario(client: socket.socket) -> None:
        (connected,) = await exchange(client, struct.pack(">QII", UDP_PROTOCOL_ID, 0, 1))
        connection_id = struct.unpack(">IIQ", connected)[2]
        (answer,) = await exchange(client, announce(connection_id, 5, 1111))
        assert answer == struct.pack(">II", 3, 5) + b"tracker temporarily unavailable"

    serve(RedisSwarmStore(redis.Redis(port=1), peer_ttl=100, prefix="x:"), scenario)
