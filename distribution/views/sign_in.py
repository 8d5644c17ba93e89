"""The sign-in page, and the two ends of single sign-on's code flow (distribution.oidc).

The page offers "Sign in with <provider>" when FANOUT_OIDC_ISSUER is set, and
the password form unless FANOUT_OIDC_ONLY, which also refuses password POSTs.
"""

import logging

import requests
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import LoginView
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views import View
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

from distribution.oidc import ProviderUnavailable, callback_url, provider_endpoints

logger = logging.getLogger(__name__)


def _single_sign_on_is_set_up() -> None:
    if not settings.FANOUT_OIDC_ISSUER:
        raise Http404("Single sign-on is not set up here.")


class SignInView(LoginView):
    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["sso_provider_name"] = settings.FANOUT_OIDC_ISSUER and settings.FANOUT_OIDC_PROVIDER_NAME
        context["password_sign_in"] = not settings.FANOUT_OIDC_ONLY
        return context

    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if settings.FANOUT_OIDC_ONLY:
            raise PermissionDenied(
                f"This site takes no passwords: sign in with {settings.FANOUT_OIDC_PROVIDER_NAME}."
            )
        return super().post(request, *args, **kwargs)


class ProviderRedirectView(OIDCAuthenticationRequestView):
    """Off to the provider's sign-in, with the state, nonce and PKCE verifier kept in the session."""

    def __init__(self, **kwargs) -> None:
        # Not the library's, which reads the provider's endpoint from the settings: ours is discovered.
        View.__init__(self, **kwargs)

    def get(self, request: HttpRequest) -> HttpResponse:
        _single_sign_on_is_set_up()
        try:
            self.OIDC_OP_AUTH_ENDPOINT = provider_endpoints().authorization
        except ProviderUnavailable:
            logger.exception("single sign-on: the provider's discovery document")
            messages.error(
                request, f"{settings.FANOUT_OIDC_PROVIDER_NAME} cannot be reached: try again in a minute."
            )
            return redirect("login")
        self.OIDC_RP_CLIENT_ID = settings.OIDC_RP_CLIENT_ID
        return super().get(request)

    def get_extra_params(self, request: HttpRequest) -> dict[str, str]:
        return {"redirect_uri": callback_url()}


class ProviderCallbackView(OIDCAuthenticationCallbackView):
    """Where the provider sends the browser back with a code: signs the user in, or says why not."""

    def get(self, request: HttpRequest) -> HttpResponse:
        _single_sign_on_is_set_up()
        try:
            return super().get(request)
        except (ProviderUnavailable, requests.RequestException):
            logger.exception("single sign-on: the provider did not answer the callback's requests")
            return self.login_failure()

    def login_failure(self) -> HttpResponse:
        user = getattr(self, "user", None)
        if user is not None and not user.is_active:
            reason = "your account here is deactivated; ask an administrator"
        else:
            reason = getattr(self.request, "sso_refusal", None) or "try again, or ask an administrator"
        messages.error(
            self.request, f"Signing in with {settings.FANOUT_OIDC_PROVIDER_NAME} did not succeed: {reason}."
        )
        return redirect("login")
