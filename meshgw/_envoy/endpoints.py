"""Envoy endpoints: :class:`Endpoint` values, ClusterLoadAssignment dicts, and the one
inliner that turns EDS clusters into ``STATIC`` ones carrying their assignment.

Pure builders; nothing here knows about Consul. The CLA shape is Consul's
(``makeLoadAssignment``): one locality group without a locality or priority, endpoints in
the order given.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

__all__ = [
    "Endpoint",
    "cluster_load_assignment",
    "eds_service_name",
    "inline_assignments",
    "lb_endpoints",
]


class Endpoint(NamedTuple):
    """One upstream host: an IP address or a DNS name, a port, and optionally an Envoy
    ``HealthStatus`` name (``HEALTHY``, ``UNHEALTHY``) and a load-balancing weight.

    ``None`` leaves the field out (Envoy's UNKNOWN health, weight 1). With ``pipe`` the
    address is a Unix domain socket path and ``port`` is ignored.
    """

    address: str
    port: int
    health: str | None = None
    weight: int | None = None
    pipe: bool = False


def lb_endpoints(endpoints: Iterable[Endpoint]) -> list[dict[str, Any]]:
    """``LbEndpoint`` dicts, in the given order."""
    out: list[dict[str, Any]] = []
    append = out.append
    for ep in endpoints:
        if ep.pipe:
            address: dict[str, Any] = {"pipe": {"path": ep.address}}
        else:
            address = {"socket_address": {"address": ep.address, "port_value": ep.port}}
        item: dict[str, Any] = {"endpoint": {"address": address}}
        if ep.health is not None:
            item["health_status"] = ep.health
        if ep.weight is not None:
            item["load_balancing_weight"] = ep.weight
        append(item)
    return out


def cluster_load_assignment(
    cluster_name: str, endpoints: Iterable[Endpoint] | None
) -> dict[str, Any]:
    """A ClusterLoadAssignment (no ``@type``) with one locality group; ``None`` gives
    no locality group at all (``"endpoints": []``)."""
    if endpoints is None:
        return {"cluster_name": cluster_name, "endpoints": []}
    return {"cluster_name": cluster_name, "endpoints": [{"lb_endpoints": lb_endpoints(endpoints)}]}


def eds_service_name(cluster: Mapping[str, Any]) -> Any:
    """The name an EDS cluster asks its assignment by: ``eds_cluster_config.service_name``,
    else the cluster's ``name``."""
    eds = cluster.get("eds_cluster_config")
    if isinstance(eds, Mapping) and eds.get("service_name"):
        return eds["service_name"]
    return cluster.get("name")


def inline_assignments(
    clusters: Iterable[dict[str, Any]], assignments: Iterable[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """``clusters`` with every ``EDS`` cluster whose assignment is in ``assignments``
    turned ``STATIC``, carrying that assignment as ``load_assignment``.

    An assignment belongs to the cluster whose :func:`eds_service_name` equals its
    ``cluster_name`` (the first such assignment wins); other clusters are returned as
    they are (the same dicts). An inlined cluster is a new dict (the given one is not
    changed) whose ``load_assignment`` is the given assignment, less any ``@type``.
    """
    by_name: dict[Any, Mapping[str, Any]] = {}
    for cla in assignments:
        by_name.setdefault(cla.get("cluster_name"), cla)
    out: list[dict[str, Any]] = []
    for cluster in clusters:
        if cluster.get("type") == "EDS":
            found = by_name.get(eds_service_name(cluster))
            if found is not None:
                cluster = {k: v for k, v in cluster.items() if k != "eds_cluster_config"}
                cluster["type"] = "STATIC"
                cluster["load_assignment"] = {k: v for k, v in found.items() if k != "@type"}
        out.append(cluster)
    return out
