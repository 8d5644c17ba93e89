"""One release all the way through: publish, a Celery worker builds the torrent,
our seeder seeds it, our tracker introduces a separate libtorrent client to the
seeder, and the client ends with the published bytes. A private release goes
the same way, its .torrent fetched by a signed-in user."""

import hashlib
import os
import time
import urllib.request
from pathlib import Path

import libtorrent as lt
import pytest
import redis
from django.conf import settings
from django.db import connection
from django.urls import reverse

from bittorrent import bencode
from distribution.access import regenerate_passkey
from distribution.models import Passkey, Release
from harness.libtorrent_peers import add_torrent, client_session
from harness.loopback import free_port
from harness.polling import wait_until
from harness.processes import CELERY, MANAGE
from harness.rtorrent import RTORRENT, rtorrent_downloading
from tests.conftest import database_url_for_subprocess, subprocess_env
from tests.factories import GroupFactory, UserFactory
from tests.tracker.conftest import announce_query
from tracker.engine import REFUSED

RELEASE_SIZE = 5 * 1024 * 1024 + 4321
E2E_REDIS_DB = 13


@pytest.fixture
def service_env(tmp_path):
    """Environment of a Fanout instance on free ports that shares this test's database."""
    web_port, tracker_port, seeder_port = free_port(), free_port(), free_port()
    env = subprocess_env(
        DATABASE_URL=database_url_for_subprocess(connection.settings_dict),
        FANOUT_DATA_DIR=str(tmp_path),
        WEB_PORT=str(web_port),
        TRACKER_PORT=str(tracker_port),
        SEEDER_PORT=str(seeder_port),
        FANOUT_PUBLIC_URL=f"http://127.0.0.1:{web_port}",
        FANOUT_ANNOUNCE_URL=f"http://127.0.0.1:{tracker_port}/announce",
        FANOUT_TRACKER_WHITELIST_REFRESH="1",
    )
    if settings.REDIS_URL:
        # A database of its own, emptied, so no other test's queued task reaches this worker.
        url = settings.REDIS_URL.rsplit("/", 1)[0] + f"/{E2E_REDIS_DB}"
        redis.Redis.from_url(url).flushdb()
        env["REDIS_URL"] = url
    assert settings.RELEASES_DIR == tmp_path / "releases"
    return env


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_it_carries_a_release_from_publish_to_a_downloading_client(tmp_path, service_env, start_process):
    payload = os.urandom(RELEASE_SIZE)
    source = tmp_path / "source" / "atlas-installer.bin"
    source.parent.mkdir()
    source.write_bytes(payload)

    tracker = start_process("tracker", [*MANAGE, "runtracker"], service_env)
    tracker.wait_for(r"tracker listening on http://")
    worker = start_process("worker", [*CELERY, "worker", "--pool", "solo", "--loglevel", "INFO"], service_env)
    worker.wait_for(r"celery@\S+ ready")
    seeder = start_process("seeder", [*MANAGE, "runseeder", "--name", "e2e"], service_env)
    seeder.wait_for(r"seeder e2e listening on port")

    publish = start_process(
        "publish",
        [
            *MANAGE,
            "publish",
            str(source),
            "--product",
            "atlas",
            "--version",
            "1.0",
            "--wait",
            "--timeout",
            "120",
        ],
        service_env,
    )
    assert publish.wait_for_exit(150) == 0, publish.transcript()
    release = Release.objects.get(product__slug="atlas", version="1.0")
    assert f"{service_env['FANOUT_PUBLIC_URL']}/releases/{release.pk}/\n" in publish.output
    assert release.status == Release.Status.PUBLISHED
    published_sha256 = release.files.get().sha256
    assert published_sha256 == hashlib.sha256(payload).hexdigest()

    # A client that knows only the .torrent: the tracker must hand it the seeder,
    # and the web seed's port has no server, so every byte comes from our seeder.
    peers_from_tracker = download_through_tracker(bytes(release.torrent.metainfo), tmp_path / "download")

    downloaded = (tmp_path / "download" / "atlas-installer.bin").read_bytes()
    assert hashlib.sha256(downloaded).hexdigest() == published_sha256
    assert peers_from_tracker >= 1


def download_through_tracker(metainfo: bytes, into: Path) -> int:
    """Download with a libtorrent client that knows only the .torrent; the most peers a tracker reply gave."""
    session = client_session(alert_mask=lt.alert.category_t.tracker_notification)
    handle = add_torrent(session, metainfo, into)
    peers_from_tracker = 0
    deadline = time.monotonic() + 90
    while True:
        for alert in session.pop_alerts():
            if isinstance(alert, lt.tracker_reply_alert):
                peers_from_tracker = max(peers_from_tracker, alert.num_peers)
        status = handle.status()
        if status.is_seeding:
            return peers_from_tracker
        assert time.monotonic() < deadline, f"download stuck: {status.state} {status.progress:.0%}"
        time.sleep(0.2)


