"""Every URL of the URL configuration, asked by each role, against a table written by hand.

The table is keyed by URL name (an unnamed route by its pattern; Django's admin
by one rule for its namespace). A URL the configuration serves without a row
here fails the first test, as does a row naming no URL: a new URL comes with
its rule.

The data: product Zephyr Vault, whose one published release is private to
group A and was made by the product's publisher (who therefore manages it, as
the maintainer does), and a draft of it with a file being uploaded by that
publisher. Whoever may not see the release is answered as if it did not
exist: a 404 where the URL names it, nothing of it where a list could show it,
and the tracker's answer for an unknown torrent.
"""

import base64

import pytest
from django.contrib.auth.models import Group
from django.contrib.auth.tokens import default_token_generator
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from bittorrent import bencode
from distribution import uploads
from distribution.access import PUBLISHERS_GROUP
from distribution.api_tokens import issue_api_token
from distribution.models import ApiToken, Passkey, ProductRole, Release, ReleaseFile
from tests.distribution.catalogue_data import make_release
from tests.factories import GroupFactory, ProductFactory, UserFactory
from tests.tracker.conftest import announce_query, quoted
from tracker import views as tracker_views
from tracker.engine import REFUSED

pytestmark = pytest.mark.django_db

ROLES = ("anonymous", "signed_in", "member", "publisher", "maintainer", "other_pub", "staff")
SEES_IT = {"member", "publisher", "maintainer", "staff"}
SECRETS = ("Zephyr Vault", "7.3.1-vault", "Deep storage for the vault team", "Vault Only", "vault-only")
FILE = "content/docs/readme.txt"
NO_KEY = "0" * 32

