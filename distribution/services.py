"""Flows across releases, their files and torrents, including disk I/O.

Every entry point (the publish page, the `publish` command, Celery tasks, the
retry and retire buttons) calls these functions; none repeats their rules.
"""

import logging
import secrets
import shutil
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import BinaryIO

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import Group
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import Q, Sum
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django.utils.text import slugify

from bittorrent import torrents
from bittorrent.hashing import known_hashes
from distribution import access, audit, uploads
from distribution.byte_sizes import human_size
from distribution.models import Product, ProductRole, Release, ReleaseFile, Tag, Torrent, update_if
from distribution.release_paths import check_no_collisions, clean_relative_path, clean_version

logger = logging.getLogger(__name__)

PROGRESS_WRITE_INTERVAL = 0.5
COPY_BUFFER = 4 * 1024 * 1024


class ReleaseRejected(Exception):
    """The release cannot be made as asked; the message says why, for the publisher."""


@dataclass(frozen=True)
class IncomingFile:
    """One file of a new release: its path inside the release and where its bytes are.

    ``source`` is a local file (copied, never moved) or an open binary stream.
    ``temporary`` marks a local file the release may take over by renaming.
    """

    path: str
    size: int
    source: Path | BinaryIO
    temporary: bool = False


PRODUCT_NAME_MAX = Product._meta.get_field("name").max_length
PRODUCT_SLUG_MAX = Product._meta.get_field("slug").max_length
TAG_NAME_MAX = Tag._meta.get_field("name").max_length


def product_named(name: str) -> Product:
    """The product of this slug or name, or a new one, unsaved: ``create_release`` and
    ``start_release`` make it with its first release, so a refused release leaves no product."""
    name = name.strip()
    if len(name) > PRODUCT_NAME_MAX:
        raise ReleaseRejected(f"A product name has at most {PRODUCT_NAME_MAX} characters.")
    slug = slugify(name)
    if not slug:
        raise ReleaseRejected(f"{name!r} is not a usable product name: it needs a Latin letter or a digit.")
    existing = Product.objects.filter(slug=slug).first() or Product.objects.filter(name__iexact=name).first()
    return existing or Product(name=name, slug=_unused_slug(slug))


def _unused_slug(slug: str) -> str:
    """``slug`` cut to fit its column, then made unique with -2, -3… (names longer than the
    column may share their first words)."""
    candidate, number = _cut_slug(slug, PRODUCT_SLUG_MAX), 1
    while Product.objects.filter(slug=candidate).exists():
        number += 1
        suffix = f"-{number}"
        candidate = _cut_slug(slug, PRODUCT_SLUG_MAX - len(suffix)) + suffix
    return candidate


def _cut_slug(slug: str, limit: int) -> str:
    """The slug's first ``limit`` characters, ending at a word's end when one is in the second half."""
    if len(slug) <= limit:
        return slug
    cut = slug[:limit]
    if slug[limit] != "-" and cut.rfind("-") > limit // 2:
        cut = cut[: cut.rfind("-")]
    return cut.strip("-")


def _save_new_product(product: Product, created_by) -> None:
    """Make a product named for this release (``product_named``), its maker its first maintainer."""
    if not product._state.adding:
        return
    try:
        with transaction.atomic():
            product.save()
    except IntegrityError:
        raise ReleaseRejected(
            f"A product {product.name!r} was made meanwhile: choose it and publish again."
        ) from None
    if created_by is not None:
        ProductRole.objects.create(product=product, user=created_by, role=ProductRole.Role.MAINTAINER)


@dataclass(frozen=True)
class _CheckedRelease:
    version: str
    paths: list[str]
    sizes: list[int]
    torrent_format: str
    content_name: str
    is_single_file: bool


