"""Small typed readers of a translate result, so a test reads like its intent instead of
``out["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]...``.

Re-exported by :mod:`meshgw.testing`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, NamedTuple

from meshgw.errors import LookupFailed

__all__ = ["LbEndpoint", "cluster", "endpoints_of", "listener"]

_KEYS = {"cluster": "clusters", "listener": "listeners"}


class LbEndpoint(NamedTuple):
    """One endpoint of a cluster: where it is, and the health Envoy is told
    (``"UNKNOWN"``, Envoy's default, when none is set)."""

    address: str
    port: int
    health: str
    priority: int = 0


def cluster(out: Mapping[str, Any], name: str) -> dict[str, Any]:
    """The cluster called ``name`` in a translate result (or a bootstrap)."""
    return _named(out, "cluster", name)


def listener(out: Mapping[str, Any], name: str) -> dict[str, Any]:
    """The listener called ``name`` in a translate result (or a bootstrap)."""
    return _named(out, "listener", name)


def endpoints_of(out: Mapping[str, Any], cluster_name: str) -> list[LbEndpoint]:
    """The endpoints of a cluster, in order: from its ClusterLoadAssignment in
    ``out["endpoints"]`` (EDS) or inline in the cluster (static form, bootstraps).

    Raises :class:`~meshgw.errors.LookupFailed` when no assignment names the cluster.
    """
    for assignment in out.get("endpoints", []):
        if assignment.get("cluster_name") == cluster_name:
            return _lb_endpoints(assignment)
    found = _named(out, "cluster", cluster_name)
    if "load_assignment" not in found:
        raise LookupFailed(
            f"cluster {cluster_name!r} has no endpoints here (type "
            f"{found.get('type', 'aggregate')}; an EDS cluster's come in out['endpoints'])"
        )
    return _lb_endpoints(found["load_assignment"])


def _resources(out: Mapping[str, Any], kind: Literal["cluster", "listener"]) -> list[Any]:
    key = _KEYS[kind]
    if key in out:
        return list(out[key])
    return list(out.get("static_resources", {}).get(key, []))


def _named(
    out: Mapping[str, Any], kind: Literal["cluster", "listener"], name: str
) -> dict[str, Any]:
    resources = _resources(out, kind)
    for resource in resources:
        if resource.get("name") == name:
            return dict(resource)
    known = ", ".join(sorted(str(r.get("name")) for r in resources)) or "none"
    raise LookupFailed(f"no {kind} {name!r} (there are: {known})")


def _lb_endpoints(assignment: Mapping[str, Any]) -> list[LbEndpoint]:
    out = []
    for group in assignment.get("endpoints", []):
        priority = int(group.get("priority", 0))
        for lb in group.get("lb_endpoints", []):
            sock = lb.get("endpoint", {}).get("address", {}).get("socket_address", {})
            out.append(
                LbEndpoint(
                    address=str(sock.get("address", "")),
                    port=int(sock.get("port_value", 0)),
                    health=str(lb.get("health_status", "UNKNOWN")),
                    priority=priority,
                )
            )
    return out
