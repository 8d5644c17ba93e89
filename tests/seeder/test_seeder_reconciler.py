"""One reconcile at a time, in this process, against a real libtorrent session."""

import time

import pytest

from distribution.access import issue_node_credential
from distribution.models import Release, Torrent
from harness.loopback import free_port
from harness.polling import wait_until
from seeder import selectors, services
from seeder.models import Seeding
from seeder.reconciler import Reconciler
from seeder.session import SeedingSession
from tests.factories import ReleaseFactory

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

    release.retire()
    reconciler.reconcile()

    assert not Seeding.objects.exists()
    assert reconciler.add_errors == {}


def test_a_node_with_a_share_seeds_only_its_releases(tmp_path, make_release):
    node = services.register_node(name="origin-1", listen_port=6881, version="test", copies=1)
    services.register_node(name="origin-2", listen_port=6882, version="test", copies=1)
    releases = [make_release(size=20_000) for _ in range(8)]
    mine = selectors.releases_for_node("origin-1", [r.pk for r in releases], copies=1)
    assert 0 < len(mine) < len(releases)

    with SeedingSession(port=free_port(), upload_limit=0, state_dir=tmp_path / "state") as session:
        Reconciler(session=session, node=node, copies=1).reconcile()

        assert session.release_ids() == mine


def test_it_records_a_node_wide_fault_such_as_a_full_disk(reconciler, make_release):
    make_release(size=20_000)
    reconciler.session.node_error = "cannot store resume data in /data/seeder: No space left on device"

    reconciler.reconcile()

    reconciler.node.refresh_from_db()
    assert "No space left on device" in reconciler.node.error_message


def test_a_resume_data_write_that_fails_is_reported_not_swallowed(tmp_path, monkeypatch):
    import errno
    from pathlib import Path

    def disk_full(self, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    with SeedingSession(port=free_port(), upload_limit=0, state_dir=tmp_path / "state") as session:
        monkeypatch.setattr(Path, "write_bytes", disk_full)
        session._write_resume_data("ab" * 20, b"d4:infoe")
        assert session.node_error.endswith("No space left on device")
        monkeypatch.undo()

        session._write_resume_data("ab" * 20, b"d4:infoe")
        assert session.node_error == ""


# What libtorrent reads back for a torrent limited only by the session.
UNLIMITED = (-1, 0, 2**31 - 1)


def test_swarms_that_need_the_origin_get_its_upload_first(tmp_path, make_release):
    needy, other = make_release(size=20_000), make_release(size=20_000)
    with SeedingSession(port=free_port(), upload_limit=1_000_000, state_dir=tmp_path / "state") as session:
        for release in (needy, other):
            session.add(
                release_id=release.pk, metainfo=bytes(release.torrent.metainfo), save_path=release.content_dir
            )
        handles = {release_id: held.handle for release_id, held in session._held.items()}

        session.follow_demand(needy={needy.pk}, stalled={needy.pk})
        assert handles[needy.pk].upload_limit() in UNLIMITED
        assert handles[other.pk].upload_limit() == 100_000

        session.follow_demand(needy=set(), stalled=set())
        assert handles[other.pk].upload_limit() in UNLIMITED


def test_it_announces_private_releases_with_its_credential_and_public_ones_plainly(
    tmp_path, settings, make_multi_file_release
):
    settings.FANOUT_ANNOUNCE_URL = announce = f"http://127.0.0.1:{free_port()}/announce"
    public = make_multi_file_release(announce_url=announce, sizes={"a.bin": 70_000})
    private = make_multi_file_release(announce_url=announce, sizes={"b.bin": 70_000})
    Release.objects.filter(pk=private.pk).update(visibility=Release.Visibility.PRIVATE)
    node = services.register_node(name="origin-1", listen_port=6881, version="test")

    for run in range(2):
        # A restart issues a new credential; the resume data of the first run names the old one.
        credential = issue_node_credential("origin-1")
        with SeedingSession(port=free_port(), upload_limit=0, state_dir=tmp_path / "state") as session:
            Reconciler(session=session, node=node, credential=credential).reconcile()
            assert session.announce_urls(public.pk) == [announce], run
            assert session.announce_urls(private.pk) == [f"{announce}/{credential}"], run


def test_it_follows_a_change_of_visibility_and_without_a_credential_seeds_public_releases_only(
    tmp_path, settings, make_multi_file_release
):
    settings.FANOUT_ANNOUNCE_URL = announce = f"http://127.0.0.1:{free_port()}/announce"
    release = make_multi_file_release(announce_url=announce, sizes={"a.bin": 70_000})
    node = services.register_node(name="origin-1", listen_port=6881, version="test")
    with SeedingSession(port=free_port(), upload_limit=0, state_dir=tmp_path / "state") as session:
        with_credential = Reconciler(session=session, node=node, credential="c" * 64)
        with_credential.reconcile()
        Release.objects.filter(pk=release.pk).update(visibility=Release.Visibility.PRIVATE)
        with_credential.reconcile()
        assert session.announce_urls(release.pk) == [f"{announce}/{'c' * 64}"]
        Release.objects.filter(pk=release.pk).update(visibility=Release.Visibility.PUBLIC)
        with_credential.reconcile()
        assert session.announce_urls(release.pk) == [announce]

    with SeedingSession(port=free_port(), upload_limit=0, state_dir=tmp_path / "other") as session:
        revoked = Reconciler(session=session, node=node, credential=None)
        revoked.reconcile()
        assert session.release_ids() == {release.pk}
        Release.objects.filter(pk=release.pk).update(visibility=Release.Visibility.PRIVATE)
        revoked.reconcile()
        assert session.release_ids() == set()
