"""Sidecar proxies (``connect-proxy``): the Envoy clusters, listeners and endpoints Consul
would give them, with upstreams across datacenters reached as their mesh gateway mode says.

:func:`translate_sidecar` plans, then assembles:

* the **inbound** side: ``public_listener:<addr>:<port>`` (the destination's intentions as
  an RBAC filter (:mod:`meshgw._plan.rbac`), then ``tcp_proxy`` -- or an HTTP connection
  manager with the HTTP RBAC filter for ``http``/``http2``/``grpc`` -- to ``local_app``)
  and the ``local_app`` cluster;
* per **upstream**: a listener on its local bind address, the clusters of its discovery
  chain (:mod:`meshgw.chain`; one per target, behind an aggregate cluster when the
  resolver fails over) and their endpoints, chosen per target by the resolved mesh
  gateway mode (:mod:`meshgw.modes`): the target's instances (LAN address in the local
  datacenter, WAN-preferred elsewhere), the local datacenter's mesh gateways (LAN), or the
  target datacenter's / peer's mesh gateways (WAN).

docs/sidecar.md describes the output and where it deliberately differs from Consul.
"""

from __future__ import annotations

import functools
import json
import warnings
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import attrs

from meshgw._envoy.endpoints import Endpoint, cluster_load_assignment
from meshgw._envoy.rbac import (
    NETWORK_RBAC_FILTER,
    RbacPolicy,
    http_rbac_filter,
    network_rbac_filter,
)
from meshgw._envoy.resources import (
    AGGREGATE_CLUSTER_TYPE,
    HCM_TYPE,
    HTTP_PROTOCOL_OPTIONS_TYPE,
    ROUTER_TYPE,
    eds_config,
    socket_address,
    tcp_proxy_filter,
    typed,
)
from meshgw._envoy.tls import TlsContexts, TlsIdentity, uri_san_exact, uri_san_prefix
from meshgw._filters import compile_filter
from meshgw._plan.rbac import inbound_rbac
from meshgw._resolve import chain as chains
from meshgw._resolve.catalog import HEALTHY, UNHEALTHY, CatalogView, Instance, catalog_view
from meshgw._resolve.chain import ChainTarget, compile_chain
from meshgw._resolve.intentions import inbound_policy
from meshgw._resolve.memo import per_mesh
from meshgw._resolve.modes import (
    ROUTE_LOCAL_GATEWAY,
    ROUTE_REMOTE_GATEWAY,
    ModeResolution,
    resolve_mode,
    resolve_target_mode,
)
from meshgw._values import is_ip
from meshgw.errors import LookupFailed, MeshgwWarning, TranslationError, UsageError
from meshgw.model._options import ProxyOptions, UpstreamOptions, proxy_options, upstream_options
from meshgw.model.common import ProxyMode, ServiceKind
from meshgw.model.entries import Limits, PassiveHealthCheck, UpstreamConfig
from meshgw.model.mesh import Mesh, Peer
from meshgw.model.registration import Proxy, Service, Upstream
from meshgw.naming import (
    CONNECT_AUTHZ_STAT_PREFIX,
    LOCAL_APP_CLUSTER,
    PUBLIC_LISTENER,
    customization_hash,
    customized_cluster_name,
    failover_target_name,
    listener_name,
    ms_duration,
    ns_duration,
    peered_cluster_name,
    peered_service_sni,
    query_sni,
    service_sni,
    socket_listener_name,
    spiffe_id,
    upstream_envoy_id,
    upstream_peered_stat_prefix,
    upstream_prepared_query_stat_prefix,
    upstream_stat_prefix,
)

__all__ = ["EndpointsForm", "MissingPolicy", "translate_sidecar"]

#: ``"eds"``: endpoints as ClusterLoadAssignments for an xDS server; ``"static"``: inline.
EndpointsForm = Literal["eds", "static"]
#: What to do when an upstream cannot be given endpoints: raise, or warn and leave it empty.
MissingPolicy = Literal["error", "warn"]

_DEFAULT = "default"
_PREPARED_QUERY = "prepared_query"
# L7 discovery-chain entries meshgw does not model.
_ROUTING_KINDS = frozenset({"service-router", "service-splitter"})
_HTTP_PROTOCOLS = frozenset({"http", "http2", "grpc"})
_HTTP2_PROTOCOLS = frozenset({"http2", "grpc"})
_HTTP_PROTOCOL_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
_DEFAULT_TIMEOUT_MS = 5000
# Consul's configureClusterWithHostnames. (Consul also sets dns_refresh_rate 10s, which
# Envoy 1.40 deprecates: meshgw leaves Envoy's default refresh rate.)
_DNS_LOOKUP_FAMILY = "V4_ONLY"


