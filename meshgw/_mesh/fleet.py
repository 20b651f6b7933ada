"""Every proxy of a mesh, each translated in its own datacenter, found by address.

The trace walks from proxy to proxy by address, so it needs, for a mesh: the proxies
(mesh gateways and sidecars) of every datacenter — the local agent's registrations and
the catalog's instances elsewhere —, where each one can be reached, and its Envoy
configuration as its own datacenter's Consul would generate it. :class:`Fleet` is that
view, built once per mesh and translating each proxy only when the trace first needs it.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import attrs

from meshgw._translation import translate
from meshgw.errors import MeshgwError, MeshgwWarning
from meshgw.model.catalog import CatalogEntry
from meshgw.model.common import ServiceKind, Source
from meshgw.model.mesh import Mesh
from meshgw.model.registration import Service, Upstream

__all__ = ["Fleet", "Member", "Translated"]

_DEFAULT_NODE = "local"
_DEFAULT_ADDR = "127.0.0.1"
_PROXY_KINDS = (ServiceKind.CONNECT_PROXY, ServiceKind.MESH_GATEWAY)
_WILDCARDS = frozenset({"0.0.0.0", "::", ""})


@attrs.frozen
class Member:
    """One proxy of the mesh: its registration, where it runs, and where it is reached.

    ``key`` is unique in the fleet (``<dc>/<node>/<service id>``); ``addresses`` are the
    ``(address, port)`` pairs the catalog advertises for it (service and node address,
    tagged addresses); ``peer`` is set for a proxy of a peered cluster.
    """

    key: str
    service: Service
    datacenter: str
    node: str
    node_address: str
    addresses: tuple[tuple[str, int], ...]
    trust_domain: str
    peer: str = ""
    local: bool = False
    source: Source | None = None

    @property
    def id(self) -> str:
        return self.service.id or self.service.name

    @property
    def kind(self) -> ServiceKind:
        return self.service.kind

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


class Fleet:
    """The proxies of ``mesh`` (see the module docstring)."""

    def __init__(self, mesh: Mesh) -> None:
        self.mesh = mesh
        self.members: tuple[Member, ...] = tuple(_members(mesh))
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
        self._meshes: dict[str, Mesh] = {}
        self._agent_catalog: tuple[CatalogEntry, ...] | None = None
        self.datacenters: frozenset[str] = frozenset(
            {mesh.datacenter}
            | ({mesh.primary_datacenter} if mesh.primary_datacenter else set())
            | {e.datacenter for e in mesh.catalog if e.datacenter and not e.peer_name}
        )
        # Cross-walk memo for the tracer: (member key, cluster, sni, sans) → result.
        self.memo: dict[Any, Any] = {}

    # ----------------------------------------------------------------- lookups

    def by_id(self, name_or_id: str, datacenter: str = "") -> list[Member]:
        """Members with that service id (else name, else fronting that service)."""
        found = self._by_id.get(name_or_id) or [
            m for m in self.members if m.service.name == name_or_id
        ]
        if not found:
            found = [
                m
                for m in self.members
                if m.kind == ServiceKind.CONNECT_PROXY and m.destination == name_or_id
            ]
        if datacenter:
            found = [m for m in found if m.datacenter == datacenter]
        return found

    def at(self, address: str, port: int) -> list[Member]:
        """Members reached at ``address:port``: advertised there, or (gateways) binding
        a listener there."""
        found = self._by_address.get((address, port))
        if found:
            return list(found)
        if not self._bound_indexed:
            self._index_gateway_binds()
            found = self._by_address.get((address, port))
        return list(found or ())

    def gateways(self, datacenter: str) -> list[Member]:
        return [
            m
            for m in self.members
            if m.kind == ServiceKind.MESH_GATEWAY and m.datacenter == datacenter and not m.peer
        ]

    def services_in(self, datacenter: str) -> set[str]:
        """Names of the mesh services with an instance (sidecar or connect-native) in
        ``datacenter``."""
        out: set[str] = set()
        for m in self.members:
            if m.datacenter == datacenter and m.kind == ServiceKind.CONNECT_PROXY:
                out.add(m.destination)
        mesh = self.mesh
        for e in mesh.catalog:
            svc = e.service
            if (
                svc is not None
                and (e.datacenter or mesh.datacenter) == datacenter
                and svc.connect is not None
                and svc.connect.native
            ):
                out.add(svc.name)
        return out

    def all_services(self) -> set[str]:
        return {m.destination for m in self.members if m.kind == ServiceKind.CONNECT_PROXY}

    # ----------------------------------------------------------------- translation

    def mesh_of(self, member: Member) -> Mesh:
        """The mesh as ``member``'s own datacenter sees it (the local mesh for the local
        agent's registrations)."""
        if member.local:
            return self.mesh
        found = self._meshes.get(member.datacenter)
        if found is None:
            # No agent registrations of its own: the view's proxies are catalog entries.
            found = attrs.evolve(
                self.mesh,
                datacenter=member.datacenter,
                services=(),
                node_name="",
                advertise_addr="",
                # A peering belongs to the datacenter that established it.
                peers=self.mesh.peers if member.datacenter == self.mesh.datacenter else (),
                catalog=self._catalog_with_agent(),
            )
            self._meshes[member.datacenter] = found
        return found

    def output(self, member: Member) -> Translated:
        """``member``'s Envoy configuration (translated once, then cached)."""
        found = self._outputs.get(member.key)
        if found is None:
            found = self._translate(member)
            self._outputs[member.key] = found
        return found

    def output_for(self, member: Member, upstream: Upstream) -> Translated:
        """A sidecar's configuration with ``upstream`` as its only upstream: what a
        trace follows when another upstream keeps the whole proxy from translating."""
        proxy = member.service.proxy
        assert proxy is not None
        alone = attrs.evolve(member.service, proxy=attrs.evolve(proxy, upstreams=(upstream,)))
        return self._translate(attrs.evolve(member, service=alone))

    def _translate(self, member: Member) -> Translated:
        mesh = self.mesh_of(member)
        service = member.service
        proxy = service.proxy
        if (
            not member.local
            and proxy is not None
            and member.kind == ServiceKind.CONNECT_PROXY
            and not proxy.local_service_port
            and not proxy.local_service_socket_path
        ):
            # Catalog listings of sidecars elsewhere often leave out the local app's
            # port; it only shapes the sidecar's local_app cluster, which a trace
            # never follows.
            service = attrs.evolve(
                service, proxy=attrs.evolve(proxy, local_service_port=service.port or 1)
            )
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", MeshgwWarning)
            try:
                out = translate(service, mesh, missing="warn")
            except MeshgwError as exc:
                return Translated({}, {}, (), error=str(exc))
        said = tuple(str(w.message) for w in caught if issubclass(w.category, MeshgwWarning))
        return Translated(
            {c["name"]: c for c in out["clusters"]},
            {a["cluster_name"]: a for a in out["endpoints"]},
            tuple(out["listeners"]),
            said,
        )

    def _catalog_with_agent(self) -> tuple[CatalogEntry, ...]:
        # Another datacenter's view sees the local agent's registrations as catalog
        # instances of the local datacenter.
        if self._agent_catalog is None:
            agent = tuple(_agent_entry(self.mesh, svc) for svc in self.mesh.services)
            self._agent_catalog = self.mesh.catalog + agent
        return self._agent_catalog

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


