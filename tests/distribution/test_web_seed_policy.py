"""The web seed policy: the rule, the facts it reads, the pace of a stream, and the routes it paces."""

import datetime
import time

import pytest
from django.urls import reverse
from django.utils import timezone

from distribution.byte_ranges import PACE_RECHECK_SECONDS, paced
from distribution.models import ReleaseDayStats, ReleaseTotals
from distribution.statistics import ORIGIN_SEEDING_RENEWAL, add_release_counts, record_origin_seeding
from distribution.web_seed_policy import (
    MIN_SHARE,
    SwarmFacts,
    WebSeedRates,
    swarm_facts,
    web_seed_pace,
)
from tests.factories import ReleaseFactory, ReleaseFileFactory

KIB = 1024
RATES = WebSeedRates(rate=0, release_rate=0, held_rate=16 * KIB, held_release_rate=256 * KIB)


def facts(*, seeders=0, leechers=0, origin_seeders=0, origin_seeding=False) -> SwarmFacts:
    return SwarmFacts(
        seeders=seeders, leechers=leechers, origin_seeders=origin_seeders, origin_seeding=origin_seeding
    )


@pytest.mark.parametrize(
    ("swarm", "pace"),
    [
        # No complete copy anywhere: the web seed is the only source.
        (facts(), 0),
        (facts(leechers=1), 0),
        (facts(leechers=40), 0),
        # Our seeder crashed: the tracker still counts it, our heartbeats no longer do.
        (facts(seeders=1, leechers=5, origin_seeders=1), 0),
        # Our seeder seeds: the swarm can finish without the web seed.
        (facts(seeders=1, leechers=1, origin_seeders=1, origin_seeding=True), 16 * KIB),
        (facts(seeders=1, leechers=64, origin_seeders=1, origin_seeding=True), 4 * KIB),
        # A finished peer besides ours, our seeders down or not.
        (facts(seeders=1, leechers=2), 16 * KIB),
        (facts(seeders=3, leechers=2, origin_seeders=2), 16 * KIB),
        # A swarm so large that its share is tiny still gets a pace that keeps a client's request alive.
        (facts(seeders=1, leechers=100_000), MIN_SHARE),
    ],
)
def test_it_holds_the_web_seed_back_only_while_the_swarm_has_a_complete_copy(swarm, pace):
    assert web_seed_pace(swarm, RATES) == pace


def test_its_full_rate_can_be_bounded_per_response_and_per_release():
    rates = WebSeedRates(
        rate=8 * 1024 * KIB, release_rate=16 * 1024 * KIB, held_rate=KIB, held_release_rate=KIB
    )

    assert web_seed_pace(facts(leechers=1), rates) == 8 * 1024 * KIB
    assert web_seed_pace(facts(leechers=4), rates) == 4 * 1024 * KIB


@pytest.mark.django_db
def test_it_reads_the_facts_from_the_tracker_sample_and_our_seeders_word():
    release = ReleaseFactory()
    assert swarm_facts(release.pk) == facts()

    record_origin_seeding({release.pk: 1}, until=timezone.now() + datetime.timedelta(seconds=10))
    ReleaseTotals.objects.filter(release=release).update(seeders=2, leechers=7)

    assert swarm_facts(release.pk) == facts(seeders=2, leechers=7, origin_seeders=1, origin_seeding=True)
    assert swarm_facts(release.pk).other_complete_copies == 1


@pytest.mark.django_db
def test_our_seeders_word_lapses_unless_a_heartbeat_renews_it():
    release = ReleaseFactory()

    # The last heartbeat's word, from a node that has since gone quiet.
    record_origin_seeding({release.pk: 1}, until=timezone.now() - datetime.timedelta(seconds=1))

    assert swarm_facts(release.pk) == facts(origin_seeders=1, origin_seeding=False)


@pytest.mark.django_db
def test_heartbeats_rewrite_the_row_only_when_the_count_changes_or_its_time_runs_short():
    release = ReleaseFactory()
    now = timezone.now()
    window = datetime.timedelta(seconds=10)

    record_origin_seeding({release.pk: 1}, until=now + window)
    record_origin_seeding({release.pk: 1}, until=now + datetime.timedelta(seconds=2) + window)
    assert ReleaseTotals.objects.get(release=release).origin_seeding_until == now + window

    renewed = now + ORIGIN_SEEDING_RENEWAL + datetime.timedelta(seconds=1)
    record_origin_seeding({release.pk: 1}, until=renewed + window)
    assert ReleaseTotals.objects.get(release=release).origin_seeding_until == renewed + window

    record_origin_seeding({release.pk: 2}, until=renewed + window + datetime.timedelta(seconds=1))
    assert ReleaseTotals.objects.get(release=release).origin_seeders == 2