def translate_sidecar(
    service: Service,
    mesh: Mesh,
    *,
    endpoints: EndpointsForm = "eds",
    missing: MissingPolicy = "error",
) -> dict[str, list[dict[str, Any]]]:
    """Translate a ``connect-proxy`` registration into Envoy v3 resources.

    Returns ``{"clusters", "listeners", "endpoints"}`` (snake_case proto-JSON; clusters
    and listeners sorted by name, ClusterLoadAssignments by ``cluster_name``). With
    ``endpoints="static"`` every EDS cluster carries its endpoints inline (``STATIC``)
    and ``endpoints`` is empty.

    Raises :class:`~meshgw.errors.TranslationError` when an upstream's mode needs mesh
    gateways that the catalog does not have, for a prepared-query upstream (meshgw
    cannot run queries offline), an unknown peer, or an unusable configuration. With
    ``missing="warn"`` the gateway and prepared-query cases instead give the cluster an
    empty ClusterLoadAssignment and emit a :class:`~meshgw.errors.MeshgwWarning`.
    """
    if endpoints not in ("eds", "static"):
        raise UsageError(f"endpoints must be 'eds' or 'static', not {endpoints!r}")
    if missing not in ("error", "warn"):
        raise UsageError(f"missing must be 'error' or 'warn', not {missing!r}")
    ctx = _Context.create(service, mesh, missing)
    if endpoints == "static" and ctx.tls.sds_over_ads and ctx.proxy.upstreams:
        # Static clusters are initialised before Envoy's ADS stream exists; an SDS
        # subscription over ADS from one crashes Envoy (envoyproxy/envoy#15517).
        raise TranslationError(
            f"{ctx.sid!r}: endpoints='static' makes every upstream cluster STATIC, and "
            'Envoy cannot fetch their secrets over ADS (mesh_tls sds_cluster = "ads"; '
            "envoyproxy/envoy#15517): use endpoints='eds', or name an SDS cluster"
        )
    out = _Output()
    _inbound(ctx, out)
    for i, upstream in enumerate(ctx.proxy.upstreams):
        try:
            _upstream(ctx, upstream, out)
        except TranslationError as exc:
            # The field path, so that whoever reports it can point at the upstream.
            raise TranslationError(f"proxy.upstreams[{i}]: {exc}") from None
    if ctx.transparent:
        ctx.warn(
            f"{ctx.sid!r} is in transparent proxy mode: meshgw translates its explicit "
            "upstreams only; the outbound listener that captures other traffic is not "
            "generated"
        )
    result = out.result(static=endpoints == "static")
    # Emitted at the end, in order, so that they point at the caller's line.
    for message in ctx.messages:
        warnings.warn(message, MeshgwWarning, stacklevel=2)
    return result


# --------------------------------------------------------------------------------------
# Context
# --------------------------------------------------------------------------------------


@attrs.frozen
class _Context:
    """The proxy being translated, its merged options and the mesh indexes."""

    service: Service
    mesh: Mesh
    view: CatalogView
    proxy: Proxy
    sid: str
    downstream: str
    namespace: str
    partition: str
    datacenter: str
    options: ProxyOptions
    tls: TlsContexts
    missing: MissingPolicy
    transparent: bool
    routed: frozenset[str]  # services with a service-router / service-splitter
    messages: list[str] = attrs.field(factory=list)

    @classmethod
    def create(cls, service: Service, mesh: Mesh, missing: MissingPolicy) -> _Context:
        sid = service.id or service.name
        # == rather than "is": models built in code may hold plain strings.
        if service.kind != ServiceKind.CONNECT_PROXY:
            kind = str(service.kind) or "typical service"
            hint = ""
            if service.connect is not None and service.connect.sidecar_service is not None:
                hint = f"; translate its sidecar {sid + '-sidecar-proxy'!r}"
            raise TranslationError(f"{sid!r} is a {kind}, not a connect-proxy{hint}")
        proxy = service.proxy
        if proxy is None or not proxy.destination_service_name:
            raise TranslationError(f"connect-proxy {sid!r} has no proxy.destination_service_name")
        partition = service.partition or mesh.local_partition
        namespace = service.namespace or _DEFAULT
        downstream = proxy.destination_service_name
        options = proxy_options(_merged_proxy_config(proxy, mesh, downstream, partition))
        identity = TlsIdentity(downstream, mesh.datacenter, namespace, partition)
        return cls(
            service=service,
            mesh=mesh,
            view=catalog_view(mesh),
            proxy=proxy,
            sid=sid,
            downstream=downstream,
            namespace=namespace,
            partition=partition,
            datacenter=mesh.datacenter,
            options=options,
            tls=TlsContexts(mesh.tls, identity),
            missing=missing,
            transparent=_proxy_mode(proxy, mesh, downstream, partition) == ProxyMode.TRANSPARENT,
            routed=per_mesh(mesh, "routed_services", _routed_services),
        )

    def warn(self, message: str) -> None:
        """Record a warning; translate_sidecar emits them once the result is built."""
        self.messages.append(message)

    def peer(self, name: str, what: str) -> Peer:
        try:
            return self.mesh.peer(name, self.partition)
        except LookupFailed as exc:
            raise TranslationError(f"{what}: {exc}") from None


def _merged_proxy_config(
    proxy: Proxy, mesh: Mesh, downstream: str, partition: str
) -> dict[str, Any]:
    """``proxy.config`` as Consul merges it: proxy-defaults ``Config`` < the destination's
    service-defaults (protocol, local timeouts, inbound limits) < the registration."""
    merged: dict[str, Any] = {}
    pd = mesh.proxy_defaults(partition)
    if pd is not None:
        merged.update(pd.config)
    sd = mesh.service_defaults(downstream, partition)
    if sd is not None:
        for key, value in (
            ("protocol", sd.protocol),
            ("local_connect_timeout_ms", sd.local_connect_timeout_ms),
            ("local_request_timeout_ms", sd.local_request_timeout_ms),
            ("max_inbound_connections", sd.max_inbound_connections),
            ("balance_inbound_connections", sd.balance_inbound_connections),
        ):
            if value:
                merged[key] = value
    merged.update(proxy.config)
    return merged


def _proxy_mode(proxy: Proxy, mesh: Mesh, downstream: str, partition: str) -> ProxyMode:
    """``proxy.mode``, else the destination's service-defaults, else proxy-defaults."""
    if proxy.mode != ProxyMode.DEFAULT:
        return proxy.mode
    sd = mesh.service_defaults(downstream, partition)
    if sd is not None and sd.mode != ProxyMode.DEFAULT:
        return sd.mode
    pd = mesh.proxy_defaults(partition)
    return pd.mode if pd is not None else ProxyMode.DEFAULT


# --------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------


