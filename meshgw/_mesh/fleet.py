"""Every proxy of a mesh (or of a set of peered meshes), found by address, each
translated in its own datacenter on first use.

The trace walks from proxy to proxy by address. The proxies and the mesh each one is
translated in come from the whole-mesh placement (:func:`meshgw.proxies`,
:func:`meshgw.datacenter_view`); this module adds where each proxy can be reached (its
catalog addresses, and a gateway's own binds) and caches each proxy's configuration,
indexed the way the trace reads it.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from typing import Any

import attrs

from meshgw._mesh.envoyview import Bound, ChainIndex
from meshgw._mesh.meshset import MeshSet
from meshgw._resolve.catalog import agent_entries
from meshgw._resolve.placement import MeshProxy, datacenter_mesh, datacenters, proxies
from meshgw._translation import translate
from meshgw.errors import MeshgwError, MeshgwWarning
from meshgw.model.catalog import CatalogEntry
from meshgw.model.common import ServiceKind, Source
from meshgw.model.mesh import Mesh
from meshgw.model.registration import Service, Upstream

__all__ = ["Fleet", "Member", "Translated"]

_WILDCARDS = frozenset({"0.0.0.0", "::", ""})


@attrs.frozen
class Member:
    """One proxy of the fleet: where it is registered (:class:`MeshProxy`), where it is
    reached (``addresses``: the ``(address, port)`` pairs the catalog advertises for it
    — service and node address, tagged addresses), its mesh's trust domain, and whether
    it is one of the local agent's own registrations."""

    proxy: MeshProxy
    addresses: tuple[tuple[str, int], ...]
    trust_domain: str
    local: bool = False

    @property
    def key(self) -> str:
        return self.proxy.key

    @property
    def id(self) -> str:
        return self.proxy.id

    @property
    def service(self) -> Service:
        return self.proxy.service

    @property
    def datacenter(self) -> str:
        return self.proxy.datacenter

    @property
    def lacks_app_port(self) -> bool:
        """A sidecar listed in the catalog without ``proxy.local_service_port`` (nor a
        socket path): traced as if its application listened on the sidecar's own port,
        while translating it for real fails (``check`` says so, ``MGW083``)."""
        proxy = self.service.proxy
        return (
            not self.local
            and proxy is not None
            and self.kind == ServiceKind.CONNECT_PROXY
            and not proxy.local_service_port
            and not proxy.local_service_socket_path
        )

    @property
    def mesh_name(self) -> str:
        """The member's mesh in a :class:`~meshgw.MeshSet` (``""`` for a lone mesh)."""
        return self.proxy.mesh_name

    @property
    def kind(self) -> ServiceKind:
        return self.proxy.kind

    @property
    def source(self) -> Source | None:
        return self.proxy.source

    @property
    def destination(self) -> str:
        """The service a sidecar fronts (its own name for a gateway)."""
        proxy = self.service.proxy
        if self.kind == ServiceKind.CONNECT_PROXY and proxy is not None:
            return proxy.destination_service_name
        return self.service.name


@attrs.frozen
class Translated:
    """A member's Envoy configuration, indexed: clusters and assignments by name,
    listeners; ``warnings`` the translation gave; ``error`` when it failed."""

    clusters: dict[str, dict[str, Any]]
    assignments: dict[str, dict[str, Any]]
    listeners: tuple[dict[str, Any], ...]
    warnings: tuple[str, ...] = ()
    error: str = ""
    bound: Bound = attrs.field(init=False, eq=False, repr=False)

    @bound.default
    def _bound(self) -> Bound:
        return Bound(self.listeners)