def _check_release(
    *,
    product: Product,
    version: str,
    files: list[torrents.TorrentFile],
    torrent_format: str | None,
    created_by,
) -> _CheckedRelease:
    """Every rule a new release must meet, checked before a byte of it is stored."""
    try:
        version = clean_version(version)
        paths = [clean_relative_path(f.path) for f in files]
        check_no_collisions(paths)
    except ValidationError as exc:
        raise ReleaseRejected(" ".join(exc.messages)) from None
    if not files:
        raise ReleaseRejected("A release needs at least one file.")
    sizes = [f.size for f in files]
    if any(size < 0 for size in sizes):
        raise ReleaseRejected("A file size cannot be negative.")
    total_size = sum(sizes)
    if total_size == 0:
        raise ReleaseRejected("The release is empty: every file has 0 bytes.")
    if total_size > settings.FANOUT_RELEASE_MAX_BYTES:
        raise ReleaseRejected(
            f"The release has {_size(total_size)}; the limit is {_size(settings.FANOUT_RELEASE_MAX_BYTES)}."
        )
    torrent_format = torrent_format or settings.FANOUT_TORRENT_FORMAT
    if torrent_format == Release.TorrentFormat.HYBRID and 0 in sizes and len(sizes) > 1:
        raise ReleaseRejected(
            "A hybrid torrent cannot hold empty files (libtorrent clients refuse them): "
            "leave them out or choose v1 or v2."
        )
    _check_quota(created_by, total_size)
    if not product._state.adding and Release.objects.filter(product=product, version=version).exists():
        raise ReleaseRejected(f"{product.name} already has a release {version}.")
    is_single_file = len(paths) == 1 and "/" not in paths[0]
    return _CheckedRelease(
        version=version,
        paths=paths,
        sizes=sizes,
        torrent_format=torrent_format,
        content_name=paths[0] if is_single_file else f"{product.slug}-{version}",
        is_single_file=is_single_file,
    )


def publisher_bytes_used(user) -> int:
    """What a publisher's releases hold, retired ones excepted (their files may be removed)."""
    return (
        ReleaseFile.objects.filter(release__created_by=user)
        .exclude(release__status=Release.Status.RETIRED)
        .aggregate(total=Sum("size"))["total"]
        or 0
    )


def _check_quota(user, new_bytes: int) -> None:
    quota = settings.FANOUT_PUBLISHER_QUOTA_BYTES
    if user is None or not quota:
        return
    used = publisher_bytes_used(user)
    if used + new_bytes > quota:
        raise ReleaseRejected(
            f"This release ({_size(new_bytes)}) would take your releases to {_size(used + new_bytes)}; "
            f"your quota is {_size(quota)}. Retire old releases or ask an admin for more."
        )


def _size(size: int) -> str:
    """A size as the pages show it, and to the byte: ``1.5 KiB (1,500 bytes)``."""
    return human_size(size) if size < 1024 else f"{human_size(size)} ({size:,} bytes)"


def publishable_product(*, product: Product | None, new_name: str, user) -> Product:
    """The product a publisher chose, or the one they named (new and unsaved if none has that name);
    refused if they do not publish to it, or may not make it (``access.may_create_products``)."""
    product = product or product_named(new_name)
    if product._state.adding:
        if not access.may_create_products(user):
            raise ReleaseRejected(
                f"There is no product {product.name!r}, and only staff make products: ask one to make it "
                "and give you a role on it."
            )
    elif not product.can_publish(user):
        raise ReleaseRejected(f"You do not publish {product.name}.")
    return product


def create_release(
    *,
    product: Product,
    version: str,
    files: list[IncomingFile],
    notes: str = "",
    visibility: str = Release.Visibility.PUBLIC,
    audience: Iterable[Group] = (),
    tags: Iterable[str] = (),
    torrent_format: str | None = None,
    created_by=None,
    request: HttpRequest | None = None,
) -> Release:
    """Store the files of a new release and queue its torrent build.

    Everything that can be checked is checked before a byte is stored; the
    files are stored before the row exists and removed again if the row cannot
    be made, so a refused release leaves nothing behind.
    """
    checked = _check_release(
        product=product,
        version=version,
        files=[torrents.TorrentFile(f.path, f.size) for f in files],
        torrent_format=torrent_format,
        created_by=created_by,
    )
    release = _new_release(
        product=product,
        checked=checked,
        notes=notes,
        visibility=visibility,
        created_by=created_by,
        status=Release.Status.PROCESSING,
    )
    audience = _checked_audience(visibility, audience)
    tag_names = _checked_tag_names(tags)
    try:
        sizes = [
            _store_file(f, release.disk_path(path)) for f, path in zip(files, checked.paths, strict=True)
        ]
        with transaction.atomic():
            _save_with_files(release, checked.paths, sizes, audience, tag_names, request)
            transaction.on_commit(lambda: _queue_build(release.pk))
    except IntegrityError:
        shutil.rmtree(release.content_dir, ignore_errors=True)
        raise ReleaseRejected(f"{product.name} already has a release {checked.version}.") from None
    except OSError as exc:
        shutil.rmtree(release.content_dir, ignore_errors=True)
        raise ReleaseRejected(
            f"Could not store the files: {exc.strerror or exc}: {exc.filename or ''}"
        ) from None
    except BaseException:
        shutil.rmtree(release.content_dir, ignore_errors=True)
        raise
    return release


