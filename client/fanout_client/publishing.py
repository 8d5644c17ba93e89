"""`fanout publish`: declare the release, send its files with tus, finish it, follow its build.

A rerun of the same command declares the same files again and gets the same
release back with what the server already has, so only what is missing is sent.
"""

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from fanout_client.api import Server, ServerUnreachable
from fanout_client.errors import FanoutError
from fanout_client.progress import Progress
from fanout_client.release_files import LocalFile
from fanout_client.tus import FileUpload
from fanout_client.upload_urls import UploadUrls

POLL_SECONDS = 1.0
# Polls that may fail in a row (a server restarting) before --wait gives up.
UNREACHABLE_POLLS = 30


@dataclass
class Published:
    release: dict[str, Any]  # the release as the server describes it once the build is asked for
    sent_bytes: int  # bytes this run sent
    resumed_bytes: int  # bytes the server had from an earlier run


def publish(
    *,
    server: Server,
    files: list[LocalFile],
    declaration: dict[str, Any],
    state_dir: Path,
    progress_stream: TextIO | None = None,
) -> Published:
    """Declare ``files`` with ``declaration`` (product, version, visibility...), upload them, finish."""
    declared = server.post_json(
        "api/releases/", {**declaration, "files": [{"path": f.path, "size": f.size} for f in files]}
    )
    release_id = declared["release_id"]
    stored = declared["files"]
    urls = UploadUrls(state_dir, server=server.base_url, release_id=release_id)
    progress = Progress("uploading", sum(f.size for f in files), progress_stream)
    done = resumed = 0
    try:
        for file in files:
            on_server = stored.get(file.path, {})
            if on_server.get("complete") and on_server.get("fingerprint") not in ("", None, file.fingerprint):
                raise FanoutError(
                    f"{file.path} changed since it was sent to release {release_id}: delete that "
                    f"release (DELETE /api/releases/{release_id}/) and publish again."
                )
            if on_server.get("complete"):
                done += file.size
                resumed += file.size
                progress.update(done)
                continue
            upload = FileUpload(
                server=server,
                endpoint=server.url(declared["upload_url"]),
                file=file,
                metadata={
                    "release": str(release_id),
                    "relativePath": file.path,
                    "filename": file.source.name,
                    "fingerprint": file.fingerprint,
                },
                url=urls.get(file),
                on_created=lambda url, file=file: urls.put(file, url),
                on_progress=lambda sent, before=done: progress.update(before + sent),
                on_note=progress.note,
            )
            upload.run()
            done += file.size
            resumed += upload.resumed_bytes
    finally:
        progress.close()
    finished = server.post_json(declared["complete_url"])
    urls.forget_release()
    return Published(release=finished, sent_bytes=done - resumed, resumed_bytes=resumed)


def wait_until_seeded(
    server: Server, release_id: int, *, timeout: float, progress_stream: TextIO | None = None
) -> dict[str, Any]:
    """The release once it is published and a seeder seeds it; FanoutError if its build failed."""
    deadline = time.monotonic() + timeout
    progress = Progress("processing", 100, progress_stream, sizes=False)
    unreachable = 0
    try:
        while True:
            try:
                release = server.get_json(f"api/releases/{release_id}/")
                unreachable = 0
            except ServerUnreachable:
                if unreachable == UNREACHABLE_POLLS:
                    raise
                unreachable += 1
                release = None
            if release is not None:
                status = release["status"]
                if status == "failed":
                    raise FanoutError(
                        f"The torrent build failed: {release.get('failure_reason') or 'no reason given'}"
                    )
                if status == "retired":
                    raise FanoutError("The release was retired while it was being built.")
                if status == "published":
                    if server.get_json(f"api/releases/{release_id}/seeding/")["seeded"]:
                        progress.update(100, label="published and seeded")
                        return {**release, "seeded": True}
                    progress.update(100, "waiting for a seeder", label="published")
                else:
                    progress.update(int(release.get("build_percent") or 0), "pieces hashed", label=status)
            if time.monotonic() >= deadline:
                state = release["status"] if release else "unknown (the server does not answer)"
                raise FanoutError(f"Gave up after {timeout:.0f} s: the release is {state}.")
            time.sleep(POLL_SECONDS)
    finally:
        progress.close()
