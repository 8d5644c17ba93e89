"""Celery tasks of the distribution app. Task names are a wire contract."""

from celery import shared_task

from distribution import audit, services, uploads


@shared_task(
    name="distribution.build_torrent", acks_late=True, soft_time_limit=3 * 3600, time_limit=3 * 3600 + 60
)
def build_torrent(release_id: int) -> None:
    services.build_release_torrent(release_id=release_id)


@shared_task(name="distribution.requeue_stalled_builds")
def requeue_stalled_builds() -> None:
    services.requeue_stalled_builds()


@shared_task(name="distribution.expire_uploads")
def expire_uploads() -> None:
    uploads.expire_uploads()


@shared_task(name="distribution.purge_retired_files")
def purge_retired_files() -> None:
    services.purge_retired_files()


@shared_task(name="distribution.purge_audit_log")
def purge_audit_log() -> None:
    audit.purge_expired_entries()
