"""What a mesh gateway needs from the mesh: :func:`plan_gateway`.

The plan is plain data, decided here with Consul's rules (``consul-output.md`` §2-4),
built once and frozen. First the base every scenario needs
(:class:`~meshgw._plan.gateway_base.GatewayBase`):

* **binds** -- one listener per bind: ``default`` (the service address), every tagged
  address with ``envoy_gateway_bind_tagged_addresses``, every
  ``envoy_gateway_bind_addresses`` entry; de-duplicated by address and port after
  sorting by name;
* **remote gateways** -- one per gateway key (another datacenter, or another admin
  partition of this one) with mesh gateway instances, with their WAN-preferred
  endpoints;
* **local services** -- every connect service with instances in the gateway's
  datacenter and partition, with their endpoints and service-resolver subsets.

Then each scenario plans its part from that base, in its own module: WAN federation of
servers (:mod:`meshgw._plan.wanfed`) and cluster peering -- exported and imported
services, the peering control plane and peer servers (:mod:`meshgw._plan.peering`).
Last, :func:`listener_chains` and :func:`gateway_clusters` compose the base and the
scenario parts into the Envoy :class:`~meshgw._envoy.listeners.ListenerSpec` and
:class:`~meshgw._envoy.clusters.ClusterSpec` values that :mod:`meshgw._envoy` turns into
dicts. A new scenario is a module with ``plan_x(base, mesh)`` and chain / cluster
functions of ``(base, part, ...)``, called from those two functions.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from meshgw import naming
from meshgw._envoy.clusters import ClusterSpec, Discovery
from meshgw._envoy.endpoints import Endpoint
from meshgw._envoy.listeners import FilterChainSpec, ListenerSpec
from meshgw._filters import compile_filter
from meshgw._plan.discovery import choose_discovery
from meshgw._plan.gateway_base import (
    DEFAULT_BIND,
    Bind,
    GatewayBase,
    LocalService,
    LocalSubset,
    RemoteGateway,
    remote_tcp_keepalive,
)
from meshgw._plan.peering import (
    PeeringPlan,
    control_plane_chains,
    exported_service_chains,
    peer_server_chains,
    peering_clusters,
    plan_peering,
)
from meshgw._plan.wanfed import (
    WanFederationPlan,
    local_server_chains,
    plan_wan_federation,
    remote_server_chains,
    server_clusters,
)
from meshgw._resolve.catalog import CatalogView, Instance, catalog_view
from meshgw._values import is_ip
from meshgw.errors import ParseError, TranslationError
from meshgw.model._options import GatewayOptions, gateway_options
from meshgw.model.common import ServiceAddress, ServiceKind
from meshgw.model.entries import ServiceResolver
from meshgw.model.mesh import Mesh
from meshgw.model.registration import Service

__all__ = [
    "GatewayPlan",
    "catch_all_chain",
    "gateway_binds",
    "gateway_clusters",
    "gateway_config",
    "listener_chains",
    "local_service_clusters",
    "plan_base",
    "plan_gateway",
    "remote_datacenter_chains",
    "remote_gateway_clusters",
]

_ANY_ADDRESS = "0.0.0.0"
_DEFAULT = "default"


@attrs.frozen
class GatewayPlan:
    """Everything :func:`meshgw.translate` emits for one mesh gateway, built once by
    :func:`plan_gateway`: the base every scenario plans from, each scenario's part
    (``None`` when the gateway has no part in it) and the Envoy listeners and clusters
    composed from them."""

    base: GatewayBase
    wan_federation: WanFederationPlan | None
    peering: PeeringPlan | None
    listeners: tuple[ListenerSpec, ...]
    clusters: tuple[ClusterSpec, ...]

    @property
    def owner(self) -> str:
        """How messages name the gateway."""
        service = self.base.service
        return f"mesh gateway {service.id or service.name!r}"

    @property
    def warnings(self) -> tuple[str, ...]:
        """Warnings to emit with the result (a gateway has none)."""
        return ()


# --------------------------------------------------------------------------- options


def gateway_config(service: Service, mesh: Mesh) -> dict[str, Any]:
    """The gateway's ``proxy.config``: its partition's ``proxy-defaults`` config with the
    registration's keys on top (registration keys win)."""
    partition = service.partition or mesh.partition or _DEFAULT
    defaults = mesh.proxy_defaults(partition)
    merged: dict[str, Any] = dict(defaults.config) if defaults is not None else {}
    if service.proxy is not None:
        merged.update(service.proxy.config)
    return merged