class Fleet:
    """The proxies of a :class:`~meshgw.Mesh` or :class:`~meshgw.MeshSet` (see the
    module docstring). Build one per mesh and trace as many upstreams as needed with
    it: translations and the paths behind each gateway are computed once."""

    def __init__(self, target: Mesh | MeshSet) -> None:
        self.target = target
        self._roots: dict[str, Mesh] = (
            dict(target.items()) if isinstance(target, MeshSet) else {"": target}
        )
        members: list[Member] = []
        for name, mesh in self._roots.items():
            members.extend(_members(name, mesh))
        self.members: tuple[Member, ...] = tuple(members)
        self._by_address: dict[tuple[str, int], list[Member]] = {}
        self._by_id: dict[str, list[Member]] = {}
        for member in self.members:
            self._by_id.setdefault(member.id, []).append(member)
            for addr in member.addresses:
                group = self._by_address.setdefault(addr, [])
                if member not in group:
                    group.append(member)
        self._bound_indexed = False
        self._outputs: dict[str, Translated] = {}
        self._services: dict[tuple[str, str], set[str]] = {}
        # The tracer's memo of paths behind an address, shared by every upstream traced.
        self.memo: dict[Any, Any] = {}
        self._chains: dict[int, ChainIndex] = {}
        self._datacenters: dict[str, frozenset[str]] = {}

    # ----------------------------------------------------------------- meshes

    def root(self, member: Member) -> Mesh:
        """The mesh ``member`` belongs to, as loaded (seen from its local datacenter)."""
        return self._roots[member.mesh_name]

    def mesh_of(self, member: Member) -> Mesh:
        """The mesh as ``member``'s own datacenter sees it: what it is translated in."""
        return datacenter_mesh(self.root(member), member.datacenter)

    def datacenters_of(self, member: Member) -> frozenset[str]:
        """The datacenters ``member``'s mesh knows (its primary included)."""
        found = self._datacenters.get(member.mesh_name)
        if found is None:
            mesh = self.root(member)
            primary = {mesh.primary_datacenter} if mesh.primary_datacenter else set()
            found = self._datacenters[member.mesh_name] = frozenset(datacenters(mesh)) | primary
        return found

    def services_in(self, datacenter: str, member: Member) -> set[str]:
        """Names of the services with an instance (sidecar or connect-native) in
        ``datacenter`` of ``member``'s mesh."""
        key = (member.mesh_name, datacenter)
        found = self._services.get(key)
        if found is None:
            found = {
                m.destination
                for m in self.members
                if m.mesh_name == member.mesh_name
                and m.datacenter == datacenter
                and m.kind == ServiceKind.CONNECT_PROXY
            }
            mesh = self.root(member)
            for e in _entries(mesh):
                svc = e.service
                if (
                    svc is not None
                    and (e.datacenter or mesh.datacenter) == datacenter
                    and svc.connect is not None
                    and svc.connect.native
                ):
                    found.add(svc.name)
            self._services[key] = found
        return found

    # ----------------------------------------------------------------- lookups

    def by_id(self, name_or_id: str) -> list[Member]:
        """Members with that service id, else name, else fronting that service."""
        found = self._by_id.get(name_or_id) or [
            m for m in self.members if m.service.name == name_or_id
        ]
        if not found:
            found = [
                m
                for m in self.members
                if m.kind == ServiceKind.CONNECT_PROXY and m.destination == name_or_id
            ]
        return found

    def at(self, address: str, port: int) -> list[Member]:
        """Members reached at ``address:port``: advertised there, or (gateways) binding
        a listener there."""
        found = self._by_address.get((address, port))
        if not found and not self._bound_indexed:
            self._index_gateway_binds()
            found = self._by_address.get((address, port))
        return list(found or ())

    def chain_index(self, listener: dict[str, Any]) -> ChainIndex:
        """The filter-chain index of one of the fleet's (cached) listeners."""
        found = self._chains.get(id(listener))
        if found is None:
            found = self._chains[id(listener)] = ChainIndex(listener)
        return found

    # ----------------------------------------------------------------- translation

    def output(self, member: Member) -> Translated:
        """``member``'s Envoy configuration (translated once, then cached)."""
        found = self._outputs.get(member.key)
        if found is None:
            found = self._translate(member, member.service)
            self._outputs[member.key] = found
        return found

    def output_for(self, member: Member, upstream: Upstream) -> Translated:
        """A sidecar's configuration with ``upstream`` as its only upstream: what a
        trace follows when another upstream keeps the whole proxy from translating."""
        proxy = member.service.proxy
        assert proxy is not None
        alone = attrs.evolve(member.service, proxy=attrs.evolve(proxy, upstreams=(upstream,)))
        return self._translate(member, alone)

    def _translate(self, member: Member, service: Service) -> Translated:
        proxy = service.proxy
        if member.lacks_app_port and proxy is not None:
            # Catalog listings written by hand often leave out the local app's port
            # (the agent fills it in Consul's own). It only shapes the sidecar's
            # local_app cluster, which a trace never follows.
            service = attrs.evolve(
                service, proxy=attrs.evolve(proxy, local_service_port=service.port or 1)
            )
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", MeshgwWarning)
            try:
                out = translate(service, self.mesh_of(member), missing="warn")
            except MeshgwError as exc:
                return Translated({}, {}, (), error=str(exc))
        said = tuple(str(w.message) for w in caught if issubclass(w.category, MeshgwWarning))
        return Translated(
            {c["name"]: c for c in out["clusters"]},
            {a["cluster_name"]: a for a in out["endpoints"]},
            tuple(out["listeners"]),
            said,
        )

    def _index_gateway_binds(self) -> None:
        # Custom binds (envoy_gateway_bind_addresses) are only in the configuration.
        self._bound_indexed = True
        for member in self.members:
            if member.kind != ServiceKind.MESH_GATEWAY:
                continue
            for listener in self.output(member).listeners:
                sock = listener.get("address", {}).get("socket_address", {})
                addr = (str(sock.get("address", "")), int(sock.get("port_value", 0)))
                if addr[0] in _WILDCARDS:
                    continue
                group = self._by_address.setdefault(addr, [])
                if member not in group:
                    group.append(member)


def _entries(mesh: Mesh) -> Iterable[CatalogEntry]:
    yield from agent_entries(mesh)
    yield from mesh.catalog


def _members(name: str, mesh: Mesh) -> list[Member]:
    # The catalog entry of each proxy (by datacenter, node and id, the last one
    # winning, as the placement does) gives its addresses.
    entries: dict[tuple[str, str, str], CatalogEntry] = {}
    for e in _entries(mesh):
        if e.service is not None:
            sid = e.service.id or e.service.name
            entries[(e.datacenter or mesh.datacenter, e.node, sid)] = e
    local = {id(s) for s in mesh.services}
    out = []
    for p in proxies(mesh):
        entry = entries.get((p.datacenter, p.node, p.id))
        out.append(
            Member(
                proxy=attrs.evolve(p, mesh_name=name) if name else p,
                addresses=_addresses(entry) if entry is not None else (),
                trust_domain=mesh.trust_domain,
                local=id(p.service) in local,
            )
        )
    return out


def _addresses(entry: CatalogEntry) -> tuple[tuple[str, int], ...]:
    svc = entry.service
    assert svc is not None
    out: list[tuple[str, int]] = []

    def add(address: str, port: int) -> None:
        if address and port and (address, port) not in out:
            out.append((address, port))

    lan = entry.best_address(False)
    add(lan.address, lan.port)
    wan = entry.best_address(True)
    add(wan.address, wan.port)
    for tagged in svc.tagged_addresses.values():
        add(tagged.address, tagged.port or svc.port)
    for address in entry.tagged_addresses.values():
        add(address, svc.port)
    return tuple(out)