# What each role gets. login: a redirect to a sign-in page; 200+ names the release, 200- does not;
# open/shut, listed/hidden: the tracker's answer for it. {r} is /releases/<id>, {a}
# /api/releases/<id>, {webseed} the personal web seed's root with the role's passkey, {upload} the
# publisher's tus upload of the draft, {token} the role's own API token, {user} a user who is in no
# group, {group} group A, {reset} a password reset link; TUS is a tus creation POST naming the
# release and one of its files. POSTs to pages send user=<the product's publisher>, active=0 and notes.
#
#                                             anony- signed member pub-   main-  other  staff
#                                             mous   in            lisher tainer pub
MATRIX = {
    "catalogue": [
        ("GET    /",                          "200-   200-   200+   200+   200+   200-   200+"),
        ("GET    /?product=zephyr",           "404    404    200+   200+   200+   404    200+"),
        ("GET    /?tag=vault-only",           "404    404    200+   200+   200+   404    200+"),
        ("GET    /?q=zephyr",                 "200-   200-   200+   200+   200+   200-   200+"),
    ],
    "release-detail": [
        ("GET    {r}/",                       "404    404    200    200    200    404    200"),
    ],
    "release-progress": [
        ("GET    {r}/progress",               "404    404    200    200    200    404    200"),
    ],
    "release-torrent": [
        ("GET    {r}/torrent",                "404    404    200    200    200    404    200"),
    ],
    "release-magnet": [
        ("GET    {r}/magnet",                 "404    404    302    302    302    404    302"),
    ],
    "release-file": [
        ("GET    {r}/files/",                 "404    404    404    404    404    404    404"),
        ("GET    {r}/files/{file}",           "404    404    200    200    200    404    200"),
    ],
    "release-webseed-root": [
        ("GET    {r}/seed/",                  "404    404    404    404    404    404    404"),
    ],
    "release-webseed": [
        ("GET    {r}/seed/{file}",            "404    404    200    200    200    404    200"),
    ],
    "release-personal-webseed-root": [
        ("GET    {webseed}",                  "404    404    404    404    404    404    404"),
    ],
    "release-personal-webseed": [
        ("GET    {webseed}{file}",            "404    404    200    200    200    404    200"),
    ],
    "release-sha256sums": [
        ("GET    {r}/SHA256SUMS",             "404    404    200    200    200    404    200"),
    ],
    "release-stats": [
        ("GET    {r}/stats",                  "login  404    403    200+   200+   404    200+"),
        ("GET    {r}/stats?format=csv",       "login  404    403    200    200    404    200"),
    ],
    "release-retry": [
        ("GET    {r}/retry",                  "405    405    405    405    405    405    405"),
        ("POST   {r}/retry",                  "login  404    403    302    302    404    302"),
    ],
    "release-retire": [
        ("GET    {r}/retire",                 "405    405    405    405    405    405    405"),
        ("POST   {r}/retire",                 "login  404    403    302    302    404    302"),
    ],
    "release-edit": [
        ("GET    {r}/edit",                   "405    405    405    405    405    405    405"),
        ("POST   {r}/edit",                   "login  404    403    302    302    404    302"),
    ],
    "release-delete": [
        ("POST   {r}/delete",                 "login  404    403    302    302    404    302"),
    ],
    "release-uploaded": [
        ("GET    {r}/uploaded",               "405    405    405    405    405    405    405"),
        ("POST   {r}/uploaded",               "login  404    403    200    200    404    200"),
    ],
    "release-create": [
        ("GET    /publish/",                  "login  403    403    200+   200+   200-   200+"),
    ],
    "release-start": [
        ("POST   /publish/start",             "login  403    403    400    400    400    400"),
    ],
    "tus-create": [
        ("TUS    /uploads/",                  "403    403    403    409    409    404    409"),
    ],
    "tus-upload": [
        ("HEAD   {upload}",                   "403    403    403    200    404    404    404"),
    ],
    "publisher-releases": [
        ("GET    /my/releases/",              "login  403    403    200+   200+   200-   200+"),
    ],
    "product-roles": [
        ("GET    /products/zephyr/roles/",    "login  404    403    403    200    404    200"),
    ],
    "product-role-revoke": [
        ("POST   /products/zephyr/roles/revoke","login  404    403    403    302    404    302"),
    ],
    "staff-users": [
        ("GET    /staff/users/",              "login  403    403    403    403    403    200"),
    ],
    "staff-user-create": [
        ("GET    /staff/users/new",           "login  403    403    403    403    403    200"),
    ],
    "staff-user": [
        ("GET    /staff/users/{user}/",       "login  403    403    403    403    403    200"),
    ],
    "staff-user-active": [
        ("POST   /staff/users/{user}/active", "login  403    403    403    403    403    302"),
    ],
    "staff-groups": [
        ("GET    /staff/groups/",             "login  403    403    403    403    403    200"),
    ],
    "staff-group": [
        ("GET    /staff/groups/{group}/",     "login  403    403    403    403    403    200"),
    ],
    "staff-group-remove": [
        ("POST   /staff/groups/{group}/remove","login  403    403    403    403    403    302"),
    ],
    "staff-products": [
        ("GET    /staff/products/",           "login  403    403    403    403    403    200"),
    ],
    "feed-rss": [
        ("GET    /feeds/",                    "200-   200-   200-   200-   200-   200-   200-"),
    ],
    "feed-atom": [
        ("GET    /feeds/atom/",               "200-   200-   200-   200-   200-   200-   200-"),
    ],
    "feed-product-rss": [
        ("GET    /feeds/zephyr/",             "404    404    404    404    404    404    404"),
    ],
    "feed-product-atom": [
        ("GET    /feeds/zephyr/atom/",        "404    404    404    404    404    404    404"),
    ],
    "api-root": [
        ("GET    /api/",                      "200    200    200    200    200    200    200"),
    ],
    "api-schema": [
        ("GET    /api/schema/",               "200-   200-   200-   200-   200-   200-   200-"),
    ],
    "api-docs": [
        ("GET    /api/docs/",                 "200-   200-   200-   200-   200-   200-   200-"),
    ],
    "api-release-list": [
        ("GET    /api/releases/",             "200-   200-   200+   200+   200+   200-   200+"),
        ("GET    /api/releases/?product=zephyr","200-   200-   200+   200+   200+   200-   200+"),
        ("GET    /api/releases/?tag=vault-only","200-   200-   200+   200+   200+   200-   200+"),
        ("GET    /api/releases/?q=zephyr",    "200-   200-   200+   200+   200+   200-   200+"),
        ("GET    /api/releases/?info_hash={v1}","200-   200-   200+   200+   200+   200-   200+"),
        ("POST   /api/releases/",             "403    403    403    400    400    400    400"),
    ],
    "api-release-detail": [
        ("GET    {a}/",                       "404    404    200+   200+   200+   404    200+"),
        ("PATCH  {a}/",                       "404    404    403    200+   200+   404    200+"),
        ("DELETE {a}/",                       "404    404    403    409    409    404    409"),
    ],
    "api-release-finish": [
        ("POST   {a}/finish/",                "404    404    403    202    202    404    202"),
    ],
    "api-release-retry": [
        ("POST   {a}/retry/",                 "404    404    403    409    409    404    409"),
    ],
    "api-release-retire": [
        ("POST   {a}/retire/",                "404    404    403    200+   200+   404    200+"),
    ],
    "api-release-stats": [
        ("GET    {a}/stats/",                 "404    404    403    200    200    404    200"),
    ],
    "api-release-seeding": [
        ("GET    {a}/seeding/",               "404    404    200    200    200    404    200"),
    ],
    "api-product-list": [
        ("GET    /api/products/",             "200-   200-   200+   200+   200+   200-   200+"),
    ],
    "api-product-detail": [
        ("GET    /api/products/zephyr/",      "404    404    200+   200+   200+   404    200+"),
    ],
    "announce": [
        ("GET    /announce?{announce}",       "shut   shut   shut   shut   shut   shut   shut"),
    ],
    "announce-passkey": [
        ("GET    /announce/{key}?{announce}", "shut   shut   open   open   open   shut   open"),
    ],
    "scrape": [
        ("GET    /scrape?{scrape}",           "hidden hidden hidden hidden hidden hidden hidden"),
    ],
    "scrape-passkey": [
        ("GET    /scrape/{key}?{scrape}",     "shut   hidden listed listed listed hidden listed"),
    ],
    "admitted": [
        ("GET    /admitted/{key}",            "200-   200-   200-   200-   200-   200-   200-"),
    ],
    "web-server-sent": [
        ("POST   /web-server/sent",           "404    404    404    404    404    404    404"),
    ],
    "account-passkey": [
        ("GET    /account/passkey/",          "login  200    200    200    200    200    200"),
    ],
    "account-tokens": [
        ("GET    /account/tokens/",           "login  200    200    200    200    200    200"),
    ],
    "account-token-revoke": [
        ("POST   /account/tokens/{token}/revoke","login  302    302    302    302    302    302"),
    ],
    "dashboard": [
        ("GET    /dashboard/",                "login  403    403    403    403    403    200"),
    ],
    "dashboard-panel": [
        ("GET    /dashboard/panel",           "login  403    403    403    403    403    200"),
    ],
    "metrics": [
        ("GET    /metrics",                   "401    401    401    401    401    401    200"),
    ],
    "audit-log": [
        ("GET    /audit/",                    "login  403    403    403    403    403    200"),
    ],
    "audit-log-csv": [
        ("GET    /audit/export.csv",          "login  403    403    403    403    403    200"),
    ],
    "login": [
        ("GET    /accounts/login/",           "200    200    200    200    200    200    200"),
    ],
    "logout": [
        ("POST   /accounts/logout/",          "302    302    302    302    302    302    302"),
    ],
    "sso-start": [
        ("GET    /accounts/sso/",             "404    404    404    404    404    404    404"),
    ],
    "sso-callback": [
        ("GET    /accounts/sso/callback",     "404    404    404    404    404    404    404"),
    ],
    "password_change": [
        ("GET    /accounts/password_change/", "login  200    200    200    200    200    200"),
    ],
    "password_change_done": [
        ("GET    /accounts/password_change/done/","login  200    200    200    200    200    200"),
    ],
    # Without mail (EMAIL_HOST) the reset pages do not exist.
    "password_reset": [
        ("GET    /accounts/password_reset/",  "404    404    404    404    404    404    404"),
    ],
    "password_reset_done": [
        ("GET    /accounts/password_reset/done/","404    404    404    404    404    404    404"),
    ],
    "password_reset_confirm": [
        ("GET    {reset}",                    "404    404    404    404    404    404    404"),
    ],
    "password_reset_complete": [
        ("GET    /accounts/reset/done/",      "404    404    404    404    404    404    404"),
    ],
    "admin/login/": [
        ("GET    /admin/login/",              "login  login  login  login  login  login  login"),
    ],
    # Django's admin, one rule for its namespace and its unnamed redirects: staff only.
    "admin:*": [
        ("GET    /admin/",                    "login  login  login  login  login  login  200"),
        ("GET    /admin/distribution/release/","login  login  login  login  login  login  200+"),
        ("GET    /admin/distribution/product/","login  login  login  login  login  login  200+"),
    ],
}  # fmt: skip
CASES = [
    pytest.param(key, request_line, role, expected, id=f"{request_line}-{role}")
    for key, rows in MATRIX.items()
    for request_line, cells in rows
    for role, expected in zip(ROLES, cells.split(), strict=True)
]