def gateway_binds(service: Service, options: GatewayOptions) -> tuple[Bind, ...]:
    """The gateway's binds, in name order (Consul's ``listenersFromSnapshotGateway``).

    Later sources replace earlier ones of the same name (default, then tagged addresses,
    then bind addresses); then, in name order, a bind whose address and port an earlier
    one already uses is dropped. An empty address binds ``0.0.0.0``; a tagged address
    without a port binds the service port. Tagged addresses that are DNS names are
    skipped (Envoy can only bind IP addresses); an explicit bind or a service address
    that is not an IP is a :class:`~meshgw.errors.TranslationError`.
    """
    candidates: dict[str, ServiceAddress] = {}
    if not options.no_default_bind:
        if service.port < 1:
            raise TranslationError(
                f"mesh gateway {service.id or service.name!r} has no port to listen on "
                "(set port, or envoy_gateway_no_default_bind with other binds)"
            )
        address = service.address or _ANY_ADDRESS
        _require_ip(address, f"the address of mesh gateway {service.id or service.name!r}")
        candidates[DEFAULT_BIND] = ServiceAddress(address, service.port)
    if options.bind_tagged_addresses:
        for name, tagged in service.tagged_addresses.items():
            address = tagged.address or _ANY_ADDRESS
            if not is_ip(address):
                continue  # a DNS name (e.g. a load balancer's) cannot be bound
            candidates[name] = ServiceAddress(address, tagged.port or service.port)
    for name, bind in options.bind_addresses.items():
        _require_ip(bind.address, f"envoy_gateway_bind_addresses.{name}")
        candidates[name] = bind
    binds: list[Bind] = []
    seen: set[tuple[str, int]] = set()
    for name in sorted(candidates):
        addr = candidates[name]
        where = (_canonical_ip(addr.address), addr.port)
        if where in seen:
            continue
        seen.add(where)
        binds.append(Bind(name, addr.address, addr.port))
    return tuple(binds)


def _require_ip(address: str, what: str) -> None:
    if not is_ip(address):
        raise TranslationError(
            f"{what} is {address!r}, which is not an IP address; Envoy can only listen on "
            "IP addresses"
        )


def _canonical_ip(address: str) -> str:
    # "::1" and "0:0::1" are the same socket; compare them as one.
    if ":" in address:
        try:
            return ipaddress.ip_address(address).compressed
        except ValueError:
            return address
    return address


# --------------------------------------------------------------------------- endpoints


def _wan_endpoints(instances: Sequence[Instance]) -> tuple[Endpoint, ...]:
    """Endpoints at Consul's ``BestAddress(wan=True)``."""
    out: list[Endpoint] = []
    for inst in instances:
        addr = inst.entry.best_address(True)
        out.append(Endpoint(addr.address, addr.port, inst.health, inst.weight))
    _require_addresses(out, instances)
    return tuple(out)


def _lan_endpoints(instances: Sequence[Instance]) -> tuple[Endpoint, ...]:
    """Endpoints at Consul's ``BestAddress(wan=False)``: the service address, else the
    node address, and the service port (inlined: this runs once per local instance)."""
    out = [
        Endpoint(
            inst.service.address or inst.entry.address, inst.service.port, inst.health, inst.weight
        )
        for inst in instances
    ]
    _require_addresses(out, instances)
    return tuple(out)


def _require_addresses(endpoints: Sequence[Endpoint], instances: Sequence[Instance]) -> None:
    # The loaders require node addresses; a Mesh built in code may lack them, and Envoy
    # rejects an endpoint without an address.
    if all([ep.address for ep in endpoints]):
        return
    inst = next(i for ep, i in zip(endpoints, instances, strict=True) if not ep.address)
    raise TranslationError(
        f"instance {inst.service.id or inst.service.name!r} on node {inst.entry.node!r} "
        f"({inst.datacenter}) has no address: set the service or node address"
    )


# --------------------------------------------------------------------------- remote


