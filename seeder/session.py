"""The libtorrent session a seeder node seeds from, and the resume data it keeps.

Nothing here knows about Django: torrents are added and removed by release
id, and `reports()` says how each one is doing. Resume data lives in
``state_dir/<info-hash>.resume`` so that a restarted node seeds at once
instead of hashing every release again.
"""

import fcntl
import logging
import os
import time
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
_LISTEN_TIMEOUT = 10.0
_CLOSE_TIMEOUT = 30.0

# Size and inode change time: any write, truncation or replacement moves the
# change time, even when the modification time is set back.
FileSignature = tuple[int, int] | None


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


@dataclass
class _HeldTorrent:
    handle: lt.torrent_handle
    key: str
    files: list[Path]
    signatures: list[FileSignature]
    announced: bool = False
    last_announce: float = 0.0


def _settings(port: int, upload_limit: int, seed_choking: str) -> dict:
    return {
        "listen_interfaces": f"0.0.0.0:{port}",
        "enable_dht": False,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        # Downloaders behind one NAT, or on one test machine, share an address.
        "allow_multiple_connections_per_ip": True,
        "upload_rate_limit": upload_limit,
        "seed_choking_algorithm": SEED_CHOKING[seed_choking],
        "alert_mask": _ALERT_MASK,
        # Closing queues one resume alert per torrent: none may be dropped.
        "alert_queue_size": 100_000,
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
        self._session = lt.session(_settings(port, upload_limit, seed_choking))
        # libtorrent puts peers on a local network in a class that ignores rate
        # limits; in a company's network every downloader is local, so the
        # upload limit must hold for all of them.
        all_addresses = lt.ip_filter()
        all_addresses.add_rule("0.0.0.0", "255.255.255.255", 1 << lt.session.global_peer_class_id)
        all_addresses.add_rule(
            "::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 1 << lt.session.global_peer_class_id
        )
        self._session.set_peer_class_filter(all_addresses)
        self._held: dict[int, _HeldTorrent] = {}
        self._release_by_key: dict[str, int] = {}
        self._last_resume_save = time.monotonic()
        try:
            self.listen_port = self._wait_until_listening()
        except SessionStartError:
            self._lock.close()
            raise

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

    def add(self, *, release_id: int, metainfo: bytes, save_path: Path) -> None:
        """Seed a torrent without hashing its content when that is safe.

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
        params.save_path = str(save_path)
        # Not auto-managed, so that libtorrent's queue (5 active seeds by
        # default) never stops one: a seeder serves every release it holds.
        params.flags &= ~(lt.torrent_flags.auto_managed | lt.torrent_flags.paused)
        if self.super_seeding:
            params.flags |= lt.torrent_flags.super_seeding
        else:
            params.flags &= ~lt.torrent_flags.super_seeding
        handle = self._session.add_torrent(params)
        self._held[release_id] = _HeldTorrent(
            handle=handle, key=key, files=files, signatures=signatures, last_announce=time.monotonic()
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
                held.handle.force_recheck()

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
            if not held.announced and now - held.last_announce >= REANNOUNCE_UNTIL_TRACKED:
                held.last_announce = now
                held.handle.force_reannounce()

    def _has_changed(self, held: _HeldTorrent) -> bool:
        return [_signature(path) for path in held.files] != held.signatures

    def reports(self) -> list[TorrentReport]:
        reports = []
        for status in self._session.get_torrent_status(lambda status: True, 0):
            release_id = self._release_by_key.get(_info_hash_key(status.info_hashes))
            if release_id is None:
                continue
            checking = status.state in _CHECKING_STATES
            reports.append(
                TorrentReport(
                    release_id=release_id,
                    checking=checking,
                    announced=self._held[release_id].announced,
                    error=self._error(release_id, status, checking),
                    uploaded_bytes=status.all_time_upload,
                    upload_rate=status.upload_payload_rate,
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
            logger.error("%s", alert.message())
        return None

    def _write_resume_data(self, key: str, data: bytes) -> None:
        path = self._resume_path(key)
        partial = path.with_suffix(".partial")
        partial.write_bytes(data)
        os.replace(partial, path)

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
