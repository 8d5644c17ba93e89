"""Whom a seeder may serve: admission records in the store, and ``/admitted/<credential>`` built on them.

Each engine test runs against both stores (``make_store``).
"""

import asyncio
import hashlib
import struct

import pytest
from django.urls import reverse

from bittorrent import bencode
from distribution import access
from distribution.models import Passkey
from tests.factories import GroupFactory, UserFactory
from tests.tracker.conftest import announce_query, info_hash, publish_release
from tests.tracker.test_engine import udp_announce, udp_connect
from tracker import protocol, views
from tracker.engine import REFUSED, Tracker, UdpTracker, Whitelist, admission_digest
from tracker.http_server import HttpTrackerServer
from tracker.protocol import split_path
from tracker.selectors import load_whitelist

PUBLIC = info_hash("public")
PRIVATE = info_hash("private")
# The truncated v2 hash of the same (hybrid) release: one swarm under two info-hashes.
PRIVATE_V2 = info_hash("private v2")
OTHER_PRIVATE = info_hash("other private")
MEMBER_KEY = b"0123456789abcdef0123456789abcdef"
OUTSIDER_KEY = b"fedcba9876543210fedcba9876543210"
NODE_KEY = b"ab" * 32
OPENING = access.keys_opening_release(1, [7])
MEMBER = access.keys_held_by(is_staff=False, group_ids=[7], published_product_ids=[])
OUTSIDER = access.keys_held_by(is_staff=False, group_ids=[8], published_product_ids=[])
REFUSAL = bencode.encode({b"failure reason": REFUSED.encode()})


def whitelist(passkeys: dict | None = None, node_credentials: dict | None = None) -> Whitelist:
    return Whitelist.of(
        {PUBLIC: 1, PRIVATE: 2, PRIVATE_V2: 2, OTHER_PRIVATE: 3},
        {2: OPENING, 3: access.keys_opening_release(1, [8])},
        {MEMBER_KEY: MEMBER, OUTSIDER_KEY: OUTSIDER} if passkeys is None else passkeys,
        {hashlib.sha256(NODE_KEY).digest(): access.SEEDER_NODE_KEYS}
        if node_credentials is None
        else node_credentials,
    )


def endpoint(ip: str, port: int) -> bytes:
    return bytes(int(part) for part in ip.split(".")) + port.to_bytes(2, "big")


@pytest.fixture
def tracker(make_store) -> Tracker:
    tracker = Tracker(make_store(peer_ttl=100), interval=1800, min_interval=60, clock=lambda: 1000.0)
    tracker.load(whitelist())
    return tracker


def announce(tracker: Tracker, info_hash: bytes, ip: str, key: bytes | None, **params) -> None:
    answer = tracker.handle_announce(announce_query(info_hash, **params), ip, key)
    assert b"failure" not in answer, answer


def test_a_node_learns_who_was_admitted_to_each_private_swarm_under_each_of_its_info_hashes(tracker):
    announce(tracker, PRIVATE, "10.0.0.1", MEMBER_KEY, port=1111)
    announce(tracker, PRIVATE_V2, "10.0.0.9", NODE_KEY, port=6881, left=0)
    announce(tracker, OTHER_PRIVATE, "10.0.0.2", OUTSIDER_KEY, port=2222)
    announce(tracker, PUBLIC, "10.0.0.3", None, port=3333)

    admitted = tracker.admitted(NODE_KEY)

    both = sorted([endpoint("10.0.0.1", 1111), endpoint("10.0.0.9", 6881)])
    assert {info_hash: sorted(endpoints) for info_hash, endpoints in admitted.items()} == {
        PRIVATE: both,
        PRIVATE_V2: both,
        OTHER_PRIVATE: [endpoint("10.0.0.2", 2222)],
    }


