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
from tracker.proxies import TrustedProxies
from tracker.service import Tracker

logger = logging.getLogger(__name__)

# A connection that sends nothing for this long is closed: an idle socket
# costs a file descriptor, and a slow client must not hold one forever.
IDLE_TIMEOUT = 30.0

_NOT_FOUND = b"not found\n"
_METHOD_NOT_ALLOWED = b"only GET\n"
_INTERNAL_ERROR = http1.response(500, b"internal error\n", keep_alive=False)
_ANNOUNCE = (b"announce", None)


class _Connection(asyncio.Protocol):
    __slots__ = ("server", "transport", "client_ip", "reader", "quiet_sweeps")

    def __init__(self, server: "HttpTrackerServer") -> None:
        self.server = server
        self.reader = http1.RequestReader()
        # Idle sweeps passed since this connection last sent something.
        self.quiet_sweeps = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.client_ip = transport.get_extra_info("peername")[0]
        self.server.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.server.connections.discard(self)

    def pause_writing(self) -> None:
        # A client that pipelines requests without reading the answers must
        # not grow our write buffer without bound.
        self.transport.pause_reading()

    def resume_writing(self) -> None:
        self.transport.resume_reading()

    def data_received(self, data: bytes) -> None:
        self.quiet_sweeps = 0
        self.reader.feed(data)
        batch = self.server.batch
        try:
            while (head := self.reader.next_request()) is not None:
                if batch is not None:
                    # Answered with the other announces of this loop iteration, in order.
                    batch.add(self, head, None)
                    if not head.keep_alive:
                        self.transport.pause_reading()
                        return
                    continue
                self.transport.write(self._answer(head))
                if not head.keep_alive:
                    self.transport.close()
                    return
        except HttpError as error:
            refusal = http1.response(error.status, f"{error}\n".encode(), keep_alive=False)
            if batch is not None:  # after the answers still pending on this connection
                self.transport.pause_reading()
                batch.add(self, None, refusal)
                return
            self.transport.write(refusal)
            self.transport.close()
        except Exception:
            logger.exception("tracker request from %s failed", self.client_ip)
            self.transport.write(_INTERNAL_ERROR)
            self.transport.close()

    def _answer(self, head: RequestHead) -> bytes:
        path = head.path
        route = _ANNOUNCE if path == b"/announce" else split_path(path)
        if route is None:
            return http1.response(404, _NOT_FOUND, keep_alive=head.keep_alive)
        if head.method != b"GET":
            return http1.response(405, _METHOD_NOT_ALLOWED, keep_alive=head.keep_alive)
        action, passkey = route
        tracker = self.server.tracker
        if action == b"announce":
            body = tracker.handle_announce(head.query, self.announcer_ip(head), passkey)
        else:
            body = tracker.handle_scrape(head.query, passkey)
        return http1.response(200, body, keep_alive=head.keep_alive)

    def announcer_ip(self, head: RequestHead) -> str:
        client_ip = self.client_ip
        if head.forwarded_for is not None:
            proxies = self.server.proxies
            if proxies.networks and proxies.trusts(client_ip):
                return proxies.client_ip(client_ip, head.forwarded_for.decode("latin-1"))
        return client_ip


# A batch is answered this long after its first request (or once it holds
# BATCH_LIMIT): a round trip to Redis costs more CPU than the announces in it,
# and an announce that waits a few milliseconds loses nothing.
BATCH_WINDOW = 0.002
BATCH_LIMIT = 100


class _Batch:
    """Requests gathered for up to ``BATCH_WINDOW`` seconds, answered together.

    Used with a store that ``batches`` (Redis): the announces among them go to
    the store in one round trip. Answers are written in the order the
    requests came, so pipelined requests on one connection stay in order.
    """

    def __init__(self, tracker: Tracker, loop: asyncio.AbstractEventLoop) -> None:
        self.tracker = tracker
        self.loop = loop
        # (connection, request head, or None with a refusal to send before closing)
        self.items: list[tuple[_Connection, RequestHead | None, bytes | None]] = []
        # The pending flush, while there are items.
        self.timer: asyncio.TimerHandle | None = None

    def add(self, connection: _Connection, head: RequestHead | None, refusal: bytes | None) -> None:
        items = self.items
        if not items:
            self.timer = self.loop.call_later(BATCH_WINDOW, self.flush)
        items.append((connection, head, refusal))
        if len(items) >= BATCH_LIMIT:
            self.flush()

    def flush(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
        items, self.items = self.items, []
        try:
            answers = self._answers(items)
        except Exception:
            logger.exception("a batch of %d tracker requests failed", len(items))
            answers = [_INTERNAL_ERROR] * len(items)
            items = [(connection, None, _INTERNAL_ERROR) for connection, _, _ in items]
        for (connection, head, refusal), answer in zip(items, answers, strict=True):
            transport = connection.transport
            if transport.is_closing():
                continue
            transport.write(answer)
            if refusal is not None or head is None or not head.keep_alive:
                transport.close()

    def _answers(self, items: list[tuple[_Connection, RequestHead | None, bytes | None]]) -> list[bytes]:
        answers: list[bytes] = []
        announces: list[tuple[bytes, str, bytes | None]] = []
        places: list[int] = []
        for connection, head, refusal in items:
            if head is None:
                answers.append(refusal or _INTERNAL_ERROR)
                continue
            route = split_path(head.path)
            if route is not None and route[0] == b"announce" and head.method == b"GET":
                announces.append((head.query, connection.announcer_ip(head), route[1]))
                places.append(len(answers))
                answers.append(b"")
            else:
                answers.append(connection._answer(head))
        if announces:
            for place, body in zip(places, self.tracker.handle_announces(announces), strict=True):
                head = items[place][1]
                answers[place] = http1.response(200, body, keep_alive=head is not None and head.keep_alive)
        return answers


def split_path(path: bytes) -> tuple[bytes, bytes | None] | None:
    """``/announce`` → (b"announce", None), ``/scrape/<key>`` → (b"scrape", key); None for other paths."""
    action, slash, passkey = path[1:].partition(b"/")
    if action not in (b"announce", b"scrape") or (slash and not passkey) or b"/" in passkey:
        return None
    return action, passkey if slash else None


class HttpTrackerServer:
    """Listens for HTTP announces and scrapes until ``close()``."""

    def __init__(self, tracker: Tracker, proxies: TrustedProxies | None = None) -> None:
        self.tracker = tracker
        self.proxies = proxies or TrustedProxies()
        self.connections: set[_Connection] = set()
        self.batch: _Batch | None = None

    async def start(self, host: str | None, port: int, *, reuse_port: bool = False) -> None:
        loop = asyncio.get_running_loop()
        self.batch = _Batch(self.tracker, loop) if self.tracker.store.batches else None
        self._server = await loop.create_server(
            lambda: _Connection(self), host, port, reuse_port=reuse_port, backlog=4096
        )
        self._idle_sweeper = loop.create_task(self._close_idle_connections())

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._server.sockets[0].getsockname()[:2]
        return host, port

    def close(self) -> None:
        self._server.close()
        self._idle_sweeper.cancel()
        for connection in list(self.connections):
            connection.transport.close()

    async def _close_idle_connections(self) -> None:
        # A counter per connection, reset by its data, rather than a clock
        # read per request: a connection is closed after 3 to 4 sweeps of silence.
        while True:
            await asyncio.sleep(IDLE_TIMEOUT / 3)
            for connection in list(self.connections):
                if connection.quiet_sweeps >= 3:
                    connection.transport.close()
                else:
                    connection.quiet_sweeps += 1
