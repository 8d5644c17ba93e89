"""Where each file's tus upload lives on the server, kept between runs of `fanout publish`.

A rerun resumes by asking the upload it made before for its offset (HEAD), as
the publish page does with the URLs tus-js-client keeps in the browser. The
key holds the file's fingerprint (size and modification time): a file changed
since is created again, with its new fingerprint, and the server then starts
that upload over (without a stored URL too, e.g. on a fresh CI runner).
"""

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fanout_client.release_files import LocalFile


def default_state_dir() -> Path:
    state_home = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state_home) / "fanout"


class UploadUrls:
    def __init__(self, state_dir: Path, *, server: str, release_id: int) -> None:
        self.path = state_dir / "uploads.json"
        self.prefix = f"{server} {release_id} "

    def key(self, file: LocalFile) -> str:
        return f"{self.prefix}{file.path} {file.fingerprint}"

    def get(self, file: LocalFile) -> str | None:
        with self._entries() as entries:
            return entries.get(self.key(file))

    def put(self, file: LocalFile, url: str) -> None:
        with self._entries(write=True) as entries:
            entries[self.key(file)] = url

    def forget_release(self) -> None:
        """Once the release's uploads are done, their URLs have nothing more to resume."""
        with self._entries(write=True) as entries:
            for key in [key for key in entries if key.startswith(self.prefix)]:
                del entries[key]

    @contextmanager
    def _entries(self, *, write: bool = False) -> Iterator[dict[str, str]]:
        """The stored URLs, under a lock that another `fanout publish` on this machine respects."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with (self.path.parent / "uploads.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                entries = json.loads(self.path.read_text())
            except (FileNotFoundError, ValueError):
                entries = {}
            yield entries
            if write:
                temporary = self.path.with_suffix(".tmp")
                temporary.write_text(json.dumps(entries, indent=1))
                temporary.replace(self.path)
