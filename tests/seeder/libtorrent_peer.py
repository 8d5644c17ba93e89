"""A downloading libtorrent peer for seeder tests, and polling until something holds."""

import time
from collections.abc import Callable
from pathlib import Path

import libtorrent as lt


def wait_until(condition: Callable[[], object], *, timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


def download(metainfo: bytes, *, from_port: int, into: Path, timeout: float = 60.0) -> Path:
    """Fetch a torrent with a fresh libtorrent peer that knows only the seeder on `from_port`."""
    session = lt.session(
        {
            "listen_interfaces": "127.0.0.1:0",
            "enable_dht": False,
            "enable_lsd": False,
            "enable_upnp": False,
            "enable_natpmp": False,
            "allow_multiple_connections_per_ip": True,
            "alert_mask": 0,
        }
    )
    params = lt.add_torrent_params()
    params.ti = lt.torrent_info(metainfo)
    params.save_path = str(into)
    params.flags &= ~(lt.torrent_flags.auto_managed | lt.torrent_flags.paused)
    handle = session.add_torrent(params)
    handle.connect_peer(("127.0.0.1", from_port))
    wait_until(lambda: handle.status().is_seeding, timeout=timeout, what="the download to finish")
    return into / params.ti.name()
