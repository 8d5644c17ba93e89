"""Torrents stored before the web seed had a route of its own name it afterwards, info-hashes unchanged."""

import libtorrent as lt
import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from bittorrent import bencode

BEFORE = [("distribution", "0015_sso_identity")]
OURS = "http://fanout.example/releases/{pk}/files/"
MIRROR = b"http://mirror.example/pub/"


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def latest():
    return MigrationExecutor(connection).loader.graph.leaf_nodes()


def stored_torrent(apps, url_list) -> object:
    Product = apps.get_model("distribution", "Product")
    Release = apps.get_model("distribution", "Release")
    release = Release.objects.create(
        product=Product.objects.create(name="Atlas", slug="atlas"), version="1", content_name="atlas.bin"
    )
    our_url = OURS.format(pk=release.pk)
    info = {b"name": b"atlas.bin", b"length": 5, b"piece length": 16 * 1024, b"pieces": b"\0" * 20}
    metainfo = {b"announce": b"http://fanout.example:6969/announce", b"info": info}
    metainfo[b"url-list"] = [our_url.encode() if url is None else url for url in url_list]
    encoded = bencode.encode(metainfo)
    magnet = lt.make_magnet_uri(lt.torrent_info(encoded))
    return apps.get_model("distribution", "Torrent").objects.create(
        release=release,
        info_hash_v1="0" * 40,
        piece_length=16 * 1024,
        piece_count=1,
        metainfo=encoded,
        magnet_uri=magnet,
    )


@pytest.mark.django_db(transaction=True)
def test_it_moves_stored_torrents_to_the_web_seed_route_and_back():
    before = migrate(BEFORE)
    torrent = stored_torrent(before, [MIRROR, None])
    info_hash = lt.torrent_info(bytes(torrent.metainfo)).info_hashes().v1
    assert "%2ffiles%2f" in torrent.magnet_uri.lower()

    after = migrate(latest()).get_model("distribution", "Torrent").objects.get()

    metainfo = bencode.decode(bytes(after.metainfo))
    seed = f"http://fanout.example/releases/{after.release_id}/seed/"
    assert metainfo[b"url-list"] == [MIRROR, seed.encode()]
    assert lt.torrent_info(bytes(after.metainfo)).info_hashes().v1 == info_hash
    assert lt.parse_magnet_uri(after.magnet_uri).url_seeds == [MIRROR.decode(), seed]

    undone = migrate(BEFORE).get_model("distribution", "Torrent").objects.get()
    assert bencode.decode(bytes(undone.metainfo))[b"url-list"][1] == OURS.format(pk=after.release_id).encode()
    migrate(latest())