def _new_release(
    *, product: Product, checked: _CheckedRelease, notes: str, visibility: str, created_by, status: str
) -> Release:
    return Release(
        product=product,
        version=checked.version,
        notes=notes,
        visibility=visibility,
        torrent_format=checked.torrent_format,
        content_name=checked.content_name,
        is_single_file=checked.is_single_file,
        status=status,
        created_by=created_by,
        build_updated_at=timezone.now(),
    )


def _checked_audience(visibility: str, audience: Iterable[Group]) -> list[Group]:
    audience = list(audience)
    if audience and visibility != Release.Visibility.PRIVATE:
        raise ReleaseRejected("Only a private release has an audience: make it private or name no group.")
    return audience


def _save_with_files(
    release: Release,
    paths: list[str],
    sizes: list[int],
    audience: list[Group],
    tag_names: dict[str, str],
    request: HttpRequest | None,
) -> None:
    _save_new_product(release.product, release.created_by)
    release.save()
    release.audience.set(audience)
    audit.record(
        "release.created",
        actor=release.created_by,
        request=request,
        target=release,
        visibility=release.visibility,
        audience=sorted(group.name for group in audience),
    )
    release.tags.set(_tags_of(tag_names))
    ReleaseFile.objects.bulk_create(
        ReleaseFile(release=release, path=path, size=size) for path, size in zip(paths, sizes, strict=True)
    )


def start_release(
    *,
    product: Product,
    version: str,
    files: list[torrents.TorrentFile],
    notes: str = "",
    visibility: str = Release.Visibility.PUBLIC,
    audience: Iterable[Group] = (),
    tags: Iterable[str] = (),
    torrent_format: str | None = None,
    created_by,
    request: HttpRequest | None = None,
) -> Release:
    """A draft release whose files the publisher will upload (distribution.uploads).

    The same rules as ``create_release`` apply, before any byte is sent. Declaring
    the same files again for a draft or uploading release of the same publisher
    (a reloaded page) returns that release, so its uploads resume.
    """
    existing = (
        None
        if product._state.adding
        else _resumable_release(product=product, version=version, files=files, created_by=created_by)
    )
    if existing is not None:
        return existing
    checked = _check_release(
        product=product, version=version, files=files, torrent_format=torrent_format, created_by=created_by
    )
    release = _new_release(
        product=product,
        checked=checked,
        notes=notes,
        visibility=visibility,
        created_by=created_by,
        status=Release.Status.DRAFT,
    )
    audience = _checked_audience(visibility, audience)
    tag_names = _checked_tag_names(tags)
    try:
        with transaction.atomic():
            _save_with_files(release, checked.paths, checked.sizes, audience, tag_names, request)
    except IntegrityError:
        raise ReleaseRejected(f"{product.name} already has a release {checked.version}.") from None
    return release


def _resumable_release(
    *, product: Product, version: str, files: list[torrents.TorrentFile], created_by
) -> Release | None:
    release = (
        Release.objects.filter(
            product=product,
            version=version.strip(),
            created_by=created_by,
            status__in=Release.FILES_MAY_CHANGE_IN,
        )
        .select_related("product")
        .first()
    )
    if release is None:
        return None
    declared = sorted(release.files.values_list("path", "size"))
    try:
        asked = sorted((clean_relative_path(f.path), f.size) for f in files)
    except ValidationError:
        return None
    return release if declared == asked else None