def _remote_gateways(
    view: CatalogView, datacenter: str, partition: str, trust_domain: str
) -> tuple[RemoteGateway, ...]:
    out: list[RemoteGateway] = []
    for dc, ap in view.gateway_locations():  # sorted by datacenter, then partition
        if dc == datacenter:
            if ap == partition:
                continue  # the gateway's own key
        elif partition != _DEFAULT or ap != _DEFAULT:
            # Consul routes between datacenters only in the default partition.
            continue
        instances = view.gateways(dc, ap)
        out.append(
            RemoteGateway(
                datacenter=dc,
                partition=ap,
                key=naming.gateway_key(dc, ap),
                sni=naming.gateway_sni(dc, ap, trust_domain),
                instances=instances,
                # Another key is always reached at its WAN-preferred address.
                endpoints=_wan_endpoints(instances),
            )
        )
    return tuple(out)


# --------------------------------------------------------------------------- local


def _local_services(
    view: CatalogView, mesh: Mesh, datacenter: str, partition: str, options: GatewayOptions
) -> tuple[LocalService, ...]:
    default_timeout = naming.ms_duration(options.connect_timeout_ms)
    trust_domain = mesh.trust_domain
    out: list[LocalService] = []
    for namespace, name in view.connect_services(datacenter, partition):
        instances = view.connect_instances(datacenter, partition, namespace, name)
        resolver = mesh.service_resolver(name, partition)
        cluster = naming.service_sni(name, namespace, partition, datacenter, trust_domain)
        subsets: list[LocalSubset] = []
        endpoints = _lan_endpoints(instances)
        has_hostnames = not all(map(is_ip, [ep.address for ep in endpoints]))
        timeout = default_timeout
        lb_policy, choice_count = "", 0
        if resolver is not None:
            if resolver.connect_timeout is not None and resolver.connect_timeout > 0:
                timeout = naming.ns_duration(resolver.connect_timeout)
            lb_policy, choice_count = _load_balancer(resolver)
            subsets = _subsets(
                resolver, instances, endpoints, name, namespace, partition, datacenter, trust_domain
            )
            if resolver.default_subset:
                chosen = next((s for s in subsets if s.name == resolver.default_subset), None)
                if chosen is None:
                    raise TranslationError(
                        f"service-resolver {resolver.name!r}: DefaultSubset "
                        f"{resolver.default_subset!r} is not one of its subsets "
                        f"({', '.join(s.name for s in subsets) or 'none'})"
                    )
                endpoints = chosen.endpoints
        out.append(
            LocalService(
                name=name,
                namespace=namespace,
                partition=partition,
                cluster=cluster,
                instances=instances,
                endpoints=endpoints,
                subsets=tuple(subsets),
                resolver=resolver,
                connect_timeout=timeout,
                lb_policy=lb_policy,
                least_request_choice_count=choice_count,
                has_hostnames=has_hostnames,
            )
        )
    return tuple(out)


def _subsets(
    resolver: ServiceResolver,
    instances: Sequence[Instance],
    endpoints: Sequence[Endpoint],
    name: str,
    namespace: str,
    partition: str,
    datacenter: str,
    trust_domain: str,
) -> list[LocalSubset]:
    """The resolver's subsets (sorted by name) with the instances their filters select.

    ``endpoints`` are the instances' endpoints (same order), reused so that a subset
    only builds an endpoint when ``OnlyPassing`` changes its health.
    """
    if not resolver.subsets:
        return []
    contexts: list[Mapping[str, Any]] | None = None
    out: list[LocalSubset] = []
    for subset_name in sorted(resolver.subsets):
        subset = resolver.subsets[subset_name]
        chosen: Sequence[int] = range(len(instances))
        if subset.filter:
            try:
                matches = compile_filter(subset.filter).matches
            except ParseError as exc:
                raise TranslationError(
                    f"service-resolver {resolver.name!r} subset {subset_name!r}: cannot "
                    f"evaluate filter {subset.filter!r}: {exc.reason}"
                ) from None
            if contexts is None:  # once per service, and only when a filter needs them
                contexts = [inst.filter_view() for inst in instances]
            chosen = [i for i, ctx in enumerate(contexts) if matches(ctx)]
        if subset.only_passing:
            selected = tuple(
                [_with_health(endpoints[i], instances[i].passing_health) for i in chosen]
            )
        else:
            selected = tuple([endpoints[i] for i in chosen])
        out.append(
            LocalSubset(
                name=subset_name,
                filter=subset.filter,
                only_passing=subset.only_passing,
                cluster=naming.service_sni(
                    name, namespace, partition, datacenter, trust_domain, subset=subset_name
                ),
                endpoints=selected,
            )
        )
    return out


