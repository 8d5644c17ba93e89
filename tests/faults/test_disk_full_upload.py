"""The data directory's disk fills while a tus upload arrives: the client is told so plainly, the
offset stays true to the bytes stored, the upload resumes once space is freed and the release
publishes; a release published before is untouched."""

import base64
import hashlib
import http.client
import json
import os
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.contrib.auth.models import Group
from django.db import connection

from distribution.access import PUBLISHERS_GROUP
from distribution.api_tokens import issue_api_token
from distribution.models import ApiToken, Release
from harness.libtorrent_peers import make_torrent
from harness.loopback import free_port
from harness.polling import wait_until
from harness.processes import CELERY
from harness.releases import attach_torrent
from tests.conftest import database_url_for_subprocess, subprocess_env
from tests.factories import ProductFactory, ReleaseFactory, ReleaseFileFactory, UserFactory
from tests.faults.conftest import web_argv

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

DISK_BYTES = 16 * 1024 * 1024
BALLAST_BYTES = 9 * 1024 * 1024
UPLOAD_BYTES = 6 * 1024 * 1024
CHUNK_BYTES = 256 * 1024
REQUEST_TIMEOUT = 30.0


@pytest.fixture
def small_disk(tmp_path: Path):
    """A 16 MiB tmpfs: the data directory of the instance under test."""
    mountpoint = tmp_path / "small-disk"
    mountpoint.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={DISK_BYTES}", "tmpfs", str(mountpoint)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small filesystem here: {mounted.stderr.strip()}")
    yield mountpoint
    subprocess.run(["umount", str(mountpoint)], check=True)


class Api:
    """HTTP to the web process as `fanout publish` speaks it: a token, JSON, tus."""

    def __init__(self, port: int, token: str) -> None:
        self.port = port
        self.token = token

    def request(self, method: str, path: str, body: bytes = b"", **headers: str) -> http.client.HTTPResponse:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=REQUEST_TIMEOUT)
        connection.request(
            method, path, body, {"Authorization": f"Bearer {self.token}", "Tus-Resumable": "1.0.0", **headers}
        )
        response = connection.getresponse()
        response.body = response.read()
        connection.close()
        return response

    def offset(self, location: str) -> int:
        answer = self.request("HEAD", location)
        assert answer.status == 200, answer.body
        return int(answer.getheader("Upload-Offset"))

    def send_from(self, location: str, payload: bytes, offset: int) -> http.client.HTTPResponse:
        """PATCH the payload chunk by chunk from ``offset``; the first answer that is not 204, or the last."""
        while offset < len(payload):
            chunk = payload[offset : offset + CHUNK_BYTES]
            answer = self.request(
                "PATCH",
                location,
                chunk,
                **{"Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream"},
            )
            if answer.status != 204:
                return answer
            offset = int(answer.getheader("Upload-Offset"))
        return answer


def published_release(data_dir: Path, product) -> tuple[Release, bytes]:
    """A release published before the disk fills, its file in the data directory."""
    release = ReleaseFactory(product=product)
    path = release.disk_path(release.content_name)
    path.parent.mkdir(parents=True)
    content = os.urandom(1024 * 1024)
    path.write_bytes(content)
    ReleaseFileFactory(
        release=release,
        path=release.content_name,
        size=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
    )
    attach_torrent(release, make_torrent(path))
    return release, content


def test_an_upload_that_fills_the_disk_is_refused_plainly_and_resumes_once_space_is_freed(
    small_disk, start_process, settings
):
    settings.RELEASES_DIR = small_disk / "releases"
    publisher = UserFactory(username="publisher")
    publisher.groups.add(Group.objects.get_or_create(name=PUBLISHERS_GROUP)[0])
    product = ProductFactory(name="Atlas", slug="atlas")
    product.publishers.add(publisher)
    before, before_content = published_release(small_disk, product)
    before_metainfo = bytes(before.torrent.metainfo)
    ballast = small_disk / "ballast"
    ballast.write_bytes(os.urandom(BALLAST_BYTES))

    env = subprocess_env(
        DATABASE_URL=database_url_for_subprocess(connection.settings_dict),
        FANOUT_DATA_DIR=str(small_disk),
    )
    env.pop("REDIS_URL", None)  # the broker's queue is a folder in the data directory, on the small disk
    port = free_port()
    web = start_process(
        "web",
        web_argv(port),
        env,
    )
    # Stopped as `make run` and compose stop it (SIGTERM taken as SIGQUIT: at once).
    worker = start_process(
        "worker",
        [*CELERY, "worker", "--pool", "solo", "--loglevel", "INFO"],
        {**env, "REMAP_SIGTERM": "SIGQUIT"},
    )
    web.wait_for_port(port)
    worker.wait_for(r"celery@\S+ ready", timeout=60)
    api = Api(port, issue_api_token(publisher, name="ci", scope=ApiToken.Scope.PUBLISH)[1])

    payload = os.urandom(UPLOAD_BYTES)
    declared = api.request(
        "POST",
        "/api/releases/",
        json.dumps(
            {"product": "atlas", "version": "2.0", "files": [{"path": "big.bin", "size": UPLOAD_BYTES}]}
        ).encode(),
        **{"Content-Type": "application/json"},
    )
    assert declared.status == 201, declared.body
    state = json.loads(declared.body)
    metadata = ",".join(
        f"{key} {base64.b64encode(value.encode()).decode()}"
        for key, value in (("release", str(state["release_id"])), ("relativePath", "big.bin"))
    )
    created = api.request(
        "POST", "/uploads/", **{"Upload-Length": str(UPLOAD_BYTES), "Upload-Metadata": metadata}
    )
    assert created.status == 201, created.body
    location = urlsplit(created.getheader("Location")).path

    refused = api.send_from(location, payload, 0)

    # Told plainly, with a status a client can act on: no error page, no traceback.
    assert refused.status == 507, (refused.status, refused.body)
    assert refused.getheader("Content-Type").startswith("text/plain")
    message = refused.body.decode()
    assert "disk is full" in message and "Traceback" not in message
    # The offset is what the disk holds, and those bytes are the ones sent.
    stored = api.offset(location)
    assert 0 < stored < UPLOAD_BYTES
    stored_file = Release.objects.get(pk=state["release_id"]).disk_path("big.bin")
    assert stored_file.read_bytes() == payload[:stored]

    ballast.unlink()
    resumed_from = api.offset(location)
    assert resumed_from == stored
    finished = api.send_from(location, payload, resumed_from)
    assert finished.status == 204 and int(finished.getheader("Upload-Offset")) == UPLOAD_BYTES
    completed = api.request("POST", state["complete_url"])
    assert completed.status == 202, completed.body

    release = Release.objects.get(pk=state["release_id"])

    def published() -> bool:
        release.refresh_from_db()
        assert release.status != Release.Status.FAILED, release.failure_reason
        return release.status == Release.Status.PUBLISHED

    wait_until(published, timeout=120, what="the release to be published")
    assert release.files.get().sha256 == hashlib.sha256(payload).hexdigest()
    assert stored_file.read_bytes() == payload
    # The release published before the disk filled is as it was.
    before.refresh_from_db()
    assert before.disk_path(before.content_name).read_bytes() == before_content
    assert before.files.get().sha256 == hashlib.sha256(before_content).hexdigest()
    assert bytes(before.torrent.metainfo) == before_metainfo and before.status == Release.Status.PUBLISHED
