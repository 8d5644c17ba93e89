"""Adding to the per-release statistics from every source (pages, tracker, seeders, web seeds).

Each release's ``ReleaseTotals`` row is written here and only here, in the
same transaction as the rows it sums up (day counters) or repeats (the latest
swarm sample), so that it always agrees with them.
"""

import datetime
from collections.abc import Iterable, Mapping, Sequence

from django.db import connection, transaction
from django.db.models import Model
from django.utils import timezone

from distribution.models import ReleaseDayStats, ReleaseTotals, SwarmSample

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
_COUNTER_COLUMNS = sorted(COUNTERS)
_ROWS_PER_STATEMENT = 500
# Counters stop at the largest value a 64-bit column holds: the tracker's byte
# counts are what clients claim, and an absurd claim must not fail the flush
# of every other release's counts.
COUNTER_LIMIT = 2**63 - 1


def add_release_counts(
    *, release_id: int, counts: Mapping[str, int], day: datetime.date | None = None
) -> None:
    """Add ``counts`` (counter name to increment) to the release's totals and its row for ``day`` (UTC)."""
    add_counts_of_releases({release_id: counts}, day=day)


def add_counts_of_releases(
    counts_by_release: Mapping[int, Mapping[str, int]], *, day: datetime.date | None = None
) -> None:
    """Add each release's counts to its row for ``day`` (today, UTC) and to its totals.

    Each table gets one ``INSERT ... ON CONFLICT DO UPDATE`` per 500 releases
    that adds in the database, so concurrent writers from several processes
    never lose each other's counts, and the tracker's flush costs a few
    statements however many swarms it writes.
    """
    for counts in counts_by_release.values():
        unknown = counts.keys() - COUNTERS
        if unknown:
            raise ValueError(f"unknown counters: {sorted(unknown)}")
    # In release order, so that two writers lock the rows they share in the same order.
    increments = [
        (release_id, [min(counts.get(name, 0), COUNTER_LIMIT) for name in _COUNTER_COLUMNS])
        for release_id, counts in sorted(counts_by_release.items())
        if any(counts.values())
    ]
    if not increments:
        return
    day = day or timezone.now().date()
    with transaction.atomic(savepoint=False):
        for start in range(0, len(increments), _ROWS_PER_STATEMENT):
            batch = increments[start : start + _ROWS_PER_STATEMENT]
            _insert_or_add(
                ReleaseDayStats,
                unique=["release_id", "day"],
                new_row={"day": connection.ops.adapt_datefield_value(day)},
                rows=batch,
            )
            _insert_or_add(
                ReleaseTotals, unique=["release_id"], new_row={"seeders": 0, "leechers": 0}, rows=batch
            )


def _insert_or_add(
    model: type[Model],
    *,
    unique: Sequence[str],
    new_row: Mapping[str, object],
    rows: Sequence[tuple[int, list[int]]],
) -> None:
    """For each (release id, counter values): insert a row, or add the values to the one already there.

    ``unique`` names the columns that find the existing row; ``new_row`` holds
    the columns, other than the release id and the counters, of an inserted one.
    """
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    columns = ", ".join(map(quote, ["release_id", *new_row, *_COUNTER_COLUMNS]))
    one_row = "(" + ", ".join(["%s"] * (1 + len(new_row) + len(_COUNTER_COLUMNS))) + ")"
    additions = ", ".join(
        f"{quote(name)} = CASE WHEN excluded.{quote(name)} > {COUNTER_LIMIT} - {table}.{quote(name)} "
        f"THEN {COUNTER_LIMIT} ELSE {table}.{quote(name)} + excluded.{quote(name)} END"
        for name in _COUNTER_COLUMNS
    )
    params = [value for release_id, counts in rows for value in (release_id, *new_row.values(), *counts)]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({columns}) VALUES {', '.join([one_row] * len(rows))} "
            f"ON CONFLICT ({', '.join(map(quote, unique))}) DO UPDATE SET {additions}",
            params,
        )


def record_swarm_samples(samples: Iterable[SwarmSample]) -> None:
    """Store the tracker's samples of swarms; each release's latest becomes its current seeders/leechers."""
    samples = sorted(samples, key=lambda sample: sample.taken_at)
    latest = {sample.release_id: sample for sample in samples}
    with transaction.atomic():
        SwarmSample.objects.bulk_create(samples, batch_size=1000)
        ReleaseTotals.objects.bulk_create(
            (
                ReleaseTotals(
                    release_id=sample.release_id,
                    seeders=sample.seeders,
                    leechers=sample.leechers,
                    sampled_at=sample.taken_at,
                )
                for sample in latest.values()
            ),
            batch_size=1000,
            update_conflicts=True,
            unique_fields=["release"],
            update_fields=["seeders", "leechers", "sampled_at"],
        )
