"""The data directory of an instance on embedded defaults, prepared before its processes start.

Importing the settings touches nothing on disk. ``make run`` (scripts/run_all.py)
and the test suite (conftest.py) call ``prepare_data_dir`` before anything opens
the SQLite file or reads the secret key; the Celery app makes the broker's
folders (config/celery.py); the code that stores uploads, releases and seeder
state makes its folders as it writes.

Nothing there is for other users: every process makes its files 0640 and its
folders 0750 (``restrict_new_files``, called by the ``config`` package, which
every entry point imports first). Release files reach the web server that sends
them (nginx in docker-compose, another user) through FANOUT_DATA_GROUP: the data
directory is given to that group with the set-group-ID bit, so that whatever is
made under it belongs to the group too (``share_data_dir``).
"""

import grp
import os
import secrets
import stat
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

# Group members read (and enter folders); others get nothing.
NEW_FILES_UMASK = 0o027
DATA_DIR_MODE = 0o2750


def restrict_new_files() -> None:
    """Files and folders this process makes from now on: 0640 and 0750 at most."""
    os.umask(NEW_FILES_UMASK)


def prepare_data_dir() -> None:
    """The data directory, its static files folder, and the secret key kept there when SECRET_KEY is unset."""
    settings.DATA_DIR.mkdir(parents=True, exist_ok=True)
    share_data_dir()
    # Nothing is collected there (WHITENOISE_USE_FINDERS serves the files in place), but
    # WhiteNoise warns at every start about a STATIC_ROOT that does not exist.
    settings.STATIC_ROOT.mkdir(exist_ok=True)
    if settings.SECRET_KEY_FILE is not None:
        _keep_new_secret_key(settings.SECRET_KEY_FILE)


def _keep_new_secret_key(path: Path) -> None:
    """Write a random key to ``path``, readable by its owner only, unless a key is there.

    1. Write the key whole to a file of this process's own.
    2. Link it into place, which fails if a key got there first: a key is
       never replaced, and never read half-written.
    """
    if path.exists():
        return
    draft = path.with_name(f"{path.name}.{os.getpid()}")
    with os.fdopen(os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as out:
        out.write(secrets.token_urlsafe(50))
    try:
        os.link(draft, path)
    except FileExistsError:
        pass
    finally:
        draft.unlink()


def share_data_dir() -> None:
    """Give an existing data directory to FANOUT_DATA_GROUP, set-group-ID, and take from everything
    already in it what others could read or write (a directory from before this rule, or one the
    group was just set for). Does nothing on a directory that already has its group and mode, nor
    where there is no directory yet (it is made by ``prepare_data_dir`` or by the deployment).
    """
    data_dir = settings.DATA_DIR
    try:
        current = data_dir.stat()
    except FileNotFoundError:
        return
    gid = -1 if settings.FANOUT_DATA_GROUP is None else _group_id(settings.FANOUT_DATA_GROUP)
    mode = stat.S_IMODE(current.st_mode)
    if (gid == -1 and not mode & 0o007) or (gid == current.st_gid and mode == DATA_DIR_MODE):
        return
    try:
        # The directory itself last: its mode is what says the pass is done, so a pass cut
        # short is made again at the next start.
        for path in (*data_dir.rglob("*"), data_dir):
            _restrict(path, gid)
        if gid != -1:
            data_dir.chmod(DATA_DIR_MODE)
    except PermissionError as error:
        raise ImproperlyConfigured(
            f"cannot give {error.filename} to group {settings.FANOUT_DATA_GROUP} (FANOUT_DATA_GROUP): "
            "this user must own the data directory and be a member of that group"
        ) from None


def _group_id(group: str) -> int:
    if group.isdigit():
        return int(group)
    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        raise ImproperlyConfigured(f"FANOUT_DATA_GROUP: no group named {group!r} on this machine") from None


def _restrict(path: Path, gid: int) -> None:
    try:
        info = path.lstat()
    except FileNotFoundError:
        return  # removed since the walk listed it (an upload's lock, a broker message)
    if stat.S_ISLNK(info.st_mode):
        return
    if gid != -1 and info.st_gid != gid:
        os.chown(path, -1, gid)
    mode = stat.S_IMODE(info.st_mode) & ~0o007
    if stat.S_ISDIR(info.st_mode) and gid != -1:
        mode |= stat.S_ISGID
    if mode != stat.S_IMODE(info.st_mode):
        path.chmod(mode)