def _agent_entry(mesh: Mesh, svc: Service) -> CatalogEntry:
    return CatalogEntry(
        node=mesh.node_name or _DEFAULT_NODE,
        address=mesh.advertise_addr or _DEFAULT_ADDR,
        datacenter=mesh.datacenter,
        partition=svc.partition,
        service=svc,
        checks=svc.checks,
        source=svc.source,
    )


def _members(mesh: Mesh) -> Iterator[Member]:
    node = mesh.node_name or _DEFAULT_NODE
    local_ids: set[str] = set()
    for svc in mesh.services:
        if svc.kind not in _PROXY_KINDS:
            continue
        sid = svc.id or svc.name
        local_ids.add(sid)
        entry = _agent_entry(mesh, svc)
        yield Member(
            key=f"{mesh.datacenter}/{node}/{sid}",
            service=svc,
            datacenter=mesh.datacenter,
            node=node,
            node_address=entry.address,
            addresses=_addresses(entry),
            trust_domain=mesh.trust_domain,
            local=True,
            source=svc.source,
        )
    seen: set[str] = set()
    for entry in mesh.catalog:
        found = entry.service
        if found is None or found.kind not in _PROXY_KINDS or entry.peer_name:
            continue
        svc = found
        dc = entry.datacenter or mesh.datacenter
        sid = svc.id or svc.name
        if dc == mesh.datacenter and entry.node == node and sid in local_ids:
            continue  # the agent's own registration, already a member
        key = f"{dc}/{entry.node}/{sid}"
        if key in seen:
            continue
        seen.add(key)
        yield Member(
            key=key,
            service=svc,
            datacenter=dc,
            node=entry.node,
            node_address=entry.address,
            addresses=_addresses(entry),
            trust_domain=mesh.trust_domain,
            source=entry.source or svc.source,
        )


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
