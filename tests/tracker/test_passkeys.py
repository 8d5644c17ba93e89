"""Private releases: passkeys, the whitelist that carries them, the .torrent that holds them, the page."""

import asyncio
import hashlib
import struct
from urllib.parse import parse_qsl

import pytest
from django.urls import reverse

from bittorrent import bencode
from distribution import access
from distribution.models import Passkey
from tests.factories import GroupFactory, UserFactory
from tests.tracker.conftest import announce_query, info_hash, publish_release
from tests.tracker.test_engine import udp_announce, udp_connect
from tracker import views
from tracker.engine import REFUSED, Tracker, UdpTracker, Whitelist
from tracker.http_server import HttpTrackerServer
from tracker.protocol import split_path
from tracker.selectors import load_whitelist
from tracker.swarm_store import MemorySwarmStore

PUBLIC = info_hash("public")
PRIVATE = info_hash("private")
UNKNOWN = info_hash("unknown")
KEY = b"0123456789abcdef0123456789abcdef"
NODE_KEY = b"ab" * 32
NODE_DIGEST = hashlib.sha256(NODE_KEY).digest()
# The private swarm opens to group 7's members; KEY's user is one of them.
OPENING = access.keys_opening_release(1, [7])
MEMBER = access.keys_held_by(is_staff=False, group_ids=[7], published_product_ids=[])


def whitelist(passkeys: dict, node_credentials: dict) -> Whitelist:
    return Whitelist.of({PUBLIC: 1, PRIVATE: 2}, {2: OPENING}, passkeys, node_credentials)


def failure(answer: bytes) -> bytes | None:
    return bencode.decode(answer).get(b"failure reason")


@pytest.fixture
def tracker() -> Tracker:
    tracker = Tracker(MemorySwarmStore(peer_ttl=100), interval=1800, min_interval=60, clock=lambda: 1000.0)
    tracker.load(whitelist({KEY: MEMBER}, {NODE_DIGEST: access.SEEDER_NODE_KEYS}))
    return tracker


def with_url_data(packet: bytes, url: bytes) -> bytes:
    """A UDP announce with BEP 41 URL data, split in options of at most 255 bytes as libtorrent does."""
    options = b"".join(
        bytes([2, len(url[at : at + 255])]) + url[at : at + 255] for at in range(0, len(url), 255)
    )
    return packet + options + b"\x00"


def udp_answer(udp: UdpTracker, info_hash: bytes, path: bytes = b"/announce", ip: str = "10.0.0.1") -> bytes:
    return udp.handle(with_url_data(udp_announce(udp_connect(udp, ip), info_hash, 1111), path), ip)


def test_a_private_swarm_is_answered_only_through_a_valid_passkey(tracker):
    assert failure(tracker.handle_announce(announce_query(PRIVATE), "10.0.0.1")) == REFUSED.encode()
    assert (
        failure(tracker.handle_announce(announce_query(PRIVATE), "10.0.0.1", b"f" * 32)) == REFUSED.encode()
    )
    assert failure(tracker.handle_announce(announce_query(PRIVATE), "10.0.0.1", KEY)) is None


def test_a_passkey_whose_user_is_outside_the_audience_is_refused_as_an_unknown_one(tracker):
    outsider = access.keys_held_by(is_staff=False, group_ids=[8], published_product_ids=[2])
    tracker.load(whitelist({KEY: outsider}, {}))
    assert failure(tracker.handle_announce(announce_query(PRIVATE), "10.0.0.1", KEY)) == REFUSED.encode()
    assert failure(tracker.handle_announce(announce_query(PUBLIC), "10.0.0.1", KEY)) is None
    query = b"info_hash=" + announce_query(PRIVATE).split(b"&")[0][10:]
    assert bencode.decode(tracker.handle_scrape(query, KEY))[b"files"] == {}


def test_the_products_publishers_and_staff_open_a_private_swarm_outside_its_audience(tracker):
    publisher = access.keys_held_by(is_staff=False, group_ids=[], published_product_ids=[1])
    staff = access.keys_held_by(is_staff=True, group_ids=[], published_product_ids=[])
    for keys in (publisher, staff):
        tracker.load(whitelist({KEY: keys}, {}))
        assert failure(tracker.handle_announce(announce_query(PRIVATE), "10.0.0.1", KEY)) is None


