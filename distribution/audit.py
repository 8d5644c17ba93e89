"""The audit log: who did what, when and from which address.

Each state change worth answering for records one line where it is written
(services, api_tokens, access; the admin's node credential actions), each
private-release download where it is served (the catalogue's views), and
signing in and out where Django announces it (the receivers below, connected
in apps.py). Lines are never changed; ``purge_expired_entries`` removes those
older than FANOUT_AUDIT_RETENTION_DAYS.

Actions are named "<noun>.<verb>". The address is the one django-axes counts
failed sign-ins against (AXES_CLIENT_IP_CALLABLE, tracker.views.sign_in_client_ip:
X-Forwarded-For only from FANOUT_TRUSTED_PROXIES, None when it is not an
address), read through axes because this package may not import the tracker.
"""

import datetime
import ipaddress
from typing import Any

from axes.helpers import get_client_ip_address
from django.conf import settings
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from distribution.models import AuditEntry

SSO_BACKEND = "distribution.oidc.ProviderBackend"
PURGE_BATCH = 5000
TARGET_TEXT_MAX = AuditEntry._meta.get_field("target_text").max_length
ACTOR_NAME_MAX = AuditEntry._meta.get_field("actor_name").max_length

# The actions the product records, for the audit page's suggestions; record() takes any name.
ACTIONS = (
    "user.signed_in",
    "user.sign_in_failed",
    "user.signed_out",
    "release.created",
    "release.uploaded",
    "release.published",
    "release.retried",
    "release.retired",
    "release.deleted",
    "release.access_changed",
    "release.torrent_downloaded",
    "release.magnet_downloaded",
    "release.web_seed_used",
    "release.file_downloaded",
    "token.created",
    "token.revoked",
    "passkey.regenerated",
    "node_credential.revoked",
    "node_credential.allowed_again",
    "role.granted",
    "role.revoked",
    "user.created",
    "user.deactivated",
    "user.reactivated",
    "user.privileges_changed",
    "group.created",
    "group.member_added",
    "group.member_removed",
)


def record(
    action: str,
    *,
    actor=None,
    request: HttpRequest | None = None,
    target: models.Model | None = None,
    **details,
) -> AuditEntry:
    """Write one line: ``actor`` (else the request's signed-in user) did ``action`` to ``target``.

    ``request`` gives the client's address; ``details`` must be JSON (dates and UUIDs may be in it).
    """
    return AuditEntry.objects.create(**_entry_fields(action, actor, request, target, details))


def record_once_a_day(
    action: str, *, target: models.Model, actor=None, request: HttpRequest | None = None
) -> None:
    """``record`` for a user (``actor``, else the request's), unless their ``action`` on ``target``
    is already recorded today (UTC).

    For requests that come by the hundred (a web seed's ranges): one INSERT that
    the database drops when the day's line exists, no read, no error.
    """
    fields = _entry_fields(action, actor, request, target, {})
    today = fields["at"].date().isoformat()
    once_key = f"{action}:{fields['actor'].pk}:{fields['target_type']}:{fields['target_id']}:{today}"
    AuditEntry.objects.bulk_create([AuditEntry(**fields, once_key=once_key)], ignore_conflicts=True)


def _entry_fields(
    action: str, actor, request: HttpRequest | None, target: models.Model | None, details: dict[str, Any]
) -> dict[str, Any]:
    if actor is None and request is not None and getattr(request, "user", None) is not None:
        actor = request.user if request.user.is_authenticated else None
    return {
        "at": timezone.now(),
        "action": action,
        "actor": actor,
        "actor_name": actor.get_username() if actor is not None else "",
        "address": get_client_ip_address(request) if request is not None else None,
        "target_type": target._meta.label_lower if target is not None else "",
        "target_id": str(target.pk) if target is not None else "",
        "target_text": str(target)[:TARGET_TEXT_MAX] if target is not None else "",
        "details": details,
    }


def entries_matching(
    *,
    actor: str = "",
    action: str = "",
    target: str = "",
    release_id: int | None = None,
    since: datetime.date | None = None,
    until: datetime.date | None = None,
    address: str = "",
) -> QuerySet[AuditEntry]:
    """The audit page's filters, newest first. ``actor`` is a user name (a failed sign-in's is the
    name that was tried); ``action`` a whole action or its start ("release."); ``target`` part of
    the target's text; ``address`` an address or its start ("10.1."); the dates inclusive, UTC."""
    entries = AuditEntry.objects.all()
    if actor:
        entries = entries.filter(actor_name=actor)
    if action:
        entries = (
            entries.filter(action__startswith=action)
            if action.endswith(".")
            else entries.filter(action=action)
        )
    if target:
        entries = entries.filter(target_text__icontains=target)
    if release_id is not None:
        entries = entries.filter(target_type="distribution.release", target_id=str(release_id))
    if since is not None:
        entries = entries.filter(at__gte=datetime.datetime.combine(since, datetime.time.min, datetime.UTC))
    if until is not None:
        entries = entries.filter(at__lte=datetime.datetime.combine(until, datetime.time.max, datetime.UTC))
    if address:
        try:
            entries = entries.filter(address=str(ipaddress.ip_address(address)))
        except ValueError:
            entries = entries.filter(address__startswith=address)
    return entries.order_by("-at", "-id")


def purge_expired_entries() -> int:
    """Remove the lines older than FANOUT_AUDIT_RETENTION_DAYS (0: none ever); how many went.

    In batches, so that a first purge of a long log holds no lock for long.
    """
    days = settings.FANOUT_AUDIT_RETENTION_DAYS
    if not days:
        return 0
    cutoff = timezone.now() - datetime.timedelta(days=days)
    removed = 0
    while True:
        batch = list(AuditEntry.objects.filter(at__lt=cutoff).values_list("pk", flat=True)[:PURGE_BATCH])
        if not batch:
            return removed
        removed += AuditEntry.objects.filter(pk__in=batch).delete()[0]


# Signing in and out, announced by django.contrib.auth (password and single sign-on alike).


def record_sign_in(sender, request: HttpRequest, user, **kwargs) -> None:
    method = "sso" if getattr(user, "backend", None) == SSO_BACKEND else "password"
    record("user.signed_in", actor=user, request=request, method=method)


def record_sign_in_failure(sender, credentials: dict, request: HttpRequest | None = None, **kwargs) -> None:
    """Nobody signed in: the line's "who" is the user name that was tried, if any (only a password
    sign-in sends one; single sign-on's callback sends the provider's code)."""
    username = str(credentials.get("username") or "")
    details = {"method": "password" if username else "sso"}
    refusal = getattr(request, "sso_refusal", None)
    if refusal:
        details["reason"] = refusal
    fields = _entry_fields("user.sign_in_failed", None, request, None, details)
    fields.update(actor=None, actor_name=username[:ACTOR_NAME_MAX])
    AuditEntry.objects.create(**fields)


def record_sign_out(sender, request: HttpRequest, user, **kwargs) -> None:
    if user is not None:
        record("user.signed_out", actor=user, request=request)
