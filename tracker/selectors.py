"""What the tracker reads from the database: the swarms it serves, which are private, their keys."""

from django.contrib.auth import get_user_model
from django.db import transaction

from distribution.access import SEEDER_NODE_KEYS, keys_held_by
from distribution.models import NodeCredential, Passkey, Product
from distribution.selectors import private_swarms, tracked_swarms
from tracker.engine import Whitelist

User = get_user_model()


def active_passkeys() -> dict[bytes, frozenset[str]]:
    """Every passkey of an active user (ASCII bytes, as they arrive in a URL path), with the
    keys its user holds to private swarms (distribution.access.keys_held_by)."""
    passkeys = Passkey.objects.filter(user__is_active=True).values_list("key", "user_id", "user__is_staff")
    groups: dict[int, list[int]] = {}
    for user_id, group_id in User.groups.through.objects.values_list("user_id", "group_id"):
        groups.setdefault(user_id, []).append(group_id)
    products: dict[int, list[int]] = {}
    for product_id, user_id in Product.publishers.through.objects.values_list("product_id", "user_id"):
        products.setdefault(user_id, []).append(product_id)
    return {
        key.encode(): keys_held_by(
            is_staff=is_staff,
            group_ids=groups.get(user_id, ()),
            published_product_ids=products.get(user_id, ()),
        )
        for key, user_id, is_staff in passkeys
    }


def active_node_credentials() -> dict[bytes, frozenset[str]]:
    """The SHA-256 digests of the seeder nodes' credentials that open private swarms now,
    with what they hold."""
    digests = (
        NodeCredential.objects.filter(revoked_at__isnull=True)
        .exclude(credential_sha256="")
        .values_list("credential_sha256", flat=True)
    )
    return {bytes.fromhex(digest): SEEDER_NODE_KEYS for digest in digests}


def load_whitelist() -> Whitelist:
    # One snapshot: a release turned private is never seen as tracked but not private.
    with transaction.atomic():
        parts = tracked_swarms(), private_swarms(), active_passkeys(), active_node_credentials()
    return Whitelist.of(*parts)
