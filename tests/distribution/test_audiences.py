"""Audiences: the one rule behind private releases, written three times, and what it hides.

The rule is expressed as a queryset (selectors.visible_releases), a check of
one release (selectors.can_view_release) and keys the tracker compares in
memory (distribution.access through tracker.selectors.load_whitelist). The
first test holds all three to one table written by hand; the others take a
product whose only release is private to group A and look for it wherever a
product, a tag or a release can be named.
"""

import pytest
from django.contrib.auth.models import AnonymousUser
from django.test import Client
from django.urls import reverse

from bittorrent import bencode
from distribution.models import Passkey, ProductRole, Release
from distribution.selectors import can_view_release, visible_releases
from tests.distribution.catalogue_data import make_release
from tests.factories import GroupFactory, ProductFactory, UserFactory
from tests.tracker.conftest import announce_query, info_hash, quoted
from tracker import views as tracker_views
from tracker.engine import REFUSED
from tracker.selectors import load_whitelist

pytestmark = pytest.mark.django_db

# Who may see each release of product P, written by hand rather than derived from the rule.
# Audience: - none, A group A, AB groups A and B. The inactive user is a member of A and a
# publisher of P, and still sees only what anonymous visitors see. P's maintainer sees what its
# publishers see.
#                  published         retired           processing
#                  public  private   public  private   public  private
#                  - A AB  - A AB    - A AB  - A AB    - A AB  - A AB
WHO_SEES = {
    "anonymous":  "Y Y Y   . . .     Y Y Y   . . .     . . .   . . .",
    "inactive":   "Y Y Y   . . .     Y Y Y   . . .     . . .   . . .",
    "signed_in":  "Y Y Y   Y . .     Y Y Y   Y . .     . . .   . . .",
    "member_a":   "Y Y Y   Y Y Y     Y Y Y   Y Y Y     . . .   . . .",
    "member_b":   "Y Y Y   Y . Y     Y Y Y   Y . Y     . . .   . . .",
    "other_pub":  "Y Y Y   Y . .     Y Y Y   Y . .     . . .   . . .",
    "this_pub":   "Y Y Y   Y Y Y     Y Y Y   Y Y Y     Y Y Y   Y Y Y",
    "this_maint": "Y Y Y   Y Y Y     Y Y Y   Y Y Y     Y Y Y   Y Y Y",
    "staff":      "Y Y Y   Y Y Y     Y Y Y   Y Y Y     Y Y Y   Y Y Y",
}  # fmt: skip
GRID = [
    (status, visibility, audience)
    for status in (Release.Status.PUBLISHED, Release.Status.RETIRED, Release.Status.PROCESSING)
    for visibility in (Release.Visibility.PUBLIC, Release.Visibility.PRIVATE)
    for audience in ("", "A", "AB")
]


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """Many users, who log in with force_login: their passwords need no strong hash here."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def grid_users() -> dict:
    group_a, group_b = GroupFactory(name="A"), GroupFactory(name="B")
    this_product, other_product = ProductFactory(name="P", slug="p"), ProductFactory(name="Q", slug="q")
    users = {
        "anonymous": AnonymousUser(),
        "inactive": UserFactory(username="inactive", is_active=False),
        "signed_in": UserFactory(username="signed-in"),
        "member_a": UserFactory(username="member-a"),
        "member_b": UserFactory(username="member-b"),
        "other_pub": UserFactory(username="other-pub"),
        "this_pub": UserFactory(username="this-pub"),
        "this_maint": UserFactory(username="this-maint"),
        "staff": UserFactory(username="staff", is_staff=True),
    }
    users["inactive"].groups.add(group_a)
    users["member_a"].groups.add(group_a)
    users["member_b"].groups.add(group_b)
    this_product.publishers.add(users["this_pub"], users["inactive"])
    this_product.publishers.add(users["this_maint"], through_defaults={"role": ProductRole.Role.MAINTAINER})
    other_product.publishers.add(users["other_pub"])
    return {"users": users, "groups": {"A": group_a, "B": group_b}, "product": this_product}


def make_grid(product, groups) -> list[Release]:
    releases = []
    for index, (status, visibility, audience) in enumerate(GRID):
        release = make_release(product=product, version=f"{index}-{status}-{visibility}-{audience or 'none'}")
        Release.objects.filter(pk=release.pk).update(status=status, visibility=visibility)
        release.refresh_from_db()
        release.audience.set([groups[name] for name in audience])
        releases.append(release)
    return releases


def test_the_table_has_a_cell_for_every_release_of_the_grid():
    assert {len(row.split()) for row in WHO_SEES.values()} == {len(GRID)}


@pytest.mark.parametrize("who", list(WHO_SEES))
def test_the_queryset_the_check_and_the_trackers_keys_agree_with_the_table(grid_users, who):
    user = grid_users["users"][who]
    releases = make_grid(grid_users["product"], grid_users["groups"])
    for person in grid_users["users"].values():
        if person.is_authenticated:
            Passkey.for_user(person)
    whitelist = load_whitelist()
    held = whitelist.passkeys.get(Passkey.for_user(user).key.encode()) if user.is_authenticated else None
    listed = set(visible_releases(user).values_list("pk", flat=True))
    tracked = set(whitelist.swarms.values())

    wrong = []
    for release, cell, (status, visibility, audience) in zip(
        releases, WHO_SEES[who].split(), GRID, strict=True
    ):
        sees, published = cell == "Y", status == Release.Status.PUBLISHED
        where = f"{status} {visibility} audience={audience or '-'}"
        if (release.pk in listed) != (sees and published):
            wrong.append(f"visible_releases: {where}")
        if can_view_release(user, release) != sees:
            wrong.append(f"can_view_release: {where}")
        if (release.pk in tracked) != published:
            wrong.append(f"tracked: {where}")
        if published and visibility == Release.Visibility.PRIVATE:
            opens = held is not None and not held.isdisjoint(whitelist.private[release.pk])
            if opens != sees:
                wrong.append(f"tracker keys: {where}")
        elif release.pk in whitelist.private:
            wrong.append(f"whitelist.private lists {where}")
    assert not wrong, f"{who}: " + "; ".join(wrong)


# One product, Zephyr Vault, whose only release is private to group A; Atlas is public.

SECRETS = ("Zephyr Vault", "Deep storage for the vault team", "7.3.1-vault", "Vault Only", "vault-only")


@pytest.fixture
def vault() -> Release:
    product = ProductFactory(
        name="Zephyr Vault", slug="zephyr", description="Deep storage for the vault team"
    )
    release = make_release(
        product=product, version="7.3.1-vault", visibility=Release.Visibility.PRIVATE, tags=("vault-only",)
    )
    release.tags.update(name="Vault Only")
    release.audience.set([GroupFactory(name="A")])
    make_release(product=ProductFactory(name="Atlas", slug="atlas"), version="1.0", tags=("common",))
    return release


@pytest.fixture
def member(vault):
    user = UserFactory(username="member")
    user.groups.add(vault.audience.get())
    return user


@pytest.fixture
def non_member(db):
    return UserFactory(username="non-member")


@pytest.fixture(params=["anonymous", "non_member"])
def outsider_client(request, client, vault):
    if request.param == "non_member":
        client.force_login(request.getfixturevalue("non_member"))
    return client


@pytest.fixture
def member_client(member) -> Client:
    client = Client()
    client.force_login(member)
    return client


def assert_hidden(response) -> None:
    body = response.content.decode()
    for secret in SECRETS:
        assert secret not in body, f"{secret!r} in {response.request['PATH_INFO']}"


def test_the_catalogues_filter_lists_name_the_product_and_tag_to_members_only(
    outsider_client, member_client, vault
):
    response = outsider_client.get(reverse("catalogue"))
    assert response.status_code == 200 and "Atlas" in response.content.decode()
    assert_hidden(response)
    page = member_client.get(reverse("catalogue")).content.decode()
    assert 'value="zephyr"' in page and ">Zephyr Vault<" in page and 'value="vault-only"' in page


@pytest.mark.parametrize("query", ["product=zephyr", "tag=vault-only"])
def test_the_catalogue_filtered_on_the_product_or_its_tag_is_not_found(outsider_client, query):
    response = outsider_client.get(f"/?{query}")
    assert response.status_code == 404
    assert_hidden(response)


@pytest.mark.parametrize("query", ["product=zephyr", "tag=vault-only"])
def test_a_member_filters_the_catalogue_on_the_product_or_its_tag(member_client, query):
    response = member_client.get(f"/?{query}")
    assert response.status_code == 200
    assert "7.3.1-vault" in response.content.decode()


def test_searching_for_the_product_finds_nothing_for_outsiders(outsider_client, member_client):
    response = outsider_client.get("/?q=zephyr")
    assert response.status_code == 200 and b'data-testid="catalogue-row"' not in response.content
    assert_hidden(response)
    assert b"7.3.1-vault" in member_client.get("/?q=zephyr").content


def test_the_api_lists_and_gives_the_product_to_members_only(outsider_client, member_client):
    listed = outsider_client.get("/api/products/")
    assert [item["slug"] for item in listed.json()["results"]] == ["atlas"]
    assert_hidden(listed)
    detail = outsider_client.get("/api/products/zephyr/")
    assert detail.status_code == 404
    assert_hidden(detail)
    assert {"slug": "zephyr", "name": "Zephyr Vault", "description": "Deep storage for the vault team"} in (
        member_client.get("/api/products/").json()["results"]
    )
    assert member_client.get("/api/products/zephyr/").status_code == 200


@pytest.mark.parametrize("query", ["product=zephyr", "tag=vault-only", "q=zephyr"])
def test_the_apis_release_list_filtered_on_the_product_is_empty_for_outsiders(
    outsider_client, member_client, query
):
    response = outsider_client.get(f"/api/releases/?{query}")
    assert response.status_code == 200 and response.json()["count"] == 0
    assert_hidden(response)
    assert [item["version"] for item in member_client.get(f"/api/releases/?{query}").json()["results"]] == [
        "7.3.1-vault"
    ]


@pytest.mark.parametrize("name", ["feed-product-rss", "feed-product-atom"])
def test_the_products_feeds_are_not_found_even_for_members(outsider_client, member_client, name):
    """Feed readers send no session: a feed lists public releases only, whoever asks."""
    response = outsider_client.get(reverse(name, args=["zephyr"]))
    assert response.status_code == 404
    assert_hidden(response)
    assert member_client.get(reverse(name, args=["zephyr"])).status_code == 404
    everything = member_client.get(reverse(name.replace("-product", "")))
    assert everything.status_code == 200 and b"Atlas" in everything.content
    assert_hidden(everything)


# The tracker, through the Django views, with each user's passkey.

UNKNOWN = info_hash("never published")


@pytest.fixture
def django_tracker(settings, monkeypatch):
    """A fresh in-process tracker that reads the whitelist at its first request, in memory."""
    settings.REDIS_URL = ""
    monkeypatch.setattr(tracker_views, "in_process_tracker", tracker_views.InProcessTracker())


def vault_info_hash(release: Release) -> bytes:
    return bytes.fromhex(release.torrent.info_hash_v1)


def announce(client, key: str, info_hash: bytes) -> bytes:
    return client.get(
        reverse("announce-passkey", args=[key]) + "?" + announce_query(info_hash).decode()
    ).content


def scrape(client, key: str, info_hash: bytes) -> bytes:
    return client.get(reverse("scrape-passkey", args=[key]) + f"?info_hash={quoted(info_hash)}").content


def test_the_tracker_answers_a_non_members_passkey_as_for_an_unknown_torrent(
    client, vault, non_member, member, django_tracker
):
    outsider_key, member_key = Passkey.for_user(non_member).key, Passkey.for_user(member).key
    refused = bencode.encode({b"failure reason": REFUSED.encode()})

    assert announce(client, outsider_key, vault_info_hash(vault)) == refused
    assert announce(client, outsider_key, UNKNOWN) == refused
    assert scrape(client, outsider_key, vault_info_hash(vault)) == scrape(client, outsider_key, UNKNOWN)
    assert bencode.decode(scrape(client, outsider_key, vault_info_hash(vault)))[b"files"] == {}

    assert b"failure reason" not in bencode.decode(announce(client, member_key, vault_info_hash(vault)))
    files = bencode.decode(scrape(client, member_key, vault_info_hash(vault)))[b"files"]
    assert files[vault_info_hash(vault)][b"incomplete"] == 1


def test_the_tracker_answers_no_passkey_as_for_an_unknown_torrent(client, vault, django_tracker):
    query = "?" + announce_query(vault_info_hash(vault)).decode()
    unknown = "?" + announce_query(UNKNOWN).decode()
    assert (
        client.get(reverse("announce") + query).content == client.get(reverse("announce") + unknown).content
    )
    assert (
        bencode.decode(
            client.get(reverse("scrape") + f"?info_hash={quoted(vault_info_hash(vault))}").content
        )[b"files"]
        == {}
    )
