"""The statistics page after real downloads: six libtorrent clients through runtracker, a forged and
a repeated ``completed``, direct downloads whole and by ranges, the web seed; with each swarm store.

The page is then drawn in Chromium: its byte axis must read in distinct binary units.
"""

import os
import urllib.request
from pathlib import Path

import libtorrent as lt
import pytest
import redis
from django.conf import settings
from django.db import connection
from django.urls import reverse

from distribution.models import ReleaseTotals, SwarmSample, Torrent
from harness.libtorrent_peers import add_torrent, client_session, make_torrent
from harness.polling import wait_until
from tests.browser.conftest import ARTIFACTS, browser, signed_in_page  # noqa: F401  (a fixture)
from tests.factories import ReleaseFactory, ReleaseFileFactory
from tests.tracker.conftest import announce_query
from tests.tracker.test_libtorrent_swarm import scrape
from tracker.statistics_flush import configured_swarm_store, flush_statistics

pytestmark = pytest.mark.slow

# 20 pieces of 64 KiB; 40 % of it is a whole number of bytes.
SIZE = 20 * 64 * 1024
CLIENTS = 6


@pytest.fixture(params=["memory", "redis"])
def store_kind(request, settings) -> str:
    if request.param == "memory":
        settings.REDIS_URL = None
    elif not settings.REDIS_URL:
        pytest.skip("REDIS_URL is unset")
    return request.param


@pytest.fixture
def release(settings, tmp_path):
    settings.RELEASES_DIR = tmp_path / "releases"
    # Whatever the swarm, the web seed answers at once: the test measures counts, not pacing.
    for name in ("RATE", "RELEASE_RATE", "HELD_RATE", "HELD_RELEASE_RATE"):
        setattr(settings, f"FANOUT_WEBSEED_{name}", 0)
    release = ReleaseFactory(content_name="stats.bin", is_single_file=True, version="6.0")
    path = release.disk_path("stats.bin")
    path.parent.mkdir(parents=True)
    path.write_bytes(os.urandom(SIZE))
    ReleaseFileFactory(release=release, path="stats.bin", size=SIZE)
    return release


def get(url: str, *, byte_range: str | None = None) -> bytes:
    headers = {"Range": f"bytes={byte_range}"} if byte_range else {}
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=30) as answer:
        return answer.read()


