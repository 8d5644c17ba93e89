"""Where the tracker keeps its swarms: the peers of each release and their counts.

``SwarmStore`` is the one interface. ``MemorySwarmStore`` keeps everything in
one process (a tracker process, or the web process's views, when there is no
Redis); ``RedisSwarmStore`` shares the swarms between every process that
answers announces. Both pass the same suite,
tests/tracker/test_swarm_store.py.

A peer is identified by its address and port (``Peer.endpoint``), not by the
peer id it claims: a client can then replace or stop only its own entry.

A peer of a private swarm is recorded with the digest of the passkey or node
credential that admitted it (``SwarmAnnounce.admitted_with``); ``admissions``
lists them, so that the tracker can tell the seeders whom they may serve
(``Tracker.admitted``). The digest lives and dies with the peer's entry: a
``stopped`` announce drops it, and it expires with the peer.
"""

import logging
import math
import random
import struct
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import NamedTuple

import hiredis
import redis
from hiredis import pack_command
from redis.backoff import NoBackoff
from redis.commands.core import Script
from redis.retry import Retry

from tracker.protocol import Event, Peer, SwarmCounts, TrackerError

logger = logging.getLogger(__name__)


class SwarmStoreUnavailable(TrackerError):
    """The store cannot be reached; the client is told so and announces again later."""

    def __init__(self) -> None:
        super().__init__("tracker temporarily unavailable")


class SwarmAnnounce(NamedTuple):
    """An announce the tracker accepted, as the store records it: a peer of a swarm, at a time."""

    swarm_id: int
    peer: Peer
    event: Event
    # Bytes the peer still lacks: 0 for a seed.
    left: int
    # At most this many other peers in the answer.
    numwant: int
    # The tracker's clock when it was accepted.
    now: float
    # The peer's reported totals.
    uploaded: int = 0
    downloaded: int = 0
    # In a private swarm, the digest of the passkey or node credential that admitted the peer
    # (tracker.engine.admission_digest); empty in a public one.
    admitted_with: bytes = b""


class Admission(NamedTuple):
    """A live peer of a private swarm and the digest of the key that admitted it."""

    endpoint: bytes
    admitted_with: bytes


class AnnounceResult(NamedTuple):
    complete: int
    incomplete: int
    # Never the announcing peer itself.
    peers: list[Peer]


class CompactAnnounceResult(NamedTuple):
    complete: int
    incomplete: int
    # The picked peers' endpoints joined, IPv4 (6 bytes each) and IPv6 (18 bytes each).
    peers4: bytes
    peers6: bytes


class SwarmStatistics(NamedTuple):
    """What one swarm did since statistics were last taken, and its size now."""

    swarm_id: int
    # Completed downloads (``counts_as_download``).
    completed: int
    # Bytes peers reported uploading and downloading (the growth of their totals).
    uploaded: int
    downloaded: int
    seeders: int
    leechers: int


def counts_as_download(*, event: Event, left: int, was_leeching: bool, counted_before: bool) -> bool:
    """Whether an announce is a completed download for the statistics and the scrape's ``downloaded``.

    Only a ``completed`` announce that says the peer now has everything, from a
    peer this swarm last saw leeching (``left > 0``), and never one already
    counted in this swarm: a peer the tracker never saw downloading (a forged
    announce, a seed) or a repeated announce counts nothing. Peers are told
    apart as the store tells them apart (``Peer.endpoint``). The Redis store's
    announce script applies the same rule (``_ANNOUNCE_LUA``, step 3).
    """
    return event == Event.COMPLETED and left == 0 and was_leeching and not counted_before


class SwarmStore(ABC):
    """Peers per swarm; a peer not heard from for ``peer_ttl`` seconds is gone."""

    def __init__(self, *, peer_ttl: float) -> None:
        self.peer_ttl = peer_ttl

    @abstractmethod
    def announce(self, announce: SwarmAnnounce) -> AnnounceResult:
        """Record the announce (``stopped`` removes the peer) and pick up to ``numwant`` others.

        A seed (``left == 0``) is given only leechers, a leecher seeds and
        leechers in proportion to their numbers. A download is counted as
        ``counts_as_download`` says. ``uploaded`` and
        ``downloaded`` are the peer's reported totals: their growth since its
        previous announce (all of it for a peer not known) goes to the statistics.
        """

    def announce_compact(self, announce: SwarmAnnounce) -> CompactAnnounceResult:
        """``announce``, with the peers as compact endpoints (a store may build them faster)."""
        result = self.announce(announce)
        peers4 = b"".join([endpoint for _, endpoint in result.peers if len(endpoint) == 6])
        peers6 = b"".join([endpoint for _, endpoint in result.peers if len(endpoint) == 18])
        return CompactAnnounceResult(result.complete, result.incomplete, peers4, peers6)

    # True when ``announce_compact_many`` is cheaper than that many ``announce_compact``
    # (a store across the network: one round trip); the servers then gather announces.
    batches = False

    def announce_compact_many(
        self, announces: Sequence[SwarmAnnounce]
    ) -> list["CompactAnnounceResult | TrackerError"]:
        """``announce_compact`` for each announce, in order; a refusal is returned, not raised."""
        results: list[CompactAnnounceResult | TrackerError] = []
        for announce in announces:
            try:
                results.append(self.announce_compact(announce))
            except TrackerError as error:
                results.append(error)
        return results

    @abstractmethod
    def take_statistics(self, now: float) -> list[SwarmStatistics]:
        """Take and reset the counters of every swarm that has peers or was announced to since the last take.

        Atomic per swarm: counts taken by one caller are never taken by another.
        """

    @abstractmethod
    def scrape(self, swarm_ids: Sequence[int], now: float) -> list[SwarmCounts]:
        """Counts of each swarm, in order; an unknown swarm counts zero."""

    @abstractmethod
    def admissions(self, swarm_ids: Sequence[int], now: float) -> list[list[Admission]]:
        """For each swarm, in order, its live peers that were recorded with ``admitted_with``."""