def url_keys(patterns=None, prefix: str = "", namespace: str = "") -> set[str]:
    """What the table knows each URL pattern by: ``namespace:name``, or the route when unnamed."""
    keys = set()
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(pattern, URLResolver):
            inner = ":".join(filter(None, [namespace, pattern.namespace or ""]))
            keys |= url_keys(pattern.url_patterns, prefix + str(pattern.pattern), inner)
        elif isinstance(pattern, URLPattern):
            if pattern.name:
                keys.add(f"{namespace}:{pattern.name}" if namespace else pattern.name)
            else:
                keys.add(prefix + str(pattern.pattern))
    return keys


def rule_for(key: str) -> str | None:
    """The table's key that covers a URL: its own, or the admin's (named or not)."""
    if key in MATRIX:
        return key
    if key.startswith(("admin:", "admin/")):
        return "admin:*"
    return None


def test_every_url_has_a_rule_and_every_rule_a_url():
    keys = url_keys()
    assert sorted(key for key in keys if rule_for(key) is None) == [], "URLs without a rule in MATRIX"
    assert sorted(set(MATRIX) - {rule_for(key) for key in keys}) == [], "rules for no URL"


def test_the_table_has_a_cell_for_every_role():
    assert {len(cells.split()) for rows in MATRIX.values() for _, cells in rows} == {len(ROLES)}


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """Hundreds of users: their passwords need no strong hash here."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def world(settings) -> dict:
    """The product, its people, the private release and a draft being uploaded."""
    settings.PASSWORD_RESET_BY_EMAIL = False
    product = ProductFactory(
        name="Zephyr Vault", slug="zephyr", description="Deep storage for the vault team"
    )
    publisher = UserFactory(username="publisher")
    publisher.groups.add(Group.objects.get(name=PUBLISHERS_GROUP))
    maintainer = UserFactory(username="maintainer")
    product.publishers.add(publisher)
    product.publishers.add(maintainer, through_defaults={"role": ProductRole.Role.MAINTAINER})
    release = make_release(
        product=product,
        version="7.3.1-vault",
        visibility=Release.Visibility.PRIVATE,
        files=(("docs/readme.txt", 11), ("bin/tool", 4)),
        tags=("vault-only",),
    )
    Release.objects.filter(pk=release.pk).update(created_by=publisher)
    release.tags.update(name="Vault Only")
    release.audience.set([GroupFactory(name="A")])
    for path, data in (("docs/readme.txt", b"read me!\n\n"), ("bin/tool", b"tool")):
        release.disk_path(path).parent.mkdir(parents=True, exist_ok=True)
        release.disk_path(path).write_bytes(data)
    draft = Release.objects.create(
        product=product,
        version="7.4-draft",
        visibility=Release.Visibility.PRIVATE,
        torrent_format="v1",
        content_name="next.bin",
        is_single_file=True,
        created_by=publisher,
    )
    ReleaseFile.objects.create(release=draft, path="next.bin", size=10)
    upload = uploads.create_upload(release_id=draft.pk, path="next.bin", length=10, user=publisher)
    make_release(product=ProductFactory(name="Atlas", slug="atlas"), version="1.0")
    return {
        "release": Release.objects.get(pk=release.pk),
        "publisher": publisher,
        "maintainer": maintainer,
        "upload": upload,
        "bystander": UserFactory(username="bystander"),
    }


def user_of(role: str, world: dict):
    if role == "anonymous":
        return None
    if role in ("publisher", "maintainer"):
        return world[role]
    user = UserFactory(username=role, is_staff=role == "staff", is_superuser=role == "staff")
    if role == "member":
        user.groups.add(world["release"].audience.get())
    if role == "other_pub":
        user.groups.add(Group.objects.get(name=PUBLISHERS_GROUP))
        ProductFactory(name="Other", slug="other").publishers.add(user)
    return user


@pytest.fixture
def django_tracker(settings, monkeypatch):
    """A fresh in-process tracker, in memory, that reads the whitelist at its first request."""
    settings.REDIS_URL = ""
    monkeypatch.setattr(tracker_views, "in_process_tracker", tracker_views.InProcessTracker())


@pytest.mark.parametrize(("key", "request_line", "role", "expected"), CASES)
def test_each_role_gets_what_the_table_says(request, world, key, request_line, role, expected):
    release = world["release"]
    user = user_of(role, world)
    client = Client()
    if user is not None:
        client.force_login(user)
    passkey = NO_KEY if user is None else Passkey.for_user(user).key
    info_hash = bytes.fromhex(release.torrent.info_hash_v1)
    method, path = request_line.split()
    if path.startswith(("/announce", "/scrape", "/admitted")):
        request.getfixturevalue("django_tracker")
    bystander = world["bystander"]
    fields = {
        "r": f"/releases/{release.pk}",
        "a": f"/api/releases/{release.pk}",
        "v1": release.torrent.info_hash_v1,
        "file": FILE,
        "key": passkey,
        "announce": announce_query(info_hash).decode(),
        "scrape": f"info_hash={quoted(info_hash)}",
        "webseed": reverse("release-personal-webseed-root", args=[release.pk, passkey]),
        "upload": reverse("tus-upload", args=[world["upload"].id]),
        "user": bystander.pk,
        "group": release.audience.get().pk,
        "token": issue_api_token(user, name="mine", scope=ApiToken.Scope.READ)[0].pk if user else 0,
        "reset": reverse(
            "password_reset_confirm",
            args=[
                urlsafe_base64_encode(force_bytes(bystander.pk)),
                default_token_generator.make_token(bystander),
            ],
        ),
    }
    url = path.format(**fields)
    form = {"user": world["publisher"].pk, "active": "0", "notes": "Edited."}

    if method == "TUS":
        response = client.post(url, headers=tus_creation(release, "docs/readme.txt"))
    elif method == "HEAD":
        response = client.head(url, headers={"Tus-Resumable": "1.0.0"})
    elif method == "PATCH":
        response = client.patch(url, {"notes": "Edited."}, content_type="application/json")
    elif method == "DELETE":
        response = client.delete(url)
    elif method == "POST" and url.startswith("/api/"):
        response = client.post(url, {}, content_type="application/json")
    elif method == "POST":
        response = client.post(url, form)
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
    if response.status_code == 302 and location.startswith((reverse("login"), "/admin/login/")):
        return "login"
    if response.request["PATH_INFO"].startswith(("/announce", "/scrape")):
        assert response.status_code == 200
        reply = bencode.decode(response.content)
        if b"files" in reply:
            return "listed" if info_hash in reply[b"files"] else "hidden"
        return "shut" if reply.get(b"failure reason") == REFUSED.encode() else "open"
    return str(response.status_code)
