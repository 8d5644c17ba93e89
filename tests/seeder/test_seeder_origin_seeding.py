"""Heartbeats tell distribution how many live nodes seed each release: the web seed policy's facts."""

from datetime import timedelta

import pytest
from django.utils import timezone

from distribution.web_seed_policy import SwarmFacts, swarm_facts
from seeder import services
from seeder.models import SeederNode
from tests.factories import ReleaseFactory
from tests.seeder.test_seeder_services import report

pytestmark = pytest.mark.django_db


def register(name: str):
    return services.register_node(name=name, listen_port=6881, version="libtorrent/2.1.1.0")


def test_a_heartbeat_tells_which_releases_our_seeders_serve():
    seeding, checking = ReleaseFactory.create_batch(2)

    services.record_heartbeat(
        node=register("origin-1"), reports=[report(seeding), report(checking, checking=True)]
    )

    assert swarm_facts(seeding.pk) == SwarmFacts(seeders=0, leechers=0, origin_seeders=1, origin_seeding=True)
    assert not swarm_facts(checking.pk).origin_seeding


def test_every_live_node_counts_and_a_stopped_one_no_longer_does():
    release = ReleaseFactory()
    first, second = register("origin-1"), register("origin-2")
    services.record_heartbeat(node=first, reports=[report(release)])
    services.record_heartbeat(node=second, reports=[report(release)])
    assert swarm_facts(release.pk).origin_seeders == 2

    services.stop_node(node=first)
    assert (swarm_facts(release.pk).origin_seeders, swarm_facts(release.pk).origin_seeding) == (1, True)

    services.stop_node(node=second)
    assert (swarm_facts(release.pk).origin_seeders, swarm_facts(release.pk).origin_seeding) == (0, False)


def test_a_release_the_node_lets_go_loses_it():
    kept, dropped = ReleaseFactory.create_batch(2)
    node = register("origin-1")
    services.record_heartbeat(node=node, reports=[report(kept), report(dropped)])

    services.record_heartbeat(node=node, reports=[report(kept), report(dropped, error="Permission denied")])

    assert swarm_facts(kept.pk).origin_seeding
    assert swarm_facts(dropped.pk) == SwarmFacts(
        seeders=0, leechers=0, origin_seeders=0, origin_seeding=False
    )


def test_a_node_that_stops_heartbeating_is_no_longer_taken_for_an_origin():
    release = ReleaseFactory()
    crashed, alive = register("crashed"), register("alive")
    services.record_heartbeat(node=crashed, reports=[report(release)])
    services.record_heartbeat(node=alive, reports=[report(release)])
    SeederNode.objects.filter(pk=crashed.pk).update(last_heartbeat_at=timezone.now() - timedelta(minutes=1))

    # The next heartbeat of the node still alive counts the live nodes again.
    services.record_heartbeat(node=alive, reports=[report(release)])

    assert swarm_facts(release.pk).origin_seeders == 1
