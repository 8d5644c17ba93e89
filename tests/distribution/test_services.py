import hashlib
import io
import os
from pathlib import Path

import libtorrent as lt
import pytest

from distribution import services
from distribution.models import Release, ReleaseFile, Torrent
from distribution.services import IncomingFile, ReleaseRejected


def incoming(path: str, data: bytes) -> IncomingFile:
    return IncomingFile(path=path, size=len(data), source=io.BytesIO(data))


@pytest.fixture
def two_files() -> list[IncomingFile]:
    return [incoming("bin/tool", os.urandom(300_000)), incoming("README.txt", b"read me\n")]


def test_it_stores_files_and_queues_a_processing_release(
    product, publisher, two_files, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        release = services.create_release(
            product=product, version="2.0", files=two_files, created_by=publisher
        )

    assert len(callbacks) == 1
    assert release.status == Release.Status.PROCESSING
    assert release.content_name == "atlas-2.0"
    assert not release.is_single_file
    assert release.disk_path("bin/tool").read_bytes() == two_files[0].source.getvalue()
    assert sorted(release.files.values_list("path", "size")) == [("README.txt", 8), ("bin/tool", 300_000)]


def test_it_keeps_a_single_file_at_the_top(product):
    release = services.create_release(product=product, version="1", files=[incoming("a.iso", b"x" * 10)])

    assert release.is_single_file
    assert release.content_name == "a.iso"
    assert (release.content_dir / "a.iso").read_bytes() == b"x" * 10


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ([], "at least one file"),
        ([incoming("empty.bin", b"")], "empty"),
        ([incoming("../escape", b"x")], "'..'"),
        ([incoming("/etc/passwd", b"x")], "relative"),
        ([incoming("bad\x07name", b"x")], "control characters"),
        ([incoming("invoice\u202efdp.exe", b"x")], "bidirectional controls"),
        ([incoming("a.txt", b"x"), incoming("A.TXT", b"y")], "twice"),
        ([incoming("dir", b"x"), incoming("dir/file", b"y")], "both a file and a folder"),
    ],
)
def test_it_refuses_bad_files_and_stores_nothing(product, releases_dir, files, message):
    with pytest.raises(ReleaseRejected, match=message):
        services.create_release(product=product, version="1.0", files=files)

    assert not Release.objects.exists()
    assert not releases_dir.exists() or not any(releases_dir.iterdir())


def test_it_refuses_an_existing_version_and_keeps_the_first(product, releases_dir):
    first = services.create_release(product=product, version="1.0", files=[incoming("a", b"first")])

    with pytest.raises(ReleaseRejected, match="already has a release 1.0"):
        services.create_release(product=product, version="1.0", files=[incoming("a", b"second")])

    assert list(Release.objects.all()) == [first]
    assert [p.name for p in releases_dir.iterdir()] == [str(first.storage_key)]


def test_it_refuses_a_release_over_the_size_limit(product, settings):
    settings.FANOUT_RELEASE_MAX_BYTES = 100

    with pytest.raises(ReleaseRejected, match="limit is 100"):
        services.create_release(product=product, version="1", files=[incoming("big", b"x" * 101)])
    assert not Release.objects.exists()


def test_it_refuses_a_bad_version(product):
    with pytest.raises(ReleaseRejected, match="A version starts with"):
        services.create_release(product=product, version="../1", files=[incoming("a", b"x")])


def test_it_builds_a_torrent_that_matches_the_files(product, two_files, settings):
    release = services.create_release(product=product, version="2.0", files=two_files)

    services.build_release_torrent(release_id=release.pk)

    release.refresh_from_db()
    assert release.status == Release.Status.PUBLISHED
    assert release.build_pieces_done == release.build_pieces_total == release.torrent.piece_count
    for release_file in release.files.all():
        assert release_file.sha256 == hashlib.sha256(release_file.disk_path.read_bytes()).hexdigest()
    info = lt.torrent_info(bytes(release.torrent.metainfo))
    assert str(info.info_hashes().v1) == release.torrent.info_hash_v1
    assert info.name() == "atlas-2.0"
    storage = info.layout()
    assert sorted(storage.file_path(i) for i in range(storage.num_files())) == [
        "atlas-2.0/README.txt",
        "atlas-2.0/bin/tool",
    ]
    metainfo = lt.bdecode(bytes(release.torrent.metainfo))
    assert metainfo[b"announce"] == settings.FANOUT_ANNOUNCE_URL.encode()
    assert metainfo[b"url-list"] == f"{settings.FANOUT_PUBLIC_URL}/releases/{release.pk}/seed/".encode()
    assert b"private" not in metainfo[b"info"]
    # The torrent verifies against the stored bytes: libtorrent's own check.
    assert _pieces_that_verify(info, release.content_dir) == info.num_pieces()


