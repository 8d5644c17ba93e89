"""Where the tracker keeps its swarms: the peers of each release and their counts.

``SwarmStore`` is the one interface. ``MemorySwarmStore`` keeps everything in
the process (one tracker process, or the Django views); ``RedisSwarmStore``
shares the swarms between tracker processes. Both pass the same suite,
tests/tracker/test_swarm_store.py.

A peer is identified by its address and port (``Peer.endpoint``), not by the
peer id it claims: a client can then replace or stop only its own entry.
"""

import logging
import math
import random
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import NamedTuple

import hiredis
import redis
from hiredis import pack_command

from tracker.protocol import Event, Peer, SwarmCounts, TrackerError

logger = logging.getLogger(__name__)


class SwarmStoreUnavailable(TrackerError):
    """The store cannot be reached; the client is told so and announces again later."""

    def __init__(self) -> None:
        super().__init__("tracker temporarily unavailable")


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
    # Completed downloads, counted once per peer and download.
    completed: int
    # Bytes peers reported uploading and downloading (the growth of their totals).
    uploaded: int
    downloaded: int
    seeders: int
    leechers: int


class SwarmStore(ABC):
    """Peers per swarm; a peer not heard from for ``peer_ttl`` seconds is gone."""

    def __init__(self, *, peer_ttl: float) -> None:
        self.peer_ttl = peer_ttl

    @abstractmethod
    def announce(
        self,
        swarm_id: int,
        peer: Peer,
        event: Event,
        left: int,
        numwant: int,
        now: float,
        uploaded: int = 0,
        downloaded: int = 0,
    ) -> AnnounceResult:
        """Record the announce (``stopped`` removes the peer) and pick up to ``numwant`` others.

        A seed (``left == 0``) is given only leechers. ``completed`` counts a
        download once per peer that was not already a seed. ``uploaded`` and
        ``downloaded`` are the peer's reported totals: their growth since its
        previous announce (all of it for a peer not known) goes to the statistics.
        """

    def announce_compact(
        self,
        swarm_id: int,
        peer: Peer,
        event: Event,
        left: int,
        numwant: int,
        now: float,
        uploaded: int = 0,
        downloaded: int = 0,
    ) -> CompactAnnounceResult:
        """``announce``, with the peers as compact endpoints (a store may build them faster)."""
        result = self.announce(swarm_id, peer, event, left, numwant, now, uploaded, downloaded)
        peers4 = b"".join([endpoint for _, endpoint in result.peers if len(endpoint) == 6])
        peers6 = b"".join([endpoint for _, endpoint in result.peers if len(endpoint) == 18])
        return CompactAnnounceResult(result.complete, result.incomplete, peers4, peers6)

    # True when ``announce_compact_many`` is cheaper than that many ``announce_compact``
    # (a store across the network: one round trip); the servers then gather announces.
    batches = False

    def announce_compact_many(self, calls: Sequence[tuple]) -> list["CompactAnnounceResult | TrackerError"]:
        """``announce_compact`` for each argument tuple, in order; a refusal is returned, not raised."""
        results: list[CompactAnnounceResult | TrackerError] = []
        for call in calls:
            try:
                results.append(self.announce_compact(*call))
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
        for endpoint in expired:
            self.remove(self.entries.pop(endpoint))

    def pick(self, asker: _Entry, numwant: int) -> list[Peer]:
        leechers = self.leechers
        # A seed has nothing to gain from other seeds.
        seeders: list[_Entry] = [] if asker.seeding else self.seeders
        total = len(leechers) + len(seeders)
        wanted = numwant + 1  # one more, in case the asker is among them
        if total <= wanted:
            run = leechers + seeders
        else:
            # A run of the randomly ordered lists, from a random start, wrapping around.
            start = int(random.random() * total)
            run = _run(leechers, seeders, start, min(start + wanted, total))
            if start + wanted > total:
                run += _run(leechers, seeders, 0, start + wanted - total)
        return [entry.peer for entry in run if entry is not asker][:numwant]

    def pick_compact(self, asker: _Entry, numwant: int) -> tuple[bytes, bytes]:
        """What ``pick`` picks, as compact IPv4 and IPv6 endpoints joined: list slices, no per-peer code."""
        leechers = self.leecher_endpoints
        if asker.seeding:
            # Not among the leechers, and gets no seeders.
            seeders: list[bytes] = []
            mine = -1
        else:
            seeders = self.seeder_endpoints
            mine = asker.slot  # its place in leechers + seeders
        total = len(leechers) + len(seeders)
        wanted = numwant if mine < 0 else numwant + 1
        if total <= wanted:
            run = leechers + seeders
            if mine >= 0:
                del run[mine]
        else:
            start = int(random.random() * total)
            stop = start + wanted
            run = _run(leechers, seeders, start, min(stop, total))
            if stop > total:
                run += _run(leechers, seeders, 0, stop - total)
            if mine >= 0:
                # Drop the asker if the run holds it, else the one picked in case it did.
                offset = (mine - start) % total
                del run[offset if offset < wanted else numwant]
        joined = b"".join(run)
        if len(joined) == 6 * len(run):
            return joined, b""
        if len(joined) == 18 * len(run):
            return b"", joined
        return b"".join([e for e in run if len(e) == 6]), b"".join([e for e in run if len(e) == 18])


