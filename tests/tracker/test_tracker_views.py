"""/announce and /scrape served by Django, on the real database."""

import pytest
from django.urls import reverse

from bittorrent import bencode
from tests.tracker.conftest import announce_query, info_hash, publish_release, quoted
from tracker import views

pytestmark = pytest.mark.django_db

V1 = info_hash("views-v1")


@pytest.fixture(autouse=True)
def fresh_tracker(monkeypatch):
    monkeypatch.setattr(views, "in_process_tracker", views.InProcessTracker())


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
    assert bencode.decode(response.content) == {b"failure reason": b"unregistered torrent"}


def test_it_answers_bad_announces_with_a_failure_reason(client):
    response = client.get("/announce?port=1")
    assert bencode.decode(response.content) == {b"failure reason": b"missing info_hash"}


def test_it_scrapes(client):
    v2 = info_hash("views-v2") + bytes(12)
    publish_release("2.0", v2=v2)
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
    # One whitelist read: swarms, private swarms and passkeys, in one (nested: a savepoint) transaction.
    with django_assert_num_queries(5):
        client.get("/announce?" + announce_query(V1).decode())
        client.get("/announce?" + announce_query(V1).decode())
    publish_release("2.0", v1=info_hash("views-later"))
    response = client.get("/announce?" + announce_query(info_hash("views-later")).decode())
    assert bencode.decode(response.content) == {b"failure reason": b"unregistered torrent"}


def test_it_takes_up_releases_published_since_the_last_refresh(client, settings):
    settings.FANOUT_TRACKER_WHITELIST_REFRESH = 0
    client.get("/announce?" + announce_query(V1).decode())
    publish_release("1.0", v1=V1)
    response = client.get("/announce?" + announce_query(V1).decode())
    assert bencode.decode(response.content)[b"incomplete"] == 1
