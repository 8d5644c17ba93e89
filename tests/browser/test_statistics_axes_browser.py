"""The statistics page's byte axis in Chromium: distinct labels in one binary unit, whatever the sizes."""

import datetime

import pytest
from django.utils import timezone

from distribution.statistics import add_release_counts
from tests.browser.conftest import needs_chromium, signed_in_page
from tests.distribution.catalogue_data import make_release

pytestmark = [pytest.mark.django_db(transaction=True), needs_chromium]

KIB, MIB, GIB = 1024, 1024**2, 1024**3


@pytest.mark.parametrize(
    ("origin_per_day", "expected"),
    [
        ((0, 1, 0), ["0\u00a0bytes", "1\u00a0byte"]),
        (
            (3 * KIB, 5 * KIB, KIB),
            ["0\u00a0KiB", "1\u00a0KiB", "2\u00a0KiB", "3\u00a0KiB", "4\u00a0KiB", "5\u00a0KiB"],
        ),
        (
            (700 * KIB, 2 * MIB + 512 * KIB, 0),
            ["0.0\u00a0MiB", "0.5\u00a0MiB", "1.0\u00a0MiB", "1.5\u00a0MiB", "2.0\u00a0MiB", "2.5\u00a0MiB"],
        ),
        ((0, 0, 0), ["0\u00a0bytes", "1\u00a0byte"]),
        ((12 * GIB, 0, 3 * GIB), ["0\u00a0GiB", "5\u00a0GiB", "10\u00a0GiB", "15\u00a0GiB"]),
    ],
    ids=["bytes", "kib", "mib", "nothing", "gib"],
)
def test_the_byte_axis_reads_in_distinct_binary_units(
    browser, live_server, admin_user, origin_per_day, expected
):
    release = make_release(version="9.0")
    release.created_at = timezone.now() - datetime.timedelta(days=2)
    release.save(update_fields=["created_at"])
    today = timezone.now().date()
    for days_ago, origin in zip((2, 1, 0), origin_per_day, strict=True):
        add_release_counts(
            release_id=release.pk,
            day=today - datetime.timedelta(days=days_ago),
            counts={"origin_bytes": origin},
        )
    page = signed_in_page(browser, live_server, admin_user)

    page.goto(f"/releases/{release.pk}/stats")
    page.wait_for_function("document.body.dataset.chartsDrawn === '2'")

    assert page.evaluate("Chart.getChart('chart-bytes').scales.y.ticks.map(t => t.label)") == expected
    page.context.close()