class _Entry:
    __slots__ = ("peer", "expires", "seeding", "slot", "uploaded", "downloaded")

    def __init__(self, peer: Peer, expires: float, seeding: bool, slot: int) -> None:
        self.peer = peer
        self.expires = expires
        self.seeding = seeding
        # Index in the swarm's seeders or leechers list.
        self.slot = slot
        # The totals the peer last reported.
        self.uploaded = 0
        self.downloaded = 0


class _Swarm:
    __slots__ = (
        "entries",
        "seeders",
        "leechers",
        "seeder_endpoints",
        "leecher_endpoints",
        "downloaded",
        "next_expiry",
        "touched",
        "new_completed",
        "new_uploaded",
        "new_downloaded",
        "admitted",
        "counted_downloads",
    )

    def __init__(self) -> None:
        # By endpoint, oldest announce first: re-announcing moves an entry to
        # the end, so expiry only ever looks at the front.
        self.entries: dict[bytes, _Entry] = {}
        # The same entries again, for picking random peers in O(numwant).
        self.seeders: list[_Entry] = []
        self.leechers: list[_Entry] = []
        # Their endpoints, in the same order: a compact answer is a slice of these, joined.
        self.seeder_endpoints: list[bytes] = []
        self.leecher_endpoints: list[bytes] = []
        self.downloaded = 0
        # No entry expires before this; it may be early, never late.
        self.next_expiry = float("inf")
        # Statistics since they were last taken.
        self.touched = False
        self.new_completed = 0
        self.new_uploaded = 0
        self.new_downloaded = 0
        # A private swarm's admission records: endpoint → SwarmAnnounce.admitted_with of each of
        # its entries. None until the first, so that a public swarm's peers pay nothing for them.
        self.admitted: dict[bytes, bytes] | None = None
        # The endpoints whose download was counted, kept while the swarm lives (a peer that stops
        # and leeches again is not a second download); None until the first.
        self.counted_downloads: set[bytes] | None = None

    def add(self, entry: _Entry) -> None:
        # Insert at a random place (one step of an inside-out shuffle): the
        # lists stay in random order, so any run of them is a random sample.
        if entry.seeding:
            group, endpoints = self.seeders, self.seeder_endpoints
        else:
            group, endpoints = self.leechers, self.leecher_endpoints
        size = len(group)
        place = int(random.random() * (size + 1))
        if place == size:
            group.append(entry)
            endpoints.append(entry.peer.endpoint)
        else:
            displaced = group[place]
            displaced.slot = size
            group.append(displaced)
            endpoints.append(endpoints[place])
            group[place] = entry
            endpoints[place] = entry.peer.endpoint
        entry.slot = place

    def remove(self, entry: _Entry) -> None:
        if entry.seeding:
            group, endpoints = self.seeders, self.seeder_endpoints
        else:
            group, endpoints = self.leechers, self.leecher_endpoints
        last = group.pop()
        last_endpoint = endpoints.pop()
        if last is not entry:
            group[entry.slot] = last
            endpoints[entry.slot] = last_endpoint
            last.slot = entry.slot

    def expire(self, now: float) -> None:
        if now < self.next_expiry:
            return
        expired = []
        self.next_expiry = float("inf")
        for endpoint, entry in self.entries.items():
            if entry.expires > now:
                self.next_expiry = entry.expires
                break
            expired.append(endpoint)
        admitted = self.admitted
        for endpoint in expired:
            self.remove(self.entries.pop(endpoint))
            if admitted:
                admitted.pop(endpoint, None)

    def pick(self, asker: _Entry, numwant: int) -> list[Peer]:
        return [entry.peer for entry in self._pick_from(asker, numwant, self.leechers, self.seeders)]

    def pick_compact(self, asker: _Entry, numwant: int) -> tuple[bytes, bytes]:
        """What ``pick`` picks, as compact IPv4 and IPv6 endpoints joined: list slices, no per-peer code."""
        run = self._pick_from(asker, numwant, self.leecher_endpoints, self.seeder_endpoints)
        joined = b"".join(run)
        if len(joined) == 6 * len(run):
            return joined, b""
        if len(joined) == 18 * len(run):
            return b"", joined
        return b"".join([e for e in run if len(e) == 6]), b"".join([e for e in run if len(e) == 18])

    def _pick_from(self, asker: _Entry, numwant: int, leechers: list, seeders: list) -> list:
        """Up to ``numwant`` of ``leechers`` and ``seeders`` (entries, or their endpoints), never the asker.

        A leecher's two shares are rounded up or down at random (systematic
        sampling, as the Redis store's script does): each is within one of
        its exact share, and they add up to ``numwant``.
        """
        if asker.seeding:
            return _random_run(leechers, numwant, -1)
        others = len(leechers) - 1 + len(seeders)
        from_leechers = len(leechers) - 1
        if others > numwant:
            from_leechers = int(numwant * from_leechers / others + random.random())
        return _random_run(leechers, from_leechers, asker.slot) + _random_run(
            seeders, numwant - from_leechers, -1
        )


