"""`fanout get`'s BitTorrent side: one libtorrent session that fetches a release into DEST,
checks every file against the release's SHA-256 sums, repairs what differs, and seeds a while.

Resume data lives in DEST/.fanout/<info-hash>.resume, written every few seconds
while pieces arrive and when the command is stopped: a second run loads it and
goes on without hashing what it already has. libtorrent trusts resume data,
so a copy it calls complete is checked against the SHA-256 sums before the
torrent goes online; a forced recheck then finds the bad pieces, which are
fetched again, and nothing changed on disk is ever served to other peers.
"""

import re
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import libtorrent as lt

from fanout_client import __version__
from fanout_client.checksums import files_that_differ
from fanout_client.errors import FanoutError
from fanout_client.progress import Progress, human_size

POLL_SECONDS = 0.25
SAVE_RESUME_SECONDS = 2.0
RECHECK_ATTEMPTS = 3
# A tracker refusal may pass in seconds (it learns a new passkey at its next refresh):
# announce again this often, instead of waiting out libtorrent's back-off.
TRACKER_RETRY_SECONDS = 3.0
TRACKER_RETRIES = 20
ALERTS = (
    lt.alert.category_t.error_notification
    | lt.alert.category_t.storage_notification
    | lt.alert.category_t.status_notification
    | lt.alert.category_t.tracker_notification
)


# A private release's announce and web seed URLs carry the user's passkey: CI logs must not.
PASSKEY_IN_URL = re.compile(r"/(announce|scrape|webseed)/[^/\s)\"']+")


def without_passkeys(text: str) -> str:
    return PASSKEY_IN_URL.sub(r"/\1/<passkey>", text)


class Interrupted(Exception):
    """The command was asked to stop (SIGINT, SIGTERM); resume data was saved."""


@dataclass
class DownloadReport:
    info_hash: str
    content: Path  # the release's file, or its folder, in DEST
    resumed_bytes: int = 0  # already in DEST, and whole, when this run started
    downloaded_bytes: int = 0  # received by this run (peers and web seeds)
    uploaded_bytes: int = 0  # sent to other peers by this run
    repaired: list[str] = field(default_factory=list)  # files whose SHA-256 differed, fetched again


