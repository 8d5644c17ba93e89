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

import redis

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


class SwarmStore(ABC):
    """Peers per swarm; a peer not heard from for ``peer_ttl`` seconds is gone."""

    def __init__(self, *, peer_ttl: float) -> None:
        self.peer_ttl = peer_ttl

    @abstractmethod
    def announce(
        self, swarm_id: int, peer: Peer, event: Event, left: int, numwant: int, now: float
    ) -> AnnounceResult:
        """Record the announce (``stopped`` removes the peer) and pick up to ``numwant`` others.

        A seed (``left == 0``) is given only leechers. ``completed`` counts a
        download once per peer that was not already a seed.
        """

    @abstractmethod
    def scrape(self, swarm_ids: Sequence[int], now: float) -> list[SwarmCounts]:
        """Counts of each swarm, in order; an unknown swarm counts zero."""


class _Entry:
    __slots__ = ("peer", "expires", "seeding", "slot")

    def __init__(self, peer: Peer, expires: float, seeding: bool, slot: int) -> None:
        self.peer = peer
        self.expires = expires
        self.seeding = seeding
        # Index in the swarm's seeders or leechers list.
        self.slot = slot


class _Swarm:
    __slots__ = ("entries", "seeders", "leechers", "downloaded", "next_expiry")

    def __init__(self) -> None:
        # By endpoint, oldest announce first: re-announcing moves an entry to
        # the end, so expiry only ever looks at the front.
        self.entries: dict[bytes, _Entry] = {}
        # The same entries again, for picking random peers in O(numwant).
        self.seeders: list[_Entry] = []
        self.leechers: list[_Entry] = []
        self.downloaded = 0
        # No entry expires before this; it may be early, never late.
        self.next_expiry = float("inf")

    def add(self, entry: _Entry) -> None:
        # Insert at a random place (one step of an inside-out shuffle): the
        # lists stay in random order, so any run of them is a random sample.
        group = self.seeders if entry.seeding else self.leechers
        size = len(group)
        place = int(random.random() * (size + 1))
        if place == size:
            group.append(entry)
        else:
            displaced = group[place]
            displaced.slot = size
            group.append(displaced)
            group[place] = entry
        entry.slot = place

    def remove(self, entry: _Entry) -> None:
        group = self.seeders if entry.seeding else self.leechers
        last = group.pop()
        if last is not entry:
            group[entry.slot] = last
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


def _run(first: list[_Entry], second: list[_Entry], start: int, stop: int) -> list[_Entry]:
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
        self, swarm_id: int, peer: Peer, event: Event, left: int, numwant: int, now: float
    ) -> AnnounceResult:
        swarm = self._swarms.get(swarm_id)
        if swarm is None:
            swarm = self._swarms[swarm_id] = _Swarm()
        swarm.expire(now)
        entry = swarm.entries.pop(peer.endpoint, None)
        if event == Event.STOPPED:
            if entry is not None:
                swarm.remove(entry)
            return AnnounceResult(len(swarm.seeders), len(swarm.leechers), [])
        seeding = left == 0
        if event == Event.COMPLETED and (entry is None or not entry.seeding):
            swarm.downloaded += 1
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
        swarm.entries[peer.endpoint] = entry
        swarm.next_expiry = min(swarm.next_expiry, expires)
        return AnnounceResult(len(swarm.seeders), len(swarm.leechers), swarm.pick(entry, numwant))

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
# endpoint -> peer id), downloaded (counter).
# ARGV: endpoint, peer id, event, seeding (1/0), numwant, now, ttl, a random
# number in [0, 1) (scripts must not draw their own).
# Returns {seeders, leechers, endpoint, peer id, endpoint, peer id, ...}.
_ANNOUNCE_LUA = (
    _EXPIRE_LUA
    + """
local seeders, leechers, ids, downloaded = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local endpoint, peer_id, event, seeding = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4] == "1"
local numwant, now, ttl, luck = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])

-- 1. Forget the peers not heard from within the TTL.
expire(seeders, ids, now)
expire(leechers, ids, now)

-- 2. Record this announce.
if event == 3 then
  redis.call("ZREM", seeders, endpoint)
  redis.call("ZREM", leechers, endpoint)
  redis.call("HDEL", ids, endpoint)
  return {redis.call("ZCARD", seeders), redis.call("ZCARD", leechers)}
end
if event == 1 and not redis.call("ZSCORE", seeders, endpoint) then
  redis.call("INCR", downloaded)
end
local mine, other = leechers, seeders
if seeding then mine, other = seeders, leechers end
redis.call("ZREM", other, endpoint)
redis.call("ZADD", mine, now + ttl, endpoint)
redis.call("HSET", ids, endpoint, peer_id)
-- A swarm nobody announces to any more disappears with its last peer.
for _, key in ipairs({seeders, leechers, ids}) do
  redis.call("EXPIRE", key, math.ceil(ttl))
end

-- 3. Pick peers: a seed gets leechers only, a leecher a uniform mix of both.
local seeder_count, leecher_count = redis.call("ZCARD", seeders), redis.call("ZCARD", leechers)
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
if take_seeders > 0 then
  picked = redis.call("ZRANDMEMBER", seeders, take_seeders)
end
if take_leechers > 0 then
  -- One more than needed, in case the asker is among them.
  local added = 0
  for _, member in ipairs(redis.call("ZRANDMEMBER", leechers, take_leechers + 1)) do
    if member ~= endpoint and added < take_leechers then
      picked[#picked + 1] = member
      added = added + 1
    end
  end
end
local result = {seeder_count, leecher_count}
if #picked > 0 then
  local peer_ids = redis.call("HMGET", ids, unpack(picked))
  for i, member in ipairs(picked) do
    if peer_ids[i] then
      result[#result + 1] = member
      result[#result + 1] = peer_ids[i]
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


class RedisSwarmStore(SwarmStore):
    """Swarms in Redis, shared by every tracker process; one round trip per announce.

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
        self._outage_logged_at = -math.inf

    def announce(
        self, swarm_id: int, peer: Peer, event: Event, left: int, numwant: int, now: float
    ) -> AnnounceResult:
        arguments = [peer.endpoint, peer.peer_id, int(event), int(left == 0), numwant, now, self.peer_ttl]
        try:
            reply = self._announce(keys=self._keys(swarm_id), args=[*arguments, random.random()])
        except redis.RedisError as error:
            raise self._unavailable(error) from error
        peers = [Peer(reply[index + 1], reply[index]) for index in range(2, len(reply), 2)]
        return AnnounceResult(reply[0], reply[1], peers)

    def scrape(self, swarm_ids: Sequence[int], now: float) -> list[SwarmCounts]:
        pipeline = self.client.pipeline(transaction=False)
        for swarm_id in swarm_ids:
            self._scrape(keys=self._keys(swarm_id), args=[now], client=pipeline)
        try:
            replies = pipeline.execute()
        except redis.RedisError as error:
            raise self._unavailable(error) from error
        return [SwarmCounts(*reply) for reply in replies]

    def _keys(self, swarm_id: int) -> list[str]:
        base = f"{self.prefix}{{{swarm_id}}}:"
        return [base + "seeders", base + "leechers", base + "ids", base + "downloaded"]

    def _unavailable(self, error: redis.RedisError) -> SwarmStoreUnavailable:
        now = time.monotonic()
        if now - self._outage_logged_at >= self._OUTAGE_LOG_INTERVAL:
            self._outage_logged_at = now
            logger.error("swarm store unavailable: %s", error)
        return SwarmStoreUnavailable()