def _random_run(items: list, wanted: int, skip: int) -> list:
    """Up to ``wanted`` of ``items`` but never ``items[skip]`` (no skip when -1).

    ``items`` are in random order (``_Swarm.add``): a run of them from a random
    place, wrapping around, is a random sample.
    """
    size = len(items)
    if wanted >= size - (skip >= 0):
        return items[:skip] + items[skip + 1 :] if skip >= 0 else items[:]
    if wanted <= 0:
        return []
    start = int(random.random() * size)
    stop = start + wanted
    if skip >= 0 and (skip - start) % size < wanted:
        stop += 1  # one more, for the asker to be cut out of
    run = items[start:stop]
    if stop > size:
        run += items[: stop - size]
    if len(run) > wanted:
        del run[(skip - start) % size]
    return run


class MemorySwarmStore(SwarmStore):
    """All swarms in this process's memory; not shared between processes."""

    def __init__(self, *, peer_ttl: float) -> None:
        super().__init__(peer_ttl=peer_ttl)
        self._swarms: dict[int, _Swarm] = {}

    def announce(self, announce: SwarmAnnounce) -> AnnounceResult:
        swarm, entry = self._record(announce)
        if entry is None:
            return AnnounceResult(len(swarm.seeders), len(swarm.leechers), [])
        return AnnounceResult(len(swarm.seeders), len(swarm.leechers), swarm.pick(entry, announce.numwant))

    def announce_compact(self, announce: SwarmAnnounce) -> CompactAnnounceResult:
        swarm, entry = self._record(announce)
        if entry is None:
            return CompactAnnounceResult(len(swarm.seeders), len(swarm.leechers), b"", b"")
        peers4, peers6 = swarm.pick_compact(entry, announce.numwant)
        return CompactAnnounceResult(len(swarm.seeders), len(swarm.leechers), peers4, peers6)

    def _record(self, announce: SwarmAnnounce) -> tuple[_Swarm, _Entry | None]:
        """Record an announce; the peer's entry, None when it stopped."""
        # Unpacked, not read by name: on the hot path, one unpacking costs less than eight lookups.
        swarm_id, peer, event, left, _, now, uploaded, downloaded, admitted_with = announce
        swarm = self._swarms.get(swarm_id)
        if swarm is None:
            swarm = self._swarms[swarm_id] = _Swarm()
        swarm.expire(now)
        swarm.touched = True
        entry = swarm.entries.pop(peer.endpoint, None)
        if entry is None:
            swarm.new_uploaded += uploaded
            swarm.new_downloaded += downloaded
        else:
            # A total that went down is a client that started counting again.
            swarm.new_uploaded += uploaded - entry.uploaded if uploaded >= entry.uploaded else uploaded
            swarm.new_downloaded += (
                downloaded - entry.downloaded if downloaded >= entry.downloaded else downloaded
            )
        if event == Event.STOPPED:
            if entry is not None:
                swarm.remove(entry)
                if swarm.admitted:
                    swarm.admitted.pop(peer.endpoint, None)
            return swarm, None
        seeding = left == 0
        if event == Event.COMPLETED and counts_as_download(
            event=event,
            left=left,
            was_leeching=entry is not None and not entry.seeding,
            counted_before=swarm.counted_downloads is not None and peer.endpoint in swarm.counted_downloads,
        ):
            if swarm.counted_downloads is None:
                swarm.counted_downloads = set()
            swarm.counted_downloads.add(peer.endpoint)
            swarm.downloaded += 1
            swarm.new_completed += 1
        expires = now + self.peer_ttl
        if entry is None:
            entry = _Entry(peer, expires, seeding, 0)
            swarm.add(entry)
        else:
            entry.peer = peer
            entry.expires = expires
            if entry.seeding != seeding:
                swarm.remove(entry)
                entry.seeding = seeding
                swarm.add(entry)
        entry.uploaded = uploaded
        entry.downloaded = downloaded
        if admitted_with:
            if swarm.admitted is None:
                swarm.admitted = {}
            swarm.admitted[peer.endpoint] = admitted_with
        elif swarm.admitted:  # a swarm made public: its peers announce without a key
            swarm.admitted.pop(peer.endpoint, None)
        swarm.entries[peer.endpoint] = entry
        if expires < swarm.next_expiry:
            swarm.next_expiry = expires
        return swarm, entry

    def scrape(self, swarm_ids: Sequence[int], now: float) -> list[SwarmCounts]:
        counts = []
        for swarm_id in swarm_ids:
            swarm = self._swarms.get(swarm_id)
            if swarm is None:
                counts.append(SwarmCounts(0, 0, 0))
            else:
                swarm.expire(now)
                counts.append(SwarmCounts(len(swarm.seeders), swarm.downloaded, len(swarm.leechers)))
        return counts

    def admissions(self, swarm_ids: Sequence[int], now: float) -> list[list[Admission]]:
        listed = []
        for swarm_id in swarm_ids:
            swarm = self._swarms.get(swarm_id)
            if swarm is None or swarm.admitted is None:
                listed.append([])
                continue
            swarm.expire(now)
            listed.append([Admission(endpoint, digest) for endpoint, digest in swarm.admitted.items()])
        return listed

    def take_statistics(self, now: float) -> list[SwarmStatistics]:
        taken = []
        for swarm_id, swarm in self._swarms.items():
            swarm.expire(now)
            if not (swarm.touched or swarm.entries):
                # Idle since the last take: forgotten, as Redis forgets an idle swarm's keys.
                swarm.counted_downloads = None
                continue
            taken.append(
                SwarmStatistics(
                    swarm_id,
                    swarm.new_completed,
                    swarm.new_uploaded,
                    swarm.new_downloaded,
                    len(swarm.seeders),
                    len(swarm.leechers),
                )
            )
            # A swarm with peers now is sampled again next time, even if it empties meanwhile.
            swarm.touched = bool(swarm.entries)
            swarm.new_completed = swarm.new_uploaded = swarm.new_downloaded = 0
        return taken


