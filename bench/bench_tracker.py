"""`make bench-tracker`: server CPU per announce of our tracker against opentracker and Python's floor.

Under the same loads (wrk with /work/shared/bench/announce.lua for HTTP,
/work/shared/bench/udp_announce.py for UDP) it measures, for each server, the
user+system CPU of every one of its processes (read from /proc; the Redis
server counts for the Redis store) divided by the announces answered:

    opentracker      Debian's, whitelisting the same info-hashes (absolute path)
    floor            /work/shared/bench/floor_server.py: fixed answers, no tracker work
    memory           manage.py runtracker, swarms in its memory
    redis            manage.py runtracker --workers 2, swarms in a Redis of the bench's own

Our tracker reads its whitelist from a SQLite database in a temporary
FANOUT_DATA_DIR, filled with one published release per info-hash of the load.
Then every release is made private and both stores are measured again under
the HTTP load announcing with a user's passkey (``/announce/<passkey>``): the
cost of admitting a peer to a private swarm and recording which key did
(the seeders' allow list). It then measures the memory of 1,000,000 peers in
100,000 swarms in each store, and derives how many peers one core serves at
the default interval. The last line is the machine-readable summary.

    python bench/bench_tracker.py [--seconds 8] [--repeat 3] [--torrents 1000] [--connections 50]
                                  [--skip-redis-memory]
"""

import argparse
import gc
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

# Run as `python bench/bench_tracker.py`: the project's packages import from its root.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.loopback import free_port
from harness.processes import MANAGE, ROOT, RunningProcess, prepare_instance, rss_bytes

SHARED = Path("/work/shared/bench")
ANNOUNCE_LUA = SHARED / "announce.lua"
UDP_LOAD = SHARED / "udp_announce.py"
FLOOR = SHARED / "floor_server.py"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
DEFAULT_INTERVAL = 1800


def info_hash(i: int) -> bytes:
    """Torrent i (1..N) of announce.lua and udp_announce.py."""
    return bytes((i * 131 + k * 977 + i * k * 7) % 256 for k in range(1, 21))


def load_hashes(torrents: int) -> list[bytes]:
    """The distinct info-hashes of the loads' torrents 1..N (the formula repeats every 256)."""
    return list(dict.fromkeys(info_hash(i) for i in range(1, torrents + 1)))


def seed_database(torrents: int) -> None:
    """One published release per info-hash of the load, in the database of the environment."""
    import django

    django.setup()
    from distribution.models import Product, Release, Torrent

    product = Product.objects.create(name="Bench", slug="bench")
    hashes = load_hashes(torrents)
    Release.objects.bulk_create(
        Release(
            product=product,
            version=str(i),
            torrent_format="v1",
            content_name="x.bin",
            is_single_file=True,
            status=Release.Status.PUBLISHED,
        )
        for i in range(len(hashes))
    )
    releases = Release.objects.filter(product=product).order_by("id")
    Torrent.objects.bulk_create(
        Torrent(
            release=r, info_hash_v1=h.hex(), piece_length=1 << 14, piece_count=1, metainfo=b"", magnet_uri=""
        )
        for r, h in zip(releases, hashes, strict=True)
    )


def make_private() -> None:
    """Make every release private and print the passkey of a user they open to (any signed-in user)."""
    import django

    django.setup()
    from django.contrib.auth import get_user_model

    from distribution.models import Passkey, Release

    Release.objects.update(visibility=Release.Visibility.PRIVATE)
    user = get_user_model().objects.create_user("bench")
    print(Passkey.for_user(user).key)


def process_tree(root: int) -> list[int]:
    """``root`` and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parent = int(stat.rpartition(")")[2].split()[1])
            children.setdefault(parent, []).append(int(entry))
    tree, pending = [], [root]
    while pending:
        pid = pending.pop()
        tree.append(pid)
        pending.extend(children.get(pid, []))
    return tree


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of these processes (their own, not waited-for children's)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLOCK_TICKS


@dataclass
class Server:
    name: str
    process: RunningProcess
    port: int
    extra_pids: tuple[int, ...] = ()
    # CPU seconds of the extra processes (Redis) during the last load.
    extra_cpu: float = 0.0

    def pids(self) -> list[int]:
        return process_tree(self.process.process.pid) + list(self.extra_pids)

    def stop(self) -> None:
        self.process.stop(timeout=20)


def redis_command(port: int) -> list[str]:
    """A Redis of the bench's own on ``port``, keeping nothing on disk."""
    return ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]


