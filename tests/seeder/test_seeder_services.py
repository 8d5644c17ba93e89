"""Node registration, heartbeats and stopping, and what `release_is_seeded` makes of them."""

from datetime import timedelta

import pytest
from django.utils import timezone

from seeder import services
from seeder.models import SeederNode, Seeding
from seeder.selectors import release_is_seeded
from seeder.session import TorrentReport
from tests.factories import ReleaseFactory

pytestmark = pytest.mark.django_db


def report(
    release, *, checking=False, announced=True, error="", uploaded_bytes=0, upload_rate=0
) -> TorrentReport:
    return TorrentReport(
        release_id=release.pk,
        checking=checking,
        announced=announced,
        error=error,
        uploaded_bytes=uploaded_bytes,
        upload_rate=upload_rate,
    )


@pytest.fixture
def node() -> SeederNode:
    return services.register_node(name="origin-1", listen_port=6881, version="libtorrent/2.1.1.0")


def test_it_records_what_a_node_seeds(node):
    seeding, checking, broken = ReleaseFactory.create_batch(3)

    services.record_heartbeat(
        node=node,
        reports=[
            report(seeding, uploaded_bytes=5000, upload_rate=300),
            report(checking, checking=True),
            report(broken, error="No such file or directory", upload_rate=20),
        ],
    )

    rows = {row.release_id: row for row in Seeding.objects.filter(node=node)}
    assert rows[seeding.pk].state == Seeding.State.SEEDING
    assert (rows[seeding.pk].uploaded_bytes, rows[seeding.pk].upload_rate) == (5000, 300)
    assert rows[checking.pk].state == Seeding.State.CHECKING
    assert rows[broken.pk].state == Seeding.State.ERROR
    assert rows[broken.pk].error_message == "No such file or directory"
    node.refresh_from_db()
    assert node.upload_rate == 320


def test_it_updates_a_seeding_and_drops_releases_no_longer_reported(node):
    kept, dropped = ReleaseFactory.create_batch(2)
    services.record_heartbeat(node=node, reports=[report(kept, checking=True), report(dropped)])

    services.record_heartbeat(node=node, reports=[report(kept, uploaded_bytes=10)])

    row = Seeding.objects.get(node=node)
    assert (row.release_id, row.state, row.uploaded_bytes) == (kept.pk, Seeding.State.SEEDING, 10)


def test_it_leaves_other_nodes_seedings_alone(node):
    release = ReleaseFactory()
    other = services.register_node(name="origin-2", listen_port=6882, version="libtorrent/2.1.1.0")
    services.record_heartbeat(node=other, reports=[report(release)])

    services.record_heartbeat(node=node, reports=[])

    assert Seeding.objects.filter(node=other, release=release).exists()


def test_it_forgets_an_earlier_run_when_a_node_registers_again(node):
    release = ReleaseFactory()
    services.record_heartbeat(node=node, reports=[report(release)])

    again = services.register_node(name="origin-1", listen_port=7000, version="libtorrent/2.1.1.0")

    assert again.pk == node.pk
    assert again.listen_port == 7000
    assert not release_is_seeded(release.pk)


def test_it_stops_a_node(node):
    release = ReleaseFactory()
    services.record_heartbeat(node=node, reports=[report(release, upload_rate=99)])

    services.stop_node(node=node)

    assert not release_is_seeded(release.pk)
    node.refresh_from_db()
    assert node.upload_rate == 0


def test_it_counts_a_release_seeded_by_a_live_node(node):
    release = ReleaseFactory()

    services.record_heartbeat(node=node, reports=[report(release)])

    assert release_is_seeded(release.pk)


def test_it_does_not_count_a_node_that_missed_its_heartbeats(node):
    release = ReleaseFactory()
    services.record_heartbeat(node=node, reports=[report(release)])

    SeederNode.objects.filter(pk=node.pk).update(last_heartbeat_at=timezone.now() - timedelta(seconds=11))

    assert not release_is_seeded(release.pk)
    node.refresh_from_db()
    assert not node.is_alive


def test_it_does_not_count_a_release_being_checked_unannounced_or_in_error(node):
    checking, unannounced, broken = ReleaseFactory.create_batch(3)

    services.record_heartbeat(
        node=node,
        reports=[
            report(checking, checking=True),
            report(unannounced, announced=False),
            report(broken, error="gone"),
        ],
    )

    assert Seeding.objects.get(release=unannounced).state == Seeding.State.ANNOUNCING
    assert not release_is_seeded(checking.pk)
    assert not release_is_seeded(unannounced.pk)
    assert not release_is_seeded(broken.pk)


def test_it_does_not_count_a_release_no_node_reports(node):
    assert not release_is_seeded(ReleaseFactory().pk)