def _run(first: list, second: list, start: int, stop: int) -> list:
    """Entries ``start:stop`` of ``first + second``, without building it."""
    split = len(first)
    if stop <= split:
        return first[start:stop]
    if start >= split:
        return second[start - split : stop - split]
    return first[start:] + second[: stop - split]


class MemorySwarmStore(SwarmStore):
    """All swarms in this process's memory; not shared between processes."""

    def __init__(self, *, peer_ttl: float) -> None:
        super().__init__(peer_ttl=peer_ttl)
        self._swarms: dict[int, _Swarm] = {}

    def announce(
        self,
        swarm_id: int,
        peer: Peer,
        event: Event,
        left: int,
        numwant: int,
        now: float,
        uploaded: int = 0,
        downloaded: int = 0,
    ) -> AnnounceResult:
        swarm, entry = self._record(swarm_id, peer, event, left, now, uploaded, downloaded)
        if entry is None:
            return AnnounceResult(len(swarm.seeders), len(swarm.leechers), [])
        return AnnounceResult(len(swarm.seeders), len(swarm.leechers), swarm.pick(entry, numwant))

    def announce_compact(
        self,
        swarm_id: int,
        peer: Peer,
        event: Event,
        left: int,
        numwant: int,
        now: float,
        uploaded: int = 0,
        downloaded: int = 0,
    ) -> CompactAnnounceResult:
        swarm, entry = self._record(swarm_id, peer, event, left, now, uploaded, downloaded)
        if entry is None:
            return CompactAnnounceResult(len(swarm.seeders), len(swarm.leechers), b"", b"")
        peers4, peers6 = swarm.pick_compact(entry, numwant)
        return CompactAnnounceResult(len(swarm.seeders), len(swarm.leechers), peers4, peers6)

    def _record(
        self, swarm_id: int, peer: Peer, event: Event, left: int, now: float, uploaded: int, downloaded: int
    ) -> tuple[_Swarm, _Entry | None]:
        """Record an announce; the peer's entry, None when it stopped."""
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
            return swarm, None
        seeding = left == 0
        if event == Event.COMPLETED and (entry is None or not entry.seeding):
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

    def take_statistics(self, now: float) -> list[SwarmStatistics]:
        taken = []
        for swarm_id, swarm in self._swarms.items():
            swarm.expire(now)
            if not (swarm.touched or swarm.entries):
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


# Shared by both scripts: drop the peers whose expiry time has passed, in
# batches that stay below Lua's limit on unpack().
_EXPIRE_LUA = """
local function expire(group, ids, now)
  while true do
    local gone = redis.call("ZRANGE", group, "-inf", now, "BYSCORE", "LIMIT", 0, 1000)
    if #gone == 0 then return end
    redis.call("ZREM", group, unpack(gone))
    redis.call("HDEL", ids, unpack(gone))
  end
end
"""