def finish_uploading(*, release: Release, request: HttpRequest | None = None) -> None:
    """The publisher's page says every file is sent: check that, then queue the build.

    1. Lock the release row: distribution.uploads takes the same lock before
       it creates, removes or writes to an upload of it.
    2. Under the lock, every file's upload is complete and none can change.
    3. Only then does the release leave the statuses in which files may change.
    """
    with transaction.atomic():
        locked = Release.objects.select_for_update().get(pk=release.pk)
        if locked.status in (Release.Status.PROCESSING, Release.Status.PUBLISHED):
            return
        if not locked.files_may_change:
            raise ReleaseRejected(f"This release is {locked.status}; its files can no longer change.")
        missing = [
            f.path
            for f in locked.files.select_related("upload")
            if not hasattr(f, "upload") or not f.upload.is_complete
        ]
        if missing:
            shown = ", ".join(missing[:5]) + (" …" if len(missing) > 5 else "")
            raise ReleaseRejected(f"{len(missing)} file(s) are not uploaded yet: {shown}.")
        locked.start_processing()
        audit.record("release.uploaded", request=request, target=locked)
        transaction.on_commit(lambda: _queue_build(locked.pk))


def _store_file(incoming: IncomingFile, destination: Path) -> int:
    destination.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(incoming.source, Path):
        if incoming.temporary:
            incoming.source.replace(destination)
        else:
            shutil.copyfile(incoming.source, destination)
    else:
        with destination.open("wb") as out:
            shutil.copyfileobj(incoming.source, out, COPY_BUFFER)
    size = destination.stat().st_size
    if size != incoming.size:
        raise ReleaseRejected(f"{incoming.path}: expected {incoming.size} bytes, stored {size}.")
    return size


def _queue_build(release_id: int) -> None:
    from distribution.tasks import build_torrent

    build_torrent.delay(release_id)


class BuildFailed(Exception):
    """A torrent build that cannot succeed until someone acts; the message says why."""


def build_release_torrent(*, release_id: int) -> None:
    """Hash a processing release's files, build its torrent and publish it.

    Safe to run twice or after a killed run: it acts only on a release still
    processing, and its results are stored in the transaction that publishes it.
    """
    release = Release.objects.select_related("product").filter(pk=release_id).first()
    if release is None or release.status != Release.Status.PROCESSING:
        return
    files = list(release.files.all())
    try:
        built, digests = _hash_and_build(release, files)
    except BuildFailed as exc:
        release.fail(str(exc))
        return
    except Exception as exc:
        logger.exception("torrent build of release %s failed", release_id)
        release.fail(f"Unexpected error while building the torrent: {exc}")
        return

    with transaction.atomic():
        # The UPDATE that publishes holds the row until the torrent is stored beside it.
        if not release.publish():
            return
        audit.record("release.published", target=release)
        for release_file, digest in zip(files, digests, strict=True):
            release_file.sha256 = digest
        ReleaseFile.objects.bulk_update(files, ["sha256"])
        Torrent.objects.update_or_create(
            release=release,
            defaults={
                "info_hash_v1": built.info_hash_v1,
                "info_hash_v2": built.info_hash_v2,
                "piece_length": built.piece_length,
                "piece_count": built.piece_count,
                "metainfo": built.metainfo,
                "magnet_uri": built.magnet_uri,
            },
        )
        release.record_build_progress(built.piece_count, built.piece_count)
    uploads.remove_hash_states(release)
    logger.info("release %s published", release_id)


def _hash_and_build(release: Release, files: list[ReleaseFile]) -> tuple[torrents.BuiltTorrent, list[str]]:
    for release_file in files:
        try:
            size = release_file.disk_path.stat().st_size
        except OSError as exc:
            raise BuildFailed(f"{release_file.path} cannot be read: {exc.strerror}.") from None
        if size != release_file.size:
            raise BuildFailed(f"{release_file.path} has {size} bytes on disk, {release_file.size} expected.")

    last_write = 0.0

    def on_piece(done: int, total: int) -> None:
        nonlocal last_write
        now = time.monotonic()
        if now - last_write >= PROGRESS_WRITE_INTERVAL:
            last_write = now
            release.record_build_progress(done, total)

    layout = uploads.layout_of(release)
    known = known_hashes(layout=layout, complete=uploads.finished_hash_states(release))
    unhashed = [f for f in files if not f.sha256]
    try:
        # The whole-file SHA-256s (for SHA256SUMS) run beside the piece hashing.
        with ThreadPoolExecutor(max_workers=1) as side:
            pending_digests = side.submit(torrents.sha256_of_files, [f.disk_path for f in unhashed])
            built = torrents.build_torrent(
                content_dir=release.content_dir,
                content_name=release.content_name,
                is_single_file=release.is_single_file,
                files=[torrents.TorrentFile(f.path, f.size) for f in files],
                torrent_format=release.torrent_format,
                announce_url=settings.FANOUT_ANNOUNCE_URL,
                web_seed_url=release.web_seed_url,
                private=not release.is_public,
                comment=f"{release} - {settings.FANOUT_PUBLIC_URL}{release.get_absolute_url()}",
                source=f"Fanout {release.storage_key}",
                on_piece=on_piece,
                known=known,
            )
            computed = dict(zip((f.pk for f in unhashed), pending_digests.result(), strict=True))
    except OSError as exc:
        raise BuildFailed(f"Reading the files failed: {exc.strerror or exc}.") from None
    digests = [computed.get(f.pk, f.sha256) for f in files]
    return built, digests


