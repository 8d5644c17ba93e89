"""The tracker itself: which swarms it answers for, the protocol and the store, joined.

The servers (tracker/http_server.py, tracker/udp_server.py and the Django
views) hand it raw requests and the connection's address and send back the
bytes it returns. It never raises on a client's input: every refusal is an
answer (a bencoded failure reason, or a BEP 15 error packet).

Besides announces and scrapes it answers the seeder nodes' question "whom may
I serve?" (``handle_admitted``): the peers admitted to each private swarm
whose passkey or credential still opens it.
"""

import hashlib
import time
from collections.abc import Callable, Sequence
from typing import NamedTuple

from tracker import protocol
from tracker.protocol import AnnounceRequest, ConnectionIds, Peer, SwarmCounts, TrackerError, UdpError
from tracker.swarm_store import AnnounceResult, CompactAnnounceResult, SwarmAnnounce, SwarmStore

_NO_COUNTS = SwarmCounts(0, 0, 0)
# One answer for an unknown swarm, a private one without a valid passkey and a wrong passkey:
# different answers would tell a stranger which info-hashes are private releases of ours.
REFUSED = "unknown or private torrent: download its .torrent again while signed in"
# An admission record names the passkey or credential that admitted a peer by this many bytes of
# its SHA-256, never by the key itself: enough to tell keys apart, and short enough that a
# private swarm's peer record in Redis (49 bytes before it) stays within the 64 bytes of a
# compact hash entry (hash-max-listpack-value).
ADMISSION_DIGEST_BYTES = 15


def admission_digest(key: bytes) -> bytes:
    """What the swarm store records for the passkey or node credential ``key`` that admitted a peer."""
    return hashlib.sha256(key).digest()[:ADMISSION_DIGEST_BYTES]