def test_a_regenerated_passkey_drops_its_peers_at_the_next_load_not_at_their_expiry(tracker):
    announce(tracker, PRIVATE, "10.0.0.1", MEMBER_KEY, port=1111)
    announce(tracker, PRIVATE, "10.0.0.9", NODE_KEY, port=6881, left=0)

    tracker.load(whitelist(passkeys={b"a new passkey of the member": MEMBER, OUTSIDER_KEY: OUTSIDER}))

    assert tracker.admitted(NODE_KEY)[PRIVATE] == [endpoint("10.0.0.9", 6881)]


def test_a_member_who_leaves_the_audience_is_dropped_from_the_swarm_but_not_from_others(tracker):
    announce(tracker, PRIVATE, "10.0.0.1", MEMBER_KEY, port=1111)
    announce(tracker, PUBLIC, "10.0.0.1", MEMBER_KEY, port=1111)

    tracker.load(whitelist(passkeys={MEMBER_KEY: OUTSIDER}))

    assert tracker.admitted(NODE_KEY)[PRIVATE] == []


def test_a_stopped_peer_is_dropped_at_once(tracker):
    announce(tracker, PRIVATE, "10.0.0.1", MEMBER_KEY, port=1111)
    announce(tracker, PRIVATE, "10.0.0.1", MEMBER_KEY, port=1111, event="stopped")
    assert tracker.admitted(NODE_KEY)[PRIVATE] == []


def test_a_peer_admitted_over_udp_is_listed_too(tracker):
    udp = UdpTracker(tracker, key=b"k" * 32)
    packet = udp_announce(udp_connect(udp, "10.0.0.5"), PRIVATE, 5555)
    url = b"/announce/" + MEMBER_KEY
    answer = udp.handle(packet + bytes([2, len(url)]) + url + b"\x00", "10.0.0.5")
    assert struct.unpack_from(">I", answer)[0] == 1, answer
    assert tracker.admitted(NODE_KEY)[PRIVATE] == [endpoint("10.0.0.5", 5555)]


def test_the_answer_carries_ipv4_and_ipv6_peers_compact(tracker):
    announce(tracker, PRIVATE, "10.0.0.1", MEMBER_KEY, port=1111)
    announce(tracker, PRIVATE, "2001:db8::1", MEMBER_KEY, port=2222)

    answer = bencode.decode(tracker.handle_admitted(NODE_KEY))

    assert answer[b"files"][PRIVATE] == {
        b"peers": endpoint("10.0.0.1", 1111),
        b"peers6": bytes.fromhex("20010db8000000000000000000000001") + (2222).to_bytes(2, "big"),
    }
    assert answer[b"files"][OTHER_PRIVATE] == {b"peers": b"", b"peers6": b""}
    assert PUBLIC not in answer[b"files"]


@pytest.mark.parametrize(
    "credential",
    [
        None,
        b"",
        b"wrong",
        MEMBER_KEY,
        hashlib.sha256(NODE_KEY).digest(),
        hashlib.sha256(NODE_KEY).hexdigest(),
    ],
    ids=["none", "empty", "wrong", "a user's passkey", "the credential's digest", "its hex digest"],
)
def test_only_a_node_credential_opens_the_list_and_anything_else_gets_the_one_refusal(tracker, credential):
    announce(tracker, PRIVATE, "10.0.0.1", MEMBER_KEY, port=1111)
    if isinstance(credential, str):
        credential = credential.encode()
    assert tracker.handle_admitted(credential) == REFUSAL


def test_a_revoked_node_credential_is_refused_from_the_next_load(tracker):
    tracker.load(whitelist(node_credentials={}))
    assert tracker.handle_admitted(NODE_KEY) == REFUSAL


def test_the_whitelist_knows_each_passkey_and_credential_by_its_admission_digest():
    loaded = whitelist()
    assert loaded.admission_digests == {
        admission_digest(MEMBER_KEY): MEMBER,
        admission_digest(OUTSIDER_KEY): OUTSIDER,
        admission_digest(NODE_KEY): access.SEEDER_NODE_KEYS,
    }
    assert len(admission_digest(NODE_KEY)) == 15
    assert loaded.passkey_digests == {
        MEMBER_KEY: admission_digest(MEMBER_KEY),
        OUTSIDER_KEY: admission_digest(OUTSIDER_KEY),
    }


