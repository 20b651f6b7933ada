"""Envoy endpoints: :class:`Endpoint` values and ClusterLoadAssignment dicts.

Pure builders; nothing here knows about Consul. The CLA shape is Consul's
(``makeLoadAssignment``): one locality group without a locality or priority, endpoints in
the order given.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple

__all__ = ["Endpoint", "cluster_load_assignment", "lb_endpoints"]


class Endpoint(NamedTuple):
    """One upstream host: an IP address or a DNS name, a port, and optionally an Envoy
    ``HealthStatus`` name (``HEALTHY``, ``UNHEALTHY``) and a load-balancing weight.

    ``None`` leaves the field out (Envoy's UNKNOWN health, weight 1).
    """

    address: str
    port: int
    health: str | None = None
    weight: int | None = None


def lb_endpoints(endpoints: Iterable[Endpoint]) -> list[dict[str, Any]]:
    """``LbEndpoint`` dicts, in the given order."""
    out: list[dict[str, Any]] = []
    append = out.append
    for ep in endpoints:
        address = {"socket_address": {"address": ep.address, "port_value": ep.port}}
        item: dict[str, Any] = {"endpoint": {"address": address}}
        if ep.health is not None:
            item["health_status"] = ep.health
        if ep.weight is not None:
            item["load_balancing_weight"] = ep.weight
        append(item)
    return out


def cluster_load_assignment(cluster_name: str, endpoints: Iterable[Endpoint]) -> dict[str, Any]:
    """A ClusterLoadAssignment (no ``@type``) with one locality group."""
    return {"cluster_name": cluster_name, "endpoints": [{"lb_endpoints": lb_endpoints(endpoints)}]}
