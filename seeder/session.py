"""The libtorrent session a seeder node seeds from, and the resume data it keeps.

Nothing here knows about Django: torrents are added and removed by release
id, and `reports()` says how each one is doing. Resume data lives in
``state_dir/<info-hash>.resume`` so that a restarted node seeds at once
instead of hashing every release again. Private torrents serve only the
addresses `admit_only()` was last given (seeder/allow_list.py), nobody before
the first call; public ones serve anyone.
"""

import fcntl
import logging
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import libtorrent as lt

logger = logging.getLogger(__name__)

VERSION = f"libtorrent/{lt.__version__}"

SEED_CHOKING = {
    "round-robin": lt.seed_choking_algorithm_t.round_robin,
    "fastest-upload": lt.seed_choking_algorithm_t.fastest_upload,
    "anti-leech": lt.seed_choking_algorithm_t.anti_leech,
}

_ALERT_MASK = (
    lt.alert.category_t.error_notification
    | lt.alert.category_t.status_notification
    | lt.alert.category_t.storage_notification
)
_CHECKING_STATES = (
    lt.torrent_status.states.checking_files,
    lt.torrent_status.states.checking_resume_data,
    lt.torrent_status.states.queued_for_checking,
)
# Seeding time and counters change every second, so saving "only if modified"
# on every tick would rewrite every file every tick.
RESUME_SAVE_INTERVAL = 300.0
# Until the tracker has answered once, announce again this often: a release
# published a moment ago may not be in the tracker's whitelist yet, and
# libtorrent's own back-off after that refusal is a minute or more.
REANNOUNCE_UNTIL_TRACKED = 3.0
# How often the economy policy looks at who holds what (seconds), and how fast the
# origin still uploads a torrent whose connected peers hold every piece between them.
ECONOMY_TICK = 0.5
TRICKLE_UNLIMITED = 1024 * 1024
TRICKLE_SHARE = 16
_NO_LIMIT = 2**31 - 1
_LISTEN_TIMEOUT = 10.0
_CLOSE_TIMEOUT = 30.0

# Size and inode change time: any write, truncation or replacement moves the
# change time, even when the modification time is set back.
FileSignature = tuple[int, int] | None
# Per swarm hash, the endpoints (address, port) of the peers the tracker admitted to it.
Admitted = dict[bytes, frozenset[tuple[str, int]]]

_EVERY_IPV4 = ("0.0.0.0", "255.255.255.255")
_EVERY_IPV6 = ("::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")
_BLOCKED = 1  # lt.ip_filter's access flag


class SessionStartError(Exception):
    pass


@dataclass(frozen=True)
class TorrentReport:
    release_id: int
    checking: bool
    announced: bool
    error: str
    uploaded_bytes: int
    upload_rate: int
    peers: int = 0


@dataclass
class _HeldTorrent:
    handle: lt.torrent_handle
    key: str
    files: list[Path]
    signatures: list[FileSignature]
    swarm_hash: bytes = b""
    announced: bool = False
    last_announce: float = 0.0
    # Peers were connected at the last report: only such torrents are economized.
    active: bool = False
    # The connected peers hold every piece between them: a complete copy is out there.
    covered: bool = False
    # Set by follow_demand: nonzero while other swarms need the origin more.
    demand_limit: int = 0
    # A private release's torrent: it serves the admitted addresses only.
    private: bool = False
    # The admitted endpoints of its swarm it was already told to connect to.
    admitted: frozenset[tuple[str, int]] = frozenset()


