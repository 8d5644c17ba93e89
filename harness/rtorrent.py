"""rtorrent (libtorrent-rakshasa, another BitTorrent implementation than ours) as a peer on loopback."""

import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from harness.loopback import free_port

RTORRENT = shutil.which("rtorrent")


class RtorrentProcess:
    """A running rtorrent whose output goes to a file, so that nothing ever waits on a full pipe."""

    def __init__(self, argv: list[str], log: Path) -> None:
        self.log = log
        with log.open("wb") as output:
            self.process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def assert_running(self) -> None:
        if self.process.poll() is not None:
            raise AssertionError(
                f"rtorrent exited with {self.process.returncode}: " + self.log.read_text(errors="replace")
            )

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)


@contextmanager
def rtorrent_downloading(torrent_file: Path, workdir: Path) -> Iterator[RtorrentProcess]:
    """rtorrent, started on ``torrent_file`` with its downloads in ``workdir / "downloads"``.

    Peers come from the .torrent's HTTP trackers only: no DHT, PEX or UDP trackers.
    """
    downloads, session = workdir / "downloads", workdir / "session"
    downloads.mkdir(parents=True)
    session.mkdir()
    port = free_port()
    config = workdir / "rtorrent.rc"
    config.write_text(
        "\n".join(
            [
                f"directory.default.set = {downloads}",
                f"session.path.set = {session}",
                f"network.port_range.set = {port}-{port}",
                "network.port_random.set = no",
                "dht.mode.set = disable",
                "protocol.pex.set = no",
                "trackers.use_udp.set = no",
                "protocol.encryption.set = allow_incoming,try_outgoing,enable_retry",
                "system.daemon.set = true",
                f'schedule2 = load_release, 1, 0, "load.start={torrent_file}"',
                "",
            ]
        )
    )
    rtorrent = RtorrentProcess([RTORRENT, "-n", "-o", f"import={config}"], workdir / "rtorrent.log")
    try:
        yield rtorrent
    finally:
        rtorrent.stop()
