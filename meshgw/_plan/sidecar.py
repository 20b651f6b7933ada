"""Sidecar proxies (``connect-proxy``): :func:`plan_sidecar` decides everything Consul
would give one, as a finished :class:`SidecarPlan` of cluster and listener specs that
:mod:`meshgw._envoy` turns into dicts (the assembler is :mod:`meshgw._translation`):

* the **inbound** side: ``public_listener:<addr>:<port>`` (the destination's intentions as
  an RBAC filter (:mod:`meshgw._plan.rbac`), then ``tcp_proxy`` -- or an HTTP connection
  manager with the HTTP RBAC filter for ``http``/``http2``/``grpc`` -- to ``local_app``)
  and the ``local_app`` cluster;
* per **upstream**: a listener on its local bind address, the clusters of its discovery
  chain (one per target, behind an aggregate cluster when the resolver fails over) and
  their endpoints, chosen per target by the resolved mesh gateway mode: the target's
  instances (LAN address in the local datacenter, WAN-preferred elsewhere), the local
  datacenter's mesh gateways (LAN), or the target datacenter's / peer's mesh gateways
  (WAN).

docs/sidecar.md describes the output and where it deliberately differs from Consul.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Sequence
from typing import Any, Literal

import attrs

from meshgw._envoy.clusters import (
    AnyClusterSpec,
    CircuitBreakers,
    ClusterSpec,
    Discovery,
    OutlierDetection,
    RawClusterSpec,
    UpstreamTls,
    aggregate_cluster,
)
from meshgw._envoy.endpoints import Endpoint, eds_service_name
from meshgw._envoy.listeners import (
    AnyListenerSpec,
    FilterChainSpec,
    HttpSpec,
    ListenerSpec,
    RawListenerSpec,
)
from meshgw._envoy.rbac import RbacPolicy
from meshgw._envoy.tls import SanMatcher, TlsContexts, TlsIdentity, uri_san_exact, uri_san_prefix
from meshgw._filters import compile_filter
from meshgw._plan.chaincluster import discovery_chain_cluster
from meshgw._plan.discovery import choose_discovery
from meshgw._plan.rbac import inbound_rbac
from meshgw._resolve import chain as chains
from meshgw._resolve.catalog import HEALTHY, UNHEALTHY, CatalogView, Instance
from meshgw._resolve.chain import ChainTarget, DiscoveryChain, compile_chain
from meshgw._resolve.intentions import inbound_policy
from meshgw._resolve.memo import per_mesh
from meshgw._resolve.modes import (
    ROUTE_LOCAL_GATEWAY,
    ROUTE_REMOTE_GATEWAY,
    ModeResolution,
    TargetModes,
    resolve_mode,
)
from meshgw._values import is_ip
from meshgw.errors import LookupFailed, TranslationError
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

__all__ = ["MISSING_POLICIES", "MissingPolicy", "SidecarPlan", "plan_sidecar"]

#: What to do when an upstream cannot be given endpoints (no gateway for its mode, a
#: prepared query): ``"error"`` raises TranslationError; ``"warn"`` gives its cluster an
#: empty load assignment and records a warning.
MissingPolicy = Literal["error", "warn"]
MISSING_POLICIES: tuple[MissingPolicy, ...] = ("error", "warn")

_DEFAULT = "default"
_PREPARED_QUERY = "prepared_query"
# L7 discovery-chain entries meshgw does not model.
_ROUTING_KINDS = frozenset({"service-router", "service-splitter"})
_HTTP_PROTOCOLS = frozenset({"http", "http2", "grpc"})
_HTTP2_PROTOCOLS = frozenset({"http2", "grpc"})
_DEFAULT_TIMEOUT_MS = 5000


@attrs.frozen
class SidecarPlan:
    """Everything :func:`meshgw.translate` emits for one sidecar proxy.

    ``inbound_rbac`` is the policy of the public listener's RBAC filter. ``clusters``
    and ``listeners`` are complete and distinct by name (two upstreams reaching one
    target share its cluster). ``warnings`` are the messages to emit, in order.
    ``static_refusal`` is why the proxy cannot be given ``endpoints="static"`` (``""``
    when it can).
    """

    service: Service
    owner: str
    inbound_rbac: RbacPolicy
    clusters: tuple[AnyClusterSpec, ...]
    listeners: tuple[AnyListenerSpec, ...]
    warnings: tuple[str, ...] = ()
    static_refusal: str = ""


def plan_sidecar(
    service: Service, mesh: Mesh, *, view: CatalogView, missing: MissingPolicy = "error"
) -> SidecarPlan:
    """Decide what the ``connect-proxy`` registration ``service`` needs from ``mesh``
    (``view``: the mesh's :func:`~meshgw._resolve.catalog.catalog_view`).

    Raises :class:`~meshgw.errors.TranslationError` when an upstream's mode needs mesh
    gateways that the catalog does not have, for a prepared-query upstream (meshgw
    cannot run queries offline), an unknown peer, or an unusable configuration. With
    ``missing="warn"`` the gateway and prepared-query cases instead give the cluster an
    empty ClusterLoadAssignment and record a warning.
    """
    ctx = _Context.create(service, mesh, view, missing)
    resources = _Resources()
    inbound_rbac = _inbound_rbac(ctx)
    resources.add(_inbound(ctx, inbound_rbac))
    for i, upstream in enumerate(ctx.proxy.upstreams):
        try:
            part = _upstream(ctx, upstream)
        except TranslationError as exc:
            # The field path, so that whoever reports it can point at the upstream.
            raise TranslationError(f"proxy.upstreams[{i}]: {exc}") from None
        resources.add(part)
    if ctx.transparent:
        ctx.warn(
            f"{ctx.sid!r} is in transparent proxy mode: meshgw translates its explicit "
            "upstreams only; the outbound listener that captures other traffic is not "
            "generated"
        )
    static_refusal = ""
    if ctx.tls.sds_over_ads and ctx.proxy.upstreams:
        # Static clusters are initialised before Envoy's ADS stream exists; an SDS
        # subscription over ADS from one crashes Envoy (envoyproxy/envoy#15517).
        static_refusal = (
            f"{ctx.sid!r}: endpoints='static' makes every upstream cluster STATIC, and "
            'Envoy cannot fetch their secrets over ADS (mesh_tls sds_cluster = "ads"; '
            "envoyproxy/envoy#15517): use endpoints='eds', or name an SDS cluster"
        )
    return SidecarPlan(
        service=service,
        owner=f"connect-proxy {ctx.sid!r}",
        inbound_rbac=inbound_rbac,
        clusters=tuple(resources.clusters.values()),
        listeners=tuple(resources.listeners.values()),
        warnings=tuple(ctx.messages),
        static_refusal=static_refusal,
    )


# --------------------------------------------------------------------------------------
# Context
# --------------------------------------------------------------------------------------


@attrs.frozen
class _Context:
    """The proxy being planned, its merged options and the mesh indexes."""

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
    modes: TargetModes  # mode resolution of every discovery-chain target, set up once
    messages: list[str] = attrs.field(factory=list)

    @classmethod
    def create(
        cls, service: Service, mesh: Mesh, view: CatalogView, missing: MissingPolicy
    ) -> _Context:
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
            view=view,
            proxy=proxy,
            sid=sid,
            downstream=downstream,
            namespace=namespace,
            partition=partition,
            datacenter=mesh.datacenter,
            options=options,
            tls=TlsContexts.create(mesh.tls, identity),
            missing=missing,
            transparent=_proxy_mode(proxy, mesh, downstream, partition) == ProxyMode.TRANSPARENT,
            routed=per_mesh(mesh, "routed_services", _routed_services),
            modes=TargetModes(service, mesh),
        )

    def warn(self, message: str) -> None:
        """Record a warning for the plan."""
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
# Collecting the resources of the inbound side and every upstream
# --------------------------------------------------------------------------------------


@attrs.frozen
class _Part:
    """What one side of the proxy (the inbound side, or one upstream) needs: ``who`` it
    is (for messages), its clusters, and its listener bound to ``bind``."""

    who: str
    clusters: tuple[AnyClusterSpec, ...]
    listener: AnyListenerSpec
    bind: str


class _Resources:
    """The parts' resources by name; a cluster two parts need alike is kept once, and
    anything else two parts share is refused."""

    __slots__ = ("binds", "clusters", "listeners", "owner")

    def __init__(self) -> None:
        self.clusters: dict[str, AnyClusterSpec] = {}
        self.listeners: dict[str, AnyListenerSpec] = {}
        self.owner: dict[str, str] = {}
        self.binds: dict[str, str] = {}

    def add(self, part: _Part) -> None:
        for spec in part.clusters:
            previous = self.clusters.get(spec.name)
            if previous is None:
                self.clusters[spec.name] = spec
                self.owner[spec.name] = part.who
            elif previous != spec:
                # Two upstreams reaching the same target share its cluster (Consul keys
                # clusters by name); differing definitions would make one silently lose.
                raise TranslationError(
                    f"{part.who} and {self.owner[spec.name]} both define cluster "
                    f"{spec.name!r} differently (different upstream config for the same target)"
                )
        name = part.listener.name
        for key, kind in ((name, "listener name"), (part.bind, "address")):
            if key in self.binds:
                raise TranslationError(
                    f"{part.who} and {self.binds[key]} use the same {kind} {key}"
                )
            self.binds[key] = part.who
        self.listeners[name] = part.listener


# --------------------------------------------------------------------------------------
# Inbound
# --------------------------------------------------------------------------------------


def _inbound_rbac(ctx: _Context) -> RbacPolicy:
    """The destination service's intentions as the public listener's RBAC policy."""
    policy = inbound_policy(ctx.mesh, ctx.downstream, ctx.namespace, ctx.partition)
    for message in policy.skipped:
        ctx.warn(f"{ctx.sid!r}: {message}")
    return inbound_rbac(policy, http=ctx.options.protocol in _HTTP_PROTOCOLS)


def _inbound(ctx: _Context, rbac: RbacPolicy) -> _Part:
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
    listener: AnyListenerSpec
    if opts.envoy_public_listener_json:
        listener = _public_listener_from_json(ctx, opts.envoy_public_listener_json, name, rbac)
    else:
        # An HTTP service enforces its intentions in the HTTP connection manager (where
        # L7 permissions apply); a TCP one with the network filter in front of tcp_proxy.
        http = _http(opts.protocol, PUBLIC_LISTENER, rbac=rbac)
        chain = FilterChainSpec(
            stat_prefix=PUBLIC_LISTENER,
            cluster=LOCAL_APP_CLUSTER,
            rbac=rbac if http is None else None,
            rbac_stat_prefix=CONNECT_AUTHZ_STAT_PREFIX,
            http=http,
            tls=ctx.tls,
        )
        listener = ListenerSpec(
            name=name,
            address=address,
            port=port,
            filter_chains=(chain,),
            tls_inspector=False,
            traffic_direction="INBOUND",
        )
    cluster: AnyClusterSpec
    if opts.envoy_local_cluster_json:
        value = _resource_from_json(opts.envoy_local_cluster_json, "envoy_local_cluster_json")
        cluster = RawClusterSpec(
            name=str(value.setdefault("name", LOCAL_APP_CLUSTER)), text=json.dumps(value)
        )
    else:
        cluster = _local_app_cluster(ctx)
    return _Part("the public listener", (cluster,), listener, f"{address}:{port}")


def _http(protocol: str, route_name: str, *, rbac: RbacPolicy | None = None) -> HttpSpec | None:
    """The HTTP connection manager for an HTTP-like ``protocol`` (with the HTTP RBAC
    filter enforcing ``rbac``), else None (TCP)."""
    if protocol not in _HTTP_PROTOCOLS:
        return None
    return HttpSpec(route_name=route_name, http2=protocol in _HTTP2_PROTOCOLS, rbac=rbac)


def _local_app_cluster(ctx: _Context) -> ClusterSpec:
    proxy = ctx.proxy
    if proxy.local_service_socket_path:
        endpoint = Endpoint(proxy.local_service_socket_path, 0, pipe=True)
    else:
        port = proxy.local_service_port or _destination_port(ctx)
        if port < 1:
            raise TranslationError(
                f"connect-proxy {ctx.sid!r} has no proxy.local_service_port (and its "
                f"destination service {ctx.downstream!r} is not registered with a port)"
            )
        endpoint = Endpoint(proxy.local_service_address or "127.0.0.1", port)
    return ClusterSpec(
        name=LOCAL_APP_CLUSTER,
        connect_timeout=ms_duration(ctx.options.local_connect_timeout_ms),
        endpoints=(endpoint,),
        discovery="STATIC",
        outlier_detection=None,
        http2=ctx.options.protocol in _HTTP2_PROTOCOLS,
    )


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
    ctx: _Context, text: str, name: str, rbac: RbacPolicy
) -> RawListenerSpec:
    """The ``envoy_public_listener_json`` escape hatch; the builder adds the connect
    filters as Consul does: for an HTTP service the HTTP RBAC filter first in every HTTP
    connection manager (when every chain has one), else the network RBAC filter first in
    every chain; and the mTLS transport socket unless some chain already has one."""
    listener = _resource_from_json(text, "envoy_public_listener_json")
    listener.setdefault("name", name)
    chains = listener.get("filter_chains", listener.get("filterChains"))
    if not isinstance(chains, list) or not chains:
        raise TranslationError(
            f"{ctx.sid!r}: envoy_public_listener_json must have at least one filter chain"
        )
    for chain in chains:
        if not isinstance(chain, dict):
            raise TranslationError(
                f"{ctx.sid!r}: envoy_public_listener_json filter chains must be objects"
            )
        if not isinstance(chain.get("filters", []), list):
            raise TranslationError(
                f"{ctx.sid!r}: envoy_public_listener_json filters must be a list"
            )
    return RawListenerSpec(
        name=str(listener["name"]),
        text=json.dumps(listener),
        rbac=rbac,
        rbac_stat_prefix=CONNECT_AUTHZ_STAT_PREFIX,
        http_rbac=ctx.options.protocol in _HTTP_PROTOCOLS,
        tls=ctx.tls,
    )


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
class _Target:
    """One upstream target's cluster: its name, TLS identity and endpoints.

    ``endpoints`` is ``None`` when they could not be determined (``missing="warn"``):
    the cluster gets an empty ClusterLoadAssignment.
    """

    cluster: str
    sni: str
    san: tuple[SanMatcher, ...]
    endpoints: tuple[Endpoint, ...] | None


@attrs.frozen
class _Shape:
    """What every cluster of one upstream shares."""

    connect_timeout: str
    protocol: str
    options: UpstreamOptions
    kind: Literal["chain", "peered", "query"]


@attrs.frozen
class _Where:
    """An upstream and how messages name it."""

    upstream: Upstream
    eid: str
    who: str


def _upstream(ctx: _Context, up: Upstream) -> _Part:
    eid = upstream_envoy_id(
        up.destination_name,
        datacenter=up.datacenter,
        peer=up.destination_peer,
        destination_type=up.destination_type,
    )
    where = _Where(up, eid, f"upstream {eid!r} of {ctx.sid!r}")
    if up.destination_type == _PREPARED_QUERY:
        return _query_upstream(ctx, where)
    if up.destination_peer:
        return _peered_upstream(ctx, where)
    return _chain_upstream(ctx, where)


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
    return ctx.modes.resolve(
        up,
        service_name=target.service,
        namespace=target.namespace,
        partition="" if target.peer else target.partition,
        datacenter=target.datacenter,
        peer=target.peer,
    )


def _chain_upstream(ctx: _Context, where: _Where) -> _Part:
    up = where.upstream
    chain = _compile(ctx, where)
    opts = _upstream_config(ctx, up)
    resolutions = [_resolve_target(ctx, up, t) for t in chain.targets]
    prefix, shape = _chain_shape(ctx, chain, opts, resolutions)
    if _warn_unmodelled(ctx, where, chain, opts):
        opts = attrs.evolve(opts, envoy_listener_json="", envoy_cluster_json="")
        shape = attrs.evolve(shape, options=opts)
    targets = [
        _chain_target(ctx, where.who, target, res, prefix)
        for target, res in zip(chain.targets, resolutions, strict=True)
    ]
    clusters, cluster_name = _target_clusters(ctx, targets, shape)
    stat = upstream_stat_prefix(chain.service, chain.namespace, chain.partition, chain.datacenter)
    return _outbound(where, stat, cluster_name, shape, clusters)


def _compile(ctx: _Context, where: _Where) -> DiscoveryChain:
    up = where.upstream
    try:
        return compile_chain(
            ctx.mesh,
            up.destination_name,
            namespace=up.destination_namespace or ctx.namespace,
            partition=up.destination_partition or ctx.partition,
            datacenter=up.datacenter or ctx.datacenter,
        )
    except TranslationError as exc:
        raise TranslationError(f"{where.who}: {exc}") from None


def _chain_shape(
    ctx: _Context,
    chain: DiscoveryChain,
    opts: UpstreamOptions,
    resolutions: Sequence[ModeResolution],
) -> tuple[str, _Shape]:
    """The cluster-name prefix and the shape of a chain upstream's clusters.

    Consul's chain compiler records what the upstream's overrides changed; the cluster
    names then carry a hash of exactly those overrides (naming.customization_hash).
    """
    chain_protocol = chains.chain_protocol(ctx.mesh, chain.service, chain.partition)
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
    shape = _Shape(
        connect_timeout=ns_duration(timeout_ns),
        protocol=opts.protocol or chain_protocol,
        options=opts,
        kind="chain",
    )
    return prefix, shape


def _warn_unmodelled(
    ctx: _Context, where: _Where, chain: DiscoveryChain, opts: UpstreamOptions
) -> bool:
    """Warn about what meshgw does not model for this chain; True when the upstream's
    escape hatches must be ignored (as Consul ignores them for a non-default chain)."""
    routed = chain.service in ctx.routed
    if routed:
        ctx.warn(
            f"{where.who}: the service-router / service-splitter of {chain.service!r} is not "
            "modelled by meshgw: all traffic goes to the service-resolver's targets"
        )
    escape = bool(opts.envoy_listener_json or opts.envoy_cluster_json)
    if escape and (routed or not chain.default):
        ctx.warn(
            f"{where.who}: envoy_listener_json / envoy_cluster_json ignored because a "
            f"discovery chain (service-resolver, -router or -splitter) exists for "
            f"{chain.service!r} (as Consul does)"
        )
        return True
    return False


def _target_clusters(
    ctx: _Context, targets: Sequence[_Target], shape: _Shape
) -> tuple[tuple[AnyClusterSpec, ...], str]:
    """The clusters of a chain's targets and the name the listener sends to: the one
    target's cluster, or an aggregate cluster over one cluster per failover target."""
    base = targets[0].cluster
    if len(targets) == 1:
        return _single(_target_cluster(ctx, targets[0], base, shape))
    children = [failover_target_name(index, base) for index in range(len(targets))]
    clusters = [
        _target_cluster(ctx, target, child, shape)
        for target, child in zip(targets, children, strict=True)
    ]
    clusters.append(aggregate_cluster(base, children, shape.connect_timeout))
    return tuple(clusters), base


def _single(spec: AnyClusterSpec) -> tuple[tuple[AnyClusterSpec, ...], str]:
    return (spec,), spec.name


# A proxy has few distinct override combinations; the hash is pure, so cache it.
_customization_hash = functools.lru_cache(maxsize=256)(customization_hash)


def _chain_target(
    ctx: _Context,
    who: str,
    target: ChainTarget,
    res: ModeResolution,
    prefix: str,
) -> _Target:
    mesh = ctx.mesh
    if target.peer:
        peer = ctx.peer(target.peer, who)
        return _peer_target(ctx, who, target, res, peer, prefix=prefix)
    td = mesh.trust_domain
    name = service_sni(
        target.service, target.namespace, target.partition, target.datacenter, td, target.subset
    )
    sd = mesh.service_defaults(target.service, target.partition)
    sni = sd.external_sni if sd is not None and sd.external_sni else name
    san = spiffe_id(target.service, target.namespace, target.partition, target.datacenter, td)
    return _Target(
        cluster=customized_cluster_name(prefix, name),
        sni=sni,
        san=(uri_san_exact(san),),
        endpoints=_target_endpoints(ctx, who, target, res),
    )


def _peer_target(
    ctx: _Context,
    who: str,
    target: ChainTarget,
    res: ModeResolution,
    peer: Peer,
    *,
    prefix: str = "",
) -> _Target:
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
    return _Target(
        cluster=customized_cluster_name(prefix, name),
        sni=sni,
        san=(uri_san_exact(san),),
        endpoints=_peer_endpoints(ctx, who, target, res, peer),
    )


def _peered_upstream(ctx: _Context, where: _Where) -> _Part:
    up = where.upstream
    peer = ctx.peer(up.destination_peer, where.who)
    opts = _upstream_config(ctx, up)
    res = resolve_mode(ctx.service, up, ctx.mesh)
    namespace = up.destination_namespace or _DEFAULT
    target = ChainTarget(up.destination_name, namespace, ctx.partition, "", peer.name)
    planned = _peer_target(ctx, where.who, target, res, peer)
    exported = _peer_service_protocol(peer, up.destination_name, namespace)
    shape = _Shape(
        connect_timeout=ms_duration(opts.connect_timeout_ms or _DEFAULT_TIMEOUT_MS),
        protocol=opts.protocol or exported or "tcp",
        options=opts,
        kind="peered",
    )
    clusters, cluster_name = _single(_target_cluster(ctx, planned, planned.cluster, shape))
    stat = upstream_peered_stat_prefix(up.destination_name, namespace, peer.name)
    return _outbound(where, stat, cluster_name, shape, clusters)


def _peer_service_protocol(peer: Peer, service: str, namespace: str) -> str:
    for ps in peer.services:
        if ps.name == service and (ps.namespace or _DEFAULT) == namespace:
            return ps.protocol.lower()
    return ""


def _query_upstream(ctx: _Context, where: _Where) -> _Part:
    up = where.upstream
    message = (
        f"{where.who} is a prepared query: meshgw cannot evaluate prepared queries offline "
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
    planned = _Target(
        cluster=name,
        sni=name,
        san=(uri_san_prefix(f"spiffe://{ctx.mesh.trust_domain}/"),),
        endpoints=None,
    )
    shape = _Shape(
        connect_timeout=ms_duration(opts.connect_timeout_ms or _DEFAULT_TIMEOUT_MS),
        protocol=opts.protocol or "tcp",
        options=opts,
        kind="query",
    )
    clusters, cluster_name = _single(_target_cluster(ctx, planned, name, shape))
    stat = upstream_prepared_query_stat_prefix(up.destination_name, up.datacenter)
    return _outbound(where, stat, cluster_name, shape, clusters)


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
    # Consul's makeLoadAssignmentEndpointGroup: the gateways carry the target's health
    # (healthy if any instance is), with their own weights. A target without instances
    # has a known, empty health: its gateways are listed UNHEALTHY, and Envoy's
    # aggregate cluster moves on to the next failover target.
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


def _target_cluster(ctx: _Context, target: _Target, name: str, shape: _Shape) -> AnyClusterSpec:
    """The cluster for ``target`` under ``name``."""
    tls = UpstreamTls(ctx.tls, target.sni, target.san)
    # An unknown or empty endpoint set gets an assignment without locality groups.
    endpoints = target.endpoints or None
    if shape.options.envoy_cluster_json:
        return _escape_hatch_cluster(shape.options.envoy_cluster_json, name, tls, endpoints)
    discovery: Discovery = "EDS"
    chosen = endpoints
    if endpoints:
        discovery, chosen = choose_discovery(endpoints)
        if discovery != "EDS" and ctx.tls.sds_over_ads:
            # Envoy crashes (segfault) initialising a DNS-typed cluster whose secrets
            # come over ADS: the ADS stream does not exist yet (envoyproxy/envoy#15517).
            host = next(ep.address for ep in chosen or () if not is_ip(ep.address))
            raise TranslationError(
                f"cluster {name!r}: endpoint {host!r} is a host name, so the cluster is "
                f"{discovery}, and Envoy crashes fetching such a cluster's secrets over "
                'ADS (mesh_tls sds_cluster = "ads"; envoyproxy/envoy#15517): register '
                "the gateways or instances by IP address, or name an SDS cluster in "
                "mesh_tls.sds_cluster"
            )
    http2 = shape.protocol in _HTTP2_PROTOCOLS
    breakers = _circuit_breakers(shape.options.limits)
    outlier = _outlier_detection(shape.options.passive_health_check)
    if shape.kind == "chain":
        return discovery_chain_cluster(
            name,
            shape.connect_timeout,
            chosen,
            discovery,
            tls=tls,
            http2=http2,
            circuit_breakers=breakers,
            outlier_detection=outlier,
        )
    if shape.kind == "peered":
        # Consul: health checks of a peer's services do not reach us, so outlier
        # detection may eject every host of the cluster.
        outlier = attrs.evolve(outlier, max_ejection_percent=100)
    return ClusterSpec(
        name=name,
        connect_timeout=shape.connect_timeout,
        endpoints=chosen,
        discovery=discovery,
        circuit_breakers=breakers,
        outlier_detection=outlier,
        no_panic_threshold=shape.kind != "query",
        tls=tls,
        http2=http2,
    )


def _escape_hatch_cluster(
    text: str, name: str, tls: UpstreamTls, endpoints: tuple[Endpoint, ...] | None
) -> RawClusterSpec:
    """The ``envoy_cluster_json`` escape hatch: the user's cluster, with the mTLS
    transport socket added when it has none (as Consul does), and the target's
    endpoints when it is an EDS cluster."""
    cluster = _resource_from_json(text, "envoy_cluster_json")
    cluster.setdefault("name", name)
    eds = cluster.get("type", "EDS") == "EDS" and "load_assignment" not in cluster
    return RawClusterSpec(
        name=str(cluster["name"]),
        text=json.dumps(cluster),
        tls=tls,
        eds_name=str(eds_service_name(cluster)) if eds else "",
        endpoints=endpoints,
    )


def _circuit_breakers(limits: Limits | None) -> CircuitBreakers:
    if limits is None:
        return CircuitBreakers()
    return CircuitBreakers(
        max_connections=limits.max_connections,
        max_pending_requests=limits.max_pending_requests,
        max_requests=limits.max_concurrent_requests,
    )


def _outlier_detection(check: PassiveHealthCheck | None) -> OutlierDetection:
    # Consul's ToOutlierDetection: zero interval / max_failures mean "Envoy's default".
    if check is None:
        return OutlierDetection()
    return OutlierDetection(
        interval=ns_duration(check.interval) if check.interval else "",
        consecutive_5xx=check.max_failures or 0,
        enforcing_consecutive_5xx=check.enforcing_consecutive_5xx,
        max_ejection_percent=check.max_ejection_percent,
        base_ejection_time=(
            ns_duration(check.base_ejection_time) if check.base_ejection_time is not None else ""
        ),
    )


def _outbound(
    where: _Where,
    stat: str,
    cluster: str,
    shape: _Shape,
    clusters: Iterable[AnyClusterSpec],
) -> _Part:
    """The upstream's part: its clusters and its listener, sending to ``cluster``."""
    up, who = where.upstream, where.who
    pipe_mode: int | None = None
    if up.local_bind_socket_path:
        name = socket_listener_name(where.eid, up.local_bind_socket_path)
        if up.local_bind_socket_mode:
            try:
                pipe_mode = int(up.local_bind_socket_mode, 8)
            except ValueError:
                raise TranslationError(
                    f"{who}: local_bind_socket_mode {up.local_bind_socket_mode!r} is not an "
                    "octal file mode"
                ) from None
        bind = up.local_bind_socket_path
    else:
        if up.local_bind_port < 1:
            raise TranslationError(f"{who} has no local_bind_port or local_bind_socket_path")
        name = listener_name(where.eid, up.bind_address, up.local_bind_port)
        bind = f"{up.bind_address}:{up.local_bind_port}"
    listener: AnyListenerSpec
    if shape.options.envoy_listener_json:
        value = _resource_from_json(shape.options.envoy_listener_json, "envoy_listener_json")
        value.setdefault("name", name)
        listener = RawListenerSpec(name=str(value["name"]), text=json.dumps(value))
    else:
        chain = FilterChainSpec(
            stat_prefix=stat, cluster=cluster, http=_http(shape.protocol, where.eid)
        )
        listener = ListenerSpec(
            name=name,
            address=up.local_bind_socket_path or up.bind_address,
            port=0 if up.local_bind_socket_path else up.local_bind_port,
            filter_chains=(chain,),
            tls_inspector=False,
            traffic_direction="OUTBOUND",
            pipe=bool(up.local_bind_socket_path),
            pipe_mode=pipe_mode,
        )
    return _Part(who, tuple(clusters), listener, bind)
