"""`manage.py runseeder` as a real process, with a real libtorrent peer downloading from it."""

import pytest

from harness.libtorrent_peers import download
from harness.polling import wait_until
from seeder.models import SeederNode, Seeding
from seeder.selectors import release_is_seeded
from tests.seeder.conftest import RELEASE_SIZE

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_it_serves_a_published_release_to_a_downloader(make_release, start_seeder, tmp_path):
    release = make_release()
    seeder = start_seeder()

    wait_until(lambda: release_is_seeded(release.pk), what="the release to be seeded")
    downloaded = download(bytes(release.torrent.metainfo), from_port=seeder.port, into=tmp_path)

    assert downloaded.read_bytes() == (release.content_dir / release.content_name).read_bytes()
    node = SeederNode.objects.get(name=seeder.node)
    assert node.listen_port == seeder.port
    wait_until(
        lambda: Seeding.objects.get(node=node, release=release).uploaded_bytes >= downloaded.stat().st_size,
        what="the upload to be counted",
    )


def test_it_stops_seeding_a_retired_release(make_release, start_seeder):
    kept, retired = make_release(), make_release()
    seeder = start_seeder()
    wait_until(lambda: release_is_seeded(kept.pk) and release_is_seeded(retired.pk), what="both to be seeded")

    retired.retire()

    wait_until(lambda: not Seeding.objects.filter(release=retired).exists(), what="the seeding to go")
    assert not release_is_seeded(retired.pk)
    assert release_is_seeded(kept.pk)
    assert not any(seeder.state_dir.glob(f"{retired.torrent.info_hash_v1}.*"))


def test_it_stops_cleanly_on_sigterm_and_keeps_resume_data(make_release, start_seeder):
    release = make_release()
    seeder = start_seeder()
    wait_until(lambda: release_is_seeded(release.pk), what="the release to be seeded")

    assert seeder.process.stop() == 0, seeder.process.transcript()

    assert not release_is_seeded(release.pk)
    assert (seeder.state_dir / f"{release.torrent.info_hash_v1}.resume").is_file()


def test_it_refuses_a_second_seeder_with_the_same_name(start_seeder, spawn_seeder):
    first = start_seeder()

    second = spawn_seeder(node=first.node)

    assert second.process.wait_for_exit() != 0
    assert "another seeder is using" in second.process.transcript()
    assert first.process.process.poll() is None


def test_it_resumes_seeding_after_a_restart_without_hashing(make_release, start_seeder, tmp_path):
    release = make_release()
    first = start_seeder()
    wait_until(lambda: release_is_seeded(release.pk), what="the release to be seeded")
    download(bytes(release.torrent.metainfo), from_port=first.port, into=tmp_path)
    wait_until(
        lambda: Seeding.objects.get(release=release).uploaded_bytes >= RELEASE_SIZE, what="the upload count"
    )
    assert first.process.stop() == 0, first.process.transcript()

    second = start_seeder(node=first.node)

    wait_until(lambda: release_is_seeded(release.pk), what="the release to be seeded again")
    # Counted before the restart: only resume data can have carried it over.
    assert Seeding.objects.get(release=release).uploaded_bytes >= RELEASE_SIZE
    assert "hashing the content" not in first.process.transcript() + second.process.transcript()


def test_it_reports_a_release_whose_file_changed_on_disk(make_release, start_seeder):
    release = make_release()
    start_seeder()
    wait_until(lambda: release_is_seeded(release.pk), what="the release to be seeded")

    with release.disk_path(release.content_name).open("r+b") as file:
        file.write(b"not the published bytes")

    wait_until(
        lambda: Seeding.objects.filter(release=release, state=Seeding.State.ERROR).exists(),
        what="the error to be reported",
    )
    assert Seeding.objects.get(release=release).error_message == (
        "1 of 49 pieces are missing on disk or do not match the torrent"
    )
    assert not release_is_seeded(release.pk)