def _with_health(endpoint: Endpoint, health: str) -> Endpoint:
    return endpoint if endpoint.health == health else endpoint._replace(health=health)


# Mesh gateways do not hash (ring_hash, maglev): they cannot see the L7 data a hash
# policy needs.
_LB_POLICIES = {"round_robin": "ROUND_ROBIN", "random": "RANDOM", "least_request": "LEAST_REQUEST"}


def _load_balancer(resolver: ServiceResolver) -> tuple[str, int]:
    """``(Envoy lb_policy, least-request choice count)`` for a resolver, as Consul's
    ``injectLBToCluster`` on mesh gateways (hash policies are dropped). Loading checked
    the policy and the choice count; a Mesh built in code with other values gets Envoy's
    defaults, as from Consul, which ignores what it cannot decode."""
    lb = resolver.load_balancer
    if lb is None:
        return "", 0
    envoy_policy = _LB_POLICIES.get(lb.policy.lower(), "")
    if envoy_policy != "LEAST_REQUEST":
        return envoy_policy, 0
    try:
        return envoy_policy, lb.least_request_choice_count()
    except ValueError:
        return envoy_policy, 0


# --------------------------------------------------------------------------- chains


def _wildcard(sni: str) -> str:
    # Every service SNI of a datacenter ends in its gateway SNI.
    return f"*.{sni}"


def remote_datacenter_chains(base: GatewayBase, bind: Bind) -> list[FilterChainSpec]:
    """One chain per remote gateway key: ``*.<gateway SNI>`` → that key's cluster."""
    return [
        FilterChainSpec(
            stat_prefix=naming.mesh_gateway_remote_stat_prefix(
                bind.name, remote.datacenter, remote.partition
            ),
            cluster=remote.sni,
            server_names=(_wildcard(remote.sni),),
        )
        for remote in base.remote_gateways
    ]


def catch_all_chain(bind: Bind) -> FilterChainSpec:
    """The last chain: no match, ``sni_cluster`` picks the cluster named by the SNI
    (local services and their subsets)."""
    return FilterChainSpec(
        stat_prefix=naming.mesh_gateway_local_stat_prefix(bind.name), cluster="", sni_cluster=True
    )


def listener_chains(
    base: GatewayBase,
    wan_federation: WanFederationPlan | None,
    peering: PeeringPlan | None,
    bind: Bind,
) -> tuple[FilterChainSpec, ...]:
    """The filter chains of one bind's listener, in Consul's match order
    (consul-output.md §2.2); a scenario the gateway has no part in adds none."""
    chains: list[FilterChainSpec] = []
    if peering is not None:  # 1. services exported to peers (peered SNIs -> exported~)
        chains += exported_service_chains(base, peering, bind)
    chains += remote_datacenter_chains(base, bind)  # 2. remote datacenters / partitions
    if wan_federation is not None:
        # 3. remote servers (*.server.<dc>.<domain>); 4. local servers (<node>.server...)
        chains += remote_server_chains(base, wan_federation, bind)
        chains += local_server_chains(base, wan_federation, bind)
    if peering is not None:
        # 5. peering control plane (server.<dc>.peering.<td>); 6. peer servers, sorted
        chains += control_plane_chains(base, peering, bind)
        chains += peer_server_chains(base, peering, bind)
    chains.append(catch_all_chain(bind))  # 7. sni_cluster: local services and subsets
    return tuple(chains)


# --------------------------------------------------------------------------- clusters


def remote_gateway_clusters(base: GatewayBase) -> list[ClusterSpec]:
    """One cluster per remote gateway key: EDS, or DNS for hostname gateways; TCP
    keepalive when enabled."""
    options = base.options
    keepalive = remote_tcp_keepalive(options)
    timeout = naming.ms_duration(options.connect_timeout_ms)
    out: list[ClusterSpec] = []
    for remote in base.remote_gateways:
        discovery, endpoints = choose_discovery(remote.endpoints, options.dns_discovery_type)
        out.append(
            ClusterSpec(
                name=remote.sni,
                connect_timeout=timeout,
                endpoints=endpoints,
                discovery=discovery,
                tcp_keepalive=keepalive,
            )
        )
    return out


