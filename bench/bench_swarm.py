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
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import libtorrent as lt

# Run as `python bench/bench_swarm.py`: the project's packages import from its root.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.libtorrent_peers import add_torrent, client_session, make_torrent
from harness.loopback import free_port
from harness.polling import wait_until
from harness.processes import MANAGE, RunningProcess, prepare_instance, rss_bytes

MIB = 1024 * 1024
PIECE_LENGTH = 256 * 1024
# Seconds our tracker and seeders get to stop (a seeder saves the resume data of every torrent).
STOP_TIMEOUT = 60


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
        session = client_session(upload_rate=rate)
        sessions.append(session)
        handles.append(add_torrent(session, metainfo, workdir / f"client-{index}"))
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


def stock_run(content: Path, workdir: Path, args) -> SwarmResult:
    port = free_port()
    metainfo = make_torrent(
        content, piece_length=PIECE_LENGTH, announce_url=f"http://127.0.0.1:{port}/announce"
    )
    # Debian's opentracker is built in whitelist mode: it tracks only the info-hashes listed. It
    # chroots into -d and drops to user nobody, so the list must be readable there.
    rootdir = Path(tempfile.mkdtemp(prefix="opentracker-"))
    rootdir.chmod(0o755)
    (rootdir / "whitelist").write_text(f"{lt.torrent_info(metainfo).info_hashes().v1}\n")
    (rootdir / "whitelist").chmod(0o644)
    tracker = RunningProcess(
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
        tracker.wait_for_port(port)
        seeder = client_session(upload_rate=args.origin_rate_mib * MIB)
        handle = add_torrent(seeder, metainfo, content.parent, seed=True)
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
        self.env = prepare_instance(data_dir, FANOUT_TRACKER_WHITELIST_REFRESH="1")
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", "--no-input", verbosity=0)
        self.tracker = RunningProcess(
            "runtracker",
            [
                *MANAGE,
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
        from distribution.models import Product, Release, ReleaseFile
        from harness.releases import attach_torrent

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
        attach_torrent(release, make_torrent(path, piece_length=piece_length, announce_url=self.announce_url))
        return release.pk

    def seeder(self, name: str, **env: str) -> RunningProcess:
        process = RunningProcess(
            f"runseeder {name}",
            [*MANAGE, "runseeder", "--name", name, "--port", str(free_port())],
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
        self.tracker.stop(timeout=STOP_TIMEOUT)


def many_releases(fanout: Fanout, count: int) -> str:
    for index in range(count):
        fanout.publish("many", os.urandom(64 * 1024 + index), version=str(index), piece_length=16 * 1024)
    node = "bench-many"
    started = time.monotonic()
    seeder = fanout.seeder(node)
    try:
        wait_until(lambda: fanout.seeding_count(node) == count, timeout=600, what=f"{count} releases seeding")
        first = time.monotonic() - started
        time.sleep(3)
        rss = rss_bytes(seeder.process.pid)
    finally:
        seeder.stop(timeout=STOP_TIMEOUT)
    started = time.monotonic()
    seeder = fanout.seeder(node)
    try:
        wait_until(lambda: fanout.seeding_count(node) == count, timeout=600, what=f"{count} releases seeding")
        restart = time.monotonic() - started
    finally:
        seeder.stop(timeout=STOP_TIMEOUT)
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
        wait_until(lambda: fanout.seeding_count(node) == 1, timeout=120, what="the release seeding")
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
        seeder.stop(timeout=STOP_TIMEOUT)


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
