"""The tracker itself: which swarms it answers for, the protocol and the store, joined.

The servers (tracker/http_server.py, tracker/udp_server.py and the Django
views) hand it raw requests and the connection's address and send back the
bytes it returns. It never raises on a client's input: every refusal is an
answer (a bencoded failure reason, or a BEP 15 error packet).
"""

import time
from collections.abc import Callable, Sequence

from tracker import protocol
from tracker.protocol import AnnounceRequest, ConnectionIds, Peer, SwarmCounts, TrackerError, UdpError
from tracker.swarm_store import AnnounceResult, SwarmStore

_NO_COUNTS = SwarmCounts(0, 0, 0)


class Tracker:
    def __init__(
        self,
        store: SwarmStore,
        *,
        interval: int,
        min_interval: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.interval = interval
        self.min_interval = min_interval
        self.clock = clock
        # Info-hash → swarm id (see distribution.selectors.tracked_swarms).
        # Replaced whole, never changed in place: a request running in another
        # thread sees the old map or the new one.
        self.swarms: dict[bytes, int] = {}

    def announce(self, request: AnnounceRequest, address: bytes) -> AnnounceResult:
        """Record an announce from ``address`` (packed; the client's ``ip`` parameter is never trusted)."""
        swarm_id = self.swarms.get(request.info_hash)
        if swarm_id is None:
            raise TrackerError("unregistered torrent")
        peer = Peer(request.peer_id, address + request.port.to_bytes(2, "big"))
        return self.store.announce(swarm_id, peer, request.event, request.left, request.numwant, self.clock())

    def scrape(self, info_hashes: Sequence[bytes]) -> list[SwarmCounts | None]:
        """Counts per info-hash, in order; None for one the tracker does not serve."""
        swarms = self.swarms
        known = [swarms[info_hash] for info_hash in info_hashes if info_hash in swarms]
        counts = iter(self.store.scrape(known, self.clock()))
        return [next(counts) if info_hash in swarms else None for info_hash in info_hashes]

    def handle_announce(self, query: bytes, client_ip: str) -> bytes:
        """Answer an HTTP announce."""
        try:
            request = protocol.parse_announce(query)
            result = self.announce(request, protocol.pack_address(client_ip))
        except TrackerError as error:
            return error.response
        return protocol.announce_response(
            result.complete,
            result.incomplete,
            result.peers,
            interval=self.interval,
            min_interval=self.min_interval,
            compact=request.compact,
            no_peer_id=request.no_peer_id,
        )

    def handle_scrape(self, query: bytes) -> bytes:
        """Answer an HTTP scrape (BEP 48); hashes the tracker does not serve are left out."""
        try:
            requested = protocol.parse_scrape(query)
        except TrackerError as error:
            return error.response
        counts = self.scrape(requested)
        return protocol.scrape_response(
            {info_hash: c for info_hash, c in zip(requested, counts, strict=True) if c is not None}
        )


class UdpTracker:
    """BEP 15 in front of a ``Tracker``: connection ids, then announce and scrape."""

    def __init__(self, tracker: Tracker, *, key: bytes) -> None:
        self.tracker = tracker
        self.connection_ids = ConnectionIds(key)

    def handle(self, packet: bytes, client_ip: str) -> bytes | None:
        """The answer to one datagram, or None for one too short to answer."""
        try:
            request = protocol.parse_udp(packet)
        except UdpError as error:
            return error.response
        if request is None:
            return None
        transaction_id = request.transaction_id
        now = self.tracker.clock()
        try:
            address = protocol.pack_address(client_ip)
            if isinstance(request, protocol.UdpConnect):
                return protocol.udp_connect_response(transaction_id, self.connection_ids.issue(address, now))
            if not self.connection_ids.valid(request.connection_id, address, now):
                return protocol.udp_error(transaction_id, "invalid connection id")
            if isinstance(request, protocol.UdpScrape):
                counts = [c or _NO_COUNTS for c in self.tracker.scrape(request.info_hashes)]
                return protocol.udp_scrape_response(transaction_id, counts)
            result = self.tracker.announce(request.request, address)
        except TrackerError as error:
            return protocol.udp_error(transaction_id, error.reason)
        return protocol.udp_announce_response(
            transaction_id,
            self.tracker.interval,
            result.incomplete,
            result.complete,
            result.peers,
            ipv6=len(address) == 16,
        )
