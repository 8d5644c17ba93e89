"""The BitTorrent tracker protocol, without I/O: bytes in, values out, bytes back.

HTTP announce (BEP 3) with compact peers (BEP 23, BEP 7 for IPv6), scrape
(BEP 48), the UDP tracker protocol (BEP 15, with BEP 41 URL data), and our
seeders' ``/admitted/<credential>`` (``admitted_response``). Every request this module
refuses raises ``TrackerError``, which carries the answer to give the client.
The servers and the swarm store are adapters around it; nothing here touches
a socket, a clock or a database.
"""

import binascii
import hashlib
import socket
import struct
from collections.abc import Mapping, Sequence
from enum import IntEnum
from typing import NamedTuple
from urllib.parse import unquote_to_bytes

from bittorrent import bencode

DEFAULT_NUMWANT = 50
MAX_NUMWANT = 200
# A scrape answer is built in one piece: bound the work one request can ask for.
MAX_SCRAPE_HASHES = 100

_V4_MAPPED_PREFIX = bytes(10) + b"\xff\xff"
_ALL_ESCAPED = b"%" * 20


class Event(IntEnum):
    """Announce events, numbered as BEP 15 numbers them."""

    NONE = 0
    COMPLETED = 1
    STARTED = 2
    STOPPED = 3


# BEP 21's "paused" (a partial seed) is an ordinary announce to us.
_EVENTS = {
    b"": Event.NONE,
    b"started": Event.STARTED,
    b"completed": Event.COMPLETED,
    b"stopped": Event.STOPPED,
    b"paused": Event.NONE,
}


class Peer(NamedTuple):
    """A peer as stored and handed out: its id and its packed address and port."""

    peer_id: bytes
    # 4-byte IPv4 or 16-byte IPv6 address followed by the 2-byte port, big-endian:
    # the compact form (BEP 23 / BEP 7), computed once per announce.
    endpoint: bytes


class SwarmCounts(NamedTuple):
    complete: int
    downloaded: int
    incomplete: int


class TrackerError(ValueError):
    """A request the tracker refuses; ``response`` is the bencoded answer."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    @property
    def response(self) -> bytes:
        return failure_response(self.reason)


class AnnounceRequest(NamedTuple):
    info_hash: bytes
    peer_id: bytes
    port: int
    uploaded: int
    downloaded: int
    left: int
    event: Event
    numwant: int
    compact: bool
    no_peer_id: bool


def failure_response(reason: str) -> bytes:
    return bencode.encode({"failure reason": reason})


def parse_announce(query: bytes) -> AnnounceRequest:
    """Parse the raw query string of an HTTP announce (no leading ``?``)."""
    # One pass into a dict (a repeated field: the last one counts), then the fields by name.
    fields = {}
    for field in query.split(b"&"):
        name, _, value = field.partition(b"=")
        fields[name] = value
    get = fields.get
    info_hash = get(b"info_hash")
    if info_hash is None:
        raise TrackerError("missing info_hash")
    info_hash = _unquote(info_hash)
    if len(info_hash) != 20:
        raise TrackerError("info_hash must be 20 bytes")
    peer_id = get(b"peer_id")
    if peer_id is None:
        raise TrackerError("missing peer_id")
    peer_id = _unquote(peer_id)
    if len(peer_id) != 20:
        raise TrackerError("peer_id must be 20 bytes")
    port = get(b"port")
    if port is None:
        raise TrackerError("missing port")
    port = _count(port, "port")
    if not 0 < port < 65536:
        raise TrackerError("invalid port")
    left = get(b"left")
    if left is None:
        raise TrackerError("missing left")
    left = _count(left, "left")
    uploaded = get(b"uploaded")
    uploaded = 0 if uploaded is None else _count(uploaded, "uploaded")
    downloaded = get(b"downloaded")
    downloaded = 0 if downloaded is None else _count(downloaded, "downloaded")
    event = _EVENTS.get(get(b"event", b""))
    if event is None:
        raise TrackerError("invalid event")
    numwant = get(b"numwant")
    numwant = DEFAULT_NUMWANT if numwant is None else _numwant(numwant)
    return AnnounceRequest(
        info_hash,
        peer_id,
        port,
        uploaded,
        downloaded,
        left,
        event,
        numwant,
        get(b"compact") != b"0",
        get(b"no_peer_id") == b"1",
    )


def parse_scrape(query: bytes) -> list[bytes]:
    """The info-hashes a scrape asks about, in order, without repeats."""
    hashes: dict[bytes, None] = {}
    for field in query.split(b"&"):
        name, _, value = field.partition(b"=")
        if name == b"info_hash":
            info_hash = _unquote(value)
            if len(info_hash) != 20:
                raise TrackerError("info_hash must be 20 bytes")
            hashes[info_hash] = None
            if len(hashes) > MAX_SCRAPE_HASHES:
                raise TrackerError(f"at most {MAX_SCRAPE_HASHES} info_hash per scrape")
    if not hashes:
        raise TrackerError("missing info_hash")
    return list(hashes)


def pack_address(ip: str) -> bytes:
    """The 4- or 16-byte form of a connection's address; IPv4-mapped IPv6 becomes IPv4."""
    try:
        return socket.inet_pton(socket.AF_INET, ip)
    except OSError:
        pass
    try:
        packed = socket.inet_pton(socket.AF_INET6, ip.partition("%")[0])
    except OSError:
        raise TrackerError("unusable client address") from None
    return packed[12:] if packed.startswith(_V4_MAPPED_PREFIX) else packed