def _settings(
    port: int, upload_limit: int, seed_choking: str, connections_limit: int, unchoke_slots: int
) -> dict:
    return {
        "listen_interfaces": f"0.0.0.0:{port}",
        "enable_dht": False,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        # Downloaders behind one NAT, or on one test machine, share an address.
        "allow_multiple_connections_per_ip": True,
        "upload_rate_limit": upload_limit,
        "connections_limit": connections_limit,
        "unchoke_slots_limit": unchoke_slots,
        "seed_choking_algorithm": SEED_CHOKING[seed_choking],
        "alert_mask": _ALERT_MASK,
        # Closing queues one resume alert per torrent: none may be dropped.
        "alert_queue_size": 100_000,
        # The IP filter is for peers: private torrents still announce to a tracker it does not list.
        "apply_ip_filter_to_trackers": False,
        # libtorrent's default of 50 announces at once, each holding its slot for ~30 s against
        # our tracker (its completion timeout, it seems), starts 1,000 releases in 10 min.
        "max_concurrent_http_announces": 2000,
        "user_agent": f"Fanout seeder {VERSION}",
    }


def _info_hash_key(info_hashes: lt.info_hash_t) -> str:
    return info_hashes.get_best().to_bytes().hex()


def _content_files(info: lt.torrent_info, save_path: Path) -> list[Path]:
    files = info.layout()
    return [
        save_path / files.file_path(index)
        for index in range(files.num_files())
        if not files.file_flags(index) & lt.file_storage.flag_pad_file
    ]


def _allowing(addresses: Iterable[str]) -> lt.ip_filter:
    """An IP filter that blocks every address, IPv4 and IPv6, but ``addresses``."""
    allowing = lt.ip_filter()
    for first, last in (_EVERY_IPV4, _EVERY_IPV6):
        allowing.add_rule(first, last, _BLOCKED)
    for address in addresses:
        allowing.add_rule(address, address, 0)
    return allowing


def _swarm_hash(info_hashes: lt.info_hash_t) -> bytes:
    """The 20-byte hash the tracker knows the swarm by (a v2 hash is truncated, as in announces)."""
    if info_hashes.has_v1():
        return info_hashes.v1.to_bytes()
    return info_hashes.v2.to_bytes()[:20]


def _announce_results(trackers: list[dict]) -> list[dict]:
    """The outcome of each announce: per tracker, per listening endpoint, per info-hash version.

    The binding copies into a tracker entry's own ``fails``, ``updating`` and
    ``message`` the outcome of its first endpoint's v1 info-hash only: a v2-only
    torrent's refusals show nowhere else than here.
    """
    return [
        result
        for tracker in trackers
        for endpoint in tracker["endpoints"]
        for result in endpoint["info_hashes"]
    ]


def _peers_hold_every_piece(handle: lt.torrent_handle) -> bool:
    pieces = 0
    for peer in handle.get_peer_info():
        if peer.flags & lt.peer_info.seed:
            return True
        if peer.pieces:
            pieces |= int("".join("1" if have else "0" for have in peer.pieces), 2)
    count = handle.torrent_file().num_pieces() if handle.torrent_file() else 0
    return count > 0 and pieces == (1 << count) - 1


def _signature(path: Path) -> FileSignature:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_size, stat.st_ctime_ns


