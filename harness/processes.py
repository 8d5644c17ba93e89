"""Real processes that tests and benchmarks start (tracker, seeder, worker, web server...), output kept."""

import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MANAGE = [sys.executable, str(ROOT / "manage.py")]
CELERY = [str(Path(sys.executable).parent / "celery"), "-A", "config"]


def prepare_instance(data_dir: Path, **variables: str) -> dict[str, str]:
    """Make this process's environment that of an instance in ``data_dir``, prepare that folder as
    `make run` does, and return a copy of the environment for the instance's processes.

    The instance runs on embedded defaults (SQLite in ``data_dir``, a filesystem broker) unless
    ``variables`` say otherwise, with a secret key of its own. Call it before anything in this
    process reads the Django settings: they are read once.
    """
    for name in ("DATABASE_URL", "REDIS_URL"):
        os.environ.pop(name, None)
    # In the environment rather than kept in the data directory: the settings of this process
    # would not see a key written after they were read.
    os.environ.update(
        FANOUT_DATA_DIR=str(data_dir),
        DJANGO_SETTINGS_MODULE="config.settings",
        SECRET_KEY=secrets.token_urlsafe(50),
        **variables,
    )
    from config.data_dir import prepare_data_dir

    prepare_data_dir()
    return dict(os.environ)


class RunningProcess:
    def __init__(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        self.name = name
        self.output: list[str] = []
        self._new_output = threading.Condition()
        # A process group of its own, so that a signal reaches every process it
        # starts, as Ctrl-C in a terminal does.
        self.process = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            with self._new_output:
                self.output.append(line)
                self._new_output.notify_all()
        with self._new_output:
            self._new_output.notify_all()

    def wait_for(self, pattern: str, timeout: float = 60.0) -> re.Match:
        """Block until a line, printed before or after the call, matches ``pattern``.

        Fails with the whole output if none does in time or the process ends.
        """
        compiled = re.compile(pattern)
        deadline = time.monotonic() + timeout
        checked = 0
        with self._new_output:
            while True:
                for line in self.output[checked:]:
                    if match := compiled.search(line):
                        return match
                checked = len(self.output)
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self._reader.is_alive():
                    raise AssertionError(
                        f"{self.name} printed no line matching {pattern!r} in {timeout:.0f} s:\n"
                        + self.transcript()
                    )
                self._new_output.wait(remaining)

    def wait_for_port(self, port: int, timeout: float = 30.0) -> None:
        """Block until something accepts connections on 127.0.0.1:``port``; fail if the process ends first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(
                    f"{self.name} exited with {self.process.returncode}:\n" + self.transcript()
                )
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)
        raise AssertionError(
            f"{self.name}: nothing listens on {port} after {timeout:.0f} s:\n" + self.transcript()
        )

    def wait_for_exit(self, timeout: float = 60.0) -> int:
        """Wait for the process and for everything it started that shares its output."""
        returncode = self.process.wait(timeout=timeout)
        self._reader.join(timeout)
        return returncode

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        self._signal_group(signum)
        try:
            return self.wait_for_exit(timeout)
        except subprocess.TimeoutExpired:
            self._signal_group(signal.SIGKILL)
            return self.wait_for_exit(timeout)

    def _signal_group(self, signum: int) -> None:
        try:
            os.killpg(self.process.pid, signum)
        except ProcessLookupError:
            pass

    def transcript(self) -> str:
        return "".join(self.output)


def rss_bytes(pid: int | str = "self") -> int:
    """The resident memory of process ``pid`` (this one by default), from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0
