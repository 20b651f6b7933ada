"""Intentions in ``meshgw.trace`` and ``meshgw.check`` (codes MGW100-MGW119).

* Where a traced path arrives at a destination sidecar's public listener, the
  destination's intentions are asked whether the source's service may connect: a deny
  (an intention or the default) ends the path there, ``MGW100``, naming the intention and
  its file:line; an L7 intention (``MGW101``, info) decides per request.
* :func:`intention_findings` reports intentions naming a service (``MGW102``) or peer
  (``MGW103``) the mesh does not know; :func:`peer_source_findings` sources of a peer
  whose cluster, loaded in the same :class:`~meshgw.MeshSet`, has no such service
  (``MGW105``).

The rules are Consul's, in :mod:`meshgw._resolve.intentions`; the sidecars' RBAC filters
are built from the same decisions.
"""

from __future__ import annotations

from collections.abc import Iterable

from meshgw._mesh import findings as fc
from meshgw._mesh.findings import Finding, did_you_mean
from meshgw._mesh.meshset import MeshSet
from meshgw._mesh.trace import Arrival, Issue, register_destination_check
from meshgw._resolve.intentions import (
    FINDING_CODES,
    Identity,
    decide,
    intention_problems,
    known_services,
)
from meshgw.errors import LookupFailed
from meshgw.model.entries import ServiceIntentions
from meshgw.model.mesh import Mesh

__all__ = ["intention_findings", "peer_source_findings"]

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
    mesh = arrival.fleet.mesh_of(destination)  # its datacenter's peers and ACL default
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


def peer_source_findings(meshes: MeshSet) -> tuple[Finding, ...]:
    """``MGW105`` for every intention source of a peer whose mesh is in ``meshes`` but
    has no service of that name (registered or in its catalog): such a source never
    matches a real caller. Peers outside the set are not judged (their catalog is not
    loaded)."""
    found: list[Finding] = []
    known: dict[str, frozenset[str]] = {}
    for name, mesh in meshes.items():
        for entry in mesh.config_entries:
            if not isinstance(entry, ServiceIntentions):
                continue
            for src in entry.sources:
                if not src.peer or src.name == "*":
                    continue
                try:
                    other_name, other = meshes.peer_mesh(name, src.peer, entry.partition)
                except LookupFailed:
                    continue  # an unknown peer is MGW103; one outside the set is not judged
                services = known.get(other_name)
                if services is None:
                    services = known[other_name] = known_services(other)
                if src.name in services:
                    continue
                found.append(
                    Finding.of(
                        "MGW105",
                        f'service-intentions "{entry.name}": source "{src.name}" of peer '
                        f'"{src.peer}" is not a service of that cluster (mesh {other_name!r})',
                        source=src.source,
                        suggestion=did_you_mean(src.name, services, "services"),
                    )
                )
    return tuple(found)
