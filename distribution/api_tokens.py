"""API tokens: made, recognised and revoked here; the account page, the admin, the
command, the middleware and the API's authentication call these."""

import hashlib
import secrets
from datetime import timedelta

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from distribution import audit
from distribution.models import API_TOKEN_PREFIX, ApiToken

TOKEN_BYTES = 32
# A token used again within this long keeps its recorded last use: one write per
# minute at most, not one per request of a busy pipeline.
LAST_USED_PRECISION = timedelta(minutes=1)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_api_token(
    user, *, name: str, scope: str, request: HttpRequest | None = None
) -> tuple[ApiToken, str]:
    """A new token of ``user``'s and its clear text, which is not kept: show it once."""
    token = API_TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)
    with transaction.atomic():
        row = ApiToken.objects.create(
            user=user,
            name=name,
            scope=scope,
            token_sha256=_digest(token),
            prefix=token[: len(API_TOKEN_PREFIX) + 5],
        )
        audit.record("token.created", request=request, target=row, scope=scope)
    return row, token


def revoke_api_token(token: ApiToken, *, request: HttpRequest | None = None) -> bool:
    """Refuse the token from its next request on; False if it already was."""
    with transaction.atomic():
        if not token.revoke():
            return False
        audit.record("token.revoked", request=request, target=token)
    return True


def bearer_token(request: HttpRequest) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, else None."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def authenticate_api_token(token: str) -> ApiToken | None:
    """The live token (not revoked, its user active) whose text this is, its use recorded; else None."""
    row = (
        ApiToken.objects.select_related("user")
        .filter(token_sha256=_digest(token), revoked_at__isnull=True, user__is_active=True)
        .first()
    )
    if row is None:
        return None
    now = timezone.now()
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_PRECISION:
        ApiToken.objects.filter(pk=row.pk).update(last_used_at=now)
        row.last_used_at = now
    return row
