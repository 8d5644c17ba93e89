"""The shared test-and-benchmark harness: what tests/ and bench/ both start, run and wait for.

Free ports on loopback, real processes with their output kept and the
prepared instance they run in, libtorrent peers on loopback, polling, releases
with real torrents. Production packages never import it
(tests/test_import_order.py); only ``harness.releases`` needs Django at
import, and it is imported once Django is set up.
"""