def measure(server: Server, load: list[str], answered_pattern: str, answered_of) -> tuple[float, int, str]:
    """Run ``load`` against ``server``; (CPU µs per answered announce, answered, load's output)."""
    pids = server.pids()
    before, before_extra = cpu_seconds(pids), cpu_seconds(list(server.extra_pids))
    output = subprocess.run(load, capture_output=True, text=True, check=True).stdout
    after, after_extra = cpu_seconds(server.pids()), cpu_seconds(list(server.extra_pids))
    server.extra_cpu = after_extra - before_extra
    match = re.search(answered_pattern, output)
    if not match:
        raise RuntimeError(f"cannot read the load's output:\n{output}")
    answered = answered_of(match, output)
    if answered <= 0:
        raise RuntimeError(f"{server.name}: no announce answered:\n{output}")
    return (after - before) * 1e6 / answered, answered, output


def wrk_answered(match: re.Match, output: str) -> int:
    total = int(match[1])
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    # A "read" error is a server closing the connection after its answer (opentracker does,
    # with Connection: close; the bytes read show the answers arrived): not a lost announce.
    lost = int(errors[1]) + int(errors[3]) + int(errors[4]) if errors else 0
    return total - (int(bad[1]) if bad else 0) - lost


def http_load(port: int, seconds: float, connections: int, torrents: int, path: str) -> list[str]:
    return [
        "env",
        f"ANNOUNCE_PATH={path}",
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{int(seconds)}s",
        "-s",
        str(ANNOUNCE_LUA),
        f"http://127.0.0.1:{port}/announce",
    ]


def udp_load(port: int, seconds: float, torrents: int) -> list[str]:
    return [
        sys.executable,
        str(UDP_LOAD),
        "127.0.0.1",
        str(port),
        "--seconds",
        str(seconds),
        "--torrents",
        str(torrents),
    ]


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.tmp = Path(tempfile.mkdtemp(prefix="fanout-bench-tracker-"))
        self.env = prepare_instance(self.tmp / "data", LOG_LEVEL="WARNING")
        self.servers: list[Server] = []
        # Where the loads announce: /announce, then /announce/<passkey> once the releases are private.
        self.announce_path = "/announce"

    def close(self) -> None:
        for server in reversed(self.servers):
            server.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def prepare(self) -> None:
        subprocess.run([*MANAGE, "migrate", "--no-input", "-v", "0"], env=self.env, cwd=ROOT, check=True)
        subprocess.run(
            [sys.executable, __file__, "--seed-database", "--torrents", str(self.args.torrents)],
            env=self.env,
            cwd=ROOT,
            check=True,
        )
        self.whitelist = self.tmp / "whitelist"
        self.whitelist.write_text(
            "".join(info_hash(i).hex() + "\n" for i in range(1, self.args.torrents + 1))
        )

    def start(
        self, name: str, command: list[str], port: int, env: dict | None = None, extra_pids=()
    ) -> Server:
        """Start a server and wait until it listens on ``port``."""
        server = Server(name, RunningProcess(name, command, env or self.env), port, tuple(extra_pids))
        self.servers.append(server)
        server.process.wait_for_port(port)
        return server

    def opentracker(self) -> Server:
        port = free_port()
        return self.start(
            "opentracker",
            [
                "opentracker",
                "-i",
                "127.0.0.1",
                "-p",
                str(port),
                "-P",
                str(port),
                "-w",
                str(self.whitelist.resolve()),
            ],
            port,
        )

    def floor(self) -> Server:
        port = free_port()
        return self.start("floor", [sys.executable, str(FLOOR), str(port)], port)

    def make_private(self) -> str:
        """Make the load's releases private; the path announces take from now on."""
        made = subprocess.run(
            [sys.executable, __file__, "--make-private"],
            env=self.env,
            cwd=ROOT,
            check=True,
            capture_output=True,
            text=True,
        )
        self.announce_path = f"/announce/{made.stdout.strip()}"
        return self.announce_path

    def ours(
        self, name: str, *, workers: int = 1, redis_url: str | None = None, redis_pid: int = 0
    ) -> Server:
        port = free_port()
        env = dict(self.env)
        if redis_url:
            env["REDIS_URL"] = redis_url
        command = [*MANAGE, "runtracker", "--host", "127.0.0.1"]
        command += ["--workers", str(workers), "--http-port", str(port), "--udp-port", str(port)]
        server = self.start(name, command, port, env, extra_pids=(redis_pid,) if redis_pid else ())
        time.sleep(1.0 if workers > 1 else 0.3)  # every worker listening
        self.check_announce(port)
        return server

    def redis(self) -> tuple[RunningProcess, str]:
        port = free_port()
        server = self.start("redis-server", redis_command(port), port)
        return server.process, f"redis://127.0.0.1:{port}/0"

    def check_announce(self, port: int) -> None:
        """One announce must be a real answer, not a failure (the whitelist matches the load)."""
        import urllib.parse
        import urllib.request

        query = urllib.parse.urlencode(
            {"info_hash": info_hash(1), "peer_id": b"-BE0001-000000000001", "port": 1, "left": 0}
        )
        url = f"http://127.0.0.1:{port}{self.announce_path}?{query}"
        with urllib.request.urlopen(url, timeout=5) as response:
            body = response.read()
        if b"failure reason" in body:
            raise RuntimeError(f"our tracker refuses the load's torrents: {body!r}")

    def run(self, server: Server, kinds: tuple[str, ...] = ("http", "udp")) -> dict[str, float]:
        """Measure ``server`` under the loads of ``kinds``; the UDP load sends no passkey (no URL data)."""
        a = self.args
        figures: dict[str, float] = {}
        loads = (
            (
                "http",
                http_load(server.port, a.seconds, a.connections, a.torrents, self.announce_path),
                r"(\d+) requests in",
                wrk_answered,
            ),
            (
                "udp",
                udp_load(server.port, a.seconds, a.torrents),
                r"udp_announces=(\d+)",
                lambda match, output: int(match[1]),
            ),
        )
        for kind, load, answered_pattern, answered_of in loads:
            if kind not in kinds:
                continue
            # The machine may be shared: of --repeat runs, the cheapest is the server's own cost.
            for _ in range(a.repeat):
                us, answered, _ = measure(server, load, answered_pattern, answered_of)
                if us < figures.get(f"{kind}_us", float("inf")):
                    figures[f"{kind}_us"], figures[f"{kind}_n"] = us, answered
                    figures[f"{kind}_extra_us"] = server.extra_cpu * 1e6 / answered
        line = f"{server.name:12}"
        for kind in kinds:
            rate = figures[f"{kind}_n"] / a.seconds
            line += f" {kind} {figures[f'{kind}_us']:7.1f} µs/announce ({rate:8.0f}/s)"
            if server.extra_pids:
                line += f", {figures[f'{kind}_extra_us']:.1f} of it in redis-server"
        print(line, flush=True)
        server.stop()
        return figures


