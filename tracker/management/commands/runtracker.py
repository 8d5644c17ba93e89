"""``manage.py runtracker``: the standalone tracker (HTTP and UDP), until SIGTERM or SIGINT.

Reads the tracked swarms, which of them are private, and the passkeys from
the database before listening and again every FANOUT_TRACKER_WHITELIST_REFRESH
seconds, on a thread of its own: the event loop never waits for the ORM.
Announces go to ``/announce`` or ``/announce/<passkey>`` (private releases
need the latter), scrapes likewise; seeder nodes ask ``/admitted/<credential>``
whom their private releases may serve. With the memory store, the swarm
statistics are written to the database on that same thread every
FANOUT_TRACKER_STATS_FLUSH_SECONDS, and once more on shutdown; with Redis the
Celery beat task ``tracker.flush_statistics`` does it. The loop is uvloop's, which takes about a third
off the server's own CPU per HTTP announce. With REDIS_URL set the swarms
live in Redis, so that ``--workers N`` processes, sharing the ports through
SO_REUSEPORT, serve the same swarms; without it they live in the one
process's memory.
"""

import asyncio
import hashlib
import logging
import os
import signal
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import uvloop
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError, close_old_connections

from tracker.engine import Tracker, UdpTracker, Whitelist
from tracker.http_server import HttpTrackerServer
from tracker.proxies import TrustedProxies
from tracker.selectors import load_whitelist
from tracker.statistics_flush import (
    configured_swarm_store,
    flushes_own_statistics,
    merged_statistics,
    write_statistics,
)
from tracker.swarm_store import SwarmStatistics
from tracker.udp_server import UdpTrackerServer

logger = logging.getLogger(__name__)


def _load_whitelist() -> Whitelist:
    # Drops a connection the database closed since the last refresh.
    close_old_connections()
    return load_whitelist()


def _write_statistics(taken: list[SwarmStatistics]) -> int:
    close_old_connections()
    return write_statistics(taken)


def _connection_id_key() -> bytes:
    # Its own key, derived so that a connection id reveals nothing about SECRET_KEY.
    return hashlib.blake2b(settings.SECRET_KEY.encode(), digest_size=32, person=b"fanout-udp-cid").digest()


def _url(scheme: str, address: tuple[str, int]) -> str:
    host, port = address
    return f"{scheme}://{f'[{host}]' if ':' in host else host}:{port}/announce"


