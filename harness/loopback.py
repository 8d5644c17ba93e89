"""Ports on loopback for the servers that tests and benchmarks start."""

import socket


def free_port() -> int:
    """A port free on loopback now for both TCP and UDP (a tracker binds both)."""
    while True:
        with socket.socket() as tcp, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            tcp.bind(("127.0.0.1", 0))
            port = tcp.getsockname()[1]
            try:
                udp.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
