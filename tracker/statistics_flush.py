"""From the swarm store to the database: per-release daily counters and swarm samples.

The announce path only adds to counters in the store (memory or Redis); this
module takes them (atomically, so two flushes never count the same announce
twice) and writes them with ``distribution.statistics.add_counts_of_releases``,
plus one ``SwarmSample`` per swarm that has peers or was announced to since
the previous flush (``record_swarm_samples``, which also makes it the
release's current seeders and leechers). With Redis the Celery beat task
``tracker.flush_statistics`` calls ``flush_statistics``; with the memory store
the process holding it does (runtracker on its database thread, the web
process on requests), every FANOUT_TRACKER_STATS_FLUSH_SECONDS.
"""

import time
from collections import Counter
from collections.abc import Sequence

import redis
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from distribution.models import Release, SwarmSample
from distribution.statistics import add_counts_of_releases, record_swarm_samples
from tracker.swarm_store import MemorySwarmStore, RedisSwarmStore, SwarmStatistics, SwarmStore

# A Redis that stops answering (frozen, or cut off by the network) must not hold a tracker's
# loop: a call gives up after this long, and the client is told to announce again later.
REDIS_TIMEOUT_SECONDS = 1.0


def configured_swarm_store() -> SwarmStore:
    """The store the settings ask for: Redis with REDIS_URL, else this process's memory."""
    if not settings.REDIS_URL:
        return MemorySwarmStore(peer_ttl=settings.FANOUT_PEER_TTL)
    # Swarm ids are release ids of one database: the keys name it, so that two
    # instances sharing a Redis never mix their swarms.
    return RedisSwarmStore(
        redis.Redis.from_url(
            settings.REDIS_URL,
            socket_timeout=REDIS_TIMEOUT_SECONDS,
            socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
        ),
        peer_ttl=settings.FANOUT_PEER_TTL,
        prefix=f"fanout:tracker:{connection.settings_dict['NAME']}:",
    )


def flushes_own_statistics(store: SwarmStore) -> bool:
    """Whether the process holding ``store`` writes its statistics itself.

    The memory store's are in this process alone; Redis's are taken by the
    Celery beat task, and a second taker would only race it.
    """
    return isinstance(store, MemorySwarmStore)


def write_statistics(taken: Sequence[SwarmStatistics]) -> int:
    """Add taken statistics to today's rows and sample the swarms; returns the samples written."""
    if not taken:
        return 0
    existing = set(Release.objects.filter(id__in={t.swarm_id for t in taken}).values_list("id", flat=True))
    now = timezone.now()
    counts: dict[int, Counter[str]] = {}
    samples = []
    for t in taken:
        if t.swarm_id not in existing:  # a release deleted since
            continue
        counts.setdefault(t.swarm_id, Counter()).update(
            completed=t.completed, reported_uploaded_bytes=t.uploaded, reported_downloaded_bytes=t.downloaded
        )
        samples.append(
            SwarmSample(release_id=t.swarm_id, taken_at=now, seeders=t.seeders, leechers=t.leechers)
        )
    with transaction.atomic():
        add_counts_of_releases(counts, day=now.date())
        record_swarm_samples(samples)
    return len(samples)


def merged_statistics(
    earlier: Sequence[SwarmStatistics], later: Sequence[SwarmStatistics]
) -> list[SwarmStatistics]:
    """Statistics not written yet and those taken since, one per swarm: the counts add up, and the
    swarm's size is the later one."""
    merged = {statistics.swarm_id: statistics for statistics in earlier}
    for statistics in later:
        before = merged.get(statistics.swarm_id)
        merged[statistics.swarm_id] = (
            statistics
            if before is None
            else statistics._replace(
                completed=before.completed + statistics.completed,
                uploaded=before.uploaded + statistics.uploaded,
                downloaded=before.downloaded + statistics.downloaded,
            )
        )
    return list(merged.values())


def flush_statistics(store: SwarmStore) -> int:
    """Take the store's statistics and write them; returns the samples written."""
    return write_statistics(store.take_statistics(time.time()))
