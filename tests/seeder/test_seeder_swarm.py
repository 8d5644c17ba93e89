"""Whole swarms on loopback: our tracker and seeder with libtorrent and rtorrent clients; web seeds."""

import io
import os
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlencode

import libtorrent as lt
import pytest
from django.urls import reverse

from distribution import access, services
from distribution.models import Passkey, Release, ReleaseDayStats
from harness.libtorrent_peers import add_torrent, client_session
from harness.loopback import free_port
from harness.polling import wait_until
from harness.rtorrent import RTORRENT, rtorrent_downloading
from seeder.selectors import release_is_seeded
from tests.factories import ProductFactory, UserFactory
from tests.tracker.conftest import start_tracker  # noqa: F401  (a fixture)

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

MIB = 1024 * 1024
LAYOUT = {"bin/app.bin": 3 * MIB + 5, "data/table.csv": 2 * MIB + 777, "README.txt": 1234}


def assert_same_files(release, downloaded_root: Path) -> None:
    for path in LAYOUT:
        assert (downloaded_root / release.content_name / path).read_bytes() == release.disk_path(
            path
        ).read_bytes()


def test_clients_download_a_release_from_our_seeder_through_our_tracker(
    start_tracker,  # noqa: F811
    start_seeder,
    make_multi_file_release,
    tmp_path,
):
    tracker = start_tracker()
    release = make_multi_file_release(announce_url=tracker.announce_url, sizes=LAYOUT)
    seeder = start_seeder(FANOUT_ANNOUNCE_URL=tracker.announce_url)
    wait_until(lambda: release_is_seeded(release.pk), what="the tracker to know the seeder", timeout=60)
    metainfo = bytes(release.torrent.metainfo)

    sessions = [client_session(upload_rate=2 * MIB) for _ in range(4)]
    handles = [add_torrent(session, metainfo, tmp_path / f"client-{n}") for n, session in enumerate(sessions)]

    wait_until(
        lambda: all(h.status(0).is_seeding for h in handles), timeout=120, what="every client to finish"
    )
    for n in range(len(sessions)):
        assert_same_files(release, tmp_path / f"client-{n}")
    size = sum(LAYOUT.values())
    # Counted into the release's statistics from the seeder's heartbeats.
    wait_until(
        lambda: (
            sum(ReleaseDayStats.objects.filter(release=release).values_list("origin_bytes", flat=True))
            >= size
        ),
        what="the origin bytes to be counted",
    )
    assert seeder.process.process.poll() is None


def test_a_client_with_no_peer_completes_from_the_web_seed(live_server, make_multi_file_release, tmp_path):
    # The tracker in the torrent does not answer: the web seed is the only source.
    release = make_multi_file_release(
        announce_url=f"http://127.0.0.1:{free_port()}/announce", sizes=LAYOUT, web_seed_root=live_server.url
    )
    session = client_session()

    handle = add_torrent(session, bytes(release.torrent.metainfo), tmp_path)

    wait_until(lambda: handle.status(0).is_seeding, timeout=120, what="the download from the web seed")
    assert_same_files(release, tmp_path)
    stats = ReleaseDayStats.objects.get(release=release)
    assert stats.http_requests >= len(LAYOUT)
    assert stats.http_bytes >= sum(LAYOUT.values())


