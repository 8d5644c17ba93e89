"""/announce and /scrape served by Django, on the real database and, with REDIS_URL, real Redis."""

import sys
from pathlib import Path

import pytest
from django.db import connection
from django.urls import reverse

from bittorrent import bencode
from distribution.models import ReleaseDayStats
from harness.loopback import free_port
from harness.polling import wait_until
from tests.conftest import database_url_for_subprocess, subprocess_env
from tests.tracker.conftest import announce_query, info_hash, publish_release, quoted, redis_url
from tests.tracker.test_runtracker import fetch
from tracker import tasks, views
from tracker.engine import REFUSED

pytestmark = pytest.mark.django_db

V1 = info_hash("views-v1")


@pytest.fixture(autouse=True)
def fresh_tracker(monkeypatch):
    monkeypatch.setattr(views, "in_process_tracker", views.InProcessTracker())


def completed_announce(tracker: views.InProcessTracker) -> bytes:
    """A download from start to finish: a leecher's announce, then its completed one."""
    started, completed = announce_query(V1, event="started"), announce_query(V1, event="completed", left=0)
    tracker.answer(lambda engine: engine.handle_announce(started, "10.0.0.1"))
    return tracker.answer(lambda engine: engine.handle_announce(completed, "10.0.0.1"))


def test_it_answers_announces_for_published_releases(client):
    publish_release("1.0", v1=V1)
    client.get("/announce?" + announce_query(V1, left=0).decode(), REMOTE_ADDR="10.0.0.1")
    response = client.get(
        reverse("announce") + "?" + announce_query(V1, port=7).decode(), REMOTE_ADDR="10.0.0.2"
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain"
    assert bencode.decode(response.content)[b"peers"] == bytes([10, 0, 0, 1, 0x1A, 0xE1])


def test_it_refuses_releases_that_are_not_published(client):
    publish_release("draft", v1=V1, status="processing")
    response = client.get("/announce?" + announce_query(V1).decode())
    assert bencode.decode(response.content) == {b"failure reason": REFUSED.encode()}


def test_it_answers_bad_announces_with_a_failure_reason(client):
    response = client.get("/announce?port=1")
    assert bencode.decode(response.content) == {b"failure reason": b"missing info_hash"}


def test_it_scrapes(client):
    v2 = info_hash("views-v2") + bytes(12)
    publish_release("2.0", v2=v2)
    client.get("/announce?" + announce_query(v2[:20], event="started").decode())
    client.get("/announce?" + announce_query(v2[:20], event="completed", left=0).decode())
    response = client.get(reverse("scrape") + f"?info_hash={quoted(v2[:20])}")
    assert bencode.decode(response.content) == {
        b"files": {v2[:20]: {b"complete": 1, b"downloaded": 1, b"incomplete": 0}}
    }


def test_it_allows_only_get(client):
    assert client.post("/announce").status_code == 405
    assert client.post("/scrape").status_code == 405


def test_it_reads_the_tracked_swarms_at_most_once_per_refresh_interval(
    client, settings, django_assert_num_queries
):
    settings.FANOUT_TRACKER_WHITELIST_REFRESH = 3600
    publish_release("1.0", v1=V1)
    # One whitelist read: swarms, private swarms, passkeys with their users' groups and products,
    # and node credentials, in one (nested: a savepoint) transaction.
    with django_assert_num_queries(8):
        client.get("/announce?" + announce_query(V1).decode())
        client.get("/announce?" + announce_query(V1).decode())
    publish_release("2.0", v1=info_hash("views-later"))
    response = client.get("/announce?" + announce_query(info_hash("views-later")).decode())
    assert bencode.decode(response.content) == {b"failure reason": REFUSED.encode()}


def test_it_takes_up_releases_published_since_the_last_refresh(client, settings):
    settings.FANOUT_TRACKER_WHITELIST_REFRESH = 0
    client.get("/announce?" + announce_query(V1).decode())
    publish_release("1.0", v1=V1)
    response = client.get("/announce?" + announce_query(V1).decode())
    assert bencode.decode(response.content)[b"incomplete"] == 1


def test_web_workers_share_their_swarms_through_redis(settings, redis_client):
    settings.REDIS_URL = redis_url()
    publish_release("1.0", v1=V1)
    # As two gunicorn workers: each its own tracker, store and Redis connection.
    first, second = views.InProcessTracker(), views.InProcessTracker()
    first.answer(lambda tracker: tracker.handle_announce(announce_query(V1, left=0), "10.0.0.1"))
    answer = second.answer(lambda tracker: tracker.handle_announce(announce_query(V1, port=7), "10.0.0.2"))
    assert bencode.decode(answer)[b"peers"] == bytes([10, 0, 0, 1, 0x1A, 0xE1])


def test_with_redis_the_web_leaves_the_statistics_to_the_celery_task(settings, redis_client):
    settings.REDIS_URL = redis_url()
    settings.FANOUT_TRACKER_STATS_FLUSH_SECONDS = 0
    release = publish_release("1.0", v1=V1)
    tracker = views.InProcessTracker()
    completed_announce(tracker)
    completed_announce(tracker)
    assert not ReleaseDayStats.objects.exists()
    assert tasks.flush_tracker_statistics.apply().get() == 1
    assert ReleaseDayStats.objects.get(release=release).completed == 1


def test_with_the_memory_store_the_web_writes_its_own_statistics(settings):
    settings.REDIS_URL = None
    settings.FANOUT_TRACKER_STATS_FLUSH_SECONDS = 0
    release = publish_release("1.0", v1=V1)
    tracker = views.InProcessTracker()
    completed_announce(tracker)
    completed_announce(tracker)
    assert ReleaseDayStats.objects.get(release=release).completed == 1


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_gunicorn_workers_answer_from_one_swarm_through_redis(settings, redis_client, start_process):
    settings.REDIS_URL = redis_url()
    publish_release("1.0", v1=V1)
    port = free_port()
    web = start_process(
        "web",
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "config.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "-w",
            "3",
        ],
        subprocess_env(
            DATABASE_URL=database_url_for_subprocess(connection.settings_dict),
            FANOUT_DATA_DIR=str(settings.DATA_DIR),
            REDIS_URL=redis_url(),
        ),
    )
    wait_until(lambda: sum("Booting worker" in line for line in web.output) == 3, what="three web workers")
    web.wait_for_port(port)
    # Each announce on a connection of its own: the kernel spreads them over the workers.
    for peer_port in range(1000, 1030):
        answer = fetch(f"http://127.0.0.1:{port}/announce?" + announce_query(V1, port=peer_port).decode())
    assert answer[b"incomplete"] == 30
