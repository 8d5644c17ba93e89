"""RSS 2.0 and Atom feeds of new releases, each with its .torrent as enclosure."""

import email.utils
import xml.etree.ElementTree as ET
from urllib.parse import urlsplit

import feedparser
import pytest
from django.conf import settings
from django.urls import reverse

from distribution.models import Release
from tests.distribution.catalogue_data import make_release
from tests.factories import ProductFactory, ReleaseFactory

pytestmark = pytest.mark.django_db

ATOM = "{http://www.w3.org/2005/Atom}"


def rss(client, url: str) -> ET.Element:
    response = client.get(url)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/rss+xml")
    root = ET.fromstring(response.content)
    assert root.tag == "rss" and root.get("version") == "2.0"
    return root.find("channel")


def assert_valid_rss_channel(channel: ET.Element) -> None:
    """The RSS 2.0 specification's required elements, and well-formed items."""
    for required in ("title", "link", "description"):
        assert channel.findtext(required), f"channel lacks <{required}>"
    for item in channel.findall("item"):
        assert item.findtext("title") or item.findtext("description")
        assert urlsplit(item.findtext("link")).scheme in ("http", "https")
        email.utils.parsedate_to_datetime(item.findtext("pubDate"))  # RFC 822 date
        assert item.find("guid").get("isPermaLink") == "true"
        enclosure = item.find("enclosure")
        assert set(enclosure.attrib) == {"url", "length", "type"}
        assert int(enclosure.get("length")) > 0
        assert enclosure.get("type") == "application/x-bittorrent"


def test_it_lists_new_releases_with_their_torrent_as_enclosure(client):
    atlas = ProductFactory(name="Atlas", slug="atlas")
    release = make_release(product=atlas, version="2.0", notes="**Bold** notes")

    channel = rss(client, reverse("feed-rss"))

    assert_valid_rss_channel(channel)
    parsed = feedparser.parse(client.get(reverse("feed-rss")).content)
    assert parsed.version == "rss20" and not parsed.bozo
    assert parsed.entries[0].enclosures[0].type == "application/x-bittorrent"
    (item,) = channel.findall("item")
    assert item.findtext("title") == "Atlas 2.0"
    assert "<strong>Bold</strong>" in item.findtext("description")
    enclosure = item.find("enclosure")
    assert enclosure.get("url") == settings.FANOUT_PUBLIC_URL + reverse("release-torrent", args=[release.pk])
    assert int(enclosure.get("length")) == len(bytes(release.torrent.metainfo))


def test_its_enclosure_url_downloads_the_torrent(client):
    release = make_release()

    enclosure = rss(client, reverse("feed-rss")).find("item/enclosure")
    response = client.get(urlsplit(enclosure.get("url")).path)

    assert response.status_code == 200
    assert response["Content-Type"] == "application/x-bittorrent"
    assert response.content == bytes(release.torrent.metainfo)
    assert len(response.content) == int(enclosure.get("length"))


def test_it_has_a_feed_per_product(client):
    atlas = ProductFactory(name="Atlas", slug="atlas")
    make_release(product=atlas, version="1.0")
    make_release(product=ProductFactory(name="Zephyr", slug="zephyr"), version="9.9")

    channel = rss(client, reverse("feed-product-rss", args=["atlas"]))

    assert [item.findtext("title") for item in channel.findall("item")] == ["Atlas 1.0"]
    assert channel.findtext("title") == "Fanout: Atlas releases"
    assert client.get(reverse("feed-product-rss", args=["nope"])).status_code == 404


def test_it_never_lists_private_or_unpublished_releases(client, outsider):
    make_release(version="public-1")
    make_release(version="secret-1", visibility=Release.Visibility.PRIVATE)
    ReleaseFactory(version="draft-1", status=Release.Status.PROCESSING)

    client.force_login(outsider)  # feed readers have no session; a logged-in browser sees the same
    for url in (reverse("feed-rss"), reverse("feed-atom")):
        body = client.get(url).content.decode()
        assert "public-1" in body
        assert "secret-1" not in body and "draft-1" not in body


def test_it_serves_atom_with_enclosure_links(client):
    release = make_release(version="3.0")

    response = client.get(reverse("feed-atom"))

    root = ET.fromstring(response.content)
    assert root.tag == f"{ATOM}feed"
    (entry,) = root.findall(f"{ATOM}entry")
    enclosure = entry.find(f"{ATOM}link[@rel='enclosure']")
    assert enclosure.get("href").endswith(reverse("release-torrent", args=[release.pk]))
    assert enclosure.get("type") == "application/x-bittorrent"


def test_the_catalogue_advertises_its_feeds(client):
    page = client.get("/").content.decode()

    assert 'type="application/rss+xml"' in page and reverse("feed-rss") in page
    make_release(product=ProductFactory(name="Atlas", slug="atlas"))
    filtered = client.get("/", {"product": "atlas"}).content.decode()
    assert reverse("feed-product-rss", args=["atlas"]) in filtered
    assert client.get("/", {"product": "no such / slug"}).status_code == 404


@pytest.mark.parametrize("name", ["feed-rss", "feed-atom"])
def test_every_link_is_on_the_public_url_whatever_host_the_reader_asked(client, settings, name):
    settings.FANOUT_PUBLIC_URL = "https://fanout.example.com"
    release = make_release(product=ProductFactory(name="Atlas", slug="atlas"), version="2.0")

    parsed = feedparser.parse(client.get(reverse(name), HTTP_HOST="127.0.0.1").content)

    page = "https://fanout.example.com" + release.get_absolute_url()
    assert parsed.entries[0].link == page and parsed.entries[0].id == page
    torrent = "https://fanout.example.com" + reverse("release-torrent", args=[release.pk])
    assert [link.href for link in parsed.entries[0].links if link.rel == "enclosure"] == [torrent]
    assert parsed.feed.link == "https://fanout.example.com/"
    assert all(link.href.startswith("https://fanout.example.com/") for link in parsed.feed.links)
