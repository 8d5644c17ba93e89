#!/usr/bin/env python
"""`make bench-swarm`: how much the origin uploads while a swarm of rate-limited clients downloads a release.

Everything runs on loopback in a throw-away data directory:

1. Stock: one plain libtorrent session seeds (default settings, same upload
   cap) through opentracker; N clients download the release.
2. 1,000 small releases on one `runseeder` node: its memory, and the seconds
   from a restart to all of them seeding again.
3. Fanout: our tracker (`runtracker`) and one of our seeders (`runseeder`,
   settings as deployed) serve the same release to N fresh clients, the web
   seed taken out of the torrent.
4. The same with the torrent as shipped: its web seed (BEP 19 ``url-list``,
   the release's ``seed/`` route) served by the web process as `make run` runs
   it (gunicorn), or with ``--web-front nginx`` by deploy/nginx.conf in front
   of it as docker-compose runs it. The origin's bytes are its seeder's and
   its web seed's.
5. How the origin's share grows with the number of downloaders: a smaller
   release (--scaling-size-mib) fetched by 10, 20 and 40 clients
   (--scaling-clients), stock (as in 1) and ours (as in 3) in turn for each.

The last line is Fanout's: ``completed= origin_x= finish_x= http_x= webseed_origin_x=``
(parts 3 and 4; 4 has its own line above it with all its figures), then part 5's
``origin_x_N=`` (ours) for each N and ``stock_origin_x_N=`` for each N.
Options: --size-mib, --clients, --client-rate-mib, --origin-rate-mib, --releases (0 skips part 2),
--skip-stock, --policy (overrides FANOUT_SEEDER_POLICY for parts 3, 4 and 5), --web-front,
--scaling-clients (comma-separated; empty skips part 5), --scaling-size-mib.
"""

import argparse
import os
import re
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
from harness.web_front import start_nginx
from scripts import run_all

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


def stock_run(content: Path, workdir: Path, args, *, clients: int = 0) -> SwarmResult:
    """A plain libtorrent seeder and opentracker serve the release to ``clients`` (--clients)."""
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
            clients=clients or args.clients,
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
        # The address torrents name for the web seed: the web process, or the web server in front.
        self.web_port = free_port()
        self.env = prepare_instance(
            data_dir,
            FANOUT_TRACKER_WHITELIST_REFRESH="1",
            FANOUT_PUBLIC_URL=f"http://127.0.0.1:{self.web_port}",
        )
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

    def publish(
        self,
        name: str,
        content: bytes,
        *,
        version: str,
        piece_length: int = PIECE_LENGTH,
        web_seed: bool = False,
    ) -> int:
        """A published release; with ``web_seed`` its torrent names the web seed, as the worker's do."""
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
        if web_seed:
            creator = lt.create_torrent(lt.list_files(str(path)), piece_length, lt.create_torrent.v1_only)
            creator.add_tracker(self.announce_url)
            creator.add_url_seed(release.web_seed_url)
            lt.set_piece_hashes(creator, str(path.parent))
            metainfo = lt.bencode(creator.generate())
        else:
            metainfo = make_torrent(path, piece_length=piece_length, announce_url=self.announce_url)
        attach_torrent(release, metainfo)
        return release.pk

    def web(self, front: str) -> list[RunningProcess]:
        """The web process as `make run` starts it; with ``front`` "nginx", behind deploy/nginx.conf."""
        env = dict(self.env)
        django_port = self.web_port
        if front == "nginx":
            django_port = free_port()
            env["FANOUT_X_ACCEL_REDIRECT"] = "/protected/"
        # `make run`'s command line, on this port.
        command = run_all.commands()["web"]
        command[command.index("--bind") + 1] = f"127.0.0.1:{django_port}"
        web = RunningProcess("web", command, env)
        try:
            web.wait_for_port(django_port)
            if front != "nginx":
                return [web]
            nginx = start_nginx(
                listen_port=self.web_port,
                upstream=f"127.0.0.1:{django_port}",
                data_dir=self.data_dir,
                workdir=self.data_dir / "nginx",
            )
        except BaseException:
            web.stop(timeout=STOP_TIMEOUT)
            raise
        return [nginx, web]

    def web_seed_bytes(self, release_id: int, front: str) -> int:
        """What the web seed sent of the release: Django counts it; nginx, in its access log."""
        if front == "nginx":
            log = (self.data_dir / "nginx" / "access.log").read_text()
            route = f"/releases/{release_id}/seed/"
            return sum(
                int(sent)
                for path, sent in re.findall(r'"GET (\S+) HTTP/[\d.]+" \d{3} (\d+)', log)
                if path.startswith(route)
            )
        return self.http_bytes(release_id)

    def http_bytes(self, release_id: int) -> int:
        """The web seed and direct downloads in the release's statistics (``http_bytes``)."""
        from django.db import close_old_connections
        from django.db.models import Sum

        from distribution.models import ReleaseDayStats

        close_old_connections()
        total = ReleaseDayStats.objects.filter(release_id=release_id).aggregate(sent=Sum("http_bytes"))
        return total["sent"] or 0

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


