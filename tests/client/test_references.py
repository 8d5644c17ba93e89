"""What `fanout get` accepts: a release page's URL, a magnet link, or a release id."""

import base64

import pytest
from fanout_client.errors import FanoutError
from fanout_client.references import ReleaseReference, parse_reference

V1 = "c3042ec13051a7c72f3c681e06a0e9920c51acc0"
V2 = "8371941cc2175776aa1d79fdc09918399b3e448fc164226ecfa31e42b5c45a41"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (
            "https://fanout.example/releases/12/",
            ReleaseReference(release_id=12, server="https://fanout.example"),
        ),
        ("http://localhost:8000/releases/7", ReleaseReference(release_id=7, server="http://localhost:8000")),
        ("http://h/releases/7/torrent", ReleaseReference(release_id=7, server="http://h")),
        ("https://corp/fanout/releases/3/", ReleaseReference(release_id=3, server="https://corp/fanout")),
        ("42", ReleaseReference(release_id=42)),
        (f"magnet:?xt=urn:btih:{V1.upper()}&dn=atlas", ReleaseReference(info_hash=V1)),
        (
            f"magnet:?xt=urn:btih:{base64.b32encode(bytes.fromhex(V1)).decode()}&tr=http%3A%2F%2Ft%2Fannounce",
            ReleaseReference(info_hash=V1),
        ),
        (f"magnet:?xt=urn:btmh:1220{V2}", ReleaseReference(info_hash=V2)),
        (f"magnet:?xt=urn:btmh:1220{V2}&xt=urn:btih:{V1}", ReleaseReference(info_hash=V1)),
    ],
)
def test_it_reads_a_release_reference(given, expected):
    assert parse_reference(given) == expected


@pytest.mark.parametrize(
    "given",
    [
        "https://fanout.example/",
        "ftp://h/releases/1/",
        "magnet:?dn=nothing",
        "magnet:?xt=urn:btih:xyz",
        "atlas",
    ],
)
def test_it_refuses_what_names_no_release(given):
    with pytest.raises(FanoutError):
        parse_reference(given)