@pytest.mark.django_db
def test_a_stopping_node_keeps_the_others_time_and_the_last_one_ends_it():
    release = ReleaseFactory()
    until = timezone.now() + datetime.timedelta(seconds=10)
    record_origin_seeding({release.pk: 2}, until=until)

    record_origin_seeding({release.pk: 1}, until=None)
    assert (ReleaseTotals.objects.get(release=release).origin_seeding_until, swarm_facts(release.pk)) == (
        until,
        facts(origin_seeders=1, origin_seeding=True),
    )

    record_origin_seeding({release.pk: 0}, until=None)
    assert swarm_facts(release.pk) == facts()


@pytest.mark.django_db
def test_counters_and_our_seeders_word_share_the_totals_row_in_either_order():
    first, second = ReleaseFactory(), ReleaseFactory()
    add_release_counts(release_id=first.pk, counts={"http_bytes": 5})
    record_origin_seeding({first.pk: 1, second.pk: 1}, until=timezone.now() + datetime.timedelta(seconds=10))
    add_release_counts(release_id=second.pk, counts={"http_bytes": 7})

    rows = ReleaseTotals.objects.order_by("release_id").values_list("http_bytes", "origin_seeders")
    assert list(rows) == [(5, 1), (7, 1)]


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_a_paced_stream_keeps_its_rate():
    clock = FakeClock()

    sent = b"".join(paced([b"x" * 100_000] * 4, lambda: 40_000, clock=clock, sleep=clock.sleep))

    assert len(sent) == 400_000
    # The last piece leaves once 390,000 bytes are 9.75 s old at 40,000 bytes/s.
    assert clock.now - 100.0 == pytest.approx(9.75)


def test_a_running_stream_takes_a_new_pace_within_the_recheck_period():
    clock = FakeClock()
    paces = iter([10_000] + [0] * 100)
    sent = 0

    for piece in paced([b"x" * 1_000_000], lambda: next(paces), clock=clock, sleep=clock.sleep):
        sent += len(piece)

    assert sent == 1_000_000
    assert clock.now - 100.0 <= PACE_RECHECK_SECONDS + 0.25


def make_file(content: bytes = b"0123456789" * 1000):
    release = ReleaseFactory(content_name="atlas-2", is_single_file=False)
    path = release.disk_path("dir/a.bin")
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    ReleaseFileFactory(release=release, path="dir/a.bin", size=len(content))
    return release


def hold_back(release) -> None:
    """A finished peer besides ours in the tracker's latest sample."""
    add_release_counts(release_id=release.pk, counts={"torrent_fetches": 1})
    ReleaseTotals.objects.filter(release=release).update(seeders=1, leechers=4)


@pytest.mark.django_db
def test_behind_nginx_the_web_seed_tells_it_the_pace_and_direct_downloads_go_unpaced(
    client, settings, tmp_path
):
    settings.DATA_DIR = tmp_path
    settings.RELEASES_DIR = tmp_path / "releases"
    settings.FANOUT_X_ACCEL_REDIRECT = "/protected/"
    settings.FANOUT_WEBSEED_HELD_RATE = 16 * KIB
    settings.FANOUT_WEBSEED_HELD_RELEASE_RATE = 256 * KIB
    release = make_file()
    seed = reverse("release-webseed", args=[release.pk, "atlas-2/dir/a.bin"])
    direct = reverse("release-file", args=[release.pk, "atlas-2/dir/a.bin"])

    assert client.get(seed)["X-Accel-Limit-Rate"] == "off"
    hold_back(release)
    assert client.get(seed)["X-Accel-Limit-Rate"] == str(16 * KIB)
    assert "X-Accel-Limit-Rate" not in client.get(direct)
    assert client.get(direct)["X-Accel-Redirect"] == client.get(seed)["X-Accel-Redirect"]


@pytest.mark.django_db
def test_django_paces_a_held_back_web_seed_and_counts_what_it_sent(client, settings):
    settings.FANOUT_WEBSEED_HELD_RATE = 4 * KIB
    release = make_file()
    hold_back(release)
    url = reverse("release-webseed", args=[release.pk, "atlas-2/dir/a.bin"])

    started = time.monotonic()
    body = b"".join(client.get(url, HTTP_RANGE="bytes=0-4095").streaming_content)

    # Four pieces of 1 KiB at 4 KiB/s: the last leaves 0.75 s after the first.
    assert time.monotonic() - started >= 0.7
    assert body == (b"0123456789" * 1000)[:4096]
    assert ReleaseDayStats.objects.get(release=release).http_bytes == 4096
