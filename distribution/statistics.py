"""Per-release statistics: added to from every source (pages, tracker, seeders, web seeds), read over dates.

Each release's ``ReleaseTotals`` row is written here and only here, in the
same transaction as the rows it sums up (day counters) or repeats (the latest
swarm sample), so that it always agrees with them.
"""

import datetime
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import Max, Model
from django.db.models.functions import TruncDay, TruncHour
from django.utils import timezone

from distribution.models import COUNTER_NAMES, Release, ReleaseDayStats, ReleaseTotals, SwarmSample

COUNTERS = frozenset(COUNTER_NAMES)
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


def count_file_sent(*, release_id: int, sent: int, web_seed: bool) -> None:
    """One HTTP response with a file of the release: a request, the body bytes it carried, and
    whether a BitTorrent client's web seed took them (else a direct download)."""
    add_release_counts(
        release_id=release_id,
        counts={"http_requests": 1, "http_bytes": sent, "web_seed_bytes": sent if web_seed else 0},
    )


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
                ReleaseTotals,
                unique=["release_id"],
                new_row={"seeders": 0, "leechers": 0, "origin_seeders": 0},
                rows=batch,
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
                # In release order, as every writer of these rows locks them (our seeders' heartbeats too).
                for sample in sorted(latest.values(), key=lambda sample: sample.release_id)
            ),
            batch_size=1000,
            update_conflicts=True,
            unique_fields=["release"],
            update_fields=["seeders", "leechers", "sampled_at"],
        )


# A release's origin_seeding_until is rewritten only once a heartbeat would move it this much later.
ORIGIN_SEEDING_RENEWAL = datetime.timedelta(seconds=6)


def record_origin_seeding(seeders: Mapping[int, int], *, until: datetime.datetime | None) -> None:
    """Record how many of our seeder nodes seed each release (``seeders``), as a node finds it.

    ``until``: when that lapses unless renewed (a node that stops heartbeating is
    dead). None, from a node that is stopping, keeps the time the other nodes
    gave; a count of 0 ends it at once. A row is written only when its count
    changes or ``until`` is ``ORIGIN_SEEDING_RENEWAL`` past its time, so that
    every node's heartbeat, every two seconds, does not rewrite every release's row.
    """
    if not seeders:
        return
    quote = connection.ops.quote_name
    table = quote(ReleaseTotals._meta.db_table)
    columns = ["release_id", "seeders", "leechers", "origin_seeders", "origin_seeding_until"]
    columns += _COUNTER_COLUMNS
    stored_until = connection.ops.adapt_datetimefield_value(until)
    renew_before = None if until is None else until - ORIGIN_SEEDING_RENEWAL
    rows = [
        (release_id, 0, 0, count, stored_until, *[0] * len(_COUNTER_COLUMNS))
        for release_id, count in sorted(seeders.items())
    ]
    one_row = "(" + ", ".join(["%s"] * len(columns)) + ")"
    origin, until_column = quote("origin_seeders"), quote("origin_seeding_until")
    with connection.cursor() as cursor:
        for start in range(0, len(rows), _ROWS_PER_STATEMENT):
            batch = rows[start : start + _ROWS_PER_STATEMENT]
            cursor.execute(
                f"INSERT INTO {table} ({', '.join(map(quote, columns))}) "
                f"VALUES {', '.join([one_row] * len(batch))} "
                f"ON CONFLICT ({quote('release_id')}) DO UPDATE SET {origin} = excluded.{origin}, "
                f"{until_column} = CASE WHEN excluded.{origin} = 0 THEN NULL "
                f"ELSE COALESCE(excluded.{until_column}, {table}.{until_column}) END "
                f"WHERE {table}.{origin} <> excluded.{origin} OR (excluded.{until_column} IS NOT NULL "
                f"AND ({table}.{until_column} IS NULL OR {table}.{until_column} < %s))",
                [value for row in batch for value in row]
                + [connection.ops.adapt_datetimefield_value(renew_before)],
            )


DEFAULT_DAYS = 30
MAX_DAYS = 731
# Up to this many days the swarm chart has a point per hour, beyond it one per day.
HOURLY_UP_TO_DAYS = 14


@dataclass(frozen=True)
class DayRow:
    """One day's counters of a release (or their sums over a range), and the figures made from them."""

    day: datetime.date
    # The release's size: what one whole download over HTTP is.
    release_size: int
    completed: int
    torrent_fetches: int
    magnet_fetches: int
    http_requests: int
    http_bytes: int
    web_seed_bytes: int
    origin_bytes: int
    reported_downloaded_bytes: int

    @property
    def direct_bytes(self) -> int:
        """HTTP bytes of direct downloads (browsers, scripts): HTTP bytes not taken by a web seed."""
        return max(0, self.http_bytes - self.web_seed_bytes)

    @property
    def http_downloads(self) -> float:
        """Direct downloads as whole-release equivalents: 2.4 is two releases and four tenths of one.

        Web seed bytes are left out: the BitTorrent client that took them counts
        as a completed download when it finishes.
        """
        return self.direct_bytes / self.release_size if self.release_size else 0.0

    @property
    def downloads(self) -> float:
        """Completed BitTorrent downloads and whole-release equivalents over HTTP."""
        return self.completed + self.http_downloads

    @property
    def origin_sent_bytes(self) -> int:
        """Everything the origin sent: its seeders' uploads, the web seed and direct downloads."""
        return self.origin_bytes + self.http_bytes

    @property
    def delivered_bytes(self) -> int:
        """What users received: what their BitTorrent clients told the tracker they downloaded
        (from peers, our seeders and the web seed), and direct downloads."""
        return self.reported_downloaded_bytes + self.direct_bytes

    @property
    def offload_ratio(self) -> float | None:
        return self.delivered_bytes / self.origin_sent_bytes if self.origin_sent_bytes else None