@pytest.mark.parametrize("torrent_format", ["hybrid", "v2"])
def test_it_builds_v2_formats(product, torrent_format):
    release = services.create_release(
        product=product,
        version="3",
        files=[incoming("a.bin", os.urandom(70_000))],
        torrent_format=torrent_format,
    )

    services.build_release_torrent(release_id=release.pk)

    torrent = Torrent.objects.get(release=release)
    assert len(torrent.info_hash_v2) == 64
    assert (torrent.info_hash_v1 is not None) == (torrent_format == "hybrid")
    assert "btmh" in torrent.magnet_uri


def test_it_marks_private_releases_private(product):
    release = services.create_release(
        product=product, version="1", files=[incoming("a", b"x" * 20)], visibility=Release.Visibility.PRIVATE
    )
    services.build_release_torrent(release_id=release.pk)

    assert lt.torrent_info(bytes(Torrent.objects.get(release=release).metainfo)).priv()


def test_it_fails_with_the_reason_when_a_file_is_missing_and_retries(
    product, django_capture_on_commit_callbacks
):
    release = services.create_release(product=product, version="1", files=[incoming("a.bin", b"abc")])
    moved = release.disk_path("a.bin").rename(release.content_dir / "elsewhere")

    services.build_release_torrent(release_id=release.pk)

    release.refresh_from_db()
    assert release.status == Release.Status.FAILED
    assert "a.bin cannot be read" in release.failure_reason
    assert not Torrent.objects.exists()

    moved.rename(release.disk_path("a.bin"))
    with django_capture_on_commit_callbacks() as callbacks:
        services.retry_build(release=release)
    assert len(callbacks) == 1
    services.build_release_torrent(release_id=release.pk)
    release.refresh_from_db()
    assert release.status == Release.Status.PUBLISHED
    assert release.failure_reason == ""


def test_it_ends_with_one_torrent_when_a_build_runs_twice(product):
    release = services.create_release(product=product, version="1", files=[incoming("a", b"abc")])

    services.build_release_torrent(release_id=release.pk)
    first = Torrent.objects.get(release=release).metainfo
    services.build_release_torrent(release_id=release.pk)

    assert Torrent.objects.count() == 1
    assert bytes(Torrent.objects.get().metainfo) == bytes(first)


def test_it_gives_releases_with_the_same_files_their_own_swarm(product):
    first = services.create_release(product=product, version="1", files=[incoming("same.iso", b"bytes")])
    second = services.create_release(product=product, version="2", files=[incoming("same.iso", b"bytes")])

    services.build_release_torrent(release_id=first.pk)
    services.build_release_torrent(release_id=second.pk)

    first_hash, second_hash = (Torrent.objects.get(release=r).info_hash_v1 for r in (first, second))
    assert first_hash != second_hash
    assert lt.bdecode(bytes(Torrent.objects.get(release=first).metainfo))[b"info"][b"source"] == (
        f"Fanout {first.storage_key}".encode()
    )


def test_it_ignores_a_build_of_a_release_that_is_gone(db):
    services.build_release_torrent(release_id=999_999)


def test_it_retires_only_published_releases(product):
    release = services.create_release(product=product, version="1", files=[incoming("a", b"abc")])
    with pytest.raises(ReleaseRejected, match="Only a published release"):
        services.retire_release(release=release)

    services.build_release_torrent(release_id=release.pk)
    services.retire_release(release=release)

    release.refresh_from_db()
    assert release.status == Release.Status.RETIRED
    assert release.retired_at is not None


def test_it_requeues_only_stalled_builds(product, settings):
    stalled = services.create_release(product=product, version="1", files=[incoming("a", b"abc")])
    fresh = services.create_release(product=product, version="2", files=[incoming("a", b"abc")])
    Release.objects.filter(pk=stalled.pk).update(build_updated_at="2020-01-01T00:00Z")

    assert services.requeue_stalled_builds() == [stalled.pk]
    assert fresh.pk not in services.requeue_stalled_builds()


