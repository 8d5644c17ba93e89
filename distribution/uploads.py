"""Resumable uploads of a draft release's declared files (the tus protocol's state, no HTTP).

distribution.views.tus parses requests and calls these; each error carries the HTTP
status to answer. Bytes stream to the file's place in the release in bounded
reads, hashed on the way (bittorrent.hashing), so memory stays flat
whatever the file's size.
"""

import errno
import fcntl
import hashlib
import os
import shutil
import threading
from collections import OrderedDict
from collections.abc import Callable
from contextlib import ExitStack, contextmanager
from datetime import timedelta
from functools import partial
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from bittorrent import torrents
from bittorrent.hashing import UploadHasher, remove_state
from distribution.models import Release, ReleaseFile, Upload
from distribution.release_paths import clean_relative_path

READ_SIZE = 1024 * 1024
# A write refused for want of space (or of the account's quota): the upload waits for space.
DISK_FULL_ERRORS = (errno.ENOSPC, errno.EDQUOT)
CHECKPOINT_BYTES = 32 * 1024 * 1024


class UploadError(Exception):
    """A request the upload cannot take; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


class _RunningDigests:
    """Each upload's whole-file SHA-256 so far, kept in this process between its requests.

    hashlib's state cannot be saved to disk: a request that lands in another
    process (or after a restart) finds no entry, and the digest is then read
    back from disk when the upload completes.
    """

    LIMIT = 1000

    def __init__(self):
        self._lock = threading.Lock()
        self._digests: OrderedDict[str, tuple[int, object]] = OrderedDict()

    def take(self, upload_id: str, offset: int):
        with self._lock:
            entry = self._digests.pop(upload_id, None)
        if offset == 0:
            return hashlib.sha256()
        if entry is not None and entry[0] == offset:
            return entry[1]
        return None

    def keep(self, upload_id: str, offset: int, digest) -> None:
        with self._lock:
            self._digests[upload_id] = (offset, digest)
            while len(self._digests) > self.LIMIT:
                self._digests.popitem(last=False)

    def forget(self, upload_id: str) -> None:
        with self._lock:
            self._digests.pop(upload_id, None)


running_digests = _RunningDigests()


def _expiry():
    return timezone.now() + timedelta(seconds=settings.FANOUT_UPLOAD_EXPIRY_SECONDS)


def layout_of(release: Release) -> torrents.Layout:
    return torrents.plan_layout(
        files=[torrents.TorrentFile(path, size) for path, size in release.files.values_list("path", "size")],
        torrent_format=release.torrent_format,
        content_name=release.content_name,
        is_single_file=release.is_single_file,
    )


def _lock_open_release(release_id: int) -> Release:
    """Lock the release row, as finish_uploading does to start the build, and refuse if it has.

    Called inside a transaction; while it lasts, the release cannot leave the
    statuses in which its files may change.
    """
    release = Release.objects.select_for_update().filter(pk=release_id).first()
    if release is None:
        raise UploadError("This release was removed.", 404)
    if not release.files_may_change:
        raise UploadError(f"This release is {release.status}; its files can no longer change.", 409)
    return release


def create_upload(*, release_id: int, path: str, length: int, user, fingerprint: str = "") -> Upload:
    """Open an upload for a declared file; refused, with the reason, before any byte is stored.

    The file's unfinished upload, if there is one, is given back to go on from its offset,
    unless the client says the file's content changed since (another ``fingerprint``): then
    the bytes received go and the upload starts over, rather than end a file begun with
    other content.
    """
    if length > settings.FANOUT_RELEASE_MAX_BYTES:
        raise UploadError(
            f"{path}: {length} bytes is more than a release may hold ({settings.FANOUT_RELEASE_MAX_BYTES}).",
            413,
        )
    try:
        path = clean_relative_path(path)
    except ValidationError as exc:
        raise UploadError(" ".join(exc.messages)) from None
    release = Release.objects.select_related("product").filter(pk=release_id).first()
    if release is None or not release.can_be_managed_by(user):
        raise UploadError("No such release among yours.", 404)
    release_file = release.files.filter(path=path).first()
    if release_file is None:
        raise UploadError(f"{path}: this file was not declared for the release.")
    if release_file.size != length:
        raise UploadError(f"{path}: declared with {release_file.size} bytes, the upload says {length}.")
    if fingerprint:
        changed = (
            Upload.objects.filter(release_file=release_file, created_by=user, completed_at=None)
            .exclude(fingerprint=fingerprint)
            .first()
        )
        if changed is not None:
            terminate(upload=changed)
    with transaction.atomic():
        _lock_open_release(release.pk).start_uploading()
        current = Upload.objects.select_for_update().filter(release_file=release_file).first()
        if current is not None:
            return _resumed(current, path=path, user=user)
        upload = Upload.objects.create(
            release_file=release_file,
            created_by=user,
            length=length,
            expires_at=_expiry(),
            fingerprint=fingerprint,
        )
    destination = release_file.disk_path
    destination.parent.mkdir(parents=True, exist_ok=True)
    if length == 0:
        destination.write_bytes(b"")
        _complete(upload, hashlib.sha256())
    # Nothing truncates here: a creation asked again at once may already have handed this
    # upload to a client writing it, and the first PATCH cuts any leftover bytes at offset 0.
    return upload


def _resumed(upload: Upload, *, path: str, user) -> Upload:
    """A file's unfinished upload, asked to be created again: the caller goes on from its offset.

    A rerun of ``fanout publish``, or a page that lost the upload's URL, sends the
    creation again; the bytes already received stay (tus clients then PATCH at the
    offset of the creation's answer, or ask it with HEAD after a 409).
    """
    if upload.is_complete:
        raise UploadError(f"{path} is already uploaded.", 409)
    if upload.created_by_id != user.pk:
        raise UploadError(
            f"{path} is being uploaded by another publisher; it can be sent again once "
            f"that upload is terminated or expires ({upload.expires_at:%Y-%m-%d %H:%M %Z}).",
            409,
        )
    upload.expires_at = _expiry()
    upload.save(update_fields=["expires_at"])
    return upload


def get_upload(*, upload_id, user) -> Upload:
    upload = Upload.objects.select_related("release_file__release__product").filter(pk=upload_id).first()
    # A role taken away mid-upload ends the upload at once.
    if (
        upload is None
        or upload.created_by_id != user.pk
        or not upload.release_file.release.can_be_managed_by(user)
    ):
        raise UploadError("No such upload.", 404)
    return upload


@contextmanager
def _writer_lock(upload: Upload):
    """One request writes an upload at a time; a second one is told so at once."""
    lock_path = _writer_lock_path(str(upload.id))
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("w") as lock_file:
        try:
            fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UploadError("Another request is writing this upload now.", 409) from None
        try:
            yield
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)


def _writer_lock_path(upload_id: str) -> Path:
    return settings.UPLOADS_DIR / "tus" / f"{upload_id}.lock"


def receive(*, upload: Upload, offset: int, read: Callable[[int], bytes], length: int | None) -> Upload:
    """Append the request's bytes at ``offset``, which must be the upload's offset (else 409).

    Bytes received before the client went away are kept: the client resumes
    from the offset a HEAD request reports.
    """
    with _writer_lock(upload):
        try:
            upload.refresh_from_db()
        except Upload.DoesNotExist:
            raise UploadError("This upload was replaced or removed; start it again.", 404) from None
        if upload.is_complete:
            raise UploadError("This upload is complete.", 409)
        if offset != upload.offset:
            raise UploadError(
                f"Upload-Offset {offset} does not match the {upload.offset} bytes stored; resume from there.",
                409,
            )
        if length is not None and offset + length > upload.length:
            raise UploadError(
                f"{offset + length} bytes would be more than the upload's {upload.length}.", 413
            )
        # 1. The upload is incomplete (checked above, under its writer lock),
        #    so finish_uploading refuses to start the build until it is.
        # 2. Under the release's row lock, the build has not started.
        # From there to this upload's completion, no build can start.
        with transaction.atomic():
            release = _lock_open_release(upload.release_file.release_id)
        layout = layout_of(release)
        data_path = upload.release_file.disk_path
        digest = running_digests.take(str(upload.id), offset)
        hasher = UploadHasher(
            layout=layout,
            path=upload.release_file.path,
            state_dir=upload.hash_state_dir,
            data_path=data_path,
            hashed_upto=upload.hashed_upto,
            offset=offset,
        )
        fd = os.open(data_path, os.O_WRONLY | os.O_CREAT, 0o644)
        position = checkpoint = offset
        try:
            try:
                os.ftruncate(fd, offset)
                remaining = upload.length - offset if length is None else length
                while remaining > 0:
                    try:
                        data = read(min(READ_SIZE, remaining))
                    except OSError:
                        break  # the client went away: keep what arrived
                    if not data:
                        break
                    view = memoryview(data)
                    while view:
                        written = os.pwrite(fd, view, position)
                        position += written
                        view = view[written:]
                    remaining -= len(data)
                    hasher.feed(data)
                    if digest is not None:
                        digest.update(data)
                    if position - checkpoint >= CHECKPOINT_BYTES:
                        # A worker killed mid-request then loses only the bytes since here.
                        checkpoint = position
                        Upload.objects.filter(pk=upload.pk).update(
                            offset=position, hashed_upto=hasher.flush(), expires_at=_expiry()
                        )
            finally:
                os.close(fd)
                hashed_upto = hasher.close()
        except OSError as error:
            if error.errno not in DISK_FULL_ERRORS:
                raise
            raise _disk_full(upload, stored=checkpoint) from None
        Upload.objects.filter(pk=upload.pk).update(
            offset=position, hashed_upto=hashed_upto, expires_at=_expiry()
        )
        upload.refresh_from_db()
        if position == upload.length:
            _complete(upload, digest)
        elif digest is not None:
            running_digests.keep(str(upload.id), position, digest)
    return upload


def _disk_full(upload: Upload, *, stored: int) -> UploadError:
    """The answer to a write that found the disk full, the upload taken back to ``stored`` bytes.

    ``stored`` is the offset last recorded, whose bytes and hashes are whole on disk; what
    came after it is cut, which frees its space too.
    """
    os.truncate(upload.release_file.disk_path, stored)
    return UploadError(
        f"The server's disk is full: {stored} of the {upload.length} bytes of {upload.release_file.path} "
        "are stored. Send the rest from there once space is freed.",
        507,
    )


def _complete(upload: Upload, digest) -> None:
    if digest is None:
        sha256 = torrents.sha256_of_file(upload.release_file.disk_path)
    else:
        sha256 = digest.hexdigest()
    running_digests.forget(str(upload.id))
    with transaction.atomic():
        ReleaseFile.objects.filter(pk=upload.release_file_id).update(sha256=sha256)
        Upload.objects.filter(pk=upload.pk).update(completed_at=timezone.now())
    upload.refresh_from_db()


def terminate(*, upload: Upload) -> None:
    """The tus termination: the upload and its bytes go; the declared file stays, to upload again."""
    with _writer_lock(upload), transaction.atomic():
        _lock_open_release(upload.release_file.release_id)
        _delete_upload_and_bytes(upload)


def _delete_upload(upload: Upload) -> None:
    """Delete the upload's row; its hashes and writer lock file go once that commits."""
    upload_id, hash_state_dir = str(upload.id), upload.hash_state_dir
    ReleaseFile.objects.filter(pk=upload.release_file_id).update(sha256="")
    upload.delete()
    transaction.on_commit(lambda: _remove_upload_files(upload_id, hash_state_dir))


def _remove_upload_files(upload_id: str, hash_state_dir: Path) -> None:
    running_digests.forget(upload_id)
    remove_state(hash_state_dir)
    _writer_lock_path(upload_id).unlink(missing_ok=True)


def _delete_upload_and_bytes(upload: Upload) -> None:
    """As _delete_upload, and the bytes received go too."""
    data_path = upload.release_file.disk_path
    _delete_upload(upload)
    transaction.on_commit(lambda: data_path.unlink(missing_ok=True))


def expire_uploads() -> int:
    """Remove the bytes of uploads that stopped receiving before they completed, and abandoned drafts."""
    expired = list(
        Upload.objects.select_related("release_file__release").filter(
            completed_at__isnull=True, expires_at__lt=timezone.now()
        )
    )
    removed = 0
    for upload in expired:
        try:
            with _writer_lock(upload), transaction.atomic():
                # Re-read under both locks: a request may have renewed it meanwhile, and a
                # creation asked again (create_upload) renews it under the row lock.
                fresh = (
                    Upload.objects.select_for_update()
                    .filter(pk=upload.pk, expires_at__lt=timezone.now(), completed_at__isnull=True)
                    .first()
                )
                if fresh is not None:
                    _delete_upload_and_bytes(upload)
                    removed += 1
        except UploadError:
            continue
    return removed + _remove_abandoned_drafts()


def _remove_abandoned_drafts() -> int:
    """Drafts nobody sent a byte to within the expiry: they would hold their publisher's quota."""
    cutoff = timezone.now() - timedelta(seconds=settings.FANOUT_UPLOAD_EXPIRY_SECONDS)
    abandoned = (
        Release.objects.filter(status__in=Release.FILES_MAY_CHANGE_IN, created_at__lt=cutoff)
        .exclude(files__upload__expires_at__gte=timezone.now())
        .distinct()
    )
    removed = 0
    for release in abandoned:
        try:
            removed += remove_release(release_id=release.pk, statuses=Release.FILES_MAY_CHANGE_IN)
        except UploadError:
            continue  # a byte is arriving: not abandoned after all
    return removed


def remove_release(*, release_id: int, statuses: tuple[str, ...]) -> bool:
    """Delete a release that is in one of ``statuses``: its row, its uploads and, once that
    commits, its files and hashes on disk. False if it is in none of them (or gone).

    1. Take each upload's writer lock: a request writing bytes makes this refuse
       (UploadError, 409), and none can start writing until the row is gone.
    2. Lock the release row, as create_upload and a build's start do, and check its
       status under the lock; an upload made since step 1 (whose writer may be
       running) makes this refuse too.
    3. Delete; the files go only after the commit, when nothing can refer to them.
    """
    with ExitStack() as writers:
        held = set()
        for upload in Upload.objects.filter(release_file__release_id=release_id):
            writers.enter_context(_writer_lock(upload))
            held.add(upload.pk)
        with transaction.atomic():
            locked = Release.objects.select_for_update().filter(pk=release_id, status__in=statuses).first()
            if locked is None:
                return False
            current = list(Upload.objects.filter(release_file__release=locked))
            if {upload.pk for upload in current} - held:
                raise UploadError("An upload of this release has just started.", 409)
            for upload in current:
                _delete_upload(upload)
            locked.delete()
            transaction.on_commit(partial(shutil.rmtree, locked.content_dir, ignore_errors=True))
    return True


def finished_hash_states(release: Release) -> dict[str, tuple]:
    """Per path, where a completed upload's hashes are and how far they reach."""
    return {
        upload.release_file.path: (upload.hash_state_dir, upload.hashed_upto)
        for upload in Upload.objects.select_related("release_file").filter(
            release_file__release=release, completed_at__isnull=False
        )
    }


def remove_hash_states(release: Release) -> None:
    for upload in Upload.objects.filter(release_file__release=release):
        remove_state(upload.hash_state_dir)
