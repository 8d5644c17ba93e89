"""A Redis and a PostgreSQL cluster of a test's own, which the test may stop and start again at will.

The shared servers of this machine serve other tests at the same time: a fault is injected
only into servers started here, each on a free port, with its data in a folder of its own.
"""

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from harness.loopback import free_port
from harness.processes import RunningProcess

REDIS_SERVER = shutil.which("redis-server")
_POSTGRES_BINARIES = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
POSTGRES_BIN = Path(_POSTGRES_BINARIES[-1]) if _POSTGRES_BINARIES else None
# PostgreSQL refuses to run as root: the cluster belongs to this account when the tests run as root.
POSTGRES_ACCOUNT = "postgres"


class PrivateRedis:
    """redis-server on a free port, persisting as a production Redis must (an append-only file)."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.process: RunningProcess | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> None:
        argv = [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.data_dir)]
        argv += ["--save", "", "--appendonly", "yes", "--appendfsync", "always"]
        self.process = RunningProcess(f"redis-server :{self.port}", argv, dict(os.environ))
        self.process.wait_for_port(self.port, timeout=15)

    def stop(self) -> None:
        """Stop as an operator does (SIGTERM: Redis finishes writing its append-only file)."""
        if self.process is not None:
            assert self.process.stop(signal.SIGTERM, timeout=15) == 0, self.process.transcript()
            self.process = None


class PrivatePostgres:
    """A cluster made by initdb in ``data_dir``, served by ``postgres`` on a free port."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir / "cluster"
        self.socket_dir = data_dir / "socket"
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.process: RunningProcess | None = None
        self._as_account: list[str] = []
        if os.geteuid() == 0:
            account = pwd.getpwnam(POSTGRES_ACCOUNT)
            self._as_account = ["runuser", "-u", POSTGRES_ACCOUNT, "--"]
            for folder in (data_dir, self.socket_dir):
                os.chown(folder, account.pw_uid, account.pw_gid)
        subprocess.run(
            [*self._as_account, str(POSTGRES_BIN / "initdb"), "-D", str(self.data_dir)]
            + ["-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C.UTF-8"],
            check=True,
            capture_output=True,
            timeout=120,
        )

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        argv = [*self._as_account, str(POSTGRES_BIN / "postgres"), "-D", str(self.data_dir)]
        argv += ["-p", str(self.port), "-k", str(self.socket_dir), "-c", "listen_addresses=127.0.0.1"]
        argv += ["-c", "fsync=off", "-c", "max_connections=50"]
        self.process = RunningProcess(f"postgres :{self.port}", argv, dict(os.environ))
        self.process.wait_for(r"database system is ready to accept connections", timeout=30)
        self.process.wait_for_port(self.port, timeout=15)

    def stop(self) -> None:
        """A fast shutdown, as `pg_ctl restart` does: every client's connection is cut."""
        if self.process is not None:
            self.process.stop(signal.SIGINT, timeout=30)
            self.process = None

    def create_database(self, name: str) -> None:
        subprocess.run(
            [str(POSTGRES_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name],
            check=True,
            capture_output=True,
            timeout=30,
        )


def port_refuses(port: int) -> bool:
    """Whether nothing listens on 127.0.0.1:``port`` any more."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return False
    except OSError:
        return True


def wait_until_closed(port: int, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not port_refuses(port):
        assert time.monotonic() < deadline, f"something still listens on {port}"
        time.sleep(0.05)
