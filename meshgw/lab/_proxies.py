"""Which proxies a lab runs, and the mesh each one is translated in.

A lab is given one or more meshes (:class:`meshgw.Mesh`). Meshes with the same trust
domain are views of one Consul cluster (WAN-federated datacenters, each written as its
own directory, as ``examples/demo`` does); meshes with different trust domains are
separate clusters linked by peering.

Every proxy registration the meshes know becomes a :class:`LabProxy`: a local agent
registration of a mesh (``Mesh.services``) lives in that mesh's datacenter on node
``node_name``; a catalog entry (``Mesh.catalog``) on its own node. The same instance
written in several views counts once, the local registration winning.

Each proxy is translated in its own datacenter's view: the mesh of that datacenter
when the lab was given one, else the first mesh of its cluster seen from that
datacenter — the registration as the only local one, everything else of the mesh (its
catalog and the other views' local registrations, as catalog entries) as what the
catalog knows. Config entries are the mesh's own, as WAN federation replicates them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import attrs

from meshgw.errors import MeshgwError
from meshgw.model import CatalogEntry, Mesh, Service, ServiceKind

__all__ = ["LabProxy", "discover", "reachable"]

# The node and address of a mesh's own registrations when it names none (as meshgw's
# catalog view places them).
_LOCAL_NODE = "local"
_LOCAL_ADDRESS = "127.0.0.1"


@attrs.frozen
class LabProxy:
    """One proxy of the mesh the lab can run.

    ``service``: its registration; ``datacenter`` / ``node`` / ``address``: where it
    lives (``address`` is the one others dial: the service address, else the node's);
    ``cluster``: ``""`` for the lab's first cluster (trust domain), else the name the
    first cluster gives it as a peer (or its trust domain when it has none);
    ``mesh``: the mesh to translate it in.
    """

    service: Service
    datacenter: str
    node: str
    address: str
    cluster: str
    mesh: Mesh = attrs.field(eq=False, repr=False)

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


def discover(meshes: Sequence[Mesh]) -> list[LabProxy]:
    """Every mesh-gateway and connect-proxy registration of ``meshes`` (see the module)."""
    if not meshes:
        raise MeshgwError("a lab needs at least one mesh")
    names = _cluster_names(meshes)
    found: dict[tuple[str, str, str, str], LabProxy] = {}
    by_trust: dict[str, list[Mesh]] = {}
    for mesh in meshes:
        by_trust.setdefault(mesh.trust_domain, []).append(mesh)
    for trust_domain, views in by_trust.items():
        cluster = names[trust_domain]
        local_entries = [entry for view in views for entry in _local_entries(view)]
        # Local registrations first: they win over a catalog copy of the same instance.
        for view in views:
            for entry in _local_entries(view):
                assert entry.service is not None
                if entry.service.kind in _KINDS:
                    proxy = _proxy(entry, cluster, view)
                    found.setdefault(proxy.key, proxy)
        own = {view.datacenter: view for view in views}
        for view in views:
            for entry in view.catalog:
                if entry.service is None or entry.service.kind not in _KINDS:
                    continue
                dc = entry.datacenter or view.datacenter
                key = (cluster, dc, entry.node, entry.service.id or entry.service.name)
                if key in found:
                    continue
                base = own.get(dc, views[0])
                mesh = _view(base, dc, entry, views, local_entries)
                found[key] = _proxy(attrs.evolve(entry, datacenter=dc), cluster, mesh)
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


def _local_entries(mesh: Mesh) -> Iterable[CatalogEntry]:
    """The mesh's own registrations as the catalog sees them."""
    for service in mesh.services:
        yield CatalogEntry(
            node=mesh.node_name or _LOCAL_NODE,
            address=mesh.advertise_addr or _LOCAL_ADDRESS,
            datacenter=mesh.datacenter,
            service=service,
        )


def _proxy(entry: CatalogEntry, cluster: str, mesh: Mesh) -> LabProxy:
    assert entry.service is not None
    return LabProxy(
        service=entry.service,
        datacenter=entry.datacenter,
        node=entry.node,
        address=entry.service.address or entry.address,
        cluster=cluster,
        mesh=mesh,
    )


def _placed(entry: CatalogEntry, datacenter: str) -> CatalogEntry:
    # An entry without a datacenter is in its mesh's: say so before changing the view.
    return entry if entry.datacenter else attrs.evolve(entry, datacenter=datacenter)


def _view(
    base: Mesh,
    datacenter: str,
    entry: CatalogEntry,
    views: Sequence[Mesh],
    local_entries: Sequence[CatalogEntry],
) -> Mesh:
    """``base`` seen from ``entry``'s node in ``datacenter``, ``entry`` its only local
    registration. (When the whole-mesh translation API lands, this gives way to it.)"""
    assert entry.service is not None
    catalog = [_placed(e, view.datacenter) for view in views for e in view.catalog]
    catalog += local_entries
    unique: dict[tuple[str, str, str], CatalogEntry] = {}
    for item in catalog:
        sid = (item.service.id or item.service.name) if item.service is not None else ""
        unique.setdefault((item.datacenter, item.node, sid), item)
    unique.pop((datacenter, entry.node, entry.service.id or entry.service.name), None)
    return attrs.evolve(
        base,
        datacenter=datacenter,
        node_name=entry.node,
        advertise_addr=entry.address,
        services=(entry.service,),
        catalog=tuple(unique.values()),
    )
