"""Published releases with a torrent, made directly in the database for the catalogue's tests.

The torrent's metainfo is a small but well-formed bencoded dictionary (with a
BEP 52 file tree for v2), so the pages that read it back have something real.
"""

import datetime
import hashlib

from django.utils import timezone

from bittorrent.bencode import encode
from distribution.models import Release, ReleaseFile, Tag, Torrent
from tests.factories import ProductFactory, ReleaseFactory


def pieces_root_of(path: str) -> bytes:
    return hashlib.sha256(b"root of " + path.encode()).digest()


def make_release(
    *,
    product=None,
    version: str | None = None,
    visibility: str = Release.Visibility.PUBLIC,
    files: tuple[tuple[str, int], ...] = (("payload.bin", 1024),),
    notes: str = "",
    tags: tuple[str, ...] = (),
    published_at: datetime.datetime | None = None,
    torrent_format: str = "v1",
) -> Release:
    kwargs = {"product": product or ProductFactory()}
    if version:
        kwargs["version"] = version
    single = len(files) == 1 and "/" not in files[0][0]
    release = ReleaseFactory(
        **kwargs,
        visibility=visibility,
        notes=notes,
        torrent_format=torrent_format,
        is_single_file=single,
        content_name=files[0][0] if single else "content",
        published_at=published_at or timezone.now(),
    )
    for path, size in files:
        ReleaseFile.objects.create(
            release=release, path=path, size=size, sha256=hashlib.sha256(path.encode()).hexdigest()
        )
    for name in tags:
        tag, _ = Tag.objects.get_or_create(slug=name, defaults={"name": name})
        release.tags.add(tag)
    info: dict = {b"name": release.content_name.encode(), b"piece length": 16384}
    if torrent_format in ("v2", "hybrid"):
        tree: dict = {}
        for path, size in files:
            node = tree
            for part in path.split("/"):
                node = node.setdefault(part.encode(), {})
            node[b""] = {b"length": size, b"pieces root": pieces_root_of(path)}
        info[b"file tree"] = tree
        info[b"meta version"] = 2
    else:
        info[b"length"] = sum(size for _, size in files)
        info[b"pieces"] = b"\0" * 20
    metainfo = encode({b"announce": b"http://localhost:6969/announce", b"info": info})
    digest = hashlib.sha256(metainfo + str(release.pk).encode())
    Torrent.objects.create(
        release=release,
        info_hash_v1=digest.hexdigest()[:40] if torrent_format != "v2" else None,
        info_hash_v2=digest.hexdigest() if torrent_format != "v1" else None,
        piece_length=16384,
        piece_count=1,
        metainfo=metainfo,
        magnet_uri=f"magnet:?xt=urn:btih:{digest.hexdigest()[:40]}&dn={release.content_name}",
    )
    return release
