"""Catalogue search: PostgreSQL full-text over product names, versions, notes and file names.

Each table's document is one expression, so that a GIN index on exactly that
expression answers the match; the query then costs index look-ups instead of
one ``to_tsvector`` per row. The indexes are ``search_indexes()``, created on
PostgreSQL by migration 0005 (bench/README.md's catalogue section: their effect).
Words are runs of letters and digits on both sides, so "atlas-2.4.0-linux.iso"
is found by "atlas", "2.4" or "linux"; each word of the query must be found
(in any of the four), as a prefix of a word.

Other databases (SQLite) get a case-insensitive substring match per word.
"""

import re

from django.db import connection
from django.db.models import Case, Func, IntegerField, Q, QuerySet, TextField, Value, When

from distribution.models import Product, Release, ReleaseFile

# Words of a search: letters and digits, as PostgreSQL's regexp [[:alnum:]] sees them.
_WORD = re.compile(r"[^\W_]+")
MAX_WORDS = 16
CONFIG = "simple"  # no stemming or stop words: product names and versions are not English


def search_words(query: str) -> list[str]:
    return _WORD.findall(query.lower())[:MAX_WORDS]


def _words_of(field: str) -> Func:
    return Func(
        field,
        Value("[^[:alnum:]]+"),
        Value(" "),
        Value("g"),
        function="regexp_replace",
        output_field=TextField(),
    )


def release_document():
    from django.contrib.postgres.search import SearchVector

    return SearchVector(_words_of("version"), _words_of("notes"), config=CONFIG)


def product_document():
    from django.contrib.postgres.search import SearchVector

    return SearchVector(_words_of("name"), config=CONFIG)


def file_document():
    from django.contrib.postgres.search import SearchVector

    return SearchVector(_words_of("path"), config=CONFIG)


def search_indexes() -> list[tuple[str, object]]:
    """The GIN indexes whose expressions are the documents above: (model name, index) pairs."""
    from django.contrib.postgres.indexes import GinIndex

    return [
        ("release", GinIndex(release_document(), name="release_search_document")),
        ("releasefile", GinIndex(file_document(), name="releasefile_search_document")),
    ]


def _word_matches(word: str) -> tuple[Q, Q]:
    """(in the product name, version or notes; in a file name) for one word, as a prefix."""
    if connection.vendor == "postgresql":
        from django.contrib.postgres.search import SearchQuery

        tsquery = SearchQuery(f"{word}:*", config=CONFIG, search_type="raw")
        products = Product.objects.annotate(document=product_document()).filter(document=tsquery)
        texts = Release.objects.annotate(document=release_document()).filter(document=tsquery)
        files = ReleaseFile.objects.annotate(document=file_document()).filter(document=tsquery)
        return (
            Q(product__in=products.values("pk")) | Q(pk__in=texts.values("pk")),
            Q(pk__in=files.values("release_id")),
        )
    return (
        Q(product__name__icontains=word) | Q(version__icontains=word) | Q(notes__icontains=word),
        Q(pk__in=ReleaseFile.objects.filter(path__icontains=word).values("release_id")),
    )


def search_releases(releases: QuerySet[Release], query: str) -> QuerySet[Release]:
    """The releases where every word of ``query`` is found, annotated with ``match``.

    ``match`` is 0 when the product name, version and notes hold every word, 1 when
    some word is only in a file name.
    """
    words = search_words(query)
    if not words:
        return releases.none().annotate(match=Value(1, output_field=IntegerField()))
    everywhere, in_text = Q(), Q()
    for word in words:
        text, files = _word_matches(word)
        everywhere &= text | files
        in_text &= text
    return releases.filter(everywhere).annotate(
        match=Case(When(in_text, then=Value(0)), default=Value(1), output_field=IntegerField())
    )