def local_service_clusters(base: GatewayBase) -> list[ClusterSpec]:
    """One cluster per local service and one per resolver subset."""
    dns_type = base.options.dns_discovery_type
    out: list[ClusterSpec] = []
    for svc in base.local_services:
        for cluster, endpoints in (
            (svc.cluster, svc.endpoints),
            *((s.cluster, s.endpoints) for s in svc.subsets),
        ):
            discovery: Discovery = "EDS"
            if svc.has_hostnames:  # else every cluster of it is EDS: no need to look
                discovery, endpoints = choose_discovery(endpoints, dns_type)
            out.append(
                ClusterSpec(
                    name=cluster,
                    connect_timeout=svc.connect_timeout,
                    endpoints=endpoints,
                    discovery=discovery,
                    lb_policy=svc.lb_policy,
                    least_request_choice_count=svc.least_request_choice_count,
                )
            )
    return out


def gateway_clusters(
    base: GatewayBase, wan_federation: WanFederationPlan | None, peering: PeeringPlan | None
) -> tuple[ClusterSpec, ...]:
    """Every cluster of the gateway (their order does not matter: output is sorted)."""
    clusters = [*remote_gateway_clusters(base), *local_service_clusters(base)]
    if wan_federation is not None:
        clusters += server_clusters(base, wan_federation)
    if peering is not None:  # exported~, imported, peering control plane, peer servers
        clusters += peering_clusters(base, peering)
    return tuple(clusters)


# --------------------------------------------------------------------------- the plan


def plan_gateway(service: Service, mesh: Mesh, *, view: CatalogView | None = None) -> GatewayPlan:
    """Decide what the mesh gateway ``service`` needs from ``mesh``.

    ``view`` is a :func:`~meshgw._resolve.catalog.catalog_view` of ``mesh``, taken here when not
    given. Raises :class:`~meshgw.errors.TranslationError` for a registration that is not
    a mesh gateway, an address Envoy cannot listen on, a resolver subset filter that
    cannot be evaluated, a default subset that is not a subset, what
    :func:`~meshgw._plan.wanfed.plan_wan_federation` and
    :func:`~meshgw._plan.peering.plan_peering` reject, or two filter chains of a
    listener matching the same SNI (Envoy would reject the listener).
    """
    if service.kind != ServiceKind.MESH_GATEWAY:
        raise TranslationError(
            f"{service.id or service.name!r} is not a mesh gateway (kind {str(service.kind)!r})"
        )
    if view is None:
        view = catalog_view(mesh)
    base = plan_base(service, mesh, view)
    # Each scenario plans its own part from the finished base (None: no part in it).
    wan_federation = plan_wan_federation(base, mesh)
    peering = plan_peering(base, mesh)
    listeners = tuple(
        ListenerSpec(
            name=bind.listener_name,
            address=bind.address,
            port=bind.port,
            filter_chains=listener_chains(base, wan_federation, peering, bind),
        )
        for bind in base.binds
    )
    for listener in listeners:
        _require_distinct_matches(service, listener)
    return GatewayPlan(
        base=base,
        wan_federation=wan_federation,
        peering=peering,
        listeners=listeners,
        clusters=gateway_clusters(base, wan_federation, peering),
    )


def plan_base(service: Service, mesh: Mesh, view: CatalogView) -> GatewayBase:
    """The gateway's :class:`GatewayBase`: options, binds, remote gateway keys and local
    services."""
    options = gateway_options(gateway_config(service, mesh))
    datacenter = mesh.datacenter
    partition = service.partition or mesh.partition or _DEFAULT
    return GatewayBase(
        service=service,
        datacenter=datacenter,
        partition=partition,
        trust_domain=mesh.trust_domain,
        options=options,
        binds=gateway_binds(service, options),
        remote_gateways=_remote_gateways(view, datacenter, partition, mesh.trust_domain),
        local_services=_local_services(view, mesh, datacenter, partition, options),
    )


def _require_distinct_matches(service: Service, listener: ListenerSpec) -> None:
    """Envoy rejects a listener whose filter chains match one SNI twice; say which."""
    owners: dict[str, str] = {}
    for chain in listener.filter_chains:
        for name in chain.server_names:
            other = owners.get(name)
            if other is not None:
                raise TranslationError(
                    f"mesh gateway {service.id or service.name!r}: two filter chains of "
                    f"listener {listener.name!r} match SNI {name!r} ({other} and "
                    f"{chain.stat_prefix}); Envoy would reject the listener"
                )
            owners[name] = chain.stat_prefix
