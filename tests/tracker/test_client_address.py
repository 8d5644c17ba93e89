"""The client's address: the connection's, or X-Forwarded-For's behind a trusted proxy; never ``ip=``."""

import asyncio

import pytest
from django.urls import reverse

from bittorrent import bencode
from tests.tracker.conftest import announce_query, info_hash, publish_release
from tracker import views
from tracker.engine import Tracker
from tracker.http1 import parse_head
from tracker.http_server import HttpTrackerServer
from tracker.protocol import parse_announce
from tracker.proxies import TrustedProxies
from tracker.swarm_store import MemorySwarmStore

HASH = info_hash("address")


@pytest.mark.parametrize(
    ("networks", "peer_ip", "forwarded_for", "client"),
    [
        ([], "10.0.0.1", "1.2.3.4", "10.0.0.1"),
        (["10.0.0.0/8"], "10.0.0.1", None, "10.0.0.1"),
        (["10.0.0.0/8"], "10.0.0.1", "1.2.3.4", "1.2.3.4"),
        (["10.0.0.0/8"], "192.0.2.9", "1.2.3.4", "192.0.2.9"),
        # The client wrote the leftmost part; our proxies appended the rest.
        (["10.0.0.0/8"], "10.0.0.1", "6.6.6.6, 1.2.3.4, 10.0.0.2", "1.2.3.4"),
        (["10.0.0.1"], "::ffff:10.0.0.1", "2001:db8::5", "2001:db8::5"),
        (["10.0.0.0/8"], "10.0.0.1", "10.0.0.3, 10.0.0.2", "10.0.0.3"),
        (["10.0.0.0/8"], "10.0.0.1", "junk", "junk"),
    ],
)
def test_it_believes_x_forwarded_for_only_from_trusted_proxies(networks, peer_ip, forwarded_for, client):
    assert TrustedProxies(networks).client_ip(peer_ip, forwarded_for) == client


def test_http1_reads_x_forwarded_for_and_joins_repeated_headers():
    head = parse_head(b"GET /announce HTTP/1.1\r\nX-Forwarded-For: 1.1.1.1\r\nx-forwarded-for:  2.2.2.2 ")
    assert head.forwarded_for == b"1.1.1.1,2.2.2.2"
    assert parse_head(b"GET /announce HTTP/1.1\r\nHost: x").forwarded_for is None


def announce_through_server(proxies: TrustedProxies, *headers: bytes) -> bytes:
    """The peers a second announcer gets after one announce with these headers, via the standalone server."""

    async def main() -> bytes:
        tracker = Tracker(MemorySwarmStore(peer_ttl=100), interval=1800, min_interval=60)
        tracker.swarms = {HASH: 1}
        server = HttpTrackerServer(tracker, proxies)
        await server.start("127.0.0.1", 0)
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.address[1])
            extra = b"".join(header + b"\r\n" for header in headers)
            query = announce_query(HASH, port=1111, left=0, ip="9.9.9.9")
            writer.write(b"GET /announce?" + query + b" HTTP/1.1\r\n" + extra + b"Connection: close\r\n\r\n")
            await reader.read()
            writer.close()
        finally:
            server.close()
        return (
            tracker.announce(
                parse_announce(announce_query(HASH, peer_id=b"x" * 20)),
                bytes([192, 0, 2, 1]),
            )
            .peers[0]
            .endpoint
        )

    return asyncio.run(main())


def test_the_standalone_server_uses_the_connections_address_and_ignores_the_ip_parameter():
    endpoint = announce_through_server(TrustedProxies(), b"X-Forwarded-For: 1.2.3.4")
    assert endpoint == bytes([127, 0, 0, 1]) + (1111).to_bytes(2, "big")


def test_the_standalone_server_reads_x_forwarded_for_from_a_trusted_proxy():
    endpoint = announce_through_server(TrustedProxies(["127.0.0.1"]), b"X-Forwarded-For: 1.2.3.4")
    assert endpoint == bytes([1, 2, 3, 4]) + (1111).to_bytes(2, "big")


@pytest.mark.django_db
@pytest.mark.parametrize(("trusted", "expected"), [([], [10, 0, 0, 1]), (["10.0.0.0/8"], [1, 2, 3, 4])])
def test_the_django_view_reads_x_forwarded_for_only_from_a_trusted_proxy(
    client, settings, monkeypatch, trusted, expected
):
    monkeypatch.setattr(views, "in_process_tracker", views.InProcessTracker())
    settings.FANOUT_TRUSTED_PROXIES = trusted
    publish_release("1.0", v1=HASH)
    client.get(
        reverse("announce") + "?" + announce_query(HASH, left=0, ip="9.9.9.9").decode(),
        REMOTE_ADDR="10.0.0.1",
        HTTP_X_FORWARDED_FOR="1.2.3.4",
    )
    answer = client.get(
        reverse("announce") + "?" + announce_query(HASH, port=7).decode(), REMOTE_ADDR="10.9.9.9"
    )
    assert bencode.decode(answer.content)[b"peers"] == bytes(expected) + (6881).to_bytes(2, "big")
