"""Private releases: passkeys, the whitelist that carries them, the .torrent that holds them, the page."""

import asyncio
from urllib.parse import parse_qsl

import pytest
from django.urls import reverse

from bittorrent import bencode
from distribution import access
from distribution.models import Passkey
from tests.factories import UserFactory
from tests.tracker.conftest import announce_query, info_hash, publish_release
from tests.tracker.test_engine import udp_announce, udp_connect
from tracker import views
from tracker.engine import Tracker, UdpTracker, Whitelist
from tracker.http_server import HttpTrackerServer, split_path
from tracker.selectors import load_whitelist
from tracker.swarm_store import MemorySwarmStore

PUBLIC = info_hash("public")
PRIVATE = info_hash("private")
KEY = b"0123456789abcdef0123456789abcdef"


def failure(answer: bytes) -> bytes | None:
    return bencode.decode(answer).get(b"failure reason")


@pytest.fixture
def tracker() -> Tracker:
    tracker = Tracker(MemorySwarmStore(peer_ttl=100), interval=1800, min_interval=60, clock=lambda: 1000.0)
    tracker.load(Whitelist({PUBLIC: 1, PRIVATE: 2}, frozenset({2}), frozenset({KEY})))
    return tracker


def test_a_private_swarm_is_answered_only_through_a_valid_passkey(tracker):
    assert failure(tracker.handle_announce(announce_query(PRIVATE), "10.0.0.1")) == (
        b"private torrent: download its .torrent again while logged in"
    )
    assert (
        failure(tracker.handle_announce(announce_query(PRIVATE), "10.0.0.1", b"f" * 32)) == b"invalid passkey"
    )
    assert failure(tracker.handle_announce(announce_query(PRIVATE), "10.0.0.1", KEY)) is None


def test_a_public_swarm_is_answered_with_or_without_a_passkey_but_not_with_a_wrong_one(tracker):
    assert failure(tracker.handle_announce(announce_query(PUBLIC), "10.0.0.1")) is None
    assert failure(tracker.handle_announce(announce_query(PUBLIC), "10.0.0.2", KEY)) is None
    assert failure(tracker.handle_announce(announce_query(PUBLIC), "10.0.0.3", b"nope")) == b"invalid passkey"


def test_a_dropped_passkey_stops_working_at_the_next_load(tracker):
    tracker.load(Whitelist({PUBLIC: 1, PRIVATE: 2}, frozenset({2}), frozenset()))
    assert failure(tracker.handle_announce(announce_query(PRIVATE), "10.0.0.1", KEY)) == b"invalid passkey"


def test_a_scrape_shows_private_swarms_only_through_a_valid_passkey(tracker):
    query = b"info_hash=" + announce_query(PUBLIC).split(b"&")[0][10:] + b"&info_hash="
    query += announce_query(PRIVATE).split(b"&")[0][10:]
    assert set(bencode.decode(tracker.handle_scrape(query))[b"files"]) == {PUBLIC}
    assert set(bencode.decode(tracker.handle_scrape(query, KEY))[b"files"]) == {PUBLIC, PRIVATE}
    assert failure(tracker.handle_scrape(query, b"bad")) == b"invalid passkey"


def test_udp_cannot_carry_a_passkey_so_it_refuses_private_swarms(tracker):
    udp = UdpTracker(tracker, key=b"k" * 32)
    answer = udp.handle(udp_announce(udp_connect(udp, "10.0.0.1"), PRIVATE, 1111), "10.0.0.1")
    assert answer[8:] == b"private torrent: download its .torrent again while logged in"


@pytest.mark.parametrize(
    ("path", "route"),
    [
        (b"/announce", (b"announce", None)),
        (b"/announce/abc", (b"announce", b"abc")),
        (b"/scrape", (b"scrape", None)),
        (b"/scrape/abc", (b"scrape", b"abc")),
        (b"/announce/", None),
        (b"/announce/a/b", None),
        (b"/announcer", None),
        (b"/", None),
        (b"", None),
    ],
)
def test_the_standalone_server_routes_passkey_paths(path, route):
    assert split_path(path) == route