def _checked_tag_names(names: Iterable[str]) -> dict[str, str]:
    """Tag names as typed, checked, by the slug each is known by; nothing is stored yet.

    The slug is the name's ASCII slug, or its Unicode one for a name with no Latin
    letter or digit (a right-to-left tag), so every tag in any script has one.
    """
    checked: dict[str, str] = {}
    for name in dict.fromkeys(name.strip() for name in names if name.strip()):
        if len(name) > TAG_NAME_MAX:
            raise ReleaseRejected(f"A tag has at most {TAG_NAME_MAX} characters: {name[:20]!r}… is longer.")
        slug = slugify(name) or slugify(name, allow_unicode=True)
        if not slug:
            raise ReleaseRejected(f"{name!r} is not a usable tag.")
        checked.setdefault(slug, name)
    return checked


def _tags_of(checked: dict[str, str]) -> list[Tag]:
    """The tags of ``_checked_tag_names``, made if new."""
    tags = []
    for slug, name in checked.items():
        tag = Tag.objects.filter(slug=slug).first() or Tag.objects.filter(name=name).first()
        if tag is None:
            tag, _ = Tag.objects.get_or_create(slug=slug, defaults={"name": name})
        tags.append(tag)
    return tags


def tags_named(names: Iterable[str]) -> list[Tag]:
    """The tags of these names, made if new (their slug from the name); refused if one is unusable."""
    return _tags_of(_checked_tag_names(names))


def update_release_details(
    *, release: Release, notes: str | None = None, tags: list[Tag] | None = None
) -> None:
    """Change what a release says about itself: its notes, its tags (either may be left as is)."""
    with transaction.atomic():
        if notes is not None:
            Release.objects.filter(pk=release.pk).update(notes=notes)
            release.notes = notes
        if tags is not None:
            release.tags.set(tags)


def change_release_access(
    *, release: Release, visibility: str, audience: Iterable[Group], request: HttpRequest | None = None
) -> bool:
    """Make a release public or private and name its audience; whether anything changed.

    A change is recorded in the audit log with what it was before. Pages follow at
    once, the trackers at their next whitelist refresh.
    """
    audience = _checked_audience(visibility, audience)
    with transaction.atomic():
        locked = Release.objects.select_for_update().get(pk=release.pk)
        before = {"visibility": locked.visibility, "audience": sorted(g.name for g in locked.audience.all())}
        after = {"visibility": visibility, "audience": sorted(g.name for g in audience)}
        if before == after:
            return False
        Release.objects.filter(pk=release.pk).update(visibility=visibility)
        locked.audience.set(audience)
        release.visibility = visibility
        audit.record("release.access_changed", request=request, target=release, before=before, after=after)
    return True


def retry_build(*, release: Release, request: HttpRequest | None = None) -> None:
    """Build a failed release's torrent again."""
    with transaction.atomic():
        if not release.retry():
            raise ReleaseRejected(
                f"Only a failed release can be retried; this one is {_status_now(release)}."
            )
        audit.record("release.retried", request=request, target=release)
        transaction.on_commit(lambda: _queue_build(release.pk))


def retire_release(*, release: Release, request: HttpRequest | None = None) -> None:
    """Stop tracking and seeding a published release."""
    with transaction.atomic():
        if not release.retire():
            raise ReleaseRejected(
                f"Only a published release can be retired; this one is {_status_now(release)}."
            )
        audit.record("release.retired", request=request, target=release)