# A swarm in Redis is seven keys under "<prefix>{<swarm id>}:" (the scripts
# name them from the prefix, as one call serves many swarms: one Redis, not a
# cluster):
#   peers    hash: endpoint -> struct ">BIddd" (group, slot, expires, uploaded,
#            downloaded, the totals being the ones the peer last reported)
#            followed by the peer id and, in a private swarm, the digest
#            of the key that admitted the peer (SwarmAnnounce.admitted_with); and, under names no endpoint has
#            (endpoints are 6 or 18 bytes): meta, struct ">IIIIdd" (peers in
#            groups 1 to 4; next: no peer expires before it, early, never
#            late, 0 for no peer; renewed: when the keys' lifetime was last
#            set), downloaded (completed downloads ever), completed, uploaded
#            and downloaded_bytes (statistics since the last take). One hash,
#            so that an announce reads and writes it with one command each.
#   order    list: struct ">d" (expires) followed by the endpoint, per
#            announce, oldest first; an entry whose peer announced again
#            since is stale and skipped on expiry
#   1..4     strings: the endpoints of each group, joined, in slot order
#            (groups: 1 IPv4 seeders, 2 IPv4 leechers, 3 IPv6 seeders, 4 IPv6 leechers)
#   counted  set: the endpoints whose completed download was counted
#            (counts_as_download), written only on a counted completion
# A peer list is a run of a group's string from a random start: one GETRANGE,
# however many peers the swarm has, where a sorted set's ZRANDMEMBER costs
# tens of µs past a hundred peers. The strings hold peers in arrival order,
# shuffled as peers leave (the last one takes the free slot); a run of them is
# what opentracker hands out too. Numbers are packed, not written out: Lua
# turns a number into text in about half a µs.
# The live set (shared by all swarms) holds the ids of the swarms with peers or
# announces since statistics were last taken.
_SWARM_LUA = """
local SIZE, GROUP = {6, 6, 18, 18}, {"1", "2", "3", "4"}
-- A field longer than hash-max-listpack-value (64) turns the hash into a hash
-- table for good: a listpack is searched entry by entry, ~9 µs per lookup at
-- 400 peers. Small swarms keep the compact listpack.
local BIG_SWARM, BIG_SWARM_MARK = 64, string.rep("+", 65)

local function swarm_keys(prefix, swarm_id)
  local base = prefix .. "{" .. swarm_id .. "}:"
  return {base = base, peers = base .. "peers", order = base .. "order"}
end

local function read_meta(packed)
  if not packed then return {0, 0, 0, 0, 0, -math.huge} end
  return {struct.unpack(">IIIIdd", packed)}
end

local function packed_meta(m)
  return struct.pack(">IIIIdd", m[1], m[2], m[3], m[4], m[5], m[6])
end

local function write_meta(k, m)
  redis.call("HSET", k.peers, "meta", packed_meta(m))
end

-- Seeders, leechers.
local function swarm_counts(m)
  return m[1] + m[3], m[2] + m[4]
end

-- Group, slot, expires, uploaded, downloaded, peer id; the digest that admitted the peer follows
-- them in a private swarm's records (PEER_RECORD bytes without it).
local PEER_RECORD = 49
local function read_record(record)
  local group, slot, expires, uploaded, downloaded = struct.unpack(">BIddd", record)
  return group, slot, expires, uploaded, downloaded, string.sub(record, 30, PEER_RECORD)
end

-- Take a peer out of its group's string: the group's last peer moves into its slot.
local function take_out(k, m, endpoint, group, slot)
  local size, last = SIZE[group], m[group] - 1
  if slot ~= last then
    local key = k.base .. GROUP[group]
    local moved = redis.call("GETRANGE", key, last * size, last * size + size - 1)
    redis.call("SETRANGE", key, slot * size, moved)
    local record = redis.call("HGET", k.peers, moved)
    local moved_record = string.sub(record, 1, 1) .. struct.pack(">I", slot) .. string.sub(record, 6)
    redis.call("HSET", k.peers, moved, moved_record)
  end
  redis.call("HDEL", k.peers, endpoint)
  m[group] = last
end

-- Forget the peers whose expiry has passed, and write the meta that follows.
local function expire(k, m, now)
  m[5] = 0
  while true do
    local entries = redis.call("LRANGE", k.order, 0, 99)
    local popped = 0
    for _, entry in ipairs(entries) do
      local expires = struct.unpack(">d", entry)
      if expires > now then
        m[5] = expires
        break
      end
      popped = popped + 1
      local endpoint = string.sub(entry, 9)
      local record = redis.call("HGET", k.peers, endpoint)
      if record then
        local group, slot, peer_expires = read_record(record)
        if peer_expires <= now then take_out(k, m, endpoint, group, slot) end
      end
    end
    if popped > 0 then redis.call("LTRIM", k.order, popped, -1) end
    if m[5] > 0 or #entries < 100 then
      write_meta(k, m)
      return
    end
  end
end

local function expire_if_due(k, m, now)
  if m[5] > 0 and m[5] <= now then
    expire(k, m, now)
    return true
  end
  return false
end
"""

