"""Which address an announce comes from: the connection's, or X-Forwarded-For behind a trusted proxy.

The ``ip`` parameter of an announce is never read. Behind reverse proxies
listed in FANOUT_TRUSTED_PROXIES, X-Forwarded-For is read from the right:
the first address that is not one of our proxies is the client (anything to
its left was written by the client and could be anything).
"""

import ipaddress
from collections.abc import Iterable

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class TrustedProxies:
    def __init__(self, networks: Iterable[str] = ()) -> None:
        self.networks: tuple[_Network, ...] = tuple(
            ipaddress.ip_network(network.strip(), strict=False) for network in networks if network.strip()
        )

    def trusts(self, ip: str) -> bool:
        try:
            address = ipaddress.ip_address(ip.partition("%")[0])
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self.networks)

    def client_ip(self, peer_ip: str, forwarded_for: str | None) -> str:
        """The client's address, given the connection's and the X-Forwarded-For header (if any).

        May return something that is not an address (a proxy's malformed
        header): the tracker then answers "unusable client address".
        """
        if not self.networks or not forwarded_for or not self.trusts(peer_ip):
            return peer_ip
        hops = [hop.strip() for hop in forwarded_for.split(",")]
        for hop in reversed(hops):
            if not self.trusts(hop):
                return hop
        return hops[0]