def announce_response(
    complete: int,
    incomplete: int,
    peers: Sequence[Peer],
    *,
    interval: int,
    min_interval: int,
    compact: bool,
    no_peer_id: bool,
) -> bytes:
    """The bencoded announce answer; keys are written in their sorted order."""
    head = b"d8:completei%de10:incompletei%de8:intervali%de12:min intervali%de5:peers" % (
        complete,
        incomplete,
        interval,
        min_interval,
    )
    if not compact:
        return head + bencode.encode([_peer_dict(peer, no_peer_id) for peer in peers]) + b"e"
    v4 = _compact(peers, 6)
    if len(v4) == 6 * len(peers):
        return head + b"%d:%se" % (len(v4), v4)
    v6 = _compact(peers, 18)
    return head + b"%d:%s6:peers6%d:%se" % (len(v4), v4, len(v6), v6)


def compact_announce_response(
    complete: int, incomplete: int, peers4: bytes, peers6: bytes, *, interval: int, min_interval: int
) -> bytes:
    """``announce_response`` for compact peers already joined (BEP 23, and BEP 7's ``peers6`` if any)."""
    if peers6:
        return (
            b"d8:completei%de10:incompletei%de8:intervali%de12:min intervali%de5:peers%d:%s6:peers6%d:%se"
            % (
                complete,
                incomplete,
                interval,
                min_interval,
                len(peers4),
                peers4,
                len(peers6),
                peers6,
            )
        )
    return b"d8:completei%de10:incompletei%de8:intervali%de12:min intervali%de5:peers%d:%se" % (
        complete,
        incomplete,
        interval,
        min_interval,
        len(peers4),
        peers4,
    )


def scrape_response(files: Mapping[bytes, SwarmCounts]) -> bytes:
    return bencode.encode(
        {
            "files": {
                info_hash: {
                    "complete": counts.complete,
                    "downloaded": counts.downloaded,
                    "incomplete": counts.incomplete,
                }
                for info_hash, counts in files.items()
            }
        }
    )


def admitted_response(admitted: Mapping[bytes, Sequence[bytes]]) -> bytes:
    """The answer to a seeder node's ``/admitted/<credential>``: per info-hash, the endpoints its
    private swarm admits, compact as in an announce (``peers``: 6 bytes each, ``peers6``: 18)::

        {"files": {info_hash: {"peers": b"...", "peers6": b"..."}, ...}}
    """
    return bencode.encode(
        {
            "files": {
                info_hash: {
                    "peers": b"".join([endpoint for endpoint in endpoints if len(endpoint) == 6]),
                    "peers6": b"".join([endpoint for endpoint in endpoints if len(endpoint) == 18]),
                }
                for info_hash, endpoints in admitted.items()
            }
        }
    )


def _compact(peers: Sequence[Peer], size: int) -> bytes:
    """The endpoints of one address family (6 bytes for IPv4, 18 for IPv6), joined."""
    joined = b"".join([endpoint for _, endpoint in peers])
    if len(joined) == size * len(peers):  # one family only, the usual case: one pass
        return joined
    return b"".join([endpoint for _, endpoint in peers if len(endpoint) == size])


def _peer_dict(peer: Peer, no_peer_id: bool) -> dict[str, bytes | str | int]:
    address, port = peer.endpoint[:-2], int.from_bytes(peer.endpoint[-2:], "big")
    family = socket.AF_INET if len(address) == 4 else socket.AF_INET6
    entry: dict[str, bytes | str | int] = {"ip": socket.inet_ntop(family, address), "port": port}
    if not no_peer_id:
        entry["peer id"] = peer.peer_id
    return entry


