"""What `fanout get` is given: a release page's URL, a magnet link, or a release id."""

import base64
import binascii
import re
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from fanout_client.errors import FanoutError

RELEASE_PATH = re.compile(r"^(?P<prefix>.*?)/releases/(?P<id>\d+)(?:/.*)?$")


@dataclass(frozen=True)
class ReleaseReference:
    release_id: int | None = None
    info_hash: str | None = None  # hex: 40 digits (v1) or 64 (v2)
    server: str | None = None  # the server a page URL names, for when FANOUT_URL is unset


def parse_reference(text: str) -> ReleaseReference:
    text = text.strip()
    if text.isdigit():
        return ReleaseReference(release_id=int(text))
    if text.startswith("magnet:"):
        return ReleaseReference(info_hash=_magnet_info_hash(text))
    parts = urlsplit(text)
    match = RELEASE_PATH.match(parts.path)
    if parts.scheme in ("http", "https") and parts.netloc and match:
        server = f"{parts.scheme}://{parts.netloc}{match['prefix']}"
        return ReleaseReference(release_id=int(match["id"]), server=server)
    raise FanoutError(
        f"{text!r} is not a release page URL (…/releases/<id>/), a magnet link or a release id."
    )


def _magnet_info_hash(magnet: str) -> str:
    """The v1 info-hash of a magnet link (btih, hex or base32), else its v2 one (btmh, SHA-256 multihash)."""
    topics = parse_qs(urlsplit(magnet).query).get("xt", [])
    v2 = None
    for topic in topics:
        if topic.startswith("urn:btih:"):
            value = topic.removeprefix("urn:btih:")
            if re.fullmatch(r"[0-9a-fA-F]{40}", value):
                return value.lower()
            if re.fullmatch(r"[A-Za-z2-7]{32}", value):
                return base64.b32decode(value.upper()).hex()
        elif topic.startswith("urn:btmh:1220"):
            value = topic.removeprefix("urn:btmh:1220")
            try:
                if len(binascii.unhexlify(value)) == 32:
                    v2 = value.lower()
            except binascii.Error:
                pass
    if v2 is None:
        raise FanoutError(
            "The magnet link carries no BitTorrent info-hash (xt=urn:btih:… or urn:btmh:1220…)."
        )
    return v2
