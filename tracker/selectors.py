"""What the tracker reads from the database: the swarms it serves, which are private, their keys."""

from django.db import transaction

from distribution.models import NodeCredential, Passkey
from distribution.selectors import private_swarms, tracked_swarms
from tracker.engine import Whitelist


def active_passkeys() -> frozenset[bytes]:
    """Every passkey that opens private swarms now (ASCII bytes, as they arrive in a URL path)."""
    keys = Passkey.objects.filter(user__is_active=True).values_list("key", flat=True)
    return frozenset(key.encode() for key in keys)


def active_node_credentials() -> frozenset[bytes]:
    """The SHA-256 digests of the seeder nodes' credentials that open private swarms now."""
    digests = (
        NodeCredential.objects.filter(revoked_at__isnull=True)
        .exclude(credential_sha256="")
        .values_list("credential_sha256", flat=True)
    )
    return frozenset(bytes.fromhex(digest) for digest in digests)


def load_whitelist() -> Whitelist:
    # One snapshot: a release turned private is never seen as tracked but not private.
    with transaction.atomic():
        return Whitelist(tracked_swarms(), private_swarms(), active_passkeys(), active_node_credentials())
