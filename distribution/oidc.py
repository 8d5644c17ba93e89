"""The OpenID Connect client of single sign-on, on mozilla-django-oidc: the provider's endpoints from
its discovery document, the checks the library leaves out, and the backend that hands the checked
claims to distribution.sso.

The library runs the authorization code flow (state, nonce, PKCE), exchanges the
code and checks the ID token's signature against the provider's keys, its
expiry and its nonce. It takes the provider's endpoints from the settings;
ours are discovered from FANOUT_OIDC_ISSUER at the first sign-in instead, so
that setting the issuer is enough and no process needs the provider to start.
"""

import time
from dataclasses import dataclass

import requests
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import SuspiciousOperation
from django.urls import reverse
from mozilla_django_oidc.auth import OIDCAuthenticationBackend

from distribution import sso

# Endpoints rarely move; a provider that moves them is followed within this many seconds.
DISCOVERY_TTL = 3600.0


class ProviderUnavailable(Exception):
    """The provider's discovery document could not be had, or does not describe FANOUT_OIDC_ISSUER."""


@dataclass(frozen=True)
class ProviderEndpoints:
    authorization: str
    token: str
    userinfo: str
    jwks: str


_discovered: dict[str, tuple[float, ProviderEndpoints]] = {}


def provider_endpoints() -> ProviderEndpoints:
    """FANOUT_OIDC_ISSUER's endpoints, from its discovery document (OpenID Connect Discovery 1.0, 4)."""
    issuer = settings.FANOUT_OIDC_ISSUER
    known = _discovered.get(issuer)
    if known is not None and known[0] > time.monotonic():
        return known[1]
    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    try:
        response = requests.get(url, timeout=settings.OIDC_TIMEOUT)
        response.raise_for_status()
        document = response.json()
    except (requests.RequestException, ValueError) as error:
        raise ProviderUnavailable(f"cannot read {url}: {error}") from error
    # The document must be the issuer's own: tokens are checked against this name.
    if document.get("issuer") != issuer:
        raise ProviderUnavailable(
            f"{url} names the issuer {document.get('issuer')!r}, not FANOUT_OIDC_ISSUER ({issuer!r})"
        )
    try:
        endpoints = ProviderEndpoints(
            authorization=document["authorization_endpoint"],
            token=document["token_endpoint"],
            userinfo=document["userinfo_endpoint"],
            jwks=document["jwks_uri"],
        )
    except KeyError as missing:
        raise ProviderUnavailable(f"{url} names no {missing.args[0]}") from None
    _discovered[issuer] = (time.monotonic() + DISCOVERY_TTL, endpoints)
    return endpoints


def callback_url() -> str:
    """The redirect URI registered at the provider, under FANOUT_PUBLIC_URL whatever host a request
    came by (behind a proxy, the request's own may be another scheme or name)."""
    return settings.FANOUT_PUBLIC_URL + reverse(settings.OIDC_AUTHENTICATION_CALLBACK_URL)


class ProviderBackend(OIDCAuthenticationBackend):
    """Signs in the user of the provider's callback (distribution.views.sign_in); as ModelBackend,
    whose permission checks it inherits, it also loads the signed-in user of each request."""

    def __init__(self, *args, **kwargs) -> None:
        # Django makes a backend for every request of a signed-in user: the provider's endpoints,
        # which the library reads here, are looked up by a sign-in only (authenticate).
        self.UserModel = get_user_model()
        self.OIDC_RP_CLIENT_ID = settings.OIDC_RP_CLIENT_ID
        self.OIDC_RP_CLIENT_SECRET = settings.OIDC_RP_CLIENT_SECRET
        self.OIDC_RP_SIGN_ALGO = settings.OIDC_RP_SIGN_ALGO
        self.OIDC_RP_IDP_SIGN_KEY = None

    def authenticate(self, request, **kwargs):
        # Only the provider's callback passes a nonce: a password sign-in is none of ours.
        if "nonce" not in kwargs:
            return None
        endpoints = provider_endpoints()
        self.OIDC_OP_TOKEN_ENDPOINT = endpoints.token
        self.OIDC_OP_USER_ENDPOINT = endpoints.userinfo
        self.OIDC_OP_JWKS_ENDPOINT = endpoints.jwks
        return super().authenticate(request, **kwargs)

    def get_user(self, user_id):
        # As ModelBackend: a deactivated account's sessions end (the library's would go on).
        user = super().get_user(user_id)
        return user if user is not None and self.user_can_authenticate(user) else None

    def get_token(self, payload: dict) -> dict:
        payload["redirect_uri"] = callback_url()
        return super().get_token(payload)

    def get_userinfo(self, access_token: str, id_token: str, payload: dict) -> dict:
        # The ID token's issuer and audience (OpenID Connect Core 3.1.3.7), which the library does
        # not check, and the userinfo's subject, which must be the ID token's (5.3.2).
        audience = payload.get("aud")
        audiences = [audience] if isinstance(audience, str) else audience or []
        if payload.get("iss") != settings.FANOUT_OIDC_ISSUER or self.OIDC_RP_CLIENT_ID not in audiences:
            raise SuspiciousOperation("the ID token was not issued by FANOUT_OIDC_ISSUER to this client")
        claims = super().get_userinfo(access_token, id_token, payload)
        if claims.get("sub") != payload.get("sub"):
            raise SuspiciousOperation("the userinfo is about another subject than the ID token")
        return claims

    def get_or_create_user(self, access_token: str, id_token: str, payload: dict):
        claims = self.get_userinfo(access_token, id_token, payload)
        try:
            return sso.user_for_claims(issuer=settings.FANOUT_OIDC_ISSUER, claims=claims)
        except sso.SignInRefused as refusal:
            # For the sign-in page to tell (the library only logs it, and answers "no user").
            self.request.sso_refusal = str(refusal)
            raise SuspiciousOperation(str(refusal)) from refusal