def without_web_seeds(metainfo: bytes) -> bytes:
    """The .torrent without its web seeds (BEP 19 and BEP 17): the bytes can come from peers only."""
    torrent = bencode.decode(metainfo)
    torrent.pop(b"url-list", None)
    torrent.pop(b"httpseeds", None)
    return bencode.encode(torrent)


def tracker_answer(announce_url: str, passkey: str, info_hash: bytes) -> dict:
    """What the tracker tells a client announcing ``info_hash`` with ``passkey``."""
    with urllib.request.urlopen(
        f"{announce_url}/{passkey}?{announce_query(info_hash).decode()}", timeout=10
    ) as answer:
        return bencode.decode(answer.read())


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(RTORRENT is None, reason="rtorrent is not installed (apt-get install rtorrent)")
def test_a_private_release_reaches_its_audience_and_no_one_else(
    tmp_path, service_env, start_process, client, settings
):
    settings.FANOUT_ANNOUNCE_URL = announce_url = service_env["FANOUT_ANNOUNCE_URL"]
    payload = os.urandom(RELEASE_SIZE)
    source = tmp_path / "source" / "vault.bin"
    source.parent.mkdir()
    source.write_bytes(payload)
    start_process("tracker", [*MANAGE, "runtracker"], service_env).wait_for(r"tracker listening on http://")
    worker = start_process("worker", [*CELERY, "worker", "--pool", "solo", "--loglevel", "INFO"], service_env)
    worker.wait_for(r"celery@\S+ ready")
    seeder = start_process("seeder", [*MANAGE, "runseeder", "--name", "e2e-private"], service_env)
    seeder.wait_for(r"seeder e2e-private listening on port")
    # Users who have a passkey already (made when they first open a private release's page or
    # their passkey page): the trackers learn a new one at their next refresh, and a client
    # refused before then waits out libtorrent's back-off.
    member, outsider = UserFactory(), UserFactory()
    member.groups.add(GroupFactory(name="qa"))
    outsider.groups.add(GroupFactory(name="sales"))
    outsider_key = Passkey.for_user(outsider).key
    Passkey.for_user(member)

    publish = start_process(
        "publish",
        [*MANAGE, "publish", str(source), "--product", "vault", "--version", "1.0", "--private"]
        + ["--audience", "qa", "--wait", "--timeout", "120"],
        service_env,
    )
    assert publish.wait_for_exit(150) == 0, publish.transcript()
    assert "published and seeding" in publish.transcript()
    release = Release.objects.get(product__slug="vault", version="1.0")
    assert not release.is_public and [group.name for group in release.audience.all()] == ["qa"]
    info_hash = bytes.fromhex(release.torrent.info_hash_v1)

    client.force_login(outsider)
    assert client.get(reverse("release-detail", args=[release.pk])).status_code == 404
    assert client.get(reverse("release-torrent", args=[release.pk])).status_code == 404
    refused = {b"failure reason": REFUSED.encode()}
    assert tracker_answer(announce_url, outsider_key, info_hash) == refused
    assert tracker_answer(announce_url, outsider_key, b"\x01" * 20) == refused

    client.force_login(member)
    response = client.get(reverse("release-torrent", args=[release.pk]))
    assert response.status_code == 200
    metainfo = without_web_seeds(response.content)
    member_key = Passkey.for_user(member).key
    assert bencode.decode(metainfo)[b"announce"] == f"{announce_url}/{member_key}".encode()

    # From the seeder only, with our libtorrent and with rtorrent.
    assert download_through_tracker(metainfo, tmp_path / "libtorrent") >= 1
    assert (tmp_path / "libtorrent" / "vault.bin").read_bytes() == payload
    torrent_file = tmp_path / "vault.torrent"
    torrent_file.write_bytes(metainfo)
    downloaded = tmp_path / "rtorrent" / "downloads" / "vault.bin"
    with rtorrent_downloading(torrent_file, tmp_path / "rtorrent") as rtorrent:

        def rtorrent_has_it() -> bool:
            rtorrent.assert_running()
            return downloaded.exists() and downloaded.read_bytes() == payload

        wait_until(rtorrent_has_it, timeout=120, what="rtorrent to download the private release")

    # A regenerated passkey: the old one opens nothing from the trackers' next refresh.
    assert b"peers" in tracker_answer(announce_url, member_key, info_hash)
    regenerate_passkey(member)
    wait_until(
        lambda: tracker_answer(announce_url, member_key, info_hash) == refused,
        timeout=10,
        what="the tracker to refuse the old passkey",
    )
