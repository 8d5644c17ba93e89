"""Which local files `fanout publish PATH...` sends, and the path each gets in the release.

The rules are `manage.py publish`'s: one folder gives its files relative to it;
several PATHs give each file by its name and each folder by its name and the
paths inside it. Unreadable files are refused here, before anything is sent.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from fanout_client.errors import FanoutError


@dataclass(frozen=True)
class LocalFile:
    path: str  # inside the release, "/"-separated
    size: int
    source: Path
    modified_ns: int

    @property
    def fingerprint(self) -> str:
        """Tells a rerun, and the server, whether an upload made before is of these bytes."""
        return f"{self.size}:{self.modified_ns}"


def files_from_paths(paths: Iterable[Path | str]) -> list[LocalFile]:
    paths = [Path(p) for p in paths]
    found: list[LocalFile] = []
    for path in paths:
        if not path.exists():
            raise FanoutError(f"{path}: no such file or folder.")
        if path.is_dir():
            base = path if len(paths) == 1 else path.parent
            members = sorted(p for p in path.rglob("*") if not p.is_dir())
            if not members:
                raise FanoutError(f"{path}: the folder has no files.")
        else:
            base = path.parent
            members = [path]
        for member in members:
            _check_readable(member)
            stat = member.stat()
            found.append(
                LocalFile(
                    path=member.relative_to(base).as_posix(),
                    size=stat.st_size,
                    source=member,
                    modified_ns=stat.st_mtime_ns,
                )
            )
    return found


def _check_readable(path: Path) -> None:
    if not path.is_file():
        raise FanoutError(f"{path}: not a regular file.")
    try:
        with path.open("rb") as stream:
            stream.read(1)
    except OSError as exc:
        raise FanoutError(f"{path}: cannot be read ({exc.strerror}).") from None
