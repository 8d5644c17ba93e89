"""The OpenID Connect backend's own rules (distribution.oidc); sign-ins through a real provider are in
tests/sso/."""

import pytest
from django.contrib.auth import authenticate
from django.core.exceptions import SuspiciousOperation
from django.urls import reverse

from distribution.oidc import ProviderBackend
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
BACKEND = "distribution.oidc.ProviderBackend"
ISSUER = "https://id.example.com"


@pytest.fixture(autouse=True)
def single_sign_on(settings):
    settings.FANOUT_OIDC_ISSUER = ISSUER
    settings.OIDC_RP_CLIENT_ID = "fanout"
    settings.OIDC_RP_CLIENT_SECRET = "s3cret"
    settings.AUTHENTICATION_BACKENDS = [*settings.AUTHENTICATION_BACKENDS, BACKEND]


def test_a_deactivated_accounts_session_ends(client):
    user = UserFactory(username="ada")
    client.force_login(user, backend=BACKEND)
    assert client.get(reverse("account-passkey")).status_code == 200
    user.is_active = False
    user.save()
    assert client.get(reverse("account-passkey")).status_code == 302


def test_a_password_sign_in_is_none_of_its_business(rf):
    UserFactory(username="ada")
    request = rf.post("/accounts/login/?code=x&state=y")
    assert ProviderBackend().authenticate(request, username="ada", password="guess") is None
    assert authenticate(request, username="ada", password="correct horse battery staple").backend != BACKEND


@pytest.mark.parametrize(
    "payload",
    [
        {"iss": "https://evil.example.com", "aud": "fanout", "sub": "s-1"},
        {"iss": ISSUER, "aud": "another-client", "sub": "s-1"},
        {"iss": ISSUER, "aud": ["another-client"], "sub": "s-1"},
        {"iss": ISSUER, "sub": "s-1"},
    ],
)
def test_an_id_token_from_another_issuer_or_for_another_client_signs_nobody_in(payload):
    with pytest.raises(SuspiciousOperation, match="not issued by FANOUT_OIDC_ISSUER to this client"):
        ProviderBackend().get_userinfo("access-token", "id-token", payload)