# KEYS: seeders, leechers (sorted sets: endpoint by expiry time), ids (hash:
# endpoint -> the 20-byte peer id followed by "<uploaded>,<downloaded>", the
# totals it last reported; plus two fields no endpoint is named like: "next",
# a time no peer expires before (early, never late), and "renewed", when the
# keys' lifetime was last set), downloaded (counter), stats (hash: completed,
# uploaded, downloaded since the last take), live (set of swarm ids with peers
# or announces since the last take; shared by all swarms).
# ARGV: endpoint, peer id, event, seeding (1/0), numwant, now, ttl, a random
# number in [0, 1) (scripts must not draw their own), uploaded, downloaded,
# swarm id, compact (1/0).
# Returns {seeders, leechers, endpoint, peer id, endpoint, peer id, ...}, or
# when compact {seeders, leechers, IPv4 endpoints joined, IPv6 endpoints joined}.
# Each redis.call costs Redis a few µs beyond the command itself, so the
# common announce makes as few as it can: expiry and key lifetimes are only
# looked at when "next" and "renewed" say they are due.
_ANNOUNCE_LUA = (
    _EXPIRE_LUA
    + """
local seeders, leechers, ids, downloaded = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local endpoint, peer_id, event, seeding = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4] == "1"
local numwant, now, ttl, luck = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local stats, totals = KEYS[5], ARGV[9] .. "," .. ARGV[10]
local known = redis.call("HMGET", ids, endpoint, "next", "renewed")
local previous, next_expiry, renewed = known[1], tonumber(known[2]), tonumber(known[3])

-- 1. Forget the peers not heard from within the TTL.
local expiry_due = not next_expiry or next_expiry <= now
if expiry_due then
  expire(seeders, ids, now)
  expire(leechers, ids, now)
end

-- 2. Statistics: the growth of the peer's totals (all of them for a new peer;
-- a total that went down is a client that started counting again).
local uploaded, downloaded_bytes = tonumber(ARGV[9]), tonumber(ARGV[10])
if previous then
  local comma = string.find(previous, ",", 21, true)
  if comma then
    local old_up = tonumber(string.sub(previous, 21, comma - 1))
    local old_down = tonumber(string.sub(previous, comma + 1))
    if old_up and uploaded >= old_up then uploaded = uploaded - old_up end
    if old_down and downloaded_bytes >= old_down then downloaded_bytes = downloaded_bytes - old_down end
  end
end
if uploaded > 0 then redis.call("HINCRBY", stats, "uploaded", uploaded) end
if downloaded_bytes > 0 then redis.call("HINCRBY", stats, "downloaded", downloaded_bytes) end
-- A known peer's swarm has peers, so it is live already: taking the
-- statistics drops only swarms left without peers (and their peers' ids).
if not previous then redis.call("SADD", KEYS[6], ARGV[11]) end

-- 3. Record this announce.
if event == 3 then
  redis.call("ZREM", seeders, endpoint)
  redis.call("ZREM", leechers, endpoint)
  redis.call("HDEL", ids, endpoint)
  return {redis.call("ZCARD", seeders), redis.call("ZCARD", leechers)}
end
if event == 1 and not redis.call("ZSCORE", seeders, endpoint) then
  redis.call("INCR", downloaded)
  redis.call("HINCRBY", stats, "completed", 1)
end
local mine, other = leechers, seeders
if seeding then mine, other = seeders, leechers end
if previous then redis.call("ZREM", other, endpoint) end
redis.call("ZADD", mine, now + ttl, endpoint)
local fields = {endpoint, peer_id .. totals}
if expiry_due then
  -- The soonest expiry left (this peer's at the latest).
  next_expiry = now + ttl
  for _, group in ipairs({seeders, leechers}) do
    local first = redis.call("ZRANGE", group, 0, 0, "WITHSCORES")
    if first[2] then next_expiry = math.min(next_expiry, tonumber(first[2])) end
  end
  fields[#fields + 1] = "next"
  fields[#fields + 1] = next_expiry
end
-- A swarm nobody announces to any more disappears, at most two TTLs after
-- its last announce: the keys live 2 TTLs from "renewed", renewed once it is
-- a TTL/2 old, so they outlast every peer added meanwhile.
local lifetime = math.ceil(2 * ttl)
local renew = not renewed or now - renewed >= ttl / 2
if renew then
  fields[#fields + 1] = "renewed"
  fields[#fields + 1] = now
end
redis.call("HSET", ids, unpack(fields))
if renew then
  for _, key in ipairs({seeders, leechers, ids}) do
    redis.call("EXPIRE", key, lifetime)
  end
end

-- 4. Pick peers: a seed gets leechers only, a leecher a uniform mix of both.
local seeder_count, leecher_count = redis.call("ZCARD", seeders), redis.call("ZCARD", leechers)
if (seeding and seeder_count or leecher_count) == 1 then
  -- Its first peer since it emptied: the key is new and has no lifetime yet.
  redis.call("EXPIRE", mine, lifetime)
end
local picked = {}
local take_seeders, take_leechers = 0, leecher_count
if not seeding then
  local others = leecher_count - 1
  take_seeders, take_leechers = seeder_count, others
  if others + seeder_count > numwant then
    take_leechers = math.floor(numwant * others / (others + seeder_count) + luck)
    take_leechers = math.max(numwant - seeder_count, math.min(take_leechers, others))
    take_seeders = numwant - take_leechers
  end
end
take_leechers = math.min(take_leechers, numwant)
local chosen = take_seeders > 0 and redis.call("ZRANDMEMBER", seeders, take_seeders) or {}
-- One leecher more than needed, in case the asker is among them.
local extra = take_leechers > 0 and redis.call("ZRANDMEMBER", leechers, take_leechers + 1) or {}
if ARGV[12] == "1" then
  -- Compact, and every endpoint the asker's size (one address family, the
  -- usual swarm): join them, then cut the asker, or else the spare leecher,
  -- out of the joined string, without a Lua loop over the peers.
  local size = #endpoint
  local from_seeders, from_leechers = table.concat(chosen), table.concat(extra)
  if #from_seeders == size * #chosen and #from_leechers == size * #extra then
    local at = string.find(from_leechers, endpoint, 1, true)
    while at and (at - 1) % size ~= 0 do
      at = string.find(from_leechers, endpoint, at + 1, true)
    end
    if at then
      from_leechers = string.sub(from_leechers, 1, at - 1) .. string.sub(from_leechers, at + size)
    else
      from_leechers = string.sub(from_leechers, 1, size * take_leechers)
    end
    if size == 6 then return {seeder_count, leecher_count, from_seeders .. from_leechers, ""} end
    return {seeder_count, leecher_count, "", from_seeders .. from_leechers}
  end
end
local picked, added = chosen, 0
for _, member in ipairs(extra) do
  if member ~= endpoint and added < take_leechers then
    picked[#picked + 1] = member
    added = added + 1
  end
end
if ARGV[12] == "1" then
  -- IPv4 and IPv6 apart; no peer ids to look up.
  local v4, v6 = {}, {}
  for _, member in ipairs(picked) do
    if #member == 6 then v4[#v4 + 1] = member else v6[#v6 + 1] = member end
  end
  return {seeder_count, leecher_count, table.concat(v4), table.concat(v6)}
end
local result = {seeder_count, leecher_count}
if #picked > 0 then
  local peer_ids = redis.call("HMGET", ids, unpack(picked))
  for i, member in ipairs(picked) do
    if peer_ids[i] then
      result[#result + 1] = member
      result[#result + 1] = string.sub(peer_ids[i], 1, 20)
    end
  end
end
return result
"""
)

