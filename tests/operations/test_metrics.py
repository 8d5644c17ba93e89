"""/metrics in Prometheus' text format, behind a bearer token or a staff session."""

import pytest
from django.urls import reverse

from distribution.models import Release, SwarmSample
from distribution.statistics import add_release_counts, record_swarm_samples
from seeder.models import SeederNode, Seeding
from tests.distribution.catalogue_data import make_release
from tests.factories import ReleaseFactory

pytestmark = pytest.mark.django_db


def samples(body: str) -> dict[str, float]:
    """Metric name with labels to value, after checking each metric has HELP and TYPE."""
    values: dict[str, float] = {}
    described: set[str] = set()
    for line in body.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert kind in ("gauge", "counter")
            described.add(name)
        elif line and not line.startswith("#"):
            key, value = line.rsplit(" ", 1)
            assert key.split("{")[0] in described
            values[key] = float(value)
    return values


def test_it_refuses_anonymous_and_non_staff_users(client, settings, publisher):
    settings.FANOUT_METRICS_TOKEN = None
    assert client.get(reverse("metrics")).status_code == 401
    client.force_login(publisher)
    assert client.get(reverse("metrics")).status_code == 401


def test_it_accepts_the_bearer_token_and_only_it(client, settings):
    settings.FANOUT_METRICS_TOKEN = "s3cret-token"

    assert client.get(reverse("metrics"), HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    response = client.get(reverse("metrics"), HTTP_AUTHORIZATION="Bearer s3cret-token")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")


def test_it_reports_swarms_peers_origin_bytes_builds_and_nodes(client, admin_user):
    node = SeederNode.objects.create(name='seed "a"', listen_port=1, version="1", upload_rate=2048)
    first, second = make_release(), make_release()
    make_release(visibility=Release.Visibility.PRIVATE)
    Seeding.objects.create(node=node, release=first, state=Seeding.State.SEEDING)
    record_swarm_samples([SwarmSample(release=first, seeders=4, leechers=2)])
    record_swarm_samples([SwarmSample(release=second, seeders=0, leechers=3)])
    add_release_counts(
        release_id=first.pk, counts={"origin_bytes": 500, "completed": 6, "torrent_fetches": 2}
    )
    add_release_counts(
        release_id=second.pk, counts={"origin_bytes": 250, "http_bytes": 10, "web_seed_bytes": 4}
    )
    ReleaseFactory(status=Release.Status.FAILED)
    client.force_login(admin_user)

    values = samples(client.get(reverse("metrics")).content.decode())

    assert values["fanout_swarms"] == 3
    assert values["fanout_swarms_with_peers"] == 2
    assert values['fanout_peers{role="seeder"}'] == 4 and values['fanout_peers{role="leecher"}'] == 5
    assert values['fanout_unhealthy_swarms{problem="stalled"}'] == 1
    assert values['fanout_unhealthy_swarms{problem="origin_down"}'] == 2
    assert values["fanout_origin_uploaded_bytes_total"] == 750
    assert values["fanout_http_bytes_total"] == 10
    assert values["fanout_web_seed_bytes_total"] == 4
    assert values["fanout_completed_downloads_total"] == 6
    assert values["fanout_torrent_fetches_total"] == 2
    assert values['fanout_releases{status="failed"}'] == 1
    assert values['fanout_releases{status="published"}'] == 3
    assert values['fanout_seeder_up{node="seed \\"a\\""}'] == 1
    assert values['fanout_seeder_upload_bytes_per_second{node="seed \\"a\\""}'] == 2048
    assert values['fanout_seeder_releases_seeded{node="seed \\"a\\""}'] == 1
    assert values["fanout_tracker_announces_per_second"] > 0
    assert "fanout_task_queue_length" in values
