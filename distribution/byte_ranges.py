"""Serving a file with HTTP Range support (RFC 9110), as BEP 19 web seeds need.

Django's FileResponse ignores Range; web seeds and resumed downloads need 206.
One range per request is served; a multi-range request gets the whole file,
which RFC 9110 allows.

With ``FANOUT_X_ACCEL_REDIRECT`` set (e.g. ``/protected/``), Django only
authorizes: the response names the file under that prefix in an
``X-Accel-Redirect`` header, and the web server in front (nginx, whose
internal location maps the prefix to the data directory) sends the bytes,
with its own Range, ETag and Last-Modified handling.

``on_sent(n)`` is called once per response with the body bytes it carries,
at the end of the stream (fewer if the client went away). When the web server
sends the file it is not called: only the web server knows how much of the
range a client took before it left, and it says so once it is done
(deploy/nginx.conf's ``post_action``, answered by
``distribution.views.statistics.web_server_sent``).

``pace()``, when given, is the response's rate in bytes per second (0: no
limit). Django asks it again every ``PACE_RECHECK_SECONDS`` while it streams;
the web server is told it once, in ``X-Accel-Limit-Rate``, and keeps it to the
end of the response.
"""

import mimetypes
import re
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from urllib.parse import quote

from django.conf import settings
from django.http import FileResponse, HttpRequest, HttpResponse, StreamingHttpResponse
from django.utils.http import content_disposition_header, http_date, parse_http_date_safe, quote_etag

RANGE_PATTERN = re.compile(r"^bytes=(\d*)-(\d*)$")
CHUNK = 256 * 1024
PACE_RECHECK_SECONDS = 2.0
# A paced stream sends this many pieces a second, so that its rate is even within the second.
PACED_SENDS_PER_SECOND = 4


class UnsatisfiableRange(Exception):
    pass


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """The inclusive byte range a Range header asks for, or None to send all."""
    match = RANGE_PATTERN.match(header.strip())
    if not match:
        return None
    first, last = match.groups()
    if first == "" and last == "":
        return None
    if first == "":
        length = int(last)
        if length == 0:
            raise UnsatisfiableRange
        return max(0, size - length), size - 1
    start = int(first)
    end = size - 1 if last == "" else min(int(last), size - 1)
    if last != "" and int(last) < start:
        return None
    if start >= size:
        raise UnsatisfiableRange
    return start, end


def _read_slice(path: Path, start: int, length: int) -> Iterator[bytes]:
    with path.open("rb") as stream:
        stream.seek(start)
        while length > 0:
            chunk = stream.read(min(CHUNK, length))
            if not chunk:
                return
            length -= len(chunk)
            yield chunk


def _counted(chunks: Iterable[bytes], on_sent: Callable[[int], None]) -> Iterator[bytes]:
    sent = 0
    try:
        for chunk in chunks:
            # Counted once handed to the server: a client that leaves mid-chunk got most of it.
            sent += len(chunk)
            yield chunk
    finally:
        on_sent(sent)


def paced(
    chunks: Iterable[bytes],
    pace: Callable[[], int],
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[bytes]:
    """The chunks at ``pace()`` bytes per second (0: as they come), asked again every
    ``PACE_RECHECK_SECONDS``, so that a change of pace reaches streams already running."""
    rate = pace()
    asked = start = clock()
    sent = 0  # since ``start``, the moment the current rate was set
    for chunk in chunks:
        while chunk:
            now = clock()
            if now - asked >= PACE_RECHECK_SECONDS:
                asked = now
                if (new_rate := pace()) != rate:
                    rate, start, sent = new_rate, now, 0
            if not rate:
                yield chunk
                break
            step = max(1, rate // PACED_SENDS_PER_SECOND)
            piece, chunk = chunk[:step], chunk[step:]
            due = start + sent / rate
            if due > now:
                sleep(due - now)
            sent += len(piece)
            yield piece


def _accel_response(path: Path, *, download_name: str) -> HttpResponse:
    """Let the web server send the file (and count it: see the module's docstring)."""
    relative = path.resolve().relative_to(settings.DATA_DIR)
    response = HttpResponse(content_type=mimetypes.guess_type(download_name)[0] or "application/octet-stream")
    response["X-Accel-Redirect"] = settings.FANOUT_X_ACCEL_REDIRECT.rstrip("/") + "/" + quote(str(relative))
    response["Content-Disposition"] = content_disposition_header(as_attachment=True, filename=download_name)
    return response


def file_response(
    request: HttpRequest,
    path: Path,
    *,
    download_name: str,
    on_sent: Callable[[int], None] | None = None,
    pace: Callable[[], int] | None = None,
) -> HttpResponse:
    if settings.FANOUT_X_ACCEL_REDIRECT:
        response = _accel_response(path, download_name=download_name)
        if pace is not None:
            rate = pace()
            response["X-Accel-Limit-Rate"] = str(rate) if rate else "off"
        return response
    response = _file_response(request, path, download_name=download_name)
    if response.streaming and request.method != "HEAD":
        if pace is not None:
            response.streaming_content = paced(response.streaming_content, pace)
        if on_sent is not None:
            response.streaming_content = _counted(response.streaming_content, on_sent)
    elif on_sent is not None:
        on_sent(0)
    return response


def _file_response(request: HttpRequest, path: Path, *, download_name: str) -> HttpResponse:
    stat = path.stat()
    size = stat.st_size
    etag = quote_etag(f"{stat.st_mtime_ns:x}-{size:x}")
    last_modified = http_date(stat.st_mtime)
    content_type = mimetypes.guess_type(download_name)[0] or "application/octet-stream"

    if request.headers.get("If-None-Match") == etag:
        response = HttpResponse(status=304)
    else:
        byte_range = None
        range_header = request.headers.get("Range")
        if range_header and _if_range_allows(request.headers.get("If-Range"), etag, stat.st_mtime):
            try:
                byte_range = parse_range(range_header, size)
            except UnsatisfiableRange:
                response = HttpResponse(status=416)
                response["Content-Range"] = f"bytes */{size}"
                response["Accept-Ranges"] = "bytes"
                return response
        if byte_range is None:
            response = FileResponse(path.open("rb"), content_type=content_type)
            response["Content-Length"] = str(size)
        else:
            start, end = byte_range
            length = end - start + 1
            response = StreamingHttpResponse(
                _read_slice(path, start, length), status=206, content_type=content_type
            )
            response["Content-Length"] = str(length)
            response["Content-Range"] = f"bytes {start}-{end}/{size}"
        response["Content-Disposition"] = content_disposition_header(
            as_attachment=True, filename=download_name
        )
    response["Accept-Ranges"] = "bytes"
    response["ETag"] = etag
    response["Last-Modified"] = last_modified
    return response


def _if_range_allows(if_range: str | None, etag: str, mtime: float) -> bool:
    if if_range is None:
        return True
    if if_range.startswith('"') or if_range.startswith("W/"):
        return if_range == etag
    since = parse_http_date_safe(if_range)
    return since is not None and int(mtime) <= since