def test_a_peer_is_recorded_with_its_keys_digest_never_the_key(tracker):
    request = protocol.parse_announce(announce_query(PRIVATE))
    address = protocol.pack_address("10.0.0.1")
    by_member = tracker.admit(request, address, MEMBER_KEY)
    by_node = tracker.admit(request, address, NODE_KEY)
    # One object per passkey, hashed at the load: the memory store keeps it once, not per peer.
    assert by_member.admitted_with is tracker.passkey_digests[MEMBER_KEY]
    assert by_node.admitted_with == admission_digest(NODE_KEY)
    assert (
        tracker.admit(protocol.parse_announce(announce_query(PUBLIC)), address, MEMBER_KEY).admitted_with
        == b""
    )


@pytest.mark.parametrize(
    ("path", "route"),
    [
        (b"/admitted/abc", (b"admitted", b"abc")),
        (b"/admitted", (b"admitted", None)),
        (b"/admitted/", None),
        (b"/admitted/a/b", None),
    ],
)
def test_the_standalone_server_routes_admitted_paths(path, route):
    assert split_path(path) == route


def http_get(tracker: Tracker, target: bytes) -> bytes:
    """The body of the standalone HTTP server's answer to GET ``target``."""

    async def main() -> bytes:
        server = HttpTrackerServer(tracker)
        await server.start("127.0.0.1", 0)
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.address[1])
            writer.write(b"GET " + target + b" HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            answer = await reader.read()
            writer.close()
        finally:
            server.close()
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), head
        return body

    return asyncio.run(main())


def test_the_standalone_server_answers_a_node_and_refuses_anyone_else(tracker):
    announce(tracker, PRIVATE, "10.0.0.1", MEMBER_KEY, port=1111)
    answer = bencode.decode(http_get(tracker, b"/admitted/" + NODE_KEY))
    assert answer[b"files"][PRIVATE][b"peers"] == endpoint("10.0.0.1", 1111)
    for target in (b"/admitted/" + MEMBER_KEY, b"/admitted/wrong", b"/admitted"):
        assert http_get(tracker, target) == REFUSAL


# With the database.


@pytest.fixture
def fresh_in_process_tracker(monkeypatch):
    monkeypatch.setattr(views, "in_process_tracker", views.InProcessTracker())


@pytest.mark.django_db
def test_the_django_views_answer_a_node_and_refuse_anyone_else(client, fresh_in_process_tracker):
    audience = GroupFactory()
    release = publish_release("priv", v1=PRIVATE)
    release.visibility = "private"
    release.save()
    release.audience.add(audience)
    member = UserFactory()
    member.groups.add(audience)
    key = Passkey.for_user(member).key
    credential = access.issue_node_credential("node-1")
    announced = client.get(reverse("announce-passkey", args=[key]) + "?" + announce_query(PRIVATE).decode())
    assert b"failure" not in announced.content

    answer = bencode.decode(client.get(reverse("admitted", args=[credential])).content)

    assert answer[b"files"][PRIVATE][b"peers"] == endpoint("127.0.0.1", 6881)
    assert client.get(reverse("admitted", args=[key])).content == REFUSAL
    assert client.post(reverse("admitted", args=[credential])).status_code == 405


@pytest.mark.django_db
def test_the_loaded_whitelist_knows_passkeys_and_node_credentials_by_their_admission_digests():
    member = UserFactory()
    key = Passkey.for_user(member).key
    credential = access.issue_node_credential("node-1")
    inactive = UserFactory(is_active=False)
    Passkey.for_user(inactive)

    digests = load_whitelist().admission_digests

    assert digests == {
        admission_digest(key.encode()): access.keys_held_by(
            is_staff=False, group_ids=[], published_product_ids=[]
        ),
        admission_digest(credential.encode()): access.SEEDER_NODE_KEYS,
    }
