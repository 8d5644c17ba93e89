"""What each swarm needs from the origin, from the tracker's BEP 48 scrape.

A swarm needs the origin when leechers are waiting and no peer but our own
seeders has a complete copy; such a swarm whose leechers this node is not
connected to is stalled, and the node announces to find them.
"""

import logging
import random
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import quote_from_bytes

from bittorrent import bencode

logger = logging.getLogger(__name__)

# Info-hashes per scrape request: keeps the URL far below common limits (8 KiB).
SCRAPE_BATCH = 50
# The scrape runs in the heartbeat loop: a slow tracker must not make the node look down.
SCRAPE_BUDGET = 3.0


@dataclass(frozen=True)
class SwarmFigures:
    complete: int
    incomplete: int


def scrape_url(announce_url: str) -> str | None:
    """The scrape URL of a tracker, by BEP 48's convention (and ``/announce/<key>`` → ``/scrape/<key>``,
    our tracker's passkey URLs); None if it has none."""
    return tracker_url(announce_url, "scrape")


def tracker_url(announce_url: str, route: str) -> str | None:
    """The URL of the tracker's ``route`` beside its announce URL, as BEP 48 finds the scrape URL:
    ``…/announce…`` → ``…/<route>…``, ``…/announce/<key>`` → ``…/<route>/<key>``; None if it has none."""
    head, slash, last = announce_url.rpartition("/")
    if not slash:
        return None
    if last.startswith("announce"):
        return f"{head}/{route}{last[len('announce') :]}"
    base, slash, action = head.rpartition("/")
    if slash and action == "announce" and last:
        return f"{base}/{route}/{last}"
    return None


def scrape(
    url: str, swarm_hashes: Iterable[bytes], *, budget: float = SCRAPE_BUDGET
) -> dict[bytes, SwarmFigures]:
    """The tracker's figures for these swarms, as many as `budget` seconds allow.

    A swarm the tracker does not know, or that the time did not reach, is left out.
    """
    hashes = list(swarm_hashes)
    figures: dict[bytes, SwarmFigures] = {}
    separator = "&" if "?" in url else "?"
    deadline = time.monotonic() + budget
    for start in range(0, len(hashes), SCRAPE_BATCH):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        query = "&".join(
            f"info_hash={quote_from_bytes(h, safe='')}" for h in hashes[start : start + SCRAPE_BATCH]
        )
        with urllib.request.urlopen(f"{url}{separator}{query}", timeout=remaining) as answer:
            body = bencode.decode(answer.read())
        for info_hash, entry in body.get(b"files", {}).items():
            figures[info_hash] = SwarmFigures(
                complete=int(entry.get(b"complete", 0)), incomplete=int(entry.get(b"incomplete", 0))
            )
    return figures


def needs_origin(figures: SwarmFigures, *, our_seeders: int) -> bool:
    """Leechers waiting, and no complete copy among the peers besides our seeders."""
    return figures.incomplete > 0 and figures.complete <= our_seeders


def read_demand(
    url: str, swarm_hashes: dict[int, bytes], our_seeders: dict[int, int], peers: dict[int, int]
) -> tuple[set[int], set[int]]:
    """(needy, stalled) release ids; both empty when the tracker cannot be asked.

    ``our_seeders``: live nodes of ours that seed each release; ``peers``:
    peers this node is connected to, per release.
    """
    try:
        # Shuffled: when the budget runs out, the next scrape reaches other swarms.
        figures = scrape(url, random.sample(list(swarm_hashes.values()), len(swarm_hashes)))
    except (OSError, urllib.error.URLError, ValueError) as error:
        logger.warning("cannot scrape %s: %s", url, error)
        return set(), set()
    needy, stalled = set(), set()
    for release_id, swarm_hash in swarm_hashes.items():
        found = figures.get(swarm_hash)
        if found is None or not needs_origin(found, our_seeders=max(1, our_seeders.get(release_id, 1))):
            continue
        needy.add(release_id)
        if peers.get(release_id, 0) < found.incomplete:
            stalled.add(release_id)
    return needy, stalled
