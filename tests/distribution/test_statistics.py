import datetime

import pytest

from distribution.models import ReleaseDayStats
from distribution.statistics import add_release_counts
from tests.factories import ReleaseFactory

pytestmark = pytest.mark.django_db


def test_it_creates_the_days_row_then_adds_to_it():
    release = ReleaseFactory()
    day = datetime.date(2026, 11, 27)

    add_release_counts(release_id=release.pk, counts={"completed": 2, "http_bytes": 100}, day=day)
    add_release_counts(release_id=release.pk, counts={"completed": 3, "origin_bytes": 7}, day=day)
    add_release_counts(release_id=release.pk, counts={"completed": 1}, day=day + datetime.timedelta(days=1))

    first, second = ReleaseDayStats.objects.filter(release=release).order_by("day")
    assert (first.completed, first.http_bytes, first.origin_bytes) == (5, 100, 7)
    assert second.completed == 1


def test_it_refuses_unknown_counters():
    with pytest.raises(ValueError, match="unknown counters"):
        add_release_counts(release_id=ReleaseFactory().pk, counts={"likes": 1})


def test_it_writes_nothing_for_zero_counts():
    release = ReleaseFactory()
    add_release_counts(release_id=release.pk, counts={"completed": 0})
    assert not ReleaseDayStats.objects.exists()
