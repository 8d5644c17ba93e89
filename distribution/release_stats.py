"""A release's statistics over a date range: the daily counters, its swarm over time, the offload."""

import datetime
from dataclasses import dataclass

from django.db.models import Max
from django.db.models.functions import TruncDay, TruncHour
from django.utils import timezone

from distribution.models import Release, ReleaseDayStats, SwarmSample

DEFAULT_DAYS = 30
MAX_DAYS = 731
# Up to this many days the swarm chart has a point per hour, beyond it one per day.
HOURLY_UP_TO_DAYS = 14


@dataclass(frozen=True)
class DayRow:
    day: datetime.date
    completed: int
    torrent_fetches: int
    magnet_fetches: int
    http_requests: int
    http_bytes: int
    origin_bytes: int
    reported_downloaded_bytes: int

    @property
    def origin_sent_bytes(self) -> int:
        """Everything the origin served: its seeders' uploads and its HTTP (web seed, direct) bytes."""
        return self.origin_bytes + self.http_bytes

    @property
    def delivered_bytes(self) -> int:
        """What downloaders received, as their BitTorrent clients told the tracker."""
        return self.reported_downloaded_bytes

    @property
    def offload_ratio(self) -> float | None:
        return self.delivered_bytes / self.origin_sent_bytes if self.origin_sent_bytes else None


CSV_COLUMNS = (
    "day",
    "completed",
    "torrent_fetches",
    "magnet_fetches",
    "http_requests",
    "http_bytes",
    "origin_bytes",
    "reported_downloaded_bytes",
    "origin_sent_bytes",
    "offload_ratio",
)


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

    @property
    def totals(self) -> DayRow:
        fields = [name for name in DayRow.__dataclass_fields__ if name != "day"]
        return DayRow(day=self.end, **{name: sum(getattr(row, name) for row in self.days) for name in fields})

    def chart_data(self) -> dict:
        return {
            "days": [row.day.isoformat() for row in self.days],
            "completed": [row.completed for row in self.days],
            "torrent_fetches": [row.torrent_fetches for row in self.days],
            "magnet_fetches": [row.magnet_fetches for row in self.days],
            "http_requests": [row.http_requests for row in self.days],
            "origin_sent_bytes": [row.origin_sent_bytes for row in self.days],
            "delivered_bytes": [row.delivered_bytes for row in self.days],
            "swarm_at": [point.at.isoformat() for point in self.swarm],
            "seeders": [point.seeders for point in self.swarm],
            "leechers": [point.leechers for point in self.swarm],
        }


def date_range(start: str | None, end: str | None) -> tuple[datetime.date, datetime.date]:
    """The range asked for (ISO dates, either may be missing or malformed), clamped to MAX_DAYS."""
    today = timezone.now().date()

    def parse(text: str | None) -> datetime.date | None:
        try:
            return datetime.date.fromisoformat(text) if text else None
        except ValueError:
            return None

    last = parse(end) or today
    first = parse(start) or last - datetime.timedelta(days=DEFAULT_DAYS - 1)
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
    days = []
    day = start
    while day <= end:
        row = stored.get(day)
        days.append(
            DayRow(
                day=day,
                completed=row.completed if row else 0,
                torrent_fetches=row.torrent_fetches if row else 0,
                magnet_fetches=row.magnet_fetches if row else 0,
                http_requests=row.http_requests if row else 0,
                http_bytes=row.http_bytes if row else 0,
                origin_bytes=row.origin_bytes if row else 0,
                reported_downloaded_bytes=row.reported_downloaded_bytes if row else 0,
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
        start=start, end=end, days=days, swarm=swarm, swarm_step="hour" if hourly else "day"
    )