class Whitelist(NamedTuple):
    """What the tracker answers for, as read from the database (tracker.selectors.load_whitelist).

    Who may join a private swarm is decided with keys (distribution.access): a
    passkey opens a swarm when the keys its user holds meet the keys that open it.
    """

    # Info-hash → swarm id (see distribution.selectors.tracked_swarms).
    swarms: dict[bytes, int]
    # Swarm ids answered only through a valid passkey → the keys that open each.
    private: dict[int, frozenset[str]]
    # Passkeys as they appear in ``/announce/<passkey>`` → the keys their user holds.
    passkeys: dict[bytes, frozenset[str]]
    # SHA-256 digests of the seeder nodes' credentials (distribution.models.NodeCredential),
    # used in the place of a passkey → the keys they hold (every private swarm's).
    node_credentials: dict[bytes, frozenset[str]]
    # ``admission_digest`` of each of those passkeys and credentials → the same keys: what an
    # admission record's key holds now.
    admission_digests: dict[bytes, frozenset[str]]
    # Each passkey → its ``admission_digest``: hashed once per load, not per announce, and one
    # object shared by every peer the passkey admits.
    passkey_digests: dict[bytes, bytes]

    @classmethod
    def of(
        cls,
        swarms: dict[bytes, int],
        private: dict[int, frozenset[str]],
        passkeys: dict[bytes, frozenset[str]],
        node_credentials: dict[bytes, frozenset[str]],
    ) -> "Whitelist":
        """The whitelist of these parts, with the admission digests they imply."""
        passkey_digests = {passkey: admission_digest(passkey) for passkey in passkeys}
        digests = {passkey_digests[passkey]: keys for passkey, keys in passkeys.items()}
        # admission_digest(credential) is the start of the credential's SHA-256.
        digests.update({digest[:ADMISSION_DIGEST_BYTES]: keys for digest, keys in node_credentials.items()})
        return cls(swarms, private, passkeys, node_credentials, digests, passkey_digests)


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
        # The parts of a ``Whitelist``, each replaced whole, never changed in
        # place (see ``load``): a request sees the old value or the new one.
        self.swarms: dict[bytes, int] = {}
        self.private_swarms: dict[int, frozenset[str]] = {}
        self.passkeys: dict[bytes, frozenset[str]] = {}
        self.node_credentials: dict[bytes, frozenset[str]] = {}
        self.admission_digests: dict[bytes, frozenset[str]] = {}
        self.passkey_digests: dict[bytes, bytes] = {}

    def load(self, whitelist: Whitelist) -> None:
        """Answer for these swarms and keys from now on (a dropped key stops working here)."""
        (
            self.swarms,
            self.private_swarms,
            self.passkeys,
            self.node_credentials,
            self.admission_digests,
            self.passkey_digests,
        ) = whitelist

    def keys_of(self, passkey: bytes) -> frozenset[str]:
        """What a user's passkey or a seeder node's credential opens; raises ``TrackerError`` for
        neither. Only a credential pays a hash."""
        keys = self.passkeys.get(passkey)
        if keys is None:
            keys = self.node_credentials.get(hashlib.sha256(passkey).digest())
            if keys is None:
                raise TrackerError(REFUSED)
        return keys

    def announce(
        self, request: AnnounceRequest, address: bytes, passkey: bytes | None = None
    ) -> AnnounceResult:
        """Record an announce from ``address`` (packed; the client's ``ip`` parameter is never trusted).

        ``passkey`` is the one in the announce URL (UDP: in BEP 41 URL data), None for a plain
        ``/announce``: a private swarm needs a valid one, any swarm refuses an invalid one.
        """
        return self.store.announce(self.admit(request, address, passkey))

    def announce_compact(
        self, request: AnnounceRequest, address: bytes, passkey: bytes | None = None
    ) -> CompactAnnounceResult:
        """``announce``, with the peers as joined compact endpoints."""
        return self.store.announce_compact(self.admit(request, address, passkey))

    def admit(self, request: AnnounceRequest, address: bytes, passkey: bytes | None) -> SwarmAnnounce:
        """The announce for the store to record; raises ``TrackerError`` for a refused one."""
        keys = None if passkey is None else self.keys_of(passkey)
        swarm_id = self.swarms.get(request.info_hash)
        if swarm_id is None:
            raise TrackerError(REFUSED)
        opening = self.private_swarms.get(swarm_id)
        admitted_with = b""
        if opening is not None:
            if passkey is None or not _opens(keys, opening):
                raise TrackerError(REFUSED)
            # The peer's admission record: seeders serve its address while this key opens the swarm.
            # (A node credential, not among the passkeys, is hashed here: nodes are few.)
            admitted_with = self.passkey_digests.get(passkey) or admission_digest(passkey)
        return SwarmAnnounce(
            swarm_id,
            Peer(request.peer_id, address + request.port.to_bytes(2, "big")),
            request.event,
            request.left,
            request.numwant,
            self.clock(),
            request.uploaded,
            request.downloaded,
            admitted_with,
        )

    def admitted(self, credential: bytes | None) -> dict[bytes, list[bytes]]:
        """Each private swarm's info-hashes → the endpoints of its live peers whose passkey or
        credential still opens it: whom a seeder node may serve. Only for a node ``credential``;
        raises ``TrackerError`` for anything else.

        A key that stopped opening the swarm at the last ``load`` (a regenerated passkey, a user
        deactivated or out of the audience, a revoked node) drops its peers from the answer at
        once, without waiting for them to expire.
        """
        if credential is None or hashlib.sha256(credential).digest() not in self.node_credentials:
            raise TrackerError(REFUSED)
        private, holders = self.private_swarms, self.admission_digests
        swarm_ids = list(private)
        allowed: dict[int, list[bytes]] = {}
        for swarm_id, admissions in zip(
            swarm_ids, self.store.admissions(swarm_ids, self.clock()), strict=True
        ):
            opening = private[swarm_id]
            allowed[swarm_id] = [
                endpoint for endpoint, digest in admissions if _opens(holders.get(digest), opening)
            ]
        return {
            info_hash: allowed[swarm_id] for info_hash, swarm_id in self.swarms.items() if swarm_id in allowed
        }

    def scrape(self, info_hashes: Sequence[bytes], passkey: bytes | None = None) -> list[SwarmCounts | None]:
        """Counts per info-hash, in order; None for one the tracker does not serve (to this asker).

        Private swarms are served only to a ``passkey`` that opens them; an invalid one raises.
        """
        keys = None if passkey is None else self.keys_of(passkey)
        private = self.private_swarms
        ids = [self.swarms.get(info_hash) for info_hash in info_hashes]
        ids = [
            None if swarm_id in private and (keys is None or keys.isdisjoint(private[swarm_id])) else swarm_id
            for swarm_id in ids
        ]
        counts = iter(self.store.scrape([swarm_id for swarm_id in ids if swarm_id is not None], self.clock()))
        return [None if swarm_id is None else next(counts) for swarm_id in ids]

    def handle_announce(self, query: bytes, client_ip: str, passkey: bytes | None = None) -> bytes:
        """Answer an HTTP announce (``passkey`` from ``/announce/<passkey>``)."""
        try:
            request = protocol.parse_announce(query)
            if request.compact:
                compact = self.announce_compact(request, protocol.pack_address(client_ip), passkey)
                # CompactAnnounceResult's fields are the answer's first arguments, in order.
                return protocol.compact_announce_response(
                    *compact, interval=self.interval, min_interval=self.min_interval
                )
            result = self.announce(request, protocol.pack_address(client_ip), passkey)
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

    def handle_announces(self, requests: Sequence[tuple[bytes, str, bytes | None]]) -> list[bytes]:
        """``handle_announce`` for each (query, client_ip, passkey), in order; compact ones batched."""
        answers: list[bytes] = [b""] * len(requests)
        batched: list[int] = []
        admitted: list[SwarmAnnounce] = []

        def run_batch() -> None:
            results = self.store.announce_compact_many(admitted)
            for index, result in zip(batched, results, strict=True):
                if isinstance(result, TrackerError):
                    answers[index] = result.response
                else:
                    answers[index] = protocol.compact_announce_response(
                        result.complete,
                        result.incomplete,
                        result.peers4,
                        result.peers6,
                        interval=self.interval,
                        min_interval=self.min_interval,
                    )
            batched.clear()
            admitted.clear()

        for index, (query, client_ip, passkey) in enumerate(requests):
            try:
                request = protocol.parse_announce(query)
                if not request.compact:
                    # Rare: answered on its own, after the announces that came before it.
                    if admitted:
                        run_batch()
                    answers[index] = self.handle_announce(query, client_ip, passkey)
                    continue
                admitted.append(self.admit(request, protocol.pack_address(client_ip), passkey))
                batched.append(index)
            except TrackerError as error:
                answers[index] = error.response
        if admitted:
            run_batch()
        return answers

    def handle_admitted(self, credential: bytes | None) -> bytes:
        """Answer a seeder node's ``/admitted/<credential>`` (``admitted``, bencoded)."""
        try:
            admitted = self.admitted(credential)
        except TrackerError as error:
            return error.response
        return protocol.admitted_response(admitted)

    def handle_scrape(self, query: bytes, passkey: bytes | None = None) -> bytes:
        """Answer an HTTP scrape (BEP 48); hashes the tracker does not serve are left out."""
        try:
            requested = protocol.parse_scrape(query)
            counts = self.scrape(requested, passkey)
        except TrackerError as error:
            return error.response
        return protocol.scrape_response(
            {info_hash: c for info_hash, c in zip(requested, counts, strict=True) if c is not None}
        )


