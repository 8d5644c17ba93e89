#!/usr/bin/env python
"""`make bench-ingest`: torrent builds beside their peers, and a 2 GiB tus upload to "published".

In one run, on one 2 GiB file of random bytes in the page cache (each build
twice, alternating with its peer; the better time of each counts):

    v1 build        bittorrent.torrents.build_torrent, v1      vs  mktorrent -t 2 (same piece size)
    hybrid build    bittorrent.torrents.build_torrent, hybrid  vs  libtorrent's set_piece_hashes
    ingest          the file sent with tus over loopback to gunicorn (one worker process), in
                    64 MiB PATCH requests as the page sends it, a Celery worker beside it; the
                    time from the last byte sent to the release page's progress saying
                    "published", and the web worker's peak RSS above idle while receiving
    client ingest   the same file sent by `fanout publish` (client/, tus, 64 MiB PATCH requests)
                    with a publisher's API token to the same processes, as a second release: the
                    time from the client's progress line reaching 100% (printed as it hands
                    the last block to the connection) to the API's catalogue listing the release
                    (published releases only)

The last line is ``v1_build_s= mktorrent_v1_s= hybrid_build_s= libtorrent_hybrid_s=
last_byte_to_published_s= upload_peak_mb= client_last_byte_to_published_s=``.

    python bench/bench_ingest.py [--size-mib 2048]
"""

import argparse
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from base64 import b64encode
from pathlib import Path

import requests

# Run as `python bench/bench_ingest.py`: the project's packages import from its root.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.loopback import free_port
from harness.make_run import FANOUT, api_token, fanout_env
from harness.processes import CELERY, MANAGE, ROOT, RunningProcess, prepare_instance, rss_bytes

CHUNK = 64 * 1024 * 1024
SEND_BLOCK = 1024 * 1024
CSRF = "b" * 32
ROUNDS = 2


def make_file(path: Path, size: int) -> None:
    block = os.urandom(64 * 1024 * 1024)
    with path.open("wb") as out:
        written = 0
        while written < size:
            # Each block differs from the last, so no two pieces hash alike.
            part = block[: min(len(block), size - written)]
            out.write(os.urandom(16) + part[16:])
            written += len(part)


def warm(path: Path) -> None:
    with path.open("rb") as stream:
        while stream.read(16 * 1024 * 1024):
            pass


def timed(function) -> tuple[float, object]:
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def our_build(content: Path, name: str, size: int, torrent_format: str) -> float:
    from bittorrent import torrents

    seconds, _built = timed(
        lambda: torrents.build_torrent(
            content_dir=content,
            content_name=name,
            is_single_file=True,
            files=[torrents.TorrentFile(name, size)],
            torrent_format=torrent_format,
            announce_url="http://127.0.0.1:6969/announce",
            web_seed_url="http://127.0.0.1:8000/releases/1/files/",
            private=False,
            comment="bench",
            source="Fanout bench",
            on_piece=lambda done, total: None,
        )
    )
    return seconds


def mktorrent_build(path: Path, piece_length: int, out: Path) -> float:
    out.unlink(missing_ok=True)
    argv = ["mktorrent", "-t", "2", "-l", str(piece_length.bit_length() - 1), "-a", "http://x/announce"]
    seconds, _ = timed(
        lambda: subprocess.run([*argv, "-o", str(out), str(path)], check=True, capture_output=True)
    )
    return seconds


def libtorrent_hybrid(content: Path, name: str, size: int, piece_length: int) -> float:
    import libtorrent as lt

    creator = lt.create_torrent([lt.create_file_entry(name, size)], piece_length, 0)
    seconds, _ = timed(lambda: lt.set_piece_hashes(creator, str(content)))
    return seconds