class _Output:
    """Resources as they are produced; duplicates are merged, conflicts refused."""

    __slots__ = ("binds", "clas", "clusters", "listeners", "owner")

    def __init__(self) -> None:
        self.clusters: dict[str, dict[str, Any]] = {}
        self.clas: dict[str, dict[str, Any]] = {}
        self.listeners: dict[str, dict[str, Any]] = {}
        self.owner: dict[str, str] = {}
        self.binds: dict[str, str] = {}

    def cluster(self, cluster: dict[str, Any], cla: dict[str, Any] | None, who: str) -> None:
        name = str(cluster.get("name", ""))
        previous = self.clusters.get(name)
        if previous is not None:
            # Two upstreams reaching the same target share its cluster (Consul keys
            # clusters by name); differing definitions would make one silently lose.
            if previous != cluster or self.clas.get(name) != cla:
                raise TranslationError(
                    f"{who} and {self.owner[name]} both define cluster {name!r} "
                    "differently (different upstream config for the same target)"
                )
            return
        self.clusters[name] = cluster
        self.owner[name] = who
        if cla is not None:
            self.clas[str(cla["cluster_name"])] = cla

    def listener(self, listener: dict[str, Any], bind: str, who: str) -> None:
        name = str(listener.get("name", ""))
        for key, kind in ((name, "listener name"), (bind, "address")):
            if key in self.binds:
                raise TranslationError(f"{who} and {self.binds[key]} use the same {kind} {key}")
            self.binds[key] = who
        self.listeners[name] = listener

    def result(self, *, static: bool) -> dict[str, list[dict[str, Any]]]:
        clusters = [self.clusters[name] for name in sorted(self.clusters)]
        if static:
            inlined = []
            for cluster in clusters:
                cla = self.clas.get(_eds_name(cluster))
                if cluster.get("type") == "EDS" and cla is not None:
                    cluster = {
                        k: v for k, v in cluster.items() if k not in ("type", "eds_cluster_config")
                    }
                    cluster["type"] = "STATIC"
                    cluster["load_assignment"] = cla
                inlined.append(cluster)
            clusters, endpoints = inlined, []
        else:
            endpoints = [self.clas[name] for name in sorted(self.clas)]
        return {
            "clusters": clusters,
            "listeners": [self.listeners[name] for name in sorted(self.listeners)],
            "endpoints": endpoints,
        }


def _eds_name(cluster: Mapping[str, Any]) -> str:
    eds = cluster.get("eds_cluster_config")
    if isinstance(eds, Mapping) and eds.get("service_name"):
        return str(eds["service_name"])
    return str(cluster.get("name", ""))


# --------------------------------------------------------------------------------------
# Inbound
# --------------------------------------------------------------------------------------


def _inbound(ctx: _Context, out: _Output) -> None:
    opts = ctx.options
    # Consul's makeInboundListener: bind_address, else the registration's address, else
    # every interface.
    address = opts.bind_address or ctx.service.address or "0.0.0.0"
    port = opts.bind_port or ctx.service.port
    if port < 1:
        raise TranslationError(
            f"connect-proxy {ctx.sid!r} has no port for its public listener "
            "(set the registration's port or proxy.config bind_port)"
        )
    name = listener_name(PUBLIC_LISTENER, address, port)
    http = opts.protocol in _HTTP_PROTOCOLS
    rbac = _inbound_rbac(ctx, http=http)
    if opts.envoy_public_listener_json:
        listener = _public_listener_from_json(
            ctx, opts.envoy_public_listener_json, name, rbac, http=http
        )
    else:
        if http:
            terminal = _http_connection_manager(
                PUBLIC_LISTENER,
                PUBLIC_LISTENER,
                LOCAL_APP_CLUSTER,
                opts.protocol,
                authz=http_rbac_filter(rbac),
            )
            filters = [terminal]
        else:
            filters = [
                network_rbac_filter(rbac, CONNECT_AUTHZ_STAT_PREFIX),
                tcp_proxy_filter(PUBLIC_LISTENER, LOCAL_APP_CLUSTER),
            ]
        listener = {
            "name": name,
            "address": socket_address(address, port),
            "filter_chains": [{"filters": filters, "transport_socket": ctx.tls.downstream()}],
            "traffic_direction": "INBOUND",
        }
    out.listener(listener, f"{address}:{port}", "the public listener")

    if opts.envoy_local_cluster_json:
        cluster = _resource_from_json(opts.envoy_local_cluster_json, "envoy_local_cluster_json")
        cluster.setdefault("name", LOCAL_APP_CLUSTER)
    else:
        cluster = _local_app_cluster(ctx)
    out.cluster(cluster, None, "the local app")


def _inbound_rbac(ctx: _Context, *, http: bool) -> RbacPolicy:
    """The destination service's intentions as the public listener's RBAC policy."""
    policy = inbound_policy(ctx.mesh, ctx.downstream, ctx.namespace, ctx.partition)
    for message in policy.skipped:
        ctx.warn(f"{ctx.sid!r}: {message}")
    return inbound_rbac(policy, http=http)


def _local_app_cluster(ctx: _Context) -> dict[str, Any]:
    proxy = ctx.proxy
    if proxy.local_service_socket_path:
        address: dict[str, Any] = {"pipe": {"path": proxy.local_service_socket_path}}
    else:
        port = proxy.local_service_port or _destination_port(ctx)
        if port < 1:
            raise TranslationError(
                f"connect-proxy {ctx.sid!r} has no proxy.local_service_port (and its "
                f"destination service {ctx.downstream!r} is not registered with a port)"
            )
        address = socket_address(proxy.local_service_address or "127.0.0.1", port)
    cluster: dict[str, Any] = {
        "name": LOCAL_APP_CLUSTER,
        "type": "STATIC",
        "connect_timeout": ms_duration(ctx.options.local_connect_timeout_ms),
        "load_assignment": {
            "cluster_name": LOCAL_APP_CLUSTER,
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": address}}]}],
        },
    }
    if ctx.options.protocol in _HTTP2_PROTOCOLS:
        cluster["typed_extension_protocol_options"] = _http2_protocol_options()
    return cluster


