"""Releases with real torrents in the database, for tests and benchmarks that seed and fetch them.

Imported once Django is set up: it writes rows.
"""

import libtorrent as lt

from distribution.models import Release, Torrent


def attach_torrent(release: Release, metainfo: bytes) -> Torrent:
    """The release's torrent row, read from ``metainfo`` as the worker would store it."""
    info = lt.torrent_info(metainfo)
    return Torrent.objects.create(
        release=release,
        info_hash_v1=str(info.info_hashes().v1),
        piece_length=info.piece_length(),
        piece_count=info.num_pieces(),
        metainfo=metainfo,
        magnet_uri=lt.make_magnet_uri(info),
    )