def test_it_takes_local_paths_as_publish_does(tmp_path):
    folder = tmp_path / "dist"
    (folder / "docs").mkdir(parents=True)
    (folder / "app.bin").write_bytes(b"app")
    (folder / "docs" / "guide.txt").write_bytes(b"guide")
    extra = tmp_path / "CHANGES"
    extra.write_bytes(b"changes")

    assert [f.path for f in services.incoming_files_from_paths([folder])] == ["app.bin", "docs/guide.txt"]
    assert [f.path for f in services.incoming_files_from_paths([folder, extra])] == [
        "dist/app.bin",
        "dist/docs/guide.txt",
        "CHANGES",
    ]


def test_it_refuses_unreadable_and_missing_paths(tmp_path):
    with pytest.raises(ReleaseRejected, match="no such file or folder"):
        services.incoming_files_from_paths([tmp_path / "nope"])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ReleaseRejected, match="the folder has no files"):
        services.incoming_files_from_paths([empty])


def test_it_refuses_a_file_whose_read_fails():
    # Reading offset 0 of a process's memory fails with EIO, even for root.
    with pytest.raises(ReleaseRejected, match=r"/proc/self/mem: cannot be read \(Input/output error\)"):
        services.incoming_files_from_paths([Path("/proc/self/mem")])


def test_it_refuses_something_that_is_not_a_regular_file(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(ReleaseRejected, match="not a regular file"):
        services.incoming_files_from_paths([fifo])


def _pieces_that_verify(info: "lt.torrent_info", save_path: Path) -> int:
    storage = info.layout()
    good = 0
    for piece in range(info.num_pieces()):
        data = b""
        for slice_ in info.map_block(piece, 0, info.piece_size(piece)):
            with open(save_path / storage.file_path(slice_.file_index), "rb") as stream:
                stream.seek(slice_.offset)
                data += stream.read(slice_.size)
        good += hashlib.sha1(data).digest() == info.hash_for_piece(piece)
    return good


def test_release_file_rows_keep_relative_paths(product, two_files):
    release = services.create_release(product=product, version="9", files=two_files)
    assert ReleaseFile.objects.get(release=release, path="bin/tool").disk_path == Path(
        release.content_dir, "atlas-9", "bin", "tool"
    )


def test_it_ends_with_one_torrent_when_a_build_is_killed_halfway_and_retried(product, monkeypatch):
    release = services.create_release(
        product=product, version="1", files=[incoming("big.bin", os.urandom(3_000_000))]
    )
    real_assemble = services.torrents.assemble_metainfo

    def killed(**kwargs):
        raise SystemExit("worker killed")

    monkeypatch.setattr(services.torrents, "assemble_metainfo", killed)
    with pytest.raises(SystemExit):
        services.build_release_torrent(release_id=release.pk)
    release.refresh_from_db()
    assert release.status == Release.Status.PROCESSING
    assert not Torrent.objects.exists()

    monkeypatch.setattr(services.torrents, "assemble_metainfo", real_assemble)
    services.build_release_torrent(release_id=release.pk)
    services.build_release_torrent(release_id=release.pk)

    release.refresh_from_db()
    assert release.status == Release.Status.PUBLISHED
    assert Torrent.objects.filter(release=release).count() == 1
    assert lt.torrent_info(bytes(release.torrent.metainfo)).num_pieces() == release.torrent.piece_count


def test_it_refuses_empty_files_in_a_hybrid_release(product):
    with pytest.raises(ReleaseRejected, match="cannot hold empty files"):
        services.create_release(
            product=product,
            version="1",
            torrent_format="hybrid",
            files=[incoming("a", b"x"), incoming("empty", b"")],
        )


def test_it_serves_sha256sums_only_for_published_releases(client, product):
    release = services.create_release(
        product=product, version="1", files=[incoming("a/x.bin", b"x" * 10), incoming("b.txt", b"y")]
    )
    assert client.get(f"/releases/{release.pk}/SHA256SUMS").status_code == 404

    services.build_release_torrent(release_id=release.pk)
    response = client.get(f"/releases/{release.pk}/SHA256SUMS")

    assert response.status_code == 200
    assert response.content.decode() == (
        f"{hashlib.sha256(b'x' * 10).hexdigest()}  atlas-1/a/x.bin\n"
        f"{hashlib.sha256(b'y').hexdigest()}  atlas-1/b.txt\n"
    )