def memory_store_mb(peers: int, swarms: int) -> float:
    """RSS growth of this process for ``peers`` peers in ``swarms`` swarms of a MemorySwarmStore."""
    from tracker.protocol import Event, Peer
    from tracker.swarm_store import MemorySwarmStore, SwarmAnnounce

    gc.collect()
    before = rss_bytes()
    store = MemorySwarmStore(peer_ttl=3600)
    announce = store.announce
    for n in range(peers):
        peer = Peer(b"-BE0001-%012d" % n, n.to_bytes(4, "big") + b"\x1a\xe1")
        announce(SwarmAnnounce(n % swarms, peer, Event.STARTED, n & 1, 0, 0.0))
    gc.collect()
    grown = (rss_bytes() - before) / 2**20
    del store
    return grown


def redis_store_mb(peers: int, swarms: int) -> float:
    """used_memory growth of a fresh Redis with ``peers`` peers in ``swarms`` swarms of a RedisSwarmStore."""
    import redis

    from tracker.protocol import Event, Peer
    from tracker.swarm_store import RedisSwarmStore, SwarmAnnounce

    port = free_port()
    process = RunningProcess("redis-server", redis_command(port), dict(os.environ))
    try:
        process.wait_for_port(port)
        client = redis.Redis(port=port)
        before = client.info("memory")["used_memory"]
        store = RedisSwarmStore(client, peer_ttl=3600, prefix="bench:")
        batch = 1000
        for start in range(0, peers, batch):
            now = time.time()
            announces = []
            for n in range(start, min(start + batch, peers)):
                peer = Peer(b"-BE0001-%012d" % n, n.to_bytes(4, "big") + b"\x1a\xe1")
                announces.append(SwarmAnnounce(n % swarms, peer, Event.STARTED, n & 1, 0, now))
            store.announce_compact_many(announces)
        return (client.info("memory")["used_memory"] - before) / 2**20
    finally:
        process.stop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--torrents", type=int, default=1000)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each load; the cheapest counts")
    parser.add_argument("--skip-redis-memory", action="store_true")
    parser.add_argument("--seed-database", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--make-private", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.seed_database:
        seed_database(args.torrents)
        return
    if args.make_private:
        make_private()
        return
    for tool in ("wrk", "opentracker", "redis-server"):
        if not shutil.which(tool):
            sys.exit(f"bench-tracker needs {tool} on PATH")

    bench = Bench(args)
    try:
        bench.prepare()
        opentracker = bench.run(bench.opentracker())
        floor = bench.run(bench.floor())
        memory = bench.run(bench.ours("memory"))
        redis_process, redis_url = bench.redis()
        redis_pid = redis_process.process.pid
        redis = bench.run(bench.ours("redis x2", workers=2, redis_url=redis_url, redis_pid=redis_pid))
        bench.make_private()
        memory_private = bench.run(bench.ours("memory priv"), kinds=("http",))
        # A Redis of its own, without the public runs' peers.
        redis_process, redis_url = bench.redis()
        redis_pid = redis_process.process.pid
        redis_private = bench.run(
            bench.ours("redis x2 priv", workers=2, redis_url=redis_url, redis_pid=redis_pid), kinds=("http",)
        )
    finally:
        bench.close()

    mem_mb = memory_store_mb(1_000_000, 100_000)
    redis_mb = None if args.skip_redis_memory else redis_store_mb(1_000_000, 100_000)

    memory_x = memory["http_us"] / opentracker["http_us"]
    redis_x = redis["http_us"] / opentracker["http_us"]
    print()
    print(f"memory store: {memory_x:.2f}x opentracker's CPU per HTTP announce (goal <= 1.5)")
    print(f"redis store (2 workers, Redis included): {redis_x:.2f}x (goal <= 2.5)")
    udp_x = memory["udp_us"] / opentracker["udp_us"]
    redis_udp_x = redis["udp_us"] / opentracker["udp_us"]
    print(f"UDP: memory store {udp_x:.2f}x, redis store {redis_udp_x:.2f}x opentracker's CPU per announce")
    print(f"1,000,000 peers in 100,000 swarms: memory store {mem_mb:.0f} MB (tracker RSS)", end="")
    print(f", Redis store {redis_mb:.0f} MB (Redis used_memory)" if redis_mb is not None else "")
    for name, figures in (("memory", memory), ("redis", redis)):
        per_core = 1e6 / figures["http_us"] * DEFAULT_INTERVAL
        print(
            f"one core at the default {DEFAULT_INTERVAL} s interval, {name} store, HTTP: "
            f"{1e6 / figures['http_us']:.0f} announces/s = {per_core / 1e6:.1f} M peers"
        )
    print(
        f"one core, memory store, UDP: {1e6 / memory['udp_us']:.0f} announces/s = "
        f"{1e6 / memory['udp_us'] * DEFAULT_INTERVAL / 1e6:.1f} M peers"
    )
    print(
        f"private swarms, announced with a passkey (HTTP): memory store {memory_private['http_us']:.1f} µs "
        f"({memory_private['http_us'] / memory['http_us']:.2f}x its public announce), Redis store "
        f"{redis_private['http_us']:.1f} µs ({redis_private['http_us'] / redis['http_us']:.2f}x)"
    )
    print(
        f"memory_us={memory['http_us']:.1f} redis_us={redis['http_us']:.1f} "
        f"opentracker_us={opentracker['http_us']:.1f} floor_us={floor['http_us']:.1f} "
        f"memory_x={memory_x:.2f} redis_x={redis_x:.2f} udp_us={memory['udp_us']:.1f} "
        f"opentracker_udp_us={opentracker['udp_us']:.1f} floor_udp_us={floor['udp_us']:.1f} "
        f"mem_mb_1m_peers={mem_mb:.0f} redis_udp_us={redis['udp_us']:.1f} udp_x={udp_x:.2f} "
        f"redis_udp_x={redis_udp_x:.2f} memory_private_us={memory_private['http_us']:.1f} "
        f"redis_private_us={redis_private['http_us']:.1f}"
    )


if __name__ == "__main__":
    main()
