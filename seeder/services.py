"""Writes of seeder node state: a node starting, its heartbeats, its stopping."""

from collections.abc import Iterable
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from distribution.statistics import add_release_counts, record_origin_seeding
from seeder import selectors
from seeder.models import (
    HEARTBEAT_INTERVAL,
    MISSED_HEARTBEATS_BEFORE_DEAD,
    SeederNode,
    Seeding,
    UploadCount,
)
from seeder.session import TorrentReport


def register_node(
    *, name: str, listen_port: int, version: str, listen_host: str = "", copies: int = 0
) -> SeederNode:
    """Record a node starting; what an earlier run of it reported no longer holds."""
    now = timezone.now()
    with transaction.atomic():
        node, _ = SeederNode.objects.update_or_create(
            name=name,
            defaults={
                "listen_host": listen_host,
                "listen_port": listen_port,
                "version": version,
                "copies": copies,
                "started_at": now,
                "last_heartbeat_at": now,
                "upload_rate": 0,
                "error_message": "",
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


def record_heartbeat(*, node: SeederNode, reports: Iterable[TorrentReport], node_error: str = "") -> None:
    """Replace the node's seedings with what it reports now, mark it alive, count its upload."""
    now = timezone.now()
    reports = list(reports)
    rows = [
        Seeding(
            node=node,
            release_id=report.release_id,
            state=seeding_state(report),
            error_message=report.error,
            uploaded_bytes=report.uploaded_bytes,
            upload_rate=report.upload_rate,
            peers=report.peers,
            updated_at=now,
        )
        for report in reports
    ]
    seeded_before = _seeded_releases(node)
    with transaction.atomic():
        Seeding.objects.bulk_create(
            rows,
            update_conflicts=True,
            unique_fields=["node", "release"],
            update_fields=["state", "error_message", "uploaded_bytes", "upload_rate", "peers", "updated_at"],
        )
        # Every reported row now carries `now`: older ones are releases the node let go.
        node.seedings.filter(updated_at__lt=now).delete()
        SeederNode.objects.filter(pk=node.pk).update(
            last_heartbeat_at=now, upload_rate=sum(row.upload_rate for row in rows), error_message=node_error
        )
        count_uploads(node=node, uploaded={report.release_id: report.uploaded_bytes for report in reports})
    seeded = {row.release_id for row in rows if row.state == Seeding.State.SEEDING}
    # As long as this node is taken for alive, unless its next heartbeat says otherwise.
    _record_origin_seeding(seeded, until=now + HEARTBEAT_INTERVAL * MISSED_HEARTBEATS_BEFORE_DEAD)
    _record_origin_seeding(seeded_before - seeded, until=None)


def _seeded_releases(node: SeederNode) -> set[int]:
    return set(node.seedings.filter(state=Seeding.State.SEEDING).values_list("release_id", flat=True))


def _record_origin_seeding(release_ids: set[int], *, until: datetime | None) -> None:
    """Tell distribution how many live nodes seed these releases, for the web seed's policy."""
    if release_ids:
        live = selectors.live_seeders_per_release()
        record_origin_seeding({pk: live.get(pk, 0) for pk in release_ids}, until=until)


def count_uploads(*, node: SeederNode, uploaded: dict[int, int]) -> None:
    """Add what each release's upload counter grew by since last time to its origin bytes.

    A counter below the last one counted was reset (the release seeded afresh)
    or rolled back (a crash lost the newest resume data): from there on it
    grows by what is really sent, so it becomes the new mark and adds nothing.
    A release the node let go loses its mark: its counter starts again at 0.
    """
    with transaction.atomic():
        marks = {
            count.release_id: count for count in UploadCount.objects.select_for_update().filter(node=node)
        }
        for release_id, reported in uploaded.items():
            mark = marks.get(release_id)
            if mark is None:
                UploadCount.objects.create(node=node, release_id=release_id, reported_bytes=reported)
                add_release_counts(release_id=release_id, counts={"origin_bytes": reported})
            elif reported != mark.reported_bytes:
                if reported > mark.reported_bytes:
                    add_release_counts(
                        release_id=release_id, counts={"origin_bytes": reported - mark.reported_bytes}
                    )
                UploadCount.objects.filter(pk=mark.pk).update(reported_bytes=reported)
        gone = marks.keys() - uploaded.keys()
        if gone:
            UploadCount.objects.filter(node=node, release_id__in=gone).delete()


def stop_node(*, node: SeederNode) -> None:
    """Record a node stopping: it seeds nothing any more."""
    seeded = _seeded_releases(node)
    with transaction.atomic():
        node.seedings.all().delete()
        SeederNode.objects.filter(pk=node.pk).update(upload_rate=0)
    _record_origin_seeding(seeded, until=None)
