"""Whom a node's private releases serve: the peers the tracker admitted to their swarms.

A downloader whose passkey is regenerated, who is deactivated or who leaves
the release's audience is refused by the tracker from its next whitelist
refresh; without more, they could still connect to the seeder directly (the
.torrent names the info-hash) and fetch every byte. So every
FANOUT_SEEDER_ALLOW_LIST_INTERVAL seconds the node asks the tracker, with its
credential, for the endpoints admitted to each private swarm whose passkey or
credential still opens it (``/admitted/<credential>``, tracker.engine
``Tracker.admitted``), and the session's IP filter admits those addresses
only (``SeedingSession.admit_only``), which disconnects the peers it now
blocks. Other seeder nodes are among them: they announce with their
credentials.

Until the first answer the private releases admit nobody, other nodes
included: a node that cannot ask the tracker cannot know whom to serve, and
it is only the first seconds after a start. When the tracker cannot be asked
or does not answer with addresses, the last answer holds: a tracker restart
or a network fault does not cut the downloads under way. A node whose
credential is revoked while it runs is refused here too and so keeps its last
answer until it restarts, as it keeps its private releases until then.

The limit: libtorrent has one IP filter per session, so an address admitted to
one private swarm passes this node's door for all of them. The tracker still
refuses that address every other private swarm and gives it no peers.
"""

import logging
import socket
import time
import urllib.request
from collections.abc import Callable
from http.client import HTTPException

from bittorrent import bencode
from bittorrent.bencode import BencodeError
from seeder.session import Admitted, SeedingSession

logger = logging.getLogger(__name__)


class NotAnswered(Exception):
    """The tracker answered, but not with admitted addresses (a failure reason, a malformed answer)."""


def read_admitted(url: str, *, timeout: float) -> Admitted:
    """The tracker's answer at ``url`` (``…/admitted/<credential>``)."""
    with urllib.request.urlopen(url, timeout=timeout) as answer:
        body = bencode.decode(answer.read())
    if not isinstance(body, dict):
        raise NotAnswered("the answer is not a dictionary")
    if b"failure reason" in body:
        raise NotAnswered(body[b"failure reason"].decode("utf-8", "replace"))
    files = body.get(b"files")
    if not isinstance(files, dict):
        raise NotAnswered("the answer has no files")
    return {
        info_hash: _endpoints(entry.get(b"peers", b""), socket.AF_INET, 4)
        | _endpoints(entry.get(b"peers6", b""), socket.AF_INET6, 16)
        for info_hash, entry in files.items()
        if isinstance(entry, dict)
    }


def _endpoints(compact: object, family: int, size: int) -> frozenset[tuple[str, int]]:
    if not isinstance(compact, bytes) or len(compact) % (size + 2):
        raise NotAnswered("malformed compact endpoints")
    return frozenset(
        (
            socket.inet_ntop(family, compact[at : at + size]),
            int.from_bytes(compact[at + size : at + size + 2], "big"),
        )
        for at in range(0, len(compact), size + 2)
    )


class AllowList:
    """Asks the tracker at ``url`` (``…/admitted/<credential>``) whom the private releases may serve
    and hands the answer to the session."""

    def __init__(
        self,
        *,
        session: SeedingSession,
        url: str,
        interval: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.session = session
        self.url = url
        # The URL without the credential, for log lines.
        self.where = url.rpartition("/")[0]
        self.interval = interval
        self.clock = clock
        self._due = float("-inf")
        # When the last answer came (clock time), None before the first.
        self._answered_at: float | None = None
        self._admitted_count = 0
        # An outage is under way and has been logged.
        self._failing = False

    def follow(self) -> None:
        """Ask the tracker, if ``interval`` has passed since the last question, and apply its answer."""
        now = self.clock()
        if now < self._due:
            return
        self._due = now + self.interval
        try:
            # At most an interval: a slow tracker must not hold the node's loop for long.
            admitted = read_admitted(self.url, timeout=self.interval)
        except (OSError, HTTPException, BencodeError, NotAnswered) as error:
            self._not_answered(error)
            return
        if self._failing:
            logger.info("the tracker at %s lists admitted peers", self.where)
            self._failing = False
        self._answered_at = self.clock()
        self._admitted_count = sum(len(endpoints) for endpoints in admitted.values())
        self.session.admit_only(admitted)

    def _not_answered(self, error: Exception) -> None:
        # Once per outage, not every interval.
        if self._failing:
            return
        self._failing = True
        if self._answered_at is None:
            # Expected at a start: the tracker learns a new credential at its next whitelist refresh.
            logger.info(
                "no admitted peers from the tracker at %s yet (%s): "
                "private releases admit nobody until it answers",
                self.where,
                error,
            )
            return
        logger.warning(
            "cannot get admitted peers from the tracker at %s (%s): private releases keep admitting "
            "the %d peers of its answer %.0f s ago",
            self.where,
            error,
            self._admitted_count,
            self.clock() - self._answered_at,
        )
