"""Intentions in ``meshgw.trace`` and ``meshgw.check`` (codes MGW100-MGW119).

* Where a traced path arrives at a destination sidecar's public listener, the
  destination's intentions are asked whether the source's service may connect: a deny
  (an intention or the default) ends the path there, ``MGW100``, naming the intention and
  its file:line; an L7 intention (``MGW101``, info) decides per request.
* :func:`intention_findings` reports intentions naming a service (``MGW102``) or peer
  (``MGW103``) the mesh does not know.

The rules are Consul's, in :mod:`meshgw._resolve.intentions`; the sidecars' RBAC filters
are built from the same decisions.
"""

from __future__ import annotations

from collections.abc import Iterable

from meshgw._mesh import findings as fc
from meshgw._mesh.findings import Finding
from meshgw._mesh.trace import Arrival, Issue, register_destination_check
from meshgw._resolve.intentions import (
    FINDING_CODES,
    Identity,
    decide,
    intention_problems,
)
from meshgw.model.mesh import Mesh

__all__ = ["intention_findings"]

for _code, _name, _severity, _title in FINDING_CODES:
    fc.register(_code, _name, _severity, _title)

_DEFAULT = "default"


def _source_identity(arrival: Arrival, mesh: Mesh) -> Identity | None:
    source = arrival.source
    svc = source.service
    namespace = svc.namespace or _DEFAULT
    if source.mesh_name == arrival.destination.mesh_name:
        return Identity(source.destination, namespace, svc.partition or mesh.local_partition)
    # From another mesh of a MeshSet: a peer's service, named by that peer's trust domain.
    for peer in mesh.peers:
        if peer.trust_domain and peer.trust_domain == source.trust_domain:
            return Identity(source.destination, namespace, _DEFAULT, peer.name)
    return None


def _check_arrival(arrival: Arrival) -> Iterable[Issue]:
    destination = arrival.destination
    mesh = arrival.fleet.root(destination)
    identity = _source_identity(arrival, mesh)
    if identity is None:
        return
    svc = destination.service
    decision = decide(
        mesh,
        identity,
        destination.destination,
        svc.namespace,
        svc.partition or mesh.local_partition,
    )
    at = f"{destination.id} ({destination.datacenter})"
    if decision.verdict == "deny":
        yield (
            "MGW100",
            f"{at} refuses {identity}: denied by {decision.decided_by}",
            f"allow {identity.service} in an intention for {destination.destination} "
            "(docs/intentions.md)",
        )
    elif decision.verdict == "l7":
        yield (
            "MGW101",
            f"{at} lets {identity} in request by request: {decision.decided_by}",
            "",
        )


register_destination_check(_check_arrival)


def intention_findings(mesh: Mesh) -> tuple[Finding, ...]:
    """``MGW102`` / ``MGW103`` for every intention naming an unknown service or peer."""
    return tuple(
        Finding.of(
            p.code,
            p.message,
            source=p.where,
            suggestion=f"did you mean {p.suggestion!r}?" if p.suggestion else "",
        )
        for p in intention_problems(mesh)
    )
