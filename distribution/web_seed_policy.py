"""How fast the web seed serves a release: the swarm's fallback, not its fast lane.

Every torrent names a BEP 19 web seed, and stock clients (libtorrent and so
qBittorrent, aria2, Transmission) drain one at whatever speed it gives: a
libtorrent client claims up to 16 MiB of contiguous pieces from it at once,
whatever its rate, and the web seed cannot choke or pick the rarest piece as a
seeder does. Served at full rate beside a seeder, it turns every downloader
into a customer of the origin. So:

- **Full rate** (``FANOUT_WEBSEED_RATE`` per response and
  ``FANOUT_WEBSEED_RELEASE_RATE`` per release, 0 = unlimited) while the swarm
  has no complete copy: no seeder node of ours seeds the release, and the
  tracker counts no other seeder. A lone downloader with our seeders down, a
  stalled swarm, a release nobody seeds yet.
- **Held back** (``FANOUT_WEBSEED_HELD_RATE`` per response,
  ``FANOUT_WEBSEED_HELD_RELEASE_RATE`` per release) while it has one: one of
  our seeders, or a finished peer. Peers then get the bytes from each other
  and the origin's seeder, which choose what to send.

The per-release rate is shared by the release's leechers, as the tracker last
counted them. Held back means slow, never refused: libtorrent 2.x (and so
qBittorrent and Deluge) takes any answer but 2xx/3xx as "this web seed lacks
this file" and never asks for it again in that session, whatever Retry-After
says (``web_peer_connection::on_receive``, RC_1_2 to master); a 503 would
throw away the fallback for the day the swarm needs it.

The facts come from ``ReleaseTotals``: the tracker's latest sample (seeders and
leechers, every ``FANOUT_TRACKER_STATS_FLUSH_SECONDS``) and our seeder nodes'
word (``origin_seeders``, ``origin_seeding_until``, from their heartbeats).
Our seeders are among the tracker's seeders until it forgets them, so the
complete copies besides ours are the difference.
"""

from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone

from distribution.models import ReleaseTotals

# Below this a response would crawl: a held-back share never goes lower (bytes/s).
MIN_SHARE = 1024


@dataclass(frozen=True)
class SwarmFacts:
    """What the policy knows of a release's swarm."""

    seeders: int  # complete peers the tracker counted, ours included
    leechers: int
    origin_seeders: int  # our seeder nodes seeding it, as they last reported
    origin_seeding: bool  # one of them said so within its heartbeat window

    @property
    def other_complete_copies(self) -> int:
        return max(0, self.seeders - self.origin_seeders)

    @property
    def has_complete_copy(self) -> bool:
        """Whether BitTorrent alone can finish the download: a seeder of ours or a finished peer."""
        return self.origin_seeding or self.other_complete_copies > 0


@dataclass(frozen=True)
class WebSeedRates:
    """Bytes per second per response and per release (0: no limit), full and held back."""

    rate: int
    release_rate: int
    held_rate: int
    held_release_rate: int

    @classmethod
    def from_settings(cls) -> "WebSeedRates":
        return cls(
            rate=settings.FANOUT_WEBSEED_RATE,
            release_rate=settings.FANOUT_WEBSEED_RELEASE_RATE,
            held_rate=settings.FANOUT_WEBSEED_HELD_RATE,
            held_release_rate=settings.FANOUT_WEBSEED_HELD_RELEASE_RATE,
        )


def web_seed_pace(facts: SwarmFacts, rates: WebSeedRates) -> int:
    """Bytes per second for one web seed response now; 0 for no limit."""
    if facts.has_complete_copy:
        per_response, per_release = rates.held_rate, rates.held_release_rate
    else:
        per_response, per_release = rates.rate, rates.release_rate
    limits = [per_response] if per_response else []
    if per_release:
        limits.append(max(MIN_SHARE, per_release // max(1, facts.leechers)))
    return min(limits, default=0)


def swarm_facts(release_id: int) -> SwarmFacts:
    """The release's swarm as ``ReleaseTotals`` has it; a release with no row has no swarm yet."""
    row = (
        ReleaseTotals.objects.filter(release_id=release_id)
        .values("seeders", "leechers", "origin_seeders", "origin_seeding_until")
        .first()
    )
    if row is None:
        return SwarmFacts(seeders=0, leechers=0, origin_seeders=0, origin_seeding=False)
    until = row["origin_seeding_until"]
    return SwarmFacts(
        seeders=row["seeders"],
        leechers=row["leechers"],
        origin_seeders=row["origin_seeders"],
        origin_seeding=until is not None and until > timezone.now(),
    )


def release_web_seed_pace(release_id: int) -> int:
    """Bytes per second for a web seed response of this release now; 0 for no limit."""
    return web_seed_pace(swarm_facts(release_id), WebSeedRates.from_settings())