def _unquote(value: bytes) -> bytes:
    # Most clients escape every byte of an info_hash: decode those in C.
    if len(value) == 60 and value[::3] == _ALL_ESCAPED:
        try:
            return binascii.unhexlify(value.replace(b"%", b""))
        except binascii.Error:
            pass
    # Form encoding: "+" is a space, as Python's urlencode and Go's QueryEscape
    # write it; libtorrent escapes a real "+" as %2B.
    if b"%" in value or b"+" in value:
        return unquote_to_bytes(value.replace(b"+", b" "))
    return value


def _count(value: bytes, name: str) -> int:
    # isdigit() on bytes is ASCII-only; the length bound keeps int() cheap.
    if not value.isdigit() or len(value) > 20:
        raise TrackerError(f"invalid {name}")
    return int(value)


def _numwant(value: bytes) -> int:
    if value.startswith(b"-") and value[1:].isdigit():
        # Some clients send -1 for "the tracker's default".
        return DEFAULT_NUMWANT
    return min(_count(value, "numwant"), MAX_NUMWANT)


# BEP 15, the UDP tracker protocol.

UDP_PROTOCOL_ID = 0x41727101980
UDP_MAX_SCRAPE_HASHES = 74
# Answers fit one unfragmented datagram on the smallest IPv6 link (1280 - 40 - 8).
_UDP_MAX_ANSWER = 1232
_UDP_HEADER = struct.Struct(">QII")
_UDP_ANNOUNCE = struct.Struct(">QII20s20sQQQIIIiH")
_UDP_CONNECT_ANSWER = struct.Struct(">IIQ")
_UDP_ANNOUNCE_HEAD = struct.Struct(">IIIII")
_UDP_SCRAPE_ENTRY = struct.Struct(">III")
_UDP_EVENTS = tuple(Event)
# BEP 41 option types.
_END_OF_OPTIONS, _NOP, _URL_DATA = 0, 1, 2


class UdpAction(IntEnum):
    CONNECT = 0
    ANNOUNCE = 1
    SCRAPE = 2
    ERROR = 3


class UdpConnect(NamedTuple):
    transaction_id: int


class UdpAnnounce(NamedTuple):
    transaction_id: int
    connection_id: int
    request: AnnounceRequest
    # From the announce URL's path, ``/announce/<passkey>``, carried in BEP 41 URL data.
    passkey: bytes | None = None


class UdpScrape(NamedTuple):
    transaction_id: int
    connection_id: int
    info_hashes: list[bytes]


class UdpError(TrackerError):
    """A UDP request the tracker refuses; ``response`` is the BEP 15 error packet."""

    def __init__(self, transaction_id: int, reason: str) -> None:
        super().__init__(reason)
        self.transaction_id = transaction_id

    @property
    def response(self) -> bytes:
        return udp_error(self.transaction_id, self.reason)


def parse_udp(packet: bytes) -> UdpConnect | UdpAnnounce | UdpScrape | None:
    """Parse one datagram; None when it is too short to even carry a transaction id."""
    if len(packet) < _UDP_HEADER.size:
        return None
    connection_id, action, transaction_id = _UDP_HEADER.unpack_from(packet)
    if action == UdpAction.ANNOUNCE:
        if len(packet) < _UDP_ANNOUNCE.size:
            raise UdpError(transaction_id, "truncated announce")
        _, _, _, info_hash, peer_id, downloaded, left, uploaded, event, _, _, numwant, port = (
            _UDP_ANNOUNCE.unpack_from(packet)
        )
        if event >= len(_UDP_EVENTS):
            raise UdpError(transaction_id, "invalid event")
        if port == 0:
            raise UdpError(transaction_id, "invalid port")
        request = AnnounceRequest(
            info_hash,
            peer_id,
            port,
            uploaded,
            downloaded,
            left,
            _UDP_EVENTS[event],
            DEFAULT_NUMWANT if numwant < 0 else min(numwant, MAX_NUMWANT),
            compact=True,
            no_peer_id=True,
        )
        # Bytes after the fixed part are BEP 41 options: the URL's path may carry a passkey.
        passkey = _udp_passkey(packet) if len(packet) > _UDP_ANNOUNCE.size else None
        return UdpAnnounce(transaction_id, connection_id, request, passkey)
    if action == UdpAction.CONNECT:
        if connection_id != UDP_PROTOCOL_ID:
            raise UdpError(transaction_id, "not a BEP 15 connect")
        return UdpConnect(transaction_id)
    if action == UdpAction.SCRAPE:
        size = len(packet) - _UDP_HEADER.size
        if size == 0 or size % 20:
            raise UdpError(transaction_id, "malformed scrape")
        if size // 20 > UDP_MAX_SCRAPE_HASHES:
            raise UdpError(transaction_id, f"at most {UDP_MAX_SCRAPE_HASHES} info_hash per scrape")
        hashes = [packet[start : start + 20] for start in range(_UDP_HEADER.size, len(packet), 20)]
        return UdpScrape(transaction_id, connection_id, hashes)
    raise UdpError(transaction_id, "unknown action")


