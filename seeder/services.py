"""Writes of seeder node state: a node starting, its heartbeats, its stopping."""

from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from seeder.models import SeederNode, Seeding
from seeder.session import TorrentReport


def register_node(*, name: str, listen_port: int, version: str) -> SeederNode:
    """Record a node starting; what an earlier run of it reported no longer holds."""
    now = timezone.now()
    with transaction.atomic():
        node, _ = SeederNode.objects.update_or_create(
            name=name,
            defaults={
                "listen_port": listen_port,
                "version": version,
                "started_at": now,
                "last_heartbeat_at": now,
                "upload_rate": 0,
            },
        )
        node.seedings.all().delete()
    return node


def seeding_state(report: TorrentReport) -> Seeding.State:
    if report.error:
        return Seeding.State.ERROR
    if report.checking:
        return Seeding.State.CHECKING
    if not report.announced:
        return Seeding.State.ANNOUNCING
    return Seeding.State.SEEDING


def record_heartbeat(*, node: SeederNode, reports: Iterable[TorrentReport]) -> None:
    """Replace the node's seedings with what it reports now, and mark it alive."""
    now = timezone.now()
    rows = [
        Seeding(
            node=node,
            release_id=report.release_id,
            state=seeding_state(report),
            error_message=report.error,
            uploaded_bytes=report.uploaded_bytes,
            upload_rate=report.upload_rate,
            updated_at=now,
        )
        for report in reports
    ]
    with transaction.atomic():
        Seeding.objects.bulk_create(
            rows,
            update_conflicts=True,
            unique_fields=["node", "release"],
            update_fields=["state", "error_message", "uploaded_bytes", "upload_rate", "updated_at"],
        )
        # Every reported row now carries `now`: older ones are releases the node let go.
        node.seedings.filter(updated_at__lt=now).delete()
        SeederNode.objects.filter(pk=node.pk).update(
            last_heartbeat_at=now, upload_rate=sum(row.upload_rate for row in rows)
        )


def stop_node(*, node: SeederNode) -> None:
    """Record a node stopping: it seeds nothing any more."""
    with transaction.atomic():
        node.seedings.all().delete()
        SeederNode.objects.filter(pk=node.pk).update(upload_rate=0)
