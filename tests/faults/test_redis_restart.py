"""Redis stopped and started under a running tracker and web: refusals the clients understand
while it is down, recovery without a restart, and every acknowledged completed download counted once."""

import os
import signal
import time

import pytest
from django.conf import settings
from django.db import connection

from bittorrent import bencode
from distribution.models import ReleaseTotals
from harness.loopback import free_port
from harness.polling import wait_until
from harness.private_servers import wait_until_closed
from tests.conftest import database_url_for_subprocess, subprocess_env
from tests.faults.conftest import http_get, web_argv
from tests.tracker.conftest import announce_query, quoted
from tracker.swarm_store import SwarmStoreUnavailable
from tracker.tasks import flush_tracker_statistics

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

# Every request is bounded: a hang is a failure, not a stuck test.
REQUEST_TIMEOUT = 5.0


def get(port: int, path: str) -> tuple[int, bytes]:
    return http_get(port, path, timeout=REQUEST_TIMEOUT)


def announce(tracker_port: int, info_hash: bytes, *, peer_id: bytes, **params: object) -> dict:
    """Announce as the peer ``peer_id`` (listening on ``params["port"]``); the tracker's answer."""
    status, body = get(tracker_port, "/announce?" + announce_query(info_hash, peer_id, **params).decode())
    assert status == 200, body
    return bencode.decode(body)


@pytest.fixture
def flush_into_private_redis(settings, private_redis):
    """The beat task that moves the tracker's statistics to the database, run against our Redis."""
    settings.REDIS_URL = private_redis.url()
    return flush_tracker_statistics


def completed_total(release) -> int:
    totals = ReleaseTotals.objects.filter(release=release).first()
    return totals.completed if totals else 0


def test_the_tracker_and_web_ride_out_a_redis_restart_and_count_each_completion_once(
    private_redis, start_tracker, start_process, make_release, flush_into_private_redis
):
    release = make_release()
    info_hash = bytes.fromhex(release.torrent.info_hash_v1)
    tracker = start_tracker(REDIS_URL=private_redis.url())
    tracker_port = int(tracker.announce_url.rsplit(":", 1)[1].split("/")[0])
    web_port = free_port()
    web = start_process(
        "web",
        web_argv(web_port),
        subprocess_env(
            DATABASE_URL=database_url_for_subprocess(connection.settings_dict),
            FANOUT_DATA_DIR=str(settings.DATA_DIR),
            REDIS_URL=private_redis.url(),
        ),
    )
    web.wait_for_port(web_port)

    # A download that finished before the outage, acknowledged by the tracker.
    # Peers are told apart by address and port.
    first = {"peer_id": b"-LT2110-done-before1", "port": 7001}
    second = {"peer_id": b"-LT2110-done-during1", "port": 7002}
    announce(tracker_port, info_hash, **first, left=100, event="started")
    announce(tracker_port, info_hash, **second, left=100, event="started")
    acknowledged = announce(tracker_port, info_hash, **first, left=0, event="completed")
    assert acknowledged[b"complete"] == 1

    private_redis.stop()
    wait_until_closed(private_redis.port)

    # The tracker refuses in bencode, at once: the client announces again later.
    refused = {b"failure reason": b"tracker temporarily unavailable"}
    during = announce(tracker_port, info_hash, **second, left=0, event="completed")
    assert during == refused
    # The web's own /announce says the same; its pages do not need Redis.
    web_status, web_body = get(web_port, "/announce?" + announce_query(info_hash).decode())
    assert (web_status, bencode.decode(web_body)) == (200, refused)
    catalogue_status, catalogue = get(web_port, "/")
    assert catalogue_status == 200 and release.product.name.encode() in catalogue
    release_status, page = get(web_port, release.get_absolute_url())
    assert release_status == 200 and release.version.encode() in page
    # The flush finds Redis gone and takes nothing: the counts wait in Redis.
    with pytest.raises(SwarmStoreUnavailable):
        flush_into_private_redis()
    assert completed_total(release) == 0

    private_redis.start()

    # Back by itself: the client whose completion was refused sends it again, and it counts.
    wait_until(
        lambda: b"failure reason" not in get(tracker_port, f"/scrape?info_hash={quoted(info_hash)}")[1],
        timeout=15,
        what="the tracker to answer again",
    )
    again = announce(tracker_port, info_hash, **second, left=0, event="completed")
    assert (again[b"complete"], again[b"incomplete"]) == (2, 0)
    web_status, web_body = get(web_port, "/announce?" + announce_query(info_hash).decode())
    assert web_status == 200 and b"failure reason" not in bencode.decode(web_body)

    flush_into_private_redis()
    flush_into_private_redis()
    assert completed_total(release) == 2


def test_the_tracker_answers_at_once_while_redis_hangs_and_recovers_when_it_wakes(
    private_redis, start_tracker, make_release
):
    release = make_release()
    info_hash = bytes.fromhex(release.torrent.info_hash_v1)
    tracker = start_tracker(REDIS_URL=private_redis.url())
    tracker_port = int(tracker.announce_url.rsplit(":", 1)[1].split("/")[0])
    peer = {"peer_id": b"-LT2110-frozen-redis", "port": 7003}
    assert b"failure reason" not in announce(tracker_port, info_hash, **peer, left=100, event="started")

    # Frozen, not gone: its port still accepts connections, and nothing answers on them.
    os.kill(private_redis.process.process.pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        during = announce(tracker_port, info_hash, **peer, left=100)
        assert during == {b"failure reason": b"tracker temporarily unavailable"}
        assert time.monotonic() - started < REQUEST_TIMEOUT
    finally:
        os.kill(private_redis.process.process.pid, signal.SIGCONT)

    wait_until(
        lambda: b"failure reason" not in get(tracker_port, f"/scrape?info_hash={quoted(info_hash)}")[1],
        timeout=15,
        what="the tracker to answer again",
    )
    assert announce(tracker_port, info_hash, **peer, left=0, event="completed")[b"complete"] == 1
