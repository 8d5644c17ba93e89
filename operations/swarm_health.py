"""How every active swarm, seeder node and torrent build is doing: the dashboard's and /metrics' reads.

Seeders and leechers are the tracker's latest sample of each release, as its
ReleaseTotals row keeps it;
what the origin does comes from the seeder nodes' heartbeats, as
seeder.selectors reads them (live nodes only).
Two queries read the few figures of every published release (its totals row
and today's statistics row); totals, flags and the worst-first order
are worked out from them here, and only the page's releases are read in full.
"""

from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db.models import (
    BooleanField,
    Case,
    Count,
    F,
    IntegerField,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from distribution.models import Release, ReleaseDayStats, ReleaseTotals
from seeder import selectors as seeder_selectors
from seeder.models import SeederNode, Seeding, alive_since


class Health:
    """A swarm's worst problem; lower is worse."""

    DATA_MISSING = 0  # a seeder node cannot read the release's files
    ORIGIN_DOWN = 1  # no alive seeder node seeds it
    STALLED = 2  # leechers wait and nobody has a full copy
    NO_SEEDER = 3  # nobody has a full copy, and nobody is waiting
    HEALTHY = 4


@dataclass(frozen=True)
class SwarmState:
    release_id: int
    seeders: int
    leechers: int
    completed_today: int
    origin_nodes: int  # live seeder nodes of ours seeding it
    data_missing: bool  # a live node cannot serve its files
    seeding_error: str

    @property
    def origin_seeding(self) -> bool:
        return self.origin_nodes > 0

    @property
    def stalled(self) -> bool:
        return self.seeders == 0 and self.leechers > 0

    @property
    def health(self) -> int:
        if self.data_missing:
            return Health.DATA_MISSING
        if not self.origin_seeding:
            return Health.ORIGIN_DOWN
        if self.stalled:
            return Health.STALLED
        if self.seeders == 0:
            return Health.NO_SEEDER
        return Health.HEALTHY


def swarm_states() -> list[SwarmState]:
    """Every published release's swarm, worst first (then most leechers, then newest)."""
    zero = Value(0, output_field=IntegerField())
    rows = (
        Release.objects.filter(status=Release.Status.PUBLISHED)
        .annotate(seeders=Coalesce("totals__seeders", zero), leechers=Coalesce("totals__leechers", zero))
        .order_by("-published_at", "-pk")
        .values_list("pk", "seeders", "leechers")
    )
    completed_today = dict(
        ReleaseDayStats.objects.filter(day=timezone.now().date()).values_list("release_id", "completed")
    )
    ours = seeder_selectors.live_seeders_per_release()
    broken = seeder_selectors.unhealthy_releases()
    states = [
        SwarmState(
            pk,
            seeders,
            leechers,
            completed_today.get(pk, 0),
            ours.get(pk, 0),
            pk in broken,
            broken.get(pk, ""),
        )
        for pk, seeders, leechers in rows
    ]
    # Stable sort: within a health and a leecher count, the newest stays first.
    states.sort(key=lambda state: (state.health, -state.leechers))
    return states


def swarm_details(states: list[SwarmState]) -> list[Release]:
    """The releases of these states, in their order, with product, last sample time and ``swarm``."""
    releases = (
        Release.objects.filter(pk__in=[state.release_id for state in states])
        .select_related("product")
        .annotate(sampled_at=F("totals__sampled_at"))
    )
    by_id = {release.pk: release for release in releases}
    details = []
    for state in states:
        release = by_id.get(state.release_id)
        if release is not None:
            release.swarm = state
            details.append(release)
    return details


@dataclass(frozen=True)
class SwarmTotals:
    releases: int
    swarms_with_peers: int
    seeders: int
    leechers: int
    completed_today: int
    no_seeder: int
    stalled: int
    origin_down: int
    data_missing: int
    unhealthy: int

    @classmethod
    def of(cls, states: list[SwarmState]) -> "SwarmTotals":
        return cls(
            releases=len(states),
            swarms_with_peers=sum(1 for s in states if s.seeders or s.leechers),
            seeders=sum(s.seeders for s in states),
            leechers=sum(s.leechers for s in states),
            completed_today=sum(s.completed_today for s in states),
            no_seeder=sum(1 for s in states if s.seeders == 0),
            stalled=sum(1 for s in states if s.stalled),
            origin_down=sum(1 for s in states if not s.origin_seeding),
            data_missing=sum(1 for s in states if s.data_missing),
            unhealthy=sum(1 for s in states if s.health < Health.NO_SEEDER),
        )

    @property
    def announces_per_second(self) -> float:
        """Estimated: in the steady state every peer announces once per interval."""
        return (self.seeders + self.leechers) / settings.FANOUT_ANNOUNCE_INTERVAL

    @property
    def announces_per_minute(self) -> float:
        return 60 * self.announces_per_second


def seeder_nodes() -> QuerySet[SeederNode]:
    """Every seeder node with what it seeds and whether its heartbeat is recent."""
    return SeederNode.objects.annotate(
        releases_seeded=Count("seedings", filter=Q(seedings__state=Seeding.State.SEEDING)),
        releases_in_error=Count("seedings", filter=Q(seedings__state=Seeding.State.ERROR)),
        alive=Case(
            When(last_heartbeat_at__gte=alive_since(), then=Value(True)),
            default=Value(False),
            output_field=BooleanField(),
        ),
    ).order_by("name")


def releases_by_status() -> dict[str, int]:
    counts = dict.fromkeys(Release.Status.values, 0)
    for row in Release.objects.order_by().values("status").annotate(n=Count("pk")):
        counts[row["status"]] = row["n"]
    return counts


def failed_builds(limit: int = 10) -> QuerySet[Release]:
    return (
        Release.objects.filter(status=Release.Status.FAILED)
        .select_related("product")
        .order_by("-created_at")[:limit]
    )


def build_queue_length() -> int | None:
    """Tasks waiting in Celery's default queue, or None when the broker cannot be asked."""
    if settings.REDIS_URL:
        import redis

        try:
            client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=0.5, socket_connect_timeout=0.5)
            return int(client.llen("celery"))
        except redis.RedisError:
            return None
    folder = Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"])
    try:
        return sum(1 for entry in folder.iterdir() if entry.is_file())
    except OSError:
        return None


def all_time_counters(fields: list[str]) -> dict[str, int]:
    return ReleaseTotals.objects.aggregate(**{field: Coalesce(Sum(field), 0) for field in fields})
