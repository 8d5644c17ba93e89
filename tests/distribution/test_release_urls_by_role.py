"""Every URL that names a private release or its product, asked by each role, against a table.

One release of product Zephyr Vault, private to group A, published with two
files and a torrent. Whoever may not see it is answered as if it did not
exist: a 404 where the URL names it, nothing of it where a list could show it,
and the tracker's answer for an unknown torrent. Stats, retry, retire and the
upload's end are for the product's publishers: a 403 only to those who may see
the release, a 404 to the rest.
"""

import base64

import pytest
from django.test import Client
from django.urls import NoReverseMatch, reverse

from bittorrent import bencode
from distribution.models import Passkey, Release
from tests.distribution.catalogue_data import make_release
from tests.factories import GroupFactory, ProductFactory, UserFactory
from tests.tracker.conftest import announce_query, quoted
from tracker import views as tracker_views
from tracker.engine import REFUSED

pytestmark = pytest.mark.django_db

ROLES = ("anonymous", "non_member", "member", "other_pub", "publisher", "staff")
SEES_IT = {"member", "publisher", "staff"}
SECRETS = ("Zephyr Vault", "7.3.1-vault", "Deep storage for the vault team", "Vault Only", "vault-only")
FILE = "content/docs/readme.txt"
NO_KEY = "0" * 32

