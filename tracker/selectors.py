"""What the tracker reads from the database: the swarms it serves, which are private, the passkeys."""

from django.db import transaction

from distribution.models import Passkey
from distribution.selectors import private_swarms, tracked_swarms
from tracker.engine import Whitelist


def active_passkeys() -> frozenset[bytes]:
    """Every passkey that opens private swarms now (ASCII bytes, as they arrive in a URL path)."""
    keys = Passkey.objects.filter(user__is_active=True).values_list("key", flat=True)
    return frozenset(key.encode() for key in keys)


def load_whitelist() -> Whitelist:
    # One snapshot: a release turned private is never seen as tracked but not private.
    with transaction.atomic():
        return Whitelist(tracked_swarms(), private_swarms(), active_passkeys())
