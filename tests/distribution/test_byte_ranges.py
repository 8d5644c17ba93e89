"""HTTP Range serving for web seeds: ranges, validators, counting, and hand-off to the web server."""

import pytest
from django.test import RequestFactory
from django.urls import reverse

from distribution.byte_ranges import UnsatisfiableRange, file_response, parse_range
from distribution.models import ReleaseDayStats
from tests.factories import ReleaseFactory, ReleaseFileFactory

# Closing a response sends request_finished, whose handlers touch the database.
pytestmark = pytest.mark.django_db

CONTENT = bytes(range(256)) * 40  # 10,240 bytes


@pytest.fixture
def payload(tmp_path):
    path = tmp_path / "payload.bin"
    path.write_bytes(CONTENT)
    return path


def body(response) -> bytes:
    content = b"".join(response.streaming_content)
    response.close()
    return content


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-0", (0, 0)),
        ("bytes=100-199", (100, 199)),
        ("bytes=100-", (100, 10239)),
        ("bytes=-100", (10140, 10239)),
        ("bytes=-20000", (0, 10239)),
        ("bytes=10000-99999", (10000, 10239)),
        ("bytes=5-4", None),
        ("bytes=0-1,5-6", None),
        ("items=0-1", None),
        ("bytes=-", None),
    ],
)
def test_it_parses_single_ranges(header, expected):
    assert parse_range(header, len(CONTENT)) == expected


@pytest.mark.parametrize("header", ["bytes=10240-", "bytes=99999-100000", "bytes=-0"])
def test_it_refuses_ranges_beyond_the_end(header):
    with pytest.raises(UnsatisfiableRange):
        parse_range(header, len(CONTENT))


def test_a_range_gets_206_with_its_bytes_and_length(rf: RequestFactory, payload):
    response = file_response(rf.get("/", HTTP_RANGE="bytes=1000-1999"), payload, download_name="p.bin")

    assert response.status_code == 206
    assert response["Content-Length"] == "1000"
    assert response["Content-Range"] == f"bytes 1000-1999/{len(CONTENT)}"
    assert body(response) == CONTENT[1000:2000]
    assert response["ETag"] and response["Last-Modified"] and response["Accept-Ranges"] == "bytes"


def test_no_range_gets_the_whole_file(rf, payload):
    response = file_response(rf.get("/"), payload, download_name="p.bin")

    assert response.status_code == 200 and response["Content-Length"] == str(len(CONTENT))
    assert body(response) == CONTENT


def test_a_bad_range_gets_416(rf, payload):
    response = file_response(rf.get("/", HTTP_RANGE="bytes=20000-"), payload, download_name="p.bin")

    assert response.status_code == 416 and response["Content-Range"] == f"bytes */{len(CONTENT)}"


def test_validators_revalidate_and_guard_ranges(rf, payload):
    first = file_response(rf.get("/"), payload, download_name="p.bin")
    body(first)

    assert (
        file_response(rf.get("/", HTTP_IF_NONE_MATCH=first["ETag"]), payload, download_name="p").status_code
        == 304
    )
    same = file_response(
        rf.get("/", HTTP_RANGE="bytes=0-9", HTTP_IF_RANGE=first["ETag"]), payload, download_name="p"
    )
    assert same.status_code == 206
    by_date = rf.get("/", HTTP_RANGE="bytes=0-9", HTTP_IF_RANGE=first["Last-Modified"])
    assert file_response(by_date, payload, download_name="p").status_code == 206
    changed = file_response(
        rf.get("/", HTTP_RANGE="bytes=0-9", HTTP_IF_RANGE='"other"'), payload, download_name="p"
    )
    assert changed.status_code == 200


def test_it_counts_the_bytes_sent(rf, payload):
    sent = []

    body(file_response(rf.get("/", HTTP_RANGE="bytes=0-99"), payload, download_name="p", on_sent=sent.append))
    body(file_response(rf.get("/"), payload, download_name="p", on_sent=sent.append))
    file_response(rf.get("/", HTTP_RANGE="bytes=99999-"), payload, download_name="p", on_sent=sent.append)
    file_response(rf.head("/"), payload, download_name="p", on_sent=sent.append)

    assert sent == [100, len(CONTENT), 0, 0]


def test_a_client_that_goes_away_is_counted_for_what_it_got(rf, payload, monkeypatch):
    monkeypatch.setattr("distribution.byte_ranges.CHUNK", 1024)
    sent = []
    response = file_response(
        rf.get("/", HTTP_RANGE="bytes=0-8191"), payload, download_name="p", on_sent=sent.append
    )

    next(iter(response.streaming_content))
    response.close()

    assert sent == [1024]


def test_with_x_accel_redirect_the_web_server_sends_the_file(rf, settings, tmp_path):
    settings.DATA_DIR = tmp_path
    settings.FANOUT_X_ACCEL_REDIRECT = "/protected/"
    path = tmp_path / "releases" / "7" / "my file.bin"
    path.parent.mkdir(parents=True)
    path.write_bytes(CONTENT)
    sent = []

    response = file_response(
        rf.get("/", HTTP_RANGE="bytes=10-19"), path, download_name="my file.bin", on_sent=sent.append
    )

    assert response["X-Accel-Redirect"] == "/protected/releases/7/my%20file.bin"
    assert response.content == b""
    assert "my file.bin" in response["Content-Disposition"]
    # Counted when the web server reports what it sent (tests/distribution/test_statistics_nginx.py).
    assert sent == []


def test_the_web_seed_counts_requests_and_bytes_per_release(client, settings, tmp_path):
    release = ReleaseFactory(content_name="atlas-2", is_single_file=False)
    path = release.disk_path("dir/a.bin")
    path.parent.mkdir(parents=True)
    path.write_bytes(CONTENT)
    ReleaseFileFactory(release=release, path="dir/a.bin", size=len(CONTENT))
    url = reverse("release-webseed", args=[release.pk, "atlas-2/dir/a.bin"])

    # The test client closes a streamed response once it is read.
    assert len(b"".join(client.get(url, HTTP_RANGE="bytes=0-1023").streaming_content)) == 1024
    assert b"".join(client.get(url, HTTP_RANGE="bytes=1024-").streaming_content) == CONTENT[1024:]

    stats = ReleaseDayStats.objects.get(release=release)
    assert (stats.http_requests, stats.http_bytes) == (2, len(CONTENT))
