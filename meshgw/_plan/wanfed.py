"""WAN federation of Consul servers through mesh gateways.

With ``connect { enable_mesh_gateway_wan_federation = true }`` Consul servers of
different datacenters talk to each other only through mesh gateways, routed by TLS SNI
(``consul-output.md`` §2.2 chains 3-4, §3.2 item 2, §4.4). A gateway takes part when it
is registered in the **default partition** with meta ``consul-wan-federation = "1"``
(what ``consul connect envoy -expose-servers`` registers). :func:`plan_wan_federation`
then plans, into a :class:`WanFederationPlan`:

* for every other datacenter with gateways, a chain ``*.server.<dc>.<domain>`` to cluster
  ``server.<dc>.<domain>``: that datacenter's gateways, exactly as its
  ``<dc>.internal.<td>`` cluster has them (hostname-aware, TCP keepalive);
* for every server of this datacenter (the catalog's ``consul`` instances), an exact
  chain ``<node>.server.<dc>.<domain>`` to an EDS cluster of the same name with that
  server's LAN address and server port;
* a cluster ``server.<dc>.<domain>`` listing every local server, which remote servers
  reach through the catch-all ``sni_cluster`` chain.

``<domain>`` is the agent's DNS domain (``Mesh.domain``, default ``consul``, trailing dot
dropped), not the trust domain.

**Before replication.** A secondary datacenter's servers first reach the primary through
``primary_gateways``. When the catalog has no gateway of the primary datacenter, meshgw
uses ``Mesh.primary_gateways`` as the primary's gateways for its server chain and cluster
(only for server traffic: service traffic to the primary needs its gateways in the
catalog).

Planned from the gateway's :class:`~meshgw._plan.gateway_base.GatewayBase`; the chain
and cluster functions here are called by the gateway plan only for a gateway that takes
part, so other gateways pay nothing for them.
"""

from __future__ import annotations

from typing import Literal

import attrs

from meshgw import naming
from meshgw._envoy.clusters import ClusterSpec, Discovery
from meshgw._envoy.endpoints import Endpoint
from meshgw._envoy.listeners import FilterChainSpec
from meshgw._plan.discovery import choose_discovery
from meshgw._plan.gateway_base import Bind, GatewayBase, parse_host_port, remote_tcp_keepalive
from meshgw._resolve.catalog import consul_servers
from meshgw.errors import TranslationError
from meshgw.model.mesh import Mesh

__all__ = [
    "WAN_FEDERATION_META",
    "LocalServer",
    "RemoteServers",
    "WanFederationPlan",
    "local_server_chains",
    "plan_wan_federation",
    "remote_server_chains",
    "server_clusters",
]

#: Gateway service meta that exposes the servers through the gateway (value ``"1"``).
WAN_FEDERATION_META = "consul-wan-federation"

_DEFAULT = "default"
# Node names that would give the "any server" SNI, not one server's.
_ANY_NODE = frozenset({"", "*"})


@attrs.frozen
class RemoteServers:
    """The servers of another datacenter, reached through its mesh gateways.

    ``source`` says where the gateways come from: the catalog (the same endpoints as the
    datacenter's gateway cluster) or ``primary_gateways``.
    """

    datacenter: str
    cluster: str
    endpoints: tuple[Endpoint, ...]
    discovery: Discovery = "EDS"
    source: Literal["catalog", "primary_gateways"] = "catalog"


@attrs.frozen
class LocalServer:
    """One server of this datacenter: its node, its cluster (and SNI)
    ``<node>.server.<dc>.<domain>`` and its LAN address and server port."""

    node: str
    cluster: str
    endpoint: Endpoint
    discovery: Discovery = "EDS"


@attrs.frozen
class WanFederationPlan:
    """The WAN-federation part of a gateway's plan.

    ``remote`` is sorted by datacenter; ``local`` is in catalog order. ``local_cluster``
    is ``server.<dc>.<domain>``, the cluster of every local server (``""`` when the
    catalog lists none).
    """

    domain: str
    remote: tuple[RemoteServers, ...] = ()
    local: tuple[LocalServer, ...] = ()
    local_cluster: str = ""
    local_endpoints: tuple[Endpoint, ...] = ()
    local_discovery: Discovery = "EDS"


def _takes_part(plan: GatewayBase) -> bool:
    # Consul exposes servers only through gateways of the default partition.
    return plan.partition == _DEFAULT and plan.service.meta.get(WAN_FEDERATION_META) == "1"


def _primary_servers(
    plan: GatewayBase, mesh: Mesh, known: set[str], dns_type: str
) -> RemoteServers | None:
    """The primary datacenter's servers through ``primary_gateways``, when the catalog
    has no gateway of the primary (else ``None``)."""
    if not mesh.primary_gateways:
        return None
    primary = mesh.primary_datacenter
    if not primary:
        raise TranslationError(
            "primary_gateways is set but primary_datacenter is not: name the primary "
            "datacenter whose gateways they are"
        )
    if primary == plan.datacenter:
        # Consul's agent refuses this configuration too.
        raise TranslationError(
            f"primary_gateways should only be configured in a secondary datacenter; "
            f"{plan.datacenter} is the primary"
        )
    if primary in known:
        return None  # the catalog's (replicated) gateways of the primary win
    addresses: dict[tuple[str, int], Endpoint] = {}
    for i, text in enumerate(mesh.primary_gateways):
        host, port = parse_host_port(text, f"primary_gateways[{i}]")
        # No health is known for these: Envoy takes them as healthy.
        addresses.setdefault((host, port), Endpoint(host, port))
    discovery, endpoints = choose_discovery(tuple(addresses.values()), dns_type)
    return RemoteServers(
        datacenter=primary,
        cluster=naming.server_sni(primary, mesh.domain),
        endpoints=endpoints,
        discovery=discovery,
        source="primary_gateways",
    )


