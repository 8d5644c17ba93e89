"""Our piece hashing and metadata against libtorrent's own set_piece_hashes, byte for byte."""

import faulthandler
import hashlib
import os
from pathlib import Path

import libtorrent as lt
import pytest

from bittorrent import torrents

ANNOUNCE = "http://tracker.test/announce"
WEB_SEED = "http://web.test/releases/1/files/"


def write_release(root: Path, sizes: dict[str, int]) -> list[torrents.TorrentFile]:
    files = []
    for path, size in sizes.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(os.urandom(size))
        files.append(torrents.TorrentFile(path, size))
    return files


def libtorrent_metainfo(
    layout: torrents.Layout, content_dir: Path, *, private: bool, comment: str, source: str
) -> dict:
    prefix = "" if layout.is_single_file else layout.content_name + "/"
    entries = [lt.create_file_entry(prefix + f.path, f.size) for f in layout.files]
    creator = lt.create_torrent(entries, layout.piece_length, torrents.FORMAT_FLAGS[layout.torrent_format])
    lt.set_piece_hashes(creator, str(content_dir))
    creator.add_tracker(ANNOUNCE)
    creator.add_url_seed(WEB_SEED)
    creator.set_priv(private)
    creator.set_creator(torrents.CREATOR)
    creator.set_comment(comment)
    metadata = creator.generate()
    metadata[b"info"][b"source"] = source.encode()
    return metadata


MULTI_FILE = {
    "sub/b.bin": 70_000,
    "a.bin": 1_000_000,
    "B.txt": 100,
    "top.txt": 3,
    "exact": 16 * 1024 * 4,
    "empty": 0,
    "deep/er/tail.bin": 40_000,
}


@pytest.mark.parametrize("torrent_format", ["v1", "hybrid", "v2"])
@pytest.mark.parametrize(("sizes", "single"), [(MULTI_FILE, False), ({"one.iso": 3_000_017}, True)])
def test_it_builds_the_same_metainfo_as_libtorrent(tmp_path, torrent_format, sizes, single):
    if torrent_format == "hybrid":
        # libtorrent 2.1 cannot load the hybrid torrents it makes with an empty
        # file ("v1 and v2 file metadata does not match"): releases refuse them.
        sizes = {path: size for path, size in sizes.items() if size}
    name = "one.iso" if single else "atlas-1.0"
    content = tmp_path / "content"
    files = write_release(content if single else content / name, sizes)
    built = torrents.build_torrent(
        content_dir=content,
        content_name=name,
        is_single_file=single,
        files=files,
        torrent_format=torrent_format,
        announce_url=ANNOUNCE,
        web_seed_url=WEB_SEED,
        private=True,
        comment="Atlas 1.0",
        source="Fanout test",
        on_piece=lambda done, total: None,
    )
    layout = torrents.plan_layout(
        files=files, torrent_format=torrent_format, content_name=name, is_single_file=single
    )
    theirs = libtorrent_metainfo(layout, content, private=True, comment="Atlas 1.0", source="Fanout test")
    ours = lt.bdecode(built.metainfo)
    ours[b"creation date"] = theirs[b"creation date"]

    assert lt.bencode(ours[b"info"]) == lt.bencode(theirs[b"info"])
    assert lt.bencode(ours) == lt.bencode(theirs)
    if torrent_format != "v2":
        assert built.info_hash_v1 == hashlib.sha1(lt.bencode(theirs[b"info"])).hexdigest()
    if torrent_format != "v1":
        assert built.info_hash_v2 == hashlib.sha256(lt.bencode(theirs[b"info"])).hexdigest()
    if not single and torrent_format == "hybrid":
        assert ours[b"info"][b"files"][-1][b"attr"] == b"p", "the tail pad file"


