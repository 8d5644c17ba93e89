"""Products, their releases, the files of a release and its torrent; the passkeys that open private ones."""

import secrets
import uuid
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone


def update_if(instance: models.Model, condition: Q, **changes) -> bool:
    """One transition as a single conditional UPDATE of ``instance``'s row.

    Of two callers racing, the database lets exactly one through, and that one
    alone is told True (and sees ``changes`` on its instance).
    """
    updated = type(instance).objects.filter(condition, pk=instance.pk).update(**changes)
    if updated:
        for name, value in changes.items():
            setattr(instance, name, value)
    return bool(updated)


class Product(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    # Everyone with a role on the product (ProductRole), maintainers too: all of them publish to it.
    publishers = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="ProductRole", blank=True, related_name="products"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def role_of(self, user) -> str | None:
        """The user's ProductRole.Role on this product; None without one (or signed out, or inactive)."""
        if not user.is_authenticated or not user.is_active:
            return None
        return self.roles.filter(user=user).values_list("role", flat=True).first()

    def can_publish(self, user) -> bool:
        """Staff, and the product's publishers and maintainers, publish to it and see all its releases."""
        return (user.is_active and user.is_staff) or self.role_of(user) is not None

    def can_maintain(self, user) -> bool:
        """Staff and the product's maintainers manage its roles and every one of its releases."""
        return (user.is_active and user.is_staff) or self.role_of(user) == ProductRole.Role.MAINTAINER


class ProductRole(models.Model):
    """A user's part in one product. A maintainer manages the product: who publishes to it and
    who maintains it, and all its releases. A publisher publishes to it and manages the releases
    they made. Staff may do both everywhere without a role."""

    class Role(models.TextChoices):
        MAINTAINER = "maintainer", "Maintainer"
        PUBLISHER = "publisher", "Publisher"

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="roles")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="product_roles")
    role = models.CharField(max_length=12, choices=Role.choices, default=Role.PUBLISHER)
    granted_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["product", "role", "user"]
        constraints = [models.UniqueConstraint(fields=["product", "user"], name="one_role_per_product_user")]

    def __str__(self) -> str:
        return f"{self.user} is {self.role} of {self.product}"


