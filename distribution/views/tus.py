"""The tus 1.0 endpoint (core, creation, termination, expiration) for a release's files.

Only HTTP lives here: headers parsed, answers written. The state of an upload
and every rule about it are in distribution.uploads.

We serve tus ourselves rather than take drf-tus (2.0.1, the maintained tus
server for Django on PyPI): its PATCH takes the chunk as ``request.body`` (the
whole chunk in memory, and refused past DATA_UPLOAD_MAX_MEMORY_SIZE), copies
it to a temporary file, reads it back whole and appends it to its own Upload
model's file, announcing the end with a signal. Memory would grow with the
chunk size, and there is no place to hash each chunk against the torrent's
layout as it streams, which is what publishes a release moments after its
last byte.
"""

import base64
import binascii
from email.utils import format_datetime

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from distribution import uploads
from distribution.access import may_publish
from distribution.api_tokens import bearer_token

TUS_VERSION = "1.0.0"
EXTENSIONS = "creation,termination,expiration"


def _answer(status: int, text: str = "", **headers: str) -> HttpResponse:
    response = HttpResponse(text, status=status, content_type="text/plain; charset=utf-8")
    response["Tus-Resumable"] = TUS_VERSION
    response["Cache-Control"] = "no-store"
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


def _options() -> HttpResponse:
    return _answer(
        204,
        Tus_Version=TUS_VERSION,
        Tus_Extension=EXTENSIONS,
        Tus_Max_Size=str(settings.FANOUT_RELEASE_MAX_BYTES),
    )


def _refuse(exc: uploads.UploadError) -> HttpResponse:
    return _answer(exc.status, str(exc))


def _check_request(request: HttpRequest) -> HttpResponse | None:
    if request.method == "OPTIONS":
        return _options()
    if not request.user.is_authenticated and bearer_token(request):
        return _answer(401, "The API token is unknown or revoked.", WWW_Authenticate='Bearer realm="fanout"')
    if not may_publish(request.user):
        return _answer(403, "Log in as a publisher to upload.")
    if request.headers.get("Tus-Resumable") != TUS_VERSION:
        return _answer(412, f"This server speaks tus {TUS_VERSION}.", Tus_Version=TUS_VERSION)
    return None


def parse_metadata(header: str) -> dict[str, str]:
    """``Upload-Metadata: key base64,key base64``; raises ValueError on a malformed header."""
    metadata = {}
    for pair in filter(None, (item.strip() for item in header.split(","))):
        key, _, value = pair.partition(" ")
        try:
            metadata[key] = base64.b64decode(value, validate=True).decode() if value else ""
        except (binascii.Error, UnicodeDecodeError):
            raise ValueError(f"Upload-Metadata: {key} is not base64 of UTF-8 text.") from None
    return metadata


def _expires(upload) -> str:
    return format_datetime(upload.expires_at, usegmt=True)


@require_http_methods(["OPTIONS", "POST"])
def create(request: HttpRequest) -> HttpResponse:
    refused = _check_request(request)
    if refused is not None:
        return refused
    try:
        length = int(request.headers.get("Upload-Length", ""))
        if length < 0:
            raise ValueError
    except ValueError:
        return _answer(400, "Upload-Length must be a whole number of bytes (deferred lengths are not taken).")
    try:
        metadata = parse_metadata(request.headers.get("Upload-Metadata", ""))
        release_id = int(metadata.get("release", ""))
    except ValueError as exc:
        return _answer(400, str(exc) if "Upload-Metadata" in str(exc) else "Upload-Metadata needs a release.")
    path = metadata.get("relativePath") or metadata.get("path") or metadata.get("filename") or ""
    try:
        upload = uploads.create_upload(
            release_id=release_id,
            path=path,
            length=length,
            user=request.user,
            fingerprint=metadata.get("fingerprint", "")[:100],
        )
    except uploads.UploadError as exc:
        return _refuse(exc)
    return _answer(
        201,
        Location=request.build_absolute_uri(reverse("tus-upload", args=[upload.id])),
        Upload_Expires=_expires(upload),
        Upload_Offset=str(upload.offset),
    )


@require_http_methods(["OPTIONS", "HEAD", "PATCH", "DELETE"])
def upload(request: HttpRequest, upload_id) -> HttpResponse:
    refused = _check_request(request)
    if refused is not None:
        return refused
    try:
        found = uploads.get_upload(upload_id=upload_id, user=request.user)
        if request.method == "HEAD":
            return _answer(
                200,
                Upload_Offset=str(found.offset),
                Upload_Length=str(found.length),
                Upload_Expires=_expires(found),
            )
        if request.method == "DELETE":
            uploads.terminate(upload=found)
            return _answer(204)
        return _patch(request, found)
    except uploads.UploadError as exc:
        return _refuse(exc)


def _patch(request: HttpRequest, found) -> HttpResponse:
    if request.content_type != "application/offset+octet-stream":
        return _answer(415, "A PATCH carries Content-Type: application/offset+octet-stream.")
    try:
        offset = int(request.headers.get("Upload-Offset", ""))
    except ValueError:
        return _answer(400, "Upload-Offset must be a whole number.")
    content_length = request.headers.get("Content-Length")
    length = int(content_length) if content_length and content_length.isdigit() else None
    # request.read() streams the body from the socket: nothing buffers it whole.
    done = uploads.receive(upload=found, offset=offset, read=request.read, length=length)
    return _answer(204, Upload_Offset=str(done.offset), Upload_Expires=_expires(done))
