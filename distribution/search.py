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
from django.db.models import BooleanField, Case, Expression, IntegerField, Q, QuerySet, Value, When

from distribution.models import Release, ReleaseFile

# Words of a search: letters and digits, as PostgreSQL's regexp [[:alnum:]] sees them.
_WORD = re.compile(r"[^\W_]+")
MAX_WORDS = 16


def search_words(query: str) -> list[str]:
    return _WORD.findall(query.lower())[:MAX_WORDS]


class _DocumentMatches(Expression):
    """``search_document @@ tsquery`` on the release table under whatever alias the query gives it.

    The column is no model field, so Django cannot name it: it is named here at
    compile time, from the query being compiled, which a subquery renames.
    """

    output_field = BooleanField()

    def __init__(self, tsquery: str):
        super().__init__()
        self.tsquery = tsquery

    def as_sql(self, compiler, connection):
        table = compiler.quote_name_unless_alias(compiler.query.base_table)
        return f"{table}.search_document @@ %s::tsquery", (self.tsquery,)


def _document_matches(words: list[str], weight: str = "") -> _DocumentMatches:
    """The release's stored document holds every word as a prefix (with ``weight``, in those parts only)."""
    return _DocumentMatches(" & ".join(f"{word}:*{weight}" for word in words))


def _substring_matches(words: list[str]) -> tuple[Q, Q]:
    """(every word in the product name, version or notes; every word there or in a file name)."""
    in_text, everywhere = Q(), Q()
    for word in words:
        text = Q(product__name__icontains=word) | Q(version__icontains=word) | Q(notes__icontains=word)
        files = Q(pk__in=ReleaseFile.objects.filter(path__icontains=word).values("release_id"))
        in_text &= text
        everywhere &= text | files
    return in_text, everywhere


def _matches(words: list[str]) -> tuple[Q | _DocumentMatches, Q | _DocumentMatches]:
    """(every word in the product name, version or notes; every word anywhere)."""
    if connection.vendor == "postgresql":
        return _document_matches(words, weight="A"), _document_matches(words)
    return _substring_matches(words)


def _rank(in_text: Q | _DocumentMatches) -> Case:
    return Case(When(in_text, then=Value(0)), default=Value(1), output_field=IntegerField())


def best_match(query: str) -> Case | Value:
    """0 for a release whose product name, version and notes hold every word of ``query``, else 1."""
    words = search_words(query)
    if not words:
        return Value(1, output_field=IntegerField())
    in_text, _ = _matches(words)
    return _rank(in_text)


def search_releases(releases: QuerySet[Release], query: str) -> QuerySet[Release]:
    """The releases where every word of ``query`` is found, annotated with ``match`` (``best_match``)."""
    words = search_words(query)
    if not words:
        return releases.none().annotate(match=best_match(query))
    in_text, everywhere = _matches(words)
    return releases.filter(everywhere).annotate(match=_rank(in_text))
