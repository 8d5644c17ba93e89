"""RSS 2.0 and Atom feeds of new releases, global and per product.

Each item carries its .torrent as an enclosure, so a BitTorrent client's RSS
auto-download can subscribe. Feed readers come without a session: feeds list
public releases only.
"""

from django.conf import settings
from django.contrib.syndication.views import Feed
from django.db.models.functions import Length
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.feedgenerator import Atom1Feed, Rss201rev2Feed

from distribution.models import Product, Release
from distribution.release_notes import render_notes
from distribution.selectors import catalogue_filters, visible_releases

FEED_ITEMS = 50
TORRENT_MIME_TYPE = "application/x-bittorrent"


def _absolute(path: str) -> str:
    return settings.FANOUT_PUBLIC_URL + path


class ReleasesFeed(Feed):
    feed_type = Rss201rev2Feed

    def get_object(self, request: HttpRequest, product_slug: str | None = None) -> Product | None:
        """The feed's product; a product with no public release has no feed."""
        if not product_slug:
            return None
        products, _ = catalogue_filters(None)
        return get_object_or_404(products, slug=product_slug)

    def title(self, product: Product | None) -> str:
        return f"Fanout: {product.name} releases" if product else "Fanout: new releases"

    # Every link a feed gives is on FANOUT_PUBLIC_URL, as its enclosures are: Django would
    # otherwise complete relative ones with whatever host the feed reader asked.
    def link(self, product: Product | None) -> str:
        return _absolute(reverse("catalogue") + (f"?product={product.slug}" if product else ""))

    def feed_url(self, product: Product | None) -> str:
        return _absolute(self._feed_path(product))

    def _feed_path(self, product: Product | None) -> str:
        if product is None:
            return reverse("feed-rss")
        return reverse("feed-product-rss", args=[product.slug])

    def description(self, product: Product | None) -> str:
        what = f"{product.name} releases" if product else "Releases"
        return f"{what} published on Fanout, each with its .torrent."

    def items(self, product: Product | None):
        releases = visible_releases(None).filter(torrent__isnull=False)
        if product is not None:
            releases = releases.filter(product=product)
        return (
            releases.select_related("product")
            .annotate(torrent_size=Length("torrent__metainfo"))
            .order_by("-published_at", "-pk")[:FEED_ITEMS]
        )

    def item_title(self, release: Release) -> str:
        return str(release)

    def item_description(self, release: Release) -> str:
        return render_notes(release.notes) if release.notes else f"{release} is published."

    def item_link(self, release: Release) -> str:
        return _absolute(release.get_absolute_url())

    def item_guid(self, release: Release) -> str:
        return _absolute(release.get_absolute_url())

    item_guid_is_permalink = True

    def item_pubdate(self, release: Release):
        return release.published_at

    def item_categories(self, release: Release) -> list[str]:
        return [release.product.name]

    def item_enclosure_url(self, release: Release) -> str:
        return _absolute(reverse("release-torrent", args=[release.pk]))

    def item_enclosure_length(self, release: Release) -> int:
        return release.torrent_size

    item_enclosure_mime_type = TORRENT_MIME_TYPE


class AtomReleasesFeed(ReleasesFeed):
    feed_type = Atom1Feed

    def subtitle(self, product: Product | None) -> str:
        return self.description(product)

    def _feed_path(self, product: Product | None) -> str:
        if product is None:
            return reverse("feed-atom")
        return reverse("feed-product-atom", args=[product.slug])
