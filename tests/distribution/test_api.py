"""The REST API's reading side: the catalogue's releases and products, its visibility, its OpenAPI schema."""

import pytest
import yaml
from django.urls import reverse

from distribution.models import Release, SwarmSample
from distribution.statistics import add_release_counts, record_swarm_samples
from tests.distribution.catalogue_data import make_release
from tests.factories import ProductFactory, ReleaseFactory

pytestmark = pytest.mark.django_db


def test_it_lists_releases_with_their_figures(client):
    release = make_release(version="2.0", files=(("a.iso", 100), ("b.txt", 23)), tags=("stable",))
    record_swarm_samples([SwarmSample(release=release, seeders=3, leechers=1)])
    add_release_counts(release_id=release.pk, counts={"completed": 9})

    body = client.get("/api/releases/").json()

    assert body["count"] == 1
    (item,) = body["results"]
    assert item["version"] == "2.0" and item["product"]["slug"] == release.product.slug
    assert (item["size"], item["file_count"], item["downloads"]) == (123, 2, 9)
    assert (item["seeders"], item["leechers"]) == (3, 1)
    assert item["tags"] == ["stable"]
    assert item["torrent_url"].endswith(reverse("release-torrent", args=[release.pk]))


def test_it_searches_filters_and_sorts_like_the_catalogue(client):
    atlas = ProductFactory(name="Atlas", slug="atlas")
    make_release(product=atlas, version="1.0")
    make_release(product=atlas, version="2.0", files=(("atlas-linux.iso", 5),))
    make_release(product=ProductFactory(name="Zephyr", slug="zephyr"), version="9.0")

    def versions(**params) -> list[str]:
        return [item["version"] for item in client.get("/api/releases/", params).json()["results"]]

    assert versions(q="linux") == ["2.0"]
    assert sorted(versions(product="atlas")) == ["1.0", "2.0"]
    assert versions(sort="newest")[0] == "9.0"


def test_it_gives_a_releases_files_hashes_and_magnet(client):
    release = make_release(torrent_format="hybrid", notes="*hi*", files=(("x/a.bin", 4),))

    body = client.get(f"/api/releases/{release.pk}/").json()

    assert body["notes"] == "*hi*"
    assert body["files"] == [
        {
            "path": "x/a.bin",
            "size": 4,
            "sha256": release.files.get().sha256,
            "url": body["files"][0]["url"],
        }
    ]
    assert body["files"][0]["url"].endswith(release.files.get().download_url)
    assert body["info_hash_v1"] == release.torrent.info_hash_v1
    assert body["info_hash_v2"] == release.torrent.info_hash_v2
    assert body["magnet_uri"] == release.torrent.magnet_uri


def test_it_never_shows_private_or_unpublished_releases_to_anonymous_callers(client, outsider):
    private = make_release(version="secret-1", visibility=Release.Visibility.PRIVATE, notes="classified")
    draft = ReleaseFactory(version="draft-1", status=Release.Status.PROCESSING)

    assert "secret-1" not in client.get("/api/releases/").content.decode()
    assert client.get("/api/releases/", {"q": "classified"}).json()["count"] == 0
    assert client.get(f"/api/releases/{private.pk}/").status_code == 404
    assert client.get(f"/api/releases/{draft.pk}/").status_code == 404

    client.force_login(outsider)
    assert client.get(f"/api/releases/{private.pk}/").status_code == 200
    assert client.get(f"/api/releases/{draft.pk}/").status_code == 404


def test_a_session_writes_only_with_its_csrf_token_and_an_anonymous_caller_deletes_nothing(admin_user):
    from django.test import Client

    release = make_release()
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(admin_user)

    assert browser.post("/api/releases/", {}).status_code == 403
    assert browser.delete(f"/api/releases/{release.pk}/").status_code == 403
    assert Client().delete(f"/api/releases/{release.pk}/").status_code == 403
    assert Release.objects.filter(pk=release.pk).exists()


def test_it_lists_products_with_published_releases(client):
    make_release(product=ProductFactory(name="Atlas", slug="atlas"))
    ProductFactory(name="Empty", slug="empty")

    body = client.get("/api/products/").json()

    assert [product["slug"] for product in body["results"]] == ["atlas"]
    assert client.get("/api/products/atlas/").json()["name"] == "Atlas"


def test_it_publishes_its_openapi_schema(client):
    response = client.get(reverse("api-schema"))

    schema = yaml.safe_load(response.content)
    assert schema["openapi"].startswith("3.")
    assert {"/api/releases/", "/api/releases/{id}/", "/api/products/"} <= set(schema["paths"])
    parameters = {p["name"] for p in schema["paths"]["/api/releases/"]["get"]["parameters"]}
    assert {"q", "product", "tag", "sort", "page"} <= parameters


def test_the_release_list_runs_a_fixed_number_of_queries(client, django_assert_max_num_queries):
    for _ in range(3):
        make_release(tags=("stable",))
    with django_assert_max_num_queries(4) as few:
        client.get("/api/releases/")
    for _ in range(20):
        make_release(tags=("stable",))
    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get("/api/releases/")


def test_the_schema_validates_without_warnings_and_the_docs_render_from_npm(client, tmp_path):
    import io

    from django.contrib.staticfiles import finders
    from django.core.management import call_command

    schema = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(schema), stderr=io.StringIO())
    paths = yaml.safe_load(schema.read_text())["paths"]
    assert {
        "/api/releases/{id}/finish/",
        "/api/releases/{id}/stats/",
        "/api/releases/{release_id}/seeding/",
    } <= set(paths)
    docs = client.get(reverse("api-docs")).content.decode()
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in docs
    assert finders.find("vendor/swagger-ui/swagger-ui-bundle.js")
