"""Before any view: API tokens sign requests in (distribution.api_tokens); oversized bodies are refused."""

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import Resolver404, resolve

from distribution.api_tokens import authenticate_api_token, bearer_token

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


class ApiTokenMiddleware:
    """``Authorization: Bearer <token>`` signs the request in as the token's user.

    A request that carries a token is never signed in by a session cookie, so
    CSRF, which protects sessions, does not apply to it (and a page of another
    site cannot add the header without a CORS preflight, which we never allow).
    A read token may not change anything, anywhere. An unknown or revoked token
    leaves the request anonymous: the API and the upload endpoint answer it 401,
    other pages as they answer anyone (``/metrics`` checks its own token).
    """

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.api_token = None
        token = bearer_token(request)
        if token is not None:
            api_token = authenticate_api_token(token) if token else None
            if api_token is not None and not api_token.may_write and request.method not in SAFE_METHODS:
                return JsonResponse(
                    {"detail": "This token may only read: make one with the publish scope."}, status=403
                )
            request.user = api_token.user if api_token else AnonymousUser()
            request.api_token = api_token
            request._dont_enforce_csrf_checks = True
        return self.get_response(request)


# The only pages that take files in a request body, and only from a signed-in user.
_FILE_RECEIVERS = {"tus-create", "tus-upload", "release-create"}


class RequestBodyLimitMiddleware:
    """Refuse a body larger than DATA_UPLOAD_MAX_MEMORY_SIZE with 413, before reading a byte of it,
    except where a signed-in user sends files (the publish page and the tus endpoint).

    Django limits the form fields it reads, not the files of a multipart body,
    which it spools to disk: without this, anyone could make it write gigabytes.
    """

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        length = request.META.get("CONTENT_LENGTH", "")
        if length.isdigit() and int(length) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
            try:
                url_name = resolve(request.path_info).url_name
            except Resolver404:
                url_name = None
            receives_files = request.user.is_authenticated and url_name in _FILE_RECEIVERS
            if not receives_files:
                return HttpResponse(
                    "This request's body is larger than this page takes.\n",
                    status=413,
                    content_type="text/plain; charset=utf-8",
                )
        return self.get_response(request)
