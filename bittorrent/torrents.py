"""Building a release's .torrent: piece hashing on every core, metadata as libtorrent writes it.

The hashing is ours, because libtorrent's
``set_piece_hashes`` runs on one thread and holds the GIL, and its Python
binding cannot take v2 block hashes computed elsewhere (while a file is still
arriving, or on another thread). The v1 and v2 hashes are computed here, piece
by piece in a thread pool (hashlib releases the GIL on large buffers), and the
BEP 3 / BEP 52 metadata is assembled to the byte as libtorrent would write it
for the same files and piece size; tests/distribution/test_torrents.py checks
that against ``set_piece_hashes``.

The file list comes from the release's rows, not from a directory walk, so the
torrent holds exactly the files that were published, in a fixed order.
"""

import hashlib
import mmap
import os
import pickle
import queue
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import libtorrent as lt

MIN_PIECE_LENGTH = 16 * 1024
MAX_PIECE_LENGTH = 16 * 1024 * 1024
TARGET_PIECE_COUNT = 1500
BLOCK_SIZE = 16 * 1024
READ_SIZE = 4 * 1024 * 1024
HASH_THREADS = max(2, min(8, os.cpu_count() or 2))
CREATOR = "Fanout"
ZERO_HASH = bytes(32)

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


@dataclass(frozen=True)
class LayoutFile:
    """A file of the torrent's byte stream: a release file, or a pad file of zeros."""

    path: str
    size: int
    offset: int
    is_pad: bool