def _opens(keys: frozenset[str] | None, opening: frozenset[str]) -> bool:
    return keys is not None and not keys.isdisjoint(opening)


class UdpTracker:
    """BEP 15 in front of a ``Tracker``: connection ids, then announce and scrape."""

    def __init__(self, tracker: Tracker, *, key: bytes) -> None:
        self.tracker = tracker
        self.connection_ids = ConnectionIds(key)

    def handle(self, packet: bytes, client_ip: str) -> bytes | None:
        """The answer to one datagram, or None for one too short to answer."""
        prepared = self._prepare(packet, client_ip)
        if type(prepared) is not _AdmittedUdpAnnounce:
            return prepared
        try:
            result = self.tracker.store.announce_compact(prepared.announce)
        except TrackerError as error:
            return protocol.udp_error(prepared.transaction_id, error.reason)
        return self._announce_answer(prepared, result)

    def handle_many(self, datagrams: Sequence[tuple[bytes, str]]) -> list[bytes | None]:
        """``handle`` for each (packet, client_ip), in order; the announces among them in one store call."""
        answers: list[bytes | None] = []
        announces: list[tuple[int, _AdmittedUdpAnnounce]] = []
        for packet, client_ip in datagrams:
            prepared = self._prepare(packet, client_ip)
            if type(prepared) is _AdmittedUdpAnnounce:
                announces.append((len(answers), prepared))
                answers.append(None)  # until the store answers
            else:
                answers.append(prepared)
        if announces:
            results = self.tracker.store.announce_compact_many(
                [prepared.announce for _, prepared in announces]
            )
            for (place, prepared), result in zip(announces, results, strict=True):
                answers[place] = (
                    protocol.udp_error(prepared.transaction_id, result.reason)
                    if isinstance(result, TrackerError)
                    else self._announce_answer(prepared, result)
                )
        return answers

    def _prepare(self, packet: bytes, client_ip: str) -> "bytes | None | _AdmittedUdpAnnounce":
        """The answer to a datagram that needs no store, else the announce to make."""
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
            announce = self.tracker.admit(request.request, address, request.passkey)
        except TrackerError as error:
            return protocol.udp_error(transaction_id, error.reason)
        return _AdmittedUdpAnnounce(transaction_id, len(address) == 16, announce)

    def _announce_answer(self, prepared: "_AdmittedUdpAnnounce", result: CompactAnnounceResult) -> bytes:
        return protocol.udp_compact_announce_response(
            prepared.transaction_id,
            self.tracker.interval,
            result.incomplete,
            result.complete,
            result.peers6 if prepared.ipv6 else result.peers4,
            ipv6=prepared.ipv6,
        )


class _AdmittedUdpAnnounce(NamedTuple):
    """A UDP announce that passed every check, waiting for the store."""

    transaction_id: int
    ipv6: bool
    announce: SwarmAnnounce