# ARGV: prefix, now, ttl, a random seed (scripts must not draw their own), then
# one announce each: struct ">BBBBBHdd" (endpoint size, event, seeding 1/0,
# compact 1/0, size of the digest that admitted the peer (0 in a public
# swarm), numwant, uploaded, downloaded) followed by the endpoint, the 20-byte
# peer id, the digest and the swarm id.
# Returns, per announce, {seeders, leechers, IPv4 endpoints joined, IPv6
# endpoints joined} when compact, else {seeders, leechers, endpoint, peer id,
# endpoint, peer id, ...}; {seeders, leechers} for a stopped peer.
# One call for a whole batch: a script call costs Redis several µs before its
# first command, and each argument more. Within an announce, each redis.call
# costs over a µs beyond the command itself, so the common announce makes five
# or six: expiry and key lifetimes are only looked at when "next" and
# "renewed" say they are due.
_ANNOUNCE_LUA = (
    _SWARM_LUA
    + """
local prefix, now, ttl = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local live, lifetime = prefix .. "live", math.ceil(2 * ttl)
math.randomseed(tonumber(ARGV[4]))
-- Whom a seed gets, whom a leecher gets (leechers first, as in the strings' order).
local FOR_SEED, FOR_LEECHER = {2, 4}, {2, 4, 1, 3}

local function announce(arguments)
  local size, event, seeding, compact, digest_size, numwant, uploaded, downloaded =
    struct.unpack(">BBBBBHdd", arguments)
  local endpoint = string.sub(arguments, 24, 23 + size)
  local peer_id = string.sub(arguments, 24 + size, 43 + size)
  local admitted_with = string.sub(arguments, 44 + size, 43 + size + digest_size)
  local swarm_id = string.sub(arguments, 44 + size + digest_size)
  local k = swarm_keys(prefix, swarm_id)
  local known = redis.call("HMGET", k.peers, "meta", endpoint)
  local m, record = read_meta(known[1]), known[2]

  -- 1. Forget the peers not heard from within the TTL.
  if expire_if_due(k, m, now) then record = redis.call("HGET", k.peers, endpoint) end
  local was_empty = m[1] + m[2] + m[3] + m[4] == 0
  local group, slot, _, previous_uploaded, previous_downloaded
  if record then group, slot, _, previous_uploaded, previous_downloaded = read_record(record) end

  -- 2. Statistics: the growth of the peer's totals (all of them for a new peer;
  -- a total that went down is a client that started counting again).
  local uploaded_growth, downloaded_growth = uploaded, downloaded
  if record then
    if uploaded >= previous_uploaded then uploaded_growth = uploaded - previous_uploaded end
    if downloaded >= previous_downloaded then downloaded_growth = downloaded - previous_downloaded end
  end
  -- redis.pcall: a total past what HINCRBY takes (a client may claim 20 digits)
  -- is left out of the statistics instead of failing the batch's announces.
  if uploaded_growth > 0 then redis.pcall("HINCRBY", k.peers, "uploaded", uploaded_growth) end
  if downloaded_growth > 0 then redis.pcall("HINCRBY", k.peers, "downloaded_bytes", downloaded_growth) end
  -- A swarm with peers is live already: taking the statistics drops only swarms left without peers.
  if was_empty then redis.call("SADD", live, swarm_id) end

  -- 3. Record this announce.
  if event == 3 then
    if record then
      take_out(k, m, endpoint, group, slot)
      write_meta(k, m)
    end
    return {swarm_counts(m)}
  end
  local mine = (seeding == 1 and 1 or 2) + (size == 18 and 2 or 0)
  -- counts_as_download: completed, now a seed, last seen leeching, never counted before.
  if event == 1 and seeding == 1 and record and group % 2 == 0
    and redis.call("SADD", k.base .. "counted", endpoint) == 1 then
    redis.call("EXPIRE", k.base .. "counted", lifetime)
    redis.call("HINCRBY", k.peers, "completed", 1)
    redis.call("HINCRBY", k.peers, "downloaded", 1)
  end
  if record and group ~= mine then
    take_out(k, m, endpoint, group, slot)
    record = nil
  end
  if not record then
    slot = m[mine]
    local key = k.base .. GROUP[mine]
    redis.call("SETRANGE", key, slot * size, endpoint)
    -- Its group's first peer: the string may be new, without a lifetime yet.
    if slot == 0 and not was_empty then redis.call("EXPIRE", key, lifetime) end
    m[mine] = slot + 1
    if m[1] + m[2] + m[3] + m[4] == BIG_SWARM + 1 then redis.call("HSET", k.peers, BIG_SWARM_MARK, "") end
  end
  local expires = now + ttl
  redis.call("RPUSH", k.order, struct.pack(">d", expires) .. endpoint)
  if m[5] == 0 then m[5] = expires end
  -- A swarm nobody announces to any more disappears, at most two TTLs after
  -- its last announce: the keys live 2 TTLs from "renewed", renewed once it is
  -- a TTL/2 old, so they outlast every peer added meanwhile. A swarm that had
  -- no peers may have lost or never had some of its keys: all are set again.
  local renew = was_empty or now - m[6] >= ttl / 2
  if renew then m[6] = now end
  redis.call(
    "HSET", k.peers,
    "meta", packed_meta(m),
    endpoint, struct.pack(">BIddd", mine, slot, expires, uploaded, downloaded) .. peer_id .. admitted_with)
  if renew then
    for _, name in ipairs({"peers", "order", "counted", "1", "2", "3", "4"}) do
      redis.call("EXPIRE", k.base .. name, lifetime)
    end
  end

  -- 4. Pick peers: a seed gets leechers only, a leecher a mix of both in
  -- proportion to their numbers (systematic sampling: each group's share is
  -- within one of its exact share, and the shares add up to numwant).
  local candidates = seeding == 1 and FOR_SEED or FOR_LEECHER
  local total = seeding == 1 and 0 or -1  -- not the asker itself
  for _, g in ipairs(candidates) do total = total + m[g] end
  local peers4, peers6 = "", ""
  local counted, reached, luck = 0, 0, math.random()
  for _, g in ipairs(candidates) do
    local count, own = m[g], g == mine
    local take = own and count - 1 or count
    if total > numwant then
      counted = counted + take
      local upto = math.floor(numwant * counted / total + luck)
      take, reached = upto - reached, upto
    end
    if take > 0 then
      -- One peer more from the asker's own group, to cut the asker out of.
      local width, key = SIZE[g], k.base .. GROUP[g]
      local span = own and take + 1 or take
      local start = math.floor(math.random() * count)
      local stop = start + span
      local run = redis.call("GETRANGE", key, start * width, math.min(stop, count) * width - 1)
      if stop > count then run = run .. redis.call("GETRANGE", key, 0, (stop - count) * width - 1) end
      if own then
        local offset = (slot - start) % count
        if offset < span then
          run = string.sub(run, 1, offset * width) .. string.sub(run, (offset + 1) * width + 1)
        else
          run = string.sub(run, 1, take * width)
        end
      end
      if width == 6 then peers4 = peers4 .. run else peers6 = peers6 .. run end
    end
  end
  local seeders, leechers = swarm_counts(m)
  if compact == 1 then return {seeders, leechers, peers4, peers6} end
  local result, endpoints = {seeders, leechers}, {}
  for at = 1, #peers4, 6 do endpoints[#endpoints + 1] = string.sub(peers4, at, at + 5) end
  for at = 1, #peers6, 18 do endpoints[#endpoints + 1] = string.sub(peers6, at, at + 17) end
  if #endpoints > 0 then
    local records = redis.call("HMGET", k.peers, unpack(endpoints))
    for i, other in ipairs(endpoints) do
      if records[i] then
        result[#result + 1] = other
        result[#result + 1] = string.sub(records[i], 30, PEER_RECORD)
      end
    end
  end
  return result
end

local replies = {}
for i = 5, #ARGV do replies[#replies + 1] = announce(ARGV[i]) end
return replies
"""
)

