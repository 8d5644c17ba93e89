"""Reads of releases that other components (tracker, seeder, pages) rely on."""

from django.core.paginator import Page, Paginator
from django.db.models import Count, Exists, IntegerField, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from distribution.access import keys_opening_release
from distribution.models import Product, ProductRole, Release, ReleaseFile, ReleaseTotals, Tag, Torrent
from distribution.search import best_match, search_releases


def tracked_swarms() -> dict[bytes, int]:
    """Every 20-byte info-hash the tracker answers for, mapped to its release id.

    Only published releases are tracked; a hybrid torrent's v1 hash and its
    truncated v2 hash map to the same release, so both halves form one swarm.
    """
    swarms: dict[bytes, int] = {}
    rows = Torrent.objects.filter(release__status=Release.Status.PUBLISHED).values_list(
        "release_id", "info_hash_v1", "info_hash_v2"
    )
    for release_id, v1, v2 in rows:
        if v1:
            swarms[bytes.fromhex(v1)] = release_id
        if v2:
            swarms[bytes.fromhex(v2)[:20]] = release_id
    return swarms


def private_swarms() -> dict[int, frozenset[str]]:
    """The tracked releases whose swarms need a passkey, each with the keys that open it
    (distribution.access.keys_opening_release)."""
    releases = dict(
        Release.objects.filter(
            status=Release.Status.PUBLISHED, visibility=Release.Visibility.PRIVATE, torrent__isnull=False
        ).values_list("pk", "product_id")
    )
    audiences: dict[int, list[int]] = {}
    for release_id, group_id in Release.audience.through.objects.filter(release_id__in=releases).values_list(
        "release_id", "group_id"
    ):
        audiences.setdefault(release_id, []).append(group_id)
    return {
        release_id: keys_opening_release(product_id, audiences.get(release_id, ()))
        for release_id, product_id in releases.items()
    }


def releases_to_seed() -> QuerySet[Release]:
    """Published releases with their torrent, as the seeder needs them."""
    return Release.objects.filter(status=Release.Status.PUBLISHED, torrent__isnull=False).select_related(
        "torrent"
    )


def visible_releases(user) -> QuerySet[Release]:
    """Published releases the user may find: the one rule behind the catalogue, its search,
    its filters, the feeds and the API.

    Anyone sees public releases. A signed-in user also sees the private releases
    whose audience holds one of their groups (every private release that names no
    audience) and all of their own products'; staff see every release.
    """
    releases = Release.objects.filter(status=Release.Status.PUBLISHED)
    if user is None or not user.is_authenticated or not user.is_active:
        return releases.filter(visibility=Release.Visibility.PUBLIC)
    if user.is_staff:
        return releases
    audience = Release.audience.through.objects.filter(release_id=OuterRef("pk"))
    return releases.filter(
        Q(visibility=Release.Visibility.PUBLIC)
        | ~Exists(audience)
        | Exists(audience.filter(group__user=user))
        | Exists(Product.publishers.through.objects.filter(product_id=OuterRef("product_id"), user=user))
    )


def releases_to_look_up(user) -> QuerySet[Release]:
    """The releases a caller may look at one by one, with their swarm figures: those the catalogue
    shows them, and every release of the products they publish, in any state."""
    if user.is_authenticated and user.is_active and user.is_staff:
        releases = Release.objects.all()
    else:
        condition = Q(pk__in=visible_releases(user).values("pk"))
        if user.is_authenticated and user.is_active:
            condition |= Exists(
                Product.publishers.through.objects.filter(product_id=OuterRef("product_id"), user=user)
            )
        releases = Release.objects.filter(condition)
    return with_swarm_figures(releases.select_related("product")).prefetch_related("tags")


def catalogue_filter(params, name: str) -> str:
    """A catalogue filter as a caller typed it, trimmed and without NUL characters, which no
    database text can hold (PostgreSQL refuses them in a query)."""
    return params.get(name, "").replace("\x00", "").strip()


class CatalogueSort:
    NEWEST = "newest"
    DOWNLOADS = "downloads"
    SEEDERS = "seeders"
    RELEVANCE = "relevance"
    CHOICES = (
        (NEWEST, "Newest"),
        (DOWNLOADS, "Most downloaded"),
        (SEEDERS, "Most seeded"),
        (RELEVANCE, "Best match"),
    )


def _total(field: str) -> Coalesce:
    return Coalesce(f"totals__{field}", Value(0, output_field=IntegerField()))


# The sorts on swarm figures join ReleaseTotals; every other query reads a page's
# figures through subqueries, which PostgreSQL evaluates for that page's rows only.
_ORDERINGS = {
    CatalogueSort.NEWEST: ("-published_at", "-pk"),
    CatalogueSort.DOWNLOADS: (_total("completed").desc(), "-published_at", "-pk"),
    CatalogueSort.SEEDERS: (_total("seeders").desc(), _total("leechers").desc(), "-published_at", "-pk"),
}


