"""A release's SHA256SUMS (`sha256sum -c` input) read, and checked against the files on disk."""

import hashlib
import re
from pathlib import Path

READ_SIZE = 1024 * 1024
# "<64 hex><space><space or * (binary mode)><path>", as sha256sum writes it.
LINE = re.compile(r"^([0-9a-fA-F]{64}) [ *](.+)$")


def parse_sha256sums(text: str) -> dict[str, str]:
    """Path (as inside the torrent) -> lowercase SHA-256; raises ValueError on a line it cannot read."""
    sums: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        match = LINE.match(line)
        if match is None:
            raise ValueError(f"SHA256SUMS line {number} is not '<sha256>  <path>': {line[:80]!r}")
        digest, path = match.groups()
        if path.startswith("/") or ".." in path.split("/"):
            raise ValueError(f"SHA256SUMS line {number} names a path outside the release: {path!r}")
        sums[path] = digest.lower()
    return sums


def sha256_of_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while block := stream.read(READ_SIZE):
            digest.update(block)
    return digest.hexdigest()


def files_that_differ(root: Path, sums: dict[str, str]) -> list[str]:
    """The paths under ``root`` whose bytes are missing or do not match ``sums``."""
    differ = []
    for path, expected in sums.items():
        try:
            matches = sha256_of_file(root / path) == expected
        except FileNotFoundError:
            matches = False
        if not matches:
            differ.append(path)
    return differ