# KEYS as for announce; ARGV: now. Returns {seeders, downloaded, leechers}.
_SCRAPE_LUA = (
    _EXPIRE_LUA
    + """
expire(KEYS[1], KEYS[3], ARGV[1])
expire(KEYS[2], KEYS[3], ARGV[1])
local downloaded = tonumber(redis.call("GET", KEYS[4]) or "0")
return {redis.call("ZCARD", KEYS[1]), downloaded, redis.call("ZCARD", KEYS[2])}
"""
)


# ARGV: prefix, now, swarm id, swarm id, ... Takes and resets the statistics
# of each swarm, and drops the swarms without peers from the live set.
# Returns {{swarm id, completed, uploaded, downloaded, seeders, leechers}, ...}.
_TAKE_STATISTICS_LUA = (
    _EXPIRE_LUA
    + """
local prefix, now = ARGV[1], ARGV[2]
local live = prefix .. "live"
local taken = {}
for i = 3, #ARGV do
  local base = prefix .. "{" .. ARGV[i] .. "}:"
  local seeders, leechers, ids, stats = base .. "seeders", base .. "leechers", base .. "ids", base .. "stats"
  expire(seeders, ids, now)
  expire(leechers, ids, now)
  local counts = redis.call("HMGET", stats, "completed", "uploaded", "downloaded")
  redis.call("DEL", stats)
  local seeder_count, leecher_count = redis.call("ZCARD", seeders), redis.call("ZCARD", leechers)
  if seeder_count + leecher_count == 0 then
    redis.call("SREM", live, ARGV[i])
  end
  taken[#taken + 1] = {
    tonumber(ARGV[i]), tonumber(counts[1]) or 0, tonumber(counts[2]) or 0, tonumber(counts[3]) or 0,
    seeder_count, leecher_count,
  }
end
return taken
"""
)