_ROUTES = (b"announce", b"scrape", b"admitted")


def split_path(path: bytes) -> tuple[bytes, bytes | None] | None:
    """``/announce`` → (b"announce", None), ``/scrape/<key>`` → (b"scrape", key), likewise
    ``/admitted/<credential>``; None for other paths."""
    action, slash, passkey = path[1:].partition(b"/")
    if action not in _ROUTES or (slash and not passkey) or b"/" in passkey:
        return None
    return action, passkey if slash else None


def _udp_passkey(packet: bytes) -> bytes | None:
    """The passkey in an announce's BEP 41 URL data (``/announce/<passkey>``), if any."""
    options = packet[_UDP_ANNOUNCE.size :]
    if len(options) >= 2 and options[0] == _URL_DATA and len(options) >= 2 + options[1]:
        # What libtorrent sends: one URL data option, then at most the end of options.
        url = options[2 : 2 + options[1]]
    else:
        url = _udp_url_data(options)
    route = split_path(url.partition(b"?")[0])
    return route[1] if route is not None and route[0] == b"announce" else None


def _udp_url_data(options: bytes) -> bytes:
    """The URL data options joined, up to the end of options or a truncated option."""
    parts = []
    at = 0
    while at < len(options):
        kind = options[at]
        if kind == _END_OF_OPTIONS:
            break
        if kind == _NOP:
            at += 1
            continue
        # Every other option has a length byte, so that an unknown one can be skipped.
        if at + 1 >= len(options) or at + 2 + options[at + 1] > len(options):
            break
        end = at + 2 + options[at + 1]
        if kind == _URL_DATA:
            parts.append(options[at + 2 : end])
        at = end
    return b"".join(parts)


def udp_connect_response(transaction_id: int, connection_id: int) -> bytes:
    return _UDP_CONNECT_ANSWER.pack(UdpAction.CONNECT, transaction_id, connection_id)


def udp_announce_response(
    transaction_id: int, interval: int, leechers: int, seeders: int, peers: Sequence[Peer], *, ipv6: bool
) -> bytes:
    """BEP 15 answers peers of the asker's address family only."""
    size = 18 if ipv6 else 6
    fitting = (_UDP_MAX_ANSWER - _UDP_ANNOUNCE_HEAD.size) // size * size
    head = _UDP_ANNOUNCE_HEAD.pack(UdpAction.ANNOUNCE, transaction_id, interval, leechers, seeders)
    return head + _compact(peers, size)[:fitting]


def udp_compact_announce_response(
    transaction_id: int, interval: int, leechers: int, seeders: int, peers: bytes, *, ipv6: bool
) -> bytes:
    """``udp_announce_response`` for the asker's family's compact peers already joined."""
    size = 18 if ipv6 else 6
    fitting = (_UDP_MAX_ANSWER - _UDP_ANNOUNCE_HEAD.size) // size * size
    return (
        _UDP_ANNOUNCE_HEAD.pack(UdpAction.ANNOUNCE, transaction_id, interval, leechers, seeders)
        + peers[:fitting]
    )


def udp_scrape_response(transaction_id: int, counts: Sequence[SwarmCounts]) -> bytes:
    entries = [_UDP_SCRAPE_ENTRY.pack(c.complete, c.downloaded, c.incomplete) for c in counts]
    return struct.pack(">II", UdpAction.SCRAPE, transaction_id) + b"".join(entries)


def udp_error(transaction_id: int, message: str) -> bytes:
    return struct.pack(">II", UdpAction.ERROR, transaction_id) + message.encode()


class ConnectionIds:
    """BEP 15 connection ids that need no table: a keyed MAC of the client's address and the minute.

    An id is accepted in the minute it was issued and the next, so a client
    may use it for the minute BEP 15 allows. A client that cannot receive at
    its address never learns one, which is what stops spoofed announces.
    """

    def __init__(self, key: bytes) -> None:
        self._key = key

    def issue(self, address: bytes, now: float) -> int:
        return self._mac(address, int(now) // 60)

    def valid(self, connection_id: int, address: bytes, now: float) -> bool:
        minute = int(now) // 60
        return connection_id == self._mac(address, minute) or connection_id == self._mac(address, minute - 1)

    def _mac(self, address: bytes, minute: int) -> int:
        digest = hashlib.blake2b(address + minute.to_bytes(8, "big"), key=self._key, digest_size=8).digest()
        return int.from_bytes(digest, "big")
