"""libtorrent clients for tests on loopback, and polling until something holds."""

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


def client_session(*, upload_rate: int = 0, alert_mask: int = 0) -> "lt.session":
    """A client on 127.0.0.1 with nothing but trackers and peers it is given.

    With ``upload_rate`` the limit holds for loopback peers too: libtorrent
    exempts local peers from rate limits unless told otherwise.
    """
    session = lt.session(
        {
            "listen_interfaces": "127.0.0.1:0",
            "enable_dht": False,
            "enable_lsd": False,
            "enable_upnp": False,
            "enable_natpmp": False,
            # Every peer of a test, and the tracker's view of them, is on 127.0.0.1.
            "allow_multiple_connections_per_ip": True,
            "upload_rate_limit": upload_rate,
            "alert_mask": alert_mask,
        }
    )
    if upload_rate:
        addresses = lt.ip_filter()
        addresses.add_rule("0.0.0.0", "255.255.255.255", 1 << lt.session.global_peer_class_id)
        session.set_peer_class_filter(addresses)
    return session


def download(metainfo: bytes, *, from_port: int, into: Path, timeout: float = 60.0) -> Path:
    """Fetch a torrent with a fresh libtorrent peer that knows only the seeder on `from_port`."""
    session = client_session()
    params = lt.add_torrent_params()
    params.ti = lt.torrent_info(metainfo)
    params.save_path = str(into)
    params.flags &= ~(lt.torrent_flags.auto_managed | lt.torrent_flags.paused)
    handle = session.add_torrent(params)
    handle.connect_peer(("127.0.0.1", from_port))
    wait_until(lambda: handle.status().is_seeding, timeout=timeout, what="the download to finish")
    return into / params.ti.name()