def fanout_run(
    fanout: Fanout, content: Path, workdir: Path, args, *, web_front: str = "", clients: int = 0
) -> SwarmResult:
    """Our tracker and a seeder serve a fresh release to ``clients`` (--clients); with ``web_front``,
    the torrent names the web seed too, served by that front ("django" or "nginx")."""
    run_name = "-".join(filter(None, [web_front or "peers", str(clients) if clients else ""]))
    release_id = fanout.publish("swarm", content.read_bytes(), version=run_name, web_seed=bool(web_front))
    node = f"bench-origin-{run_name}"
    env = {"FANOUT_SEEDER_UPLOAD_LIMIT": str(args.origin_rate_mib * MIB)}
    if args.policy:
        env["FANOUT_SEEDER_POLICY"] = args.policy
    seeder = fanout.seeder(node, **env)
    try:
        wait_until(lambda: fanout.seeding_count(node) == 1, timeout=120, what="the release seeding")
        from distribution.models import Release, Torrent

        metainfo = bytes(Torrent.objects.get(release_id=release_id).metainfo)

        def origin_bytes() -> int:
            time.sleep(3)  # one heartbeat after the last client finished
            uploaded = fanout.uploaded(node, release_id)
            if not web_front:
                return uploaded
            web_seed = fanout.web_seed_bytes(release_id, web_front)
            print(
                f"  origin: seeder {uploaded / MIB:.0f} MiB, web seed {web_seed / MIB:.1f} MiB "
                f"(the statistics' http_bytes: {fanout.http_bytes(release_id) / MIB:.1f} MiB)",
                flush=True,
            )
            return uploaded + web_seed

        result = run_clients(
            metainfo,
            clients=clients or args.clients,
            rate=args.client_rate_mib * MIB,
            workdir=workdir,
            expected=content.read_bytes(),
            origin_bytes=origin_bytes,
            timeout=args.timeout,
        )
        # The next run's seeder seeds its own release alone.
        Release.objects.filter(pk=release_id).update(status=Release.Status.RETIRED)
        return result
    finally:
        seeder.stop(timeout=STOP_TIMEOUT)


def web_seed_run(fanout: Fanout, content: Path, workdir: Path, args) -> SwarmResult:
    servers = fanout.web(args.web_front)
    try:
        return fanout_run(fanout, content, workdir, args, web_front=args.web_front)
    finally:
        for server in servers:
            server.stop(timeout=STOP_TIMEOUT)


def load() -> str:
    return f"; load average {os.getloadavg()[0]:.2f}"


def scaling_runs(fanout: Fanout, tmp: Path, args, clients_counts: list[int]) -> list[str]:
    """Part 5: for each number of clients, stock then ours on a release of --scaling-size-mib; the
    ``origin_x_N=`` then ``stock_origin_x_N=`` figures (nan where a client did not finish)."""
    if not clients_counts:
        return []
    size = args.scaling_size_mib * MIB
    content = tmp / "origin-scaling" / "release.bin"
    content.parent.mkdir()
    content.write_bytes(os.urandom(size))
    print(f"origin against downloaders: a {args.scaling_size_mib} MiB release", flush=True)
    keys: dict[str, list[str]] = {"ours": [], "stock": []}
    for clients in clients_counts:
        shape = dict(
            size=size,
            clients=clients,
            client_rate=args.client_rate_mib * MIB,
            origin_rate=args.origin_rate_mib * MIB,
        )
        workdirs = {name: tmp / f"scaling-{name}-{clients}" for name in keys}
        runs = {}
        if not args.skip_stock:
            runs["stock"] = stock_run(content, workdirs["stock"], args, clients=clients)
            print(f"{clients} clients, stock: {figures(runs['stock'], **shape)}{load()}", flush=True)
        runs["ours"] = fanout_run(fanout, content, workdirs["ours"], args, clients=clients)
        print(f"{clients} clients, ours: {figures(runs['ours'], **shape)}{load()}", flush=True)
        for name, result in runs.items():
            origin_x = result.origin_bytes / size if result.completed == clients else float("nan")
            prefix = "stock_" if name == "stock" else ""
            keys[name].append(f"{prefix}origin_x_{clients}={origin_x:.2f}")
            shutil.rmtree(workdirs[name], ignore_errors=True)
    return keys["ours"] + keys["stock"]


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
    parser.add_argument("--web-front", choices=("django", "nginx"), default="django")
    parser.add_argument("--scaling-clients", default="10,20,40")
    parser.add_argument("--scaling-size-mib", type=int, default=32)
    args = parser.parse_args()
    scaling_clients = [int(count) for count in args.scaling_clients.split(",") if count]
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
            print(f"stock libtorrent seeder + opentracker: {figures(stock, **shape)}{load()}", flush=True)
        fanout = Fanout(tmp / "fanout")
        try:
            if args.releases:
                print(
                    f"one node seeding many releases: {many_releases(fanout, args.releases)}{load()}",
                    flush=True,
                )
            ours = fanout_run(fanout, content, tmp / "fanout-clients", args)
            print(f"fanout seeder + tracker: {figures(ours, **shape)}{load()}", flush=True)
            with_web_seed = web_seed_run(fanout, content, tmp / "web-seed-clients", args)
            print(
                f"fanout seeder + tracker + web seed ({args.web_front}): "
                f"{figures(with_web_seed, **shape)}{load()}",
                flush=True,
            )
            scaling = scaling_runs(fanout, tmp, args, scaling_clients)
        finally:
            fanout.close()
        webseed_origin_x = (
            with_web_seed.origin_bytes / size
            if with_web_seed.completed == with_web_seed.clients
            else float("nan")
        )
        print(
            " ".join(
                [figures(ours, **shape).split(" (")[0], f"webseed_origin_x={webseed_origin_x:.2f}", *scaling]
            )
        )


if __name__ == "__main__":
    main()
