"""Two real libtorrent sessions find each other through runtracker, and one downloads from the other."""

import os
import urllib.request
from pathlib import Path

import libtorrent as lt
import pytest

from bittorrent import bencode
from tests.libtorrent_peers import client_session, wait_until
from tests.tracker.conftest import publish_release, quoted

pytestmark = pytest.mark.slow


def make_torrent(content: Path, tracker_url: str, flags: int) -> bytes:
    creator = lt.create_torrent(lt.list_files(str(content)), 64 * 1024, flags=flags)
    creator.add_tracker(tracker_url)
    lt.set_piece_hashes(creator, str(content.parent))
    return lt.bencode(creator.generate())


def add(session: "lt.session", info: "lt.torrent_info", save_path, *, seed: bool) -> "lt.torrent_handle":
    params = lt.add_torrent_params()
    params.ti = info
    params.save_path = str(save_path)
    if seed:
        params.flags |= lt.torrent_flags.seed_mode
    return session.add_torrent(params)


def scrape(tracker, info_hash: bytes) -> dict:
    with urllib.request.urlopen(
        f"{tracker.base_url}/scrape?info_hash={quoted(info_hash)}", timeout=5
    ) as answer:
        return bencode.decode(answer.read())[b"files"].get(info_hash, {})


@pytest.mark.parametrize("flags", [lt.create_torrent.v1_only, 0], ids=["v1", "hybrid"])
def test_it_brings_a_leecher_and_a_seeder_together(start_tracker, tmp_path, flags):
    content = tmp_path / "seed" / "release.bin"
    content.parent.mkdir()
    content.write_bytes(os.urandom(3 * 1024 * 1024 + 123))
    tracker = start_tracker()
    info = lt.torrent_info(make_torrent(content, tracker.announce_url, flags))
    hashes = info.info_hashes()
    publish_release(
        f"lt-{flags}",
        v1=hashes.v1.to_bytes(),
        v2=hashes.v2.to_bytes() if hashes.has_v2() else None,
    )
    wait_until(
        lambda: scrape(tracker, hashes.v1.to_bytes()), timeout=10, what="the tracker to take the release up"
    )

    seeder, leecher = client_session(), client_session()
    add(seeder, info, content.parent, seed=True)
    download = add(leecher, info, tmp_path / "leech", seed=False)
    wait_until(lambda: download.status().is_seeding, timeout=60, what="the download to finish")

    assert (tmp_path / "leech" / "release.bin").read_bytes() == content.read_bytes()
    wait_until(
        lambda: scrape(tracker, hashes.v1.to_bytes()) == {b"complete": 2, b"downloaded": 1, b"incomplete": 0},
        timeout=10,
        what="the tracker to count the finished download",
    )
