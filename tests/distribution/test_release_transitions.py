"""Each transition of a release, guarded in one place: who may move it, from where, and only once."""

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.utils import timezone

from distribution import services
from distribution.models import Release
from tests.factories import ReleaseFactory

pytestmark = pytest.mark.django_db

Status = Release.Status
STATE_FIELDS = [
    "status",
    "failure_reason",
    "published_at",
    "retired_at",
    "build_pieces_done",
    "build_pieces_total",
    "build_updated_at",
]
LONG_AGO = timezone.now() - timedelta(days=30)


def release_in(status: str) -> Release:
    """A release in ``status`` with something in every state field, to see what a transition changes."""
    return ReleaseFactory(
        status=status,
        failure_reason="the disk was full",
        published_at=LONG_AGO,
        retired_at=LONG_AGO,
        build_pieces_done=7,
        build_pieces_total=9,
        build_updated_at=LONG_AGO,
    )


def row_of(release: Release) -> dict:
    return Release.objects.filter(pk=release.pk).values(*STATE_FIELDS).get()


RECENT = object()  # in a change: the time the transition ran

TRANSITIONS = [
    pytest.param(
        lambda release: release.start_uploading(),
        [Status.DRAFT],
        {"status": Status.UPLOADING},
        id="start_uploading",
    ),
    pytest.param(
        lambda release: release.start_processing(),
        [Status.DRAFT, Status.UPLOADING],
        {
            "status": Status.PROCESSING,
            "failure_reason": "",
            "build_pieces_done": 0,
            "build_updated_at": RECENT,
        },
        id="start_processing",
    ),
    pytest.param(
        lambda release: release.publish(),
        [Status.PROCESSING],
        {"status": Status.PUBLISHED, "failure_reason": "", "published_at": RECENT},
        id="publish",
    ),
    pytest.param(
        lambda release: release.fail("a.bin cannot be read"),
        [Status.PROCESSING],
        {"status": Status.FAILED, "failure_reason": "a.bin cannot be read"},
        id="fail",
    ),
    pytest.param(
        lambda release: release.retry(),
        [Status.FAILED],
        {
            "status": Status.PROCESSING,
            "failure_reason": "",
            "build_pieces_done": 0,
            "build_updated_at": RECENT,
        },
        id="retry",
    ),
    pytest.param(
        lambda release: release.retire(),
        [Status.PUBLISHED],
        {"status": Status.RETIRED, "retired_at": RECENT},
        id="retire",
    ),
]


@pytest.mark.parametrize("status", Status.values)
@pytest.mark.parametrize(("move", "sources", "changes"), TRANSITIONS)
def test_it_moves_a_release_only_from_the_transitions_sources(move, sources, changes, status):
    release = release_in(status)
    before = row_of(release)
    started = timezone.now()

    moved = move(release)

    row = row_of(release)
    assert moved is (status in sources)
    expected = {**before, **changes} if moved else before
    for field, value in expected.items():
        if value is RECENT:
            assert started <= row[field] <= timezone.now()
            expected[field] = row[field]
    assert row == expected
    assert {field: getattr(release, field) for field in STATE_FIELDS} == row


@pytest.mark.parametrize("status", Status.values)
def test_it_lets_files_change_only_before_the_build_starts(status):
    assert ReleaseFactory(status=status).files_may_change is (status in (Status.DRAFT, Status.UPLOADING))


def test_it_tells_the_publisher_why_a_release_cannot_be_retried_or_retired():
    published = ReleaseFactory(status=Status.PUBLISHED)
    with pytest.raises(services.ReleaseRejected, match="this one is published"):
        services.retry_build(release=published)

    stale = Release.objects.get(pk=published.pk)
    services.retire_release(release=published)
    with pytest.raises(services.ReleaseRejected, match="this one is retired"):
        services.retire_release(release=stale)


def race(release: Release, move) -> list:
    """Run ``move`` on two copies of the release at once, each thread on its own connection."""
    start = threading.Barrier(2)

    def run(_) -> object:
        try:
            own = Release.objects.get(pk=release.pk)
            start.wait()
            return move(own)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(run, range(2)))


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("move", "sources", "changes"), TRANSITIONS)
def test_two_racing_callers_move_a_release_once(move, sources, changes):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite serialises writers: nothing to race")
    release = ReleaseFactory(status=sources[0])

    assert sorted(race(release, move)) == [False, True]


@pytest.fixture
def stalled_build(settings) -> Release:
    stalled_since = timezone.now() - timedelta(seconds=settings.FANOUT_BUILD_STALL_SECONDS + 1)
    return ReleaseFactory(status=Status.PROCESSING, build_updated_at=stalled_since)