# What each role gets. login: a redirect to the site's login page;
# 200+ names the release, 200- does not; ok/refused, listed/hidden: the tracker's answer for it.
# {r} is /releases/<id>, {a} /api/releases/<id>, {webseed} the personal web seed's root with the
# role's passkey; TUS is a tus creation POST naming the release and one of its files.
#                                                          anon-   non-    member  other   pub-
#                                                          ymous   member          pub     lisher  staff
WALK = [
    ("detail",       "GET  {r}/",                          "404     404     200     404     200     200"),
    ("progress",     "GET  {r}/progress",                  "404     404     200     404     200     200"),
    ("torrent",      "GET  {r}/torrent",                   "404     404     200     404     200     200"),
    ("magnet",       "GET  {r}/magnet",                    "404     404     302     404     302     302"),
    ("files root",   "GET  {r}/files/",                    "404     404     404     404     404     404"),
    ("file",         "GET  {r}/files/{file}",              "404     404     200     404     200     200"),
    ("seed root",    "GET  {r}/seed/",                     "404     404     404     404     404     404"),
    ("seed file",    "GET  {r}/seed/{file}",               "404     404     200     404     200     200"),
    ("webseed root", "GET  {webseed}",                     "404     404     404     404     404     404"),
    ("webseed file", "GET  {webseed}{file}",               "404     404     200     404     200     200"),
    ("SHA256SUMS",   "GET  {r}/SHA256SUMS",                "404     404     200     404     200     200"),
    ("stats",        "GET  {r}/stats",                     "login   404     403     404     200+    200+"),
    ("stats csv",    "GET  {r}/stats?format=csv",          "login   404     403     404     200     200"),
    ("retry GET",    "GET  {r}/retry",                     "405     405     405     405     405     405"),
    ("retry",        "POST {r}/retry",                     "login   404     403     404     302     302"),
    ("retire GET",   "GET  {r}/retire",                    "405     405     405     405     405     405"),
    ("retire",       "POST {r}/retire",                    "login   404     403     404     302     302"),
    ("uploaded GET", "GET  {r}/uploaded",                  "405     405     405     405     405     405"),
    ("uploaded",     "POST {r}/uploaded",                  "login   404     403     404     200     200"),
    ("tus create",   "TUS  /uploads/",                     "403     403     403     404     409     409"),
    ("product feed", "GET  /feeds/zephyr/",                "404     404     404     404     404     404"),
    ("product atom", "GET  /feeds/zephyr/atom/",           "404     404     404     404     404     404"),
    ("feed",         "GET  /feeds/",                       "200-    200-    200-    200-    200-    200-"),
    ("atom",         "GET  /feeds/atom/",                  "200-    200-    200-    200-    200-    200-"),
    ("api release",  "GET  {a}/",                          "404     404     200+    404     200+    200+"),
    ("api edit",     "PATCH {a}/",                         "404     404     403     404     200+    200+"),
    ("api finish",   "POST {a}/finish/",                   "404     404     403     404     202     202"),
    ("api retry",    "POST {a}/retry/",                    "404     404     403     404     409     409"),
    ("api retire",   "POST {a}/retire/",                   "404     404     403     404     200+    200+"),
    ("api stats",    "GET  {a}/stats/",                    "404     404     403     404     200     200"),
    ("api seeding",  "GET  {a}/seeding/",                  "404     404     200     404     200     200"),
    ("api releases", "GET  /api/releases/",                "200-    200-    200+    200-    200+    200+"),
    ("api ?product", "GET  /api/releases/?product=zephyr", "200-    200-    200+    200-    200+    200+"),
    ("api ?tag",     "GET  /api/releases/?tag=vault-only", "200-    200-    200+    200-    200+    200+"),
    ("api ?q",       "GET  /api/releases/?q=zephyr",       "200-    200-    200+    200-    200+    200+"),
    ("api ?hash",    "GET  /api/releases/?info_hash={v1}", "200-    200-    200+    200-    200+    200+"),
    ("api product",  "GET  /api/products/zephyr/",         "404     404     200+    404     200+    200+"),
    ("api products", "GET  /api/products/",                "200-    200-    200+    200-    200+    200+"),
    ("catalogue",    "GET  /",                             "200-    200-    200+    200-    200+    200+"),
    ("by product",   "GET  /?product=zephyr",              "404     404     200+    404     200+    200+"),
    ("by tag",       "GET  /?tag=vault-only",              "404     404     200+    404     200+    200+"),
    ("search",       "GET  /?q=zephyr",                    "200-    200-    200+    200-    200+    200+"),
    ("my releases",  "GET  /my/releases/",                 "login   403     403     200-    200+    200+"),
    ("publish page", "GET  /publish/",                     "login   403     403     200-    200+    200+"),
    ("announce",     "GET  /announce?{announce}",          "refused refused refused refused refused refused"),
    ("announce+key", "GET  /announce/{key}?{announce}",    "refused refused ok      refused ok      ok"),
    ("scrape",       "GET  /scrape?{scrape}",              "hidden  hidden  hidden  hidden  hidden  hidden"),
    ("scrape+key",   "GET  /scrape/{key}?{scrape}",        "refused hidden  listed  hidden  listed  listed"),
    ("dashboard",    "GET  /dashboard/",                   "login   403     403     403     403     200"),
    ("dash panel",   "GET  /dashboard/panel",              "login   403     403     403     403     200"),
    ("metrics",      "GET  /metrics",                      "401     401     401     401     401     200"),
]  # fmt: skip
CASES = [
    pytest.param(name, request, role, expected, id=f"{name}-{role}")
    for name, request, row in WALK
    for role, expected in zip(ROLES, row.split(), strict=True)
]


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """Two hundred-odd logins: the users' passwords need no strong hash here."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def release(publishers_group) -> Release:
    product = ProductFactory(
        name="Zephyr Vault", slug="zephyr", description="Deep storage for the vault team"
    )
    release = make_release(
        product=product,
        version="7.3.1-vault",
        visibility=Release.Visibility.PRIVATE,
        files=(("docs/readme.txt", 11), ("bin/tool", 4)),
        tags=("vault-only",),
    )
    release.tags.update(name="Vault Only")
    release.audience.set([GroupFactory(name="A")])
    for path, data in (("docs/readme.txt", b"read me!\n\n"), ("bin/tool", b"tool")):
        release.disk_path(path).parent.mkdir(parents=True, exist_ok=True)
        release.disk_path(path).write_bytes(data)
    make_release(product=ProductFactory(name="Atlas", slug="atlas"), version="1.0")
    return release


@pytest.fixture
def publishers_group(db):
    from django.contrib.auth.models import Group

    from distribution.services import PUBLISHERS_GROUP

    return Group.objects.get(name=PUBLISHERS_GROUP)


def user_of(role: str, release: Release, publishers_group):
    if role == "anonymous":
        return None
    user = UserFactory(username=role, is_staff=role == "staff")
    if role == "member":
        user.groups.add(release.audience.get())
    if role in ("other_pub", "publisher"):
        user.groups.add(publishers_group)
        product = release.product if role == "publisher" else ProductFactory(name="Other", slug="other")
        product.publishers.add(user)
    return user


@pytest.fixture
def django_tracker(settings, monkeypatch):
    """A fresh in-process tracker, in memory, that reads the whitelist at its first request."""
    settings.REDIS_URL = ""
    monkeypatch.setattr(tracker_views, "in_process_tracker", tracker_views.InProcessTracker())


def web_seed_root(release: Release, key: str) -> str:
    try:
        return reverse("release-personal-webseed-root", args=[release.pk, key])
    except NoReverseMatch:
        pytest.skip("no personal web seed route yet")


@pytest.mark.parametrize(("name", "request_line", "role", "expected"), CASES)
def test_each_role_gets_what_the_table_says(
    request, release, publishers_group, name, request_line, role, expected
):
    user = user_of(role, release, publishers_group)
    client = Client()
    if user is not None:
        client.force_login(user)
    key = NO_KEY if user is None else Passkey.for_user(user).key
    info_hash = bytes.fromhex(release.torrent.info_hash_v1)
    method, path = request_line.split()
    if path.startswith(("/announce", "/scrape")):
        request.getfixturevalue("django_tracker")
    fields = {
        "r": f"/releases/{release.pk}",
        "a": f"/api/releases/{release.pk}",
        "v1": release.torrent.info_hash_v1,
        "file": FILE,
        "key": key,
        "announce": announce_query(info_hash).decode(),
        "scrape": f"info_hash={quoted(info_hash)}",
    }
    if "{webseed}" in path:
        fields["webseed"] = web_seed_root(release, key)
    url = path.format(**fields)

    if method == "TUS":
        response = client.post(url, headers=tus_creation(release, "docs/readme.txt"))
    elif method == "PATCH":
        response = client.patch(url, {"notes": "Edited."}, content_type="application/json")
    elif method == "POST":
        response = client.post(url)
    else:
        response = client.get(url)

    assert answer(response, info_hash) == expected.rstrip("+-"), url
    content = b"".join(response.streaming_content) if response.streaming else response.content
    body = content.decode(errors="replace")
    if role not in SEES_IT or expected.endswith("-"):
        assert not [secret for secret in SECRETS if secret in body], url
    if expected.endswith("+"):
        assert "7.3.1-vault" in body or "Zephyr Vault" in body, url


def tus_creation(release: Release, path: str) -> dict[str, str]:
    def encoded(text: str) -> str:
        return base64.b64encode(text.encode()).decode()

    return {
        "Tus-Resumable": "1.0.0",
        "Upload-Length": str(release.files.get(path=path).size),
        "Upload-Metadata": f"release {encoded(str(release.pk))},relativePath {encoded(path)}",
    }


def answer(response, info_hash: bytes) -> str:
    """The response as the table writes it."""
    location = response.get("Location", "")
    if response.status_code == 302 and location.startswith(reverse("login")):
        return "login"
    if response.request["PATH_INFO"].startswith(("/announce", "/scrape")):
        assert response.status_code == 200
        reply = bencode.decode(response.content)
        if b"files" in reply:
            return "listed" if info_hash in reply[b"files"] else "hidden"
        return "refused" if reply.get(b"failure reason") == REFUSED.encode() else "ok"
    return str(response.status_code)