@pytest.mark.parametrize("torrent_format", ["v1", "hybrid", "v2"])
def test_it_uses_hashes_known_in_advance_and_reports_every_piece(tmp_path, torrent_format):
    content = tmp_path / "content"
    files = write_release(content / "r", {"a.bin": 900_000, "b.bin": 500_000, "c.bin": 10})
    layout = torrents.plan_layout(
        files=files, torrent_format=torrent_format, content_name="r", is_single_file=False
    )
    disk = lambda path: content / "r" / path  # noqa: E731
    pieces, roots = torrents.hash_content(layout=layout, disk_path=disk)
    owned = layout.owned_pieces("a.bin")
    known = torrents.KnownHashes(
        v1_pieces={p: pieces[p] for p in owned} if layout.has_v1 else {},
        v2_blocks={"a.bin": torrents.block_hashes_of(disk("a.bin").read_bytes())} if layout.has_v2 else {},
    )
    progress = []

    again = torrents.hash_content(
        layout=layout, disk_path=disk, known=known, on_piece=lambda d, t: progress.append((d, t))
    )

    assert again == (pieces, roots)
    assert progress[-1] == (layout.piece_count, layout.piece_count)
    assert progress[0][0] >= len(owned)


def test_it_orders_hybrid_files_as_the_file_tree_so_clients_can_load_them(tmp_path):
    files = write_release(tmp_path / "r", {"sub.txt": 3, "sub/b.bin": 70_000})
    built = torrents.build_torrent(
        content_dir=tmp_path,
        content_name="r",
        is_single_file=False,
        files=files,
        torrent_format="hybrid",
        announce_url=ANNOUNCE,
        web_seed_url=WEB_SEED,
        private=False,
        comment="",
        source="Fanout test",
        on_piece=lambda done, total: None,
    )

    lt.torrent_info(built.metainfo)  # libtorrent loads it (it cannot load its own build of these files)
    v1_files = lt.bdecode(built.metainfo)[b"info"][b"files"]
    assert [f[b"path"] for f in v1_files if b"attr" not in f] == [[b"sub", b"b.bin"], [b"sub.txt"]]


def test_it_chooses_larger_pieces_for_larger_releases():
    assert torrents.choose_piece_length(1) == 16 * 1024
    assert torrents.choose_piece_length(2 * 1024**3) == 2 * 1024**2
    assert torrents.choose_piece_length(10**15) == torrents.MAX_PIECE_LENGTH


def build_hybrid_in_a_daemonic_worker(content: str) -> str:
    built = torrents.build_torrent(
        content_dir=Path(content),
        content_name="a.bin",
        is_single_file=True,
        files=[torrents.TorrentFile("a.bin", 3_000_000)],
        torrent_format="hybrid",
        announce_url=ANNOUNCE,
        web_seed_url=WEB_SEED,
        private=False,
        comment="",
        source="Fanout test",
        on_piece=lambda done, total: None,
    )
    return built.info_hash_v2


def test_it_hashes_in_child_processes_inside_a_celery_prefork_worker(tmp_path):
    import billiard

    (tmp_path / "a.bin").write_bytes(os.urandom(3_000_000))
    pool = billiard.Pool(1)
    try:
        info_hash_v2 = pool.apply(build_hybrid_in_a_daemonic_worker, (str(tmp_path),))
    finally:
        pool.terminate()

    assert info_hash_v2 == build_hybrid_in_a_daemonic_worker(str(tmp_path))


def test_it_reports_a_file_that_shrank_while_hashing_in_child_processes(tmp_path):
    (tmp_path / "a.bin").write_bytes(os.urandom(1_000_000))
    with pytest.raises(OSError, match="shorter than 3000000 bytes"):
        build_hybrid_in_a_daemonic_worker(str(tmp_path))


def test_it_reports_a_file_that_shrank_after_the_hashing_processes_mapped_it(tmp_path):
    content = tmp_path / "a.bin"
    content.write_bytes(os.urandom(3_000_000))
    layout = torrents.plan_layout(
        files=[torrents.TorrentFile("a.bin", 3_000_000)],
        torrent_format="hybrid",
        content_name="a.bin",
        is_single_file=True,
    )

    def shrink_before_the_first_piece(done: int, total: int) -> None:
        if done == 0:
            content.write_bytes(b"")

    # The children's bus error is expected here: no fault dump from pytest's faulthandler in the log.
    faulthandler.disable()
    try:
        with pytest.raises(OSError, match="SIGBUS: a file shrank while it was read"):
            torrents.hash_content(
                layout=layout, disk_path=lambda path: content, on_piece=shrink_before_the_first_piece
            )
    finally:
        faulthandler.enable()
