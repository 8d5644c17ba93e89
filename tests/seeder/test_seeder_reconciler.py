"""One reconcile at a time, in this process, against a real libtorrent session."""

import time

import pytest

from distribution.models import Release, Torrent
from seeder import services
from seeder.models import Seeding
from seeder.reconciler import Reconciler
from seeder.session import SeedingSession
from tests.conftest import free_port
from tests.factories import ReleaseFactory
from tests.seeder.libtorrent_peer import wait_until

pytestmark = pytest.mark.django_db


@pytest.fixture
def reconciler(tmp_path):
    node = services.register_node(name="origin-1", listen_port=6881, version="test")
    with SeedingSession(port=free_port(), upload_limit=0, state_dir=tmp_path / "state") as session:
        yield Reconciler(session=session, node=node)


def states_after_reconciling(reconciler: Reconciler) -> dict[int, str]:
    reconciler.reconcile()
    return dict(Seeding.objects.values_list("release_id", "state"))


def test_it_seeds_more_releases_than_libtorrents_default_queue_allows(reconciler, make_release):
    # libtorrent seeds 5 auto-managed torrents at once by default: its queue
    # pauses the others within a second or two of their start.
    releases = [make_release(size=100_000) for _ in range(7)]
    all_seeding = {release.pk: Seeding.State.SEEDING for release in releases}
    wait_until(lambda: states_after_reconciling(reconciler) == all_seeding, what="all seven to seed")

    for _ in range(12):
        time.sleep(0.25)
        assert states_after_reconciling(reconciler) == all_seeding


def refused_release() -> Release:
    release = ReleaseFactory()
    Torrent.objects.create(
        release=release,
        info_hash_v1="0" * 40,
        piece_length=1,
        piece_count=1,
        metainfo=b"garbage",
        magnet_uri="",
    )
    return release


def test_it_reports_a_torrent_libtorrent_refuses(reconciler):
    release = refused_release()

    reconciler.reconcile()
    reconciler.reconcile()

    seeding = Seeding.objects.get(release=release)
    assert seeding.state == Seeding.State.ERROR
    assert seeding.error_message.startswith("libtorrent refused the torrent: expected value")


def test_it_forgets_a_refused_torrent_once_its_release_is_retired(reconciler):
    release = refused_release()
    reconciler.reconcile()

    release.mark_retired()
    reconciler.reconcile()

    assert not Seeding.objects.exists()
    assert reconciler.add_errors == {}
