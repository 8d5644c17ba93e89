"""The personal web seed of a private release: in its .torrent and magnet, served without a session."""

import hashlib
import io
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client
from django.urls import reverse

from bittorrent import bencode
from distribution import access, services
from distribution.models import Passkey, Release, ReleaseDayStats
from tests.factories import GroupFactory, UserFactory

A_BIN = b"0123456789"


@pytest.fixture
def audience():
    return GroupFactory(name="field-engineers")


@pytest.fixture
def member(audience):
    user = UserFactory(username="member")
    user.groups.add(audience)
    return user


@pytest.fixture
def private_release(product, audience) -> Release:
    """A multi-file private release for one group, built as the worker builds it."""
    release = services.create_release(
        product=product,
        version="secret-2",
        visibility=Release.Visibility.PRIVATE,
        audience=[audience],
        files=[
            services.IncomingFile(path="dir/a.bin", size=len(A_BIN), source=io.BytesIO(A_BIN)),
            services.IncomingFile(path="b.bin", size=3, source=io.BytesIO(b"xyz")),
        ],
    )
    services.build_release_torrent(release_id=release.pk)
    release.refresh_from_db()
    return release


def personal_url(release: Release, user, path: str = "atlas-secret-2/dir/a.bin") -> str:
    return reverse("release-personal-webseed", args=[release.pk, Passkey.for_user(user).key, path])


def info_hash(metainfo: dict) -> bytes:
    return hashlib.sha1(bencode.encode(metainfo[b"info"])).digest()


def test_the_personal_torrent_names_the_users_web_seed_and_keeps_its_info_hash(
    client, private_release, member
):
    plain = bencode.decode(bytes(private_release.torrent.metainfo))
    assert plain[b"url-list"] == private_release.web_seed_url.encode()
    client.force_login(member)

    personal = bencode.decode(client.get(reverse("release-torrent", args=[private_release.pk])).content)

    key = Passkey.for_user(member).key
    assert personal[b"url-list"] == access.personal_web_seed_url(private_release, key).encode()
    assert personal[b"url-list"].endswith(f"/releases/{private_release.pk}/webseed/{key}/".encode())
    assert personal[b"announce"] == access.announce_url(key).encode()
    assert info_hash(personal) == info_hash(plain)


def test_only_our_web_seed_in_a_list_of_them_becomes_personal(private_release, member):
    torrent = bencode.decode(bytes(private_release.torrent.metainfo))
    torrent[b"url-list"] = [b"http://mirror.example/pub/", private_release.web_seed_url.encode()]

    personal = bencode.decode(
        access.torrent_with_passkey(bencode.encode(torrent), member, release=private_release)
    )

    key = Passkey.for_user(member).key
    assert personal[b"url-list"] == [
        b"http://mirror.example/pub/",
        access.personal_web_seed_url(private_release, key).encode(),
    ]
    assert info_hash(personal) == info_hash(torrent)


def test_the_personal_magnet_names_the_users_web_seed_and_tracker(client, private_release, member):
    assert parse_qs(urlsplit(private_release.torrent.magnet_uri).query)["ws"] == [
        private_release.web_seed_url
    ]
    client.force_login(member)

    magnet = client.get(reverse("release-magnet", args=[private_release.pk]))["Location"]

    key = Passkey.for_user(member).key
    fields = parse_qs(urlsplit(magnet).query)
    assert fields["ws"] == [access.personal_web_seed_url(private_release, key)]
    assert fields["tr"] == [access.announce_url(key)]


def test_the_personal_web_seed_serves_a_client_without_a_session_with_ranges(private_release, member):
    url = personal_url(private_release, member)
    client = Client()  # a BitTorrent client: no cookie

    whole = client.get(url)
    part = client.get(url, HTTP_RANGE="bytes=2-5")

    assert whole.status_code == 200 and b"".join(whole.streaming_content) == A_BIN
    assert part.status_code == 206 and b"".join(part.streaming_content) == b"2345"
    assert part["Content-Range"] == f"bytes 2-5/{len(A_BIN)}"
    for response in (whole, part):
        assert "private" in response["Cache-Control"] and "no-store" in response["Cache-Control"]
    stats = ReleaseDayStats.objects.get(release=private_release)
    assert (stats.http_requests, stats.http_bytes) == (2, len(A_BIN) + 4)
    single = reverse(
        "release-personal-webseed", args=[private_release.pk, Passkey.for_user(member).key, "b.bin"]
    )
    assert client.get(single).status_code == 404  # a multi-file release's files are under its name


def test_the_personal_web_seed_answers_every_refusal_with_the_same_404(
    private_release, member, outsider, publisher, audience
):
    client = Client()
    replaced = personal_url(private_release, member)
    access.regenerate_passkey(member)
    inactive = UserFactory(username="inactive")
    inactive.groups.add(audience)
    inactive_url = personal_url(private_release, inactive)
    inactive.is_active = False
    inactive.save()
    unpublished = services.create_release(
        product=private_release.product,
        version="building",
        visibility=Release.Visibility.PRIVATE,
        files=[services.IncomingFile(path="c.bin", size=1, source=io.BytesIO(b"c"))],
    )
    refusals = {
        "a replaced key": replaced,
        "an inactive user's key": inactive_url,
        "a key of a user outside the audience": personal_url(private_release, outsider),
        "a made-up key": reverse(
            "release-personal-webseed", args=[private_release.pk, "0" * 32, "atlas-secret-2/dir/a.bin"]
        ),
        "a release not published": personal_url(unpublished, publisher, "c.bin"),
        "a release that does not exist": personal_url(Release(pk=private_release.pk + 1000), member),
        "a file the release does not hold": personal_url(private_release, member, "atlas-secret-2/nope"),
        "a path out of the release": personal_url(private_release, member, "atlas-secret-2/../b.bin"),
    }

    answers = {reason: client.get(url) for reason, url in refusals.items()}

    bodies = set()
    for reason, response in answers.items():
        assert response.status_code == 404, reason
        assert "private" in response["Cache-Control"] and "no-store" in response["Cache-Control"], reason
        bodies.add(response.content)
    assert len(bodies) == 1
    # The member's new key, and the publisher's outside the audience, still open it.
    assert client.get(personal_url(private_release, member)).status_code == 200
    assert client.get(personal_url(private_release, publisher)).status_code == 200


def test_a_retired_release_is_no_longer_served_by_its_personal_web_seed(private_release, member):
    url = personal_url(private_release, member)
    assert Client().get(url).status_code == 200

    services.retire_release(release=private_release)

    assert Client().get(url).status_code == 404


def test_the_personal_web_seed_serves_a_public_release_to_any_passkey_holder(product, outsider):
    # The same rule as for private ones (its holder may see it), though no public torrent names it.
    release = services.create_release(
        product=product,
        version="open-1",
        files=[services.IncomingFile(path="open.bin", size=4, source=io.BytesIO(b"open"))],
    )
    services.build_release_torrent(release_id=release.pk)

    response = Client().get(personal_url(release, outsider, "open.bin"))

    assert b"".join(response.streaming_content) == b"open"
    assert "no-store" in response["Cache-Control"]
