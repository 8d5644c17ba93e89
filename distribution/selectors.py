"""Reads of releases that other components (tracker, seeder, pages) rely on."""

from django.db.models import Count, Q, QuerySet, Sum

from distribution.models import Product, Release, Torrent


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


def releases_to_seed() -> QuerySet[Release]:
    """Published releases with their torrent, as the seeder needs them."""
    return Release.objects.filter(status=Release.Status.PUBLISHED, torrent__isnull=False).select_related(
        "torrent"
    )


def catalogue_releases(user, *, query: str = "") -> QuerySet[Release]:
    """Published releases the user may see, newest first: private ones need a login."""
    releases = Release.objects.filter(status=Release.Status.PUBLISHED)
    if not user.is_authenticated:
        releases = releases.filter(visibility=Release.Visibility.PUBLIC)
    if query:
        releases = releases.filter(
            Q(product__name__icontains=query) | Q(version__icontains=query) | Q(notes__icontains=query)
        )
    return (
        releases.select_related("product")
        .annotate(size=Sum("files__size"), file_count=Count("files"))
        .order_by("-published_at")
    )


def can_view_release(user, release: Release) -> bool:
    if user.is_authenticated and release.product.can_publish(user):
        return True
    if release.status not in (Release.Status.PUBLISHED, Release.Status.RETIRED):
        return False
    return release.is_public or user.is_authenticated


def publisher_releases(user) -> QuerySet[Release]:
    """Every release, in every state, of the products the user publishes."""
    releases = Release.objects.select_related("product").annotate(size=Sum("files__size"))
    if not user.is_staff:
        releases = releases.filter(product__publishers=user)
    return releases.order_by("-created_at")


def publishable_products(user) -> QuerySet[Product]:
    return Product.objects.all() if user.is_staff else Product.objects.filter(publishers=user)
