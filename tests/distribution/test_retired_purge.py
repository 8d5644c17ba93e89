"""Retired releases' files removed after FANOUT_RETIRED_PURGE_DAYS, by a periodic, idempotent task."""

import io
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from distribution import services, tasks
from distribution.models import Release

pytestmark = pytest.mark.django_db


def retired_release(product, version: str, days_ago: int) -> Release:
    release = services.create_release(
        product=product,
        version=version,
        files=[services.IncomingFile(path="a.iso", size=5, source=io.BytesIO(b"hello"))],
    )
    services.build_release_torrent(release_id=release.pk)
    release.refresh_from_db()
    services.retire_release(release=release)
    Release.objects.filter(pk=release.pk).update(retired_at=timezone.now() - timedelta(days=days_ago))
    release.refresh_from_db()
    return release


def test_it_never_purges_by_default(product):
    release = retired_release(product, "1", days_ago=3650)

    assert settings.FANOUT_RETIRED_PURGE_DAYS == 0
    assert services.purge_retired_files() == []
    assert release.content_dir.exists()


def test_it_purges_the_files_of_releases_retired_longer_than_the_grace_period(product, settings):
    settings.FANOUT_RETIRED_PURGE_DAYS = 30
    old = retired_release(product, "old", days_ago=31)
    recent = retired_release(product, "recent", days_ago=29)

    assert services.purge_retired_files() == [old.pk]

    old.refresh_from_db()
    assert old.files_purged_at is not None and not old.content_dir.exists()
    assert recent.content_dir.exists() and Release.objects.get(pk=recent.pk).files_purged_at is None
    assert old.files.count() == 1  # their names and checksums stay, for the page


def test_the_task_is_in_the_beat_schedule_and_a_second_run_does_nothing(product, settings, caplog):
    settings.FANOUT_RETIRED_PURGE_DAYS = 1
    release = retired_release(product, "1", days_ago=2)
    schedule = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "distribution.purge_retired_files" in schedule

    tasks.purge_retired_files.apply()
    purged_at = Release.objects.get(pk=release.pk).files_purged_at
    tasks.purge_retired_files.apply()

    assert Release.objects.get(pk=release.pk).files_purged_at == purged_at
    assert services.purge_retired_files() == []


def test_a_run_killed_before_it_recorded_the_purge_finishes_it_next_time(product, settings):
    settings.FANOUT_RETIRED_PURGE_DAYS = 1
    release = retired_release(product, "1", days_ago=2)
    release.content_dir.rename(release.content_dir.with_name("gone"))  # the files went, the row says nothing

    assert services.purge_retired_files() == [release.pk]
    assert Release.objects.get(pk=release.pk).files_purged_at is not None


def test_the_release_page_says_when_the_files_go_and_that_they_are_gone(client, product, settings):
    settings.FANOUT_RETIRED_PURGE_DAYS = 30
    release = retired_release(product, "1", days_ago=10)
    due = (release.retired_at + timedelta(days=30)).strftime("%Y-%m-%d")

    assert (
        f"Its files will be removed from our disks on {due}"
        in client.get(release.get_absolute_url()).content.decode()
    )

    Release.objects.filter(pk=release.pk).update(retired_at=timezone.now() - timedelta(days=31))
    services.purge_retired_files()
    page = client.get(release.get_absolute_url()).content.decode()

    assert 'data-testid="files-gone"' in page and "Its files are gone" in page
