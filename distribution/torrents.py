"""Building a release's .torrent with libtorrent.

The file list comes from the release's rows, not from a directory walk, so the
torrent holds exactly the files that were published, in a fixed order.
"""

import hashlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import libtorrent as lt

MIN_PIECE_LENGTH = 16 * 1024
MAX_PIECE_LENGTH = 16 * 1024 * 1024
TARGET_PIECE_COUNT = 1500
READ_SIZE = 4 * 1024 * 1024
CREATOR = "Fanout"

FORMAT_FLAGS = {
    "v1": lt.create_torrent.v1_only,
    "hybrid": 0,
    "v2": lt.create_torrent.v2_only,
}


@dataclass(frozen=True)
class TorrentFile:
    path: str
    size: int


@dataclass(frozen=True)
class BuiltTorrent:
    metainfo: bytes
    info_hash_v1: str | None
    info_hash_v2: str | None
    piece_length: int
    piece_count: int
    magnet_uri: str


def choose_piece_length(total_size: int) -> int:
    """The smallest power of two that keeps the piece count near the target.

    Powers of two from 16 KiB are what BEP 52 requires; about 1,500 pieces keeps
    the metainfo small and still gives peers enough pieces to trade.
    """
    piece_length = MIN_PIECE_LENGTH
    while piece_length < MAX_PIECE_LENGTH and total_size / piece_length > TARGET_PIECE_COUNT:
        piece_length *= 2
    return piece_length


def sha256_of_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(READ_SIZE):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_of_files(paths: list[Path]) -> list[str]:
    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(sha256_of_file, paths))


def build_torrent(
    *,
    content_dir: Path,
    content_name: str,
    is_single_file: bool,
    files: list[TorrentFile],
    torrent_format: str,
    announce_url: str,
    web_seed_url: str,
    private: bool,
    comment: str,
    source: str,
    on_piece: Callable[[int, int], None],
) -> BuiltTorrent:
    """Hash the pieces of files stored under ``content_dir`` and return the torrent.

    ``on_piece(done, total)`` is called after each hashed piece. ``source``
    goes into the info dict: two releases with the same files would otherwise
    share an info-hash, and so one swarm and one tracker entry.
    """
    if is_single_file:
        entries = [lt.create_file_entry(files[0].path, files[0].size)]
    else:
        entries = [lt.create_file_entry(f"{content_name}/{f.path}", f.size) for f in files]
    total_size = sum(f.size for f in files)
    piece_length = choose_piece_length(total_size)
    creator = lt.create_torrent(entries, piece_length, FORMAT_FLAGS[torrent_format])
    piece_count = creator.num_pieces()
    done = 0

    def piece_hashed(_piece: int) -> None:
        nonlocal done
        done += 1
        on_piece(done, piece_count)

    lt.set_piece_hashes(creator, str(content_dir), piece_hashed)
    creator.add_tracker(announce_url)
    creator.add_url_seed(web_seed_url)
    creator.set_priv(private)
    creator.set_creator(CREATOR)
    if comment:
        creator.set_comment(comment)
    metadata = creator.generate()
    metadata[b"info"][b"source"] = source.encode()
    metainfo = lt.bencode(metadata)
    info = lt.torrent_info(metainfo)
    hashes = info.info_hashes()
    return BuiltTorrent(
        metainfo=metainfo,
        info_hash_v1=str(hashes.v1) if hashes.has_v1() else None,
        info_hash_v2=str(hashes.v2) if hashes.has_v2() else None,
        piece_length=piece_length,
        piece_count=piece_count,
        magnet_uri=lt.make_magnet_uri(info),
    )
