"""The standalone tracker's HTTP server: asyncio transports around tracker/http1.py.

It routes ``GET /announce`` and ``GET /scrape`` to ``Tracker`` and frames the
answers; it holds no tracker rules. The hot path logs nothing; an unexpected
error is logged once and answered with a bare 500.
"""

import asyncio
import logging
from typing import cast

from tracker import http1
from tracker.http1 import HttpError, RequestHead
from tracker.service import Tracker

logger = logging.getLogger(__name__)

# A connection that sends nothing for this long is closed: an idle socket
# costs a file descriptor, and a slow client must not hold one forever.
IDLE_TIMEOUT = 30.0

_NOT_FOUND = b"not found\n"
_METHOD_NOT_ALLOWED = b"only GET\n"
_INTERNAL_ERROR = http1.response(500, b"internal error\n", keep_alive=False)


class _Connection(asyncio.Protocol):
    __slots__ = ("tracker", "connections", "loop", "transport", "client_ip", "reader", "last_active")

    def __init__(self, tracker: Tracker, connections: set["_Connection"], loop: asyncio.AbstractEventLoop):
        self.tracker = tracker
        self.connections = connections
        self.loop = loop
        self.reader = http1.RequestReader()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.client_ip = transport.get_extra_info("peername")[0]
        self.last_active = self.loop.time()
        self.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.connections.discard(self)

    def pause_writing(self) -> None:
        # A client that pipelines requests without reading the answers must
        # not grow our write buffer without bound.
        self.transport.pause_reading()

    def resume_writing(self) -> None:
        self.transport.resume_reading()

    def data_received(self, data: bytes) -> None:
        self.last_active = self.loop.time()
        self.reader.feed(data)
        try:
            while (head := self.reader.next_request()) is not None:
                self.transport.write(self._answer(head))
                if not head.keep_alive:
                    self.transport.close()
                    return
        except HttpError as error:
            self.transport.write(http1.response(error.status, f"{error}\n".encode(), keep_alive=False))
            self.transport.close()
        except Exception:
            logger.exception("tracker request from %s failed", self.client_ip)
            self.transport.write(_INTERNAL_ERROR)
            self.transport.close()

    def _answer(self, head: RequestHead) -> bytes:
        if head.path == b"/announce":
            if head.method != b"GET":
                return http1.response(405, _METHOD_NOT_ALLOWED, keep_alive=head.keep_alive)
            body = self.tracker.handle_announce(head.query, self.client_ip)
        elif head.path == b"/scrape":
            if head.method != b"GET":
                return http1.response(405, _METHOD_NOT_ALLOWED, keep_alive=head.keep_alive)
            body = self.tracker.handle_scrape(head.query)
        else:
            return http1.response(404, _NOT_FOUND, keep_alive=head.keep_alive)
        return http1.response(200, body, keep_alive=head.keep_alive)


class HttpTrackerServer:
    """Listens for HTTP announces and scrapes until ``close()``."""

    def __init__(self, tracker: Tracker) -> None:
        self.tracker = tracker
        self._connections: set[_Connection] = set()

    async def start(self, host: str | None, port: int, *, reuse_port: bool = False) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _Connection(self.tracker, self._connections, loop),
            host,
            port,
            reuse_port=reuse_port,
            backlog=4096,
        )
        self._idle_sweeper = loop.create_task(self._close_idle_connections())

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._server.sockets[0].getsockname()[:2]
        return host, port

    def close(self) -> None:
        self._server.close()
        self._idle_sweeper.cancel()
        for connection in list(self._connections):
            connection.transport.close()

    async def _close_idle_connections(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(IDLE_TIMEOUT / 3)
            deadline = loop.time() - IDLE_TIMEOUT
            for connection in [c for c in self._connections if c.last_active < deadline]:
                connection.transport.close()
