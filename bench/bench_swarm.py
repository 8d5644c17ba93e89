#!/usr/bin/env python
"""`make bench-swarm`: how much the origin uploads while a swarm of rate-limited clients downloads a release.

Everything runs on loopback in a throw-away data directory:

1. Stock: one plain libtorrent session seeds (default settings, same upload
   cap) through opentracker; N clients download the release.
2. 1,000 small releases on one `runseeder` node: its memory, and the seconds
   from a restart to all of them seeding again.
3. Fanout: our tracker (`runtracker`) and one of our seeders (`runseeder`,
   settings as deployed) serve the same release to N fresh clients.

The last line is Fanout's: ``completed= origin_x= finish_x= http_x=``.
Options: --size-mib, --clients, --client-rate-mib, --origin-rate-mib, --releases (0 skips part 2),
--skip-stock, --policy (overrides FANOUT_SEEDER_POLICY for part 3).
"""

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import libtorrent as lt
from loopback import free_port

ROOT = Path(__file__).resolve().parent.parent
MIB = 1024 * 1024
PIECE_LENGTH = 256 * 1024


def limit_local_peers(session: "lt.session") -> None:
    """Rate limits apply to loopback peers too (libtorrent exempts local peers by default)."""
    addresses = lt.ip_filter()
    addresses.add_rule("0.0.0.0", "255.255.255.255", 1 << lt.session.global_peer_class_id)
    session.set_peer_class_filter(addresses)


def client_session(upload_rate: int) -> "lt.session":
    session = lt.session(
        {
            "listen_interfaces": "127.0.0.1:0",
            "enable_dht": False,
            "enable_lsd": False,
            "enable_upnp": False,
            "enable_natpmp": False,
            "allow_multiple_connections_per_ip": True,
            "upload_rate_limit": upload_rate,
            "alert_mask": 0,
        }
    )
    limit_local_peers(session)
    return session


