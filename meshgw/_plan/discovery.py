"""How a cluster finds its endpoints: EDS for IP addresses, DNS for host names.

Consul's rule for every proxy kind (``makeUpstreamClustersForDiscoveryChain`` and the
mesh gateway's ``makeGatewayCluster``): EDS cannot carry a host name, so a cluster with
one becomes a DNS cluster that Envoy resolves itself.
"""

from __future__ import annotations

from collections.abc import Sequence

from meshgw._envoy.clusters import Discovery
from meshgw._envoy.endpoints import Endpoint
from meshgw._values import is_ip

__all__ = ["choose_discovery"]


def choose_discovery(
    endpoints: Sequence[Endpoint], dns_discovery_type: str = "LOGICAL_DNS"
) -> tuple[Discovery, tuple[Endpoint, ...]]:
    """EDS when every address is an IP; else a DNS cluster with every distinct endpoint
    (the first one's health and weight; IP literals resolve to themselves), LOGICAL_DNS
    only for exactly one of them and when ``dns_discovery_type`` (a gateway's
    ``envoy_dns_discovery_type``) does not ask for STRICT_DNS."""
    if all(map(is_ip, [ep.address for ep in endpoints])):
        return "EDS", tuple(endpoints)
    distinct: dict[tuple[str, int], Endpoint] = {}
    for ep in endpoints:
        distinct.setdefault((ep.address, ep.port), ep)
    # Envoy rejects a LOGICAL_DNS cluster with more than one endpoint (Consul #17557).
    if len(distinct) == 1 and dns_discovery_type != "STRICT_DNS":
        return "LOGICAL_DNS", tuple(distinct.values())
    return "STRICT_DNS", tuple(distinct.values())