def test_the_page_counts_what_real_clients_and_http_downloads_did(
    store_kind,
    release,
    start_tracker,
    live_server,
    client,
    admin_user,
    browser,  # noqa: F811  (the fixture imported above)
    tmp_path,
):
    tracker = start_tracker(FANOUT_TRACKER_STATS_FLUSH_SECONDS="1", REDIS_URL=settings.REDIS_URL or "")
    content = release.disk_path("stats.bin")
    metainfo = make_torrent(content, announce_url=tracker.announce_url)
    info_hash = lt.torrent_info(metainfo).info_hashes().v1.to_bytes()
    Torrent.objects.create(
        release=release,
        info_hash_v1=info_hash.hex(),
        piece_length=64 * 1024,
        piece_count=20,
        metainfo=metainfo,
        magnet_uri="magnet:?",
    )
    store = configured_swarm_store()

    def totals() -> ReleaseTotals:
        """The release's totals once the statistics are written: by runtracker itself with the
        memory store, by the Celery beat task (here, the test) with Redis."""
        if store_kind == "redis":
            flush_statistics(store)
        return ReleaseTotals.objects.filter(release=release).first() or ReleaseTotals(release=release)

    try:
        wait_until(lambda: scrape(tracker, info_hash), timeout=10, what="the tracker to take the release up")
        seed = client_session()
        add_torrent(seed, metainfo, content.parent, seed=True)
        sessions = [client_session() for _ in range(CLIENTS)]
        downloads = [
            add_torrent(session, metainfo, tmp_path / f"client{n}") for n, session in enumerate(sessions)
        ]
        wait_until(
            lambda: all(d.status().is_seeding for d in downloads), timeout=60, what="six clients to finish"
        )
        for n in range(CLIENTS):
            assert (tmp_path / f"client{n}" / "stats.bin").read_bytes() == content.read_bytes()
        wait_until(lambda: totals().completed == CLIENTS, timeout=15, what="six completed downloads counted")

        # A forged completed (a peer never seen leeching), and a repeat of the first client's.
        announce = tracker.announce_url + "?"
        forged = announce_query(
            info_hash, peer_id=b"-XX0001-forgedforged", port=1999, event="completed", left=0
        )
        get(announce + forged.decode())
        repeat = announce_query(
            info_hash,
            peer_id=b"-XX0001-repeatrepeat",
            port=sessions[0].listen_port(),
            event="completed",
            left=0,
        )
        get(announce + repeat.decode())
        assert scrape(tracker, info_hash)[b"downloaded"] == CLIENTS
        samples = SwarmSample.objects.filter(release=release).count()

        def flushes_since() -> int:
            totals()
            return SwarmSample.objects.filter(release=release).count() - samples

        wait_until(lambda: flushes_since() >= 2, timeout=15, what="two more flushes")
        assert totals().completed == CLIENTS

        # Over HTTP: one whole direct download, one in two ranges, 40 % of one; the web seed's
        # bytes went to BitTorrent clients and are not HTTP downloads.
        file_url = live_server.url + release.files.get().download_url
        assert get(file_url) == content.read_bytes()
        assert (
            len(get(file_url, byte_range=f"0-{SIZE // 2 - 1}") + get(file_url, byte_range=f"{SIZE // 2}-"))
            == SIZE
        )
        assert len(get(file_url, byte_range=f"0-{SIZE * 2 // 5 - 1}")) == SIZE * 2 // 5
        web_seed_url = live_server.url + reverse("release-webseed", args=[release.pk, "stats.bin"])
        assert get(web_seed_url) == content.read_bytes()

        # The server counts a response once it has sent its last byte, a moment after the client has it.
        wait_until(
            lambda: totals().http_bytes == SIZE * 12 // 5 + SIZE, timeout=10, what="the HTTP bytes counted"
        )
        final = totals()
        client.force_login(admin_user)
        page = client.get(reverse("release-stats", args=[release.pk])).content.decode()
        assert 'data-testid="total-completed">6<' in page
        assert 'data-testid="http-downloads">2.4<' in page
        assert 'data-testid="total-downloads">8.4<' in page
        assert final.web_seed_bytes == SIZE
        # The release page shows the swarm the catalogue does, from the same flush.
        assert (
            f'data-testid="seeders">{final.seeders}<'
            in client.get(release.get_absolute_url()).content.decode()
        )
        assert final.seeders == scrape(tracker, info_hash)[b"complete"]

        shown = stats_page_in_browser(browser, live_server, admin_user, release, name=f"stats-{store_kind}")
        for ticks in shown.values():
            assert len(ticks) >= 2 and len(set(ticks)) == len(ticks), shown
        assert all(tick.endswith("MiB") for tick in shown["chart-bytes"]), shown
    finally:
        if store_kind == "redis":
            client_redis = redis.Redis.from_url(settings.REDIS_URL)
            prefix = f"fanout:tracker:{connection.settings_dict['NAME']}:"
            keys = list(client_redis.scan_iter(match=prefix + "*"))
            if keys:
                client_redis.delete(*keys)


def stats_page_in_browser(browser, live_server, user, release, *, name: str) -> dict[str, list[str]]:  # noqa: F811
    """The tick labels of each chart's value axis; the page is saved as a screenshot."""
    page = signed_in_page(browser, live_server, user)
    page.goto(reverse("release-stats", args=[release.pk]))
    page.wait_for_function("document.body.dataset.chartsDrawn === '3'")
    directory = Path(os.environ.get("FANOUT_SCREENSHOTS_DIR") or ARTIFACTS)
    directory.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(directory / f"{name}.png"), full_page=True)
    ticks = page.evaluate(
        "Object.fromEntries(['chart-downloads', 'chart-swarm', 'chart-bytes']"
        ".map(id => [id, Chart.getChart(id).scales.y.ticks.map(t => t.label)]))"
    )
    page.context.close()
    return ticks