def test_the_standalone_server_passes_the_passkey_on(tracker):
    async def main() -> None:
        server = HttpTrackerServer(tracker)
        await server.start("127.0.0.1", 0)
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.address[1])
            target = b"/announce/" + KEY + b"?" + announce_query(PRIVATE)
            writer.write(b"GET " + target + b" HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            answer = await reader.read()
            writer.close()
        finally:
            server.close()
        assert b"failure" not in answer
        assert bencode.decode(answer.partition(b"\r\n\r\n")[2])[b"incomplete"] == 1

    asyncio.run(main())


# With the database.


@pytest.mark.django_db
def test_a_passkey_is_random_unique_and_regenerated_at_once():
    first, second = UserFactory(), UserFactory()
    key = Passkey.for_user(first).key
    assert len(key) == 32 and key != Passkey.for_user(second).key
    assert Passkey.for_user(first).key == key
    assert key.encode() in load_whitelist().passkeys
    regenerated = access.regenerate_passkey(first)
    assert regenerated.key != key
    passkeys = load_whitelist().passkeys
    assert key.encode() not in passkeys and regenerated.key.encode() in passkeys


@pytest.mark.django_db
def test_inactive_users_passkeys_open_nothing():
    user = UserFactory(is_active=False)
    assert Passkey.for_user(user).key.encode() not in load_whitelist().passkeys


@pytest.mark.django_db
def test_the_whitelist_says_which_published_swarms_are_private():
    public = publish_release("pub", v1=PUBLIC)
    private = publish_release("priv", v1=PRIVATE)
    private.visibility = "private"
    private.save()
    whitelist = load_whitelist()
    assert whitelist.swarms == {PUBLIC: public.pk, PRIVATE: private.pk}
    assert whitelist.private == {private.pk}


@pytest.fixture
def fresh_in_process_tracker(monkeypatch):
    monkeypatch.setattr(views, "in_process_tracker", views.InProcessTracker())


@pytest.mark.django_db
def test_the_django_views_serve_passkey_urls(client, fresh_in_process_tracker):
    private = publish_release("priv", v1=PRIVATE)
    private.visibility = "private"
    private.save()
    key = Passkey.for_user(UserFactory()).key
    query = "?" + announce_query(PRIVATE).decode()
    assert failure(client.get(reverse("announce") + query).content).startswith(b"private torrent")
    assert failure(client.get(reverse("announce-passkey", args=[key]) + query).content) is None
    scrape = reverse("scrape-passkey", args=[key]) + "?" + announce_query(PRIVATE).decode().split("&")[0]
    assert PRIVATE in bencode.decode(client.get(scrape).content)[b"files"]
    assert PRIVATE not in bencode.decode(client.get(scrape.replace(f"/{key}", "")).content)[b"files"]


def test_the_torrent_gets_the_users_announce_url_and_keeps_its_info_hash(settings, db):
    import hashlib

    settings.FANOUT_ANNOUNCE_URL = "http://t.example:6969/announce"
    info = {b"name": b"x", b"piece length": 16384, b"pieces": b"\0" * 20, b"length": 1}
    metainfo = bencode.encode(
        {
            b"announce": settings.FANOUT_ANNOUNCE_URL,
            b"announce-list": [[settings.FANOUT_ANNOUNCE_URL], [b"http://other/announce"]],
            b"info": info,
        }
    )
    user = UserFactory()
    rewritten = bencode.decode(access.torrent_with_passkey(metainfo, user))
    personal = f"http://t.example:6969/announce/{Passkey.for_user(user).key}".encode()
    assert rewritten[b"announce"] == personal
    assert rewritten[b"announce-list"] == [[personal], [b"http://other/announce"]]
    assert (
        hashlib.sha1(bencode.encode(rewritten[b"info"])).digest()
        == hashlib.sha1(bencode.encode(info)).digest()
    )


def test_the_passkey_page_shows_and_regenerates_it(client, db):
    user = UserFactory()
    client.force_login(user)
    page = client.get(reverse("account-passkey"))
    key = Passkey.for_user(user).key
    assert page.status_code == 200 and key in page.content.decode()
    assert access.announce_url(key) in page.content.decode()
    response = client.post(reverse("account-passkey"))
    assert response.status_code == 302
    assert Passkey.for_user(user).key != key


def test_the_passkey_page_needs_a_login(client, db):
    response = client.get(reverse("account-passkey"))
    assert response.status_code == 302 and "login" in response["Location"]


def test_a_logged_in_user_downloads_a_private_torrent_with_their_passkey(client, settings, db):
    settings.FANOUT_ANNOUNCE_URL = "http://t.example:6969/announce"
    metainfo = bencode.encode(
        {b"announce": settings.FANOUT_ANNOUNCE_URL, b"info": {b"name": b"x", b"length": 1}}
    )
    private = publish_release("priv", v1=PRIVATE)
    private.visibility = "private"
    private.save()
    private.torrent.metainfo = metainfo
    private.torrent.save()
    public = publish_release("pub", v1=PUBLIC)
    public.torrent.metainfo = metainfo
    public.torrent.save()
    user = UserFactory()
    client.force_login(user)
    downloaded = bencode.decode(client.get(reverse("release-torrent", args=[private.pk])).content)
    assert downloaded[b"announce"] == f"http://t.example:6969/announce/{Passkey.for_user(user).key}".encode()
    assert client.get(reverse("release-torrent", args=[public.pk])).content == metainfo


def test_a_logged_in_user_gets_a_private_magnet_link_with_their_passkey(client, settings, db):
    settings.FANOUT_ANNOUNCE_URL = "http://t.example:6969/announce"
    magnet = (
        "magnet:?xt=urn:btih:" + PRIVATE.hex() + "&dn=x%20y&tr=http%3a%2f%2ft.example%3a6969%2fannounce"
        "&tr=http%3a%2f%2fother%2fannounce&ws=http%3a%2f%2fweb%2ffiles%2f"
    )
    private = publish_release("priv", v1=PRIVATE)
    private.visibility = "private"
    private.save()
    private.torrent.magnet_uri = magnet
    private.torrent.save()
    public = publish_release("pub", v1=PUBLIC)
    public.torrent.magnet_uri = magnet
    public.torrent.save()
    user = UserFactory()
    client.force_login(user)

    location = client.get(reverse("release-magnet", args=[private.pk]))["Location"]
    fields = parse_qsl(location.partition("?")[2])
    personal = f"http://t.example:6969/announce/{Passkey.for_user(user).key}"
    assert [value for name, value in fields if name == "tr"] == [personal, "http://other/announce"]
    assert ("xt", "urn:btih:" + PRIVATE.hex()) in fields and ("dn", "x y") in fields
    assert client.get(reverse("release-magnet", args=[public.pk]))["Location"] == magnet
