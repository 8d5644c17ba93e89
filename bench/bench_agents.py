#!/usr/bin/env python
"""`make bench-agents`: ten `fanout get` agents beside ten `curl` downloads of one release, same run.

An instance runs as `make run` runs it (scripts/run_all.py: web, worker, tracker,
seeder, embedded defaults) in a throw-away data directory, with the origin
capped at --origin-rate-mib: the seeder's ``FANOUT_SEEDER_UPLOAD_LIMIT`` and the
web seed's full rate (``FANOUT_WEBSEED_RATE`` per response,
``FANOUT_WEBSEED_RELEASE_RATE`` per release) alike.

1. `fanout publish --wait` puts a release of --size-mib random bytes on it.
2. --agents `fanout get` processes start at once (all on 127.0.0.1: the
   command has no option to choose its address), seeding after they verify
   until every one has; ``finish_s`` is the time from their start to the
   last one's verified copy. The origin's bytes are the release's statistics
   over the run: ``origin_bytes`` (what the seeder's libtorrent counted as sent,
   from its heartbeats) plus ``http_bytes`` (what the web process sent of the
   web seed and direct downloads).
3. As many `curl` processes fetch the release's direct download
   (/releases/<id>/files/<name>), each capped at the origin's rate divided by
   their number (direct downloads are not paced by the product: the cap
   stands for the origin's link, shared fairly), each followed by `sha256sum`;
   ``curl_finish_s`` is the time to the last verified copy, and their origin
   bytes the growth of ``http_bytes``.

The last line is ``agents= origin_x= finish_s= curl_finish_s=`` (``origin_x`` =
the agents' origin bytes over the release size; the line above it has curl's).
Options: --size-mib (64), --agents (10), --origin-rate-mib (8), --timeout.
"""

import argparse
import hashlib
import json
import os
import re
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

import requests

# Run as `python bench/bench_agents.py`: the project's packages import from its root.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.make_run import FANOUT, api_token, fanout_env, make_run_env, start_make_run
from harness.processes import RunningProcess

MIB = 1024 * 1024
POLL_SECONDS = 0.1
# Seconds for a seeder heartbeat (every 2 s) to bring the last bytes sent into the statistics.
HEARTBEAT_WAIT = 5
VERIFIED_LINE = re.compile(r"^seeding for ", re.M)


