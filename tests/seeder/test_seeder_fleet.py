"""Several nodes: registration, origin bytes from heartbeats, shares of releases, demand from scrapes."""

from datetime import timedelta

import pytest
from django.utils import timezone

from bittorrent import bencode
from distribution.models import ReleaseDayStats
from seeder import demand, selectors, services
from seeder.models import SeederNode, Seeding
from seeder.session import TorrentReport
from tests.factories import ReleaseFactory

pytestmark = pytest.mark.django_db


def report(release, *, uploaded_bytes=0, error="", peers=0) -> TorrentReport:
    return TorrentReport(
        release_id=release.pk,
        checking=False,
        announced=True,
        error=error,
        uploaded_bytes=uploaded_bytes,
        upload_rate=0,
        peers=peers,
    )


def origin_bytes(release) -> int:
    return sum(ReleaseDayStats.objects.filter(release=release).values_list("origin_bytes", flat=True))


def register(name: str, **kwargs) -> SeederNode:
    return services.register_node(name=name, listen_port=6881, version="test", **kwargs)


def test_a_node_registers_its_address_version_and_share():
    node = register("origin-1", listen_host="seeder-1.example.com", copies=2)

    node.refresh_from_db()
    assert node.listen_address == "seeder-1.example.com:6881"
    assert (node.version, node.copies, node.is_alive) == ("test", 2, True)


def test_a_node_that_stops_sending_heartbeats_is_down():
    node = register("origin-1")
    SeederNode.objects.filter(pk=node.pk).update(last_heartbeat_at=timezone.now() - timedelta(minutes=1))

    node.refresh_from_db()
    assert not node.is_alive


def test_heartbeats_add_what_the_upload_counter_grew_by_to_origin_bytes():
    node = register("origin-1")
    release = ReleaseFactory()

    for uploaded in (1000, 1000, 5000):
        services.record_heartbeat(node=node, reports=[report(release, uploaded_bytes=uploaded)])

    assert origin_bytes(release) == 5000


def test_origin_bytes_survive_a_restart_without_counting_twice():
    node = register("origin-1")
    release = ReleaseFactory()
    services.record_heartbeat(node=node, reports=[report(release, uploaded_bytes=8000)])

    # Restarted from resume data saved at 6000: the 2000 after it are lost, not counted again.
    node = register("origin-1")
    services.record_heartbeat(node=node, reports=[report(release, uploaded_bytes=6000)])
    services.record_heartbeat(node=node, reports=[report(release, uploaded_bytes=9000)])

    assert origin_bytes(release) == 8000 + 3000


def test_each_node_counts_its_own_upload():
    first, second = register("origin-1"), register("origin-2")
    release = ReleaseFactory()

    services.record_heartbeat(node=first, reports=[report(release, uploaded_bytes=100)])
    services.record_heartbeat(node=second, reports=[report(release, uploaded_bytes=50)])

    assert origin_bytes(release) == 150


def test_a_release_seeded_again_from_scratch_counts_from_zero():
    node = register("origin-1")
    release, other = ReleaseFactory.create_batch(2)
    services.record_heartbeat(node=node, reports=[report(release, uploaded_bytes=700)])
    services.record_heartbeat(node=node, reports=[report(other)])  # let go: its counter is gone

    services.record_heartbeat(node=node, reports=[report(other), report(release, uploaded_bytes=300)])

    assert origin_bytes(release) == 1000


def test_a_node_wide_fault_is_recorded_and_cleared():
    node = register("origin-1")

    services.record_heartbeat(node=node, reports=[], node_error="cannot store resume data: No space left")
    node.refresh_from_db()
    assert node.error_message == "cannot store resume data: No space left"

    services.record_heartbeat(node=node, reports=[])
    node.refresh_from_db()
    assert node.error_message == ""


def test_unhealthy_releases_are_those_a_live_node_cannot_serve():
    node = register("origin-1")
    healthy, broken = ReleaseFactory.create_batch(2)

    services.record_heartbeat(
        node=node, reports=[report(healthy), report(broken, error="1 of 4 pieces missing")]
    )

    assert selectors.unhealthy_releases() == {broken.pk: "1 of 4 pieces missing"}


