"""A tus 1.0 client (core protocol and creation) for one file of a release.

It resumes from the offset the server reports: after a dropped connection or
a server error it waits (growing pauses), asks the upload's offset again
(HEAD) and goes on from there; given the URL of an upload made by an earlier
run, it starts from that upload's offset. Bodies stream from the file in
blocks, so memory stays flat whatever the chunk size.

Why not tuspy (1.1.0): it imports aiohttp (and tinydb) for a synchronous
client, reads each chunk whole into memory, reports progress per chunk only,
retries every refusal (a 403 as a dropped connection) after a fixed pause,
and ignores the offset the creation answer carries.
"""

import base64
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import requests

from fanout_client.api import Server, explanation, unreachable_reason
from fanout_client.errors import FanoutError
from fanout_client.release_files import LocalFile

TUS_VERSION = "1.0.0"
# What the publish page sends per request.
CHUNK_SIZE = 64 * 1024 * 1024
BLOCK_SIZE = 1024 * 1024
# Pauses before each retry after a failure; the count resets once a request succeeds.
RETRY_DELAYS = (0.5, 1, 2, 4, 8, 16, 30)
# 409: the offset moved, or the server still writes the request that was cut; the others pass.
RETRY_STATUSES = frozenset({409, 423, 429, 500, 502, 503, 504})
# The upload expired or was replaced: the caller makes a new one.
GONE_STATUSES = frozenset({404, 410})
# A PATCH's answer may wait for the server to finish hashing the file.
PATCH_TIMEOUT = (10, 300)
HEAD_TIMEOUT = (10, 60)
# An upload that vanished (expired, replaced) is created again at most this many times.
MAX_CREATIONS = 3


class _Retry(Exception):
    """A failure that may pass: wait, ask the offset, go on."""


class _Gone(Exception):
    """The server no longer has this upload: create it again."""


