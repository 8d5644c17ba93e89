"""Seeder nodes and what each of them seeds, as their heartbeats report it."""

from datetime import datetime, timedelta

from django.db import models
from django.utils import timezone

from distribution.models import Release

HEARTBEAT_INTERVAL = timedelta(seconds=2)
# A node that has missed this many heartbeats is taken for dead: long enough to
# ride out a slow database write, short enough that `publish --wait` does not
# trust a node that has crashed.
MISSED_HEARTBEATS_BEFORE_DEAD = 5


def alive_since() -> datetime:
    return timezone.now() - HEARTBEAT_INTERVAL * MISSED_HEARTBEATS_BEFORE_DEAD


class SeederNode(models.Model):
    name = models.CharField(max_length=200, unique=True)
    listen_host = models.CharField(max_length=255, blank=True, help_text="Host name or address peers reach.")
    listen_port = models.PositiveIntegerField()
    version = models.CharField(max_length=100)
    started_at = models.DateTimeField(default=timezone.now)
    last_heartbeat_at = models.DateTimeField(default=timezone.now)
    upload_rate = models.PositiveBigIntegerField(
        default=0, help_text="Payload bytes per second, all releases."
    )
    copies = models.PositiveIntegerField(
        default=0, help_text="Nodes each release is seeded by, this one's setting; 0: it seeds every release."
    )
    error_message = models.TextField(blank=True, help_text="A node-wide fault, e.g. its state disk is full.")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_alive(self) -> bool:
        return self.last_heartbeat_at >= alive_since()

    @property
    def listen_address(self) -> str:
        return f"{self.listen_host}:{self.listen_port}" if self.listen_host else f":{self.listen_port}"


class Seeding(models.Model):
    class State(models.TextChoices):
        CHECKING = "checking", "Checking"
        ANNOUNCING = "announcing", "Waiting for the tracker"
        SEEDING = "seeding", "Seeding"
        ERROR = "error", "Error"

    node = models.ForeignKey(SeederNode, on_delete=models.CASCADE, related_name="seedings")
    release = models.ForeignKey(Release, on_delete=models.CASCADE, related_name="seedings")
    state = models.CharField(max_length=12, choices=State.choices)
    error_message = models.TextField(blank=True)
    uploaded_bytes = models.PositiveBigIntegerField(
        default=0, help_text="Payload bytes, all time: kept across restarts."
    )
    upload_rate = models.PositiveBigIntegerField(default=0, help_text="Payload bytes per second.")
    peers = models.PositiveIntegerField(default=0, help_text="Peers connected to the node for this release.")
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["node", "release"]
        constraints = [
            models.UniqueConstraint(fields=["node", "release"], name="unique_seeding_per_node"),
        ]

    def __str__(self) -> str:
        return f"{self.release} on {self.node}: {self.state}"


class UploadCount(models.Model):
    """How far a node's upload counter for a release has been added to the release's statistics.

    libtorrent's counter (kept in resume data) is cumulative; each heartbeat
    adds only what it grew by. The row outlives restarts, unlike a Seeding.
    """

    node = models.ForeignKey(SeederNode, on_delete=models.CASCADE, related_name="upload_counts")
    release = models.ForeignKey(Release, on_delete=models.CASCADE, related_name="+")
    reported_bytes = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["node", "release"], name="unique_upload_count_per_node"),
        ]

    def __str__(self) -> str:
        return f"{self.release_id} on {self.node_id}: {self.reported_bytes} bytes counted"
