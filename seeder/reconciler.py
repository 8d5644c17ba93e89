"""The seeder node's loop: seed exactly the published releases, and say so.

Every heartbeat the node compares the releases the database wants seeded
with the torrents its session holds, adds and removes the difference, and
records what libtorrent reports. Private releases are announced with the
node's credential (``/announce/<credential>``), which it issues itself when it
starts, and serve only the peers the tracker admitted (seeder/allow_list.py);
a node whose credential is revoked seeds public releases only.
"""

import logging
import threading
import time
from collections.abc import Callable

from django.conf import settings
from django.db import DatabaseError, close_old_connections

from distribution.access import announce_url, issue_node_credential, torrent_announcing_with
from distribution.models import Release
from distribution.selectors import releases_to_seed
from seeder import demand, selectors, services
from seeder.allow_list import AllowList
from seeder.models import HEARTBEAT_INTERVAL, SeederNode
from seeder.session import ECONOMY_TICK, VERSION, SeedingSession, TorrentReport

logger = logging.getLogger(__name__)


class Reconciler:
    def __init__(
        self,
        *,
        session: SeedingSession,
        node: SeederNode,
        copies: int = 0,
        scrape_url: str | None = None,
        demand_interval: float = 30.0,
        credential: str | None = None,
    ) -> None:
        self.session = session
        self.node = node
        self.copies = copies
        self.scrape_url = scrape_url
        self.credential = credential
        # Held releases that were private when added: they announce with the credential.
        self.held_private: set[int] = set()
        self.demand_interval = demand_interval
        self._last_demand = float("-inf")
        # Releases whose torrent libtorrent refused, kept so that the error is
        # reported each heartbeat rather than retried.
        self.add_errors: dict[int, str] = {}

    def reconcile(self) -> None:
        wanted = {release.pk: release for release in releases_to_seed().defer("torrent__metainfo")}
        if self.credential is None:
            wanted = {pk: release for pk, release in wanted.items() if release.is_public}
        if self.copies:
            mine = selectors.releases_for_node(self.node.name, wanted.keys(), copies=self.copies)
            wanted = {pk: release for pk, release in wanted.items() if pk in mine}
        held = self.session.release_ids()
        # A release whose visibility changed is added again, to announce to its new URL.
        changed = {pk for pk in held & wanted.keys() if (pk in self.held_private) == wanted[pk].is_public}
        for release_id in (held - wanted.keys()) | changed:
            self.session.remove(release_id)
            self.held_private.discard(release_id)
        held -= changed
        self.add_errors = {pk: error for pk, error in self.add_errors.items() if pk in wanted}
        for release_id in wanted.keys() - held - self.add_errors.keys():
            release = wanted[release_id]
            try:
                self.session.add(
                    release_id=release_id,
                    metainfo=self.metainfo(release),
                    save_path=release.content_dir,
                    private=not release.is_public,
                )
            except RuntimeError as error:
                logger.error("cannot seed release %s: %s", release_id, error)
                self.add_errors[release_id] = f"libtorrent refused the torrent: {error}"
            else:
                if not release.is_public:
                    self.held_private.add(release_id)
        self.session.check_content()
        self.session.announce_until_tracked()
        self.session.handle_alerts()
        reports = self.session.reports()
        self.follow_demand(reports)
        refused = [
            TorrentReport(
                release_id=pk, checking=False, announced=False, error=error, uploaded_bytes=0, upload_rate=0
            )
            for pk, error in self.add_errors.items()
        ]
        services.record_heartbeat(
            node=self.node, reports=reports + refused, node_error=self.session.node_error
        )

    def metainfo(self, release: Release) -> bytes:
        """The release's torrent as this node seeds it: a private one announces with the credential."""
        metainfo = bytes(release.torrent.metainfo)
        if release.is_public:
            return metainfo
        return torrent_announcing_with(metainfo, self.credential)

    def follow_demand(self, reports: list[TorrentReport]) -> None:
        """Every `demand_interval`, ask the tracker which swarms need the origin and serve them first."""
        if not self.scrape_url or time.monotonic() - self._last_demand < self.demand_interval:
            return
        self._last_demand = time.monotonic()
        swarm_hashes = self.session.swarm_hashes()
        if not swarm_hashes:
            return
        needy, stalled = demand.read_demand(
            self.scrape_url,
            swarm_hashes,
            our_seeders=selectors.live_seeders_per_release(),
            peers={report.release_id: report.peers for report in reports},
        )
        self.session.follow_demand(needy=needy, stalled=stalled)


def run_node(
    *,
    name: str,
    port: int,
    seed_choking: str,
    listen_host: str = "",
    economy: bool = False,
    super_seeding: bool,
    stop: threading.Event,
    on_listening: Callable[[int], None],
) -> None:
    """Seed as node `name` until `stop` is set, then sign off and save resume data."""
    with SeedingSession(
        port=port,
        upload_limit=settings.FANOUT_SEEDER_UPLOAD_LIMIT,
        state_dir=settings.SEEDER_STATE_DIR / name,
        seed_choking=seed_choking,
        super_seeding=super_seeding,
        connections_limit=settings.FANOUT_SEEDER_CONNECTIONS_LIMIT,
        unchoke_slots=settings.FANOUT_SEEDER_UNCHOKE_SLOTS,
        economy=economy,
    ) as session:
        node = services.register_node(
            name=name,
            listen_host=listen_host,
            listen_port=session.listen_port,
            version=VERSION,
            copies=settings.FANOUT_SEEDER_COPIES,
        )
        # Held in memory only: a restart issues a new one, and the old one stops working.
        credential = issue_node_credential(name)
        if credential is None:
            logger.warning("the credential of node %s is revoked: seeding public releases only", name)
        allow_list = _allow_list(session, credential)
        on_listening(session.listen_port)
        reconciler = Reconciler(
            session=session,
            node=node,
            copies=settings.FANOUT_SEEDER_COPIES,
            # With the credential the scrape shows the private swarms too.
            scrape_url=demand.scrape_url(
                settings.FANOUT_ANNOUNCE_URL if credential is None else announce_url(credential)
            ),
            demand_interval=settings.FANOUT_SEEDER_DEMAND_INTERVAL,
            credential=credential,
        )
        while not stop.is_set():
            close_old_connections()
            try:
                reconciler.reconcile()
            except DatabaseError:
                logger.exception("heartbeat failed; trying again at the next one")
            next_heartbeat = time.monotonic() + HEARTBEAT_INTERVAL.total_seconds()
            while not stop.is_set() and time.monotonic() < next_heartbeat:
                if allow_list is not None:
                    allow_list.follow()
                session.economize()
                stop.wait(min(ECONOMY_TICK, max(0.0, next_heartbeat - time.monotonic())))
        services.stop_node(node=node)


def _allow_list(session: SeedingSession, credential: str | None) -> AllowList | None:
    """Who the private releases serve, asked of the tracker next to the announce URL; None for a
    node without a credential, which holds no private release."""
    if credential is None:
        return None
    url = demand.tracker_url(announce_url(credential), "admitted")
    if url is None or not url.startswith(("http://", "https://")):
        logger.error(
            "cannot ask the tracker whom private releases may serve from FANOUT_ANNOUNCE_URL %s "
            "(an http(s) URL ending in /announce): they admit nobody",
            settings.FANOUT_ANNOUNCE_URL,
        )
        return None
    return AllowList(session=session, url=url, interval=settings.FANOUT_SEEDER_ALLOW_LIST_INTERVAL)
