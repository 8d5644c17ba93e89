"""Fixtures of the fault tests: servers of the test's own to stop and start, and the suite's
fixtures for releases, seeders and trackers on the test database."""

import http.client
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.private_servers import POSTGRES_BIN, REDIS_SERVER, PrivatePostgres, PrivateRedis
from tests.seeder.conftest import make_release, spawn_seeder, start_seeder  # noqa: F401
from tests.tracker.conftest import start_tracker  # noqa: F401

GUNICORN = str(Path(sys.executable).parent / "gunicorn")


def web_argv(port: int) -> list[str]:
    """The web process as `make run` starts it (gunicorn), with one worker of four threads."""
    return [GUNICORN, "config.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "1", "--threads", "4"]


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    if REDIS_SERVER is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    server = PrivateRedis(tmp_path / "redis")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    if POSTGRES_BIN is None:
        pytest.skip("PostgreSQL's server binaries are not installed (apt-get install postgresql)")
    # Not under tmp_path: the postgres account must reach it, and pytest's folders are private.
    folder = Path(tempfile.mkdtemp(prefix="faults-postgres-"))
    server = PrivatePostgres(folder)
    server.start()
    yield server
    server.stop()
    shutil.rmtree(folder, ignore_errors=True)


def http_get(port: int, path: str, *, timeout: float) -> tuple[int, bytes]:
    """One HTTP GET on 127.0.0.1:``port``, bounded: a hang is a failure, not a stuck test."""
    client = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        client.request("GET", path)
        response = client.getresponse()
        return response.status, response.read()
    finally:
        client.close()
