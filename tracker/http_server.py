"""The standalone tracker's HTTP server: tracker/http1.py's framing on an asyncio loop.

A request that arrives whole with its connection and asks for the close (what
BitTorrent clients send for an announce) is answered on the accepted socket
itself; any other connection gets an asyncio transport and a ``_Connection``.

It routes ``GET /announce``, ``GET /scrape`` and the seeders' ``GET
/admitted/<credential>`` to ``Tracker`` and frames the answers; it holds no
tracker rules. The hot path logs nothing; an unexpected
error is logged once and answered with a bare 500.
"""

import _socket
import asyncio
import logging
import os
import socket
from typing import cast

from tracker import http1
from tracker.engine import Tracker
from tracker.http1 import HttpError, RequestHead
from tracker.protocol import split_path
from tracker.proxies import TrustedProxies

logger = logging.getLogger(__name__)

# A connection that sends nothing for this long is closed: an idle socket
# costs a file descriptor, and a slow client must not hold one forever.
IDLE_TIMEOUT = 30.0
# Connections taken from the backlog per wake-up of a listening socket, so
# that a flood of them cannot keep the loop from everything else.
ACCEPTS_PER_WAKEUP = 64
# Seconds without accepting after accept() failed (out of file descriptors):
# the listening socket stays readable, and retrying at once would spin.
ACCEPT_RETRY_DELAY = 1.0
# An answer this small always fits a new socket's send buffer whole.
DIRECT_ANSWER_LIMIT = 8192
# As much as a transport reads at once: a refused oversized head must be read
# whole, or closing the socket over unread bytes resets the connection before
# the client reads the refusal.
RECEIVE_SIZE = 64 * 1024

_NOT_FOUND = b"not found\n"
_METHOD_NOT_ALLOWED = b"only GET\n"
_INTERNAL_ERROR = http1.response(500, b"internal error\n", keep_alive=False)
_ANNOUNCE = (b"announce", None)


class _Connection(asyncio.Protocol):
    __slots__ = ("server", "transport", "client_ip", "reader", "quiet_sweeps", "received")

    def __init__(self, server: "HttpTrackerServer", received: bytes = b"") -> None:
        self.server = server
        self.reader = http1.RequestReader()
        # Idle sweeps passed since this connection last sent something.
        self.quiet_sweeps = 0
        # Bytes read from the socket before it was handed to this protocol.
        self.received = received

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.client_ip = transport.get_extra_info("peername")[0]
        self.server.connections.add(self)
        if self.received:
            self.data_received(self.received)

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
                self.transport.write(self.server.answer(head, self.client_ip))
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


# A batch is answered this long after its first request (or once it holds
# BATCH_LIMIT): a round trip to Redis costs more CPU than the announces in it,
# and an announce that waits a few milliseconds loses nothing.
BATCH_WINDOW = 0.002
BATCH_LIMIT = 100


class _DirectClient:
    """A client whose one request came whole with its connection, answered on the socket itself.

    It stands for both the connection and its transport where ``_Batch`` uses them.
    """

    __slots__ = ("server", "client_ip", "socket")

    def __init__(self, server: "HttpTrackerServer", client_ip: str, client: _socket.socket) -> None:
        self.server = server
        self.client_ip = client_ip
        self.socket: _socket.socket | None = client

    @property
    def transport(self) -> "_DirectClient":
        return self

    def is_closing(self) -> bool:
        return self.socket is None

    def write(self, answer: bytes) -> None:
        if self.socket is not None:
            self.server.send_and_close(self.socket, answer)
            self.socket = None

    def close(self) -> None:
        if self.socket is not None:
            self.socket.close()
            self.socket = None


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
                announcer_ip = connection.server.announcer_ip(head, connection.client_ip)
                announces.append((head.query, announcer_ip, route[1]))
                places.append(len(answers))
                answers.append(b"")
            else:
                answers.append(connection.server.answer(head, connection.client_ip))
        if announces:
            for place, body in zip(places, self.tracker.handle_announces(announces), strict=True):
                head = items[place][1]
                answers[place] = http1.response(200, body, keep_alive=head is not None and head.keep_alive)
        return answers