def test_it_queues_a_stalled_build_once_however_often_the_requeue_runs(
    stalled_build, django_capture_on_commit_callbacks
):
    ReleaseFactory(status=Status.PROCESSING, build_updated_at=timezone.now())
    ReleaseFactory(status=Status.FAILED, build_updated_at=LONG_AGO)

    with django_capture_on_commit_callbacks() as queued:
        runs = [services.requeue_stalled_builds() for _ in range(3)]

    assert runs == [[stalled_build.pk], [], []]
    assert len(queued) == 1
    assert Release.objects.get(pk=stalled_build.pk).build_updated_at > timezone.now() - timedelta(minutes=1)


def test_it_queues_a_build_again_once_it_stalls_again(stalled_build, settings):
    assert services.requeue_stalled_builds() == [stalled_build.pk]
    assert services.requeue_stalled_builds() == []

    stalled_again = timezone.now() - timedelta(seconds=settings.FANOUT_BUILD_STALL_SECONDS + 1)
    Release.objects.filter(pk=stalled_build.pk).update(build_updated_at=stalled_again)

    assert services.requeue_stalled_builds() == [stalled_build.pk]


@pytest.mark.django_db(transaction=True)
def test_two_requeues_at_once_queue_a_stalled_build_once(stalled_build):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite serialises writers: nothing to race")

    runs = race(stalled_build, lambda release: services.requeue_stalled_builds())

    assert sorted(runs) == [[], [stalled_build.pk]]


CHANGELIST = "/admin/distribution/release/"


def run_action(client, action: str, releases: list[Release]):
    response = client.post(
        CHANGELIST, {"action": action, "_selected_action": [r.pk for r in releases]}, follow=True
    )
    assert response.status_code == 200
    return [str(message) for message in get_messages(response.wsgi_request)]


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


def test_the_admin_shows_the_state_but_does_not_let_it_be_edited(admin_client):
    release = ReleaseFactory(status=Status.FAILED, failure_reason="the disk was full")

    page = admin_client.get(f"{CHANGELIST}{release.pk}/change/").content.decode()

    assert "the disk was full" in page
    for field in STATE_FIELDS:
        assert f'name="{field}' not in page
    assert 'name="notes"' in page and 'name="visibility"' in page
    for field in ("product", "version", "torrent_format"):
        assert f'name="{field}"' not in page
    assert admin_client.get(f"{CHANGELIST}add/").status_code == 403


def test_the_admin_retries_failed_builds_and_says_how_many(admin_client, django_capture_on_commit_callbacks):
    failed, published = ReleaseFactory(status=Status.FAILED), ReleaseFactory(status=Status.PUBLISHED)

    with django_capture_on_commit_callbacks() as queued:
        shown = run_action(admin_client, "retry_builds", [failed, published])

    assert shown == [
        "1 of 2 selected releases queued for a new build.",
        "1 left as they were: they were not failed.",
    ]
    assert len(queued) == 1
    assert Release.objects.get(pk=failed.pk).status == Status.PROCESSING
    assert Release.objects.get(pk=published.pk).status == Status.PUBLISHED


def test_the_admin_retires_published_releases(admin_client):
    published, processing = ReleaseFactory(status=Status.PUBLISHED), ReleaseFactory(status=Status.PROCESSING)

    shown = run_action(admin_client, "retire_releases", [published, processing])

    assert shown == [
        "1 of 2 selected releases retired.",
        "1 left as they were: they were not published.",
    ]
    assert Release.objects.get(pk=published.pk).status == Status.RETIRED
    assert Release.objects.get(pk=processing.pk).status == Status.PROCESSING


def test_the_admin_stops_stuck_builds_with_a_reason(admin_client):
    stuck, other = ReleaseFactory(status=Status.PROCESSING), ReleaseFactory(status=Status.PROCESSING)

    shown = run_action(admin_client, "fail_builds", [stuck, other])

    assert shown == ["2 of 2 selected releases stopped."]
    assert set(Release.objects.values_list("status", "failure_reason")) == {
        (Status.FAILED, "Stopped by admin in the admin.")
    }


def test_only_staff_may_run_the_admin_actions(client, publisher):
    failed = ReleaseFactory(status=Status.FAILED)
    client.force_login(publisher)

    response = client.post(CHANGELIST, {"action": "retry_builds", "_selected_action": [failed.pk]})

    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    assert Release.objects.get(pk=failed.pk).status == Status.FAILED
