"""Validation of the names a publisher gives: relative file paths and versions."""

import re
import unicodedata

from django.core.exceptions import ValidationError

MAX_PATH_LENGTH = 1024
MAX_COMPONENT_LENGTH = 255
VERSION_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+~-]{0,99}$")


# Characters that reorder the text around them ("invoice\u202efdp.exe" reads "invoiceexe.pdf").
BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def clean_relative_path(raw: str) -> str:
    """Return ``raw`` as a safe relative path with ``/`` separators, or raise.

    Refused: absolute paths, drive letters, ``.`` and ``..`` components,
    empty components, control and bidirectional control characters, and
    over-long names.
    """
    path = unicodedata.normalize("NFC", raw.replace("\\", "/"))
    if not path:
        raise ValidationError("A file name is empty.")
    if any(unicodedata.category(ch) == "Cc" for ch in path):
        raise ValidationError(f"{path!r}: file names may not contain control characters.")
    if any(ch in BIDI_CONTROLS for ch in path):
        raise ValidationError(
            f"{path!r}: file names may not contain bidirectional controls, which make a name read as another."
        )
    if path.startswith("/") or re.match(r"^[A-Za-z]:", path):
        raise ValidationError(f"{path!r}: only relative paths are allowed.")
    parts = path.split("/")
    for part in parts:
        if part in ("", ".", ".."):
            raise ValidationError(f"{path!r}: empty, '.' and '..' path components are not allowed.")
        if len(part.encode()) > MAX_COMPONENT_LENGTH:
            raise ValidationError(f"{path!r}: a name is longer than {MAX_COMPONENT_LENGTH} bytes.")
    if len(path.encode()) > MAX_PATH_LENGTH:
        raise ValidationError(f"{path!r}: the path is longer than {MAX_PATH_LENGTH} bytes.")
    return path


def check_no_collisions(paths: list[str]) -> None:
    """Refuse duplicate names, including ones differing only in case, and a
    file that is also a folder of another file: both break on some disks."""
    seen: dict[str, str] = {}
    folders: set[str] = set()
    for path in paths:
        key = path.casefold()
        if key in seen:
            raise ValidationError(f"{path!r} appears twice in the release (as {seen[key]!r}).")
        seen[key] = path
        parts = key.split("/")
        folders.update("/".join(parts[:i]) for i in range(1, len(parts)))
    clash = folders & seen.keys()
    if clash:
        raise ValidationError(f"{seen[clash.pop()]!r} is both a file and a folder.")


def clean_version(raw: str) -> str:
    version = raw.strip()
    if not VERSION_PATTERN.match(version):
        raise ValidationError(
            "A version starts with a letter or digit and holds only letters, digits and . _ + ~ - "
            "(at most 100 characters)."
        )
    return version
