"""Cluster peering on a mesh gateway: service traffic and control-plane traffic.

What a mesh gateway does for cluster peers (``consul-output.md`` §2.2 chains 1, 5 and 6,
§3.2 items 3, 5, 6 and 7, §4.4), planned by :func:`plan_peering` into a
:class:`PeeringPlan`:

* **services exported to peers** -- each local service that the partition's
  ``exported-services`` entry exports to a ``Peer`` gets one filter chain matching the
  peered SNI every consuming peer dials (``<svc>.<ns>.<ap>.<peer>.external.<local td>``),
  which tcp-proxies to an ``exported~<target SNI>`` cluster built like a sidecar's
  discovery-chain cluster, with the local target's instances as endpoints;
* **services imported from peers** -- for each peer of the gateway's partition and each
  service it exports to us, a cluster named by the SNI that local sidecars in mode
  ``local`` send (the peer's PrimarySNI), whose endpoints are the peer's mesh gateways;
  it is reached through the catch-all ``sni_cluster`` chain, so it adds no chain;
* **peering control plane** (the partition's ``mesh`` entry sets
  ``Peering.PeerThroughMeshGateways``) -- an exact-SNI chain
  ``server.<dc>.peering.<td>`` to this datacenter's servers (read replicas excluded) on
  their ``grpc_tls_port``, and one exact-SNI chain per peer server name to the addresses
  of the peer's servers (the dialing side of a peering).

HTTP-like exports (protocol ``http``, ``http2`` or ``grpc``), for which Consul's gateway
terminates TLS with its own certificate and routes with an HTTP connection manager, are
not translated: they raise :class:`~meshgw.errors.TranslationError`.

Planned from the gateway's :class:`~meshgw._plan.gateway_base.GatewayBase`; the chain
and cluster functions here are called by the gateway plan only when there is a peering
part, so a gateway without peers pays nothing for them.
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs

from meshgw import naming
from meshgw._envoy.clusters import ClusterSpec, Discovery
from meshgw._envoy.endpoints import Endpoint
from meshgw._envoy.listeners import FilterChainSpec
from meshgw._plan.chaincluster import discovery_chain_cluster
from meshgw._plan.discovery import choose_discovery
from meshgw._plan.gateway_base import (
    Bind,
    GatewayBase,
    LocalService,
    parse_host_port,
    remote_tcp_keepalive,
)
from meshgw._resolve.catalog import HEALTHY, consul_servers
from meshgw._resolve.chain import ChainTarget, chain_protocol, compile_chain
from meshgw.errors import TranslationError
from meshgw.model.entries import ExportedServices
from meshgw.model.mesh import Mesh, Peer
from meshgw.model.registration import Service

__all__ = [
    "GRPC_TLS_PORT_META",
    "HTTP_PROTOCOLS",
    "READ_REPLICA_META",
    "PeerExport",
    "PeerImport",
    "PeerServers",
    "PeeringPlan",
    "control_plane_chains",
    "exported_service_chains",
    "parse_host_port",
    "peer_server_chains",
    "peering_clusters",
    "plan_peering",
    "remote_tcp_keepalive",
]

#: Server meta naming the gRPC TLS port that peers dial (servers without it are skipped).
GRPC_TLS_PORT_META = "grpc_tls_port"
#: Server meta marking a read replica (``"true"``), which never handles peering requests.
READ_REPLICA_META = "read_replica"
#: Protocols for which Consul's gateway terminates TLS of exported services.
HTTP_PROTOCOLS = frozenset({"http", "http2", "grpc"})

_DEFAULT = "default"
_WILDCARD = "*"
_TCP_PROTOCOLS = frozenset({"", "tcp"})


@attrs.frozen
class PeerExport:
    """A local service exported to cluster peers, as the gateway serves it.

    ``peers`` are the consuming peers (sorted, this cluster's names for them) and
    ``server_names`` the peered SNI each of them dials. ``target`` is the service's
    discovery-chain target in this datacenter and partition; ``cluster`` is
    ``exported~<target SNI>`` and ``endpoints`` the target's instances.
    """

    service: str
    namespace: str
    partition: str
    datacenter: str
    peers: tuple[str, ...]
    server_names: tuple[str, ...]
    target: ChainTarget
    cluster: str
    connect_timeout: str
    endpoints: tuple[Endpoint, ...]
    discovery: Discovery = "EDS"
    lb_policy: str = ""
    least_request_choice_count: int = 0


@attrs.frozen
class PeerImport:
    """A service a peer exports to this cluster, reached through the peer's gateways.

    ``cluster`` is the SNI a local sidecar sends for it in mode ``local`` (the peer's
    PrimarySNI, ``<svc>.<ns>.<peer partition>.<peer's name for us>.external.<peer td>``).
    """

    peer: str
    service: str
    namespace: str
    cluster: str
    endpoints: tuple[Endpoint, ...]
    discovery: Discovery = "EDS"


@attrs.frozen
class PeerServers:
    """The servers of a peer this cluster dials, by the peer's server name.

    ``peers`` are the peerings (of any partition) that share the name.
    """

    server_name: str
    peers: tuple[str, ...]
    endpoints: tuple[Endpoint, ...]
    discovery: Discovery = "EDS"


@attrs.frozen
class PeeringPlan:
    """The peering part of a gateway's plan.

    ``local_servers_cluster`` is ``server.<dc>.peering.<td>`` when the control plane goes
    through mesh gateways and this datacenter has a server that is not a read replica,
    else ``""`` (then there is no such chain or cluster).
    """

    exports: tuple[PeerExport, ...] = ()
    imports: tuple[PeerImport, ...] = ()
    through_mesh_gateways: bool = False
    local_servers_cluster: str = ""
    local_server_endpoints: tuple[Endpoint, ...] = ()
    peer_servers: tuple[PeerServers, ...] = ()


# --------------------------------------------------------------------------- helpers


# --------------------------------------------------------------------------- exports


def _exported_to_peers(
    entry: ExportedServices, local: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], set[str]]:
    """``(namespace, service)`` → consuming peer names, for local services the entry
    exports to at least one peer. ``*`` as a name (or namespace) exports every local
    service of the namespace (of every namespace)."""
    local_keys = sorted(local)
    out: dict[tuple[str, str], set[str]] = {}
    for exported in entry.services:
        peers: set[str] = set()
        for consumer in exported.consumers:
            if consumer.sameness_group:
                raise TranslationError(
                    f"exported-services {entry.name!r}: service {exported.name!r} is "
                    f"exported to sameness group {consumer.sameness_group!r}; meshgw does "
                    "not model sameness groups: list the consuming peers (Peer = ...) instead"
                )
            if consumer.peer:
                peers.add(consumer.peer)
            # Partition consumers need nothing from a mesh gateway beyond its catch-all.
        if not peers:
            continue
        namespace = exported.namespace or _DEFAULT
        if exported.name == _WILDCARD or namespace == _WILDCARD:
            keys = [
                (ns, name)
                for ns, name in local_keys
                if namespace in (_WILDCARD, ns) and exported.name in (_WILDCARD, name)
            ]
        else:
            keys = [(namespace, exported.name)]
        for key in keys:
            out.setdefault(key, set()).update(peers)
    return out


def _plan_exports(plan: GatewayBase, mesh: Mesh, entry: ExportedServices) -> list[PeerExport]:
    by_key = {(s.namespace, s.name): s for s in plan.local_services}
    exported = _exported_to_peers(entry, by_key)
    dns_type = plan.options.dns_discovery_type
    out: list[PeerExport] = []
    for namespace, name in sorted(exported):  # Consul: sorted by namespace, then name
        if (namespace, name) not in by_key:
            continue  # Consul: a service without instances here is not served
        protocol = chain_protocol(mesh, name, plan.partition)
        if protocol in HTTP_PROTOCOLS:
            raise TranslationError(
                f"service {name!r} is exported to peers with protocol {protocol!r}: for "
                "HTTP-like exports Consul's mesh gateway terminates TLS with its own "
                "certificate and routes by HTTP, which meshgw does not translate yet "
                "(export it with protocol tcp, or leave it out of the exported-services "
                "entry)"
            )
        if protocol not in _TCP_PROTOCOLS:
            raise TranslationError(
                f"service {name!r} has unknown protocol {protocol!r} (expected tcp, http, "
                "http2 or grpc)"
            )
        chain = compile_chain(
            mesh, name, namespace=namespace, partition=plan.partition, datacenter=plan.datacenter
        )
        target = chain.primary
        if target.peer or (target.datacenter, target.partition) != (
            plan.datacenter,
            plan.partition,
        ):
            raise TranslationError(
                f"service {name!r} is exported to peers, but its service-resolver sends it "
                f"to {target}: a mesh gateway only serves peers from its own datacenter "
                "and partition (Consul would point the chain at a cluster it never builds)"
            )
        service = by_key.get((target.namespace, target.service))
        endpoints, discovery = _target_endpoints(service, target, dns_type)
        peers = tuple(sorted(exported[(namespace, name)]))
        out.append(
            PeerExport(
                service=name,
                namespace=namespace,
                partition=plan.partition,
                datacenter=plan.datacenter,
                peers=peers,
                server_names=tuple(
                    naming.peered_service_sni(
                        name, namespace, plan.partition, peer, plan.trust_domain
                    )
                    for peer in peers
                ),
                target=target,
                cluster=naming.exported_cluster_name(
                    naming.service_sni(
                        target.service,
                        target.namespace,
                        target.partition,
                        target.datacenter,
                        plan.trust_domain,
                        subset=target.subset,
                    )
                ),
                connect_timeout=naming.ns_duration(chain.connect_timeout_ns),
                endpoints=endpoints,
                discovery=discovery,
                lb_policy=service.lb_policy if service is not None else "",
                least_request_choice_count=(
                    service.least_request_choice_count if service is not None else 0
                ),
            )
        )
    return out


def _target_endpoints(
    service: LocalService | None, target: ChainTarget, dns_type: str
) -> tuple[tuple[Endpoint, ...], Discovery]:
    """The local target's instances, as the gateway's own cluster for it has them."""
    if service is None:
        return (), "EDS"  # redirected to a service without instances here
    if target.subset:
        # compile_chain checked that the resolver defines the subset (a DefaultSubset
        # included: the chain's target names it).
        endpoints = next(s.endpoints for s in service.subsets if s.name == target.subset)
    else:
        endpoints = service.endpoints
    if not service.has_hostnames:
        return endpoints, "EDS"
    discovery, endpoints = choose_discovery(endpoints, dns_type)
    return endpoints, discovery


# --------------------------------------------------------------------------- imports


def _plan_imports(plan: GatewayBase, mesh: Mesh) -> list[PeerImport]:
    dns_type = plan.options.dns_discovery_type
    out: list[PeerImport] = []
    seen: set[str] = set()
    for peer in mesh.peers:
        # Peerings belong to a partition; a gateway serves those of its own.
        if (peer.partition or _DEFAULT) != plan.partition or not peer.services:
            continue
        if not peer.trust_domain:
            raise TranslationError(
                f"peer {peer.name!r} exports services to this cluster but has no "
                "trust_domain (needed for their SNI)"
            )
        endpoints, discovery = _peer_gateway_endpoints(peer, dns_type)
        for exported in peer.services:
            namespace = exported.namespace or _DEFAULT
            # Exactly what a local sidecar sends in mode local (meshgw.sidecar).
            cluster = naming.peered_service_sni(
                exported.name,
                namespace,
                peer.remote_partition or _DEFAULT,
                peer.remote_name or plan.datacenter,
                peer.trust_domain,
            )
            if cluster in seen:
                continue  # the same service listed twice
            seen.add(cluster)
            out.append(
                PeerImport(
                    peer=peer.name,
                    service=exported.name,
                    namespace=namespace,
                    cluster=cluster,
                    endpoints=endpoints,
                    discovery=discovery,
                )
            )
    return out


def _peer_gateway_endpoints(peer: Peer, dns_type: str) -> tuple[tuple[Endpoint, ...], Discovery]:
    if not peer.gateways:
        raise TranslationError(
            f"peer {peer.name!r} exports services to this cluster but lists no gateways: "
            "add the peer's mesh gateways (their WAN addresses) to its gateways"
        )
    for gw in peer.gateways:
        if not gw.address or not 0 < gw.port < 65536:
            raise TranslationError(
                f"peer {peer.name!r}: gateway {gw.address or '(no address)'}:{gw.port} "
                "needs an address and a port between 1 and 65535"
            )
    # Consul: the peer's service instances at their WAN address, healthy unless the
    # replicated checks say otherwise; meshgw knows no checks of a peer.
    endpoints = [Endpoint(gw.address, gw.port, HEALTHY, 1) for gw in peer.gateways]
    discovery, chosen = choose_discovery(endpoints, dns_type)
    return chosen, discovery


# --------------------------------------------------------------------------- control plane


def _is_read_replica(server: Service) -> bool:
    # Consul compares with the exact string "true".
    return server.meta.get(READ_REPLICA_META) == "true"


def _grpc_tls_port(server: Service) -> int:
    """The server's gRPC TLS port, or 0 when it has none or not a usable number."""
    text = server.meta.get(GRPC_TLS_PORT_META, "")
    if text.isdigit() and 0 < int(text) < 65536:
        return int(text)
    return 0


def _plan_local_servers(plan: GatewayBase, mesh: Mesh) -> tuple[str, tuple[Endpoint, ...]]:
    """``(cluster, endpoints)`` of this datacenter's servers for peers, ``("", ())``
    when every server is a read replica (or none is known)."""
    voters = [
        entry
        for entry in consul_servers(mesh, plan.datacenter)
        if entry.service is not None and not _is_read_replica(entry.service)
    ]
    if not voters:
        return "", ()  # Consul: only Raft voters handle peering; no chain without them
    endpoints: list[Endpoint] = []
    for entry in voters:
        assert entry.service is not None  # filtered above
        port = _grpc_tls_port(entry.service)
        if not port:
            continue  # Consul: no (numeric) grpc_tls_port, no peering; plain grpc_port is not TLS
        address = entry.best_address(False).address  # LAN: the gateway is next to it
        if not address:
            raise TranslationError(
                f"Consul server on node {entry.node!r} has no address: set the node address"
            )
        endpoints.append(Endpoint(address, port))
    cluster = naming.peering_server_sni(plan.datacenter, plan.trust_domain)
    if not endpoints:
        raise TranslationError(
            f"the mesh entry sets Peering.PeerThroughMeshGateways, but no Consul server of "
            f"{plan.datacenter} that is not a read replica has a numeric "
            f"{GRPC_TLS_PORT_META!r} meta (servers: "
            f"{', '.join(e.node for e in voters)}); without one the {cluster!r} cluster "
            "would have no endpoints"
        )
    return cluster, tuple(endpoints)


def _plan_peer_servers(plan: GatewayBase, mesh: Mesh, local_sni: str) -> list[PeerServers]:
    """One entry per peer server name of the peerings this cluster dials (those with
    ``server_addresses``), of every partition: the control plane is cluster-wide."""
    dns_type = plan.options.dns_discovery_type
    found: dict[str, tuple[list[str], tuple[Endpoint, ...]]] = {}
    for peer in mesh.peers:
        if not peer.server_addresses:
            continue  # the accepting side of a peering dials nothing
        name = peer.server_name
        if not name:
            raise TranslationError(
                f"peer {peer.name!r} lists server_addresses but no server_name (the SNI "
                "its servers answer to, server.<dc>.peering.<trust domain>)"
            )
        if name == local_sni:
            raise TranslationError(
                f"peer {peer.name!r}: server_name {name!r} is this cluster's own peering "
                "server name; a gateway cannot route one name both ways"
            )
        # Consul sorts the addresses as strings before reading them.
        endpoints = tuple(
            Endpoint(*parse_host_port(address, f"peer {peer.name!r} server_addresses"))
            for address in sorted(set(peer.server_addresses))
        )
        known = found.get(name)
        if known is None:
            found[name] = ([peer.name], endpoints)
        elif known[1] == endpoints:
            known[0].append(peer.name)  # peerings of several partitions with one cluster
        else:
            raise TranslationError(
                f"peers {known[0][0]!r} and {peer.name!r} have the same server_name {name!r} "
                "with different server_addresses; Consul would keep the most recently "
                "modified peering, which meshgw cannot tell: make them agree"
            )
    out: list[PeerServers] = []
    for name in sorted(found):  # Consul sorts these chains by server name
        peers, endpoints = found[name]
        discovery, chosen = choose_discovery(endpoints, dns_type)
        out.append(PeerServers(name, tuple(peers), chosen, discovery))
    return out


# --------------------------------------------------------------------------- the plan


def plan_peering(plan: GatewayBase, mesh: Mesh) -> PeeringPlan | None:
    """The peering part of a gateway, planned from its base; ``None`` when the gateway
    has nothing to do for peers.

    Raises :class:`~meshgw.errors.TranslationError` for an HTTP-like export, an export
    whose resolver leaves the datacenter or partition, a sameness-group consumer, a peer
    that exports services without a trust domain or gateways, a bad server address,
    clashing peer server names, or a control plane whose voters have no gRPC TLS port.
    """
    exports: list[PeerExport] = []
    entry = mesh.exported_services(plan.partition)
    if entry is not None and entry.services:
        exports = _plan_exports(plan, mesh, entry)
    imports = _plan_imports(plan, mesh) if mesh.peers else []
    mesh_entry = mesh.mesh_entry(plan.partition)
    through = bool(
        mesh_entry is not None
        and mesh_entry.peering is not None
        and mesh_entry.peering.peer_through_mesh_gateways
    )
    local_cluster = ""
    local_endpoints: tuple[Endpoint, ...] = ()
    peer_servers: list[PeerServers] = []
    if through:
        local_cluster, local_endpoints = _plan_local_servers(plan, mesh)
        local_sni = naming.peering_server_sni(plan.datacenter, plan.trust_domain)
        peer_servers = _plan_peer_servers(plan, mesh, local_sni)
    if not (exports or imports or local_cluster or peer_servers):
        return None
    return PeeringPlan(
        exports=tuple(exports),
        imports=tuple(imports),
        through_mesh_gateways=through,
        local_servers_cluster=local_cluster,
        local_server_endpoints=local_endpoints,
        peer_servers=tuple(peer_servers),
    )


# --------------------------------------------------------------------------- providers


def exported_service_chains(
    base: GatewayBase, peering: PeeringPlan, bind: Bind
) -> list[FilterChainSpec]:
    """Chain 1: one per exported service, matching the peered SNI of each consumer."""
    return [
        FilterChainSpec(
            stat_prefix=naming.mesh_gateway_local_peered_stat_prefix(
                export.service, export.namespace, export.partition, export.datacenter
            ),
            cluster=export.cluster,
            server_names=export.server_names,
        )
        for export in peering.exports
    ]


def control_plane_chains(
    base: GatewayBase, peering: PeeringPlan, bind: Bind
) -> list[FilterChainSpec]:
    """Chain 5: ``server.<dc>.peering.<td>`` to this datacenter's servers."""
    if not peering.local_servers_cluster:
        return []
    return [
        FilterChainSpec(
            stat_prefix=naming.mesh_gateway_local_peering_server_stat_prefix(
                bind.name, base.datacenter
            ),
            cluster=peering.local_servers_cluster,
            server_names=(peering.local_servers_cluster,),
        )
    ]


def peer_server_chains(
    base: GatewayBase, peering: PeeringPlan, bind: Bind
) -> list[FilterChainSpec]:
    """Chain 6: one per peer server name (sorted) to that peer's servers."""
    return [
        FilterChainSpec(
            stat_prefix=naming.mesh_gateway_remote_peering_servers_stat_prefix(servers.server_name),
            cluster=servers.server_name,
            server_names=(servers.server_name,),
        )
        for servers in peering.peer_servers
    ]


def peering_clusters(base: GatewayBase, peering: PeeringPlan) -> list[ClusterSpec]:
    """The ``exported~`` clusters, the imported services' clusters, the local peering
    servers' cluster and the peer servers' clusters."""
    timeout = naming.ms_duration(base.options.connect_timeout_ms)
    keepalive = remote_tcp_keepalive(base.options)
    out = [
        # A discovery-chain cluster, as Consul builds a sidecar's upstream ones; no TLS:
        # the gateway passes TCP exports through without terminating them.
        discovery_chain_cluster(
            export.cluster,
            export.connect_timeout,
            export.endpoints,
            export.discovery,
            lb_policy=export.lb_policy,
            least_request_choice_count=export.least_request_choice_count,
        )
        for export in peering.exports
    ]
    out.extend(
        ClusterSpec(
            name=imported.cluster,
            connect_timeout=timeout,
            endpoints=imported.endpoints,
            discovery=imported.discovery,
            tcp_keepalive=keepalive,
        )
        for imported in peering.imports
    )
    if peering.local_servers_cluster:
        out.append(
            ClusterSpec(
                name=peering.local_servers_cluster,
                connect_timeout=timeout,
                endpoints=peering.local_server_endpoints,
            )
        )
    out.extend(
        ClusterSpec(
            name=servers.server_name,
            connect_timeout=timeout,
            endpoints=servers.endpoints,
            discovery=servers.discovery,
        )
        for servers in peering.peer_servers
    )
    return out