class HttpTrackerServer:
    """Listens for HTTP announces and scrapes until ``close()``."""

    def __init__(self, tracker: Tracker, proxies: TrustedProxies | None = None) -> None:
        self.tracker = tracker
        self.proxies = proxies or TrustedProxies()
        self.connections: set[_Connection] = set()
        self.batch: _Batch | None = None

    async def start(self, host: str | None, port: int, *, reuse_port: bool = False) -> None:
        loop = self._loop = asyncio.get_running_loop()
        self.batch = _Batch(self.tracker, loop) if self.tracker.store.batches else None
        self._listeners = _listening_sockets(host, port, reuse_port=reuse_port)
        for listener in self._listeners:
            loop.add_reader(listener.fileno(), self._accept, listener)
        self._idle_sweeper = loop.create_task(self._close_idle_connections())

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._listeners[0].getsockname()[:2]
        return host, port

    def close(self) -> None:
        for listener in self._listeners:
            self._loop.remove_reader(listener.fileno())
            listener.close()
        self._idle_sweeper.cancel()
        for connection in list(self.connections):
            connection.transport.close()

    def _accept(self, listener: socket.socket) -> None:
        """Take new connections; answer at once those whose whole request has arrived.

        Most clients open a connection per announce and send it whole at once
        (the listening socket defers accepting until data arrives): such a
        request is read, answered (or, with a batching store, added to the
        batch) and closed right here, which costs a fraction of setting up a
        transport. Anything else (a partial, keep-alive or refused request, a
        large answer) goes on through a transport.
        """
        for _ in range(ACCEPTS_PER_WAKEUP):
            try:
                descriptor, address = listener._accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as error:  # e.g. out of file descriptors: the backlog waits a while
                logger.warning("accepting tracker connections paused for %s s: %s", ACCEPT_RETRY_DELAY, error)
                self._loop.remove_reader(listener.fileno())
                self._loop.call_later(ACCEPT_RETRY_DELAY, self._resume_accepting, listener)
                return
            # A bare _socket.socket: socket.socket's Python constructor and close()
            # cost more than the system calls they wrap. Left in blocking mode (one
            # system call less): every call on it here says not to wait, and a
            # transport makes it non-blocking.
            try:
                client = _socket.socket(listener.family, listener.type, listener.proto, descriptor)
            except OSError:
                os.close(descriptor)
                continue
            try:
                received = client.recv(RECEIVE_SIZE, socket.MSG_DONTWAIT)
            except (BlockingIOError, InterruptedError):
                received = b""
            except OSError:
                client.close()
                continue
            if received and self._answered_directly(client, address[0], received):
                continue
            self._loop.create_task(self._adopt(client, received))

    def _resume_accepting(self, listener: socket.socket) -> None:
        if listener.fileno() >= 0:  # not closed meanwhile
            self._loop.add_reader(listener.fileno(), self._accept, listener)

    def send_and_close(self, client: _socket.socket, answer: bytes) -> None:
        if len(answer) > DIRECT_ANSWER_LIMIT:
            self._loop.create_task(self._send_through_transport(client, answer))
            return
        try:
            client.send(answer, socket.MSG_DONTWAIT)
        except OSError:  # the client is gone
            pass
        client.close()

    def _answered_directly(self, client: _socket.socket, client_ip: str, received: bytes) -> bool:
        """Answer ``received`` and close, if it is exactly one whole request that asks for the close."""
        head = http1.sole_request(received)
        if head is None or head.keep_alive:
            return False
        if self.batch is not None:
            self.batch.add(_DirectClient(self, client_ip, client), head, None)
            return True
        try:
            answer = self.answer(head, client_ip)
        except Exception:
            logger.exception("tracker request from %s failed", client_ip)
            answer = _INTERNAL_ERROR
        self.send_and_close(client, answer)
        return True

    async def _adopt(self, client: _socket.socket, received: bytes) -> None:
        """Serve ``client`` as a ``_Connection``, from the bytes ``received`` on."""
        sock = _full_socket(client)
        try:
            await self._loop.connect_accepted_socket(lambda: _Connection(self, received), sock=sock)
        except OSError:  # the client is gone already
            sock.close()

    async def _send_through_transport(self, client: _socket.socket, answer: bytes) -> None:
        """Send ``answer`` and close: the transport waits for the socket to take it all."""
        sock = _full_socket(client)
        try:
            transport, _ = await self._loop.connect_accepted_socket(asyncio.Protocol, sock=sock)
        except OSError:  # the client is gone already
            sock.close()
            return
        transport.write(answer)
        transport.close()

    def answer(self, head: RequestHead, client_ip: str) -> bytes:
        path = head.path
        route = _ANNOUNCE if path == b"/announce" else split_path(path)
        if route is None:
            return http1.response(404, _NOT_FOUND, keep_alive=head.keep_alive)
        if head.method != b"GET":
            return http1.response(405, _METHOD_NOT_ALLOWED, keep_alive=head.keep_alive)
        action, passkey = route
        if action == b"announce":
            body = self.tracker.handle_announce(head.query, self.announcer_ip(head, client_ip), passkey)
        elif action == b"scrape":
            body = self.tracker.handle_scrape(head.query, passkey)
        else:
            body = self.tracker.handle_admitted(passkey)
        return http1.response(200, body, keep_alive=head.keep_alive)

    def announcer_ip(self, head: RequestHead, client_ip: str) -> str:
        if head.forwarded_for is not None:
            proxies = self.proxies
            if proxies.networks and proxies.trusts(client_ip):
                return proxies.client_ip(client_ip, head.forwarded_for.decode("latin-1"))
        return client_ip

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


def _full_socket(bare: _socket.socket) -> socket.socket:
    """The socket.socket an event loop's transport takes, for a bare accepted one."""
    return socket.socket(bare.family, bare.type, bare.proto, bare.detach())


def _listening_sockets(host: str | None, port: int, *, reuse_port: bool) -> list[socket.socket]:
    """Non-blocking listening sockets on ``host`` (every interface when None), as asyncio makes them.

    They accept a connection only once its first bytes arrive (TCP_DEFER_ACCEPT),
    so that ``HttpTrackerServer._accept`` usually finds the request there.
    """
    listeners = []
    addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    try:
        for family, kind, proto, _, address in dict.fromkeys(addresses):
            try:
                listener = socket.socket(family, kind, proto)
            except OSError:  # a family this host lacks (no IPv6)
                continue
            listeners.append(listener)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if reuse_port:
                listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            if family == socket.AF_INET6:
                listener.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_DEFER_ACCEPT, 1)
            listener.bind(address)
            listener.listen(4096)
            listener.setblocking(False)
        if not listeners:
            raise OSError(f"no address family of {host!r} can listen here")
    except OSError:
        for listener in listeners:
            listener.close()
        raise
    return listeners