def with_swarm_figures(releases: QuerySet[Release]) -> QuerySet[Release]:
    """Annotate size, file count, completed downloads and the latest seeders/leechers.

    Correlated subqueries rather than joins, so that filters on files or tags
    never multiply rows and a sorted page evaluates them for its own rows only;
    the swarm figures are the release's one ReleaseTotals row. A page costs one
    query however many releases it shows.
    """
    files = ReleaseFile.objects.filter(release=OuterRef("pk")).order_by().values("release")
    totals = ReleaseTotals.objects.filter(release=OuterRef("pk"))
    zero = Value(0, output_field=IntegerField())
    return releases.annotate(
        size=Coalesce(Subquery(files.annotate(total=Sum("size")).values("total")), zero),
        file_count=Coalesce(Subquery(files.annotate(n=Count("pk")).values("n")), zero),
        downloads=Coalesce(Subquery(totals.values("completed")), zero),
        seeders=Coalesce(Subquery(totals.values("seeders")), zero),
        leechers=Coalesce(Subquery(totals.values("leechers")), zero),
    )


def _catalogue_ordering(query: str, sort: str) -> tuple:
    """``sort``, by default the best match when searching (product name, then version or
    notes, then file names; newest first within each), else the newest."""
    if query and sort in ("", CatalogueSort.RELEVANCE):
        return ("match", "-published_at", "-pk")
    return _ORDERINGS.get(sort, _ORDERINGS[CatalogueSort.NEWEST])


def _catalogue_matches(user, *, query: str, product: str, tag: str) -> QuerySet[Release]:
    """The visible releases that the search and the filters keep, annotated with ``match`` when searching."""
    releases = visible_releases(user)
    if product:
        releases = releases.filter(product__slug=product)
    if tag:
        releases = releases.filter(
            pk__in=Release.tags.through.objects.filter(tag__slug=tag).values("release_id")
        )
    if query:
        releases = search_releases(releases, query)
    return releases


def _with_page_figures(releases: QuerySet[Release]) -> QuerySet[Release]:
    return with_swarm_figures(releases.select_related("product")).prefetch_related("tags")


def catalogue_releases(
    user, *, query: str = "", product: str = "", tag: str = "", sort: str = ""
) -> QuerySet[Release]:
    """The catalogue: visible releases, searched, filtered and sorted, with their swarm figures."""
    releases = _catalogue_matches(user, query=query, product=product, tag=tag)
    return _with_page_figures(releases).order_by(*_catalogue_ordering(query, sort))


def catalogue_page(
    user,
    *,
    number: str | None,
    per_page: int,
    query: str = "",
    product: str = "",
    tag: str = "",
    sort: str = "",
) -> Page:
    """Page ``number`` of ``catalogue_releases``, in as many queries as slicing it (count, then rows).

    The page's ids are chosen by a subquery that carries the sort keys only, so
    that sorting thousands of matches moves narrow rows and evaluates no figure;
    the outer query reads those rows whole, with their product and figures, and
    sorts them again.
    """
    ordering = _catalogue_ordering(query, sort)
    matches = _catalogue_matches(user, query=query, product=product, tag=tag).order_by(*ordering)
    ids = Paginator(matches.values("pk"), per_page).get_page(number)
    rows = Release.objects.filter(pk__in=ids.object_list)
    if query:
        rows = rows.annotate(match=best_match(query))
    return Page(_with_page_figures(rows).order_by(*ordering), ids.number, ids.paginator)


def catalogue_filters(user) -> tuple[QuerySet[Product], QuerySet[Tag]]:
    """The products and tags the catalogue's filters offer: those of some release the user may see."""
    visible = visible_releases(user)
    products = Product.objects.filter(Exists(visible.filter(product=OuterRef("pk")))).only("name", "slug")
    # A tag's links are read in turn, each release by its key: PostgreSQL then stops
    # at each tag's first visible release instead of hashing them all.
    tags = Tag.objects.filter(
        Exists(Release.tags.through.objects.filter(tag=OuterRef("pk"), release__in=visible.values("pk")))
    )
    return products, tags


def release_swarm(release: Release) -> ReleaseTotals:
    """The release's all-time counters and latest swarm sample (zeros and no ``sampled_at`` before any)."""
    return ReleaseTotals.objects.filter(release=release).first() or ReleaseTotals(release=release)


def can_view_release(user, release: Release) -> bool:
    """``visible_releases`` for one release, retired ones included; publishers also see their
    products' releases in every state."""
    if not user.is_authenticated or not user.is_active:
        return release.is_public and release.status in (Release.Status.PUBLISHED, Release.Status.RETIRED)
    if release.product.can_publish(user):
        return True
    if release.status not in (Release.Status.PUBLISHED, Release.Status.RETIRED):
        return False
    if release.is_public:
        return True
    audience = release.audience.all()
    return not audience.exists() or audience.filter(user=user).exists()


def publisher_releases(user) -> QuerySet[Release]:
    """Every release, in every state, of the products the user publishes."""
    releases = Release.objects.select_related("product").annotate(size=Sum("files__size"))
    if not user.is_staff:
        releases = releases.filter(product__publishers=user)
    return releases.order_by("-created_at")


def maintained_products(user) -> QuerySet[Product]:
    """The products the user maintains (staff manage every product's roles from the staff pages)."""
    return Product.objects.filter(roles__user=user, roles__role=ProductRole.Role.MAINTAINER)


def publishable_products(user) -> QuerySet[Product]:
    return Product.objects.all() if user.is_staff else Product.objects.filter(publishers=user)
