"""Behind nginx (deploy/nginx.conf) the statistics count the bytes nginx sent, not the ranges Django
handed it: a client that leaves a held-back web seed early is counted for what it took."""

import socket
import urllib.error
import urllib.parse
import urllib.request

import pytest
from django.urls import reverse

from distribution.models import ReleaseDayStats, ReleaseTotals
from harness.polling import wait_until
from harness.web_front import NGINX
from tests.distribution.test_web_seed_nginx import KIB, SIZE, front, release  # noqa: F401  (fixtures)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(NGINX is None, reason="nginx is not installed (apt-get install nginx)"),
]


def counted(release) -> tuple[int, int, int]:  # noqa: F811
    """HTTP requests, HTTP bytes and web seed bytes in the release's statistics."""
    row = ReleaseDayStats.objects.filter(release=release).first()
    return (row.http_requests, row.http_bytes, row.web_seed_bytes) if row else (0, 0, 0)


def fetch(url: str, byte_range: str | None = None) -> bytes:
    headers = {"Range": f"bytes={byte_range}"} if byte_range else {}
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=30) as answer:
        return answer.read()


def test_whole_and_ranged_downloads_through_nginx_count_the_bytes_sent(front, release):  # noqa: F811
    direct = front + reverse("release-file", args=[release.pk, "atlas.bin"])
    seed = front + reverse("release-webseed", args=[release.pk, "atlas.bin"])

    assert len(fetch(direct)) == SIZE
    assert len(fetch(direct, "0-99999")) == 100_000
    assert len(fetch(seed, "100-199")) == 100

    wait_until(lambda: counted(release) == (3, SIZE + 100_100, 100), timeout=10, what="nginx's reports")


def test_a_client_that_leaves_a_held_back_web_seed_early_is_counted_for_what_it_took(
    front,  # noqa: F811
    release,  # noqa: F811
    settings,
):
    settings.FANOUT_WEBSEED_HELD_RATE = 16 * KIB
    ReleaseTotals.objects.create(release=release, seeders=1, leechers=1)  # a finished peer: held back
    path = reverse("release-webseed", args=[release.pk, "atlas.bin"])
    host, port = urllib.parse.urlsplit(front).netloc.split(":")

    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        taken = 0
        while taken < 40 * KIB:
            taken += len(connection.recv(64 * KIB))

    # Django handed nginx the whole file; nginx sent what the client took and a few seconds' more.
    wait_until(lambda: counted(release)[0] == 1, timeout=20, what="nginx's report of the request it ended")
    requests, sent, web_seed = counted(release)
    assert taken - 1024 <= sent == web_seed < SIZE // 4


def test_nobody_but_nginx_reports_a_file_sent(front, release):  # noqa: F811
    report = urllib.request.Request(
        front + "/web-server/sent",
        method="POST",
        headers={
            "X-Fanout-Request-URI": reverse("release-file", args=[release.pk, "atlas.bin"]),
            "X-Fanout-Status": "200",
            "X-Fanout-Body-Bytes-Sent": str(10**12),
        },
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(report, timeout=10)
    assert refused.value.code == 404
    assert counted(release) == (0, 0, 0)