class SeedingSession:
    """A libtorrent session that seeds every torrent added to it, none queued."""

    def __init__(
        self,
        *,
        port: int,
        upload_limit: int,
        state_dir: Path,
        seed_choking: str = "round-robin",
        super_seeding: bool = False,
        connections_limit: int = 500,
        unchoke_slots: int = 8,
        economy: bool = False,
    ) -> None:
        self.state_dir = state_dir
        self.super_seeding = super_seeding
        self.state_dir.mkdir(parents=True, exist_ok=True)
        # Two processes with one node name would overwrite each other's resume data.
        self._lock = (self.state_dir / "lock").open("w")
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock.close()
            raise SessionStartError(f"another seeder is using {self.state_dir}") from None
        self._session = lt.session(
            _settings(port, upload_limit, seed_choking, connections_limit, unchoke_slots)
        )
        # libtorrent puts peers on a local network in a class that ignores rate
        # limits; in a company's network every downloader is local, so the
        # upload limit must hold for all of them.
        # (The peer class filter, not the IP filter of admit_only.)
        all_addresses = lt.ip_filter()
        for first, last in (_EVERY_IPV4, _EVERY_IPV6):
            all_addresses.add_rule(first, last, 1 << lt.session.global_peer_class_id)
        self._session.set_peer_class_filter(all_addresses)
        # Private torrents admit nobody until admit_only says whom.
        self._admitted_addresses: frozenset[str] = frozenset()
        self._session.set_ip_filter(_allowing(()))
        self._add_unfiltered_placeholder()
        self._held: dict[int, _HeldTorrent] = {}
        self._release_by_key: dict[str, int] = {}
        self._last_resume_save = time.monotonic()
        # A node-wide fault (the state disk full or read-only): reported until a write succeeds.
        self.node_error = ""
        self._upload_limit = upload_limit
        self.economy = economy
        self._trickle = max(64 * 1024, upload_limit // TRICKLE_SHARE) if upload_limit else TRICKLE_UNLIMITED
        try:
            self.listen_port = self._wait_until_listening()
        except SessionStartError:
            self._lock.close()
            raise

    def _add_unfiltered_placeholder(self) -> None:
        """A paused torrent without metadata, under a random info-hash, that applies no IP filter.

        While every torrent applies the filter, libtorrent checks a connection against it as it
        accepts it, and drops a refused uTP connection there without a word (no reset): the
        client waits ~15 s on it, and meanwhile turns away, as a duplicate, the connection this
        node makes once the tracker admits it (``admit_only``). With one torrent that applies
        none, the check waits for the handshake, and a refused peer is disconnected at once.
        Public torrents would do, but a node may hold private ones only.
        """
        params = lt.add_torrent_params()
        params.info_hashes = lt.info_hash_t(lt.sha1_hash(os.urandom(20)))
        params.save_path = str(self.state_dir)
        params.flags = lt.torrent_flags.paused
        self._session.add_torrent(params)

    def _wait_until_listening(self) -> int:
        deadline = time.monotonic() + _LISTEN_TIMEOUT
        while time.monotonic() < deadline:
            self._session.wait_for_alert(100)
            for alert in self._session.pop_alerts():
                if isinstance(alert, lt.listen_failed_alert):
                    raise SessionStartError(alert.message())
                if isinstance(alert, lt.listen_succeeded_alert):
                    return self._session.listen_port()
        raise SessionStartError(f"not listening after {_LISTEN_TIMEOUT:.0f} s")

    def release_ids(self) -> set[int]:
        return set(self._held)

    def _resume_path(self, key: str) -> Path:
        return self.state_dir / f"{key}.resume"

    def add(self, *, release_id: int, metainfo: bytes, save_path: Path, private: bool = False) -> None:
        """Seed a torrent without hashing its content when that is safe; a ``private`` one serves
        only the addresses ``admit_only`` admits.

        1. Resume data from an earlier run, unless a file changed after it was
           saved: libtorrent notices a changed size, but not changed bytes.
        2. No resume data: seed mode, since the content was hashed when the
           torrent was built; libtorrent still checks each piece the first
           time a peer asks for it.
        3. A file changed since the resume data: a full check.
        """
        info = lt.torrent_info(metainfo)
        key = _info_hash_key(info.info_hashes())
        files = _content_files(info, save_path)
        signatures = [_signature(path) for path in files]
        params = self._saved_params(key)
        if params is None:
            params = lt.add_torrent_params()
            params.flags |= lt.torrent_flags.seed_mode
        elif self._changed_since_saved(key, signatures):
            logger.warning("content of release %s changed since it was last seeded: checking it", release_id)
            params = lt.add_torrent_params()
        params.ti = info
        # The metainfo says where to announce: resume data may name a tracker URL
        # with a node credential of an earlier run, which the trackers now refuse
        # (and read_resume_data sets override_trackers, which would ignore the metainfo's).
        params.trackers = []
        params.tracker_tiers = []
        params.flags &= ~lt.torrent_flags.override_trackers
        params.save_path = str(save_path)
        # Not auto-managed, so that libtorrent's queue (5 active seeds by
        # default) never stops one: a seeder serves every release it holds.
        params.flags &= ~(lt.torrent_flags.auto_managed | lt.torrent_flags.paused)
        if self.super_seeding:
            params.flags |= lt.torrent_flags.super_seeding
        else:
            params.flags &= ~lt.torrent_flags.super_seeding
        # Set either way: libtorrent's default applies the filter, and resume data keeps the flag.
        if private:
            params.flags |= lt.torrent_flags.apply_ip_filter
        else:
            params.flags &= ~lt.torrent_flags.apply_ip_filter
        handle = self._session.add_torrent(params)
        # libtorrent creates a torrent's peer class on its first limit, and only peers that
        # connect afterwards join it: set one now, so that later limits reach every peer.
        handle.set_upload_limit(_NO_LIMIT)
        self._held[release_id] = _HeldTorrent(
            handle=handle,
            key=key,
            files=files,
            signatures=signatures,
            swarm_hash=_swarm_hash(info.info_hashes()),
            last_announce=time.monotonic(),
            private=private,
        )
        self._release_by_key[key] = release_id

    def _saved_params(self, key: str) -> lt.add_torrent_params | None:
        path = self._resume_path(key)
        try:
            params = lt.read_resume_data(path.read_bytes())
        except FileNotFoundError:
            return None
        except RuntimeError as error:
            logger.warning("ignoring unreadable resume data %s: %s", path, error)
            return None
        if _info_hash_key(params.info_hashes) != key:
            logger.warning("ignoring resume data %s: it belongs to another torrent", path)
            return None
        return params

    def _changed_since_saved(self, key: str, signatures: list[FileSignature]) -> bool:
        saved_at = self._resume_path(key).stat().st_mtime_ns
        return any(signature is None or signature[1] >= saved_at for signature in signatures)

    def remove(self, release_id: int) -> None:
        held = self._held.pop(release_id)
        del self._release_by_key[held.key]
        self._session.remove_torrent(held.handle)
        self._resume_path(held.key).unlink(missing_ok=True)

    def check_content(self) -> None:
        """Check again any torrent whose files changed on disk since the last look.

        Without this, a torrent restored from resume data would serve bytes
        that no longer match its pieces.
        """
        for release_id, held in self._held.items():
            if self._has_changed(held):
                logger.warning("content of release %s changed on disk: checking it", release_id)
                held.signatures = [_signature(path) for path in held.files]
                # A file error (unreadable, disk full) paused the torrent: the change may be the fix.
                held.handle.clear_error()
                held.handle.resume()
                held.handle.force_recheck()

    def swarm_hashes(self) -> dict[int, bytes]:
        """Each held release's 20-byte swarm hash, as the tracker's scrape names it."""
        return {release_id: held.swarm_hash for release_id, held in self._held.items()}

    def admit_only(self, admitted: Admitted) -> None:
        """Let the private torrents serve the addresses of the ``admitted`` endpoints only, and
        connect each to the admitted peers of its swarm it has not been given before.

        1. One IP filter for the session (libtorrent has no other): an address admitted to any
           private swarm passes for every private torrent here.
        2. Setting it disconnects, on every private torrent, the peers it now blocks; it is set
           only when the addresses change, as each setting walks every torrent's peers.
        3. Connecting out: a downloader connects moments after its announce, before this node
           has heard of it, and is refused; libtorrent would try again only ~15 s later.
        """
        addresses = frozenset(address for endpoints in admitted.values() for address, _ in endpoints)
        if addresses != self._admitted_addresses:
            self._session.set_ip_filter(_allowing(addresses))
            self._admitted_addresses = addresses
        for held in self._held.values():
            if not held.private:
                continue
            endpoints = admitted.get(held.swarm_hash, frozenset())
            for endpoint in endpoints - held.admitted:
                held.handle.connect_peer(endpoint)
            held.admitted = endpoints

    def announce_urls(self, release_id: int) -> list[str]:
        """The trackers libtorrent announces the release's torrent to."""
        return [tracker["url"] for tracker in self._held[release_id].handle.trackers()]

    def follow_demand(self, *, needy: set[int], stalled: set[int]) -> None:
        """Send the origin's upload first to swarms that need it.

        ``needy``: releases with leechers and no complete copy besides ours.
        While any exists, the other releases share a tenth of the upload limit
        (each at most that much). ``stalled``: needy releases whose leechers
        this node is not connected to: announce now, to learn their addresses.
        """
        others_limit = max(16 * 1024, self._upload_limit // 10) if needy and self._upload_limit else 0
        now = time.monotonic()
        for release_id, held in self._held.items():
            held.demand_limit = 0 if release_id in needy else others_limit
            self._apply_upload_limit(held)
            if release_id in stalled and now - held.last_announce >= REANNOUNCE_UNTIL_TRACKED:
                logger.info(
                    "swarm of release %s has leechers this node does not serve: announcing", release_id
                )
                held.last_announce = now
                held.handle.force_reannounce(0, -1, lt.reannounce_flags_t.ignore_min_interval)

    def announce_until_tracked(self) -> None:
        """Note which torrents the tracker has answered for; announce the others again.

        Peers find a release through the tracker, so a release is not served
        until the tracker knows this node has it.
        """
        now = time.monotonic()
        for held in self._held.values():
            if held.announced:
                continue
            trackers = held.handle.trackers()
            held.announced = not trackers or any(tracker["verified"] for tracker in trackers)
            if held.announced or now - held.last_announce < REANNOUNCE_UNTIL_TRACKED:
                continue
            # Only a refused or failed announce is repeated: one still queued or under
            # way is waited for, so that a thousand new torrents do not flood the tracker.
            # (An endpoint that cannot reach the tracker, such as another interface's for a
            # tracker on loopback, stays under way for minutes: it holds back no other.)
            if not any(
                (result["fails"] or result["message"]) and not result["updating"]
                for result in _announce_results(trackers)
            ):
                continue
            held.last_announce = now
            held.handle.force_reannounce()

    def economize(self) -> None:
        """The economy policy: upload only while the swarm lacks a complete copy.

        While some piece is held by none of the connected peers, the origin
        uploads at full rate (and peers, picking rarest first, ask it for the
        pieces nobody has). Once the peers hold every piece between them, they
        can finish from each other: the origin trickles, so that its upload
        goes into new pieces for young swarms rather than into copies.
        """
        if not self.economy:
            return
        for held in self._held.values():
            if not held.active and not held.covered:
                continue
            covered = _peers_hold_every_piece(held.handle)
            if covered != held.covered:
                held.covered = covered
                self._apply_upload_limit(held)

    def _apply_upload_limit(self, held: _HeldTorrent) -> None:
        limits = [limit for limit in (held.demand_limit, self._trickle if held.covered else 0) if limit]
        limit = min(limits) if limits else _NO_LIMIT
        current = held.handle.upload_limit()
        if (_NO_LIMIT if current <= 0 else current) != limit:
            held.handle.set_upload_limit(limit)

    def _has_changed(self, held: _HeldTorrent) -> bool:
        return [_signature(path) for path in held.files] != held.signatures

    def reports(self) -> list[TorrentReport]:
        reports = []
        for status in self._session.get_torrent_status(lambda status: True, 0):
            release_id = self._release_by_key.get(_info_hash_key(status.info_hashes))
            if release_id is None:
                continue
            checking = status.state in _CHECKING_STATES
            self._held[release_id].active = status.num_peers > 0
            reports.append(
                TorrentReport(
                    release_id=release_id,
                    checking=checking,
                    announced=self._held[release_id].announced,
                    error=self._error(release_id, status, checking),
                    uploaded_bytes=status.all_time_upload,
                    upload_rate=status.upload_payload_rate,
                    peers=status.num_peers,
                )
            )
        return reports

    def _error(self, release_id: int, status: lt.torrent_status, checking: bool) -> str:
        if status.errc.value():
            return status.errc.message()
        if checking:
            return ""
        # A torrent with every piece counts as seeding even while paused.
        if status.flags & lt.torrent_flags.paused:
            return "paused: not serving peers"
        if status.is_seeding:
            return ""
        held = self._held[release_id]
        total = held.handle.torrent_file().num_pieces()
        missing = [
            path.name
            for path, signature in zip(held.files, held.signatures, strict=True)
            if signature is None
        ]
        error = (
            f"{total - status.num_pieces} of {total} pieces are missing on disk or do not match the torrent"
        )
        if missing:
            error += f"; files not found: {', '.join(missing[:3])}" + (", ..." if len(missing) > 3 else "")
        return error

    def handle_alerts(self) -> None:
        """Store resume data libtorrent has produced; ask for more now and then."""
        for alert in self._session.pop_alerts():
            self._handle_alert(alert)
        if time.monotonic() - self._last_resume_save >= RESUME_SAVE_INTERVAL:
            self._last_resume_save = time.monotonic()
            self._save_resume_data(lt.torrent_handle.only_if_modified)

    def _save_resume_data(self, flags: int = 0) -> set[str]:
        """Ask for the resume data of every torrent that is not being checked; return their keys.

        Resume data taken during a check, or after the files changed and
        before a check, would be trusted at the next start. Left unsaved, the
        older resume data makes that start check the content.
        """
        asked = set()
        for held in self._held.values():
            if held.handle.status(0).state not in _CHECKING_STATES and not self._has_changed(held):
                held.handle.save_resume_data(lt.torrent_handle.save_info_dict | flags)
                asked.add(held.key)
        return asked

    def _handle_alert(self, alert: lt.alert) -> str | None:
        """Act on one alert; return the info-hash key of a finished resume save."""
        if (
            isinstance(alert, lt.state_changed_alert)
            and alert.state == lt.torrent_status.states.checking_files
            and alert.handle.is_valid()
        ):
            release_id = self._release_by_key.get(_info_hash_key(alert.handle.info_hashes()))
            logger.info("hashing the content of release %s", release_id)
            return None
        if isinstance(alert, lt.torrent_checked_alert) and alert.handle.is_valid():
            # What a check found is worth keeping at once: it is what spares the next start a check.
            alert.handle.save_resume_data(lt.torrent_handle.save_info_dict)
            return None
        if isinstance(alert, lt.save_resume_data_alert):
            key = _info_hash_key(alert.params.info_hashes)
            # A save asked for before the torrent was removed must not bring its file back.
            if key in self._release_by_key:
                self._write_resume_data(key, lt.write_resume_data_buf(alert.params))
            return key
        if isinstance(alert, lt.save_resume_data_failed_alert) and alert.handle.is_valid():
            return _info_hash_key(alert.handle.info_hashes())
        if isinstance(alert, lt.file_error_alert | lt.torrent_error_alert):
            # The torrent is paused with the error, which its report carries to the database.
            logger.error("%s", alert.message())
        return None

    def _write_resume_data(self, key: str, data: bytes) -> None:
        path = self._resume_path(key)
        partial = path.with_suffix(".partial")
        try:
            partial.write_bytes(data)
            os.replace(partial, path)
        except OSError as error:
            # Disk full or read-only: seeding goes on, but a restart would hash everything again.
            logger.error("cannot store resume data %s: %s", path, error)
            self.node_error = f"cannot store resume data in {self.state_dir}: {error.strerror or error}"
            partial.unlink(missing_ok=True)
        else:
            self.node_error = ""

    def close(self) -> None:
        """Stop serving and save every torrent's resume data before letting go."""
        self._session.pause()
        waiting = self._save_resume_data()
        deadline = time.monotonic() + _CLOSE_TIMEOUT
        while waiting and time.monotonic() < deadline:
            self._session.wait_for_alert(100)
            for alert in self._session.pop_alerts():
                waiting.discard(self._handle_alert(alert))
        if waiting:
            logger.warning("closed without saving resume data for %d torrents", len(waiting))
        self._held.clear()
        self._release_by_key.clear()
        del self._session
        self._lock.close()

    def __enter__(self) -> "SeedingSession":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
