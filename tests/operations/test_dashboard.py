"""The admins' swarm-health dashboard: figures, flags, nodes, builds, refresh, access and queries."""

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from distribution.models import Release, SwarmSample
from distribution.statistics import add_release_counts, record_swarm_samples
from seeder.models import SeederNode, Seeding
from tests.distribution.catalogue_data import make_release
from tests.factories import ReleaseFactory

pytestmark = pytest.mark.django_db


def seeded_by(node: SeederNode, release: Release, state=Seeding.State.SEEDING, error="") -> Seeding:
    return Seeding.objects.create(node=node, release=release, state=state, error_message=error)


@pytest.fixture
def node():
    return SeederNode.objects.create(name="seed-a", listen_port=6881, version="1.0", upload_rate=5 * 1024**2)


def row_of(page: str, release: Release) -> str:
    return page.split(f'data-release="{release.pk}"')[1].split("</tr>")[0]


def test_only_staff_sees_it(client, publisher, admin_user):
    for url in (reverse("dashboard"), reverse("dashboard-panel")):
        assert client.get(url).status_code == 302
        client.force_login(publisher)
        assert client.get(url).status_code == 403
        client.force_login(admin_user)
        assert client.get(url).status_code == 200
        client.logout()


def test_it_shows_each_swarm_with_its_flags(client, admin_user, node):
    healthy = make_release(version="healthy")
    stalled = make_release(version="stalled")
    broken = make_release(version="broken")
    orphan = make_release(version="orphan")
    seeded_by(node, healthy)
    seeded_by(node, stalled)
    seeded_by(node, broken, state=Seeding.State.ERROR, error="payload.bin: No such file")
    record_swarm_samples([SwarmSample(release=healthy, seeders=9, leechers=4)])
    record_swarm_samples([SwarmSample(release=stalled, seeders=0, leechers=6)])
    add_release_counts(release_id=healthy.pk, counts={"completed": 17})
    add_release_counts(
        release_id=healthy.pk,
        counts={"completed": 100},
        day=timezone.now().date() - datetime.timedelta(days=1),
    )
    client.force_login(admin_user)

    page = client.get(reverse("dashboard")).content.decode()

    assert "healthy</span>" in row_of(page, healthy) and ">17<" in row_of(page, healthy)
    assert "stalled" in row_of(page, stalled) and "origin down" not in row_of(page, stalled)
    assert "data missing" in row_of(page, broken) and "No such file" in row_of(page, broken)
    assert "origin down" in row_of(page, orphan) and "no seeder" in row_of(page, orphan)
    assert page.index(f'data-release="{broken.pk}"') < page.index(f'data-release="{healthy.pk}"')
    assert 'data-testid="total-seeders">9<' in page
    assert 'data-testid="unhealthy">3<' in page  # stalled, broken (data missing + origin down), orphan


def test_it_shows_seeder_nodes_and_failed_builds(client, admin_user, node):
    SeederNode.objects.create(
        name="seed-dead",
        listen_port=6882,
        version="1.0",
        last_heartbeat_at=timezone.now() - datetime.timedelta(hours=1),
    )
    seeded_by(node, make_release())
    ReleaseFactory(version="9.9", status=Release.Status.FAILED, failure_reason="disk full while hashing")
    client.force_login(admin_user)

    page = client.get(reverse("dashboard")).content.decode()

    assert page.count('data-testid="node-row"') == 2
    assert "seed-a" in page and "5.0\xa0MiB/s" in page and "alive" in page
    assert "seed-dead" in page and ">down<" in page
    assert "disk full while hashing" in page


def test_it_refreshes_its_panel_with_htmx(client, admin_user):
    release = make_release()
    client.force_login(admin_user)

    page = client.get(reverse("dashboard")).content.decode()
    assert "vendor/htmx/htmx.min.js" in page
    assert f'hx-get="{reverse("dashboard-panel")}"' in page and 'hx-trigger="every' in page

    record_swarm_samples([SwarmSample(release=release, seeders=0, leechers=1)])
    panel = client.get(reverse("dashboard-panel")).content.decode()
    assert panel.lstrip().startswith("<div") and "<html" not in panel
    assert 'data-testid="total-leechers">1<' in panel


def test_it_runs_a_fixed_number_of_queries(client, admin_user, node, django_assert_max_num_queries):
    client.force_login(admin_user)

    def add(count: int) -> None:
        for _ in range(count):
            release = make_release()
            seeded_by(node, release)
            record_swarm_samples([SwarmSample(release=release, seeders=1, leechers=1)])
            add_release_counts(release_id=release.pk, counts={"completed": 1})
            ReleaseFactory(status=Release.Status.FAILED, failure_reason="x")
            SeederNode.objects.create(name=f"node-{release.pk}", listen_port=1, version="1")

    add(2)
    with django_assert_max_num_queries(10) as few:
        client.get(reverse("dashboard"))
    add(60)
    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get(reverse("dashboard"))