def test_a_private_release_downloads_from_the_users_web_seed_until_their_passkey_changes(
    live_server, client, settings, tmp_path
):
    # No tracker answers and no seeder runs: the user's personal web seed is the only source.
    settings.FANOUT_PUBLIC_URL = live_server.url
    settings.FANOUT_ANNOUNCE_URL = f"http://127.0.0.1:{free_port()}/announce"
    release = services.create_release(
        product=ProductFactory(slug="vault"),
        version="1.0",
        visibility=Release.Visibility.PRIVATE,
        files=[
            services.IncomingFile(path=path, size=size, source=io.BytesIO(os.urandom(size)))
            for path, size in LAYOUT.items()
        ],
    )
    services.build_release_torrent(release_id=release.pk)
    release.refresh_from_db()
    user = UserFactory()
    client.force_login(user)
    metainfo = client.get(reverse("release-torrent", args=[release.pk])).content
    old_web_seed = access.personal_web_seed_url(release, Passkey.for_user(user).key)
    assert lt.bdecode(metainfo)[b"url-list"] == old_web_seed.encode()

    session = client_session()
    handle = add_torrent(session, metainfo, tmp_path / "first")
    wait_until(lambda: handle.status(0).is_seeding, timeout=120, what="the download from the web seed")
    assert_same_files(release, tmp_path / "first")
    served = ReleaseDayStats.objects.get(release=release).http_bytes
    assert served >= sum(LAYOUT.values())

    access.regenerate_passkey(user)
    session = client_session(alert_mask=lt.alert.category_t.error_notification)
    handle = add_torrent(session, metainfo, tmp_path / "second")

    def web_seed_refused() -> bool:
        # The URL of the file asked for: the web seed's, with <name>/<path> after it.
        failed = [a.server_url() for a in session.pop_alerts() if isinstance(a, lt.url_seed_alert)]
        return any(url.startswith(old_web_seed) for url in failed)

    wait_until(web_seed_refused, timeout=60, what="the old web seed URL to be refused")
    time.sleep(1)
    assert handle.status().total_done == 0
    assert ReleaseDayStats.objects.get(release=release).http_bytes == served


@pytest.mark.skipif(RTORRENT is None, reason="rtorrent is not installed (apt-get install rtorrent)")
def test_rtorrent_downloads_a_multi_file_release_byte_exact(
    start_tracker,  # noqa: F811
    start_seeder,
    make_multi_file_release,
    tmp_path,
):
    tracker = start_tracker()
    release = make_multi_file_release(announce_url=tracker.announce_url, sizes=LAYOUT)
    start_seeder(FANOUT_ANNOUNCE_URL=tracker.announce_url)
    wait_until(lambda: release_is_seeded(release.pk), what="the tracker to know the seeder", timeout=60)
    torrent_file = tmp_path / "release.torrent"
    torrent_file.write_bytes(bytes(release.torrent.metainfo))
    with rtorrent_downloading(torrent_file, tmp_path / "rtorrent") as rtorrent:

        def complete() -> bool:
            rtorrent.assert_running()
            try:
                assert_same_files(release, tmp_path / "rtorrent" / "downloads")
            except (AssertionError, FileNotFoundError):
                return False
            return True

        wait_until(complete, timeout=120, what="rtorrent to download the release")


def test_a_stalled_swarm_is_noticed_and_served_without_anyone_asking(
    start_tracker,  # noqa: F811
    start_seeder,
    make_multi_file_release,
    tmp_path,
):
    tracker = start_tracker()
    release = make_multi_file_release(announce_url=tracker.announce_url, sizes=LAYOUT)
    start_seeder(FANOUT_ANNOUNCE_URL=tracker.announce_url, FANOUT_SEEDER_DEMAND_INTERVAL="1")
    wait_until(lambda: release_is_seeded(release.pk), what="the tracker to know the seeder", timeout=60)
    # A leecher the seeder has not heard of: it announced once (after the seeder, which
    # will not announce again for half an hour), and it cannot reach out itself.
    session = client_session()
    metainfo = lt.bdecode(bytes(release.torrent.metainfo))
    for key in (b"announce", b"announce-list", b"url-list"):
        metainfo.pop(key, None)
    handle = add_torrent(session, lt.bencode(metainfo), tmp_path)
    query = urlencode(
        {
            "info_hash": handle.torrent_file().info_hashes().v1.to_bytes(),
            "peer_id": b"-XX0001-stalledswarm",
            "port": session.listen_port(),
            "uploaded": 0,
            "downloaded": 0,
            "left": sum(LAYOUT.values()),
            "event": "started",
            "compact": 1,
        }
    )
    with urllib.request.urlopen(f"{tracker.announce_url}?{query}", timeout=5) as answer:
        answer.read()

    wait_until(lambda: handle.status(0).is_seeding, timeout=90, what="the seeder to find the leecher")
    assert_same_files(release, tmp_path)
