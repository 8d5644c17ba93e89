"""The catalogue, release page, statistics and dashboard in a real browser (Debian's Chromium, headless).

Search, open a release and download its .torrent; see the statistics' charts
drawn; watch the dashboard change when a new peer announces to the tracker.
Each page's screenshot is kept in test-artifacts/browser/.
"""

import datetime
import urllib.request
from pathlib import Path
from urllib.parse import quote_from_bytes

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from distribution.models import SwarmSample
from distribution.statistics import add_release_counts, record_swarm_samples
from tests.browser.conftest import ARTIFACTS, needs_chromium, sync_api
from tests.distribution.catalogue_data import make_release
from tests.factories import ProductFactory
from tracker.tasks import flush_tracker_statistics

pytestmark = [pytest.mark.django_db(transaction=True), needs_chromium]


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(
        base_url=live_server.url, accept_downloads=True, viewport={"width": 1280, "height": 900}
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    # Stop the dashboard's polling before the session's live server and database go away.
    page.goto("about:blank")
    context.close()


def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def log_in(page, live_server, user) -> None:
    client = Client()
    client.force_login(user)
    host = live_server.url.split("//")[1].split(":")[0]
    page.context.add_cookies(
        [
            {
                "name": settings.SESSION_COOKIE_NAME,
                "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                "domain": host,
                "path": "/",
            }
        ]
    )


def announce(live_server, release, peer: bytes, port: int) -> None:
    info_hash = bytes.fromhex(release.torrent.info_hash_v1)
    query = (
        f"info_hash={quote_from_bytes(info_hash)}&peer_id={quote_from_bytes(peer.ljust(20, b'-'))}"
        f"&port={port}&uploaded=0&downloaded=0&left=1024&compact=1&event=started"
    )
    with urllib.request.urlopen(f"{live_server.url}/announce?{query}", timeout=10) as response:
        assert b"failure" not in response.read()


def test_search_open_and_download_a_torrent(page, live_server):
    atlas = ProductFactory(name="Atlas", slug="atlas")
    release = make_release(
        product=atlas,
        version="2.4.0",
        notes="## Highlights\n\n- **Faster** tiles",
        files=(("atlas-2.4.0.iso", 700 * 1024**2), ("README.txt", 2048)),
    )
    make_release(product=ProductFactory(name="Zephyr", slug="zephyr"), version="1.0")
    record_swarm_samples([SwarmSample(release=release, seeders=5, leechers=2)])

    page.goto("/")
    screenshot(page, "catalogue")
    page.get_by_label("Search").fill("atlas")
    page.get_by_role("button", name="Search").click()
    page.wait_for_url("**/?q=atlas**")
    rows = page.get_by_test_id("catalogue-row")
    sync_api.expect(rows).to_have_count(1)
    sync_api.expect(rows.first).to_contain_text("▲ 5")
    screenshot(page, "catalogue-search")

    rows.first.get_by_role("link", name="Atlas 2.4.0").click()
    sync_api.expect(page.get_by_role("heading", name="Highlights")).to_be_visible()
    sync_api.expect(page.get_by_test_id("seeders")).to_have_text("5")
    screenshot(page, "release")
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download .torrent").click()
    download = download_info.value
    assert download.suggested_filename == "atlas-2.4.0.torrent"
    assert Path(download.path()).read_bytes() == bytes(release.torrent.metainfo)


def test_the_statistics_page_draws_its_charts(page, live_server, admin_user):
    release = make_release(version="5.0")
    # Created 29 days ago: the page starts on that day.
    release.created_at = timezone.now() - datetime.timedelta(days=29)
    release.save(update_fields=["created_at"])
    today = timezone.now().date()
    for days_ago in range(30):
        add_release_counts(
            release_id=release.pk,
            day=today - datetime.timedelta(days=days_ago),
            counts={
                "completed": 30 - days_ago,
                "torrent_fetches": 40 - days_ago,
                "origin_bytes": 10**9,
                "reported_downloaded_bytes": (30 - days_ago) * 10**9,
            },
        )
        SwarmSample.objects.create(
            release=release,
            taken_at=timezone.now() - datetime.timedelta(days=days_ago),
            seeders=days_ago % 7 + 1,
            leechers=days_ago % 5,
        )
    log_in(page, live_server, admin_user)

    page.goto(f"/releases/{release.pk}/stats")

    page.wait_for_function("document.body.dataset.chartsDrawn === '3'")
    drawn = page.evaluate(
        "['chart-downloads', 'chart-swarm', 'chart-bytes'].map(id => Chart.getChart(id).data.datasets.length)"
    )
    assert drawn == [4, 2, 2]
    assert page.get_by_test_id("stats-table").locator("tbody tr").count() == 30
    screenshot(page, "release-stats")


def test_the_dashboard_updates_when_a_new_peer_announces(page, live_server, admin_user, settings):
    settings.FANOUT_TRACKER_WHITELIST_REFRESH = 0
    settings.FANOUT_TRACKER_STATS_FLUSH_SECONDS = 0
    release = make_release(version="7.0")
    log_in(page, live_server, admin_user)
    page.goto("/dashboard/")
    sync_api.expect(page.get_by_test_id("total-leechers")).to_have_text("0")
    screenshot(page, "dashboard-before")

    # Without Redis the in-process tracker writes its statistics (a swarm sample) before
    # answering each announce: the second announce flushes the first peer into the database.
    # With Redis the beat's task takes them, as it would within FANOUT_TRACKER_STATS_FLUSH_SECONDS.
    announce(live_server, release, b"-FO0001-first", 51001)
    announce(live_server, release, b"-FO0001-second", 51002)
    if settings.REDIS_URL:
        flush_tracker_statistics()

    sync_api.expect(page.get_by_test_id("total-leechers")).not_to_have_text("0", timeout=15_000)
    row = page.locator(f'[data-release="{release.pk}"]')
    sync_api.expect(row.get_by_test_id("row-leechers")).not_to_have_text("0")
    assert page.url.endswith("/dashboard/")  # refreshed in place, not reloaded
    screenshot(page, "dashboard-after")
