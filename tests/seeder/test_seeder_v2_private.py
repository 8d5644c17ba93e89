"""A private multi-file release in BitTorrent v2 only, from `manage.py publish` to a libtorrent client.

A v2 torrent has no v1 info-hash: the tracker, the seeder's announces and its
allow list all know the swarm by the SHA-256 info-hash truncated to 20 bytes.
The seeder's first announce is refused (the tracker learns of the release and
of the node's credential at its next refresh); libtorrent reports a v2-only
torrent's refusals apart from the tracker entry's own fields, where the seeder
looked, so it never announced again and the release stayed "announcing".
"""

import os

import libtorrent as lt
import pytest
from django.db import connection
from django.urls import reverse

from bittorrent import bencode
from distribution.models import Passkey, Release
from harness.loopback import free_port
from harness.processes import CELERY, MANAGE
from seeder.models import Seeding
from tests.conftest import database_url_for_subprocess, subprocess_env
from tests.factories import UserFactory
from tests.test_end_to_end import download_through_tracker, without_web_seeds

FILES = {"setup.bin": 2 * 1024 * 1024 + 777, "docs/manual.pdf": 300_000, "docs/notes.txt": 5}


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_v2_only_private_multi_file_release_is_seeded_and_downloaded(
    tmp_path, start_process, client, settings
):
    tracker_port = free_port()
    settings.FANOUT_ANNOUNCE_URL = f"http://127.0.0.1:{tracker_port}/announce"
    # No Redis: the worker takes its tasks from a broker in this test's data directory.
    env = subprocess_env(
        DATABASE_URL=database_url_for_subprocess(connection.settings_dict),
        FANOUT_DATA_DIR=str(tmp_path),
        REDIS_URL="",
        TRACKER_PORT=str(tracker_port),
        FANOUT_ANNOUNCE_URL=settings.FANOUT_ANNOUNCE_URL,
        # The seeder's first announce comes before the tracker knows the release, and is refused.
        FANOUT_TRACKER_WHITELIST_REFRESH="5",
    )
    source = tmp_path / "source" / "suite"
    contents = {}
    for path, size in FILES.items():
        (source / path).parent.mkdir(parents=True, exist_ok=True)
        contents[path] = os.urandom(size)
        (source / path).write_bytes(contents[path])
    start_process("tracker", [*MANAGE, "runtracker"], env).wait_for(r"tracker listening on http://")
    worker = start_process("worker", [*CELERY, "worker", "--pool", "solo", "--loglevel", "INFO"], env)
    worker.wait_for(r"celery@\S+ ready")
    seeder_argv = [*MANAGE, "runseeder", "--name", "v2-private", "--port", str(free_port())]
    start_process("seeder", seeder_argv, env).wait_for(r"seeder v2-private listening on port")
    member = UserFactory()
    Passkey.for_user(member)

    publish = start_process(
        "publish",
        [*MANAGE, "publish", str(source), "--product", "suite", "--version", "2.0"]
        + ["--private", "--format", "v2", "--wait", "--timeout", "30"],
        env,
    )

    assert publish.wait_for_exit(60) == 0, publish.transcript()
    release = Release.objects.get(product__slug="suite", version="2.0")
    assert release.torrent.info_hash_v1 is None and release.torrent.info_hash_v2
    assert Seeding.objects.get(release=release, node__name="v2-private").state == Seeding.State.SEEDING
    client.force_login(member)
    response = client.get(reverse("release-torrent", args=[release.pk]))
    assert response.status_code == 200
    metainfo = without_web_seeds(response.content)
    assert not lt.torrent_info(metainfo).info_hashes().has_v1()
    assert bencode.decode(metainfo)[b"info"][b"private"] == 1

    assert download_through_tracker(metainfo, tmp_path / "download") >= 1
    downloaded = tmp_path / "download" / lt.torrent_info(metainfo).name()
    for path, data in contents.items():
        assert (downloaded / path).read_bytes() == data