def delete_release(*, release: Release, request: HttpRequest | None = None) -> None:
    """Remove a draft, a stalled upload or a failed build entirely: its row and its files on disk.

    A release that was ever published stays (retire it): its torrent is out in the world.
    """
    try:
        removed = uploads.remove_release(release_id=release.pk, statuses=Release.DELETABLE_IN)
    except uploads.UploadError:
        raise ReleaseRejected("A file of this release is being uploaded now: pause it first.") from None
    if removed:
        audit.record("release.deleted", request=request, target=release)
        return
    status = Release.objects.filter(pk=release.pk).values_list("status", flat=True).first()
    if status is not None:
        raise ReleaseRejected(
            f"Only a draft, uploading or failed release can be deleted; this one is {status}."
        )


def purge_retired_files() -> list[int]:
    """Remove the files of releases retired more than FANOUT_RETIRED_PURGE_DAYS ago; their ids.

    Idempotent: the files go first, then the release records it once; a run killed
    between the two removes nothing twice and records it next time.
    """
    days = settings.FANOUT_RETIRED_PURGE_DAYS
    if not days:
        return []
    due = Release.objects.filter(
        status=Release.Status.RETIRED,
        files_purged_at__isnull=True,
        retired_at__lt=timezone.now() - timedelta(days=days),
    ).only("pk", "storage_key", "status")
    purged = []
    for release in due:
        shutil.rmtree(release.content_dir, ignore_errors=True)
        if release.mark_files_purged():
            purged.append(release.pk)
            logger.info("files of retired release %s removed", release.pk)
    return purged


def _status_now(release: Release) -> str:
    release.refresh_from_db(fields=["status"])
    return release.status


def requeue_stalled_builds() -> list[int]:
    """Queue again the builds whose progress stopped (a worker died mid-build); their ids.

    Each is claimed before it is queued, so a build is queued once however
    many of these runs overlap, and again only once it stalls again.
    """
    cutoff = timezone.now() - timedelta(seconds=settings.FANOUT_BUILD_STALL_SECONDS)
    stalled = Release.objects.filter(status=Release.Status.PROCESSING, build_updated_at__lt=cutoff).only("pk")
    requeued = [release.pk for release in stalled if release.claim_stalled_build(stalled_before=cutoff)]
    for release_id in requeued:
        transaction.on_commit(partial(_queue_build, release_id))
    return requeued


def incoming_files_from_paths(paths: Iterable[Path]) -> list[IncomingFile]:
    """The files of local PATHs as the `publish` command takes them.

    One folder: its files, relative to it. Several PATHs: each file by its name,
    each folder by its name and the paths inside it. Unreadable files are
    refused here, before anything is stored.
    """
    paths = [Path(p) for p in paths]
    incoming: list[IncomingFile] = []
    for path in paths:
        if not path.exists():
            raise ReleaseRejected(f"{path}: no such file or folder.")
        if path.is_dir():
            base = path if len(paths) == 1 else path.parent
            members = sorted(p for p in path.rglob("*") if not p.is_dir())
            if not members:
                raise ReleaseRejected(f"{path}: the folder has no files.")
        else:
            base = path.parent
            members = [path]
        for member in members:
            _check_readable(member)
            incoming.append(
                IncomingFile(
                    path=member.relative_to(base).as_posix(), size=member.stat().st_size, source=member
                )
            )
    return incoming


def _check_readable(path: Path) -> None:
    if not path.is_file():
        raise ReleaseRejected(f"{path}: not a regular file.")
    try:
        with path.open("rb") as stream:
            stream.read(1)
    except OSError as exc:
        raise ReleaseRejected(f"{path}: cannot be read ({exc.strerror}).") from None


# Accounts, groups and product roles, changed by staff (the staff pages) and by a product's
# maintainers (its roles page). Each takes effect at the user's next request, and at the
# trackers' next whitelist refresh (seconds) for private swarms.


class AccessChangeRefused(Exception):
    """The account, group or role cannot change as asked; the message says why, for the page."""