def test_a_public_swarm_is_answered_with_or_without_a_passkey_but_not_with_a_wrong_one(tracker):
    assert failure(tracker.handle_announce(announce_query(PUBLIC), "10.0.0.1")) is None
    assert failure(tracker.handle_announce(announce_query(PUBLIC), "10.0.0.2", KEY)) is None
    assert failure(tracker.handle_announce(announce_query(PUBLIC), "10.0.0.3", b"nope")) == REFUSED.encode()


def test_a_dropped_passkey_stops_working_at_the_next_load(tracker):
    tracker.load(whitelist({}, {}))
    assert failure(tracker.handle_announce(announce_query(PRIVATE), "10.0.0.1", KEY)) == REFUSED.encode()


def test_a_scrape_shows_private_swarms_only_through_a_valid_passkey(tracker):
    query = b"info_hash=" + announce_query(PUBLIC).split(b"&")[0][10:] + b"&info_hash="
    query += announce_query(PRIVATE).split(b"&")[0][10:]
    assert set(bencode.decode(tracker.handle_scrape(query))[b"files"]) == {PUBLIC}
    assert set(bencode.decode(tracker.handle_scrape(query, KEY))[b"files"]) == {PUBLIC, PRIVATE}
    assert failure(tracker.handle_scrape(query, b"bad")) == REFUSED.encode()


def test_a_node_credential_opens_private_swarms_over_http(tracker):
    assert failure(tracker.handle_announce(announce_query(PRIVATE), "10.0.0.9", NODE_KEY)) is None
    assert failure(tracker.handle_announce(announce_query(PUBLIC), "10.0.0.9", NODE_KEY)) is None
    query = b"info_hash=" + announce_query(PRIVATE).split(b"&")[0][10:]
    assert bencode.decode(tracker.handle_scrape(query, NODE_KEY))[b"files"][PRIVATE][b"complete"] == 0
    # Its digest is no key: the tracker hashes what arrives.
    assert failure(tracker.handle_announce(announce_query(PRIVATE), "10.0.0.9", NODE_DIGEST)) == (
        REFUSED.encode()
    )


def test_a_revoked_node_credential_is_refused_from_the_next_load(tracker):
    tracker.load(whitelist({KEY: MEMBER}, {}))
    assert failure(tracker.handle_announce(announce_query(PRIVATE), "10.0.0.9", NODE_KEY)) == REFUSED.encode()
    assert udp_answer(UdpTracker(tracker, key=b"k" * 32), PRIVATE, b"/announce/" + NODE_KEY)[8:] == (
        REFUSED.encode()
    )


def test_udp_carries_a_passkey_or_node_credential_in_bep_41_url_data(tracker):
    udp = UdpTracker(tracker, key=b"k" * 32)
    for key in (KEY, NODE_KEY):
        answer = udp_answer(udp, PRIVATE, b"/announce/" + key + b"?ignored=1")
        assert struct.unpack_from(">I", answer)[0] == 1, answer
    # Split over several options, with a NOP among them.
    connection_id = udp_connect(udp, "10.0.0.2")
    url = b"/announce/" + NODE_KEY
    packet = udp_announce(connection_id, PRIVATE, 2222) + b"\x01" + bytes([2, 20]) + url[:20]
    packet += bytes([2, len(url) - 20]) + url[20:] + b"\x00"
    assert struct.unpack_from(">IIIII", udp.handle(packet, "10.0.0.2")) == (1, 5, 1800, 2, 0)


@pytest.mark.parametrize(
    "options",
    [b"\x02", b"\x02\x40/announce/", b"\x05\x01", b"\x02\x09/announce" + b"\x02\x05/a/b/", b"\x00" * 3],
)
def test_malformed_or_foreign_url_data_carries_no_passkey(tracker, options):
    udp = UdpTracker(tracker, key=b"k" * 32)
    packet = udp_announce(udp_connect(udp, "10.0.0.1"), PRIVATE, 1111) + options
    assert udp.handle(packet, "10.0.0.1")[8:] == REFUSED.encode()
    public = udp_announce(udp_connect(udp, "10.0.0.1"), PUBLIC, 1111) + options
    assert struct.unpack_from(">I", udp.handle(public, "10.0.0.1"))[0] == 1