# The counters a day's row holds, summed over a range for the totals.
DAY_ROW_COUNTERS = (
    "completed",
    "torrent_fetches",
    "magnet_fetches",
    "http_requests",
    "http_bytes",
    "web_seed_bytes",
    "origin_bytes",
    "reported_downloaded_bytes",
)
DAY_ROW_FIGURES = ("direct_bytes", "origin_sent_bytes", "delivered_bytes", "http_downloads", "downloads")
CSV_COLUMNS = ("day", *DAY_ROW_COUNTERS, *DAY_ROW_FIGURES, "offload_ratio")


@dataclass(frozen=True)
class SwarmPoint:
    at: datetime.datetime
    seeders: int
    leechers: int


@dataclass(frozen=True)
class ReleaseStatistics:
    start: datetime.date
    end: datetime.date
    days: list[DayRow]
    swarm: list[SwarmPoint]
    swarm_step: str
    release_size: int

    @property
    def totals(self) -> DayRow:
        return DayRow(
            day=self.end,
            release_size=self.release_size,
            **{name: sum(getattr(row, name) for row in self.days) for name in DAY_ROW_COUNTERS},
        )

    def chart_data(self) -> dict:
        return {
            "days": [row.day.isoformat() for row in self.days],
            "completed": [row.completed for row in self.days],
            "http_downloads": [round(row.http_downloads, 2) for row in self.days],
            "torrent_fetches": [row.torrent_fetches for row in self.days],
            "magnet_fetches": [row.magnet_fetches for row in self.days],
            "origin_sent_bytes": [row.origin_sent_bytes for row in self.days],
            "delivered_bytes": [row.delivered_bytes for row in self.days],
            "swarm_at": [point.at.isoformat() for point in self.swarm],
            "seeders": [point.seeders for point in self.swarm],
            "leechers": [point.leechers for point in self.swarm],
        }


def first_day_of(release: Release) -> datetime.date:
    """The day (UTC) the release was created: nothing can be counted before it."""
    return release.created_at.astimezone(datetime.UTC).date()


def date_range(
    start: str | None, end: str | None, *, first_day: datetime.date
) -> tuple[datetime.date, datetime.date]:
    """The range asked for (ISO dates, either may be missing or malformed), within ``first_day``
    and today and at most MAX_DAYS; by default the last DEFAULT_DAYS, or fewer for a newer release."""
    today = timezone.now().date()
    # Days outside these bounds mean nothing here, and near the calendar's ends the range's
    # arithmetic would leave it (OverflowError): they are moved to the nearest bound.
    earliest = max(first_day, datetime.date.min + datetime.timedelta(days=MAX_DAYS))
    earliest = min(earliest, today)

    def parse(text: str | None) -> datetime.date | None:
        try:
            day = datetime.date.fromisoformat(text) if text else None
        except ValueError:
            return None
        return None if day is None else min(max(day, earliest), today)

    last = parse(end) or today
    first = parse(start) or max(earliest, last - datetime.timedelta(days=DEFAULT_DAYS - 1))
    if first > last:
        first, last = last, first
    if (last - first).days >= MAX_DAYS:
        first = last - datetime.timedelta(days=MAX_DAYS - 1)
    return first, last


def release_statistics(release: Release, start: datetime.date, end: datetime.date) -> ReleaseStatistics:
    """Every day from ``start`` to ``end`` (days without a row count zero), and the swarm's peaks."""
    stored = {
        row.day: row for row in ReleaseDayStats.objects.filter(release=release, day__gte=start, day__lte=end)
    }
    release_size = release.total_size
    days = []
    day = start
    while day <= end:
        row = stored.get(day)
        days.append(
            DayRow(
                day=day,
                release_size=release_size,
                **{name: getattr(row, name) if row else 0 for name in DAY_ROW_COUNTERS},
            )
        )
        day += datetime.timedelta(days=1)

    hourly = (end - start).days < HOURLY_UP_TO_DAYS
    bucket = TruncHour("taken_at") if hourly else TruncDay("taken_at")
    since = datetime.datetime.combine(start, datetime.time.min, tzinfo=datetime.UTC)
    until = datetime.datetime.combine(
        end + datetime.timedelta(days=1), datetime.time.min, tzinfo=datetime.UTC
    )
    points = (
        SwarmSample.objects.filter(release=release, taken_at__gte=since, taken_at__lt=until)
        .annotate(bucket=bucket)
        .values("bucket")
        .annotate(seeders=Max("seeders"), leechers=Max("leechers"))
        .order_by("bucket")
    )
    swarm = [SwarmPoint(at=p["bucket"], seeders=p["seeders"], leechers=p["leechers"]) for p in points]
    return ReleaseStatistics(
        start=start,
        end=end,
        days=days,
        swarm=swarm,
        swarm_step="hour" if hourly else "day",
        release_size=release_size,
    )
