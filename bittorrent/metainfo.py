"""What the release page reads back from a built .torrent: each file's BEP 52 pieces root."""

from bittorrent.bencode import BencodeError, decode


def pieces_roots(metainfo: bytes) -> dict[str, str]:
    """Relative path (as ReleaseFile.path) to the hex pieces root, for v2 and hybrid torrents.

    The file tree's paths are relative to the torrent's name, as ReleaseFile paths are; a
    single file's tree is {name: {"": ...}}, its path the name itself.
    """
    try:
        info = decode(bytes(metainfo))[b"info"]
    except (BencodeError, KeyError, TypeError):
        return {}
    tree = info.get(b"file tree") if isinstance(info, dict) else None
    if not isinstance(tree, dict):
        return {}
    roots: dict[str, str] = {}

    def walk(node: dict, parts: list[str]) -> None:
        for key, child in node.items():
            if not isinstance(child, dict):
                continue
            if key == b"":
                root = child.get(b"pieces root")
                if isinstance(root, bytes):
                    roots["/".join(parts)] = root.hex()
                continue
            walk(child, [*parts, key.decode("utf-8", "replace")])

    walk(tree, [])
    return roots
