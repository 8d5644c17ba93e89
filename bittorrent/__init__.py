"""Pure BitTorrent code, no Django: bencode, metainfo, torrent building, hashing while bytes arrive."""
