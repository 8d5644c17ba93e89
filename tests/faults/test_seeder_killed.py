"""Seeder nodes killed with SIGKILL: a restarted node seeds again without hashing, and with one copy
per release the surviving node takes over the dead node's releases once it is taken for dead."""

import signal
import time

import libtorrent as lt
import pytest
from django.utils import timezone

from harness.libtorrent_peers import download
from harness.polling import wait_until
from seeder.models import HEARTBEAT_INTERVAL, MISSED_HEARTBEATS_BEFORE_DEAD, SeederNode, Seeding
from seeder.selectors import pick_nodes, release_is_seeded
from tests.seeder.conftest import RELEASE_SIZE

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

HASHING = "hashing the content"


def test_a_killed_node_restarts_seeding_from_its_resume_data_without_hashing(
    make_release, start_seeder, tmp_path
):
    release = make_release()
    first = start_seeder()
    wait_until(lambda: release_is_seeded(release.pk), what="the release to be seeded")
    download(bytes(release.torrent.metainfo), from_port=first.port, into=tmp_path / "before")
    wait_until(
        lambda: Seeding.objects.get(release=release).uploaded_bytes >= RELEASE_SIZE, what="the upload count"
    )
    # A clean stop leaves resume data; the next run is killed with it in place.
    assert first.process.stop() == 0, first.process.transcript()
    resume_file = first.state_dir / f"{release.torrent.info_hash_v1}.resume"
    assert lt.read_resume_data(resume_file.read_bytes()).info_hashes.v1 == lt.sha1_hash(
        bytes.fromhex(release.torrent.info_hash_v1)
    )
    killed = start_seeder(node=first.node, port=first.port)
    wait_until(lambda: release_is_seeded(release.pk), what="the release to be seeded again")

    killed.process.stop(signal.SIGKILL)

    restarted_at = timezone.now()
    restarted = start_seeder(node=first.node, port=first.port)

    def seeded_again() -> bool:
        """Seeding, in a heartbeat of the new run (the killed run's last one still counts a while)."""
        node = SeederNode.objects.get(name=first.node)
        return node.last_heartbeat_at > restarted_at and release_is_seeded(release.pk)

    wait_until(seeded_again, timeout=30, what="the restarted node to seed")
    # Uploaded before the first stop: only the resume data can have carried it over.
    assert Seeding.objects.get(release=release).uploaded_bytes >= RELEASE_SIZE
    downloaded = download(bytes(release.torrent.metainfo), from_port=restarted.port, into=tmp_path / "after")
    assert downloaded.read_bytes() == release.disk_path(release.content_name).read_bytes()
    # A full check of the content would have said so (libtorrent's checking_files state).
    for run in (first, killed, restarted):
        assert HASHING not in run.process.transcript(), run.process.transcript()


def test_the_surviving_node_takes_over_a_killed_nodes_release(make_release, start_seeder, tmp_path):
    release = make_release()
    nodes = [start_seeder(FANOUT_SEEDER_COPIES="1") for _ in range(2)]
    (holder,) = pick_nodes([node.node for node in nodes], release.pk, copies=1)
    # The node that started first held it alone for a while: wait for the share of two.
    wait_until(
        lambda: (
            list(Seeding.objects.filter(release=release).values_list("node__name", "state"))
            == [(holder, Seeding.State.SEEDING)]
        ),
        timeout=30,
        what=f"{holder} alone to seed the release",
    )
    doomed = next(node for node in nodes if node.node == holder)
    survivor = next(node for node in nodes if node is not doomed)

    doomed.process.stop(signal.SIGKILL)
    killed_at = time.monotonic()

    # Taken for dead after this many missed heartbeats; the survivor acts at its next one.
    takeover_bound = HEARTBEAT_INTERVAL.total_seconds() * (MISSED_HEARTBEATS_BEFORE_DEAD + 1)
    wait_until(
        lambda: Seeding.objects.filter(
            release=release, node__name=survivor.node, state=Seeding.State.SEEDING
        ).exists(),
        timeout=takeover_bound + 10,
        what="the survivor to seed the release",
    )
    took = time.monotonic() - killed_at
    print(f"the survivor seeded the release {took:.1f} s after the kill (bound {takeover_bound:.0f} s)")
    assert took <= takeover_bound + 5
    downloaded = download(bytes(release.torrent.metainfo), from_port=survivor.port, into=tmp_path)
    assert downloaded.read_bytes() == release.disk_path(release.content_name).read_bytes()
    assert HASHING not in survivor.process.transcript()
