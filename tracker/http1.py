"""HTTP/1.1 framing for the standalone tracker server, without I/O.

Just the part of RFC 9112 that BitTorrent clients use: GET requests without a
body, keep-alive, pipelining. Anything else is refused with ``HttpError``,
whose status the server answers before closing the connection. The buffer
of a connection is bounded by ``MAX_HEAD_BYTES``.
"""

from dataclasses import dataclass

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


@dataclass(frozen=True, slots=True)
class RequestHead:
    method: bytes
    path: bytes
    # Raw, still percent-encoded, without the "?".
    query: bytes
    keep_alive: bool


class RequestReader:
    """Bytes of one connection in, complete request heads out."""

    __slots__ = ("_buffer",)

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> None:
        self._buffer += data

    def next_request(self) -> RequestHead | None:
        """The next complete request, or None until more bytes arrive."""
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self._buffer) > MAX_HEAD_BYTES:
                raise HttpError(431, "request head too large")
            return None
        if end > MAX_HEAD_BYTES:
            raise HttpError(431, "request head too large")
        head = bytes(self._buffer[:end])
        del self._buffer[: end + 4]
        return parse_head(head)


def parse_head(head: bytes) -> RequestHead:
    """Parse a request line and headers (without the final blank line)."""
    request_line, _, header_block = head.partition(b"\r\n")
    parts = request_line.split(b" ")
    if len(parts) != 3:
        raise HttpError(400, "malformed request line")
    method, target, version = parts
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
    if header_block:
        for line in header_block.split(b"\r\n"):
            name, colon, value = line.partition(b":")
            if not colon or not name or name != name.strip():
                raise HttpError(400, "malformed header")
            name = name.lower()
            if name == b"connection":
                tokens = value.lower()
                if b"close" in tokens:
                    keep_alive = False
                elif b"keep-alive" in tokens:
                    keep_alive = True
            elif name == b"transfer-encoding" or (name == b"content-length" and value.strip() != b"0"):
                # We never read a body, so we could not tell where the next request starts.
                raise HttpError(400, "request body not supported")
    path, _, query = target.partition(b"?")
    return RequestHead(method, path, query.partition(b"#")[0], keep_alive)


def response(status: int, body: bytes, *, keep_alive: bool) -> bytes:
    return b"HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n%s\r\n%s" % (
        status,
        _REASONS[status],
        len(body),
        b"" if keep_alive else b"Connection: close\r\n",
        body,
    )
