"""Adding to the per-release, per-day counters from every source (pages, tracker, seeders, web seeds)."""

import datetime
from collections.abc import Mapping

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from distribution.models import ReleaseDayStats

COUNTERS = frozenset(
    {
        "torrent_fetches",
        "magnet_fetches",
        "completed",
        "http_requests",
        "http_bytes",
        "origin_bytes",
        "reported_uploaded_bytes",
        "reported_downloaded_bytes",
    }
)


def add_release_counts(
    *, release_id: int, counts: Mapping[str, int], day: datetime.date | None = None
) -> None:
    """Add ``counts`` (counter name to increment) to the release's row for ``day`` (today, UTC).

    The increment happens in the database (``F() + n``), so concurrent writers
    from several processes never lose each other's counts.
    """
    unknown = counts.keys() - COUNTERS
    if unknown:
        raise ValueError(f"unknown counters: {sorted(unknown)}")
    increments = {name: F(name) + value for name, value in counts.items() if value}
    if not increments:
        return
    day = day or timezone.now().date()
    rows = ReleaseDayStats.objects.filter(release_id=release_id, day=day)
    if rows.update(**increments):
        return
    try:
        with transaction.atomic():
            ReleaseDayStats.objects.create(release_id=release_id, day=day, **counts)
    except IntegrityError:
        # Another process created the row between our update and insert.
        rows.update(**increments)
