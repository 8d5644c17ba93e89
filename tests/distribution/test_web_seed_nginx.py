"""The web seed policy behind the production front: deploy/nginx.conf sends the bytes at Django's pace."""

import os
import time
import urllib.request

import libtorrent as lt
import pytest
from django.urls import reverse

from distribution.models import ReleaseDayStats, ReleaseTotals
from distribution.statistics import add_release_counts
from harness.libtorrent_peers import TEST_PIECE_LENGTH, add_torrent, client_session
from harness.loopback import free_port
from harness.polling import wait_until
from harness.web_front import NGINX, start_nginx
from tests.factories import ReleaseFactory, ReleaseFileFactory

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(NGINX is None, reason="nginx is not installed (apt-get install nginx)"),
]

KIB = 1024
SIZE = 3 * 1024 * KIB + 12345


@pytest.fixture
def front(live_server, settings, tmp_path):
    """nginx on a free port in front of the live server, which answers as `web` does in docker-compose."""
    settings.DATA_DIR = tmp_path
    settings.RELEASES_DIR = tmp_path / "releases"
    settings.FANOUT_X_ACCEL_REDIRECT = "/protected/"
    port = free_port()
    process = start_nginx(
        listen_port=port,
        upstream=live_server.url.removeprefix("http://"),
        data_dir=tmp_path,
        workdir=tmp_path / "nginx",
    )
    settings.FANOUT_PUBLIC_URL = f"http://127.0.0.1:{port}"
    yield settings.FANOUT_PUBLIC_URL
    process.stop()


@pytest.fixture
def release():
    release = ReleaseFactory(content_name="atlas.bin", is_single_file=True)
    path = release.disk_path("atlas.bin")
    path.parent.mkdir(parents=True)
    path.write_bytes(os.urandom(SIZE))
    ReleaseFileFactory(release=release, path="atlas.bin", size=SIZE)
    return release


def seconds_to_fetch(url: str, length: int) -> float:
    started = time.monotonic()
    request = urllib.request.Request(url, headers={"Range": f"bytes=0-{length - 1}"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        assert answer.status == 206 and len(answer.read()) == length
    return time.monotonic() - started


def test_nginx_keeps_the_pace_of_a_held_back_web_seed_and_not_of_direct_downloads(front, release, settings):
    settings.FANOUT_WEBSEED_HELD_RATE = 16 * KIB
    seed = front + reverse("release-webseed", args=[release.pk, "atlas.bin"])
    direct = front + reverse("release-file", args=[release.pk, "atlas.bin"])
    add_release_counts(release_id=release.pk, counts={"torrent_fetches": 1})
    assert seconds_to_fetch(seed, 64 * KIB) < 1

    # A finished peer besides ours joins the swarm.
    ReleaseTotals.objects.filter(release=release).update(seeders=1, leechers=3)

    # 128 KiB at 16 KiB/s: 8 s, less nginx's head start (it sends a few seconds' worth at once).
    assert seconds_to_fetch(seed, 128 * KIB) > 4
    assert seconds_to_fetch(direct, 64 * KIB) < 1


def test_a_lone_client_with_no_other_source_downloads_through_nginx_at_full_rate(
    front, release, settings, tmp_path
):
    # Were the web seed held back, these bytes would take an hour.
    settings.FANOUT_WEBSEED_HELD_RATE = settings.FANOUT_WEBSEED_HELD_RELEASE_RATE = KIB
    creator = lt.create_torrent(
        lt.list_files(str(release.disk_path("atlas.bin"))), TEST_PIECE_LENGTH, lt.create_torrent.v1_only
    )
    creator.add_url_seed(release.web_seed_url)
    lt.set_piece_hashes(creator, str(release.content_dir))
    session = client_session(alert_mask=lt.alert.category_t.error_notification)

    handle = add_torrent(session, lt.bencode(creator.generate()), tmp_path / "client")

    try:
        wait_until(lambda: handle.status(0).is_seeding, timeout=60, what="the download through nginx")
    finally:
        print(
            "web seed errors:",
            [a.message() for a in session.pop_alerts() if isinstance(a, lt.url_seed_alert)],
        )
        print("nginx:", (tmp_path / "nginx" / "error.log").read_text())
    assert (tmp_path / "client" / "atlas.bin").read_bytes() == release.disk_path("atlas.bin").read_bytes()
    # nginx reports each response once it is done with it, a moment after the client has its bytes.
    wait_until(
        lambda: ReleaseDayStats.objects.filter(release=release, http_bytes__gte=SIZE).exists(),
        timeout=10,
        what="nginx's reports of the web seed's bytes",
    )
