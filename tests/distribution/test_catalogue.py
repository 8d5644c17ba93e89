"""The catalogue: search, filters, sorting, swarm figures, visibility and a fixed number of queries."""

import datetime

import pytest
from django.utils import timezone

from distribution.models import Release, ReleaseFile, SwarmSample
from distribution.statistics import add_release_counts, record_swarm_samples
from tests.distribution.catalogue_data import make_release
from tests.factories import ProductFactory, ReleaseFactory

pytestmark = pytest.mark.django_db


def listing(page: str) -> str:
    """The page past its filters, whose options name every product and tag."""
    return page.split("</form>", 2)[-1]


def rows(page: str) -> int:
    return page.count('data-testid="catalogue-row"')


def test_it_shows_size_date_swarm_and_downloads_of_each_release(client):
    release = make_release(files=(("a.iso", 3 * 1024**3), ("b.txt", 1024**3)), version="2.0")
    an_hour_ago = timezone.now() - datetime.timedelta(hours=1)
    record_swarm_samples(
        [
            SwarmSample(release=release, seeders=7, leechers=3, taken_at=timezone.now()),
            SwarmSample(release=release, seeders=1, leechers=1, taken_at=an_hour_ago),
        ]
    )
    add_release_counts(release_id=release.pk, counts={"completed": 40})
    add_release_counts(
        release_id=release.pk, counts={"completed": 2}, day=timezone.now().date() - datetime.timedelta(days=3)
    )

    page = client.get("/").content.decode()

    assert "4.0\xa0GiB" in page
    assert "▲ 7" in page and "▼ 3" in page
    assert ">42<" in page
    assert release.published_at.strftime("%Y-%m-%d") in page
    assert "2 files" in page


def test_it_searches_names_versions_notes_and_file_names(client):
    atlas = ProductFactory(name="Atlas", slug="atlas")
    make_release(product=atlas, version="2.1", notes="Faster *rendering*")
    make_release(product=atlas, version="3.0", files=(("maps/europe-tiles.mbtiles", 10),))
    make_release(product=ProductFactory(name="Zephyr", slug="zephyr"), version="7.7")

    def found(query: str) -> str:
        return listing(client.get("/", {"q": query}).content.decode())

    assert "Zephyr" in found("zeph") and "Atlas" not in found("zeph")
    assert "2.1" in found("rendering") and "3.0" not in found("rendering")
    assert "3.0" in found("europe") and "2.1" not in found("europe")
    assert "3.0" in found("mbtiles")
    assert rows(found("atlas 3")) == 1
    assert "No release matches" in found("nothing-like-this")
    assert "No release matches" in found("!!!")


def test_it_filters_by_product_and_tag(client):
    atlas = ProductFactory(name="Atlas", slug="atlas")
    make_release(product=atlas, version="1.0", tags=("stable",))
    make_release(product=atlas, version="1.1-beta", tags=("beta",))
    make_release(product=ProductFactory(name="Zephyr", slug="zephyr"), version="9.0", tags=("stable",))

    by_product = client.get("/", {"product": "atlas"}).content.decode()
    by_tag = client.get("/", {"tag": "stable"}).content.decode()
    both = client.get("/", {"tag": "stable", "product": "atlas"}).content.decode()

    assert rows(by_product) == 2 and "Zephyr" not in listing(by_product)
    assert rows(by_tag) == 2 and "1.1-beta" not in listing(by_tag)
    assert rows(both) == 1 and "<strong>1.0</strong>" in both


def test_it_sorts_by_newest_most_downloaded_and_most_seeded(client):
    now = timezone.now()
    old = make_release(version="old", published_at=now - datetime.timedelta(days=9))
    popular = make_release(version="popular", published_at=now - datetime.timedelta(days=5))
    seeded = make_release(version="seeded", published_at=now - datetime.timedelta(days=1))
    add_release_counts(release_id=popular.pk, counts={"completed": 100})
    add_release_counts(release_id=old.pk, counts={"completed": 5})
    record_swarm_samples([SwarmSample(release=seeded, seeders=50, leechers=0)])
    record_swarm_samples([SwarmSample(release=old, seeders=3, leechers=9)])

    def order(sort: str) -> list[str]:
        page = client.get("/", {"sort": sort}).content.decode()
        return sorted(("old", "popular", "seeded"), key=lambda v: page.index(f"<strong>{v}</strong>"))

    assert order("newest") == ["seeded", "popular", "old"]
    assert order("downloads") == ["popular", "old", "seeded"]
    assert order("seeders") == ["seeded", "old", "popular"]