def _local_servers(plan: GatewayBase, mesh: Mesh, dns_type: str) -> list[LocalServer]:
    out: list[LocalServer] = []
    seen: set[str] = set()
    for entry in consul_servers(mesh, plan.datacenter):
        node = entry.node
        if node in _ANY_NODE:
            raise TranslationError(
                f"a Consul server of {plan.datacenter} has node name {node!r}; server SNIs "
                "need a real node name"
            )
        if node in seen:
            raise TranslationError(
                f"node {node!r} has two Consul server instances in {plan.datacenter}; its "
                f"server name {naming.server_sni(plan.datacenter, mesh.domain, node)!r} "
                "can only route to one"
            )
        seen.add(node)
        # LAN: the gateway sits next to the servers of its own datacenter.
        address = entry.best_address(False)
        if not address.address:
            raise TranslationError(
                f"Consul server on node {node!r} has no address: set the node address"
            )
        if not 0 < address.port < 65536:
            raise TranslationError(
                f"Consul server on node {node!r}: the consul service has no port; set it to "
                "the server RPC port (8300 by default), which WAN-federated servers dial"
            )
        endpoint = Endpoint(address.address, address.port)
        discovery, _ = choose_discovery((endpoint,), dns_type)
        out.append(
            LocalServer(
                node=node,
                cluster=naming.server_sni(plan.datacenter, mesh.domain, node),
                endpoint=endpoint,
                discovery=discovery,
            )
        )
    return out


def plan_wan_federation(plan: GatewayBase, mesh: Mesh) -> WanFederationPlan | None:
    """The WAN-federation part of a gateway, planned from its base; ``None`` when the
    gateway does not expose servers.

    Raises :class:`~meshgw.errors.TranslationError` for ``primary_gateways`` in the
    primary datacenter (or without a ``primary_datacenter``) or unreadable, and for a
    local server without an address or port, or two on one node.
    """
    if not _takes_part(plan):
        return None
    domain = mesh.domain
    dns_type = plan.options.dns_discovery_type
    remote: list[RemoteServers] = []
    for gateways in plan.remote_gateways:
        if gateways.datacenter == plan.datacenter:
            continue  # another partition of this datacenter: no servers of its own
        discovery, endpoints = choose_discovery(gateways.endpoints, dns_type)
        remote.append(
            RemoteServers(
                datacenter=gateways.datacenter,
                cluster=naming.server_sni(gateways.datacenter, domain),
                endpoints=endpoints,
                discovery=discovery,
            )
        )
    primary = _primary_servers(plan, mesh, {r.datacenter for r in remote}, dns_type)
    if primary is not None:
        remote.append(primary)
        remote.sort(key=lambda r: r.datacenter)
    local = _local_servers(plan, mesh, dns_type)
    local_cluster = ""
    local_endpoints: tuple[Endpoint, ...] = ()
    local_discovery: Discovery = "EDS"
    if local:
        local_cluster = naming.server_sni(plan.datacenter, domain)
        local_discovery, local_endpoints = choose_discovery(
            tuple(server.endpoint for server in local), dns_type
        )
    return WanFederationPlan(
        domain=domain,
        remote=tuple(remote),
        local=tuple(local),
        local_cluster=local_cluster,
        local_endpoints=local_endpoints,
        local_discovery=local_discovery,
    )


# --------------------------------------------------------------------------- providers


def remote_server_chains(
    base: GatewayBase, wan: WanFederationPlan, bind: Bind
) -> list[FilterChainSpec]:
    """Chain 3: ``*.server.<dc>.<domain>`` → ``server.<dc>.<domain>`` per remote
    datacenter, with the stat prefix of that datacenter's gateway chain."""
    return [
        FilterChainSpec(
            stat_prefix=naming.mesh_gateway_remote_stat_prefix(bind.name, servers.datacenter),
            cluster=servers.cluster,
            server_names=(f"*.{servers.cluster}",),
        )
        for servers in wan.remote
    ]


def local_server_chains(
    base: GatewayBase, wan: WanFederationPlan, bind: Bind
) -> list[FilterChainSpec]:
    """Chain 4: ``<node>.server.<dc>.<domain>`` → the cluster of that name, per local
    server."""
    stat_prefix = naming.mesh_gateway_local_server_stat_prefix(bind.name, base.datacenter)
    return [
        FilterChainSpec(
            stat_prefix=stat_prefix, cluster=server.cluster, server_names=(server.cluster,)
        )
        for server in wan.local
    ]


def server_clusters(base: GatewayBase, wan: WanFederationPlan) -> list[ClusterSpec]:
    """``server.<dc>.<domain>`` per remote datacenter (with TCP keepalive when enabled),
    ``<node>.server.<dc>.<domain>`` per local server and ``server.<dc>.<domain>`` for all
    of them."""
    timeout = naming.ms_duration(base.options.connect_timeout_ms)
    keepalive = remote_tcp_keepalive(base.options)
    out = [
        ClusterSpec(
            name=servers.cluster,
            connect_timeout=timeout,
            endpoints=servers.endpoints,
            discovery=servers.discovery,
            tcp_keepalive=keepalive,
        )
        for servers in wan.remote
    ]
    out.extend(
        ClusterSpec(
            name=server.cluster,
            connect_timeout=timeout,
            endpoints=(server.endpoint,),
            discovery=server.discovery,
        )
        for server in wan.local
    )
    if wan.local_cluster:
        out.append(
            ClusterSpec(
                name=wan.local_cluster,
                connect_timeout=timeout,
                endpoints=wan.local_endpoints,
                discovery=wan.local_discovery,
            )
        )
    return out
