"""The standalone tracker's UDP server (BEP 15): asyncio datagram endpoints around ``UdpTracker``.

One socket per address family, so that IPv4 and IPv6 clients are both served
on the same port. With a store that batches (Redis), datagrams are gathered as
the HTTP server gathers requests and answered together. An unexpected error
is logged and the datagram dropped, as a lost packet would be; the client
retries.
"""

import asyncio
import logging
import socket
from typing import cast

from tracker.engine import UdpTracker
from tracker.http_server import BATCH_LIMIT, BATCH_WINDOW

logger = logging.getLogger(__name__)


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, udp_tracker: UdpTracker) -> None:
        self.udp_tracker = udp_tracker

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            answer = self.udp_tracker.handle(data, addr[0])
        except Exception:
            logger.exception("tracker datagram from %s failed", addr[0])
            return
        if answer is not None:
            self.transport.sendto(answer, addr)

    def error_received(self, exc: OSError) -> None:
        # An ICMP error for an earlier answer (a client that went away): nothing to do.
        pass


class _BatchedDatagrams(_Datagrams):
    """Datagrams gathered for up to ``BATCH_WINDOW`` seconds, answered together."""

    def __init__(self, udp_tracker: UdpTracker) -> None:
        super().__init__(udp_tracker)
        self.pending: list[tuple[bytes, tuple[str, int]]] = []
        # The pending flush, while datagrams wait.
        self.timer: asyncio.TimerHandle | None = None

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        pending = self.pending
        if not pending:
            self.timer = asyncio.get_running_loop().call_later(BATCH_WINDOW, self.flush)
        pending.append((data, addr))
        if len(pending) >= BATCH_LIMIT:
            self.flush()

    def flush(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        pending, self.pending = self.pending, []
        try:
            answers = self.udp_tracker.handle_many([(data, addr[0]) for data, addr in pending])
        except Exception:
            logger.exception("a batch of %d tracker datagrams failed", len(pending))
            return
        sendto = self.transport.sendto
        for (_, addr), answer in zip(pending, answers, strict=True):
            if answer is not None:
                sendto(answer, addr)

    def connection_lost(self, exc: Exception | None) -> None:
        # Closed: what waits is dropped, as lost packets would be.
        if self.timer is not None:
            self.timer.cancel()
        self.pending = []


class UdpTrackerServer:
    """Answers BEP 15 datagrams until ``close()``."""

    def __init__(self, udp_tracker: UdpTracker) -> None:
        self.udp_tracker = udp_tracker
        self._transports: list[asyncio.DatagramTransport] = []

    async def start(self, host: str | None, port: int, *, reuse_port: bool = False) -> None:
        loop = asyncio.get_running_loop()
        datagrams = _BatchedDatagrams if self.udp_tracker.tracker.store.batches else _Datagrams
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_DGRAM, flags=socket.AI_PASSIVE)
        for family, kind, proto, _, address in dict.fromkeys(infos):
            sock = socket.socket(family, kind, proto)
            if reuse_port:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            if family == socket.AF_INET6:
                # The IPv4 socket serves IPv4; without this the two would clash on the port.
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
            transport, _ = await loop.create_datagram_endpoint(lambda: datagrams(self.udp_tracker), sock=sock)
            self._transports.append(transport)

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._transports[0].get_extra_info("sockname")[:2]
        return host, port

    def close(self) -> None:
        for transport in self._transports:
            transport.close()
