"""Our seeders' word on each swarm beside the tracker's (ReleaseTotals), and the web seed's own route.

Torrents and magnets built before this named ``/releases/<id>/files/`` as their
web seed, the route of the release page's direct downloads. They now name
``/releases/<id>/seed/``, which the web seed policy paces: the stored ones are
rewritten here. ``url-list`` and the magnet's ``ws`` are outside the info
dict, so no info-hash changes; the undo writes the old route back.
"""

import re
from urllib.parse import parse_qsl, quote, urlencode

from django.db import migrations, models

from bittorrent import bencode

PAIRS = {"forward": ("files", "seed"), "backward": ("seed", "files")}


def _moved(url: str, release_id: int, old: str, new: str) -> str:
    return re.sub(rf"(/releases/{release_id}/){old}/$", rf"\g<1>{new}/", url)


def _rewrite(torrent, old: str, new: str) -> bool:
    """Point the torrent's web seed of our own at the ``new`` route; whether anything changed."""
    changed = False
    metainfo = bencode.decode(bytes(torrent.metainfo))
    web_seeds = metainfo.get(b"url-list")
    urls = [web_seeds] if isinstance(web_seeds, bytes) else web_seeds if isinstance(web_seeds, list) else []
    moved = [_moved(url.decode(), torrent.release_id, old, new).encode() for url in urls]
    if moved != urls:
        metainfo[b"url-list"] = moved[0] if isinstance(web_seeds, bytes) else moved
        torrent.metainfo = bencode.encode(metainfo)
        changed = True
    prefix, _, query = torrent.magnet_uri.partition("?")
    fields = parse_qsl(query, keep_blank_values=True)
    moved_fields = [
        (name, _moved(value, torrent.release_id, old, new) if name == "ws" else value)
        for name, value in fields
    ]
    if moved_fields != fields:
        torrent.magnet_uri = f"{prefix}?{urlencode(moved_fields, quote_via=quote, safe=':')}"
        changed = True
    return changed


def _move_web_seeds(apps, direction: str) -> None:
    old, new = PAIRS[direction]
    Torrent = apps.get_model("distribution", "Torrent")
    for torrent in Torrent.objects.only("id", "release_id", "metainfo", "magnet_uri").iterator(
        chunk_size=200
    ):
        if _rewrite(torrent, old, new):
            torrent.save(update_fields=["metainfo", "magnet_uri"])


class Migration(migrations.Migration):
    dependencies = [
        ("distribution", "0015_sso_identity"),
    ]

    operations = [
        migrations.AddField(
            model_name="releasetotals",
            name="origin_seeders",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="releasetotals",
            name="origin_seeding_until",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.RunPython(
            lambda apps, schema_editor: _move_web_seeds(apps, "forward"),
            lambda apps, schema_editor: _move_web_seeds(apps, "backward"),
        ),
    ]
