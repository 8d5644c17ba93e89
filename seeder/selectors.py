"""Reads of seeding state that other components rely on."""

import hashlib
from collections.abc import Iterable

from django.db.models import Count

from seeder.models import SeederNode, Seeding, alive_since


def release_is_seeded(release_id: int) -> bool:
    """Whether a live seeder node reports the release complete and served."""
    return Seeding.objects.filter(
        release_id=release_id,
        state=Seeding.State.SEEDING,
        node__last_heartbeat_at__gte=alive_since(),
    ).exists()


def unhealthy_releases() -> dict[int, str]:
    """Releases a live node cannot serve (files missing, changed, unreadable), with its message."""
    rows = Seeding.objects.filter(state=Seeding.State.ERROR, node__last_heartbeat_at__gte=alive_since())
    return dict(rows.values_list("release_id", "error_message"))


def live_seeders_per_release() -> dict[int, int]:
    """How many live nodes seed each release: the complete copies in a swarm that are ours."""
    rows = (
        Seeding.objects.filter(state=Seeding.State.SEEDING, node__last_heartbeat_at__gte=alive_since())
        .values("release_id")
        .annotate(nodes=Count("node"))
    )
    return {row["release_id"]: row["nodes"] for row in rows}


def _weight(node_name: str, release_id: int) -> bytes:
    return hashlib.sha256(f"{node_name}\0{release_id}".encode()).digest()


def pick_nodes(node_names: Iterable[str], release_id: int, *, copies: int) -> set[str]:
    """The `copies` nodes that seed a release, by rendezvous hashing.

    Each node ranks every (node, release) pair the same way, so nodes agree
    without talking; a node joining or leaving moves only its own share.
    """
    return set(sorted(node_names, key=lambda name: _weight(name, release_id), reverse=True)[:copies])


def releases_for_node(node_name: str, release_ids: Iterable[int], *, copies: int) -> set[int]:
    """Of these releases, those this node seeds when each is seeded by `copies` live sharing nodes.

    Nodes set to seed every release (copies 0) do not take part in the share.
    """
    sharing = set(
        SeederNode.objects.filter(last_heartbeat_at__gte=alive_since(), copies__gt=0).values_list(
            "name", flat=True
        )
    )
    sharing.add(node_name)
    return {pk for pk in release_ids if node_name in pick_nodes(sharing, pk, copies=copies)}