class Tag(models.Model):
    name = models.CharField(max_length=50, unique=True)
    slug = models.SlugField(max_length=50, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Release(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        UPLOADING = "uploading", "Uploading"
        PROCESSING = "processing", "Processing"
        PUBLISHED = "published", "Published"
        FAILED = "failed", "Failed"
        RETIRED = "retired", "Retired"

    # A release's files may be sent, replaced or removed only before its build starts.
    FILES_MAY_CHANGE_IN = (Status.DRAFT, Status.UPLOADING)
    # Never seen by a downloader (no torrent was ever handed out): the release may go entirely.
    DELETABLE_IN = (Status.DRAFT, Status.UPLOADING, Status.FAILED)

    class Visibility(models.TextChoices):
        PUBLIC = "public", "Public"
        PRIVATE = "private", "Private"

    class TorrentFormat(models.TextChoices):
        V1 = "v1", "BitTorrent v1"
        HYBRID = "hybrid", "Hybrid v1 + v2"
        V2 = "v2", "BitTorrent v2"

    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="releases")
    version = models.CharField(max_length=100)
    notes = models.TextField(blank=True)
    tags = models.ManyToManyField(Tag, blank=True, related_name="releases")
    visibility = models.CharField(max_length=10, choices=Visibility.choices, default=Visibility.PUBLIC)
    audience = models.ManyToManyField(
        "auth.Group",
        blank=True,
        related_name="private_releases",
        help_text="Groups that may see this private release; none: every signed-in user. "
        "The product's publishers and staff always may.",
    )
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.DRAFT, db_index=True)
    failure_reason = models.TextField(blank=True)
    torrent_format = models.CharField(max_length=8, choices=TorrentFormat.choices)
    # The files live under RELEASES_DIR/<storage_key>/: a name that exists
    # before the row does, so files are stored outside the transaction.
    storage_key = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    content_name = models.CharField(max_length=255)
    is_single_file = models.BooleanField(default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    published_at = models.DateTimeField(null=True, blank=True)
    retired_at = models.DateTimeField(null=True, blank=True)
    files_purged_at = models.DateTimeField(
        null=True, blank=True, help_text="When a retired release's files were removed from disk."
    )
    build_pieces_done = models.PositiveIntegerField(default=0)
    build_pieces_total = models.PositiveIntegerField(default=0)
    build_updated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["product", "version"], name="unique_version_per_product"),
        ]
        indexes = [
            # The catalogue's first page: published releases, newest first.
            models.Index(
                fields=["-published_at", "-id"],
                condition=models.Q(status="published"),
                name="release_published_newest",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.product.name} {self.version}"

    def get_absolute_url(self) -> str:
        return reverse("release-detail", args=[self.pk])

    @property
    def is_public(self) -> bool:
        return self.visibility == self.Visibility.PUBLIC

    def can_be_managed_by(self, user) -> bool:
        """Its product's maintainers and staff manage every release (retry, retire, delete, edit,
        upload, statistics); a publisher, the releases they made."""
        role = self.product.role_of(user)
        if (user.is_active and user.is_staff) or role == ProductRole.Role.MAINTAINER:
            return True
        return role == ProductRole.Role.PUBLISHER and self.created_by_id == user.pk

    @property
    def content_dir(self) -> Path:
        return settings.RELEASES_DIR / str(self.storage_key)

    def disk_path(self, relative_path: str) -> Path:
        if self.is_single_file:
            return self.content_dir / relative_path
        return self.content_dir / self.content_name / relative_path

    @property
    def web_seed_url(self) -> str:
        """The web seed its torrent names (BEP 19): paced by the web seed policy, unlike the
        direct downloads of ``ReleaseFile.download_url``."""
        return settings.FANOUT_PUBLIC_URL + reverse("release-webseed-root", args=[self.pk])

    @property
    def total_size(self) -> int:
        return self.files.aggregate(total=models.Sum("size"))["total"] or 0

    @property
    def build_percent(self) -> int:
        if not self.build_pieces_total:
            return 0
        return min(100, 100 * self.build_pieces_done // self.build_pieces_total)

    def record_build_progress(self, done: int, total: int) -> None:
        Release.objects.filter(pk=self.pk).update(
            build_pieces_done=done, build_pieces_total=total, build_updated_at=timezone.now()
        )

    @property
    def files_may_change(self) -> bool:
        return self.status in self.FILES_MAY_CHANGE_IN

    @property
    def may_be_deleted(self) -> bool:
        return self.status in self.DELETABLE_IN

    @property
    def files_purge_due(self) -> datetime | None:
        """When a retired release's files are to be removed; None if they never are (or are gone)."""
        days = settings.FANOUT_RETIRED_PURGE_DAYS
        if self.status != self.Status.RETIRED or not days or self.files_purged_at or not self.retired_at:
            return None
        return self.retired_at + timedelta(days=days)

    # One method per transition. Each is a single conditional UPDATE: of two
    # callers racing, the database lets exactly one through, and that one alone
    # is told True.

    def start_uploading(self) -> bool:
        """Draft to uploading when the first byte is on its way."""
        return update_if(self, Q(status=self.Status.DRAFT), status=self.Status.UPLOADING)

    def start_processing(self) -> bool:
        """Draft or uploading to processing: every file is sent, the build may start."""
        return self._start_build(Q(status__in=self.FILES_MAY_CHANGE_IN))

    def publish(self) -> bool:
        """Processing to published: the torrent is built."""
        return update_if(
            self,
            Q(status=self.Status.PROCESSING),
            status=self.Status.PUBLISHED,
            failure_reason="",
            published_at=timezone.now(),
        )

    def fail(self, reason: str) -> bool:
        """Processing to failed, with the reason the publisher will read."""
        return update_if(
            self, Q(status=self.Status.PROCESSING), status=self.Status.FAILED, failure_reason=reason
        )

    def retry(self) -> bool:
        """Failed to processing, to build again from the start."""
        return self._start_build(Q(status=self.Status.FAILED))

    def retire(self) -> bool:
        """Published to retired: no longer tracked or seeded."""
        return update_if(
            self, Q(status=self.Status.PUBLISHED), status=self.Status.RETIRED, retired_at=timezone.now()
        )

    def mark_files_purged(self) -> bool:
        """Retired, its files just removed from disk: record it once."""
        return update_if(
            self, Q(status=self.Status.RETIRED, files_purged_at__isnull=True), files_purged_at=timezone.now()
        )

    def claim_stalled_build(self, *, stalled_before: datetime) -> bool:
        """Take a build whose progress stopped before ``stalled_before``, to queue it again.

        Claiming marks it as progressing now, so the next look finds it stalled
        only once it stops again.
        """
        return update_if(
            self,
            Q(status=self.Status.PROCESSING, build_updated_at__lt=stalled_before),
            build_updated_at=timezone.now(),
        )

    def _start_build(self, condition: Q) -> bool:
        return update_if(
            self,
            condition,
            status=self.Status.PROCESSING,
            failure_reason="",
            build_pieces_done=0,
            build_updated_at=timezone.now(),
        )


class ReleaseFile(models.Model):
    release = models.ForeignKey(Release, on_delete=models.CASCADE, related_name="files")
    path = models.CharField(max_length=1024, help_text="Relative path inside the release, with / separators.")
    size = models.BigIntegerField()
    sha256 = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["path"]
        constraints = [
            models.UniqueConstraint(fields=["release", "path"], name="unique_path_per_release"),
        ]

    def __str__(self) -> str:
        return self.path

    @property
    def disk_path(self) -> Path:
        return self.release.disk_path(self.path)

    @property
    def download_url(self) -> str:
        if self.release.is_single_file:
            return reverse("release-file", args=[self.release_id, self.path])
        return reverse("release-file", args=[self.release_id, f"{self.release.content_name}/{self.path}"])


class Torrent(models.Model):
    release = models.OneToOneField(Release, on_delete=models.CASCADE, related_name="torrent")
    info_hash_v1 = models.CharField(max_length=40, null=True, blank=True, unique=True)
    info_hash_v2 = models.CharField(max_length=64, null=True, blank=True, unique=True)
    piece_length = models.PositiveIntegerField()
    piece_count = models.PositiveIntegerField()
    metainfo = models.BinaryField()
    magnet_uri = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"torrent of {self.release}"

    @property
    def announce_hashes(self) -> list[bytes]:
        """The 20-byte hashes clients announce: v1, and v2 truncated (BEP 52)."""
        hashes = []
        if self.info_hash_v1:
            hashes.append(bytes.fromhex(self.info_hash_v1))
        if self.info_hash_v2:
            hashes.append(bytes.fromhex(self.info_hash_v2)[:20])
        return hashes


class ReleaseCounters(models.Model):
    """The counters kept per release, per day and all-time; their names are listed here only."""

    torrent_fetches = models.PositiveBigIntegerField(default=0)
    magnet_fetches = models.PositiveBigIntegerField(default=0)
    completed = models.PositiveBigIntegerField(
        default=0, help_text="Completed downloads: once per peer the tracker saw leeching."
    )
    http_requests = models.PositiveBigIntegerField(
        default=0, help_text="Web seed and direct download requests."
    )
    http_bytes = models.PositiveBigIntegerField(
        default=0, help_text="Bytes served over HTTP: web seed and direct downloads."
    )
    web_seed_bytes = models.PositiveBigIntegerField(
        default=0, db_default=0, help_text="Of the HTTP bytes, those served to BitTorrent clients' web seeds."
    )
    origin_bytes = models.PositiveBigIntegerField(default=0, help_text="Bytes our seeders uploaded.")
    reported_uploaded_bytes = models.PositiveBigIntegerField(
        default=0, help_text="Upload peers told the tracker."
    )
    reported_downloaded_bytes = models.PositiveBigIntegerField(
        default=0, help_text="Download peers told the tracker."
    )

    class Meta:
        abstract = True


COUNTER_NAMES = tuple(field.name for field in ReleaseCounters._meta.local_fields)


class ReleaseDayStats(ReleaseCounters):
    """What happened to one release on one day (UTC). Counters only ever grow."""

    release = models.ForeignKey(Release, on_delete=models.CASCADE, related_name="day_stats")
    day = models.DateField()

    class Meta:
        verbose_name = verbose_name_plural = "release day stats"
        ordering = ["release", "day"]
        constraints = [
            models.UniqueConstraint(fields=["release", "day"], name="one_stats_row_per_release_day")
        ]
        # The dashboard reads every release's row of today in one look-up.
        indexes = [models.Index(fields=["day"], name="releasedaystats_day")]

    def __str__(self) -> str:
        return f"{self.release_id} on {self.day}"


class ReleaseTotals(ReleaseCounters):
    """A release's all-time counters and its swarm as last sampled, one row per release.

    Lists and sorts read these instead of summing a year of ReleaseDayStats or
    looking up each release's latest SwarmSample. distribution.statistics keeps
    them up to date where it writes those rows; a release with no row yet has
    zeros everywhere.
    """

    release = models.OneToOneField(Release, on_delete=models.CASCADE, primary_key=True, related_name="totals")
    seeders = models.PositiveIntegerField(default=0)
    leechers = models.PositiveIntegerField(default=0)
    sampled_at = models.DateTimeField(null=True, blank=True)
    # Our seeder nodes' word on the swarm, from their heartbeats: how many of them seed the
    # release (the tracker counts them among its seeders, until it forgets a crashed one), and
    # until when that holds unless a heartbeat renews it.
    origin_seeders = models.PositiveIntegerField(default=0)
    origin_seeding_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = verbose_name_plural = "release totals"

    def __str__(self) -> str:
        return f"totals of {self.release_id}"


class SwarmSample(models.Model):
    """The size of a release's swarm at one moment, for charts over time."""

    release = models.ForeignKey(Release, on_delete=models.CASCADE, related_name="swarm_samples")
    taken_at = models.DateTimeField(default=timezone.now)
    seeders = models.PositiveIntegerField()
    leechers = models.PositiveIntegerField()

    class Meta:
        indexes = [models.Index(fields=["release", "taken_at"])]

    def __str__(self) -> str:
        return f"{self.release_id} at {self.taken_at}: {self.seeders}/{self.leechers}"


class Upload(models.Model):
    """A resumable (tus) upload of one declared file of a release.

    The bytes go straight to the file's place in the release; ``offset`` is how
    many of them are stored. ``hashed_upto`` is how far the piece and block
    hashes kept beside the upload (``hash_state_dir``) reach, so the torrent
    build only hashes what they do not cover.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    release_file = models.OneToOneField(ReleaseFile, on_delete=models.CASCADE, related_name="upload")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    length = models.BigIntegerField()
    offset = models.BigIntegerField(default=0)
    hashed_upto = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    completed_at = models.DateTimeField(null=True, blank=True)
    fingerprint = models.CharField(
        max_length=100,
        blank=True,
        default="",
        help_text="What the client says identifies the file's content (the fanout command: its size and "
        "modification time); a creation with another one starts the unfinished upload over.",
    )

    class Meta:
        indexes = [models.Index(fields=["completed_at", "expires_at"])]

    def __str__(self) -> str:
        return f"upload {self.id} of {self.release_file.path}"

    @property
    def is_complete(self) -> bool:
        return self.completed_at is not None

    @property
    def hash_state_dir(self) -> Path:
        return settings.UPLOADS_DIR / "tus" / str(self.id)


PASSKEY_BYTES = 16  # 32 hex characters


def new_passkey() -> str:
    return secrets.token_hex(PASSKEY_BYTES)


class Passkey(models.Model):
    """The secret in ``/announce/<passkey>`` that opens private releases.

    One per user, random and unique; regenerating it makes the old one useless at once.
    """

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="passkey")
    key = models.CharField(max_length=2 * PASSKEY_BYTES, unique=True, default=new_passkey)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"passkey of {self.user}"

    @classmethod
    def for_user(cls, user) -> "Passkey":
        """The user's passkey, created on first use."""
        try:
            passkey, _ = cls.objects.get_or_create(user=user)
        except IntegrityError:  # created by a concurrent request (or, once in 2**128, a clash: try again)
            passkey, _ = cls.objects.get_or_create(user=user)
        return passkey

    def regenerate(self) -> None:
        """Replace the key; trackers drop the old one at their next whitelist refresh (seconds)."""
        self.key = new_passkey()
        self.created_at = timezone.now()
        self.save(update_fields=["key", "created_at"])


NODE_CREDENTIAL_BYTES = 32  # 64 hex characters


class NodeCredential(models.Model):
    """What a seeder node announces private swarms with, ``/announce/<credential>``; kept as its SHA-256.

    A node issues itself a new credential each time it starts
    (``distribution.access.issue_node_credential``) and holds the clear one in
    memory only. Revoking one makes the trackers refuse it at their next
    whitelist refresh, and stops the node issuing itself another until an
    admin allows it again.
    """

    node_name = models.CharField(max_length=200, unique=True, help_text="The seeder node's --name.")
    # Hex SHA-256 of the credential's ASCII bytes, as the tracker hashes what arrives; empty: none valid.
    credential_sha256 = models.CharField(max_length=64, blank=True, editable=False)
    issued_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(
        null=True, blank=True, help_text="While set, the node's private announces are refused."
    )

    class Meta:
        verbose_name = "seeder node credential"
        ordering = ["node_name"]

    def __str__(self) -> str:
        return f"credential of seeder node {self.node_name}"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    def revoke(self) -> bool:
        """Refuse the node's credential and stop it issuing itself a new one; False if already revoked."""
        return update_if(self, Q(revoked_at__isnull=True), revoked_at=timezone.now(), credential_sha256="")

    def allow_again(self) -> bool:
        """Let a revoked node issue itself a credential when it next starts; False if not revoked."""
        return update_if(self, Q(revoked_at__isnull=False), revoked_at=None)

    def replace(self, credential_sha256: str) -> bool:
        """Make this the node's only valid credential; False (and nothing changed) while it is revoked."""
        return update_if(
            self, Q(revoked_at__isnull=True), credential_sha256=credential_sha256, issued_at=timezone.now()
        )


API_TOKEN_PREFIX = "fo_"  # tells a Fanout token apart in a CI secret store or a leaked log


class ApiToken(models.Model):
    """What a machine (a CI pipeline, a fleet's ``fanout get``) sends as ``Authorization: Bearer <token>``.

    Kept as its SHA-256 and a short prefix to recognise it by; the clear token is
    shown once, when it is made (distribution.api_tokens.issue_api_token).
    """

    class Scope(models.TextChoices):
        READ = "read", "Read: browse and download what its user may see"
        PUBLISH = "publish", "Publish: also create, upload, publish and retire its user's releases"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, help_text="What it is for, e.g. the pipeline that uses it.")
    scope = models.CharField(max_length=10, choices=Scope.choices, default=Scope.READ)
    token_sha256 = models.CharField(max_length=64, unique=True, editable=False)
    prefix = models.CharField(max_length=12, editable=False, help_text="The token's first characters.")
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "API token"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…) of {self.user}"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    @property
    def may_write(self) -> bool:
        return self.scope == self.Scope.PUBLISH

    def revoke(self) -> bool:
        """Refuse the token from its next request on; False if it already was."""
        return update_if(self, Q(revoked_at__isnull=True), revoked_at=timezone.now())