# ARGV: prefix, now, swarm id, swarm id, ... Returns {{seeders, downloaded, leechers}, ...}.
_SCRAPE_LUA = (
    _SWARM_LUA
    + """
local prefix, now = ARGV[1], tonumber(ARGV[2])
local counts = {}
for i = 3, #ARGV do
  local k = swarm_keys(prefix, ARGV[i])
  local fields = redis.call("HMGET", k.peers, "meta", "downloaded")
  local m = read_meta(fields[1])
  expire_if_due(k, m, now)
  local seeders, leechers = swarm_counts(m)
  counts[#counts + 1] = {seeders, tonumber(fields[2]) or 0, leechers}
end
return counts
"""
)

# ARGV: prefix, now, swarm id, swarm id, ... Returns, per swarm, its live peers
# recorded with a digest: {{endpoint, digest, endpoint, digest, ...}, ...}.
_ADMISSIONS_LUA = (
    _SWARM_LUA
    + """
local prefix, now = ARGV[1], tonumber(ARGV[2])
local listed = {}
for i = 3, #ARGV do
  local k = swarm_keys(prefix, ARGV[i])
  local m = read_meta(redis.call("HGET", k.peers, "meta"))
  expire_if_due(k, m, now)
  local admitted = {}
  if m[1] + m[2] + m[3] + m[4] > 0 then
    local fields = redis.call("HGETALL", k.peers)
    for at = 1, #fields, 2 do
      local name, record = fields[at], fields[at + 1]
      -- Endpoints are 6 or 18 bytes, and no other field of the hash is.
      if (#name == 6 or #name == 18) and #record > PEER_RECORD then
        admitted[#admitted + 1] = name
        admitted[#admitted + 1] = string.sub(record, PEER_RECORD + 1)
      end
    end
  end
  listed[#listed + 1] = admitted
end
return listed
"""
)

