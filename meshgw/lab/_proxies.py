"""Which proxies a lab runs, and the mesh each one is translated in.

A lab is given one or more meshes (:class:`meshgw.Mesh`). Meshes with the same trust
domain are views of one Consul cluster (WAN-federated datacenters, each written as its
own directory, as ``examples/demo`` does); meshes with different trust domains are
separate clusters linked by peering.

Every mesh gateway and sidecar the meshes know (:func:`meshgw.proxies`: local agent
registrations and catalog entries, in every datacenter) becomes a :class:`LabProxy`,
translated as its own datacenter's Consul would (meshgw's whole-mesh translation does
that for a :class:`meshgw.MeshProxy`). The same instance written in several views of a
cluster counts once: the view written from its datacenter wins.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import attrs

from meshgw._resolve.placement import MeshProxy, proxies
from meshgw.errors import MeshgwError
from meshgw.model import Mesh, Service, ServiceKind

__all__ = ["LabProxy", "discover", "reachable"]


@attrs.frozen
class LabProxy:
    """One proxy of the mesh the lab can run.

    ``service``: its registration; ``datacenter`` / ``node`` / ``address``: where it
    lives (``address`` is the one others dial: the service address, else the node's);
    ``cluster``: ``""`` for the lab's first cluster (trust domain), else the name the
    first cluster gives it as a peer (or its trust domain when it has none);
    ``mesh``: the mesh it was found in; ``placement``: where that mesh registers it
    (what meshgw translates in the proxy's own datacenter).
    """

    service: Service
    datacenter: str
    node: str
    address: str
    cluster: str
    mesh: Mesh = attrs.field(eq=False, repr=False)
    placement: MeshProxy = attrs.field(eq=False, repr=False)

    @property
    def id(self) -> str:
        """The registration's service id."""
        return self.service.id or self.service.name

    @property
    def kind(self) -> str:
        return str(self.service.kind)

    @property
    def destination(self) -> str:
        """The service a sidecar fronts (``""`` for a gateway)."""
        proxy = self.service.proxy
        return proxy.destination_service_name if proxy is not None else ""

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.cluster, self.datacenter, self.node, self.id)

    @property
    def label(self) -> str:
        """``[peer/]datacenter/node/service-id``: unique in a lab."""
        where = f"{self.cluster}/" if self.cluster else ""
        return f"{where}{self.datacenter}/{self.node}/{self.id}"


_KINDS = (ServiceKind.MESH_GATEWAY, ServiceKind.CONNECT_PROXY)


def discover(meshes: Sequence[Mesh], names: Mapping[str, str] | None = None) -> list[LabProxy]:
    """Every mesh-gateway and connect-proxy registration of ``meshes`` (see the module).

    ``names``: trust domain -> cluster name (a MeshSet's names); by default the first
    mesh's cluster is ``""`` and the others are named by the first mesh's peerings."""
    if not meshes:
        raise MeshgwError("a lab needs at least one mesh")
    names = dict(names) if names is not None else _cluster_names(meshes)
    found: dict[tuple[str, str, str, str], LabProxy] = {}
    owner: dict[tuple[str, str, str, str], bool] = {}
    for mesh in meshes:
        cluster = names[mesh.trust_domain]
        for placed in proxies(mesh):
            proxy = LabProxy(
                service=placed.service,
                datacenter=placed.datacenter,
                node=placed.node,
                address=placed.service.address or placed.address,
                cluster=cluster,
                mesh=mesh,
                placement=placed,
            )
            own = placed.datacenter == mesh.datacenter
            if proxy.key not in found or (own and not owner[proxy.key]):
                found[proxy.key] = proxy
                owner[proxy.key] = own
    return sorted(found.values(), key=lambda p: p.key)


def reachable(proxies: Sequence[LabProxy], sources: Sequence[LabProxy]) -> list[LabProxy]:
    """The sources, every gateway, and every sidecar of a service the sources' upstreams
    name (directly or through a service-resolver's redirect or failover)."""
    wanted: set[str] = set()
    for source in sources:
        for upstream in source.service.upstreams:
            wanted.add(upstream.destination_name)
    for source in sources:
        _add_resolver_targets(source.mesh, wanted)
    chosen = {source.key for source in sources}
    return [
        p
        for p in proxies
        if p.key in chosen
        or p.service.kind is ServiceKind.MESH_GATEWAY
        or (p.service.kind is ServiceKind.CONNECT_PROXY and p.destination in wanted)
    ]


def _add_resolver_targets(mesh: Mesh, wanted: set[str]) -> None:
    pending = list(wanted)
    while pending:
        resolver = mesh.service_resolver(pending.pop())
        if resolver is None:
            continue
        names: list[str] = []
        if resolver.redirect is not None:
            names.append(resolver.redirect.service)
        for failover in resolver.failover.values():
            names.append(failover.service)
            names.extend(target.service for target in failover.targets)
        for name in names:
            if name and name not in wanted:
                wanted.add(name)
                pending.append(name)


def _cluster_names(meshes: Sequence[Mesh]) -> dict[str, str]:
    first = meshes[0]
    names = {first.trust_domain: ""}
    for mesh in meshes[1:]:
        if mesh.trust_domain in names:
            continue
        peer = next((p.name for p in first.peers if p.trust_domain == mesh.trust_domain), "")
        names[mesh.trust_domain] = peer or mesh.trust_domain
    return names
