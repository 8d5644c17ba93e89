"""Catalogue search: PostgreSQL full-text over product names, versions, notes and file names.

Each release's words are one stored ``tsvector``, ``search_document``, which
PostgreSQL triggers keep up to date whatever writes the release, its files or
its product (migration 0007), under a GIN index: a search is one index look-up
for all its words, however many releases match. The product name, version and
notes weigh A and file names B, so that the best match is a second test on the
same document. The column is not a model field: only the database writes it.

Words are runs of letters and digits on both sides, so "atlas-2.4.0-linux.iso"
is found by "atlas", "2.4" or "linux"; each word of the query must be found
(in any of the four), as a prefix of a word.

Other databases (SQLite) get a case-insensitive substring match per word.
"""

import re

from django.db import connection
from django.db.models import BooleanField, Case, IntegerField, Q, QuerySet, Value, When
from django.db.models.expressions import RawSQL

from distribution.models import Release, ReleaseFile

# Words of a search: letters and digits, as PostgreSQL's regexp [[:alnum:]] sees them.
_WORD = re.compile(r"[^\W_]+")
MAX_WORDS = 16


def search_words(query: str) -> list[str]:
    return _WORD.findall(query.lower())[:MAX_WORDS]


def _document_matches(words: list[str], weight: str = "") -> RawSQL:
    """The release's stored document holds every word as a prefix (with ``weight``, in those parts only)."""
    tsquery = " & ".join(f"{word}:*{weight}" for word in words)
    document = f'"{Release._meta.db_table}"."search_document"'
    return RawSQL(f"{document} @@ %s::tsquery", (tsquery,), output_field=BooleanField())


def _substring_matches(words: list[str]) -> tuple[Q, Q]:
    """(every word in the product name, version or notes; every word there or in a file name)."""
    in_text, everywhere = Q(), Q()
    for word in words:
        text = Q(product__name__icontains=word) | Q(version__icontains=word) | Q(notes__icontains=word)
        files = Q(pk__in=ReleaseFile.objects.filter(path__icontains=word).values("release_id"))
        in_text &= text
        everywhere &= text | files
    return in_text, everywhere


def search_releases(releases: QuerySet[Release], query: str) -> QuerySet[Release]:
    """The releases where every word of ``query`` is found, annotated with ``match``.

    ``match`` is 0 when the product name, version and notes hold every word, 1 when
    some word is only in a file name.
    """
    words = search_words(query)
    if not words:
        return releases.none().annotate(match=Value(1, output_field=IntegerField()))
    if connection.vendor == "postgresql":
        in_text, everywhere = _document_matches(words, weight="A"), _document_matches(words)
    else:
        in_text, everywhere = _substring_matches(words)
    return releases.filter(everywhere).annotate(
        match=Case(When(in_text, then=Value(0)), default=Value(1), output_field=IntegerField())
    )