def _reply_reader() -> hiredis.Reader:
    return hiredis.Reader(protocolError=hiredis.ProtocolError, replyError=redis.ResponseError)


class RedisSwarmStore(SwarmStore):
    """Swarms in Redis, shared by every tracker process; one round trip per batch of announces.

    Each swarm is four keys under ``prefix``, with the swarm id as hash tag so
    that a Redis Cluster keeps them on one node.
    """

    # Log an outage at most this often, not once per announce.
    _OUTAGE_LOG_INTERVAL = 10.0

    def __init__(self, client: redis.Redis, *, peer_ttl: float, prefix: str) -> None:
        super().__init__(peer_ttl=peer_ttl)
        self.client = client
        self.prefix = prefix
        self._announce = client.register_script(_ANNOUNCE_LUA)
        self._scrape = client.register_script(_SCRAPE_LUA)
        self._take_statistics = client.register_script(_TAKE_STATISTICS_LUA)
        self._outage_logged_at = -math.inf
        self._announce_connection = client.connection_pool.make_connection()
        self._announce_reader = _reply_reader()

    batches = True

    def announce(
        self,
        swarm_id: int,
        peer: Peer,
        event: Event,
        left: int,
        numwant: int,
        now: float,
        uploaded: int = 0,
        downloaded: int = 0,
    ) -> AnnounceResult:
        call = (swarm_id, peer, event, left, numwant, now, uploaded, downloaded)
        reply = self._run_announces([self._announce_command(call, compact=False)])[0]
        if isinstance(reply, Exception):
            raise reply
        peers = [Peer(reply[index + 1], reply[index]) for index in range(2, len(reply), 2)]
        return AnnounceResult(reply[0], reply[1], peers)

    def announce_compact(
        self,
        swarm_id: int,
        peer: Peer,
        event: Event,
        left: int,
        numwant: int,
        now: float,
        uploaded: int = 0,
        downloaded: int = 0,
    ) -> CompactAnnounceResult:
        result = self.announce_compact_many(
            [(swarm_id, peer, event, left, numwant, now, uploaded, downloaded)]
        )[0]
        if isinstance(result, TrackerError):
            raise result
        return result

    def announce_compact_many(self, calls: Sequence[tuple]) -> list[CompactAnnounceResult | TrackerError]:
        """Many compact announces in one round trip (one pipeline of EVALSHA)."""
        replies = self._run_announces([self._announce_command(call, compact=True) for call in calls])
        return [
            reply
            if isinstance(reply, TrackerError)
            else CompactAnnounceResult(reply[0], reply[1], *reply[2:4])
            if len(reply) == 4
            else CompactAnnounceResult(reply[0], reply[1], b"", b"")
            for reply in replies
        ]

    def _announce_command(self, call: tuple, *, compact: bool) -> tuple:
        swarm_id, peer, event, left, numwant, now, uploaded, downloaded = call
        base = f"{self.prefix}{{{swarm_id}}}:"
        return (
            "EVALSHA",
            self._announce.sha,
            6,
            base + "seeders",
            base + "leechers",
            base + "ids",
            base + "downloaded",
            base + "stats",
            self._live,
            peer.endpoint,
            peer.peer_id,
            int(event),
            1 if left == 0 else 0,
            numwant,
            now,
            self.peer_ttl,
            random.random(),
            uploaded,
            downloaded,
            swarm_id,
            1 if compact else 0,
        )

    def _run_announces(self, commands: list[tuple]) -> list:
        """Run EVALSHA commands in one pipeline; a reply per command, or the error to answer with."""
        try:
            replies = self._pipeline(commands)
            missing = [
                i for i, reply in enumerate(replies) if isinstance(reply, redis.exceptions.NoScriptError)
            ]
            if missing:  # a Redis restarted or flushed since: load the script, run those again
                self.client.script_load(_ANNOUNCE_LUA)
                for i, reply in zip(missing, self._pipeline([commands[i] for i in missing]), strict=True):
                    replies[i] = reply
        except redis.RedisError as error:
            return [self._unavailable(error)] * len(commands)
        for i, reply in enumerate(replies):
            if isinstance(reply, redis.RedisError):
                replies[i] = self._unavailable(reply)
        return replies

    def _pipeline(self, commands: list[tuple]) -> list:
        """Send the commands in one write and read their replies; an error reply is returned, not raised.

        On a connection of its own, read with a hiredis reader straight from
        its socket: redis-py's pipeline costs several µs of Python per reply
        and a poll per checkout, more than an announce's own work.
        """
        connection = self._announce_connection
        try:
            connection.connect()  # once, and again after a failure
            sock = connection._sock
            sock.sendall(b"".join([pack_command(command) for command in commands]))
            reader = self._announce_reader
            replies = []
            while len(replies) < len(commands):
                reply = reader.gets()
                if reply is False:
                    data = sock.recv(262144)
                    if not data:
                        raise redis.ConnectionError("Redis closed the connection")
                    reader.feed(data)
                elif isinstance(reply, redis.ResponseError) and str(reply).startswith("NOSCRIPT"):
                    replies.append(redis.exceptions.NoScriptError(str(reply)))
                else:
                    replies.append(reply)
        except BaseException as error:
            # The replies still due would be read as the next batch's.
            connection.disconnect()
            self._announce_reader = _reply_reader()
            if isinstance(error, (OSError, hiredis.ProtocolError)):
                raise redis.ConnectionError(str(error)) from error
            raise
        return replies

    def scrape(self, swarm_ids: Sequence[int], now: float) -> list[SwarmCounts]:
        pipeline = self.client.pipeline(transaction=False)
        for swarm_id in swarm_ids:
            self._scrape(keys=self._keys(swarm_id), args=[now], client=pipeline)
        try:
            replies = pipeline.execute()
        except redis.RedisError as error:
            raise self._unavailable(error) from error
        return [SwarmCounts(*reply) for reply in replies]

    # Swarms per script call when taking statistics: each call holds Redis for its swarms only.
    STATISTICS_BATCH = 500

    def take_statistics(self, now: float) -> list[SwarmStatistics]:
        try:
            swarm_ids = sorted({int(member) for member in self.client.sscan_iter(self._live, count=1000)})
        except redis.RedisError as error:
            raise self._unavailable(error) from error
        taken: list[SwarmStatistics] = []
        for start in range(0, len(swarm_ids), self.STATISTICS_BATCH):
            batch = swarm_ids[start : start + self.STATISTICS_BATCH]
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

    def _keys(self, swarm_id: int) -> list[str]:
        base = f"{self.prefix}{{{swarm_id}}}:"
        return [base + "seeders", base + "leechers", base + "ids", base + "downloaded", base + "stats"]

    def _unavailable(self, error: redis.RedisError) -> SwarmStoreUnavailable:
        now = time.monotonic()
        if now - self._outage_logged_at >= self._OUTAGE_LOG_INTERVAL:
            self._outage_logged_at = now
            logger.error("swarm store unavailable: %s", error)
        return SwarmStoreUnavailable()