def _destination_port(ctx: _Context) -> int:
    """The port of the destination service's registration, when the mesh has it (what
    ``sidecar_service`` expansion would have filled in); 0 otherwise."""
    wanted = ctx.proxy.destination_service_id or ctx.downstream
    return per_mesh(ctx.mesh, "typical_ports", _typical_ports).get(wanted, 0)


def _typical_ports(mesh: Mesh) -> dict[str, int]:
    # Indexed once per mesh: a scan per sidecar makes translating every proxy quadratic.
    ports: dict[str, int] = {}
    for svc in mesh.services:
        if svc.kind == ServiceKind.TYPICAL:
            ports.setdefault(svc.id or svc.name, svc.port)
    return ports


def _routed_services(mesh: Mesh) -> frozenset[str]:
    return frozenset(e.name for e in mesh.config_entries if e.kind in _ROUTING_KINDS)


def _public_listener_from_json(
    ctx: _Context, text: str, name: str, rbac: RbacPolicy, *, http: bool
) -> dict[str, Any]:
    """The ``envoy_public_listener_json`` escape hatch, with the connect filters added as
    Consul does: for an HTTP service the HTTP RBAC filter first in every HTTP connection
    manager (when every chain has one), else the network RBAC filter first in every
    chain; and the mTLS transport socket unless some chain already has one."""
    listener = _resource_from_json(text, "envoy_public_listener_json")
    listener.setdefault("name", name)
    chains = listener.get("filter_chains", listener.get("filterChains"))
    if not isinstance(chains, list) or not chains:
        raise TranslationError(
            f"{ctx.sid!r}: envoy_public_listener_json must have at least one filter chain"
        )
    has_tls = any(
        isinstance(chain, Mapping) and ("transport_socket" in chain or "transportSocket" in chain)
        for chain in chains
    )
    for chain in chains:
        if not isinstance(chain, dict):
            raise TranslationError(
                f"{ctx.sid!r}: envoy_public_listener_json filter chains must be objects"
            )
        filters = chain.setdefault("filters", [])
        if not isinstance(filters, list):
            raise TranslationError(
                f"{ctx.sid!r}: envoy_public_listener_json filters must be a list"
            )
    if not (http and _inject_http_rbac(chains, http_rbac_filter(rbac))):
        for chain in chains:
            filters = chain["filters"]
            if not any(
                isinstance(f, Mapping) and f.get("name") == NETWORK_RBAC_FILTER for f in filters
            ):
                filters.insert(0, network_rbac_filter(rbac, CONNECT_AUTHZ_STAT_PREFIX))
    if not has_tls:
        for chain in chains:
            chain["transport_socket"] = ctx.tls.downstream()
    return listener


_HCM_NAMES = ("envoy.filters.network.http_connection_manager", "envoy.http_connection_manager")


def _inject_http_rbac(chains: list[dict[str, Any]], authz: dict[str, Any]) -> bool:
    """Consul's injectHTTPFilterOnFilterChains: ``authz`` first in the HTTP filters of the
    connection manager of every chain; ``False`` (nothing changed) unless every chain has
    one."""
    managers = []
    for chain in chains:
        found = [
            f.get("typed_config", f.get("typedConfig"))
            for f in chain["filters"]
            if isinstance(f, Mapping) and f.get("name") in _HCM_NAMES
        ]
        if not found or not isinstance(found[0], dict):
            return False
        managers.append(found[0])
    for hcm in managers:
        camel = "httpFilters" in hcm and "http_filters" not in hcm
        key = "httpFilters" if camel else "http_filters"
        hcm[key] = [authz, *hcm.get(key, [])]
    return True


