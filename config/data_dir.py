"""The data directory of an instance on embedded defaults, prepared before its processes start.

Importing the settings touches nothing on disk. ``make run`` (scripts/run_all.py)
and the test suite (conftest.py) call ``prepare_data_dir`` before anything opens
the SQLite file or reads the secret key; the Celery app makes the broker's
folders (config/celery.py); the code that stores uploads, releases and seeder
state makes its folders as it writes.
"""

import os
import secrets
from pathlib import Path

from django.conf import settings


def prepare_data_dir() -> None:
    """The data directory, its static files folder, and the secret key kept there when SECRET_KEY is unset."""
    settings.DATA_DIR.mkdir(parents=True, exist_ok=True)
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