class Command(BaseCommand):
    help = "Run the BitTorrent tracker: HTTP and UDP (BEP 15) announce and scrape."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="", help="address to listen on (default: all interfaces)")
        parser.add_argument("--http-port", type=int, default=settings.TRACKER_PORT)
        parser.add_argument("--udp-port", type=int, default=settings.TRACKER_PORT)
        parser.add_argument(
            "--workers", type=int, default=1, help="processes sharing the ports (more than 1 needs REDIS_URL)"
        )

    def handle(self, *args, host: str, http_port: int, udp_port: int, workers: int, **options) -> None:
        if workers < 1:
            raise CommandError("--workers must be at least 1")
        if workers == 1:
            uvloop.run(
                self._serve(host or None, http_port, udp_port, reuse_port=False, ready=self._print_listening)
            )
            return
        if not settings.REDIS_URL:
            raise CommandError("--workers above 1 needs REDIS_URL: workers share their swarms through Redis")
        if 0 in (http_port, udp_port):
            raise CommandError("--workers above 1 needs fixed ports: each worker binds the same ones")
        self._run_workers(workers, host or None, http_port, udp_port)

    def _print_listening(self, lines: list[str]) -> None:
        # The run script and the tests wait for this line.
        for line in lines:
            self.stdout.write(line)
        self.stdout.flush()

    def _run_workers(self, workers: int, host: str | None, http_port: int, udp_port: int) -> None:
        """Fork the workers, print once all listen, pass SIGTERM/SIGINT on, stop all if one dies."""
        readiness_read, readiness_write = os.pipe()
        children = []
        for _ in range(workers):
            pid = os.fork()
            if pid == 0:
                os.close(readiness_read)
                self._worker(host, http_port, udp_port, readiness_write)
            children.append(pid)
        os.close(readiness_write)

        def stop_all(signum: int = signal.SIGTERM, frame: object = None) -> None:
            for child in children:
                try:
                    os.kill(child, signal.SIGTERM)
                except ProcessLookupError:
                    pass

        signal.signal(signal.SIGTERM, stop_all)
        signal.signal(signal.SIGINT, stop_all)
        with os.fdopen(readiness_read) as readiness:
            reports = [readiness.readline().rstrip("\n") for _ in children]
        failed = not all(reports)
        if failed:
            stop_all()
        else:
            self._print_listening(reports[0].split("\t"))
        for _ in children:
            _, status = os.wait()
            if os.waitstatus_to_exitcode(status) != 0 and not failed:
                failed = True
                stop_all()
        if failed:
            raise CommandError("a tracker worker failed")

    def _worker(self, host: str | None, http_port: int, udp_port: int, readiness: int) -> None:
        # 1. Serve; once listening, report this worker's lines on one line of the pipe.
        # 2. Any failure reports an empty line, so the parent never waits for it.
        # 3. Leave with os._exit: the parent's cleanup is not ours to run.
        def ready(lines: list[str]) -> None:
            os.write(readiness, ("\t".join(lines) + "\n").encode())

        code = 0
        try:
            uvloop.run(self._serve(host, http_port, udp_port, reuse_port=True, ready=ready))
        except BaseException:
            logger.exception("tracker worker %d failed", os.getpid())
            os.write(readiness, b"\n")
            code = 1
        os._exit(code)

    async def _serve(
        self,
        host: str | None,
        http_port: int,
        udp_port: int,
        *,
        reuse_port: bool,
        ready: Callable[[list[str]], None],
    ) -> None:
        loop = asyncio.get_running_loop()
        database = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tracker-whitelist")
        tracker = Tracker(
            configured_swarm_store(),
            interval=settings.FANOUT_ANNOUNCE_INTERVAL,
            min_interval=settings.FANOUT_ANNOUNCE_MIN_INTERVAL,
        )
        tracker.load(await loop.run_in_executor(database, _load_whitelist))
        http = HttpTrackerServer(tracker, TrustedProxies(settings.FANOUT_TRUSTED_PROXIES))
        await http.start(host, http_port, reuse_port=reuse_port)
        udp = UdpTrackerServer(UdpTracker(tracker, key=_connection_id_key()))
        await udp.start(host, udp_port, reuse_port=reuse_port)

        stop = asyncio.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        refresher = loop.create_task(self._refresh(tracker, database))
        # Statistics a database outage kept from being written: the next flush writes them.
        unwritten: list[SwarmStatistics] = []
        flusher = (
            loop.create_task(self._flush_statistics(tracker, database, unwritten))
            if flushes_own_statistics(tracker.store)
            else None
        )
        ready(
            [
                f"tracker listening on {_url('http', http.address)}",
                f"tracker listening on {_url('udp', udp.address)}",
            ]
        )

        await stop.wait()
        refresher.cancel()
        http.close()
        udp.close()
        if flusher is not None:
            flusher.cancel()
            await self._flush_statistics_once(tracker, database, unwritten)
        database.shutdown(wait=True)

    async def _refresh(self, tracker: Tracker, database: ThreadPoolExecutor) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(settings.FANOUT_TRACKER_WHITELIST_REFRESH)
            try:
                tracker.load(await loop.run_in_executor(database, _load_whitelist))
            except DatabaseError:
                logger.exception("could not refresh the tracked swarms; answering for the previous ones")

    async def _flush_statistics(
        self, tracker: Tracker, database: ThreadPoolExecutor, unwritten: list[SwarmStatistics]
    ) -> None:
        while True:
            await asyncio.sleep(settings.FANOUT_TRACKER_STATS_FLUSH_SECONDS)
            await self._flush_statistics_once(tracker, database, unwritten)

    async def _flush_statistics_once(
        self, tracker: Tracker, database: ThreadPoolExecutor, unwritten: list[SwarmStatistics]
    ) -> None:
        """Write the statistics taken now with ``unwritten``, those a database outage held back;
        if the database is still out, they all wait for the next flush."""
        # Taken here, on the loop's thread (the memory store is not thread-safe);
        # written on the database thread, so the loop never waits for the ORM.
        taken = merged_statistics(unwritten, tracker.store.take_statistics(tracker.clock()))
        try:
            await asyncio.get_running_loop().run_in_executor(database, _write_statistics, taken)
        except DatabaseError:
            logger.exception("could not write %d swarm statistics; kept for the next flush", len(taken))
            unwritten[:] = taken
        else:
            unwritten.clear()
