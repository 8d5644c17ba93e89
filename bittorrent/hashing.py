"""Piece and block hashes of a file computed while it is uploaded, kept on disk beside it.

The torrent's layout is fixed once a release's files are declared (paths, sizes,
format), so each arriving byte's place in the torrent is known: the v1 pieces
that hold only this file's bytes and the file's v2 16 KiB blocks are hashed as
the bytes stream in. The hashes go to two append-only files (``v1``: 20 bytes a
piece, ``v2``: 32 bytes a block) whose length the row's ``hashed_upto`` vouches
for, so a server restart loses at most the piece in progress: the next request
re-reads that tail from disk. The build then hashes only what is not covered
(pieces shared with a neighbouring file in a v1 torrent).
"""

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from bittorrent import torrents


@dataclass(frozen=True)
class HashUnit:
    """A stretch of the file hashed at once: [start, end) in file offsets; its v1 piece, if any."""

    start: int
    end: int
    piece: int | None
    v1_length: int


def hash_units(layout: torrents.Layout, path: str) -> list[HashUnit]:
    entry = layout.file(path)
    if entry.size == 0:
        return []
    piece_length = layout.piece_length
    if layout.has_v2:
        # v2 and hybrid files start on a piece boundary: their pieces are theirs alone.
        units = []
        for start in range(0, entry.size, piece_length):
            piece = (entry.offset + start) // piece_length
            piece_start, piece_end = layout.piece_range(piece)
            units.append(
                HashUnit(
                    start=start,
                    end=min(start + piece_length, entry.size),
                    piece=piece if layout.has_v1 else None,
                    v1_length=piece_end - piece_start,
                )
            )
        return units
    units = []
    for piece in layout.owned_pieces(path):
        piece_start, piece_end = layout.piece_range(piece)
        units.append(
            HashUnit(
                start=piece_start - entry.offset,
                end=piece_end - entry.offset,
                piece=piece,
                v1_length=piece_end - piece_start,
            )
        )
    return units


class UploadHasher:
    """Hashes one upload's bytes as they arrive, in order, from ``offset`` on.

    1. On opening, the hash files are cut back to what ``hashed_upto`` vouches
       for, and the bytes between it and ``offset`` are read back from disk.
    2. ``feed`` takes the next bytes; each completed unit is hashed and appended
       (units are contiguous, so what is left pending starts the next one).
    3. ``hashed_upto`` is then the point to store with the new offset.
    """

    def __init__(
        self,
        *,
        layout: torrents.Layout,
        path: str,
        state_dir: Path,
        data_path: Path,
        hashed_upto: int,
        offset: int,
    ):
        self.units = hash_units(layout, path)
        self.has_v2 = layout.has_v2
        self.next_unit = sum(1 for unit in self.units if unit.end <= hashed_upto)
        self.hashed_upto = self.units[self.next_unit - 1].end if self.next_unit else 0
        state_dir.mkdir(parents=True, exist_ok=True)
        self.v1_file = (state_dir / "v1").open("ab")
        self.v2_file = (state_dir / "v2").open("ab")
        done = self.units[: self.next_unit]
        self.v1_file.truncate(20 * sum(1 for unit in done if unit.piece is not None))
        self.v2_file.truncate(32 * sum(-(-(unit.end - unit.start) // torrents.BLOCK_SIZE) for unit in done))
        self.pending = bytearray()
        self.position = offset
        if self.next_unit < len(self.units) and self.units[self.next_unit].start < offset:
            pending_start = self.units[self.next_unit].start
            with data_path.open("rb") as stream:
                stream.seek(pending_start)
                self.pending += stream.read(offset - pending_start)

    def feed(self, data: bytes | memoryview) -> None:
        start = self.position
        self.position += len(data)
        if self.next_unit >= len(self.units):
            return
        unit = self.units[self.next_unit]
        if self.position <= unit.start:
            return
        skip = max(0, unit.start - start)
        self.pending += data[skip:]
        while self.next_unit < len(self.units):
            unit = self.units[self.next_unit]
            length = unit.end - unit.start
            if len(self.pending) < length:
                break
            chunk = memoryview(self.pending)[:length]
            if unit.piece is not None:
                digest = hashlib.sha1(chunk)
                if unit.v1_length > length:
                    digest.update(bytes(unit.v1_length - length))
                self.v1_file.write(digest.digest())
            if self.has_v2:
                self.v2_file.write(torrents.block_hashes_of(chunk))
            chunk.release()
            del self.pending[:length]
            self.hashed_upto = unit.end
            self.next_unit += 1

    def flush(self) -> int:
        """Write the hashes so far; the point they reach, to store with the offset."""
        self.v1_file.flush()
        self.v2_file.flush()
        return self.hashed_upto

    def close(self) -> int:
        self.v1_file.close()
        self.v2_file.close()
        return self.hashed_upto


def known_hashes(*, layout: torrents.Layout, complete: dict[str, tuple[Path, int]]) -> torrents.KnownHashes:
    """What the uploads of a release already hashed; ``complete`` maps a path to (state dir, hashed_upto)."""
    known = torrents.KnownHashes()
    for path, (state_dir, hashed_upto) in complete.items():
        units = hash_units(layout, path)
        if not units or units[-1].end != hashed_upto:
            continue
        try:
            v1 = (state_dir / "v1").read_bytes()
            v2 = (state_dir / "v2").read_bytes()
        except OSError:
            continue
        pieces = [unit.piece for unit in units if unit.piece is not None]
        if len(v1) != 20 * len(pieces):
            continue
        if layout.has_v2:
            if len(v2) != 32 * -(-layout.file(path).size // torrents.BLOCK_SIZE):
                continue
            known.v2_blocks[path] = v2
        for index, piece in enumerate(pieces):
            known.v1_pieces[piece] = v1[20 * index : 20 * index + 20]
    return known


def remove_state(state_dir: Path) -> None:
    for name in ("v1", "v2"):
        try:
            os.unlink(state_dir / name)
        except FileNotFoundError:
            pass
    try:
        state_dir.rmdir()
    except OSError:
        pass
