"""Product names as long as the form allows: a slug that fits its column, unique, cut at a word's end."""

import pytest

from bittorrent.torrents import TorrentFile
from distribution import services
from distribution.models import Product

pytestmark = pytest.mark.django_db

SLUG_MAX = Product._meta.get_field("slug").max_length


@pytest.fixture(autouse=True)
def publishers_make_products(settings):
    settings.FANOUT_PRODUCT_CREATORS = "publishers"


def publish_to(name: str, user, version: str = "1") -> Product:
    product = services.publishable_product(product=None, new_name=name, user=user)
    return services.start_release(
        product=product, version=version, files=[TorrentFile("a.bin", 1)], created_by=user
    ).product


def test_a_name_of_200_characters_makes_a_slug_that_fits(publisher):
    name = "Atlas " + "x" * 194

    product = publish_to(name, publisher)

    product.refresh_from_db()
    assert product.name == name and len(name) == 200
    assert product.slug == "atlas-" + "x" * 94  # no word ends in the second half: cut inside one


def test_the_slug_ends_at_a_words_end_when_one_is_near(publisher):
    product = publish_to("Atlas " + "long-word " * 19 + "end", publisher)  # 199 characters

    assert product.slug == "atlas-" + "-".join(["long-word"] * 9) + "-long"  # 100 characters


def test_long_names_that_share_their_start_get_slugs_of_their_own(publisher):
    start = "-".join(["word"] * 25)  # 124 characters: the slug is cut within them
    first = publish_to(start + " one", publisher)
    second = publish_to(start + " two", publisher)
    again = publish_to(start + " one", publisher, version="2")

    assert first != second and again == first
    assert len(first.slug) <= SLUG_MAX and len(second.slug) <= SLUG_MAX
    assert first.slug == "-".join(["word"] * 20)  # 99 characters
    assert second.slug == "-".join(["word"] * 19) + "-2"


def test_a_short_name_still_finds_its_product_by_slug_or_name(publisher, product):
    assert services.product_named("atlas") == product
    assert services.product_named("ATLAS") == product
    product.slug = "atlas-renamed"
    product.save()
    assert services.product_named("Atlas") == product


def test_names_longer_than_the_form_allows_or_without_a_slug_are_refused():
    with pytest.raises(services.ReleaseRejected, match="at most 200 characters"):
        services.product_named("z" * 201)
    with pytest.raises(services.ReleaseRejected, match="needs a Latin letter or a digit"):
        services.product_named("אטלס")
    assert not Product.objects.exists()