def test_every_release_is_seeded_by_the_configured_number_of_nodes():
    names = [f"origin-{n}" for n in range(5)]
    for name in names:
        register(name, copies=2)
    release_ids = range(1, 201)

    shares = {name: selectors.releases_for_node(name, release_ids, copies=2) for name in names}

    for release_id in release_ids:
        assert sum(release_id in share for share in shares.values()) == 2
    # Spread out: each of 5 nodes seeds about 2/5 of them.
    assert all(50 <= len(share) <= 110 for share in shares.values())


def test_a_node_going_down_moves_only_its_own_releases():
    names = [f"origin-{n}" for n in range(4)]
    for name in names:
        register(name, copies=1)
    release_ids = range(1, 101)
    before = {name: selectors.releases_for_node(name, release_ids, copies=1) for name in names}

    SeederNode.objects.filter(name="origin-3").update(last_heartbeat_at=timezone.now() - timedelta(minutes=5))
    after = {name: selectors.releases_for_node(name, release_ids, copies=1) for name in names[:3]}

    assert set().union(*after.values()) == set(release_ids)
    for name in names[:3]:
        assert before[name] <= after[name]


def test_live_seeders_per_release_counts_seeding_nodes():
    first, second = register("origin-1"), register("origin-2")
    release = ReleaseFactory()
    services.record_heartbeat(node=first, reports=[report(release)])
    services.record_heartbeat(node=second, reports=[report(release)])

    assert selectors.live_seeders_per_release() == {release.pk: 2}
    assert Seeding.objects.filter(release=release).count() == 2


@pytest.mark.parametrize(
    ("announce", "scrape"),
    [
        ("http://tracker:6969/announce", "http://tracker:6969/scrape"),
        ("http://t/x/announce.php?k=1", "http://t/x/scrape.php?k=1"),
        ("http://tracker:6969/announce/0123abcd", "http://tracker:6969/scrape/0123abcd"),
        ("http://t/a", None),
        ("http://t/a/b", None),
    ],
)
def test_the_scrape_url_follows_bep_48_and_our_passkey_urls(announce, scrape):
    assert demand.scrape_url(announce) == scrape


def test_a_swarm_needs_the_origin_when_leechers_wait_and_no_one_else_is_complete():
    assert demand.needs_origin(demand.SwarmFigures(complete=1, incomplete=3), our_seeders=1)
    assert not demand.needs_origin(demand.SwarmFigures(complete=2, incomplete=3), our_seeders=1)
    assert not demand.needs_origin(demand.SwarmFigures(complete=1, incomplete=0), our_seeders=1)


def test_demand_reads_the_trackers_scrape(monkeypatch):
    needy_hash, served_hash, idle_hash = b"n" * 20, b"s" * 20, b"i" * 20
    body = bencode.encode(
        {
            b"files": {
                needy_hash: {b"complete": 1, b"incomplete": 4, b"downloaded": 0},
                served_hash: {b"complete": 3, b"incomplete": 4, b"downloaded": 2},
                idle_hash: {b"complete": 1, b"incomplete": 0, b"downloaded": 0},
            }
        }
    )
    asked = []

    class Answer:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def read(self):
            return body

    def urlopen(url, timeout):
        asked.append(url)
        return Answer()

    monkeypatch.setattr(demand.urllib.request, "urlopen", urlopen)

    needy, stalled = demand.read_demand(
        "http://t/scrape",
        {1: needy_hash, 2: served_hash, 3: idle_hash},
        our_seeders={1: 1, 2: 1, 3: 1},
        peers={1: 0, 2: 5},
    )

    assert (needy, stalled) == ({1}, {1})
    assert asked[0].startswith("http://t/scrape?info_hash=") and "info_hash=nnnn" in asked[0]


def test_demand_is_empty_when_the_tracker_cannot_be_asked():
    assert demand.read_demand("http://127.0.0.1:1/scrape", {1: b"x" * 20}, our_seeders={}, peers={}) == (
        set(),
        set(),
    )