# ARGV: prefix, now, swarm id, swarm id, ... Takes and resets the statistics
# of each swarm, and drops the swarms without peers from the live set.
# Returns {{swarm id, completed, uploaded, downloaded, seeders, leechers}, ...}.
_TAKE_STATISTICS_LUA = (
    _SWARM_LUA
    + """
local prefix, now = ARGV[1], tonumber(ARGV[2])
local live = prefix .. "live"
local taken = {}
for i = 3, #ARGV do
  local k = swarm_keys(prefix, ARGV[i])
  local fields = redis.call("HMGET", k.peers, "meta", "completed", "uploaded", "downloaded_bytes")
  local m = read_meta(fields[1])
  expire_if_due(k, m, now)
  redis.call("HDEL", k.peers, "completed", "uploaded", "downloaded_bytes")
  local seeders, leechers = swarm_counts(m)
  if seeders + leechers == 0 then redis.call("SREM", live, ARGV[i]) end
  taken[#taken + 1] = {
    tonumber(ARGV[i]), tonumber(fields[2]) or 0, tonumber(fields[3]) or 0, tonumber(fields[4]) or 0,
    seeders, leechers,
  }
end
return taken
"""
)


# What the announce script reads first of each announce (see _ANNOUNCE_LUA).
_ANNOUNCE_HEAD = struct.Struct(">BBBBBHdd")


def _reply_reader() -> hiredis.Reader:
    return hiredis.Reader(protocolError=hiredis.ProtocolError, replyError=redis.ResponseError)


