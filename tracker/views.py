"""``/announce``, ``/scrape`` and the seeders' ``/admitted/<credential>`` served by Django, for
deployments without ``runtracker``.

The swarms live in the configured store, as runtracker's do: with REDIS_URL
in Redis, shared by every web worker and every runtracker; without it in this
process's memory, so that only one process may answer the announces. The
tracked info-hashes, private releases and passkeys are read from the
database at most every FANOUT_TRACKER_WHITELIST_REFRESH seconds. With the
memory store this process writes the swarm statistics to it at most every
FANOUT_TRACKER_STATS_FLUSH_SECONDS; with Redis the Celery beat task does.
"""

import ipaddress
import logging
import math
import threading
import time
from collections.abc import Callable

from django.conf import settings
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from tracker.engine import Tracker
from tracker.proxies import TrustedProxies
from tracker.selectors import load_whitelist
from tracker.statistics_flush import configured_swarm_store, flushes_own_statistics, write_statistics

logger = logging.getLogger(__name__)


class InProcessTracker:
    """One ``Tracker`` for the whole process, shared by its request threads."""

    def __init__(self) -> None:
        # Neither store is thread-safe (Redis's has one connection), and one refresh at a time is enough.
        self._lock = threading.Lock()
        self._tracker: Tracker | None = None
        self._refresh_due = 0.0
        # Never, unless the store's statistics are this process's own (see ``answer``).
        self._flush_due = math.inf

    def answer(self, handle: Callable[[Tracker], bytes]) -> bytes:
        with self._lock:
            if self._tracker is None:
                self._tracker = Tracker(
                    configured_swarm_store(),
                    interval=settings.FANOUT_ANNOUNCE_INTERVAL,
                    min_interval=settings.FANOUT_ANNOUNCE_MIN_INTERVAL,
                )
                if flushes_own_statistics(self._tracker.store):
                    self._flush_due = time.monotonic() + settings.FANOUT_TRACKER_STATS_FLUSH_SECONDS
            now = time.monotonic()
            if now >= self._refresh_due:
                self._tracker.load(load_whitelist())
                self._refresh_due = now + settings.FANOUT_TRACKER_WHITELIST_REFRESH
            if now >= self._flush_due:
                self._flush_due = now + settings.FANOUT_TRACKER_STATS_FLUSH_SECONDS
                self.flush_statistics()
            return handle(self._tracker)

    def flush_statistics(self) -> None:
        """Write this process's swarm statistics to the database (called with the lock held)."""
        if self._tracker is None:
            return
        taken = self._tracker.store.take_statistics(self._tracker.clock())
        try:
            write_statistics(taken)
        except DatabaseError:
            logger.exception("could not write %d swarm statistics; they are lost", len(taken))


in_process_tracker = InProcessTracker()


def _raw_query(request: HttpRequest) -> bytes:
    # WSGI passes the query string as latin-1 text (PEP 3333): this gives the
    # client's bytes back, so percent-decoding yields the binary info_hash.
    return request.META.get("QUERY_STRING", "").encode("latin-1", "replace")


def client_ip(request: HttpRequest) -> str:
    """The connection's address, or X-Forwarded-For's when the connection is a trusted proxy."""
    proxies = TrustedProxies(settings.FANOUT_TRUSTED_PROXIES)
    return proxies.client_ip(request.META.get("REMOTE_ADDR", ""), request.META.get("HTTP_X_FORWARDED_FOR"))


def sign_in_client_ip(request: HttpRequest) -> str | None:
    """``client_ip`` for django-axes and the audit log, which store it in address columns: in its
    canonical form, or None when a trusted proxy sent something that is not an address (the
    account's own lockout still applies)."""
    try:
        return str(ipaddress.ip_address(client_ip(request).partition("%")[0]))
    except ValueError:
        return None


def _passkey(passkey: str | None) -> bytes | None:
    return None if passkey is None else passkey.encode("utf-8", "replace")


@require_GET
def announce(request: HttpRequest, passkey: str | None = None) -> HttpResponse:
    query, address, key = _raw_query(request), client_ip(request), _passkey(passkey)
    body = in_process_tracker.answer(lambda tracker: tracker.handle_announce(query, address, key))
    return HttpResponse(body, content_type="text/plain")


@require_GET
def scrape(request: HttpRequest, passkey: str | None = None) -> HttpResponse:
    query, key = _raw_query(request), _passkey(passkey)
    body = in_process_tracker.answer(lambda tracker: tracker.handle_scrape(query, key))
    return HttpResponse(body, content_type="text/plain")


@require_GET
def admitted(request: HttpRequest, credential: str) -> HttpResponse:
    """Whom a seeder node may serve (``Tracker.admitted``), for a seeder pointed at this process."""
    key = _passkey(credential)
    body = in_process_tracker.answer(lambda tracker: tracker.handle_admitted(key))
    return HttpResponse(body, content_type="text/plain")
