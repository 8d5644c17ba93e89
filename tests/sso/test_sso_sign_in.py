"""Single sign-on against a real OpenID Connect provider (provider.mjs) on loopback.

A user signs in with the provider in Debian's Chromium: the first sign-in makes
their account with the provider's groups, and a private release for one of them
opens to them on its page and at the tracker. The provider then drops that
group; at their next sign-in the page answers 404 at once and the tracker
refuses their passkey within FANOUT_TRACKER_WHITELIST_REFRESH seconds. With
requests: a provider's user name that is a local account's does not sign in as
it, and FANOUT_OIDC_ONLY still signs in through the provider and takes no password.
"""

import re
import time
from urllib.parse import urljoin

import pytest
import requests
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.urls import reverse

from bittorrent import bencode
from distribution.models import Passkey, Release, SsoIdentity
from distribution.oidc import ProviderUnavailable, provider_endpoints
from harness.polling import wait_until
from tests.browser.conftest import ARTIFACTS, browser, needs_chromium, publishers_group  # noqa: F401
from tests.distribution.catalogue_data import make_release
from tests.factories import UserFactory
from tests.sso.conftest import needs_node
from tests.tracker.conftest import announce_query
from tracker import views as tracker_views
from tracker.engine import REFUSED

pytestmark = [pytest.mark.django_db(transaction=True), needs_node]

PASSWORD = "provider password"


def tracker_refuses(client, passkey: str, info_hash: bytes) -> bool:
    query = "?" + announce_query(info_hash).decode()
    answer = bencode.decode(client.get(reverse("announce-passkey", args=[passkey]) + query).content)
    return answer.get(b"failure reason") == REFUSED.encode()


def screenshot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"sso-{name}.png"), full_page=True)


@needs_chromium
def test_the_providers_groups_open_a_private_release_and_a_dropped_group_closes_it_at_the_next_sign_in(
    browser,  # noqa: F811 (the fixture imported from tests.browser.conftest)
    live_server,
    single_sign_on,
    client,
    settings,
    monkeypatch,
):
    settings.FANOUT_TRACKER_WHITELIST_REFRESH = 1
    monkeypatch.setattr(tracker_views, "in_process_tracker", tracker_views.InProcessTracker())
    qa = Group.objects.create(name="qa")
    release = make_release(version="7.0", visibility=Release.Visibility.PRIVATE)
    release.audience.set([qa])
    info_hash = bytes.fromhex(release.torrent.info_hash_v1)

    def ada_at_the_provider(*, groups: list[str]) -> None:
        single_sign_on.set_account(
            "ada",
            password=PASSWORD,
            sub="0f3c-ada",
            preferred_username="ada",
            email="ada@example.com",
            groups=groups,
        )

    ada_at_the_provider(groups=["qa", "ops"])
    page = browser.new_context(base_url=live_server.url).new_page()
    page.set_default_timeout(20_000)
    release_path = f"/releases/{release.pk}/"

    # First sign-in: the provider's page, then back to the release the user asked for.
    page.goto(f"/accounts/login/?next={release_path}")
    screenshot(page, "1-login-page")
    page.get_by_role("link", name="Sign in with Acme ID").click()
    page.wait_for_url(f"{single_sign_on.issuer}/interaction/**")
    page.fill("input[name=login]", "ada")
    page.fill("input[name=password]", PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_server.url}{release_path}")
    assert "7.0" in page.text_content("h1")
    screenshot(page, "2-private-release")

    ada = get_user_model().objects.get(username="ada")
    assert set(ada.groups.values_list("name", flat=True)) == {"qa", "ops"}
    assert (ada.email, ada.has_usable_password()) == ("ada@example.com", False)
    assert SsoIdentity.objects.get(user=ada).subject == "0f3c-ada"
    passkey = Passkey.for_user(ada).key
    assert not tracker_refuses(client, passkey, info_hash)

    # The provider drops qa. Signed out and in again: no password asked (the provider's session).
    ada_at_the_provider(groups=["ops"])
    page.get_by_role("button", name="Log out ada").click()
    page.goto("/accounts/login/")
    page.get_by_role("link", name="Sign in with Acme ID").click()
    page.wait_for_url(f"{live_server.url}/")
    signed_in_again = time.monotonic()

    assert set(ada.groups.values_list("name", flat=True)) == {"ops"}
    assert page.goto(release_path).status == 404
    screenshot(page, "3-release-gone")
    wait_until(lambda: tracker_refuses(client, passkey, info_hash), timeout=10, what="the tracker's refusal")
    assert time.monotonic() - signed_in_again < settings.FANOUT_TRACKER_WHITELIST_REFRESH + 2
    assert get_user_model().objects.filter(username="ada").count() == 1


def sign_in_with_the_provider(live_server, login: str, password: str) -> requests.Response:
    """The browser's path with requests: Fanout's button, the provider's form, back to Fanout."""
    session = requests.Session()
    form = session.get(f"{live_server.url}/accounts/sso/", timeout=10)
    action = re.search(r'<form method="post" action="([^"]+)"', form.text).group(1)
    return session.post(urljoin(form.url, action), data={"login": login, "password": password}, timeout=10)


def test_a_provider_user_named_as_a_local_account_does_not_sign_in_as_it(live_server, single_sign_on):
    admin = UserFactory(username="admin", is_staff=True, is_superuser=True)
    single_sign_on.set_account("mallory", password=PASSWORD, sub="m-1", preferred_username="admin")

    done = sign_in_with_the_provider(live_server, "mallory", PASSWORD)

    assert done.url == f"{live_server.url}/accounts/login/"
    assert "the user name &#x27;admin&#x27; belongs to another account here" in done.text
    assert "Log out" not in done.text
    assert not SsoIdentity.objects.exists()
    assert list(get_user_model().objects.all()) == [admin]


def test_with_sso_only_the_provider_signs_in_and_no_password_does(
    live_server, single_sign_on, settings, client
):
    settings.FANOUT_OIDC_ONLY = True
    settings.AUTHENTICATION_BACKENDS = [
        "axes.backends.AxesStandaloneBackend",
        "distribution.oidc.ProviderBackend",
    ]
    UserFactory(username="admin", is_staff=True, is_superuser=True)
    single_sign_on.set_account("bo", password=PASSWORD, sub="b-1", preferred_username="bo")

    login_page = requests.get(f"{live_server.url}/admin/", timeout=10)
    assert login_page.url == f"{live_server.url}/accounts/login/?next=/admin/"
    assert "Sign in with Acme ID" in login_page.text and 'name="password"' not in login_page.text
    refused = client.post(reverse("login"), {"username": "admin", "password": "correct horse battery staple"})
    assert refused.status_code == 403 and "This site takes no passwords" in refused.text

    done = sign_in_with_the_provider(live_server, "bo", PASSWORD)
    assert done.url == f"{live_server.url}/" and "Log out bo" in done.text


def test_an_issuer_that_its_discovery_document_does_not_name_is_refused(single_sign_on, settings):
    settings.FANOUT_OIDC_ISSUER = single_sign_on.issuer + "/"
    with pytest.raises(ProviderUnavailable, match="names the issuer"):
        provider_endpoints()
    settings.FANOUT_OIDC_ISSUER = single_sign_on.issuer
    assert provider_endpoints().token.startswith(single_sign_on.issuer)