def _resource_from_json(text: str, option: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise TranslationError(f"{option} is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise TranslationError(f"{option} must be a JSON object")
    value.pop("@type", None)  # an Any wrapper, as Consul accepts; not part of a resource
    return value


# --------------------------------------------------------------------------------------
# Upstreams
# --------------------------------------------------------------------------------------


@attrs.frozen
class _TargetPlan:
    """One upstream cluster: its name, TLS identity and endpoints.

    ``endpoints`` is ``None`` when they could not be determined (``missing="warn"``):
    the cluster gets an empty ClusterLoadAssignment.
    """

    cluster: str
    sni: str
    san: tuple[dict[str, Any], ...]
    endpoints: tuple[Endpoint, ...] | None


@attrs.frozen
class _ClusterShape:
    """What every cluster of one upstream shares."""

    connect_timeout: str
    protocol: str
    options: UpstreamOptions
    kind: Literal["chain", "peered", "query"]


def _upstream(ctx: _Context, up: Upstream, out: _Output) -> None:
    eid = upstream_envoy_id(
        up.destination_name,
        datacenter=up.datacenter,
        peer=up.destination_peer,
        destination_type=up.destination_type,
    )
    who = f"upstream {eid!r} of {ctx.sid!r}"
    if up.destination_type == _PREPARED_QUERY:
        _query_upstream(ctx, up, eid, who, out)
    elif up.destination_peer:
        _peered_upstream(ctx, up, eid, who, out)
    else:
        _chain_upstream(ctx, up, eid, who, out)


def _upstream_config(ctx: _Context, up: Upstream) -> UpstreamOptions:
    """The upstream's options as Consul merges them: the destination's service-defaults
    ``UpstreamConfig.Defaults`` < the matching ``Overrides`` entry < the upstream's own
    ``config`` (registration keys win). Prepared queries get nothing central."""
    merged: dict[str, Any] = {}
    sd = ctx.mesh.service_defaults(ctx.downstream, ctx.partition)
    uc = sd.upstream_config if sd is not None else None
    if uc is not None and sd is not None and up.destination_type != _PREPARED_QUERY:
        if uc.defaults is not None:
            merged.update(_upstream_config_dict(uc.defaults))
        namespace = up.destination_namespace or ctx.namespace
        partition = ctx.partition if up.destination_peer else up.destination_partition
        match = sd.upstream_override(
            up.destination_name, namespace, partition or ctx.partition, up.destination_peer
        )
        if match is not None:
            merged.update(_upstream_config_dict(match[1]))
    merged.update(up.config)
    return upstream_options(merged)


def _upstream_config_dict(uc: UpstreamConfig) -> dict[str, Any]:
    """The non-empty fields of an ``UpstreamConfig`` as upstream ``config`` keys (empty
    values never override, as in Consul's ``MergeInto``)."""
    out: dict[str, Any] = {}
    for key in (
        "protocol",
        "connect_timeout_ms",
        "envoy_listener_json",
        "envoy_cluster_json",
        "balance_outbound_connections",
    ):
        value = getattr(uc, key)
        if value:
            out[key] = value
    # The typed values as they are: upstream_options() takes them like raw config maps.
    if uc.limits is not None:
        out["limits"] = uc.limits
    if uc.passive_health_check is not None:
        out["passive_health_check"] = uc.passive_health_check
    return out


def _resolve_target(ctx: _Context, up: Upstream, target: ChainTarget) -> ModeResolution:
    return resolve_target_mode(
        ctx.service,
        up,
        ctx.mesh,
        service_name=target.service,
        namespace=target.namespace,
        partition="" if target.peer else target.partition,
        datacenter=target.datacenter,
        peer=target.peer,
    )


def _chain_upstream(ctx: _Context, up: Upstream, eid: str, who: str, out: _Output) -> None:
    mesh = ctx.mesh
    try:
        chain = compile_chain(
            mesh,
            up.destination_name,
            namespace=up.destination_namespace or ctx.namespace,
            partition=up.destination_partition or ctx.partition,
            datacenter=up.datacenter or ctx.datacenter,
        )
    except TranslationError as exc:
        raise TranslationError(f"{who}: {exc}") from None
    opts = _upstream_config(ctx, up)
    resolutions = [_resolve_target(ctx, up, t) for t in chain.targets]

    # Consul's chain compiler records what the upstream's overrides changed; the cluster
    # names then carry a hash of exactly those overrides (naming.customization_hash).
    chain_protocol = chains.chain_protocol(mesh, chain.service, chain.partition)
    protocol_customized = bool(opts.protocol) and opts.protocol != chain_protocol
    timeout_ns = chain.connect_timeout_ns
    timeout_customized = False
    if opts.connect_timeout_ms > 0 and opts.connect_timeout_ms * 1_000_000 != timeout_ns:
        timeout_ns = opts.connect_timeout_ms * 1_000_000
        timeout_customized = True
    mode_customized = any(r.customized for r in resolutions)
    prefix = ""
    if mode_customized or protocol_customized or timeout_customized:
        prefix = _customization_hash(
            resolutions[0].override_mode.value if mode_customized else "",
            opts.protocol if protocol_customized else "",
            timeout_ns if timeout_customized else 0,
        )
    shape = _ClusterShape(
        connect_timeout=ns_duration(timeout_ns),
        protocol=opts.protocol or chain_protocol,
        options=opts,
        kind="chain",
    )

    plans = [
        _chain_target_plan(ctx, who, target, res, prefix)
        for target, res in zip(chain.targets, resolutions, strict=True)
    ]
    base = plans[0].cluster
    stat = upstream_stat_prefix(chain.service, chain.namespace, chain.partition, chain.datacenter)

    routed = chain.service in ctx.routed
    if routed:
        ctx.warn(
            f"{who}: the service-router / service-splitter of {chain.service!r} is not "
            "modelled by meshgw: all traffic goes to the service-resolver's targets"
        )
    escape = bool(opts.envoy_listener_json or opts.envoy_cluster_json)
    if escape and (routed or not chain.default):
        ctx.warn(
            f"{who}: envoy_listener_json / envoy_cluster_json ignored because a "
            f"discovery chain (service-resolver, -router or -splitter) exists for "
            f"{chain.service!r} (as Consul does)"
        )
        opts = attrs.evolve(opts, envoy_listener_json="", envoy_cluster_json="")
        shape = attrs.evolve(shape, options=opts)

    if len(plans) == 1:
        cluster_name = _emit_target_cluster(ctx, out, who, plans[0], base, shape)
    else:
        children = []
        for index, plan in enumerate(plans):
            child = failover_target_name(index, base)
            _emit_target_cluster(ctx, out, who, plan, child, shape)
            children.append(child)
        aggregate = {
            "name": base,
            "alt_stat_name": base,
            "cluster_type": {
                "name": "envoy.clusters.aggregate",
                "typed_config": typed(AGGREGATE_CLUSTER_TYPE, clusters=children),
            },
            "connect_timeout": shape.connect_timeout,
            "lb_policy": "CLUSTER_PROVIDED",
        }
        out.cluster(aggregate, None, who)
        cluster_name = base
    _emit_listener(ctx, out, up, eid, who, stat, cluster_name, shape)


# A proxy has few distinct override combinations; the hash is pure, so cache it.
_customization_hash = functools.lru_cache(maxsize=256)(customization_hash)


def _chain_target_plan(
    ctx: _Context,
    who: str,
    target: ChainTarget,
    res: ModeResolution,
    prefix: str,
) -> _TargetPlan:
    mesh = ctx.mesh
    if target.peer:
        peer = ctx.peer(target.peer, who)
        return _peer_plan(ctx, who, target, res, peer, prefix=prefix)
    td = mesh.trust_domain
    name = service_sni(
        target.service, target.namespace, target.partition, target.datacenter, td, target.subset
    )
    sd = mesh.service_defaults(target.service, target.partition)
    sni = sd.external_sni if sd is not None and sd.external_sni else name
    san = spiffe_id(target.service, target.namespace, target.partition, target.datacenter, td)
    return _TargetPlan(
        cluster=customized_cluster_name(prefix, name),
        sni=sni,
        san=(uri_san_exact(san),),
        endpoints=_target_endpoints(ctx, who, target, res),
    )


def _peer_plan(
    ctx: _Context,
    who: str,
    target: ChainTarget,
    res: ModeResolution,
    peer: Peer,
    *,
    prefix: str = "",
) -> _TargetPlan:
    if not peer.trust_domain:
        raise TranslationError(f"{who}: peer {peer.name!r} has no trust_domain")
    if not peer.datacenter:
        raise TranslationError(
            f"{who}: peer {peer.name!r} has no datacenter (needed for its services' SPIFFE IDs)"
        )
    remote_partition = peer.remote_partition or _DEFAULT
    name = peered_cluster_name(target.service, target.namespace, peer.name, peer.trust_domain)
    sni = peered_service_sni(
        target.service,
        target.namespace,
        remote_partition,
        peer.remote_name or ctx.datacenter,
        peer.trust_domain,
    )
    san = spiffe_id(
        target.service, target.namespace, remote_partition, peer.datacenter, peer.trust_domain
    )
    return _TargetPlan(
        cluster=customized_cluster_name(prefix, name),
        sni=sni,
        san=(uri_san_exact(san),),
        endpoints=_peer_endpoints(ctx, who, target, res, peer),
    )


def _peered_upstream(ctx: _Context, up: Upstream, eid: str, who: str, out: _Output) -> None:
    peer = ctx.peer(up.destination_peer, who)
    opts = _upstream_config(ctx, up)
    res = resolve_mode(ctx.service, up, ctx.mesh)
    namespace = up.destination_namespace or _DEFAULT
    target = ChainTarget(up.destination_name, namespace, ctx.partition, "", peer.name)
    plan = _peer_plan(ctx, who, target, res, peer)
    exported = _peer_service_protocol(peer, up.destination_name, namespace)
    shape = _ClusterShape(
        connect_timeout=ms_duration(opts.connect_timeout_ms or _DEFAULT_TIMEOUT_MS),
        protocol=opts.protocol or exported or "tcp",
        options=opts,
        kind="peered",
    )
    cluster_name = _emit_target_cluster(ctx, out, who, plan, plan.cluster, shape)
    stat = upstream_peered_stat_prefix(up.destination_name, namespace, peer.name)
    _emit_listener(ctx, out, up, eid, who, stat, cluster_name, shape)


def _peer_service_protocol(peer: Peer, service: str, namespace: str) -> str:
    for ps in peer.services:
        if ps.name == service and (ps.namespace or _DEFAULT) == namespace:
            return ps.protocol.lower()
    return ""


def _query_upstream(ctx: _Context, up: Upstream, eid: str, who: str, out: _Output) -> None:
    message = (
        f"{who} is a prepared query: meshgw cannot evaluate prepared queries offline "
        "(their results depend on live health and query definitions)"
    )
    if ctx.missing == "error":
        raise TranslationError(message + "; use a service upstream, or missing='warn'")
    ctx.warn(message + "; its cluster has no endpoints")
    datacenter = up.datacenter or ctx.datacenter
    name = query_sni(up.destination_name, datacenter, ctx.mesh.trust_domain)
    opts = _upstream_config(ctx, up)
    # Consul lists the SPIFFE ID of every service the query returned; offline the
    # results are unknown, so any service of this trust domain is accepted.
    plan = _TargetPlan(
        cluster=name,
        sni=name,
        san=(uri_san_prefix(f"spiffe://{ctx.mesh.trust_domain}/"),),
        endpoints=None,
    )
    shape = _ClusterShape(
        connect_timeout=ms_duration(opts.connect_timeout_ms or _DEFAULT_TIMEOUT_MS),
        protocol=opts.protocol or "tcp",
        options=opts,
        kind="query",
    )
    cluster_name = _emit_target_cluster(ctx, out, who, plan, name, shape)
    stat = upstream_prepared_query_stat_prefix(up.destination_name, up.datacenter)
    _emit_listener(ctx, out, up, eid, who, stat, cluster_name, shape)


# --------------------------------------------------------------------------------------
# Endpoints
# --------------------------------------------------------------------------------------


def _missing(ctx: _Context, who: str, message: str) -> None:
    """No endpoints can be given: raise, or (``missing="warn"``) warn and go on."""
    if ctx.missing == "error":
        raise TranslationError(f"{who}: {message}")
    ctx.warn(f"{who}: {message}; its cluster has no endpoints")


def _mode_text(res: ModeResolution) -> str:
    return f"mode {res.mode.value} (from {res.source})"


def _target_instances(ctx: _Context, target: ChainTarget) -> list[Instance]:
    instances = ctx.view.connect_instances(
        target.datacenter, target.partition, target.namespace, target.service
    )
    if target.subset_filter:
        check = compile_filter(target.subset_filter)
        return [i for i in instances if check.matches(i.filter_view())]
    return list(instances)


def _target_endpoints(
    ctx: _Context, who: str, target: ChainTarget, res: ModeResolution
) -> tuple[Endpoint, ...] | None:
    """Endpoints of a datacenter target, by route (consul-output.md §5.3)."""
    route = res.route
    if route == ROUTE_LOCAL_GATEWAY:
        gateways = _local_gateways(ctx, who, target, res)
        if gateways is None:
            return None
        return _via_gateways(ctx, target, gateways, wan=False)
    if route == ROUTE_REMOTE_GATEWAY:
        gateways = ctx.view.gateways(target.datacenter, target.partition)
        if not gateways:
            _missing(
                ctx,
                who,
                f"{_mode_text(res)} sends {target} through the mesh gateways of "
                f"{_where(target.datacenter, target.partition)}, but the catalog has no "
                "mesh-gateway instance there; add them to the catalog, or set another mode",
            )
            return None
        return _via_gateways(ctx, target, gateways, wan=True)
    # Direct: the instances themselves, WAN-preferred outside the local datacenter.
    wan = target.datacenter != ctx.datacenter or target.partition != ctx.partition
    only_passing = target.only_passing
    return tuple(
        _endpoint(i.address(wan), *i.health_and_weight(only_passing))
        for i in _target_instances(ctx, target)
    )


def _local_gateways(
    ctx: _Context, who: str, target: ChainTarget, res: ModeResolution
) -> Sequence[Instance] | None:
    """The local datacenter's (and partition's) mesh gateways, or None after reporting
    that there are none for a mode that needs them."""
    gateways = ctx.view.gateways(ctx.datacenter, ctx.partition)
    if not gateways:
        _missing(
            ctx,
            who,
            f"{_mode_text(res)} sends {target} through the local datacenter's mesh "
            f"gateways, but the catalog has no mesh-gateway instance in "
            f"{_where(ctx.datacenter, ctx.partition)}; register one, or set another mode",
        )
        return None
    return gateways


def _via_gateways(
    ctx: _Context, target: ChainTarget, gateways: Sequence[Instance], *, wan: bool
) -> tuple[Endpoint, ...]:
    instances = _target_instances(ctx, target)
    if not instances:
        # Nothing to reach behind the gateways: an empty assignment lets Envoy's
        # aggregate cluster move on to the next failover target.
        return ()
    # Consul's makeLoadAssignmentEndpointGroup: the gateways carry the target's health
    # (healthy if any instance is), with their own weights.
    only_passing = target.only_passing
    health = (
        HEALTHY
        if any(i.health_and_weight(only_passing)[0] == HEALTHY for i in instances)
        else UNHEALTHY
    )
    return tuple(_endpoint(gw.address(wan), health, gw.weight) for gw in gateways)


def _peer_endpoints(
    ctx: _Context, who: str, target: ChainTarget, res: ModeResolution, peer: Peer
) -> tuple[Endpoint, ...] | None:
    """Endpoints of a peer target: the local gateways (mode local), else the peer's."""
    if peer.services and not any(
        ps.name == target.service and (ps.namespace or _DEFAULT) == target.namespace
        for ps in peer.services
    ):
        exported = ", ".join(sorted(ps.name for ps in peer.services))
        _missing(
            ctx,
            who,
            f"peer {peer.name!r} does not export {target.service!r} to this cluster "
            f"(it exports: {exported})",
        )
        return None
    if res.route == ROUTE_LOCAL_GATEWAY:
        gateways = _local_gateways(ctx, who, target, res)
        if gateways is None:
            return None
        # Consul: the local gateways with their own health (no instance health is known).
        return tuple(_endpoint(gw.address(False), gw.health, gw.weight) for gw in gateways)
    if not peer.gateways:
        _missing(
            ctx,
            who,
            f"{_mode_text(res)} sends {target} through peer {peer.name!r}'s mesh "
            "gateways, but the peer lists no gateways; add them to the peer's gateways",
        )
        return None
    return tuple(Endpoint(gw.address, gw.port, HEALTHY, 1) for gw in peer.gateways)


def _endpoint(address: Any, health: str, weight: int) -> Endpoint:
    return Endpoint(address.address, address.port, health, weight)


def _where(datacenter: str, partition: str) -> str:
    if partition == _DEFAULT:
        return f"datacenter {datacenter}"
    return f"partition {partition} of datacenter {datacenter}"


# --------------------------------------------------------------------------------------
# Clusters and listeners
# --------------------------------------------------------------------------------------


def _emit_target_cluster(
    ctx: _Context,
    out: _Output,
    who: str,
    plan: _TargetPlan,
    name: str,
    shape: _ClusterShape,
) -> str:
    """Add the cluster (and its ClusterLoadAssignment) for ``plan`` under ``name``;
    returns the name the listener should use."""
    endpoints = plan.endpoints
    transport = ctx.tls.upstream(plan.sni, plan.san)
    if shape.options.envoy_cluster_json:
        return _escape_hatch_cluster(out, who, plan, name, shape, transport)
    cluster: dict[str, Any] = {"name": name}
    if shape.kind == "chain":
        cluster["alt_stat_name"] = name
    if endpoints is not None and any(not is_ip(ep.address) for ep in endpoints):
        # EDS cannot carry host names: Envoy resolves them itself. Gateways behind one
        # name are one endpoint (the first one's health), so a single load balancer
        # stays LOGICAL_DNS (exactly one host); several endpoints need STRICT_DNS.
        first: dict[tuple[str, int], Endpoint] = {}
        for ep in endpoints:
            first.setdefault((ep.address, ep.port), ep)
        unique = tuple(first.values())
        cluster["type"] = "LOGICAL_DNS" if len(unique) == 1 else "STRICT_DNS"
        cluster["load_assignment"] = _cla(name, unique)
        cluster["dns_lookup_family"] = _DNS_LOOKUP_FAMILY
        cla_out = None
    else:
        cluster["type"] = "EDS"
        cluster["eds_cluster_config"] = eds_config()
        cla_out = _cla(name, endpoints)
    cluster["connect_timeout"] = shape.connect_timeout
    cluster["circuit_breakers"] = _circuit_breakers(shape.options.limits)
    outlier = _outlier_detection(shape.options.passive_health_check)
    if shape.kind == "peered":
        # Consul: health checks of a peer's services do not reach us, so outlier
        # detection may eject every host of the cluster.
        outlier["max_ejection_percent"] = 100
    cluster["outlier_detection"] = outlier
    if shape.kind != "query":
        cluster["common_lb_config"] = {"healthy_panic_threshold": {}}
    cluster["transport_socket"] = transport
    if shape.protocol in _HTTP2_PROTOCOLS:
        cluster["typed_extension_protocol_options"] = _http2_protocol_options()
    out.cluster(cluster, cla_out, who)
    return name


def _escape_hatch_cluster(
    out: _Output,
    who: str,
    plan: _TargetPlan,
    name: str,
    shape: _ClusterShape,
    transport: dict[str, Any],
) -> str:
    """The ``envoy_cluster_json`` escape hatch: the user's cluster, with the mTLS
    transport socket added when it has none (as Consul does), and the target's
    endpoints when it is an EDS cluster."""
    cluster = _resource_from_json(shape.options.envoy_cluster_json, "envoy_cluster_json")
    cluster.setdefault("name", name)
    if "transport_socket" not in cluster and "transportSocket" not in cluster:
        cluster["transport_socket"] = transport
    cla = None
    if cluster.get("type", "EDS") == "EDS" and "load_assignment" not in cluster:
        cla = _cla(_eds_name(cluster), plan.endpoints)
    out.cluster(cluster, cla, who)
    return str(cluster["name"])


def _cla(name: str, endpoints: tuple[Endpoint, ...] | None) -> dict[str, Any]:
    if not endpoints:
        return {"cluster_name": name, "endpoints": []}
    return cluster_load_assignment(name, endpoints)


def _circuit_breakers(limits: Limits | None) -> dict[str, Any]:
    if limits is None:
        return {}
    threshold = {
        field: value
        for field, value in (
            ("max_connections", limits.max_connections),
            ("max_pending_requests", limits.max_pending_requests),
            ("max_requests", limits.max_concurrent_requests),
        )
        if value is not None
    }
    return {"thresholds": [threshold]} if threshold else {}


def _outlier_detection(check: PassiveHealthCheck | None) -> dict[str, Any]:
    # Consul's ToOutlierDetection: zero interval / max_failures mean "Envoy's default".
    od: dict[str, Any] = {}
    if check is None:
        return od
    if check.interval:
        od["interval"] = ns_duration(check.interval)
    if check.max_failures:
        od["consecutive_5xx"] = check.max_failures
    if check.enforcing_consecutive_5xx is not None:
        od["enforcing_consecutive_5xx"] = check.enforcing_consecutive_5xx
    if check.max_ejection_percent is not None:
        od["max_ejection_percent"] = check.max_ejection_percent
    if check.base_ejection_time is not None:
        od["base_ejection_time"] = ns_duration(check.base_ejection_time)
    return od


def _http2_protocol_options() -> dict[str, Any]:
    return {
        _HTTP_PROTOCOL_OPTIONS: typed(
            HTTP_PROTOCOL_OPTIONS_TYPE, explicit_http_config={"http2_protocol_options": {}}
        )
    }


def _http_connection_manager(
    stat_prefix: str,
    route_name: str,
    cluster: str,
    protocol: str,
    authz: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An HCM routing every request to ``cluster`` (an inline route configuration: meshgw
    emits no RDS resources), ``authz`` (an HTTP RBAC filter) before the router."""
    router = {"name": "envoy.filters.http.router", "typed_config": typed(ROUTER_TYPE)}
    config = typed(
        HCM_TYPE,
        stat_prefix=stat_prefix,
        route_config={
            "name": route_name,
            "virtual_hosts": [
                {
                    "name": route_name,
                    "domains": ["*"],
                    "routes": [{"match": {"prefix": "/"}, "route": {"cluster": cluster}}],
                }
            ],
        },
        http_filters=[authz, router] if authz is not None else [router],
    )
    if protocol in _HTTP2_PROTOCOLS:
        config["http2_protocol_options"] = {}
    return {"name": "envoy.filters.network.http_connection_manager", "typed_config": config}


def _emit_listener(
    ctx: _Context,
    out: _Output,
    up: Upstream,
    eid: str,
    who: str,
    stat: str,
    cluster: str,
    shape: _ClusterShape,
) -> None:
    if up.local_bind_socket_path:
        name = socket_listener_name(eid, up.local_bind_socket_path)
        pipe: dict[str, Any] = {"path": up.local_bind_socket_path}
        if up.local_bind_socket_mode:
            try:
                pipe["mode"] = int(up.local_bind_socket_mode, 8)
            except ValueError:
                raise TranslationError(
                    f"{who}: local_bind_socket_mode {up.local_bind_socket_mode!r} is not an "
                    "octal file mode"
                ) from None
        address: dict[str, Any] = {"pipe": pipe}
        bind = up.local_bind_socket_path
    else:
        if up.local_bind_port < 1:
            raise TranslationError(f"{who} has no local_bind_port or local_bind_socket_path")
        name = listener_name(eid, up.bind_address, up.local_bind_port)
        address = socket_address(up.bind_address, up.local_bind_port)
        bind = f"{up.bind_address}:{up.local_bind_port}"
    if shape.options.envoy_listener_json:
        listener = _resource_from_json(shape.options.envoy_listener_json, "envoy_listener_json")
        listener.setdefault("name", name)
    else:
        if shape.protocol in _HTTP_PROTOCOLS:
            terminal = _http_connection_manager(stat, eid, cluster, shape.protocol)
        else:
            terminal = tcp_proxy_filter(stat, cluster)
        listener = {
            "name": name,
            "address": address,
            "filter_chains": [{"filters": [terminal]}],
            "traffic_direction": "OUTBOUND",
        }
    out.listener(listener, bind, who)
