"""Fixtures for the tracker's tests: swarm stores, published releases, a running runtracker."""

import functools
import hashlib
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.parse import quote_from_bytes

import pytest
import redis
from django.conf import settings
from django.db import connection

from distribution.models import Release, Torrent
from harness.processes import MANAGE, RunningProcess
from tests.conftest import database_url_for_subprocess, subprocess_env
from tests.factories import ReleaseFactory
from tracker.swarm_store import MemorySwarmStore, RedisSwarmStore, SwarmStore

StoreFactory = Callable[..., SwarmStore]


def redis_url() -> str:
    """The Redis at REDIS_URL, or a local one when REDIS_URL is unset."""
    return settings.REDIS_URL or "redis://127.0.0.1:6379/0"


def connect_redis() -> redis.Redis:
    """A client of ``redis_url()``; the test is skipped if there is no local Redis and REDIS_URL is unset."""
    client = redis.Redis.from_url(redis_url())
    try:
        client.ping()
    except redis.ConnectionError:
        if settings.REDIS_URL:
            raise
        pytest.skip("no Redis at redis://127.0.0.1:6379/0 and REDIS_URL unset")
    return client


@pytest.fixture
def redis_client() -> Iterator[redis.Redis]:
    client = connect_redis()
    yield client
    client.close()


@pytest.fixture
def redis_prefix(redis_client: redis.Redis) -> Iterator[str]:
    """A key prefix of this test's own, deleted afterwards: tests running side by side never meet."""
    prefix = f"test:tracker:{uuid.uuid4().hex}:"
    yield prefix
    keys = list(redis_client.scan_iter(match=prefix + "*"))
    if keys:
        redis_client.delete(*keys)


@pytest.fixture(params=["memory", "redis"])
def make_store(request: pytest.FixtureRequest) -> StoreFactory:
    """Builds a fresh, empty store of each implementation: the suite runs once per kind."""
    if request.param == "memory":
        return MemorySwarmStore
    client, prefix = request.getfixturevalue("redis_client"), request.getfixturevalue("redis_prefix")
    return functools.partial(RedisSwarmStore, client, prefix=prefix)


def info_hash(name: str) -> bytes:
    return hashlib.sha1(name.encode()).digest()


def quoted(value: bytes) -> str:
    return quote_from_bytes(value, safe="")


def announce_query(info_hash: bytes, peer_id: bytes = b"-PY0001-000000000001", **params: object) -> bytes:
    fields = {"info_hash": quoted(info_hash), "peer_id": quoted(peer_id), "port": 6881, "left": 100}
    fields.update(params)
    return "&".join(f"{name}={value}" for name, value in fields.items()).encode()


def publish_release(
    version: str,
    *,
    v1: bytes | None = None,
    v2: bytes | None = None,
    status: str = Release.Status.PUBLISHED,
) -> Release:
    """A release (published unless told) whose torrent has these info-hashes (v2 is 32 bytes)."""
    release = ReleaseFactory(
        version=version, status=status, torrent_format="hybrid" if v1 and v2 else "v2" if v2 else "v1"
    )
    Torrent.objects.create(
        release=release,
        info_hash_v1=v1.hex() if v1 else None,
        info_hash_v2=v2.hex() if v2 else None,
        piece_length=16384,
        piece_count=1,
        metainfo=b"",
        magnet_uri="magnet:?",
    )
    return release


@dataclass
class RunningTracker:
    process: RunningProcess
    announce_url: str
    udp_address: tuple[str, int]

    @property
    def base_url(self) -> str:
        return self.announce_url.removesuffix("/announce")


@pytest.fixture
def start_tracker(transactional_db: None, start_process) -> Callable[..., RunningTracker]:
    """Starts ``manage.py runtracker`` on the test database and free ports (unless told others)."""

    def start(*arguments: str, **env: str) -> RunningTracker:
        process = start_process(
            "tracker",
            [*MANAGE, "runtracker", "--host", "127.0.0.1", "--http-port", "0", "--udp-port", "0", *arguments],
            subprocess_env(
                DATABASE_URL=database_url_for_subprocess(connection.settings_dict),
                FANOUT_DATA_DIR=str(settings.DATA_DIR),
                FANOUT_TRACKER_WHITELIST_REFRESH="1",
                **env,
            ),
        )
        http_url = process.wait_for(r"tracker listening on (http://\S+)", timeout=30)[1]
        udp_host, udp_port = process.wait_for(
            r"tracker listening on udp://(\S+):(\d+)/announce", timeout=5
        ).groups()
        return RunningTracker(process, http_url, (udp_host, int(udp_port)))

    return start
