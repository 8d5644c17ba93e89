"""The seeder node's loop: seed exactly the published releases, and say so.

Every heartbeat the node compares the releases the database wants seeded
with the torrents its session holds, adds and removes the difference, and
records what libtorrent reports.
"""

import logging
import threading
from collections.abc import Callable

from django.conf import settings
from django.db import DatabaseError, close_old_connections

from distribution.selectors import releases_to_seed
from seeder import services
from seeder.models import HEARTBEAT_INTERVAL, SeederNode
from seeder.session import VERSION, SeedingSession, TorrentReport

logger = logging.getLogger(__name__)


class Reconciler:
    def __init__(self, *, session: SeedingSession, node: SeederNode) -> None:
        self.session = session
        self.node = node
        # Releases whose torrent libtorrent refused, kept so that the error is
        # reported each heartbeat rather than retried.
        self.add_errors: dict[int, str] = {}

    def reconcile(self) -> None:
        wanted = {release.pk: release for release in releases_to_seed().defer("torrent__metainfo")}
        held = self.session.release_ids()
        for release_id in held - wanted.keys():
            self.session.remove(release_id)
        self.add_errors = {pk: error for pk, error in self.add_errors.items() if pk in wanted}
        for release_id in wanted.keys() - held - self.add_errors.keys():
            release = wanted[release_id]
            try:
                self.session.add(
                    release_id=release_id,
                    metainfo=bytes(release.torrent.metainfo),
                    save_path=release.content_dir,
                )
            except RuntimeError as error:
                logger.error("cannot seed release %s: %s", release_id, error)
                self.add_errors[release_id] = f"libtorrent refused the torrent: {error}"
        self.session.check_content()
        self.session.announce_until_tracked()
        self.session.handle_alerts()
        refused = [
            TorrentReport(
                release_id=pk, checking=False, announced=False, error=error, uploaded_bytes=0, upload_rate=0
            )
            for pk, error in self.add_errors.items()
        ]
        services.record_heartbeat(node=self.node, reports=self.session.reports() + refused)


def run_node(
    *,
    name: str,
    port: int,
    seed_choking: str,
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
    ) as session:
        node = services.register_node(name=name, listen_port=session.listen_port, version=VERSION)
        on_listening(session.listen_port)
        reconciler = Reconciler(session=session, node=node)
        while not stop.is_set():
            close_old_connections()
            try:
                reconciler.reconcile()
            except DatabaseError:
                logger.exception("heartbeat failed; trying again at the next one")
            stop.wait(HEARTBEAT_INTERVAL.total_seconds())
        services.stop_node(node=node)