class RedisSwarmStore(SwarmStore):
    """Swarms in Redis, shared by every tracker process; one round trip per batch of announces.

    Each swarm is seven keys under ``prefix`` (``_SWARM_LUA`` tells which).
    """

    # Log an outage at most this often, not once per announce.
    _OUTAGE_LOG_INTERVAL = 10.0

    def __init__(self, client: redis.Redis, *, peer_ttl: float, prefix: str) -> None:
        super().__init__(peer_ttl=peer_ttl)
        self.client = client
        self.prefix = prefix
        self._announce = client.register_script(_ANNOUNCE_LUA)
        self._scrape = client.register_script(_SCRAPE_LUA)
        self._admissions = client.register_script(_ADMISSIONS_LUA)
        self._take_statistics = client.register_script(_TAKE_STATISTICS_LUA)
        self._outage_logged_at = -math.inf
        self._connection = client.connection_pool.make_connection()
        # The tracker's loop waits for each call: an outage must fail at once,
        # whatever retries the client was built with, and be tried again on the next call.
        self._connection.retry = Retry(NoBackoff(), 0)
        self._reader = _reply_reader()

    batches = True

    def announce(self, announce: SwarmAnnounce) -> AnnounceResult:
        reply = self._run_announces([announce], compact=False)[0]
        if isinstance(reply, TrackerError):
            raise reply
        peers = [Peer(reply[index + 1], reply[index]) for index in range(2, len(reply), 2)]
        return AnnounceResult(reply[0], reply[1], peers)

    def announce_compact(self, announce: SwarmAnnounce) -> CompactAnnounceResult:
        result = self.announce_compact_many([announce])[0]
        if isinstance(result, TrackerError):
            raise result
        return result

    def announce_compact_many(
        self, announces: Sequence[SwarmAnnounce]
    ) -> list[CompactAnnounceResult | TrackerError]:
        """Many compact announces in one round trip and one script call.

        They are recorded at the latest of their times (a batch spans milliseconds).
        """
        if not announces:
            return []
        return [
            reply
            if isinstance(reply, TrackerError)
            else CompactAnnounceResult(reply[0], reply[1], reply[2], reply[3])
            if len(reply) == 4
            else CompactAnnounceResult(reply[0], reply[1], b"", b"")
            for reply in self._run_announces(announces, compact=True)
        ]

    def _run_announces(self, announces: Sequence[SwarmAnnounce], *, compact: bool) -> list:
        """The script's reply per announce, or the error to answer all of them with."""
        flag = 1 if compact else 0
        pack = _ANNOUNCE_HEAD.pack
        # Unpacked, not read by name: on the hot path, one unpacking costs less than eight lookups.
        arguments = [
            pack(
                len(peer.endpoint), event, left == 0, flag, len(admitted_with), numwant, uploaded, downloaded
            )
            + peer.endpoint
            + peer.peer_id
            + admitted_with
            + b"%d" % swarm_id
            for swarm_id, peer, event, left, numwant, _, uploaded, downloaded, admitted_with in announces
        ]
        now = max(announce.now for announce in announces)
        seed = random.getrandbits(31)
        try:
            return self._run_script(self._announce, self.prefix, now, self.peer_ttl, seed, *arguments)
        except redis.RedisError as error:
            return [self._unavailable(error)] * len(announces)

    def _run_script(self, script: Script, *arguments: object) -> list:
        """The script's reply to these ARGV, in one round trip (two after Redis lost its scripts)."""
        command = pack_command(("EVALSHA", script.sha, 0, *arguments))
        try:
            return self._round_trip(command)
        except redis.exceptions.NoScriptError:  # a Redis restarted or flushed since
            self._round_trip(pack_command(("SCRIPT", "LOAD", script.script)))
            return self._round_trip(command)

    def _round_trip(self, command: bytes) -> list:
        """Send one command and return its reply; an error reply is raised.

        On a connection of its own, read with a hiredis reader straight from
        its socket: redis-py costs several µs of Python per command, and a poll
        per checkout, more than an announce's own work.
        """
        connection = self._connection
        try:
            connection.connect()  # once, and again after a failure
            sock = connection._sock
            sock.sendall(command)
            reader = self._reader
            while (reply := reader.gets()) is False:
                data = sock.recv(262144)
                if not data:
                    raise redis.ConnectionError("Redis closed the connection")
                reader.feed(data)
        except BaseException as error:
            # A reply still due would be read as the next command's.
            connection.disconnect()
            self._reader = _reply_reader()
            if isinstance(error, (OSError, hiredis.ProtocolError)):
                raise redis.ConnectionError(str(error)) from error
            raise
        if isinstance(reply, redis.ResponseError):
            if str(reply).startswith("NOSCRIPT"):
                raise redis.exceptions.NoScriptError(str(reply))
            raise reply
        return reply

    def scrape(self, swarm_ids: Sequence[int], now: float) -> list[SwarmCounts]:
        if not swarm_ids:
            return []
        try:
            replies = self._run_script(self._scrape, self.prefix, now, *swarm_ids)
        except redis.RedisError as error:
            raise self._unavailable(error) from error
        return [SwarmCounts(*reply) for reply in replies]

    # Swarms per script call when listing admissions or taking statistics: each call holds
    # Redis for its swarms only.
    SWARMS_PER_CALL = 500

    def admissions(self, swarm_ids: Sequence[int], now: float) -> list[list[Admission]]:
        listed: list[list[Admission]] = []
        for start in range(0, len(swarm_ids), self.SWARMS_PER_CALL):
            try:
                replies = self._run_script(
                    self._admissions, self.prefix, now, *swarm_ids[start : start + self.SWARMS_PER_CALL]
                )
            except redis.RedisError as error:
                raise self._unavailable(error) from error
            listed.extend(
                [Admission(reply[at], reply[at + 1]) for at in range(0, len(reply), 2)] for reply in replies
            )
        return listed

    def take_statistics(self, now: float) -> list[SwarmStatistics]:
        try:
            swarm_ids = sorted({int(member) for member in self.client.sscan_iter(self._live, count=1000)})
        except redis.RedisError as error:
            raise self._unavailable(error) from error
        taken: list[SwarmStatistics] = []
        for start in range(0, len(swarm_ids), self.SWARMS_PER_CALL):
            batch = swarm_ids[start : start + self.SWARMS_PER_CALL]
            try:
                reply = self._take_statistics(args=[self.prefix, now, *batch])
            except redis.RedisError as error:
                # What was taken is gone from Redis: hand it over, the rest waits for the next take.
                self._unavailable(error)
                break
            taken.extend(SwarmStatistics(*row) for row in reply)
        return taken

    @property
    def _live(self) -> str:
        return self.prefix + "live"

    def _unavailable(self, error: redis.RedisError) -> SwarmStoreUnavailable:
        now = time.monotonic()
        if now - self._outage_logged_at >= self._OUTAGE_LOG_INTERVAL:
            self._outage_logged_at = now
            logger.error("swarm store unavailable: %s", error)
        return SwarmStoreUnavailable()