def release_statistics(url: str, token: str, release_id: int) -> dict[str, int]:
    """The release's seeder and HTTP bytes, summed over the days of its statistics."""
    answer = requests.get(
        f"{url}api/releases/{release_id}/stats/", headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    answer.raise_for_status()
    days = answer.json()["days"]
    return {name: sum(day[name] for day in days) for name in ("origin_bytes", "http_bytes")}


def wait_for_all(processes: list[RunningProcess], done, *, timeout: float, what: str) -> list[float]:
    """Seconds from now until ``done(process)`` holds for each; fails if one exits without it."""
    started = time.monotonic()
    finished: dict[int, float] = {}
    while len(finished) < len(processes):
        for index, process in enumerate(processes):
            if index in finished:
                continue
            if done(process):
                finished[index] = time.monotonic() - started
            elif process.process.poll() is not None:
                sys.exit(f"{process.name} exited with {process.process.returncode}:\n{process.transcript()}")
        if time.monotonic() - started > timeout:
            sys.exit(f"{len(finished)} of {len(processes)} {what} after {timeout:.0f} s")
        time.sleep(POLL_SECONDS)
    return [finished[index] for index in range(len(processes))]


def agents_run(
    env: dict[str, str], release_url: str, work: Path, *, agents: int, timeout: float
) -> tuple[list[float], int]:
    """Start the agents together; the seconds until each verified, and the bytes they downloaded."""
    processes = [
        RunningProcess(
            f"fanout get {index}",
            [
                FANOUT,
                "get",
                release_url,
                "--dest",
                str(work / f"agent-{index}"),
                "--seed-for",
                "3600",
                "--json",
            ],
            env,
        )
        for index in range(agents)
    ]
    try:
        verified = wait_for_all(
            processes,
            lambda process: VERIFIED_LINE.search(process.transcript()),
            timeout=timeout,
            what="agents verified",
        )
    finally:
        # Verified: stopping ends the seeding, and the command reports success.
        statuses = [process.stop(signal.SIGTERM, timeout=30) for process in processes]
    downloaded = 0
    for process, status in zip(processes, statuses, strict=True):
        transcript = process.transcript()
        if status != 0:
            sys.exit(f"{process.name} exited with {status}:\n{transcript}")
        downloaded += json.loads(transcript[transcript.index("\n{") :])["downloaded_bytes"]
    return verified, downloaded


def curl_run(file_url: str, work: Path, digest: str, *, count: int, rate: int, timeout: float) -> list[float]:
    """``count`` curls of ``file_url`` at ``rate`` bytes/s each, started together, each checked by
    sha256sum; the seconds until each copy was verified."""
    work.mkdir()
    processes = [
        RunningProcess(
            f"curl {index}",
            [
                "sh",
                "-c",
                f'curl -fsS --limit-rate {rate} -o "$1" "$2" && sha256sum "$1"',
                "sh",
                str(work / f"copy-{index}"),
                file_url,
            ],
            dict(os.environ),
        )
        for index in range(count)
    ]
    try:
        verified = wait_for_all(
            processes,
            # Exited, and its output read to the end: sha256sum printed the digest.
            lambda process: (
                process.process.poll() is not None
                and process.wait_for_exit() == 0
                and digest in process.transcript()
            ),
            timeout=timeout,
            what="curl copies verified",
        )
    finally:
        for process in processes:
            process.stop(timeout=10)
    return verified


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size-mib", type=int, default=64)
    parser.add_argument("--agents", type=int, default=10)
    parser.add_argument("--origin-rate-mib", type=int, default=8)
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args()
    # SIGTERM unwinds like Ctrl-C, so that the instance and the agents started here are stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    if shutil.which("curl") is None:
        sys.exit("curl is not installed (apt-get install curl)")
    size = args.size_mib * MIB
    origin_rate = args.origin_rate_mib * MIB
    work = Path(tempfile.mkdtemp(prefix="fanout-bench-agents-"))
    try:
        content = work / f"agents-{args.size_mib}mib.bin"
        content.write_bytes(os.urandom(size))
        digest = hashlib.sha256(content.read_bytes()).hexdigest()
        env = make_run_env(
            work / "data",
            FANOUT_SEEDER_UPLOAD_LIMIT=str(origin_rate),
            FANOUT_WEBSEED_RATE=str(origin_rate),
            FANOUT_WEBSEED_RELEASE_RATE=str(origin_rate),
        )
        print(
            f"agents: a {args.size_mib} MiB release, {args.agents} `fanout get` then {args.agents} curl, "
            f"origin capped at {args.origin_rate_mib} MiB/s (seeder and web seed), on loopback; "
            f"load average {os.getloadavg()[0]:.2f}",
            flush=True,
        )
        instance, url = start_make_run(env)
        try:
            token = api_token(env)
            client_env = fanout_env(env, url, token)
            publish = RunningProcess(
                "fanout publish",
                [
                    FANOUT,
                    "publish",
                    str(content),
                    "--product",
                    "agents",
                    "--version",
                    "1",
                    "--wait",
                    "--json",
                ],
                client_env,
            )
            if publish.wait_for_exit(300) != 0:
                sys.exit(f"fanout publish failed:\n{publish.transcript()}")
            transcript = publish.transcript()
            release = json.loads(transcript[transcript.index("\n{") :])
            release_id = release["id"]
            before = release_statistics(url, token, release_id)

            verified, downloaded = agents_run(
                client_env, release["url"], work, agents=args.agents, timeout=args.timeout
            )
            time.sleep(HEARTBEAT_WAIT)
            after_agents = release_statistics(url, token, release_id)
            seeder_bytes = after_agents["origin_bytes"] - before["origin_bytes"]
            web_seed_bytes = after_agents["http_bytes"] - before["http_bytes"]
            origin_x = (seeder_bytes + web_seed_bytes) / size
            finish_s = max(verified)
            print(
                f"fanout get: {args.agents} verified in {finish_s:.1f} s (first {min(verified):.1f} s); "
                f"origin {(seeder_bytes + web_seed_bytes) / MIB:.1f} MiB = seeder {seeder_bytes / MIB:.1f} "
                f"+ web seed {web_seed_bytes / MIB:.1f}; agents downloaded {downloaded / MIB:.0f} MiB; "
                f"load average {os.getloadavg()[0]:.2f}",
                flush=True,
            )

            curl_verified = curl_run(
                f"{url}releases/{release_id}/files/{content.name}".replace("localhost", "127.0.0.1"),
                work / "curl",
                digest,
                count=args.agents,
                rate=origin_rate // args.agents,
                timeout=args.timeout,
            )
            time.sleep(HEARTBEAT_WAIT)
            after_curl = release_statistics(url, token, release_id)
            curl_bytes = after_curl["http_bytes"] - after_agents["http_bytes"]
            curl_finish_s = max(curl_verified)
            print(
                f"curl: {args.agents} verified in {curl_finish_s:.1f} s (first {min(curl_verified):.1f} s); "
                f"origin {curl_bytes / MIB:.1f} MiB (curl_origin_x={curl_bytes / size:.2f}); "
                f"load average {os.getloadavg()[0]:.2f}",
                flush=True,
            )
        finally:
            instance.stop(signal.SIGINT, timeout=60)
            problems = [line for line in instance.output if re.search(r"Traceback|Error|locked", line)]
            if problems:
                print("".join(["--- the instance's error lines ---\n", *problems[:40]]), end="", flush=True)
        print(
            f"agents={args.agents} origin_x={origin_x:.2f} "
            f"finish_s={finish_s:.1f} curl_finish_s={curl_finish_s:.1f}"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
