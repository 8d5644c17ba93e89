"""The `fanout` command: talks to a Fanout server over HTTP (its API, tus uploads) and BitTorrent only."""

__version__ = "1.0.0"
