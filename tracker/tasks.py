"""Celery tasks of the tracker. Task names are a wire contract."""

from celery import shared_task
from django.conf import settings

from tracker.statistics_flush import configured_swarm_store, flush_statistics


@shared_task(name="tracker.flush_statistics")
def flush_tracker_statistics() -> int:
    """Move the swarm statistics from Redis to the database (scheduled in CELERY_BEAT_SCHEDULE).

    Without REDIS_URL the statistics live in each tracker process (runtracker, the web
    process's /announce), which flushes its own.
    """
    if not settings.REDIS_URL:
        return 0
    store = configured_swarm_store()
    try:
        return flush_statistics(store)
    finally:
        store.client.close()
