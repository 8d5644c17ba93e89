"""Revocation reaches the seeder: private torrents serve only whom the tracker admitted.

Downloaders sit on addresses of their own (127.0.0.2, 127.0.0.3), so that the
seeder's IP filter can tell them apart; the seeder and the tracker are on 127.0.0.1.
"""

import asyncio
import hashlib
import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import libtorrent as lt
import pytest
from django.urls import reverse

from distribution import access
from distribution.models import Passkey, Release
from harness.libtorrent_peers import add_torrent, client_session, make_torrent
from harness.loopback import free_port
from harness.polling import wait_until
from seeder.allow_list import AllowList
from seeder.selectors import release_is_seeded
from seeder.session import SeedingSession
from tests.factories import GroupFactory, UserFactory
from tests.test_end_to_end import without_web_seeds
from tests.tracker.conftest import announce_query, start_tracker  # noqa: F401  (a fixture)
from tracker.engine import Tracker, Whitelist
from tracker.http_server import HttpTrackerServer
from tracker.swarm_store import MemorySwarmStore

MIB = 1024 * 1024
MEMBER_ADDRESS, OTHER_ADDRESS = "127.0.0.2", "127.0.0.3"


@pytest.fixture
def releases(tmp_path) -> dict[str, tuple[Path, bytes]]:
    """A private and a public release's content and torrent."""
    made = {}
    for name in ("private", "public"):
        path = tmp_path / name / f"{name}.bin"
        path.parent.mkdir()
        path.write_bytes(os.urandom(3 * MIB))
        made[name] = path, make_torrent(path)
    return made


def swarm_hash(metainfo: bytes) -> bytes:
    return lt.torrent_info(metainfo).info_hashes().v1.to_bytes()


def fetch(
    address: str, metainfo: bytes, into: Path, seeder_port: int
) -> tuple[lt.session, lt.torrent_handle]:
    """A client on ``address`` that knows only the seeder and connects to it."""
    session = client_session(address=address)
    handle = add_torrent(session, metainfo, into)
    handle.connect_peer(("127.0.0.1", seeder_port))
    return session, handle


def test_private_torrents_serve_admitted_addresses_only_and_public_ones_anyone(releases, tmp_path):
    (private_path, private), (public_path, public) = releases["private"], releases["public"]
    with SeedingSession(port=free_port(), upload_limit=512 * 1024, state_dir=tmp_path / "state") as seeder:
        seeder.add(release_id=1, metainfo=private, save_path=private_path.parent, private=True)
        seeder.add(release_id=2, metainfo=public, save_path=public_path.parent)
        port = seeder.listen_port
        member_session, member = fetch(MEMBER_ADDRESS, private, tmp_path / "member", port)
        # (Sessions kept: a handle lives only as long as its session.)
        stranger_session, stranger = fetch(OTHER_ADDRESS, private, tmp_path / "stranger", port)
        public_session, public_download = fetch(OTHER_ADDRESS, public, tmp_path / "public", port)

        # Before the tracker's first answer, a private torrent admits nobody; a public one anyone.
        wait_until(lambda: public_download.status().total_done > 0, what="the public download to start")
        time.sleep(1)
        assert member.status().total_done == stranger.status().total_done == 0

        # Admitted: the seeder connects to the member itself (its refused first try would wait ~15 s).
        seeder.admit_only({swarm_hash(private): frozenset({(MEMBER_ADDRESS, member_session.listen_port())})})
        wait_until(lambda: member.status().total_done >= 256 * 1024, what="the member's download to start")

        # Dropped from the list: disconnected at once, and refused when it connects again.
        seeder.admit_only({swarm_hash(private): frozenset()})
        wait_until(lambda: member.status().num_peers == 0, timeout=5, what="the seeder to drop the member")
        time.sleep(0.5)
        done = member.status().total_done
        member.connect_peer(("127.0.0.1", port))
        stranger.connect_peer(("127.0.0.1", port))
        time.sleep(3)
        assert member.status().total_done == done < 3 * MIB
        assert stranger.status().total_done == 0
        wait_until(lambda: public_download.status().is_seeding, what="the public download to finish")


@contextmanager
def serving(tracker: Tracker, port: int) -> Iterator[None]:
    """The standalone tracker's HTTP server on 127.0.0.1:``port``, on a thread of its own."""
    loop = asyncio.new_event_loop()
    server = HttpTrackerServer(tracker)
    loop.run_until_complete(server.start("127.0.0.1", port))
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def close() -> None:
        server.close()
        await asyncio.sleep(0.01)  # for its idle sweeper to take the cancellation

    try:
        yield
    finally:
        asyncio.run_coroutine_threadsafe(close(), loop).result()
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()


def admits(seeder: SeedingSession, address: str) -> bool:
    return seeder._session.get_ip_filter().access(address) == 0