@dataclass
class FileUpload:
    """Sends ``file`` to the tus ``endpoint``, reporting bytes stored on the server so far."""

    server: Server
    endpoint: str
    file: LocalFile
    metadata: dict[str, str]
    url: str | None = None  # an earlier run's upload of this file, if any
    on_created: Callable[[str], None] = lambda url: None
    on_progress: Callable[[int], None] = lambda sent: None
    on_note: Callable[[str], None] = lambda text: None
    sleep: Callable[[float], None] = time.sleep
    chunk_size: int = CHUNK_SIZE
    resumed_bytes: int = field(default=0, init=False)

    def run(self) -> None:
        offset: int | None = None
        creations = failures = 0
        first_contact = True
        while True:
            try:
                if self.url is None:
                    if creations == MAX_CREATIONS:
                        raise FanoutError(f"{self.file.path}: the server keeps losing the upload.")
                    creations += 1
                    offset = self._create()
                elif offset is None:
                    offset = self._offset()
                if first_contact:
                    # What the server had before this run sent a byte: an earlier run's.
                    first_contact = False
                    self.resumed_bytes = offset
                    if 0 < offset < self.file.size:
                        self.on_note(f"{self.file.path}: resuming at byte {offset:,} of {self.file.size:,}")
                self.on_progress(offset)
                if offset >= self.file.size:
                    return
                offset = self._patch(offset)
                failures = 0
            except _Gone:
                self.url, offset = None, None
            except _Retry as why:
                if failures == len(RETRY_DELAYS):
                    raise FanoutError(
                        f"{self.file.path}: upload failed {failures + 1} times, last: {why}"
                    ) from None
                delay = RETRY_DELAYS[failures]
                failures += 1
                self.on_note(f"{self.file.path}: {why}; retrying in {delay:g} s")
                self.sleep(delay)
                offset = None

    def _headers(self, **more: str) -> dict[str, str]:
        return {"Tus-Resumable": TUS_VERSION, **{name.replace("_", "-"): v for name, v in more.items()}}

    def _create(self) -> int:
        metadata = ",".join(
            f"{key} {base64.b64encode(value.encode()).decode()}" for key, value in self.metadata.items()
        )
        response = self._send(
            "POST",
            self.endpoint,
            headers=self._headers(Upload_Length=str(self.file.size), Upload_Metadata=metadata),
            timeout=HEAD_TIMEOUT,
        )
        if response.status_code in GONE_STATUSES:
            raise self._refused(response)
        location = response.headers.get("Location")
        if response.status_code != 201 or not location:
            raise FanoutError(f"{self.file.path}: the upload was not created ({response.status_code}).")
        self.url = self.server.url(location)
        self.on_created(self.url)
        # The creation's answer says where the server stands (0 for a new upload).
        return self._offset_header(response, default=0)

    def _offset(self) -> int:
        response = self._send("HEAD", self.url, headers=self._headers(), timeout=HEAD_TIMEOUT)
        if response.status_code in GONE_STATUSES:
            raise _Gone()
        length = response.headers.get("Upload-Length")
        if length is not None and length.isdigit() and int(length) != self.file.size:
            raise _Gone()  # another file's upload: this one's starts anew
        return self._offset_header(response)

    def _patch(self, offset: int) -> int:
        length = min(self.chunk_size, self.file.size - offset)
        with FileRange(
            self.file.source, offset, length, lambda sent: self.on_progress(offset + sent)
        ) as body:
            response = self._send(
                "PATCH",
                self.url,
                data=body,
                headers=self._headers(
                    Upload_Offset=str(offset), Content_Type="application/offset+octet-stream"
                ),
                timeout=PATCH_TIMEOUT,
            )
        if response.status_code in GONE_STATUSES:
            raise _Gone()
        return self._offset_header(response)

    def _send(self, method: str, url: str, **kwargs) -> requests.Response:
        """The answer, if it is one to act on; _Retry for what may pass, FanoutError for a refusal."""
        try:
            response = self.server.session.request(method, url, **kwargs)
        except requests.RequestException as exc:
            raise _Retry(f"connection lost ({unreachable_reason(exc)})") from None
        if response.status_code in RETRY_STATUSES:
            raise _Retry(f"{response.status_code} {explanation(response)}")
        if response.status_code >= 400 and response.status_code not in GONE_STATUSES:
            raise self._refused(response)
        return response

    def _refused(self, response: requests.Response) -> FanoutError:
        return FanoutError(
            f"{self.file.path}: {response.status_code} {response.reason}: {explanation(response)}"
        )

    def _offset_header(self, response: requests.Response, default: int | None = None) -> int:
        value = response.headers.get("Upload-Offset")
        if value is None and default is not None:
            return default
        if value is None or not value.isdigit():
            raise _Retry(f"{response.status_code} without an Upload-Offset")
        return int(value)


class FileRange:
    """Bytes [offset, offset + length) of a file as a request body: its length known (so the
    request has a Content-Length), read in blocks, each reported to ``on_sent`` as it goes."""

    def __init__(self, path: Path, offset: int, length: int, on_sent: Callable[[int], None]) -> None:
        self.stream = path.open("rb")
        self.stream.seek(offset)
        self.length = length
        self.sent = 0
        self.on_sent = on_sent

    def __enter__(self) -> "FileRange":
        return self

    def __exit__(self, *exc_info) -> None:
        self.stream.close()

    def __len__(self) -> int:
        return self.length

    def read(self, size: int = -1) -> bytes:
        remaining = self.length - self.sent
        if size is None or size < 0 or size > remaining:
            size = remaining
        data = self.stream.read(size)
        if len(data) < size:
            raise FanoutError(f"{self.stream.name} shrank while it was being sent.")
        self.sent += len(data)
        self.on_sent(self.sent)
        return data

    def __iter__(self):
        while block := self.read(BLOCK_SIZE):
            yield block
