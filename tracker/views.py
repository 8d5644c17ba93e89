"""``/announce`` and ``/scrape`` served by Django, for deployments without ``runtracker``.

The swarms live in this process's memory; the tracked info-hashes are read
from the database at most every FANOUT_TRACKER_WHITELIST_REFRESH seconds.
"""

import threading
import time
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from distribution.selectors import tracked_swarms
from tracker.service import Tracker
from tracker.swarm_store import MemorySwarmStore


class InProcessTracker:
    """One ``Tracker`` for the whole process, shared by its request threads."""

    def __init__(self) -> None:
        # The memory store is not thread-safe, and one refresh at a time is enough.
        self._lock = threading.Lock()
        self._tracker: Tracker | None = None
        self._refresh_due = 0.0

    def answer(self, handle: Callable[[Tracker], bytes]) -> bytes:
        with self._lock:
            if self._tracker is None:
                self._tracker = Tracker(
                    MemorySwarmStore(peer_ttl=settings.FANOUT_PEER_TTL),
                    interval=settings.FANOUT_ANNOUNCE_INTERVAL,
                    min_interval=settings.FANOUT_ANNOUNCE_MIN_INTERVAL,
                )
            now = time.monotonic()
            if now >= self._refresh_due:
                self._tracker.swarms = tracked_swarms()
                self._refresh_due = now + settings.FANOUT_TRACKER_WHITELIST_REFRESH
            return handle(self._tracker)


in_process_tracker = InProcessTracker()


def _raw_query(request: HttpRequest) -> bytes:
    # WSGI passes the query string as latin-1 text (PEP 3333): this gives the
    # client's bytes back, so percent-decoding yields the binary info_hash.
    return request.META.get("QUERY_STRING", "").encode("latin-1", "replace")


@require_GET
def announce(request: HttpRequest) -> HttpResponse:
    query, client_ip = _raw_query(request), request.META["REMOTE_ADDR"]
    body = in_process_tracker.answer(lambda tracker: tracker.handle_announce(query, client_ip))
    return HttpResponse(body, content_type="text/plain")


@require_GET
def scrape(request: HttpRequest) -> HttpResponse:
    query = _raw_query(request)
    body = in_process_tracker.answer(lambda tracker: tracker.handle_scrape(query))
    return HttpResponse(body, content_type="text/plain")
