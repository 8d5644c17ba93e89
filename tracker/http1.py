"""HTTP/1.1 framing for the standalone tracker server, without I/O.

Just the part of RFC 9112 that BitTorrent clients use: GET requests without a
body, keep-alive, pipelining. Anything else is refused with ``HttpError``,
whose status the server answers before closing the connection. The buffer
of a connection is bounded by ``MAX_HEAD_BYTES``.
"""

from typing import NamedTuple

MAX_HEAD_BYTES = 8192

_REASONS = {
    200: b"OK",
    400: b"Bad Request",
    404: b"Not Found",
    405: b"Method Not Allowed",
    431: b"Request Header Fields Too Large",
    500: b"Internal Server Error",
    505: b"HTTP Version Not Supported",
}


class HttpError(Exception):
    """A request the server cannot frame; answer ``status`` and close."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class RequestHead(NamedTuple):
    method: bytes
    path: bytes
    # Raw, still percent-encoded, without the "?".
    query: bytes
    keep_alive: bool
    # The X-Forwarded-For header (several joined by ","), None without one.
    forwarded_for: bytes | None = None


class RequestReader:
    """Bytes of one connection in, complete request heads out."""

    __slots__ = ("_buffer", "_start")

    def __init__(self) -> None:
        # Unread bytes are ``_buffer[_start:]``: a request that arrives whole
        # (the usual case) is parsed straight from the bytes received, uncopied.
        self._buffer = b""
        self._start = 0

    def feed(self, data: bytes) -> None:
        if self._start < len(self._buffer):
            self._buffer = self._buffer[self._start :] + data
        else:
            self._buffer = data
        self._start = 0

    def next_request(self) -> RequestHead | None:
        """The next complete request, or None until more bytes arrive."""
        buffer, start = self._buffer, self._start
        end = buffer.find(b"\r\n\r\n", start)
        if end < 0:
            if len(buffer) - start > MAX_HEAD_BYTES:
                raise HttpError(431, "request head too large")
            return None
        if end - start > MAX_HEAD_BYTES:
            raise HttpError(431, "request head too large")
        self._start = end + 4
        return parse_head(buffer[start:end])


def sole_request(data: bytes) -> RequestHead | None:
    """The head of ``data`` when it is exactly one whole request, framed as ``RequestReader`` would.

    None for anything else, refusals included: a ``RequestReader`` then frames it.
    """
    end = len(data) - 4
    if end > MAX_HEAD_BYTES or data.find(b"\r\n\r\n") != end:
        return None
    try:
        return parse_head(data[:end])
    except HttpError:
        return None


_HEADERS_READ = frozenset((b"connection", b"x-forwarded-for", b"transfer-encoding", b"content-length"))


def parse_head(head: bytes) -> RequestHead:
    """Parse a request line and headers (without the final blank line)."""
    request_line, _, header_block = head.partition(b"\r\n")
    try:
        method, target, version = request_line.split(b" ")
    except ValueError:
        raise HttpError(400, "malformed request line") from None
    if version == b"HTTP/1.1":
        keep_alive = True
    elif version == b"HTTP/1.0":
        keep_alive = False
    elif version.startswith(b"HTTP/"):
        raise HttpError(505, "unsupported HTTP version")
    else:
        raise HttpError(400, "malformed request line")
    if not target.startswith(b"/"):
        raise HttpError(400, "request target must be a path")
    forwarded_for = None
    if header_block:
        for line in header_block.split(b"\r\n"):
            name, colon, value = line.partition(b":")
            if not colon or not name or name != name.strip():
                raise HttpError(400, "malformed header")
            name = name.lower()
            if name not in _HEADERS_READ:
                continue
            if name == b"connection":
                tokens = value.lower()
                if b"close" in tokens:
                    keep_alive = False
                elif b"keep-alive" in tokens:
                    keep_alive = True
            elif name == b"x-forwarded-for":
                value = value.strip()
                forwarded_for = value if forwarded_for is None else forwarded_for + b"," + value
            elif name == b"transfer-encoding" or value.strip() != b"0":  # content-length
                # We never read a body, so we could not tell where the next request starts.
                raise HttpError(400, "request body not supported")
    path, _, query = target.partition(b"?")
    return RequestHead(method, path, query.partition(b"#")[0], keep_alive, forwarded_for)


_OK_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n%s\r\n%s"
_CLOSE = b"Connection: close\r\n"


def response(status: int, body: bytes, *, keep_alive: bool) -> bytes:
    if status == 200:
        return _OK_HEAD % (len(body), b"" if keep_alive else _CLOSE, body)
    return b"HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n%s\r\n%s" % (
        status,
        _REASONS[status],
        len(body),
        b"" if keep_alive else b"Connection: close\r\n",
        body,
    )
