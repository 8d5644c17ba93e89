"""A Celery worker killed with SIGKILL in the middle of a torrent build: the build runs again
elsewhere, and the release ends published with one torrent that matches its bytes."""

import hashlib
import os
import signal
import time
from datetime import timedelta
from pathlib import Path

import libtorrent as lt
import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from config.celery import app
from distribution.models import Release, Torrent
from harness.polling import wait_until
from harness.processes import CELERY
from tests.conftest import database_url_for_subprocess, subprocess_env
from tests.factories import ReleaseFactory, ReleaseFileFactory

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

# Sparse: no disk is spent, and hashing a hybrid torrent's pieces and blocks of it takes seconds here
# (hybrid hashes in forked processes, v1 in threads: the fork is the harder case).
BUILD_SIZE = 2 * 1024**3
# The shortest stall the settings accept (FANOUT_BUILD_STALL_SECONDS).
STALL_SECONDS = 60


@pytest.fixture
def worker_env(private_redis):
    """The environment of workers on the test's database and data directory, with our Redis as broker."""
    return subprocess_env(
        DATABASE_URL=database_url_for_subprocess(connection.settings_dict),
        FANOUT_DATA_DIR=str(settings.RELEASES_DIR.parent),
        REDIS_URL=private_redis.url(),
        FANOUT_BUILD_STALL_SECONDS=str(STALL_SECONDS),
        # Stopped as `make run` and compose stop it (SIGTERM taken as SIGQUIT: at once).
        REMAP_SIGTERM="SIGQUIT",
    )


@pytest.fixture
def start_worker(worker_env, start_process):
    """A worker as `make run` starts it (prefork, two processes), without beat: the test is the clock."""

    def start(name: str):
        worker = start_process(
            name,
            [*CELERY, "worker", "--loglevel", "INFO", "--concurrency", "2", "--hostname", f"{name}@%h"],
            worker_env,
        )
        worker.wait_for(rf"{name}@\S+ ready", timeout=60)
        return worker

    return start


def send(worker_env: dict[str, str], task: str, *args: object) -> None:
    """Queue ``task`` as the web (or beat) queues it, on the workers' broker."""
    with app.connection_for_write(worker_env["REDIS_URL"]) as broker:
        app.send_task(task, args=args, connection=broker)


def processing_release() -> Release:
    """A release whose files are all stored, about to be built into a hybrid torrent."""
    release = ReleaseFactory(status=Release.Status.UPLOADING, torrent_format="hybrid")
    path = release.disk_path(release.content_name)
    path.parent.mkdir(parents=True)
    with path.open("wb") as file:
        file.truncate(BUILD_SIZE)
    ReleaseFileFactory(release=release, path=release.content_name, size=BUILD_SIZE)
    assert release.start_processing()
    return release


def build_in_progress(release: Release) -> bool:
    """Whether the worker has said it is hashing the release's pieces (it counts them first)."""
    release.refresh_from_db()
    return release.status == Release.Status.PROCESSING and release.build_pieces_total > 0


def published(release: Release) -> bool:
    release.refresh_from_db()
    assert release.status != Release.Status.FAILED, release.failure_reason
    return release.status == Release.Status.PUBLISHED


def assert_published_once(release: Release) -> None:
    assert Torrent.objects.filter(release=release).count() == 1
    info = lt.torrent_info(bytes(release.torrent.metainfo))
    assert info.total_size() == BUILD_SIZE and info.info_hashes().has_v2()
    assert release.build_pieces_done == release.build_pieces_total == release.torrent.piece_count
    assert release.files.get().sha256 == _sha256_of_zeros(BUILD_SIZE)


def _sha256_of_zeros(size: int) -> str:
    digest, block = hashlib.sha256(), bytes(1024 * 1024)
    for _ in range(size // len(block)):
        digest.update(block)
    return digest.hexdigest()


def pool_process_reading(worker, path: Path) -> int:
    """The pid of the worker's pool process that has ``path`` open: the one hashing it."""
    found: list[int] = []

    def reading() -> bool:
        children = Path(f"/proc/{worker.process.pid}/task/{worker.process.pid}/children").read_text()
        for pid in children.split():
            try:
                if any(descriptor.readlink() == path for descriptor in Path(f"/proc/{pid}/fd").iterdir()):
                    found.append(int(pid))
                    return True
            except FileNotFoundError:  # a descriptor closed, or the process gone, meanwhile
                continue
        return False

    wait_until(reading, timeout=30, what=f"a pool process to open {path}")
    return found[0]


def test_a_build_whose_pool_process_is_killed_runs_again_at_once(start_worker, worker_env):
    release = processing_release()
    worker = start_worker("builder")
    send(worker_env, "distribution.build_torrent", release.pk)
    wait_until(lambda: build_in_progress(release), timeout=60, what="the build to be under way")

    os.kill(pool_process_reading(worker, release.disk_path(release.content_name)), signal.SIGKILL)

    # The worker sees its process lost and hands the task back (acks late, rejected on worker
    # lost): its other pool process, or a new one, builds it from the start.
    worker.wait_for(r"WorkerLostError", timeout=30)
    wait_until(lambda: published(release), timeout=240, what="the release to be published")
    assert_published_once(release)
    assert worker.transcript().count("Task distribution.build_torrent[") == 3  # received twice, done once


def test_a_build_whose_whole_worker_is_killed_is_queued_again_once_stalled(start_worker, worker_env):
    release = processing_release()
    first = start_worker("doomed")
    send(worker_env, "distribution.build_torrent", release.pk)
    wait_until(lambda: build_in_progress(release), timeout=60, what="the build to be under way")

    first.stop(signal.SIGKILL)

    # The task is still unacknowledged in Redis, hidden for the visibility timeout (hours):
    # a new worker gets nothing until the stalled build is queued again by beat's task.
    second = start_worker("successor")
    release.refresh_from_db()
    assert release.status == Release.Status.PROCESSING
    stalled_since = release.build_updated_at
    wait_until(
        lambda: timezone.now() - stalled_since > timedelta(seconds=STALL_SECONDS + 1),
        timeout=STALL_SECONDS + 10,
        what="the build to count as stalled",
    )
    release.refresh_from_db()
    assert release.status == Release.Status.PROCESSING and release.build_updated_at == stalled_since
    send(worker_env, "distribution.requeue_stalled_builds")
    send(worker_env, "distribution.requeue_stalled_builds")

    wait_until(lambda: published(release), timeout=240, what="the release to be published")
    assert_published_once(release)
    # Queued again once, though asked twice: received, then done.
    assert second.transcript().count("Task distribution.build_torrent[") == 2


def test_a_worker_stopped_mid_build_exits_within_seconds_and_hands_the_build_back(start_worker, worker_env):
    release = processing_release()
    leaving = start_worker("leaving")
    send(worker_env, "distribution.build_torrent", release.pk)
    wait_until(lambda: build_in_progress(release), timeout=60, what="the build to be under way")

    started = time.monotonic()
    returncode = leaving.stop(signal.SIGTERM, timeout=15)

    assert returncode >= 0, "the worker had to be killed"
    assert time.monotonic() - started < 10
    # Unacknowledged, the task went back to the queue as the worker left: the next worker takes it
    # at once, with no stall to wait for.
    successor = start_worker("successor")
    wait_until(lambda: published(release), timeout=240, what="the release to be published")
    assert_published_once(release)
    assert successor.transcript().count("Task distribution.build_torrent[") == 2
