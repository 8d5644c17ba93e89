"""``manage.py runtracker`` as a real process, announced to over real HTTP."""

import signal
import socket
import struct
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import override_settings

from bittorrent import bencode
from harness.loopback import free_port
from harness.polling import wait_until
from harness.processes import MANAGE
from tests.conftest import database_url_for_subprocess, subprocess_env
from tests.tracker.conftest import announce_query, info_hash, publish_release, redis_url
from tracker.engine import REFUSED
from tracker.protocol import UDP_PROTOCOL_ID

pytestmark = pytest.mark.slow


def fetch(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=30) as response:
        return bencode.decode(response.read())


def test_it_answers_announces_for_published_releases_over_http(start_tracker):
    publish_release("1.0", v1=info_hash("run-1"))
    tracker = start_tracker()
    fetch(tracker.announce_url + "?" + announce_query(info_hash("run-1"), port=1111, left=0).decode())
    answer = fetch(tracker.announce_url + "?" + announce_query(info_hash("run-1"), port=2222).decode())
    assert answer[b"complete"] == 1
    assert answer[b"peers"] == bytes([127, 0, 0, 1]) + (1111).to_bytes(2, "big")
    assert tracker.process.stop() == 0


def test_it_follows_releases_published_while_it_runs(start_tracker):
    tracker = start_tracker()
    query = announce_query(info_hash("run-later")).decode()
    assert fetch(tracker.announce_url + "?" + query) == {b"failure reason": REFUSED.encode()}
    publish_release("2.0", v1=info_hash("run-later"))
    wait_until(
        lambda: b"failure reason" not in fetch(tracker.announce_url + "?" + query),
        timeout=10,
        what="the new release to be tracked",
    )


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_it_stops_cleanly_within_seconds(start_tracker, signum):
    tracker = start_tracker()
    started = time.monotonic()
    assert tracker.process.stop(signum, timeout=5) == 0
    assert time.monotonic() - started < 5


def udp_exchange(sock: socket.socket, packet: bytes) -> bytes:
    sock.send(packet)
    return sock.recv(2048)


def test_it_answers_udp_announces(start_tracker):
    release_hash = info_hash("run-udp")
    publish_release("3.0", v1=release_hash)
    tracker = start_tracker()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(5)
        sock.connect(tracker.udp_address)
        _, _, connection_id = struct.unpack(
            ">IIQ", udp_exchange(sock, struct.pack(">QII", UDP_PROTOCOL_ID, 0, 1))
        )
        for port in (1111, 2222):
            answer = udp_exchange(
                sock,
                struct.pack(">QII", connection_id, 1, port)
                + release_hash
                + b"-UD0001-%012d" % port
                + struct.pack(">QQQIIIiH", 0, 100, 0, 2, 0, 0, -1, port),
            )
        assert answer == struct.pack(">IIIII", 1, 2222, 1800, 2, 0) + bytes([127, 0, 0, 1, 0x04, 0x57])


def child_pids(pid: int) -> list[int]:
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            children.append(int(stat.parent.name))
    return children


def test_its_workers_share_the_ports_and_the_swarms(start_tracker, redis_client):
    release_hash = info_hash("run-workers")
    publish_release("4.0", v1=release_hash)
    port = free_port()
    tracker = start_tracker(
        "--workers",
        "3",
        "--http-port",
        str(port),
        "--udp-port",
        str(port),
        REDIS_URL=redis_url(),
    )
    try:
        assert len(child_pids(tracker.process.process.pid)) == 3
        # Each request on a new connection: the kernel spreads them over the workers.
        for peer_port in range(1000, 1030):
            answer = fetch(tracker.announce_url + "?" + announce_query(release_hash, port=peer_port).decode())
        assert answer[b"incomplete"] == 30
        # Over UDP too, where the workers gather datagrams into one Redis call.
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(5)
            sock.connect(tracker.udp_address)
            _, _, connection_id = struct.unpack(
                ">IIQ", udp_exchange(sock, struct.pack(">QII", UDP_PROTOCOL_ID, 0, 1))
            )
            udp_answer = udp_exchange(
                sock,
                struct.pack(">QII", connection_id, 1, 9)
                + release_hash
                + b"-UD0001-%012d" % 2000
                + struct.pack(">QQQIIIiH", 0, 100, 0, 2, 0, 0, -1, 2000),
            )
        assert struct.unpack_from(">IIIII", udp_answer) == (1, 9, 1800, 31, 0)
        assert len(udp_answer) == 20 + 6 * 30
        workers = child_pids(tracker.process.process.pid)
        assert tracker.process.stop() == 0
        assert not any(Path(f"/proc/{pid}").exists() for pid in workers)
    finally:
        for key in redis_client.scan_iter(match=f"fanout:tracker:{connection.settings_dict['NAME']}:*"):
            redis_client.delete(key)