def grant_role(
    *, product: Product, user, role: str, actor, request: HttpRequest | None = None
) -> ProductRole:
    """Make ``user`` a maintainer or publisher of ``product``, in place of the role they held there."""
    if not user.is_active:
        raise AccessChangeRefused(f"{user.username} is deactivated: reactivate the account first.")
    with transaction.atomic():
        held, created = ProductRole.objects.select_for_update().get_or_create(
            product=product, user=user, defaults={"role": role}
        )
        if not created and held.role == role:
            return held
        previous = None if created else held.role
        if not created:
            held.role, held.granted_at = role, timezone.now()
            held.save(update_fields=["role", "granted_at"])
        audit.record(
            "role.granted",
            actor=actor,
            request=request,
            target=product,
            user=user.username,
            role=role,
            previous_role=previous,
        )
    return held


def revoke_role(*, product: Product, user, actor, request: HttpRequest | None = None) -> None:
    """Take ``user``'s role on ``product`` away: their uploads to it stop at their next request."""
    with transaction.atomic():
        held = ProductRole.objects.select_for_update().filter(product=product, user=user).first()
        if held is None:
            raise AccessChangeRefused(f"{user.username} has no role on {product.name}.")
        held.delete()
        audit.record(
            "role.revoked", actor=actor, request=request, target=product, user=user.username, role=held.role
        )


def create_user(
    *, username: str, email: str, actor, request: HttpRequest | None = None
) -> tuple[AbstractBaseUser, str | None]:
    """A new account, and how its owner gets in.

    Where mail is sent (PASSWORD_RESET_BY_EMAIL) and an address is given, the
    account has no password: the mail carries a link to choose one (the
    password reset's, valid PASSWORD_RESET_TIMEOUT). Otherwise a random initial
    password is returned, for the caller to show once.
    """
    User = get_user_model()
    if User.objects.filter(username__iexact=username).exists():
        raise AccessChangeRefused(f"There is already a user {username}.")
    user = User(username=username, email=email)
    invite = bool(email) and settings.PASSWORD_RESET_BY_EMAIL
    initial_password = None if invite else secrets.token_urlsafe(12)
    user.set_password(initial_password)  # None: unusable, until the invitation's link sets one
    with transaction.atomic():
        user.save()
        audit.record("user.created", actor=actor, request=request, target=user, email=email, invited=invite)
    if invite:
        _send_invitation(user)
    return user, initial_password


def _send_invitation(user) -> None:
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    link = settings.FANOUT_PUBLIC_URL + reverse(
        "password_reset_confirm", args=[uid, default_token_generator.make_token(user)]
    )
    body = render_to_string(
        "staff/invitation_email.txt",
        {"user": user, "link": link, "days": settings.PASSWORD_RESET_TIMEOUT // 86400},
    )
    send_mail("Your Fanout account", body, None, [user.email])


def set_user_active(*, user, active: bool, actor, request: HttpRequest | None = None) -> None:
    """Deactivate an account (its sessions, API tokens and passkey stop working; its roles and
    groups stay for when it is reactivated), or reactivate it."""
    if not active and user.pk == actor.pk:
        raise AccessChangeRefused("You cannot deactivate your own account.")
    if not update_if(user, Q(is_active=not active), is_active=active):
        raise AccessChangeRefused(f"{user.username} is already {'active' if active else 'deactivated'}.")
    action = "user.reactivated" if active else "user.deactivated"
    audit.record(action, actor=actor, request=request, target=user)


def create_group(*, name: str, actor, request: HttpRequest | None = None) -> Group:
    name = name.strip()
    if not name:
        raise AccessChangeRefused("A group needs a name.")
    if Group.objects.filter(name__iexact=name).exists():
        raise AccessChangeRefused(f"There is already a group {name}.")
    with transaction.atomic():
        group = Group.objects.create(name=name)
        audit.record("group.created", actor=actor, request=request, target=group)
    return group


def add_group_member(*, group: Group, user, actor, request: HttpRequest | None = None) -> None:
    if group.user_set.filter(pk=user.pk).exists():
        raise AccessChangeRefused(f"{user.username} is already in {group.name}.")
    with transaction.atomic():
        group.user_set.add(user)
        audit.record("group.member_added", actor=actor, request=request, target=group, user=user.username)


def remove_group_member(*, group: Group, user, actor, request: HttpRequest | None = None) -> None:
    with transaction.atomic():
        if not group.user_set.filter(pk=user.pk).exists():
            raise AccessChangeRefused(f"{user.username} is not in {group.name}.")
        group.user_set.remove(user)
        audit.record("group.member_removed", actor=actor, request=request, target=group, user=user.username)
