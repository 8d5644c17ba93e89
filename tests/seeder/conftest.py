"""Releases with real files and torrents, and seeder processes running on the test database."""

import os
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import libtorrent as lt
import pytest
from django.conf import settings
from django.db import connection

from distribution.models import Release
from harness.libtorrent_peers import TEST_PIECE_LENGTH, make_torrent
from harness.loopback import free_port
from harness.processes import MANAGE, RunningProcess
from harness.releases import attach_torrent
from tests.conftest import database_url_for_subprocess, subprocess_env
from tests.factories import ReleaseFactory, ReleaseFileFactory

RELEASE_SIZE = 3 * 1024 * 1024 + 12345


@pytest.fixture
def make_release() -> Callable[..., Release]:
    """Publish a single-file release whose bytes are on disk, as the worker leaves it."""

    def make(*, size: int = RELEASE_SIZE) -> Release:
        release = ReleaseFactory()
        path = release.disk_path(release.content_name)
        path.parent.mkdir(parents=True)
        path.write_bytes(os.urandom(size))
        ReleaseFileFactory(release=release, path=release.content_name, size=size)
        attach_torrent(release, make_torrent(path))
        return release

    return make


@pytest.fixture
def make_multi_file_release() -> Callable[..., Release]:
    """Publish a multi-file release built as the worker builds it: tracker and web seed in the torrent."""

    def make(
        *, announce_url: str, sizes: dict[str, int], web_seed_root: str = "http://127.0.0.1:9/"
    ) -> Release:
        release = ReleaseFactory(content_name=f"multi-{uuid.uuid4().hex[:6]}", is_single_file=False)
        for path, size in sizes.items():
            disk_path = release.disk_path(path)
            disk_path.parent.mkdir(parents=True, exist_ok=True)
            disk_path.write_bytes(os.urandom(size))
            ReleaseFileFactory(release=release, path=path, size=size)
        # Laid out as the worker builds torrents (distribution/torrents.py): "<name>/<path>" entries.
        entries = [
            lt.create_file_entry(f"{release.content_name}/{path}", size)
            for path, size in sorted(sizes.items())
        ]
        creator = lt.create_torrent(entries, TEST_PIECE_LENGTH, lt.create_torrent.v1_only)
        lt.set_piece_hashes(creator, str(release.content_dir))
        creator.add_tracker(announce_url)
        creator.add_url_seed(f"{web_seed_root.rstrip('/')}/releases/{release.pk}/seed/")
        metainfo = lt.bencode(creator.generate())
        attach_torrent(release, metainfo)
        return release

    return make


@dataclass(frozen=True)
class Seeder:
    node: str
    port: int
    state_dir: Path
    process: RunningProcess


@pytest.fixture
def spawn_seeder(start_process) -> Callable[..., Seeder]:
    """Start `manage.py runseeder` on the test database and the test's data directory."""
    data_dir = settings.RELEASES_DIR.parent

    def spawn(*, node: str | None = None, port: int | None = None, **env: str) -> Seeder:
        node = node or f"test-{uuid.uuid4().hex[:8]}"
        port = port or free_port()
        process = start_process(
            f"seeder {node}",
            [*MANAGE, "runseeder", "--name", node, "--port", str(port)],
            subprocess_env(
                DATABASE_URL=database_url_for_subprocess(connection.settings_dict),
                FANOUT_DATA_DIR=str(data_dir),
                **env,
            ),
        )
        return Seeder(node=node, port=port, state_dir=data_dir / "seeder" / node, process=process)

    return spawn


@pytest.fixture
def start_seeder(spawn_seeder) -> Callable[..., Seeder]:
    """Spawn a seeder and wait for the line that says it listens."""

    def start(**kwargs) -> Seeder:
        seeder = spawn_seeder(**kwargs)
        seeder.process.wait_for(
            rf"^seeder {re.escape(seeder.node)} listening on port {seeder.port}$", timeout=30
        )
        return seeder

    return start