@override_settings(REDIS_URL=None)
def test_it_refuses_several_workers_without_redis():
    with pytest.raises(CommandError, match="needs REDIS_URL"):
        call_command("runtracker", "--workers", "2")


def test_it_exits_with_an_error_when_a_worker_cannot_listen(transactional_db):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        finished = subprocess.run(
            [
                *MANAGE,
                "runtracker",
                "--host",
                "127.0.0.1",
                "--workers",
                "2",
                "--http-port",
                port,
                "--udp-port",
                port,
            ],
            env=subprocess_env(
                DATABASE_URL=database_url_for_subprocess(connection.settings_dict),
                FANOUT_DATA_DIR=str(settings.DATA_DIR),
                REDIS_URL=redis_url(),
            ),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert finished.returncode == 1
    assert "a tracker worker failed" in finished.stderr
    assert "tracker listening" not in finished.stdout


def test_a_private_release_needs_a_passkey_and_a_regenerated_one_stops_working(start_tracker):
    from distribution.access import regenerate_passkey
    from distribution.models import Passkey
    from tests.factories import UserFactory

    release = publish_release("secret", v1=info_hash("run-private"))
    release.visibility = "private"
    release.save()
    key = Passkey.for_user(UserFactory()).key
    tracker = start_tracker()
    query = "?" + announce_query(info_hash("run-private")).decode()
    assert fetch(tracker.announce_url + query)[b"failure reason"] == REFUSED.encode()
    assert b"failure reason" not in fetch(f"{tracker.announce_url}/{key}{query}")
    regenerate_passkey(Passkey.objects.get(key=key).user)
    wait_until(
        lambda: fetch(f"{tracker.announce_url}/{key}{query}").get(b"failure reason") == REFUSED.encode(),
        timeout=10,
        what="the old passkey to stop working",
    )
    new_key = Passkey.objects.get().key
    assert b"failure reason" not in fetch(f"{tracker.announce_url}/{new_key}{query}")


def test_a_node_credential_opens_private_swarms_over_http_and_udp_until_revoked(start_tracker):
    from distribution.access import issue_node_credential
    from distribution.models import NodeCredential
    from tests.tracker.test_passkeys import with_url_data

    private_hash = info_hash("run-node")
    release = publish_release("node", v1=private_hash)
    release.visibility = "private"
    release.save()
    credential = issue_node_credential("origin-1")
    tracker = start_tracker()
    query = "?" + announce_query(private_hash, left=0).decode()
    scrape = f"{tracker.base_url}/scrape/{credential}{query.partition('&')[0]}"

    def udp_announce(path: bytes) -> bytes:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(5)
            sock.connect(tracker.udp_address)
            _, _, connection_id = struct.unpack(
                ">IIQ", udp_exchange(sock, struct.pack(">QII", UDP_PROTOCOL_ID, 0, 1))
            )
            packet = (
                struct.pack(">QII", connection_id, 1, 7)
                + private_hash
                + b"-UD0001-000000007777"
                + struct.pack(">QQQIIIiH", 0, 0, 0, 2, 0, 0, -1, 7777)
            )
            return udp_exchange(sock, with_url_data(packet, path))

    assert fetch(f"{tracker.announce_url}/{credential}{query}")[b"complete"] == 1
    assert fetch(scrape)[b"files"][private_hash][b"complete"] == 1
    assert struct.unpack_from(">IIIII", udp_announce(f"/announce/{credential}".encode())) == (
        1,
        7,
        1800,
        0,
        2,
    )
    assert udp_announce(b"/announce")[8:] == REFUSED.encode()

    NodeCredential.objects.get(node_name="origin-1").revoke()
    wait_until(
        lambda: (
            fetch(f"{tracker.announce_url}/{credential}{query}").get(b"failure reason") == REFUSED.encode()
        ),
        timeout=10,
        what="the revoked credential to stop working",
    )
    assert fetch(scrape) == {b"failure reason": REFUSED.encode()}
    assert udp_announce(f"/announce/{credential}".encode())[8:] == REFUSED.encode()