class Process:
    """A child process whose output is kept; `wait_for` a line matching a pattern."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        self.name = name
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self.popen = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.popen.stdout:
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def wait_for(self, pattern: str, timeout: float = 60.0) -> re.Match:
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for line in self.lines:
                    if match := re.search(pattern, line):
                        return match
                if time.monotonic() > deadline or self.popen.poll() is not None:
                    raise RuntimeError(f"{self.name}: no line matching {pattern!r}:\n" + "".join(self.lines))
                self._changed.wait(0.5)

    def rss_bytes(self) -> int:
        for line in Path(f"/proc/{self.popen.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0

    def stop(self) -> int:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                return self.popen.wait(60)
            except subprocess.TimeoutExpired:
                self.popen.kill()
        return self.popen.wait()


@dataclass
class SwarmResult:
    completed: int
    clients: int
    origin_bytes: int
    seconds: float


def run_clients(
    metainfo: bytes, *, clients: int, rate: int, workdir: Path, expected: bytes, origin_bytes, timeout: float
) -> SwarmResult:
    """Start `clients` sessions on the torrent at once; wait until all finish; check their bytes."""
    info = lt.torrent_info(metainfo)
    sessions, handles = [], []
    for index in range(clients):
        session = client_session(rate)
        params = lt.add_torrent_params()
        params.ti = lt.torrent_info(metainfo)
        params.save_path = str(workdir / f"client-{index}")
        params.flags &= ~(lt.torrent_flags.auto_managed | lt.torrent_flags.paused)
        sessions.append(session)
        handles.append(session.add_torrent(params))
    started = time.monotonic()
    finished: dict[int, float] = {}
    while len(finished) < clients and time.monotonic() - started < timeout:
        for index, handle in enumerate(handles):
            if index not in finished and handle.status(0).is_seeding:
                finished[index] = time.monotonic() - started
        time.sleep(0.1)
    seconds = max(finished.values()) if len(finished) == clients else float("nan")
    origin = origin_bytes()
    completed = 0
    for index in finished:
        if (workdir / f"client-{index}" / info.name()).read_bytes() == expected:
            completed += 1
    del handles
    del sessions
    return SwarmResult(completed=completed, clients=clients, origin_bytes=origin, seconds=seconds)


def figures(result: SwarmResult, *, size: int, clients: int, client_rate: int, origin_rate: int) -> str:
    bound = max(size / origin_rate, clients * size / (clients * client_rate + origin_rate))
    return (
        f"completed={result.completed}/{result.clients} origin_x={result.origin_bytes / size:.2f} "
        f"finish_x={result.seconds / bound:.2f} http_x={clients * size / size:.2f} "
        f"(finish {result.seconds:.1f} s, lower bound {bound:.1f} s, "
        f"origin {result.origin_bytes / MIB:.0f} MiB)"
    )


def make_torrent(content: Path, announce_url: str) -> bytes:
    creator = lt.create_torrent(lt.list_files(str(content)), PIECE_LENGTH, lt.create_torrent.v1_only)
    creator.add_tracker(announce_url)
    lt.set_piece_hashes(creator, str(content.parent))
    return lt.bencode(creator.generate())


def stock_run(content: Path, workdir: Path, args) -> SwarmResult:
    port = free_port()
    metainfo = make_torrent(content, f"http://127.0.0.1:{port}/announce")
    # Debian's opentracker is built in whitelist mode: it tracks only the info-hashes listed. It
    # chroots into -d and drops to user nobody, so the list must be readable there.
    rootdir = Path(tempfile.mkdtemp(prefix="opentracker-"))
    rootdir.chmod(0o755)
    (rootdir / "whitelist").write_text(f"{lt.torrent_info(metainfo).info_hashes().v1}\n")
    (rootdir / "whitelist").chmod(0o644)
    tracker = Process(
        "opentracker",
        [
            "opentracker",
            "-i",
            "127.0.0.1",
            "-p",
            str(port),
            "-P",
            str(port),
            "-d",
            str(rootdir),
            "-w",
            "whitelist",
        ],
        dict(os.environ),
    )
    try:
        time.sleep(0.5)
        seeder = lt.session(
            {
                "listen_interfaces": "127.0.0.1:0",
                "enable_dht": False,
                "enable_lsd": False,
                "enable_upnp": False,
                "enable_natpmp": False,
                "allow_multiple_connections_per_ip": True,
                "upload_rate_limit": args.origin_rate_mib * MIB,
                "alert_mask": 0,
            }
        )
        limit_local_peers(seeder)
        params = lt.add_torrent_params()
        params.ti = lt.torrent_info(metainfo)
        params.save_path = str(content.parent)
        params.flags |= lt.torrent_flags.seed_mode
        handle = seeder.add_torrent(params)
        time.sleep(1.0)
        return run_clients(
            metainfo,
            clients=args.clients,
            rate=args.client_rate_mib * MIB,
            workdir=workdir,
            expected=content.read_bytes(),
            origin_bytes=lambda: handle.status(0).total_payload_upload,
            timeout=args.timeout,
        )
    finally:
        tracker.stop()
        shutil.rmtree(rootdir, ignore_errors=True)


class Fanout:
    """A data directory with a database, our tracker, and release rows created in-process."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.env = dict(os.environ)
        self.env.pop("REDIS_URL", None)
        self.env.update(
            FANOUT_DATA_DIR=str(data_dir),
            DATABASE_URL=f"sqlite:///{data_dir / 'db.sqlite3'}",
            FANOUT_TRACKER_WHITELIST_REFRESH="1",
            DJANGO_SETTINGS_MODULE="config.settings",
        )
        os.environ.update(
            {k: v for k, v in self.env.items() if k.startswith(("FANOUT_", "DATABASE_", "DJANGO_"))}
        )
        os.environ.pop("REDIS_URL", None)
        sys.path.insert(0, str(ROOT))
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", "--no-input", verbosity=0)
        self.tracker = Process(
            "runtracker",
            [
                sys.executable,
                "manage.py",
                "runtracker",
                "--host",
                "127.0.0.1",
                "--http-port",
                "0",
                "--udp-port",
                "0",
            ],
            self.env,
        )
        self.announce_url = self.tracker.wait_for(r"tracker listening on (http://\S+/announce)")[1]

    def publish(self, name: str, content: bytes, *, version: str, piece_length: int = PIECE_LENGTH) -> int:
        from distribution.models import Product, Release, ReleaseFile, Torrent

        product, _ = Product.objects.get_or_create(slug=name, defaults={"name": name})
        release = Release.objects.create(
            product=product,
            version=version,
            torrent_format="v1",
            content_name=f"{name}-{version}.bin",
            is_single_file=True,
            status=Release.Status.PUBLISHED,
        )
        path = release.disk_path(release.content_name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        ReleaseFile.objects.create(release=release, path=release.content_name, size=len(content))
        creator = lt.create_torrent(lt.list_files(str(path)), piece_length, lt.create_torrent.v1_only)
        creator.add_tracker(self.announce_url)
        lt.set_piece_hashes(creator, str(path.parent))
        metainfo = lt.bencode(creator.generate())
        info = lt.torrent_info(metainfo)
        Torrent.objects.create(
            release=release,
            info_hash_v1=str(info.info_hashes().v1),
            piece_length=info.piece_length(),
            piece_count=info.num_pieces(),
            metainfo=metainfo,
            magnet_uri=lt.make_magnet_uri(info),
        )
        return release.pk

    def seeder(self, name: str, **env: str) -> Process:
        process = Process(
            f"runseeder {name}",
            [sys.executable, "manage.py", "runseeder", "--name", name, "--port", str(free_port())],
            # The announce URL also gives the seeder the scrape URL it reads demand from.
            {**self.env, "FANOUT_ANNOUNCE_URL": self.announce_url, **env},
        )
        process.wait_for(r"listening on port")
        return process

    def seeding_count(self, node: str) -> int:
        from django.db import close_old_connections

        from seeder.models import Seeding

        close_old_connections()
        return Seeding.objects.filter(node__name=node, state=Seeding.State.SEEDING).count()

    def uploaded(self, node: str, release_id: int) -> int:
        from django.db import close_old_connections

        from seeder.models import Seeding

        close_old_connections()
        row = Seeding.objects.filter(node__name=node, release_id=release_id).first()
        return row.uploaded_bytes if row else 0

    def close(self) -> None:
        self.tracker.stop()


def wait(condition, timeout: float) -> float:
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise RuntimeError("timed out")
        time.sleep(0.2)
    return time.monotonic() - started


def many_releases(fanout: Fanout, count: int) -> str:
    for index in range(count):
        fanout.publish("many", os.urandom(64 * 1024 + index), version=str(index), piece_length=16 * 1024)
    node = "bench-many"
    started = time.monotonic()
    seeder = fanout.seeder(node)
    try:
        wait(lambda: fanout.seeding_count(node) == count, timeout=600)
        first = time.monotonic() - started
        time.sleep(3)
        rss = seeder.rss_bytes()
    finally:
        seeder.stop()
    started = time.monotonic()
    seeder = fanout.seeder(node)
    try:
        wait(lambda: fanout.seeding_count(node) == count, timeout=600)
        restart = time.monotonic() - started
    finally:
        seeder.stop()
    from distribution.models import Release

    Release.objects.filter(product__slug="many").update(status=Release.Status.RETIRED)
    return (
        f"releases={count} rss_mib={rss / MIB:.0f} first_start_s={first:.1f} "
        f"restart_to_all_seeding_s={restart:.1f}"
    )


def fanout_run(fanout: Fanout, content: Path, workdir: Path, args) -> SwarmResult:
    release_id = fanout.publish("swarm", content.read_bytes(), version="1")
    node = "bench-origin"
    env = {"FANOUT_SEEDER_UPLOAD_LIMIT": str(args.origin_rate_mib * MIB)}
    if args.policy:
        env["FANOUT_SEEDER_POLICY"] = args.policy
    seeder = fanout.seeder(node, **env)
    try:
        wait(lambda: fanout.seeding_count(node) == 1, timeout=120)
        from distribution.models import Torrent

        metainfo = bytes(Torrent.objects.get(release_id=release_id).metainfo)

        def origin_bytes() -> int:
            time.sleep(3)  # one heartbeat after the last client finished
            return fanout.uploaded(node, release_id)

        return run_clients(
            metainfo,
            clients=args.clients,
            rate=args.client_rate_mib * MIB,
            workdir=workdir,
            expected=content.read_bytes(),
            origin_bytes=origin_bytes,
            timeout=args.timeout,
        )
    finally:
        seeder.stop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size-mib", type=int, default=128)
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--client-rate-mib", type=int, default=4)
    parser.add_argument("--origin-rate-mib", type=int, default=8)
    parser.add_argument("--releases", type=int, default=1000)
    parser.add_argument("--timeout", type=float, default=300)
    parser.add_argument("--skip-stock", action="store_true")
    parser.add_argument("--policy", default="")
    args = parser.parse_args()
    # SIGTERM unwinds like Ctrl-C, so that the trackers and seeders started here are stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    for program in ("opentracker",):
        if not args.skip_stock and shutil.which(program) is None:
            sys.exit(f"{program} is not installed (apt-get install {program}), or pass --skip-stock")

    size = args.size_mib * MIB
    shape = dict(
        size=size,
        clients=args.clients,
        client_rate=args.client_rate_mib * MIB,
        origin_rate=args.origin_rate_mib * MIB,
    )
    with tempfile.TemporaryDirectory(prefix="fanout-bench-") as tmp:
        tmp = Path(tmp)
        content = tmp / "origin" / "release.bin"
        content.parent.mkdir()
        content.write_bytes(os.urandom(size))
        print(
            f"swarm: {args.size_mib} MiB release, {args.clients} clients at {args.client_rate_mib} MiB/s up, "
            f"origin capped at {args.origin_rate_mib} MiB/s, on loopback",
            flush=True,
        )
        if not args.skip_stock:
            stock = stock_run(content, tmp / "stock", args)
            print(f"stock libtorrent seeder + opentracker: {figures(stock, **shape)}", flush=True)
        fanout = Fanout(tmp / "fanout")
        try:
            if args.releases:
                print(f"one node seeding many releases: {many_releases(fanout, args.releases)}", flush=True)
            ours = fanout_run(fanout, content, tmp / "fanout-clients", args)
        finally:
            fanout.close()
        print(f"fanout seeder + tracker: {figures(ours, **shape)}", flush=True)
        print(figures(ours, **shape).split(" (")[0])


if __name__ == "__main__":
    main()
