"""Two real libtorrent sessions find each other through runtracker, and one downloads from the other."""

import os
import urllib.request

import libtorrent as lt
import pytest

from bittorrent import bencode
from harness.libtorrent_peers import add_torrent, client_session, make_torrent
from harness.polling import wait_until
from tests.tracker.conftest import publish_release, quoted

pytestmark = pytest.mark.slow


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
    metainfo = make_torrent(content, announce_url=tracker.announce_url, flags=flags)
    hashes = lt.torrent_info(metainfo).info_hashes()
    publish_release(
        f"lt-{flags}",
        v1=hashes.v1.to_bytes(),
        v2=hashes.v2.to_bytes() if hashes.has_v2() else None,
    )
    wait_until(
        lambda: scrape(tracker, hashes.v1.to_bytes()), timeout=10, what="the tracker to take the release up"
    )

    seeder, leecher = client_session(), client_session()
    add_torrent(seeder, metainfo, content.parent, seed=True)
    download = add_torrent(leecher, metainfo, tmp_path / "leech")
    wait_until(lambda: download.status().is_seeding, timeout=60, what="the download to finish")

    assert (tmp_path / "leech" / "release.bin").read_bytes() == content.read_bytes()
    wait_until(
        lambda: scrape(tracker, hashes.v1.to_bytes()) == {b"complete": 2, b"downloaded": 1, b"incomplete": 0},
        timeout=10,
        what="the tracker to count the finished download",
    )