class Services:
    """gunicorn and a Celery worker on a throw-away data directory."""

    def __init__(self, data_dir: Path):
        self.port = free_port()
        self.env = prepare_instance(
            data_dir,
            FANOUT_PUBLIC_URL=f"http://127.0.0.1:{self.port}",
            WEB_PORT=str(self.port),
            LOG_LEVEL="WARNING",
        )
        self.processes: list[RunningProcess] = []
        subprocess.run([*MANAGE, "migrate", "-v", "0"], cwd=ROOT, env=self.env, check=True)
        self.session = subprocess.run(
            [sys.executable, "-c", SESSION_SCRIPT],
            cwd=ROOT,
            env=self.env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        gunicorn = str(Path(sys.executable).parent / "gunicorn")
        self.web = self._start(
            "web",
            [
                gunicorn,
                "config.wsgi",
                "-b",
                f"127.0.0.1:{self.port}",
                "-w",
                "1",
                "--threads",
                "4",
                "-t",
                "900",
            ],
        )
        self._start(
            "worker",
            [
                *CELERY,
                "worker",
                "--pool",
                "solo",
                "-l",
                "WARNING",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ],
        )
        self._wait_for_web()

    def _start(self, name: str, argv: list[str]) -> RunningProcess:
        process = RunningProcess(name, argv, self.env)
        self.processes.append(process)
        return process

    def _wait_for_web(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                self.request("GET", "/")
                return
            except OSError:
                time.sleep(0.2)
        raise SystemExit("gunicorn did not answer")

    def worker_pid(self) -> int:
        pid = self.web.process.pid
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        return int(children[0])

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=900)
        all_headers = {"Cookie": f"sessionid={self.session}; csrftoken={CSRF}", "X-CSRFToken": CSRF}
        all_headers.update(headers or {})
        connection.request(method, path, body=body, headers=all_headers)
        response = connection.getresponse()
        data = response.read()
        connection.close()
        return response, data

    def stop(self) -> None:
        for process in self.processes:
            process.stop(timeout=20)
            print(f"--- output of {process.name} ---\n{process.transcript()}", end="", flush=True)


SESSION_SCRIPT = """
import django
django.setup()
from django.contrib.auth import get_user_model, BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.auth.models import Group
from django.contrib.sessions.backends.db import SessionStore
from distribution.models import Product
user = get_user_model().objects.create_user("bench-publisher", password="x")
user.groups.add(Group.objects.get(name="publishers"))
Product.objects.create(name="Bench", slug="bench").publishers.add(user)
session = SessionStore()
session[SESSION_KEY] = str(user.pk)
session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
session[HASH_SESSION_KEY] = user.get_session_auth_hash()
session.create()
print(session.session_key)
"""


class RssSampler(threading.Thread):
    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid = pid
        self.peak = 0
        self.stopped = threading.Event()

    def rss_kib(self) -> int:
        return rss_bytes(self.pid) // 1024

    def run(self) -> None:
        while not self.stopped.is_set():
            self.peak = max(self.peak, self.rss_kib())
            time.sleep(0.02)


def tus_upload(services: Services, path: Path, size: int) -> tuple[float, float]:
    """Send the file as the page does; the seconds from the last byte to published, and peak MB."""
    from urllib.parse import urlencode

    product_id = 1
    body = urlencode(
        {
            "product": product_id,
            "version": "1.0",
            "visibility": "public",
            "torrent_format": "v1",
            "manifest": json.dumps([{"path": path.name, "size": size}]),
        }
    ).encode()
    response, data = services.request(
        "POST", "/publish/start", body, {"Content-Type": "application/x-www-form-urlencoded"}
    )
    if response.status != 201:
        raise SystemExit(f"declaring the release failed: {response.status} {data[:300]!r}")
    release = json.loads(data)
    metadata = ",".join(
        f"{k} {b64encode(v.encode()).decode()}"
        for k, v in {"release": str(release["release_id"]), "relativePath": path.name}.items()
    )
    response, data = services.request(
        "POST",
        "/uploads/",
        b"",
        {"Tus-Resumable": "1.0.0", "Upload-Length": str(size), "Upload-Metadata": metadata},
    )
    if response.status != 201:
        raise SystemExit(f"creating the upload failed: {response.status} {data[:300]!r}")
    location = response.getheader("Location").split(str(services.port), 1)[1]

    worker = services.worker_pid()
    sampler = RssSampler(worker)
    idle_kib = sampler.rss_kib()
    sampler.start()
    offset = 0
    last_byte_at = 0.0
    with path.open("rb") as source:
        while offset < size:
            length = min(CHUNK, size - offset)
            connection = http.client.HTTPConnection("127.0.0.1", services.port, timeout=900)
            connection.putrequest("PATCH", location)
            for name, value in {
                "Tus-Resumable": "1.0.0",
                "Upload-Offset": str(offset),
                "Content-Type": "application/offset+octet-stream",
                "Content-Length": str(length),
                "Cookie": f"sessionid={services.session}; csrftoken={CSRF}",
                "X-CSRFToken": CSRF,
            }.items():
                connection.putheader(name, value)
            connection.endheaders()
            remaining = length
            while remaining:
                block = source.read(min(SEND_BLOCK, remaining))
                connection.send(block)
                remaining -= len(block)
            last_byte_at = time.perf_counter()
            response = connection.getresponse()
            response.read()
            connection.close()
            if response.status != 204:
                raise SystemExit(f"PATCH at {offset} failed: {response.status}")
            offset = int(response.getheader("Upload-Offset"))
    sampler.stopped.set()
    sampler.join()
    response, data = services.request("POST", release["complete_url"])
    if response.status != 200:
        raise SystemExit(f"finishing the upload failed: {response.status} {data[:300]!r}")
    while True:
        _response, data = services.request("GET", f"/releases/{release['release_id']}/progress")
        status = json.loads(data)["status"]
        if status == "published":
            break
        if status == "failed":
            raise SystemExit(f"the build failed: {json.loads(data)['failure_reason']}")
        time.sleep(0.02)
    published_after = time.perf_counter() - last_byte_at
    return published_after, (sampler.peak - idle_kib) / 1024


def client_upload(services: Services, path: Path) -> float:
    """`fanout publish` of the file with a publisher's token; the seconds from its last byte to
    the release listed as published by the API."""
    env = fanout_env(
        services.env, f"http://127.0.0.1:{services.port}/", api_token(services.env, "bench-publisher")
    )
    argv = [FANOUT, "publish", str(path), "--product", "bench", "--version", "client", "--format", "v1"]
    client = RunningProcess("fanout publish", argv, env)
    try:
        # Not a terminal: the client prints a line per tenth, the last once the last block is read to send.
        client.wait_for(r"uploading \[#+\] 100%", timeout=900)
        last_byte_at = time.perf_counter()
        while True:
            answer = requests.get(
                f"http://127.0.0.1:{services.port}/api/releases/",
                params={"product": "bench"},
                headers={"Authorization": f"Bearer {env['FANOUT_TOKEN']}"},
                timeout=30,
            )
            answer.raise_for_status()
            # The catalogue the API lists holds published releases only.
            if any(release["version"] == "client" for release in answer.json()["results"]):
                break
            if client.process.poll() not in (None, 0):
                raise SystemExit(f"fanout publish failed:\n{client.transcript()}")
            time.sleep(0.02)
        published_after = time.perf_counter() - last_byte_at
        if client.wait_for_exit(120) != 0:
            raise SystemExit(f"fanout publish failed:\n{client.transcript()}")
    finally:
        client.stop(timeout=20)
    return published_after


def runs(seconds: list[float]) -> str:
    return " / ".join(f"{s:.2f}" for s in seconds)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size-mib", type=int, default=2048)
    args = parser.parse_args()
    size = args.size_mib * 1024 * 1024
    work = Path(tempfile.mkdtemp(prefix="fanout-bench-ingest-"))
    try:
        from bittorrent import torrents

        content = work / "content"
        content.mkdir()
        name = "payload.bin"
        print(f"making a {args.size_mib} MiB file of random bytes ...", flush=True)
        make_file(content / name, size)
        os.sync()  # the file's writeback would otherwise compete with the first timed build
        warm(content / name)
        piece_length = torrents.choose_piece_length(size)
        print(f"piece length {piece_length // 1024} KiB, {torrents.HASH_THREADS} hashing threads", flush=True)

        # Each contender runs twice, alternating with its peer; the better time of each counts.
        v1_runs, mktorrent_runs, hybrid_runs, libtorrent_runs = [], [], [], []
        for _ in range(ROUNDS):
            v1_runs.append(our_build(content, name, size, "v1"))
            mktorrent_runs.append(mktorrent_build(content / name, piece_length, work / "mktorrent.torrent"))
        for _ in range(ROUNDS):
            hybrid_runs.append(our_build(content, name, size, "hybrid"))
            libtorrent_runs.append(libtorrent_hybrid(content, name, size, piece_length))
        v1_s, mktorrent_s = min(v1_runs), min(mktorrent_runs)
        hybrid_s, libtorrent_s = min(hybrid_runs), min(libtorrent_runs)
        print(f"v1: ours {runs(v1_runs)} s, mktorrent -t 2 {runs(mktorrent_runs)} s", flush=True)
        print(f"hybrid: ours {runs(hybrid_runs)} s, libtorrent {runs(libtorrent_runs)} s", flush=True)

        services = Services(work / "data")
        try:
            last_byte_s, peak_mb = tus_upload(services, content / name, size)
            print(
                f"tus upload: published {last_byte_s:.2f} s after the last byte; "
                f"web worker +{peak_mb:.0f} MB; "
                f"load average {os.getloadavg()[0]:.2f}",
                flush=True,
            )
            client_last_byte_s = client_upload(services, content / name)
            print(
                f"fanout publish: published {client_last_byte_s:.2f} s after the last byte; "
                f"load average {os.getloadavg()[0]:.2f}",
                flush=True,
            )
        finally:
            services.stop()
        print(
            f"v1_build_s={v1_s:.2f} mktorrent_v1_s={mktorrent_s:.2f} hybrid_build_s={hybrid_s:.2f} "
            f"libtorrent_hybrid_s={libtorrent_s:.2f} last_byte_to_published_s={last_byte_s:.2f} "
            f"upload_peak_mb={peak_mb:.0f} client_last_byte_to_published_s={client_last_byte_s:.2f}"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
