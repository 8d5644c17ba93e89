"""Who may fetch what: passkeys for users, credentials for seeder nodes, and the
personal .torrent files and magnets that carry them.

The tracker reads the passkeys and the credentials' digests through
tracker.selectors, as it reads the swarms it serves.
"""

import hashlib
import secrets
from urllib.parse import parse_qsl, quote, urlencode

from django.conf import settings
from django.db import transaction

from bittorrent import bencode
from distribution.models import NODE_CREDENTIAL_BYTES, NodeCredential, Passkey


def announce_url(passkey: str) -> str:
    """The tracker's announce URL with the passkey as last path segment."""
    return f"{settings.FANOUT_ANNOUNCE_URL.rstrip('/')}/{passkey}"


@transaction.atomic
def regenerate_passkey(user) -> Passkey:
    """Give the user a new passkey; the old one stops working at the trackers' next whitelist refresh."""
    passkey = Passkey.objects.select_for_update().filter(user=user).first()
    if passkey is None:
        return Passkey.objects.create(user=user)
    passkey.regenerate()
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


def torrent_with_passkey(metainfo: bytes, user) -> bytes:
    """The .torrent with our announce URL replaced by the user's passkey URL."""
    return torrent_announcing_with(metainfo, Passkey.for_user(user).key)


def torrent_announcing_with(metainfo: bytes, key: str) -> bytes:
    """The .torrent with our announce URL replaced by ``/announce/<key>`` (a passkey or node credential).

    Only ``announce`` and ``announce-list``, outside the info dict, change, so
    the info-hash is the same; other trackers a publisher listed are kept.
    """
    personal = announce_url(key).encode()
    ours = settings.FANOUT_ANNOUNCE_URL.encode()
    torrent = bencode.decode(metainfo)
    if not isinstance(torrent, dict):
        raise ValueError("metainfo is not a dictionary")
    torrent[b"announce"] = personal
    tiers = torrent.get(b"announce-list")
    if isinstance(tiers, list):
        torrent[b"announce-list"] = [
            [personal if url == ours else url for url in tier] if isinstance(tier, list) else tier
            for tier in tiers
        ]
    return bencode.encode(torrent)


def magnet_with_passkey(magnet_uri: str, user) -> str:
    """The magnet link with our tracker (``tr``) replaced by the user's passkey URL."""
    personal = announce_url(Passkey.for_user(user).key)
    prefix, _, query = magnet_uri.partition("?")
    fields = [
        (name, personal if name == "tr" and value == settings.FANOUT_ANNOUNCE_URL else value)
        for name, value in parse_qsl(query, keep_blank_values=True)
    ]
    return f"{prefix}?{urlencode(fields, quote_via=quote, safe=':')}"
