"""Serving a file with HTTP Range support (RFC 9110), as BEP 19 web seeds need.

Django's FileResponse ignores Range; web seeds and resumed downloads need 206.
One range per request is served; a multi-range request gets the whole file,
which RFC 9110 allows.
"""

import mimetypes
import re
from collections.abc import Iterator
from pathlib import Path

from django.http import FileResponse, HttpRequest, HttpResponse, StreamingHttpResponse
from django.utils.http import content_disposition_header, http_date, parse_http_date_safe, quote_etag

RANGE_PATTERN = re.compile(r"^bytes=(\d*)-(\d*)$")
CHUNK = 256 * 1024


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


def file_response(request: HttpRequest, path: Path, *, download_name: str) -> HttpResponse:
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
