"""Reads of seeding state that other components rely on."""

from seeder.models import Seeding, alive_since


def release_is_seeded(release_id: int) -> bool:
    """Whether a live seeder node reports the release complete and served."""
    return Seeding.objects.filter(
        release_id=release_id,
        state=Seeding.State.SEEDING,
        node__last_heartbeat_at__gte=alive_since(),
    ).exists()
