"""libtorrent peers on loopback for tests and benchmarks, and the torrents they share."""

from pathlib import Path

import libtorrent as lt

from harness.polling import wait_until

# Small enough that the few MiB of a test make dozens of pieces.
TEST_PIECE_LENGTH = 64 * 1024


def client_session(*, upload_rate: int = 0, alert_mask: int = 0, address: str = "127.0.0.1") -> "lt.session":
    """A client on ``address`` (any of 127.0.0.0/8) with nothing but trackers and peers it is given.

    With ``upload_rate`` the limit holds for loopback peers too: libtorrent
    exempts local peers from rate limits unless told otherwise. Clients on
    addresses of their own are told apart by the tracker and by a seeder's IP filter.
    """
    session = lt.session(
        {
            "listen_interfaces": f"{address}:0",
            # Peer connections leave from it too (announces leave from the listening address).
            "outgoing_interfaces": address,
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


def make_torrent(
    path: Path,
    *,
    piece_length: int = TEST_PIECE_LENGTH,
    announce_url: str | None = None,
    flags: int = lt.create_torrent.v1_only,
) -> bytes:
    """The metainfo of the file or directory at ``path`` (v1 unless ``flags`` say otherwise)."""
    creator = lt.create_torrent(lt.list_files(str(path)), piece_length, flags)
    if announce_url is not None:
        creator.add_tracker(announce_url)
    lt.set_piece_hashes(creator, str(path.parent))
    return lt.bencode(creator.generate())


def add_torrent(
    session: "lt.session", metainfo: bytes, save_path: Path, *, seed: bool = False
) -> "lt.torrent_handle":
    """Add a torrent that starts at once; ``seed`` skips checking data known to be whole."""
    params = lt.add_torrent_params()
    params.ti = lt.torrent_info(metainfo)
    params.save_path = str(save_path)
    # Not left to libtorrent's queue, which would start it a moment later.
    params.flags &= ~(lt.torrent_flags.auto_managed | lt.torrent_flags.paused)
    if seed:
        params.flags |= lt.torrent_flags.seed_mode
    return session.add_torrent(params)


def download(metainfo: bytes, *, from_port: int, into: Path, timeout: float = 60.0) -> Path:
    """Fetch a torrent with a fresh libtorrent peer that knows only the seeder on `from_port`."""
    session = client_session()
    handle = add_torrent(session, metainfo, into)
    handle.connect_peer(("127.0.0.1", from_port))
    wait_until(lambda: handle.status().is_seeding, timeout=timeout, what="the download to finish")
    return into / lt.torrent_info(metainfo).name()