def test_unknown_and_private_without_a_valid_key_get_one_answer_over_http_and_udp(tracker):
    """No oracle: a stranger cannot tell a private release's info-hash from one we do not track."""
    http = {
        "unknown": tracker.handle_announce(announce_query(UNKNOWN), "10.0.0.1"),
        "private, no passkey": tracker.handle_announce(announce_query(PRIVATE), "10.0.0.1"),
        "private, wrong passkey": tracker.handle_announce(announce_query(PRIVATE), "10.0.0.1", b"f" * 32),
        "unknown, wrong passkey": tracker.handle_announce(announce_query(UNKNOWN), "10.0.0.1", b"f" * 32),
    }
    assert set(http.values()) == {bencode.encode({b"failure reason": REFUSED.encode()})}, http
    udp = UdpTracker(tracker, key=b"k" * 32)
    answers = {
        "unknown": udp_answer(udp, UNKNOWN),
        "private, no passkey": udp_answer(udp, PRIVATE),
        "private, wrong passkey": udp_answer(udp, PRIVATE, b"/announce/" + b"f" * 32),
    }
    assert set(answers.values()) == {struct.pack(">II", 3, 5) + REFUSED.encode()}, answers
    # A UDP scrape (BEP 41 gives it no URL data) shows both as zeros.
    scrape = struct.pack(">QII", udp_connect(udp, "10.0.0.1"), 2, 9) + UNKNOWN + PRIVATE
    assert udp.handle(scrape, "10.0.0.1") == struct.pack(">II", 2, 9) + bytes(24)


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
    assert whitelist.private == {private.pk: access.keys_opening_release(private.product_id, [])}


@pytest.mark.django_db
def test_the_whitelist_carries_each_private_swarms_audience_and_each_passkeys_holder():
    release = publish_release("priv", v1=PRIVATE)
    release.visibility = "private"
    release.save()
    qa, ops = GroupFactory(name="qa"), GroupFactory(name="ops")
    release.audience.set([qa, ops])
    member, outsider, publisher, staff = (
        UserFactory(),
        UserFactory(),
        UserFactory(),
        UserFactory(is_staff=True),
    )
    member.groups.add(ops)
    release.product.publishers.add(publisher)
    tracker = Tracker(MemorySwarmStore(peer_ttl=100), interval=1800, min_interval=60)
    tracker.load(load_whitelist())
    for user, admitted in ((member, True), (outsider, False), (publisher, True), (staff, True)):
        key = Passkey.for_user(user).key.encode()
        tracker.load(load_whitelist())
        answer = failure(tracker.handle_announce(announce_query(PRIVATE), "10.0.0.1", key))
        assert (answer is None) is admitted, user
    member.groups.remove(ops)
    tracker.load(load_whitelist())
    key = Passkey.for_user(member).key.encode()
    assert failure(tracker.handle_announce(announce_query(PRIVATE), "10.0.0.1", key)) == REFUSED.encode()


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
    assert failure(client.get(reverse("announce") + query).content) == REFUSED.encode()
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
    rewritten = bencode.decode(access.torrent_with_passkey(metainfo, user, release=publish_release("1.0")))
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


def cache_control(response) -> set[str]:
    return {part.strip() for part in response.get("Cache-Control", "").split(",") if part.strip()}


def test_personal_torrents_and_magnets_and_the_passkey_page_are_never_cached(client, db):
    private = publish_release("priv", v1=PRIVATE)
    private.visibility = "private"
    private.save()
    private.torrent.metainfo = bencode.encode({b"announce": b"http://t/announce", b"info": {b"name": b"x"}})
    private.torrent.save()
    public = publish_release("pub", v1=PUBLIC)
    public.torrent.metainfo = private.torrent.metainfo
    public.torrent.save()
    client.force_login(UserFactory())

    for response in (
        client.get(reverse("release-torrent", args=[private.pk])),
        client.get(reverse("release-magnet", args=[private.pk])),
        client.get(reverse("account-passkey")),
    ):
        assert response.status_code in (200, 302)
        assert {"private", "no-store"} <= cache_control(response), response.get("Cache-Control")
    # A public release's .torrent is the same for everyone: caches may keep it.
    assert "no-store" not in cache_control(client.get(reverse("release-torrent", args=[public.pk])))
