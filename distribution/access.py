"""Who may fetch what: audiences, passkeys for users, credentials for seeder nodes,
and the personal .torrent files, magnets and web seeds that carry them.

The tracker reads the passkeys and the credentials' digests through
tracker.selectors, as it reads the swarms it serves.
"""

import hashlib
import secrets
from collections.abc import Iterable
from urllib.parse import parse_qsl, quote, urlencode

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.http import HttpRequest
from django.urls import reverse

from bittorrent import bencode
from distribution import audit
from distribution.models import NODE_CREDENTIAL_BYTES, NodeCredential, Passkey, Release

# Who may see a private release, as keys the tracker compares without the database: a user
# may when the keys that open the release and the keys the user holds meet. The same rule
# as selectors.visible_releases and selectors.can_view_release, which ask the database.
OPENS_EVERY_PRIVATE_RELEASE = "every-private-release"  # held by staff and seeder nodes
SIGNED_IN = "signed-in"
SEEDER_NODE_KEYS = frozenset({OPENS_EVERY_PRIVATE_RELEASE})


PUBLISHERS_GROUP = "publishers"


def may_create_products(user) -> bool:
    """Who may make a new product, and so become its maintainer: staff, and with
    FANOUT_PRODUCT_CREATORS=publishers also the members of the publishers group."""
    if not user.is_authenticated or not user.is_active:
        return False
    if user.is_staff:
        return True
    return (
        settings.FANOUT_PRODUCT_CREATORS == "publishers"
        and user.groups.filter(name=PUBLISHERS_GROUP).exists()
    )


def may_publish(user) -> bool:
    """Whether the publish page, the API's and tus's publishing are open to the user: staff, who
    holds a role on some product (distribution.models.ProductRole), and who may make products.
    Which product they may publish to is ``Product.can_publish``'s to say."""
    if not user.is_authenticated or not user.is_active:
        return False
    return user.is_staff or user.product_roles.exists() or may_create_products(user)


def _group_key(group_id: int) -> str:
    return f"group:{group_id}"


def _publisher_key(product_id: int) -> str:
    return f"publisher:{product_id}"


def keys_opening_release(product_id: int, audience_group_ids: Iterable[int]) -> frozenset[str]:
    """A private release opens to its audience's groups (any signed-in user without one),
    to its product's publishers and maintainers (every ProductRole) and to staff."""
    audience = {_group_key(group_id) for group_id in audience_group_ids} or {SIGNED_IN}
    return frozenset({*audience, _publisher_key(product_id), OPENS_EVERY_PRIVATE_RELEASE})


def keys_held_by(
    *, is_staff: bool, group_ids: Iterable[int], published_product_ids: Iterable[int]
) -> frozenset[str]:
    """What an active, signed-in user holds (see ``keys_opening_release``)."""
    if is_staff:
        return frozenset({OPENS_EVERY_PRIVATE_RELEASE})
    return frozenset(
        {
            SIGNED_IN,
            *(_group_key(group_id) for group_id in group_ids),
            *(_publisher_key(product_id) for product_id in published_product_ids),
        }
    )


def announce_url(passkey: str) -> str:
    """The tracker's announce URL with the passkey as last path segment."""
    return f"{settings.FANOUT_ANNOUNCE_URL.rstrip('/')}/{passkey}"


@transaction.atomic
def regenerate_passkey(user, *, request: HttpRequest | None = None) -> Passkey:
    """Give the user a new passkey; the old one stops working at the trackers' next whitelist refresh."""
    passkey = Passkey.objects.select_for_update().filter(user=user).first()
    if passkey is None:
        passkey = Passkey.objects.create(user=user)
    else:
        passkey.regenerate()
    audit.record("passkey.regenerated", request=request, target=passkey)
    return passkey


def issue_node_credential(node_name: str) -> str | None:
    """A new credential for the seeder node, the only valid one from the trackers' next refresh.

    Only its SHA-256 is stored: the caller keeps the credential in memory.
    None while the node is revoked (an admin allows it again).
    """
    credential = secrets.token_hex(NODE_CREDENTIAL_BYTES)
    row, _ = NodeCredential.objects.get_or_create(node_name=node_name)
    if not row.replace(hashlib.sha256(credential.encode()).hexdigest()):
        return None
    return credential


def personal_web_seed_url(release: Release, passkey: str) -> str:
    """The release's web seed for BitTorrent clients, which send no session: the passkey in the path
    stands for its holder, as in the announce URL."""
    return settings.FANOUT_PUBLIC_URL + reverse("release-personal-webseed-root", args=[release.pk, passkey])


def passkey_holder(key: str) -> AbstractBaseUser | None:
    """The active user whose passkey is ``key``; None for an unknown or replaced key or an inactive user."""
    passkey = Passkey.objects.select_related("user").filter(key=key, user__is_active=True).first()
    return None if passkey is None else passkey.user


def torrent_with_passkey(metainfo: bytes, user, *, release: Release) -> bytes:
    """The release's .torrent with our announce URL and our web seed replaced by the user's passkey URLs.

    ``url-list``, like the announce URLs, is outside the info dict: the info-hash is the same.
    """
    key = Passkey.for_user(user).key
    torrent = _announcing_with(bencode.decode(metainfo), key)
    plain, personal = release.web_seed_url.encode(), personal_web_seed_url(release, key).encode()
    web_seeds = torrent.get(b"url-list")  # BEP 19: one URL, or a list of them
    if web_seeds == plain:
        torrent[b"url-list"] = personal
    elif isinstance(web_seeds, list):
        torrent[b"url-list"] = [personal if url == plain else url for url in web_seeds]
    return bencode.encode(torrent)


def torrent_announcing_with(metainfo: bytes, key: str) -> bytes:
    """The .torrent with our announce URL replaced by ``/announce/<key>`` (a passkey or node credential).

    Only ``announce`` and ``announce-list``, outside the info dict, change, so
    the info-hash is the same; other trackers a publisher listed are kept.
    """
    return bencode.encode(_announcing_with(bencode.decode(metainfo), key))


def _announcing_with(torrent: object, key: str) -> dict:
    if not isinstance(torrent, dict):
        raise ValueError("metainfo is not a dictionary")
    personal = announce_url(key).encode()
    ours = settings.FANOUT_ANNOUNCE_URL.encode()
    torrent[b"announce"] = personal
    tiers = torrent.get(b"announce-list")
    if isinstance(tiers, list):
        torrent[b"announce-list"] = [
            [personal if url == ours else url for url in tier] if isinstance(tier, list) else tier
            for tier in tiers
        ]
    return torrent


def magnet_with_passkey(magnet_uri: str, user, *, release: Release) -> str:
    """The release's magnet link with our tracker (``tr``) and our web seed (``ws``) replaced by the
    user's passkey URLs."""
    key = Passkey.for_user(user).key
    personal = {
        ("tr", settings.FANOUT_ANNOUNCE_URL): announce_url(key),
        ("ws", release.web_seed_url): personal_web_seed_url(release, key),
    }
    prefix, _, query = magnet_uri.partition("?")
    fields = [
        (name, personal.get((name, value), value)) for name, value in parse_qsl(query, keep_blank_values=True)
    ]
    return f"{prefix}?{urlencode(fields, quote_via=quote, safe=':')}"
