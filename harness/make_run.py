"""A Fanout instance started as `make run` starts it, on free ports, and the `fanout` command against it."""

import os
import subprocess
import sys
from pathlib import Path

from harness.loopback import free_port
from harness.processes import MANAGE, ROOT, RunningProcess

# The console script of client/ (`pip install -e ./client` by the Makefile).
FANOUT = str(Path(sys.executable).parent / "fanout")


def make_run_env(data_dir: Path, **overrides: str) -> dict[str, str]:
    """The environment of a `make run` instance in ``data_dir`` on free ports, embedded defaults."""
    env = dict(os.environ)
    env.update(
        FANOUT_DATA_DIR=str(data_dir),
        WEB_PORT=str(free_port()),
        TRACKER_PORT=str(free_port()),
        SEEDER_PORT=str(free_port()),
        # A release published a moment ago is tracked within a second.
        FANOUT_TRACKER_WHITELIST_REFRESH="1",
    )
    # No database server, no Redis, the secret key kept in the data directory.
    for name in ("DATABASE_URL", "REDIS_URL", "FANOUT_PUBLIC_URL", "FANOUT_ANNOUNCE_URL", "SECRET_KEY"):
        env.pop(name, None)
    env.update(overrides)
    return env


def start_make_run(env: dict[str, str]) -> tuple[RunningProcess, str]:
    """What `make run` runs (scripts/run_all.py, without make's install step), once every process
    is ready; the instance's URL. Stop it with SIGINT, as Ctrl-C does."""
    run = RunningProcess("make run", [sys.executable, str(ROOT / "scripts" / "run_all.py")], env)
    try:
        url = run.wait_for(r"Fanout: (http://\S+/)  login: admin / \S+", timeout=180)[1]
        run.wait_for(r"tracker listening on http://", timeout=60)
        run.wait_for(r"seeder \S+ listening on port", timeout=60)
        run.wait_for(r"@\S+ ready\.", timeout=60)
    except BaseException:
        run.stop()
        raise
    return run, url


def api_token(env: dict[str, str], username: str = "admin", *, scope: str = "publish") -> str:
    """A new API token of ``username``'s, made by `manage.py token create`."""
    return subprocess.run(
        [*MANAGE, "token", "create", username, "--name", "bench", "--scope", scope],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def fanout_env(env: dict[str, str], url: str, token: str) -> dict[str, str]:
    """``env`` with the `fanout` command pointed at ``url`` with ``token``."""
    return {**env, "FANOUT_URL": url, "FANOUT_TOKEN": token}