def test_it_paginates_keeping_the_filters(client):
    atlas = ProductFactory(name="Atlas", slug="atlas")
    for n in range(30):
        make_release(product=atlas, version=f"1.{n}")

    first = client.get("/", {"product": "atlas", "sort": "newest"}).content.decode()
    second = client.get("/", {"product": "atlas", "sort": "newest", "page": 2}).content.decode()

    assert rows(first) == 25 and rows(second) == 5
    assert "product=atlas&amp;sort=newest&amp;page=2" in first
    assert "30 releases" in first


def test_it_never_shows_private_releases_to_anonymous_users(client, outsider):
    make_release(version="secret-9", visibility=Release.Visibility.PRIVATE, notes="classified")
    ReleaseFactory(version="draft-only", status=Release.Status.PROCESSING)

    for params in ({}, {"q": "secret"}, {"q": "classified"}, {"sort": "seeders"}, {"sort": "downloads"}):
        page = client.get("/", params).content.decode()
        assert "secret-9" not in page and "draft-only" not in page

    client.force_login(outsider)
    assert "secret-9" in client.get("/", {"q": "classified"}).content.decode()
    assert "draft-only" not in client.get("/").content.decode()


@pytest.mark.parametrize("params", [{}, {"q": "atlas"}, {"sort": "seeders"}, {"tag": "stable"}])
def test_it_runs_the_same_number_of_queries_whatever_the_number_of_releases(
    client, django_assert_max_num_queries, params
):
    atlas = ProductFactory(name="Atlas", slug="atlas")

    def add(count: int) -> None:
        for _ in range(count):
            release = make_release(product=atlas, tags=("stable", "lts"), files=(("a/x.bin", 1), ("a/y", 2)))
            record_swarm_samples([SwarmSample(release=release, seeders=1, leechers=2)])
            add_release_counts(release_id=release.pk, counts={"completed": 1})

    add(2)
    with django_assert_max_num_queries(6) as few:
        client.get("/", params)
    add(28)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get("/", params)
    assert rows(response.content.decode()) == 25


def test_a_search_lists_name_version_and_notes_matches_before_file_name_matches(client):
    now = timezone.now()
    by_file = make_release(version="1.0", files=(("tools/orbit-helper.bin", 1),), published_at=now)
    by_name = make_release(
        product=ProductFactory(name="Orbit", slug="orbit"),
        version="0.9",
        published_at=now - datetime.timedelta(days=3),
    )

    page = client.get("/", {"q": "orbit"}).content.decode()

    assert rows(page) == 2
    assert page.index(f"{by_name.get_absolute_url()}") < page.index(f"{by_file.get_absolute_url()}")
    newest = client.get("/", {"q": "orbit", "sort": "newest"}).content.decode()
    assert newest.index(f"{by_file.get_absolute_url()}") < newest.index(f"{by_name.get_absolute_url()}")


def test_a_searchs_pages_continue_its_best_match_order_and_a_page_past_the_end_shows_the_last(client):
    now = timezone.now()
    orbit = ProductFactory(name="Orbit", slug="orbit")
    for n in range(20):
        make_release(product=orbit, version=f"name-{n:02}", published_at=now - datetime.timedelta(days=n + 1))
    for n in range(10):
        published_at = now - datetime.timedelta(hours=n)
        make_release(version=f"file-{n:02}", files=(("orbit-tool.bin", 1),), published_at=published_at)

    def versions(page: int) -> list[str]:
        html = client.get("/", {"q": "orbit", "page": page}).content.decode()
        return [row.split("</strong>")[0] for row in html.split("<strong>")[1:]]

    expected = [f"name-{n:02}" for n in range(20)] + [f"file-{n:02}" for n in range(10)]
    assert versions(1) + versions(2) == expected
    assert versions(99) == expected[25:]


def test_a_search_finds_files_added_and_names_changed_after_the_release_was_made(client):
    product = ProductFactory(name="Quasar", slug="quasar")
    release = make_release(product=product, version="5.0", files=(("first.bin", 1),), notes="plain")

    def found(query: str) -> bool:
        return "<strong>5.0</strong>" in listing(client.get("/", {"q": query}).content.decode())

    ReleaseFile.objects.create(release=release, path="extras/walrus-manual.pdf", size=3)
    assert found("walrus") and found("quasar first")
    ReleaseFile.objects.filter(release=release, path="first.bin").update(path="renamed.bin")
    assert found("renamed") and not found("first")
    ReleaseFile.objects.filter(release=release, path="extras/walrus-manual.pdf").delete()
    assert not found("walrus")
    product.name = "Pulsar"
    product.save()
    assert found("pulsar 5") and not found("quasar")
    release.notes = "now with kangaroos"
    release.save()
    assert found("kangaroo") and not found("plain")