class TorrentDownload:
    def __init__(self, metainfo: bytes, dest: Path, *, stop: threading.Event, progress_stream=None) -> None:
        self.dest = dest = dest.absolute()
        self.stop = stop
        self.progress_stream = progress_stream
        params = lt.load_torrent_buffer(metainfo)
        hashes = params.info_hashes
        self.info_hash = str(hashes.v1) if hashes.has_v1() else str(hashes.v2)
        self.resume_path = dest / ".fanout" / f"{self.info_hash}.resume"
        self.report = DownloadReport(info_hash=self.info_hash, content=dest / params.ti.name())
        self.session = lt.session(
            {
                "listen_interfaces": "0.0.0.0:0",
                "enable_dht": False,
                "enable_lsd": False,
                "enable_upnp": False,
                "enable_natpmp": False,
                # A fleet behind one address, or several clients on one machine, are peers too.
                "allow_multiple_connections_per_ip": True,
                "alert_mask": ALERTS,
                "user_agent": f"fanout/{__version__} libtorrent/{lt.__version__}",
                "peer_fingerprint": lt.generate_fingerprint("FO", *map(int, __version__.split(".")), 0),
            }
        )
        self._checks_done = 0
        self._saving = False
        self._last_save = time.monotonic()
        self._tracker_failure: str | None = None
        self._tracker_retries = 0
        self._retry_tracker_at: float | None = None
        dest.mkdir(parents=True, exist_ok=True)
        self.handle = self.session.add_torrent(self._with_resume_data(params))

    def _with_resume_data(self, params: "lt.add_torrent_params") -> "lt.add_torrent_params":
        """The torrent's parameters, with what an earlier run kept, if it is of the same torrent.

        The trackers and web seeds come from this run's .torrent: a private
        release's carry the user's current passkey, the kept ones maybe an old one.
        """
        chosen = params
        try:
            resumed = lt.read_resume_data(self.resume_path.read_bytes())
        except (OSError, RuntimeError):
            resumed = None
        if resumed is not None and resumed.info_hashes == params.info_hashes:
            resumed.ti = params.ti
            resumed.trackers = params.trackers
            resumed.tracker_tiers = params.tracker_tiers
            resumed.url_seeds = params.url_seeds
            chosen = resumed
        chosen.save_path = str(self.dest)
        # Checked at once, not left to libtorrent's queue; then kept offline until fetch()
        # has seen what the check found.
        chosen.flags &= ~(lt.torrent_flags.auto_managed | lt.torrent_flags.paused)
        chosen.flags |= lt.torrent_flags.stop_when_ready
        return chosen

    def fetch(self, sums: dict[str, str]) -> None:
        """Until every file is in DEST and matches its SHA-256 in ``sums``."""
        if self._check_what_is_here(sums):
            self.handle.resume()
            return
        for _ in range(RECHECK_ATTEMPTS):
            self.handle.resume()
            self._download()
            differ = files_that_differ(self.dest, sums)
            if not differ:
                self._save_resume_data()
                return
            self._recheck(differ)
            # The pieces found bad are wanted again: ask the tracker for peers now.
            self.handle.resume()
            self.handle.force_reannounce(0, -1, lt.reannounce_flags_t.ignore_min_interval)
        raise FanoutError(
            f"{', '.join(differ)}: still differs from the release's SHA-256 "
            f"after {RECHECK_ATTEMPTS} rechecks."
        )

    def seed(self, seconds: float) -> None:
        """Serve other peers for ``seconds`` (the stop signal ends it early)."""
        if seconds <= 0:
            return
        self._note(f"seeding for {seconds:g} s")
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not self.stop.is_set():
            self._follow_alerts()
            self.stop.wait(POLL_SECONDS)
        status = self.handle.status()
        self._note(f"seeded: sent {human_size(status.total_payload_upload)} to other peers")

    def close(self) -> None:
        """Keep the resume data, then leave the swarm (libtorrent tells the tracker)."""
        self.report.uploaded_bytes = self.handle.status().total_payload_upload
        self._save_resume_data()
        self.session.remove_torrent(self.handle)
        del self.handle
        del self.session

    def _check_what_is_here(self, sums: dict[str, str]) -> bool:
        """What DEST already holds, found offline (the torrent stops once checked); True if it
        is the whole release, verified.

        A copy that resume data calls complete is checked against the SHA-256
        sums, so that a file changed since is repaired rather than served.
        """
        self._wait_until_checked()
        complete = self.handle.status().is_seeding
        if complete:
            differ = files_that_differ(self.dest, sums)
            if differ:
                complete = False
                self._recheck(differ)
        done = self.handle.status().total_wanted_done
        self.report.resumed_bytes = done
        if complete:
            self._note(f"verified: the whole release is already in {self.dest}")
        elif done:
            self._note(f"resuming: {human_size(done)} already in {self.dest}")
        return complete

    def _recheck(self, differ: list[str]) -> None:
        """Hash every piece again, offline, so that libtorrent fetches the bad ones anew."""
        self._note(f"SHA-256 differs for {', '.join(differ)}: checking every piece again")
        self.report.repaired.extend(path for path in differ if path not in self.report.repaired)
        self.handle.pause()
        self.handle.force_recheck()
        self.handle.set_flags(lt.torrent_flags.stop_when_ready)
        self.handle.resume()
        self._wait_until_checked()

    def _wait_until_checked(self) -> None:
        """Until libtorrent has checked the files and, told to stop when ready, paused the torrent."""
        checks = self._checks_done
        progress = Progress("checking", 1, self.progress_stream)
        try:
            while True:
                self._follow_alerts()
                status = self.handle.status()
                if self._checks_done > checks and status.flags & lt.torrent_flags.paused:
                    return
                progress.total = max(status.total_wanted, 1)
                progress.update(int(status.progress * status.total_wanted))
                self._check_stop()
                self.stop.wait(POLL_SECONDS)
        finally:
            progress.close()

    def _download(self) -> None:
        """Until every piece is here (each hashed by libtorrent as it arrived)."""
        progress = Progress("downloading", 1, self.progress_stream)
        try:
            while True:
                self._follow_alerts()
                status = self.handle.status()
                if status.errc.value():
                    raise FanoutError(f"libtorrent: {status.errc.message()}")
                progress.total = max(status.total_wanted, 1)
                if status.is_seeding:
                    progress.update(status.total_wanted_done, label="downloaded")
                    return
                detail = f"{status.num_peers} peers {human_size(status.download_payload_rate)}/s"
                progress.update(status.total_wanted_done, detail)
                self._retry_tracker(status)
                self._save_now_and_then(status)
                self._check_stop()
                self.stop.wait(POLL_SECONDS)
        finally:
            progress.close()
            self.report.downloaded_bytes = self.handle.status().total_payload_download

    def _note(self, text: str) -> None:
        print(text, file=self.progress_stream or sys.stderr, flush=True)

    def _follow_alerts(self) -> None:
        for alert in self.session.pop_alerts():
            self._follow_alert(alert)

    def _follow_alert(self, alert) -> None:
        if isinstance(alert, lt.save_resume_data_alert):
            self._saving = False
            self.resume_path.parent.mkdir(parents=True, exist_ok=True)
            temporary = self.resume_path.with_suffix(".tmp")
            temporary.write_bytes(lt.write_resume_data_buf(alert.params))
            temporary.replace(self.resume_path)
        elif isinstance(alert, lt.save_resume_data_failed_alert):
            self._saving = False
        elif isinstance(alert, lt.torrent_checked_alert):
            self._checks_done += 1
        elif isinstance(alert, (lt.torrent_error_alert, lt.file_error_alert)):
            raise FanoutError(f"libtorrent: {without_passkeys(alert.message())}")
        elif isinstance(alert, lt.tracker_error_alert):
            self._tracker_failure = without_passkeys(alert.message())
        elif isinstance(alert, lt.tracker_reply_alert):
            self._tracker_failure = None
            self._retry_tracker_at = None

    def _retry_tracker(self, status) -> None:
        if self._tracker_failure is None or status.num_peers:
            return
        now = time.monotonic()
        if self._retry_tracker_at is None:
            if self._tracker_retries == TRACKER_RETRIES:
                return
            if self._tracker_retries == 0:
                self._note(
                    f"tracker: {self._tracker_failure}; announcing again every {TRACKER_RETRY_SECONDS:g} s"
                )
            self._retry_tracker_at = now + TRACKER_RETRY_SECONDS
        elif now >= self._retry_tracker_at:
            self._tracker_retries += 1
            self._retry_tracker_at = None
            self._tracker_failure = None
            self.handle.force_reannounce(0, -1, lt.reannounce_flags_t.ignore_min_interval)

    def _save_now_and_then(self, status) -> None:
        if (
            status.need_save_resume
            and not self._saving
            and time.monotonic() - self._last_save >= SAVE_RESUME_SECONDS
        ):
            self._last_save = time.monotonic()
            self._saving = True
            self.handle.save_resume_data(lt.torrent_handle.save_info_dict)

    def _save_resume_data(self, timeout: float = 10.0) -> None:
        """Ask for resume data and wait until it is on disk."""
        self.handle.save_resume_data(lt.torrent_handle.save_info_dict)
        self._saving = True
        deadline = time.monotonic() + timeout
        while self._saving and time.monotonic() < deadline:
            if self.session.wait_for_alert(100) is not None:
                for alert in self.session.pop_alerts():
                    if isinstance(alert, (lt.torrent_error_alert, lt.file_error_alert)):
                        continue  # reported where it mattered; the resume data is what counts now
                    self._follow_alert(alert)

    def _check_stop(self) -> None:
        if self.stop.is_set():
            self._save_resume_data()
            raise Interrupted()