def test_the_seeder_keeps_its_last_allow_list_while_the_tracker_is_away_and_says_so_once(
    releases, tmp_path, caplog
):
    path, metainfo = releases["private"]
    credential = b"c" * 64
    tracker = Tracker(MemorySwarmStore(peer_ttl=3600), interval=1800, min_interval=60)
    swarms, private = {swarm_hash(metainfo): 1}, {1: access.keys_opening_release(1, [])}
    nodes = {hashlib.sha256(credential).digest(): access.SEEDER_NODE_KEYS}
    signed_in = access.keys_held_by(is_staff=False, group_ids=[], published_product_ids=[])
    tracker.load(Whitelist.of(swarms, private, {b"member-passkey": signed_in}, nodes))
    tracker.handle_announce(announce_query(swarm_hash(metainfo)), MEMBER_ADDRESS, b"member-passkey")
    port = free_port()
    now = [0.0]
    caplog.set_level(logging.INFO, logger="seeder.allow_list")
    with SeedingSession(port=free_port(), upload_limit=0, state_dir=tmp_path / "state") as seeder:
        seeder.add(release_id=1, metainfo=metainfo, save_path=path.parent, private=True)
        allow_list = AllowList(
            session=seeder,
            url=f"http://127.0.0.1:{port}/admitted/{credential.decode()}",
            interval=1,
            clock=lambda: now[0],
        )
        allow_list.follow()  # the tracker is not up yet
        assert not admits(seeder, MEMBER_ADDRESS)
        with serving(tracker, port):
            now[0] += 1
            allow_list.follow()
            assert admits(seeder, MEMBER_ADDRESS) and not admits(seeder, OTHER_ADDRESS)
        for _ in range(5):
            now[0] += 1
            allow_list.follow()
        assert admits(seeder, MEMBER_ADDRESS)
        with serving(tracker, port):
            now[0] += 1
            allow_list.follow()
            # The member's passkey regenerated: gone from the next answer.
            tracker.load(Whitelist.of(swarms, private, {b"a new passkey": signed_in}, nodes))
            now[0] += 1
            allow_list.follow()
            assert not admits(seeder, MEMBER_ADDRESS)

    messages = [(record.levelname, record.getMessage()) for record in caplog.records]
    assert [level for level, _ in messages] == ["INFO", "INFO", "WARNING", "INFO"], messages
    assert "private releases admit nobody until it answers" in messages[0][1]
    assert "keep admitting the 1 peers of its answer" in messages[2][1]
    assert all(credential.decode() not in message for _, message in messages)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_member_downloads_a_private_release_and_a_regenerated_passkey_is_cut_off_at_the_seeder(
    start_tracker,  # noqa: F811
    start_seeder,
    make_multi_file_release,
    client,
    settings,
    tmp_path,
):
    tracker = start_tracker()
    settings.FANOUT_ANNOUNCE_URL = tracker.announce_url
    release = make_multi_file_release(announce_url=tracker.announce_url, sizes={"vault.bin": 6 * MIB})
    audience = GroupFactory()
    Release.objects.filter(pk=release.pk).update(visibility=Release.Visibility.PRIVATE)
    release.audience.add(audience)
    member, victim = UserFactory(), UserFactory()
    for user in (member, victim):
        user.groups.add(audience)
        # Passkeys made before the tracker's next refresh, which the seeder's start outlasts: a
        # client refused as unknown would wait out libtorrent's back-off.
        Passkey.for_user(user)
    seeder = start_seeder(
        FANOUT_ANNOUNCE_URL=tracker.announce_url,
        # Slow enough that a download takes several seconds.
        FANOUT_SEEDER_UPLOAD_LIMIT=str(512 * 1024),
        FANOUT_SEEDER_ALLOW_LIST_INTERVAL="1",
    )
    wait_until(lambda: release_is_seeded(release.pk), what="the tracker to know the seeder", timeout=60)

    def personal_torrent(user) -> bytes:
        client.force_login(user)
        response = client.get(reverse("release-torrent", args=[release.pk]))
        assert response.status_code == 200
        # No web seed: every byte comes from the seeder.
        return without_web_seeds(response.content)

    # A member, with nothing but the .torrent: the tracker introduces it, the seeder serves it.
    member_session = client_session(address=MEMBER_ADDRESS)
    member_download = add_torrent(member_session, personal_torrent(member), tmp_path / "member")
    # Its first try is refused (the seeder has not heard of it yet); the seeder then connects to it.
    wait_until(lambda: member_download.status().total_done > 0, timeout=8, what="the member's first bytes")
    wait_until(lambda: member_download.status().is_seeding, timeout=60, what="the member's download")
    downloaded = tmp_path / "member" / release.content_name / "vault.bin"
    assert downloaded.read_bytes() == release.disk_path("vault.bin").read_bytes()
    member_session.remove_torrent(member_download)

    # Another one, whose passkey is regenerated halfway.
    victim_session = client_session(address=OTHER_ADDRESS)
    victim_download = add_torrent(victim_session, personal_torrent(victim), tmp_path / "victim")
    wait_until(lambda: victim_download.status().total_done >= MIB, timeout=60, what="the victim's download")
    access.regenerate_passkey(victim)
    regenerated = time.monotonic()
    wait_until(
        lambda: victim_download.status().num_peers == 0, timeout=15, what="the seeder to drop the old passkey"
    )
    cut_off_after = time.monotonic() - regenerated
    time.sleep(1)  # blocks already on the wire
    done = victim_download.status().total_done
    # Straight to the seeder, past the tracker: the seeder's door is shut too.
    victim_download.connect_peer(("127.0.0.1", seeder.port))
    time.sleep(5)

    assert victim_download.status().total_done == done < 6 * MIB
    assert cut_off_after < 6, cut_off_after
