"""Hashes taken while files arrive in chunks, with restarts between them, equal a build from disk."""

import os
import random

import pytest

from bittorrent import torrents
from bittorrent.hashing import UploadHasher, known_hashes

SIZES = {"a.bin": 200_000, "b/c.bin": 70_001, "d.txt": 5, "e.bin": 16 * 1024 * 3}


@pytest.mark.parametrize("torrent_format", ["v1", "hybrid", "v2"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_it_hashes_chunks_across_restarts_as_a_build_from_disk_would(tmp_path, torrent_format, seed):
    rng = random.Random(seed)
    files = [torrents.TorrentFile(path, size) for path, size in SIZES.items()]
    layout = torrents.plan_layout(
        files=files, torrent_format=torrent_format, content_name="r", is_single_file=False
    )
    content = tmp_path / "r"
    complete = {}
    for file in files:
        data = os.urandom(file.size)
        target = content / file.path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(b"")
        state_dir = tmp_path / "state" / file.path.replace("/", "_")
        offset = hashed_upto = 0
        while offset < file.size:
            # Each request is a new hasher, as after a server restart.
            hasher = UploadHasher(
                layout=layout,
                path=file.path,
                state_dir=state_dir,
                data_path=target,
                hashed_upto=hashed_upto,
                offset=offset,
            )
            end = min(file.size, offset + rng.randint(1, 40_000))
            with target.open("r+b") as out:
                out.seek(offset)
                out.write(data[offset:end])
            for start in range(offset, end, 7_000):
                hasher.feed(data[start : min(end, start + 7_000)])
            hashed_upto = hasher.close()
            offset = end
        complete[file.path] = (state_dir, hashed_upto)

    known = known_hashes(layout=layout, complete=complete)
    from_disk = torrents.hash_content(layout=layout, disk_path=lambda path: content / path)
    with_known = torrents.hash_content(layout=layout, disk_path=lambda path: content / path, known=known)

    assert with_known == from_disk
    if layout.has_v2:
        assert set(known.v2_blocks) == {f.path for f in files}
    if torrent_format == "hybrid":
        assert len(known.v1_pieces) == layout.piece_count, "padded files own all their pieces"
    if torrent_format == "v1":
        assert known.v1_pieces and len(known.v1_pieces) < layout.piece_count
