"""The web seed in whole swarms on loopback: our tracker and seeder, stock libtorrent clients, the
web seed named in the torrent. Full rate when nothing else can finish a download; held back when a
complete copy is in the swarm, so that the peers take the bytes from each other."""

import time

import libtorrent as lt
import pytest

from distribution.models import ReleaseDayStats
from distribution.web_seed_policy import swarm_facts
from harness.libtorrent_peers import add_torrent, client_session
from harness.polling import wait_until
from tests.tracker.conftest import start_tracker  # noqa: F401  (a fixture)
from tracker.statistics_flush import configured_swarm_store, flush_statistics, flushes_own_statistics

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

KIB = 1024
MIB = 1024 * KIB
LAYOUT = {"bin/app.bin": 3 * MIB + 5, "data/table.csv": 2 * MIB + 777, "README.txt": 1234}
SIZE = sum(LAYOUT.values())
HELD_RATE = 16 * KIB


@pytest.fixture
def tracker(start_tracker):  # noqa: F811
    return start_tracker(FANOUT_TRACKER_STATS_FLUSH_SECONDS="1")


@pytest.fixture
def release(live_server, tracker, make_multi_file_release, settings):
    settings.FANOUT_WEBSEED_HELD_RATE = settings.FANOUT_WEBSEED_HELD_RELEASE_RATE = HELD_RATE
    return make_multi_file_release(
        announce_url=tracker.announce_url, sizes=LAYOUT, web_seed_root=live_server.url
    )


def tracker_figures_are(release, **expected) -> bool:
    """Whether the tracker's latest sample has these figures; moves the sample along with Redis,
    whose statistics the beat task flushes (the memory store's runtracker flushes its own)."""
    store = configured_swarm_store()
    if not flushes_own_statistics(store):
        flush_statistics(store)
    facts = swarm_facts(release.pk)
    return all(getattr(facts, name) == value for name, value in expected.items())


def http_counts(release) -> tuple[int, int]:
    row = ReleaseDayStats.objects.filter(release=release).first()
    return (row.http_requests, row.http_bytes) if row else (0, 0)


def web_seed_failures(session) -> list[str]:
    return [a.message() for a in session.pop_alerts() if isinstance(a, lt.url_seed_alert)]


def test_a_lone_downloader_with_our_seeder_down_completes_from_the_web_seed_at_full_rate(
    release, start_seeder, tracker, tmp_path
):
    seeder = start_seeder(FANOUT_ANNOUNCE_URL=tracker.announce_url)
    wait_until(lambda: swarm_facts(release.pk).origin_seeding, timeout=60, what="our seeder to seed it")
    wait_until(lambda: tracker_figures_are(release, seeders=1), timeout=30, what="the tracker to count it")

    seeder.process.stop()  # it tells the tracker and the database that it stopped
    wait_until(
        lambda: tracker_figures_are(release, seeders=0, origin_seeding=False),
        timeout=30,
        what="the swarm to have no complete copy",
    )
    session = client_session(alert_mask=lt.alert.category_t.error_notification)
    handle = add_torrent(session, bytes(release.torrent.metainfo), tmp_path / "client")

    # Held back at 16 KiB/s, 5 MiB would take five minutes.
    wait_until(lambda: handle.status(0).is_seeding, timeout=120, what="the download from the web seed")
    for path in LAYOUT:
        assert (tmp_path / "client" / release.content_name / path).read_bytes() == release.disk_path(
            path
        ).read_bytes()
    # Every byte came from the web seed: no peer had any to give.
    assert http_counts(release)[1] >= SIZE
    assert handle.status().num_peers == 0
    assert web_seed_failures(session) == []


def test_the_web_seed_holds_back_while_a_peer_besides_our_seeders_has_a_complete_copy(
    release, tracker, tmp_path
):
    # A finished downloader still seeding, at 1 MiB/s: the swarm's one complete copy, and not ours.
    finished = client_session(upload_rate=1 * MIB)
    seeding = add_torrent(finished, bytes(release.torrent.metainfo), release.content_dir, seed=True)

    def counted() -> bool:
        # Its first announce may come before the tracker's next look at the published torrents.
        seeding.force_reannounce()
        time.sleep(0.5)
        return tracker_figures_are(release, seeders=1, origin_seeding=False)

    wait_until(counted, timeout=30, what="the tracker to count the finished peer")
    assert swarm_facts(release.pk).other_complete_copies == 1
    session = client_session(alert_mask=lt.alert.category_t.error_notification)
    handle = add_torrent(session, bytes(release.torrent.metainfo), tmp_path / "client")

    wait_until(lambda: handle.status(0).is_seeding, timeout=120, what="the download from the finished peer")
    requests, web_seed_bytes = http_counts(release)
    seconds = handle.status().active_duration.total_seconds()
    # Asked, answered (not refused: a refusal would lose the web seed for good), and held back.
    assert requests >= 1
    assert web_seed_failures(session) == []
    assert web_seed_bytes <= HELD_RATE * (seconds + 2) < SIZE / 10


def test_the_web_seed_holds_back_while_our_seeder_serves_a_swarm(release, start_seeder, tracker, tmp_path):
    start_seeder(FANOUT_ANNOUNCE_URL=tracker.announce_url, FANOUT_SEEDER_UPLOAD_LIMIT=str(2 * MIB))
    wait_until(lambda: swarm_facts(release.pk).origin_seeding, timeout=60, what="our seeder to seed it")
    sessions = [client_session(upload_rate=1 * MIB) for _ in range(3)]
    handles = [
        add_torrent(session, bytes(release.torrent.metainfo), tmp_path / f"client-{n}")
        for n, session in enumerate(sessions)
    ]

    wait_until(
        lambda: all(h.status(0).is_seeding for h in handles), timeout=120, what="every client to finish"
    )
    requests, web_seed_bytes = http_counts(release)
    seconds = max(h.status().active_duration.total_seconds() for h in handles)
    assert requests >= len(handles)
    assert web_seed_bytes <= len(handles) * HELD_RATE * (seconds + 2) < SIZE / 4
