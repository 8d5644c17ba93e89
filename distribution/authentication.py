"""The API's authentication: the API token the middleware recognised, or the session."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import build_bearer_security_scheme_object
from rest_framework import authentication, exceptions

from distribution.api_tokens import bearer_token


class ApiTokenAuthentication(authentication.BaseAuthentication):
    """``Authorization: Bearer <token>``, recognised by distribution.middleware.ApiTokenMiddleware."""

    def authenticate(self, request):
        django_request = request._request
        api_token = getattr(django_request, "api_token", None)
        if api_token is not None:
            return django_request.user, api_token
        if bearer_token(django_request):
            raise exceptions.AuthenticationFailed("The API token is unknown or revoked.")
        return None

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="fanout"'


class ApiTokenScheme(OpenApiAuthenticationExtension):
    """How the OpenAPI schema describes ApiTokenAuthentication (drf-spectacular finds it by its target)."""

    target_class = ApiTokenAuthentication
    name = "apiToken"

    def get_security_definition(self, auto_schema) -> dict:
        return build_bearer_security_scheme_object(header_name="Authorization", token_prefix="Bearer")