@dataclass(frozen=True)
class Layout:
    """Where every byte of a release sits in its torrent, as libtorrent lays it out."""

    torrent_format: str
    content_name: str
    is_single_file: bool
    piece_length: int
    piece_count: int
    total_length: int
    entries: tuple[LayoutFile, ...]

    @property
    def has_v1(self) -> bool:
        return self.torrent_format in ("v1", "hybrid")

    @property
    def has_v2(self) -> bool:
        return self.torrent_format in ("v2", "hybrid")

    @property
    def files(self) -> list[LayoutFile]:
        return [entry for entry in self.entries if not entry.is_pad]

    def file(self, path: str) -> LayoutFile:
        for entry in self.entries:
            if entry.path == path and not entry.is_pad:
                return entry
        raise KeyError(path)

    def piece_range(self, piece: int) -> tuple[int, int]:
        start = piece * self.piece_length
        return start, min(start + self.piece_length, self.total_length)

    def owned_pieces(self, path: str) -> range:
        """The pieces whose file bytes all belong to ``path``: hashable from that file alone."""
        entry = self.file(path)
        if entry.size == 0:
            return range(0)
        end = entry.offset + entry.size
        first = -(-entry.offset // self.piece_length)
        last_end = end // self.piece_length
        if self._only_pad_after(end):
            last_end = -(-end // self.piece_length)
        return range(first, max(first, last_end))

    def _only_pad_after(self, end: int) -> bool:
        """True when the bytes from ``end`` to the end of its piece are pad or the stream's end."""
        piece_end = min(-(-end // self.piece_length) * self.piece_length, self.total_length)
        for entry in self.entries:
            overlaps = entry.offset < piece_end and entry.offset + entry.size > end
            if overlaps and entry.size and not entry.is_pad:
                return False
        return True


def choose_piece_length(total_size: int) -> int:
    """The smallest power of two that keeps the piece count near the target.

    Powers of two from 16 KiB are what BEP 52 requires; about 1,500 pieces keeps
    the metainfo small and still gives peers enough pieces to trade.
    """
    piece_length = MIN_PIECE_LENGTH
    while piece_length < MAX_PIECE_LENGTH and total_size / piece_length > TARGET_PIECE_COUNT:
        piece_length *= 2
    return piece_length


def tree_order_key(path: str) -> tuple[bytes, ...]:
    """The order of files in a BEP 52 file tree (a dictionary sorted at each level).

    The v1 file list of a hybrid torrent must follow it. libtorrent 2.1 sorts
    whole path strings instead, which differs when a name such as ``sub.txt``
    sorts before a folder ``sub/``: it then writes hybrid torrents it cannot
    load itself. Every format here uses the tree order.
    """
    return tuple(part.encode() for part in path.split("/"))


def plan_layout(
    *, files: list[TorrentFile], torrent_format: str, content_name: str, is_single_file: bool
) -> Layout:
    """Where each file and pad file goes, as libtorrent lays them out; no byte is read.

    In v2 and hybrid torrents each file starts on a piece boundary: a pad file
    of zeros follows every file that does not end on one (the last included
    when there are several files); v1 torrents have no pad files.
    """
    ordered = sorted(files, key=lambda f: tree_order_key(f.path))
    piece_length = choose_piece_length(sum(f.size for f in files))
    aligned = torrent_format in ("v2", "hybrid") and not is_single_file
    entries: list[LayoutFile] = []
    offset = 0
    for file in ordered:
        entries.append(LayoutFile(path=file.path, size=file.size, offset=offset, is_pad=False))
        offset += file.size
        tail = -file.size % piece_length
        if aligned and file.size and tail:
            entries.append(LayoutFile(path=f".pad/{tail}", size=tail, offset=offset, is_pad=True))
            offset += tail
    return Layout(
        torrent_format=torrent_format,
        content_name=content_name,
        is_single_file=is_single_file,
        piece_length=piece_length,
        piece_count=-(-offset // piece_length),
        total_length=offset,
        entries=tuple(entries),
    )


@dataclass
class KnownHashes:
    """Hashes computed earlier (while the files were uploaded): the build skips that work."""

    v1_pieces: dict[int, bytes] = field(default_factory=dict)
    v2_blocks: dict[str, bytes] = field(default_factory=dict)


@dataclass
class _PieceResult:
    piece: int
    sha1: bytes | None
    path: str | None
    v2_root: bytes


def merkle_root(leaves: list[bytes], width: int) -> bytes:
    """Root of a binary SHA-256 tree over ``leaves`` padded with zero hashes to ``width`` (a power of two)."""
    layer = leaves + [ZERO_HASH] * (width - len(leaves))
    while len(layer) > 1:
        layer = [hashlib.sha256(layer[i] + layer[i + 1]).digest() for i in range(0, len(layer), 2)]
    return layer[0]


def _next_power_of_two(n: int) -> int:
    return 1 << max(0, (n - 1).bit_length())


def piece_root(block_hashes: bytes, file_size: int, piece_length: int) -> bytes:
    """The root of one piece's subtree of a file's BEP 52 tree (the whole tree for a file of one piece)."""
    leaves = [block_hashes[i : i + 32] for i in range(0, len(block_hashes), 32)]
    width = piece_length // BLOCK_SIZE if file_size > piece_length else _next_power_of_two(len(leaves))
    return merkle_root(leaves, width)


def piece_roots_of(block_hashes: bytes, file_size: int, piece_length: int) -> list[bytes]:
    """``piece_root`` of each piece of a file, from all its block hashes."""
    step = piece_length // BLOCK_SIZE * 32
    pieces = range(0, len(block_hashes), step)
    return [piece_root(block_hashes[i : i + step], file_size, piece_length) for i in pieces]


def file_tree_hashes(piece_roots: list[bytes], size: int, piece_length: int) -> tuple[bytes, bytes]:
    """A file's BEP 52 ``pieces root`` and its piece layer (empty for files of one piece or less)."""
    if size <= piece_length:
        return piece_roots[0], b""
    layer = piece_roots
    pad_piece = merkle_root([], piece_length // BLOCK_SIZE)
    padded = layer + [pad_piece] * (_next_power_of_two(len(layer)) - len(layer))
    while len(padded) > 1:
        padded = [hashlib.sha256(padded[i] + padded[i + 1]).digest() for i in range(0, len(padded), 2)]
    return padded[0], b"".join(layer)


def block_hashes_of(data: memoryview | bytes) -> bytes:
    view = memoryview(data)
    sha256 = hashlib.sha256
    return b"".join(sha256(view[i : i + BLOCK_SIZE]).digest() for i in range(0, len(view), BLOCK_SIZE))


class _ContentReader:
    """Reads a piece of the torrent stream from the files on disk (pads are zeros).

    Each thread reads into a buffer of its own, reused for every piece: a fresh
    multi-MiB bytes object per piece costs an mmap and its page faults.

    With ``mapped``, a piece that lies within one file is a view of the file
    mapped in memory, which saves copying it (about 5 % of the CPU time of a
    hybrid build). Only for hashing in child processes: reading a mapped file
    that shrank kills the reader with SIGBUS, which a child reports as its
    exit status but would take a Celery worker down.
    """

    def __init__(self, layout: Layout, disk_path: Callable[[str], Path], *, mapped: bool):
        self.layout = layout
        self.local = threading.local()
        self.fds: dict[str, int] = {}
        self.maps: dict[str, mmap.mmap] = {}
        for entry in layout.files:
            if entry.size:
                fd = self.fds[entry.path] = os.open(disk_path(entry.path), os.O_RDONLY)
                if mapped:
                    if os.fstat(fd).st_size < entry.size:
                        raise OSError(f"{entry.path} is shorter than {entry.size} bytes")
                    self.maps[entry.path] = mmap.mmap(fd, entry.size, access=mmap.ACCESS_READ)

    def close(self) -> None:
        for mapped in self.maps.values():
            mapped.close()
        for fd in self.fds.values():
            os.close(fd)

    def read_piece(self, piece: int) -> tuple[memoryview, list[tuple[LayoutFile, int, int]]]:
        """The piece's bytes, and where each file's part of them lies in it."""
        start, end = self.layout.piece_range(piece)
        for entry in self.layout.entries:
            if entry.path in self.maps and entry.offset <= start and end <= entry.offset + entry.size:
                view = memoryview(self.maps[entry.path])[start - entry.offset : end - entry.offset]
                return view, [(entry, 0, end - start)]
        buffer = getattr(self.local, "buffer", None)
        if buffer is None:
            buffer = self.local.buffer = memoryview(bytearray(self.layout.piece_length))
        parts = []
        for entry in self.layout.entries:
            lo, hi = max(start, entry.offset), min(end, entry.offset + entry.size)
            if lo >= hi:
                continue
            target = buffer[lo - start : hi - start]
            if entry.is_pad:
                target[:] = bytes(hi - lo)
            elif os.preadv(self.fds[entry.path], [target], lo - entry.offset) != hi - lo:
                raise OSError(f"{entry.path} is shorter than {entry.size} bytes")
            parts.append((entry, lo - start, hi - start))
        return buffer[: end - start], parts


def hash_content(
    *,
    layout: Layout,
    disk_path: Callable[[str], Path],
    known: KnownHashes | None = None,
    on_piece: Callable[[int, int], None] = lambda done, total: None,
) -> tuple[list[bytes], dict[str, list[bytes]]]:
    """The v1 piece hashes and each file's v2 ``piece_root`` per piece, hashed on every core."""
    known = known or KnownHashes()
    need_v1 = layout.has_v1
    need_v2 = layout.has_v2
    todo = [
        piece
        for piece in range(layout.piece_count)
        if (need_v1 and piece not in known.v1_pieces) or (need_v2 and not _v2_known(layout, known, piece))
    ]
    batch_size = max(1, min(64, len(todo) // (HASH_THREADS * 8)))
    batches = [todo[i : i + batch_size] for i in range(0, len(todo), batch_size)]
    in_processes = need_v2 and len(batches) > 1
    reader = _ContentReader(layout, disk_path, mapped=in_processes)

    def hash_piece(piece: int) -> _PieceResult:
        data, parts = reader.read_piece(piece)
        sha1 = hashlib.sha1(data).digest() if need_v1 and piece not in known.v1_pieces else None
        path, root = None, b""
        if need_v2:
            # In v2 layouts each piece holds the bytes of one file and then pad.
            file_parts = [(entry, lo, hi) for entry, lo, hi in parts if not entry.is_pad]
            if file_parts and file_parts[0][0].path not in known.v2_blocks:
                entry, lo, hi = file_parts[0]
                blocks = block_hashes_of(data[lo:hi])
                path, root = entry.path, piece_root(blocks, entry.size, layout.piece_length)
        return _PieceResult(piece, sha1, path, root)

    v1_pieces: dict[int, bytes] = dict(known.v1_pieces)
    root_parts: dict[str, dict[int, bytes]] = {}
    done = layout.piece_count - len(todo)
    on_piece(done, layout.piece_count)
    try:
        for results in _run_batches(hash_piece, batches, in_processes=in_processes):
            for result in results:
                if result.sha1 is not None:
                    v1_pieces[result.piece] = result.sha1
                if result.path is not None:
                    root_parts.setdefault(result.path, {})[result.piece] = result.v2_root
            done += len(results)
            on_piece(done, layout.piece_count)
    finally:
        reader.close()
    roots = {
        path: piece_roots_of(blocks, layout.file(path).size, layout.piece_length)
        for path, blocks in known.v2_blocks.items()
    }
    for path, by_piece in root_parts.items():
        roots[path] = [by_piece[piece] for piece in sorted(by_piece)]
    pieces = [v1_pieces[piece] for piece in range(layout.piece_count)] if need_v1 else []
    return pieces, roots


def _run_batches(
    hash_piece: Callable[[int], _PieceResult], batches: list[list[int]], *, in_processes: bool
) -> Iterator[list[_PieceResult]]:
    """Hash ``batches`` of pieces on HASH_THREADS threads or forked processes; batches come as they finish.

    v1 hashing is a few large SHA-1 calls per piece, which release the GIL:
    threads run them in parallel. v2 hashes every 16 KiB block, a Python loop
    of short calls that fight over the GIL: forked processes do not.
    """
    if not in_processes:
        with ThreadPoolExecutor(max_workers=HASH_THREADS) as pool:
            yield from pool.map(lambda batch: [hash_piece(piece) for piece in batch], batches)
        return
    yield from _forked_batches(hash_piece, batches)


def _forked_batches(
    hash_piece: Callable[[int], _PieceResult], batches: list[list[int]]
) -> Iterator[list[_PieceResult]]:
    """Batches hashed in children made with a bare fork.

    Not multiprocessing: Celery's prefork workers are daemonic, and
    multiprocessing refuses children to daemonic processes.

    1. Fork one child per hashing slot; child k takes batches k, k + n, ...
       and pickles each batch's results into its pipe, then exits at once.
    2. A thread per pipe unpickles them into a queue the caller reads.
    3. A child that fails sends its error instead; it is raised here.
    """
    workers = min(HASH_THREADS, len(batches))
    results: queue.Queue = queue.Queue()
    children = []
    for slot in range(workers):
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child
            status = 1
            try:
                os.close(read_end)
                with os.fdopen(write_end, "wb") as out:
                    try:
                        for batch in batches[slot::workers]:
                            pickle.dump([hash_piece(piece) for piece in batch], out)
                        status = 0
                    except BaseException as exc:  # reported to the parent, which raises it
                        pickle.dump(OSError(f"hashing failed: {exc}"), out)
            finally:
                # Whatever happens (the parent killed: a broken pipe), never return: a fork that
                # returned would go on running its parent's task, and fail the release.
                os._exit(status)
        os.close(write_end)
        children.append(pid)
        threading.Thread(target=_read_results, args=(read_end, results), daemon=True).start()
    finished = 0
    try:
        while finished < workers:
            item = results.get()
            if item is None:
                finished += 1
            elif isinstance(item, BaseException):
                raise item
            else:
                yield item
    finally:
        failures = [status for status in (_reap(pid, kill=finished < workers) for pid in children) if status]
    if failures:
        raise OSError(_ended_how(failures[0]))


def _ended_how(exit_code: int) -> str:
    if exit_code == -signal.SIGBUS:
        return "a hashing process was killed by SIGBUS: a file shrank while it was read"
    if exit_code < 0:
        return f"a hashing process was killed by {signal.Signals(-exit_code).name}"
    return f"a hashing process ended with status {exit_code}"


def _reap(pid: int, *, kill: bool) -> int:
    if kill:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    _pid, status = os.waitpid(pid, 0)
    return 0 if kill else os.waitstatus_to_exitcode(status)


def _read_results(read_end: int, results: queue.Queue) -> None:
    with os.fdopen(read_end, "rb") as stream:
        try:
            while True:
                results.put(pickle.load(stream))
        except EOFError:
            pass
        except Exception as exc:  # a child killed mid-write leaves a torn frame
            results.put(OSError(f"a hashing process died: {exc}"))
        finally:
            results.put(None)


def _v2_known(layout: Layout, known: KnownHashes, piece: int) -> bool:
    start, _end = layout.piece_range(piece)
    for entry in layout.files:
        if entry.offset <= start < entry.offset + entry.size:
            return entry.path in known.v2_blocks
    return True


def assemble_metainfo(
    *,
    layout: Layout,
    v1_pieces: list[bytes],
    v2_piece_roots: dict[str, list[bytes]],
    announce_url: str,
    web_seed_url: str,
    private: bool,
    comment: str,
    source: str,
    creation_date: int | None = None,
) -> BuiltTorrent:
    """The .torrent, byte for byte as libtorrent's ``create_torrent.generate()`` writes it."""
    name = layout.content_name.encode()
    info: dict[bytes, object] = {b"name": name, b"piece length": layout.piece_length}
    if private:
        info[b"private"] = 1
    # Without it, two releases with the same files would share an info-hash,
    # and so one swarm and one tracker entry.
    info[b"source"] = source.encode()
    piece_layers: dict[bytes, bytes] = {}
    if layout.has_v2:
        tree: dict[bytes, object] = {}
        for entry in layout.files:
            leaf: dict[bytes, object] = {b"length": entry.size}
            if entry.size:
                root, layer = file_tree_hashes(v2_piece_roots[entry.path], entry.size, layout.piece_length)
                leaf[b"pieces root"] = root
                if layer:
                    piece_layers[root] = layer
            parts = [layout.content_name] if layout.is_single_file else entry.path.split("/")
            node = tree
            for part in parts:
                node = node.setdefault(part.encode(), {})
            node[b""] = leaf
        info[b"file tree"] = tree
        info[b"meta version"] = 2
    if layout.has_v1:
        if layout.is_single_file:
            info[b"length"] = layout.files[0].size
        else:
            info[b"files"] = [_v1_file_entry(entry) for entry in layout.entries]
        info[b"pieces"] = b"".join(v1_pieces)
    metainfo: dict[bytes, object] = {
        b"announce": announce_url.encode(),
        b"created by": CREATOR.encode(),
        b"creation date": int(time.time()) if creation_date is None else creation_date,
        b"info": info,
        b"url-list": web_seed_url.encode(),
    }
    if comment:
        metainfo[b"comment"] = comment.encode()
    if layout.has_v2:
        metainfo[b"piece layers"] = piece_layers
    encoded = lt.bencode(metainfo)
    parsed = lt.torrent_info(encoded)
    hashes = parsed.info_hashes()
    return BuiltTorrent(
        metainfo=encoded,
        info_hash_v1=str(hashes.v1) if hashes.has_v1() else None,
        info_hash_v2=str(hashes.v2) if hashes.has_v2() else None,
        piece_length=layout.piece_length,
        piece_count=layout.piece_count,
        magnet_uri=lt.make_magnet_uri(parsed),
    )


def _v1_file_entry(entry: LayoutFile) -> dict[bytes, object]:
    if entry.is_pad:
        return {b"attr": b"p", b"length": entry.size, b"path": [b".pad", str(entry.size).encode()]}
    return {b"length": entry.size, b"path": [part.encode() for part in entry.path.split("/")]}


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
    known: KnownHashes | None = None,
) -> BuiltTorrent:
    """Hash the pieces of files stored under ``content_dir`` and return the torrent.

    ``on_piece(done, total)`` is called after each hashed piece; pieces in
    ``known`` count as done from the start. ``source`` goes into the info dict.
    """
    layout = plan_layout(
        files=files, torrent_format=torrent_format, content_name=content_name, is_single_file=is_single_file
    )
    root = content_dir if is_single_file else content_dir / content_name
    v1_pieces, v2_piece_roots = hash_content(
        layout=layout, disk_path=lambda path: root / path, known=known, on_piece=on_piece
    )
    return assemble_metainfo(
        layout=layout,
        v1_pieces=v1_pieces,
        v2_piece_roots=v2_piece_roots,
        announce_url=announce_url,
        web_seed_url=web_seed_url,
        private=private,
        comment=comment,
        source=source,
    )


def sha256_of_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(READ_SIZE):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_of_files(paths: list[Path]) -> list[str]:
    with ThreadPoolExecutor(max_workers=HASH_THREADS) as pool:
        return list(pool.map(sha256_of_file, paths))