class SsoIdentity(models.Model):
    """Who a user is at the company's OpenID Connect provider: its ID tokens' issuer and subject (``sub``).

    A sign-in finds its user by these alone (distribution.sso). The subject never
    changes and is never given to anyone else; the user name the provider sends
    may change, and may be that of a local account, which it must not take over.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sso_identity"
    )
    issuer = models.CharField(max_length=255)
    subject = models.CharField(max_length=255)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "single sign-on identity"
        constraints = [models.UniqueConstraint(fields=["issuer", "subject"], name="unique_sso_subject")]

    def __str__(self) -> str:
        return f"{self.subject} at {self.issuer}"


class AuditEntry(models.Model):
    """Who did what, when and from which address: one line of the audit log (distribution.audit).

    Written once, never changed; the retention setting (FANOUT_AUDIT_RETENTION_DAYS)
    removes old lines. Who and what are kept as text beside their links, so a
    line still reads the same once its user or its target is deleted.
    """

    at = models.DateTimeField(default=timezone.now, db_index=True)
    action = models.CharField(max_length=64, help_text='"<noun>.<verb>", e.g. release.published.')
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_name = models.CharField(
        max_length=150,
        blank=True,
        help_text="Empty: the system or a command; for a failed sign-in, the name tried.",
    )
    address = models.GenericIPAddressField(null=True, blank=True)
    target_type = models.CharField(max_length=100, blank=True, help_text="app_label.model_name")
    target_id = models.CharField(max_length=64, blank=True)
    target_text = models.CharField(max_length=255, blank=True)
    details = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    # Set on the lines written at most once a day (a web seed's first request of the day per user
    # and release): a second line with the same key is not written.
    once_key = models.CharField(max_length=200, null=True, blank=True, unique=True, editable=False)

    class Meta:
        verbose_name = "audit entry"
        verbose_name_plural = "audit log"
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["target_type", "target_id"], name="auditentry_target"),
            models.Index(fields=["actor_name", "at"], name="auditentry_actor_at"),
            models.Index(fields=["action", "at"], name="auditentry_action_at"),
            models.Index(fields=["address", "at"], name="auditentry_address_at"),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor_name or 'system'} {self.action} {self.target_text}"
