"""Mesh gateway mode resolution, with provenance.

For each upstream of a sidecar proxy, :func:`resolve_mode` works out the mesh gateway mode
Consul would apply, which configuration layer decided it, and the route traffic takes:
``direct``, ``local-gateway`` (the proxy's own datacenter/partition) or ``remote-gateway``
(the target's datacenter/partition, or the peer's gateways). :func:`explain` does it for
every upstream of a proxy and prints a table. docs/modes.md describes the rules.

The precedence (highest first; the first non-empty value wins, ``none`` is a value)::

    1 upstream                            upstreams[].mesh_gateway
    2 service-defaults-override           service-defaults[downstream] Overrides[match]
    3 proxy                               the registration's proxy.mesh_gateway
    4 service-defaults-upstream-defaults  service-defaults[downstream] UpstreamConfig.Defaults
    5 service-defaults                    service-defaults[downstream].MeshGateway
    6 proxy-defaults                      proxy-defaults[downstream's partition].MeshGateway
    7 target-service-defaults             service-defaults[target].MeshGateway (chain)
    8 target-proxy-defaults               proxy-defaults[target's partition].MeshGateway (chain)
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from enum import Enum
from typing import Any

import attrs

from meshgw._resolve import lookup
from meshgw._resolve.chain import compile_chain
from meshgw._resolve.intentions import Identity, IntentionDecision, decide_upstream
from meshgw._resolve.placement import MeshProxy
from meshgw._values import by_norm_key
from meshgw.errors import LookupFailed, MeshgwError, UsageError
from meshgw.model._options import mesh_gateway_mode
from meshgw.model.common import GatewayMode, ServiceKind
from meshgw.model.entries import ProxyDefaults, ServiceDefaults
from meshgw.model.mesh import DEFAULT_DATACENTER, Mesh
from meshgw.model.registration import Proxy, Service, Upstream
from meshgw.naming import upstream_envoy_id

__all__ = [
    "DEFAULT_SOURCE",
    "LAYERS",
    "ROUTES",
    "ROUTE_DIRECT",
    "ROUTE_LOCAL_GATEWAY",
    "ROUTE_REMOTE_GATEWAY",
    "Explanation",
    "LayerValue",
    "ModeResolution",
    "ModeTarget",
    "Route",
    "TargetResolution",
    "explain",
    "resolve_mode",
    "resolve_target_mode",
]

#: The layer names, highest precedence first; also the possible ``source`` values.
LAYERS: tuple[str, ...] = (
    "upstream",
    "service-defaults-override",
    "proxy",
    "service-defaults-upstream-defaults",
    "service-defaults",
    "proxy-defaults",
    "target-service-defaults",
    "target-proxy-defaults",
)
#: ``source`` when no layer sets a mode.
DEFAULT_SOURCE = "default"


class Route(str, Enum):
    """Which way an upstream target's traffic goes. A ``str``: ``route == "direct"``
    works, and a typo such as ``Route("local_gateway")`` fails loudly."""

    DIRECT = "direct"
    LOCAL_GATEWAY = "local-gateway"
    REMOTE_GATEWAY = "remote-gateway"

    def __str__(self) -> str:
        return self.value


ROUTE_DIRECT = Route.DIRECT
ROUTE_LOCAL_GATEWAY = Route.LOCAL_GATEWAY
ROUTE_REMOTE_GATEWAY = Route.REMOTE_GATEWAY
#: Every possible ``route``.
ROUTES: tuple[Route, ...] = tuple(Route)

_DEFAULT = "default"  # Consul's name for the default namespace and partition
_UNSET = GatewayMode.DEFAULT
_PREPARED_QUERY = "prepared_query"
_CLIENT_LAYERS = 6  # layers 1-6 are merged before the discovery chain sees them

# Upstream flavours: Consul treats each one differently.
_SERVICE = "service"  # compiled into a discovery chain: layers 1-8
_PEERED = "peered"  # no discovery chain: layers 1-6 only
_QUERY = "prepared-query"  # no central config and no chain: layer 1 only


@attrs.frozen
class LayerValue:
    """One layer's contribution: its name, its mode (``""`` when unset) and which entry
    or field it was read from."""

    layer: str
    mode: GatewayMode
    detail: str

    def to_dict(self) -> dict[str, str]:
        """A JSON-able mapping (the mode as a plain string)."""
        return {"layer": self.layer, "mode": self.mode.value, "detail": self.detail}


@attrs.frozen
class ModeTarget:
    """Where an upstream (or one discovery-chain target) points.

    ``datacenter`` is empty for a peer target; ``namespace`` and ``partition`` are never
    empty (``default`` is written out).
    """

    service: str
    namespace: str = _DEFAULT
    partition: str = _DEFAULT
    datacenter: str = ""
    peer: str = ""

    def __str__(self) -> str:
        where = [f"peer {self.peer}" if self.peer else self.datacenter]
        if self.partition != _DEFAULT:
            where.append(f"partition {self.partition}")
        if self.namespace != _DEFAULT:
            where.append(f"namespace {self.namespace}")
        return f"{self.service} ({', '.join(where)})"

    def to_dict(self) -> dict[str, str]:
        """A JSON-able mapping."""
        return {
            "service": self.service,
            "namespace": self.namespace,
            "partition": self.partition,
            "datacenter": self.datacenter,
            "peer": self.peer,
        }


@attrs.frozen(kw_only=True)
class ModeResolution:
    """The mesh gateway mode of one upstream target, where it came from, and the route.

    ``mode`` is the first non-empty value of ``layers`` (``""`` when none is set) and
    ``source`` names that layer (``"default"`` when none). ``override_mode`` merges
    layers 1-6 only: what Consul passes to the discovery chain as
    ``OverrideMeshGateway``; ``chain_mode`` merges layers 7-8, what the chain would pick
    by itself. ``customized`` says whether Consul's chain compiler records a mesh gateway
    customization for this target (the override is set, differs from the chain's own
    mode, and the target is not external); Consul's cluster-name customization hash is
    chain-wide, so it applies when any target of the chain is customized.
    ``external`` is true when the target's service-defaults set ``ExternalSNI``: Consul
    then bypasses mesh gateways whatever the mode.
    """

    service: str
    upstream: str
    target: ModeTarget
    mode: GatewayMode
    source: str
    layers: tuple[LayerValue, ...]
    route: Route
    reason: str
    override_mode: GatewayMode
    chain_mode: GatewayMode
    customized: bool = False
    external: bool = False

    def layer(self, name: str) -> LayerValue:
        """The layer called ``name`` (one of :data:`LAYERS`)."""
        for value in self.layers:
            if value.layer == name:
                return value
        raise LookupFailed(f"no layer {name!r} (layers: {', '.join(LAYERS)})")

    def render_layers(self) -> str:
        """Every layer, highest precedence first: name, mode (``-`` when unset), where
        it was read from — the table docs/modes.md shows."""
        width = max(len(layer) for layer in LAYERS) + 3
        return "".join(
            f"{v.layer:<{width}}{(v.mode.value or '-'):<8}{v.detail}\n" for v in self.layers
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able mapping (modes as plain strings)."""
        return {
            "service": self.service,
            "upstream": self.upstream,
            "target": self.target.to_dict(),
            "mode": self.mode.value,
            "source": self.source,
            "route": self.route.value,
            "reason": self.reason,
            "override_mode": self.override_mode.value,
            "chain_mode": self.chain_mode.value,
            "customized": self.customized,
            "external": self.external,
            "layers": [layer.to_dict() for layer in self.layers],
        }


@attrs.frozen(kw_only=True)
class TargetResolution:
    """One target of an upstream's discovery chain (after ``service-resolver``
    redirects): ``role`` is ``"primary"`` or ``"failover"``, ``target`` Consul's target
    id, and ``resolution`` that target's own mode and route."""

    upstream: str
    role: str
    target: str
    resolution: ModeResolution

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able mapping (mode and route as plain strings)."""
        return {
            "upstream": self.upstream,
            "role": self.role,
            "target": self.target,
            "mode": self.resolution.mode.value,
            "source": self.resolution.source,
            "route": self.resolution.route.value,
            "reason": self.resolution.reason,
        }


_COLUMNS = ("UPSTREAM", "TARGET", "MODE", "SOURCE", "ROUTE", "INTENTION", "REASON")


@attrs.frozen(kw_only=True)
class Explanation:
    """One :class:`ModeResolution` per upstream of a proxy, in upstream order.

    Iterate over it, or print it (``render()`` / ``str()``) as a fixed-width table.
    ``note`` says why there is nothing to resolve (a gateway, a typical service, a proxy
    without explicit upstreams).
    """

    service: str
    datacenter: str
    partition: str
    resolutions: tuple[ModeResolution, ...] = ()
    note: str = ""
    #: Every upstream's discovery-chain targets, when a resolver redirects or fails over
    #: (upstreams whose chain is just their own target are not listed).
    targets: tuple[TargetResolution, ...] = ()
    #: Why an upstream's chain could not be compiled (upstream id → message).
    chain_problems: tuple[tuple[str, str], ...] = ()
    #: Whether the destination's intentions let this proxy's service in, and which
    #: intention (or the default) decides (upstream id → decision), per upstream.
    intentions: tuple[tuple[str, IntentionDecision], ...] = ()

    def __iter__(self) -> Iterator[ModeResolution]:
        return iter(self.resolutions)

    def __len__(self) -> int:
        return len(self.resolutions)

    def __str__(self) -> str:
        return self.render()

    def only(self, upstream: str) -> Explanation:
        """The explanation of one upstream (its Envoy id or destination name)."""
        chosen = [r for r in self.resolutions if upstream in (r.upstream, r.target.service)]
        if not chosen:
            known = ", ".join(r.upstream for r in self.resolutions) or "none"
            raise LookupFailed(
                f"{self.service!r} has no upstream {upstream!r} (upstreams: {known})"
            )
        ids = {r.upstream for r in chosen}
        return attrs.evolve(
            self,
            resolutions=tuple(chosen),
            targets=tuple(t for t in self.targets if t.upstream in ids),
            chain_problems=tuple(p for p in self.chain_problems if p[0] in ids),
            intentions=tuple(i for i in self.intentions if i[0] in ids),
        )

    def intention(self, upstream: str) -> IntentionDecision | None:
        """The intentions decision for one upstream (its Envoy id)."""
        return dict(self.intentions).get(upstream)

    def render(self, verbose: bool = False) -> str:
        """A deterministic text table: one row per upstream, the reason last. With
        ``verbose``, every upstream's eight layers and its chain's targets follow."""
        text = self._table()
        if not verbose:
            return text
        parts = [text]
        for r in self.resolutions:
            parts.append(f"\n{r.upstream}: layers (highest precedence first)\n")
            parts.append(r.render_layers())
            targets = [t for t in self.targets if t.upstream == r.upstream]
            if targets:
                parts.append(f"{r.upstream}: discovery chain targets\n")
                parts.extend(
                    f"  {t.role:<9}{t.target}  {t.resolution.mode.value or '-'} "
                    f"({t.resolution.source}) → {t.resolution.route}: {t.resolution.reason}\n"
                    for t in targets
                )
            for upstream, problem in self.chain_problems:
                if upstream == r.upstream:
                    parts.append(f"{r.upstream}: discovery chain not compiled: {problem}\n")
            decision = self.intention(r.upstream)
            if decision is not None:
                parts.append(f"{r.upstream}: intentions: {decision}\n")
        return "".join(parts)

    def _table(self) -> str:
        where = f"datacenter {self.datacenter}, partition {self.partition}"
        if not self.resolutions:
            return f"{self.service} ({where}): {self.note or 'no upstreams'}\n"
        count = len(self.resolutions)
        head = f"{self.service} ({where}): {count} upstream{'s' if count != 1 else ''}"
        rows = [_COLUMNS] + [
            (
                r.upstream,
                str(r.target),
                r.mode.value or "-",
                r.source,
                r.route,
                _intention_cell(self.intention(r.upstream)),
                r.reason,
            )
            for r in self.resolutions
        ]
        widths = [max(len(row[i]) for row in rows) for i in range(len(_COLUMNS) - 1)]
        lines = [head]
        for row in rows:
            cells = [cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True)]
            lines.append("  ".join([*cells, row[-1]]))
        return "\n".join(lines) + "\n"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able mapping, for the CLI."""
        return {
            "service": self.service,
            "datacenter": self.datacenter,
            "partition": self.partition,
            "note": self.note,
            "resolutions": [r.to_dict() for r in self.resolutions],
            "targets": [t.to_dict() for t in self.targets],
            "chain_problems": [{"upstream": u, "problem": m} for u, m in self.chain_problems],
            "intentions": [{"upstream": u, **d.to_dict()} for u, d in self.intentions],
        }


def _intention_cell(decision: IntentionDecision | None) -> str:
    return decision.summary if decision is not None else "-"


# --------------------------------------------------------------------------------------
# Public functions
# --------------------------------------------------------------------------------------


def resolve_mode(
    service: Service | MeshProxy | str, upstream: Upstream | str, mesh: Mesh | None = None
) -> ModeResolution:
    """Resolve the mesh gateway mode and route of one upstream of a sidecar proxy.

    ``upstream`` is an :class:`Upstream` (normally one of ``service``'s), or a string:
    an upstream's Envoy id (``api``, ``api?dc=dc2``, ``api?peer=p``,
    ``prepared_query:q``) or its destination name. ``mesh`` supplies the config entries
    and the local datacenter; ``None`` means an empty mesh in ``dc1``.

    Raises :class:`~meshgw.errors.LookupFailed` when the string names no upstream, or
    several; :class:`~meshgw.errors.MeshgwError` when ``service`` is not a sidecar proxy.
    ``service`` is a :class:`~meshgw.Service`, a :class:`~meshgw.MeshProxy` or its id or
    name in ``mesh``.
    """
    service, mesh = lookup.registration(service, mesh)
    ctx = _context(service, mesh)
    up = _select_upstream(ctx, upstream)
    flavour = _flavour(up)
    target = _upstream_target(ctx, up, flavour)
    return _resolve(ctx, up, flavour, target, mesh)


def resolve_target_mode(
    service: Service | MeshProxy | str,
    upstream: Upstream | str,
    mesh: Mesh | None,
    *,
    service_name: str,
    namespace: str = "",
    partition: str = "",
    datacenter: str = "",
    peer: str = "",
) -> ModeResolution:
    """Like :func:`resolve_mode`, for another target of the upstream's discovery chain
    (a ``service-resolver`` redirect or failover target).

    Layers 1-6 come from the upstream as usual (the override applies to every target of
    the chain); layers 7-8 come from ``service_name``'s service-defaults and the target
    partition's proxy-defaults, and the route is relative to that target. Empty
    ``namespace`` / ``partition`` / ``datacenter`` mean the upstream's own (the chain is
    evaluated there); for a ``peer`` target the namespace defaults to ``default`` and
    the partition is ``default``, as in Consul's chain compiler. Peered and
    prepared-query upstreams have no discovery chain: :class:`MeshgwError`.
    """
    return TargetModes(service, mesh).resolve(
        upstream,
        service_name=service_name,
        namespace=namespace,
        partition=partition,
        datacenter=datacenter,
        peer=peer,
    )


class TargetModes:
    """:func:`resolve_target_mode` for one proxy, which is looked up and checked once:
    the planner asks for every target of every upstream."""

    def __init__(self, service: Service | MeshProxy | str, mesh: Mesh | None) -> None:
        self._service, self._mesh = lookup.registration(service, mesh)
        self._ctx = _context(self._service, self._mesh)

    def resolve(
        self,
        upstream: Upstream | str,
        *,
        service_name: str,
        namespace: str = "",
        partition: str = "",
        datacenter: str = "",
        peer: str = "",
    ) -> ModeResolution:
        """The mode and route of one discovery-chain target (see
        :func:`resolve_target_mode`)."""
        ctx, mesh = self._ctx, self._mesh
        up = _select_upstream(ctx, upstream)
        flavour = _flavour(up)
        if flavour != _SERVICE:
            raise UsageError(
                f"upstream {_envoy_id(up)!r} of {ctx.sid!r} is a {flavour} upstream: "
                "it has no discovery chain, so no other targets"
            )
        if not service_name:
            raise UsageError("resolve_target_mode needs a service_name")
        if peer and (datacenter or partition):
            raise UsageError(
                f"a discovery-chain target names a peer or a datacenter/partition, not both "
                f"(peer={peer!r}, datacenter={datacenter!r}, partition={partition!r})"
            )
        base = _upstream_target(ctx, up, flavour)
        if peer:
            # compile.go newTarget: a peer target has no datacenter, partition "default"
            # and namespace "default" unless given (not the chain's namespace).
            target = ModeTarget(service_name, namespace or _DEFAULT, _DEFAULT, "", peer)
        else:
            target = ModeTarget(
                service_name,
                namespace or base.namespace,
                partition or base.partition,
                datacenter or base.datacenter,
            )
        return _resolve(ctx, up, flavour, target, mesh)


def explain(service: Service | MeshProxy | str, mesh: Mesh | None = None) -> Explanation:
    """Resolve every upstream of ``service`` (a Service, a :class:`~meshgw.MeshProxy`,
    or its id or name in ``mesh``), in order.

    Returns an :class:`Explanation`: one :class:`ModeResolution` per upstream (mode,
    the layer that set it, every layer, route and reason), the discovery chain's
    targets with their own modes, and the intentions' decision per upstream. A gateway
    or a typical service has no upstreams: the result is empty and its ``note`` (and
    ``render()``) says why. Raises :class:`~meshgw.errors.LookupFailed` for a name
    ``mesh`` does not hold.
    """
    service, mesh = lookup.registration(service, mesh)
    sid = _service_id(service)
    datacenter = mesh.datacenter or DEFAULT_DATACENTER
    partition = service.partition or mesh.local_partition
    note = _not_a_proxy(service, mesh)
    if note:
        return Explanation(service=sid, datacenter=datacenter, partition=partition, note=note)
    ctx = _context(service, mesh)
    resolutions = []
    targets: list[TargetResolution] = []
    problems: list[tuple[str, str]] = []
    queries: set[str] = set()
    for up in ctx.proxy.upstreams:
        flavour = _flavour(up)
        res = _resolve(ctx, up, flavour, _upstream_target(ctx, up, flavour), mesh)
        resolutions.append(res)
        if flavour == _QUERY:
            queries.add(res.upstream)
        if flavour == _SERVICE:
            try:
                targets.extend(_chain_targets(ctx, up, res, mesh))
            except MeshgwError as exc:
                problems.append((res.upstream, str(exc)))
    return Explanation(
        service=sid,
        datacenter=datacenter,
        partition=partition,
        resolutions=tuple(resolutions),
        note="" if resolutions else "no explicit upstreams",
        targets=tuple(targets),
        chain_problems=tuple(problems),
        intentions=tuple(
            _intentions(ctx, [r for r in resolutions if r.upstream not in queries], targets, mesh)
        ),
    )


def _intentions(
    ctx: _Context,
    resolutions: Sequence[ModeResolution],
    targets: Sequence[TargetResolution],
    mesh: Mesh,
) -> Iterator[tuple[str, IntentionDecision]]:
    """Each upstream's destination (its chain's primary target after a redirect) asked
    whether this proxy's service may connect (prepared queries, whose services are not
    known offline, are not passed in)."""
    source = Identity(ctx.downstream, ctx.namespace, ctx.partition)
    primary = {t.upstream: t.resolution.target for t in targets if t.role == "primary"}
    for res in resolutions:
        target = primary.get(res.upstream, res.target)
        yield (
            res.upstream,
            decide_upstream(
                mesh, source, target.service, target.namespace, target.partition, target.peer
            ),
        )


def _chain_targets(
    ctx: _Context, up: Upstream, res: ModeResolution, mesh: Mesh
) -> list[TargetResolution]:
    """The chain's targets with their own modes, when the chain is more than the
    upstream's own target (a redirect, a default subset or failover)."""
    chain = compile_chain(
        mesh,
        res.target.service,
        namespace=res.target.namespace,
        partition=res.target.partition,
        datacenter=res.target.datacenter,
    )
    primary = chain.primary
    same = (
        primary.service == res.target.service
        and primary.datacenter == res.target.datacenter
        and primary.partition == res.target.partition
        and primary.namespace == res.target.namespace
        and not primary.peer
    )
    if same and not chain.failover:
        return []
    out = []
    for role, target in [("primary", primary), *(("failover", t) for t in chain.failover)]:
        resolution = _resolve(
            ctx,
            up,
            _SERVICE,
            ModeTarget(
                service=target.service,
                namespace=target.namespace,
                partition=target.partition,
                datacenter=target.datacenter,
                peer=target.peer,
            ),
            mesh,
        )
        out.append(
            TargetResolution(
                upstream=res.upstream, role=role, target=target.id, resolution=resolution
            )
        )
    return out


# --------------------------------------------------------------------------------------
# The proxy and its upstreams
# --------------------------------------------------------------------------------------


@attrs.frozen
class _Context:
    """The sidecar proxy being resolved, with its defaults filled in."""

    sid: str
    proxy: Proxy
    downstream: str  # proxy.destination_service_name: whose service-defaults apply
    namespace: str
    partition: str
    datacenter: str


def _service_id(service: Service) -> str:
    return service.id or service.name  # Consul defaults the ID to the name


def _not_a_proxy(service: Service, mesh: Mesh | None = None) -> str:
    """Why ``service`` has nothing to resolve, or ``""`` for a sidecar proxy."""
    sid = _service_id(service)
    kind = ServiceKind(service.kind)
    if kind.is_gateway:
        return (
            f"{sid!r} is a {kind.value}: it has no upstreams, and its own mesh_gateway "
            "mode routes nothing (the gateway follows the catalog)"
        )
    if kind is ServiceKind.TYPICAL:
        sidecar = ""
        proxy = lookup.sidecar_of(service, mesh) if mesh is not None else None
        if proxy is not None:
            sidecar = f"; its upstreams belong to its sidecar proxy {proxy.id!r}"
        elif service.connect is not None and service.connect.sidecar_service is not None:
            sidecar_id = service.connect.sidecar_service.id or f"{sid}-sidecar-proxy"
            sidecar = f"; its upstreams belong to its sidecar proxy {sidecar_id!r}"
        return f"{sid!r} is a typical service, not a sidecar proxy{sidecar}"
    return ""


def _context(service: Service, mesh: Mesh) -> _Context:
    note = _not_a_proxy(service, mesh)
    if note:
        raise UsageError(f"cannot resolve mesh gateway modes: {note}")
    sid = _service_id(service)
    if service.proxy is None:
        raise MeshgwError(f"connect-proxy {sid!r} has no proxy block")
    downstream = service.proxy.destination_service_name
    if not downstream:
        # Consul refuses such a registration; without it no service-defaults apply.
        raise MeshgwError(f"connect-proxy {sid!r} has no proxy.destination_service_name")
    return _Context(
        sid=sid,
        proxy=service.proxy,
        downstream=downstream,
        namespace=service.namespace or _DEFAULT,
        partition=service.partition or mesh.local_partition,
        datacenter=mesh.datacenter or DEFAULT_DATACENTER,
    )


def _envoy_id(up: Upstream) -> str:
    return upstream_envoy_id(
        up.destination_name,
        datacenter=up.datacenter,
        peer=up.destination_peer,
        destination_type=up.destination_type,
    )


def _select_upstream(ctx: _Context, upstream: Upstream | str) -> Upstream:
    if isinstance(upstream, Upstream):
        return upstream
    ups = ctx.proxy.upstreams
    ids = [_envoy_id(u) for u in ups]
    # An Envoy id is unique per proxy, so it wins over a bare name ("api" is both the id
    # of the local api upstream and the name of api?dc=dc2).
    by_id = [u for u, eid in zip(ups, ids, strict=True) if eid == upstream]
    if len(by_id) == 1:
        return by_id[0]
    matches = by_id or [u for u in ups if u.destination_name == upstream]
    if len(matches) == 1:
        return matches[0]
    known = ", ".join(ids) or "none"
    if not matches:
        raise LookupFailed(f"{ctx.sid!r} has no upstream {upstream!r} (upstreams: {known})")
    listed = ", ".join(_envoy_id(u) for u in matches)
    raise LookupFailed(
        f"{upstream!r} matches {len(matches)} upstreams of {ctx.sid!r} ({listed}): "
        "name one by its envoy id"
    )


def _flavour(up: Upstream) -> str:
    if up.destination_type == _PREPARED_QUERY:
        return _QUERY
    return _PEERED if up.destination_peer else _SERVICE


def _upstream_target(ctx: _Context, up: Upstream, flavour: str) -> ModeTarget:
    if flavour == _PEERED:
        # merge_service_config.go: a peered upstream keeps its own namespace (default
        # when empty) and is forced into the proxy's partition.
        return ModeTarget(
            up.destination_name,
            up.destination_namespace or _DEFAULT,
            ctx.partition,
            "",
            up.destination_peer,
        )
    # Other upstreams inherit the proxy's namespace and partition when they name none.
    return ModeTarget(
        up.destination_name,
        up.destination_namespace or ctx.namespace,
        up.destination_partition or ctx.partition,
        up.datacenter or ctx.datacenter,
    )


# --------------------------------------------------------------------------------------
# Layers
# --------------------------------------------------------------------------------------


def _resolve(
    ctx: _Context, up: Upstream, flavour: str, target: ModeTarget, mesh: Mesh
) -> ModeResolution:
    eid = _envoy_id(up)
    # The upstream's own identity (not a redirect/failover target's) selects overrides.
    ident = _upstream_target(ctx, up, flavour)
    layers = (
        *_client_layers(ctx, up, eid, ident, flavour, mesh),
        *_chain_layers(target, flavour, mesh),
    )
    mode, source = _first(layers)
    override_mode, _ = _first(layers[:_CLIENT_LAYERS])
    chain_mode, _ = _first(layers[_CLIENT_LAYERS:])
    external = flavour == _SERVICE and _is_external(target, mesh)
    customized = (
        flavour == _SERVICE
        and not external
        and override_mode is not _UNSET
        and override_mode is not chain_mode
    )
    route, reason = _route(ctx, target, flavour, mode, source, external)
    return ModeResolution(
        service=ctx.sid,
        upstream=eid,
        target=target,
        mode=mode,
        source=source,
        layers=layers,
        route=route,
        reason=reason,
        override_mode=override_mode,
        chain_mode=chain_mode,
        customized=customized,
        external=external,
    )


def _first(layers: Sequence[LayerValue]) -> tuple[GatewayMode, str]:
    for value in layers:
        if value.mode is not _UNSET:
            return value.mode, value.layer
    return _UNSET, DEFAULT_SOURCE


def _q(name: str) -> str:
    return f'"{name}"'  # entries are quoted as in HCL: service-defaults "web"


def _where_entry(partition: str) -> str:
    return f" (partition {partition})" if partition != _DEFAULT else ""


def _client_layers(
    ctx: _Context,
    up: Upstream,
    eid: str,
    ident: ModeTarget,
    flavour: str,
    mesh: Mesh,
) -> tuple[LayerValue, ...]:
    """Layers 1-6: what Consul's servers and agent merge into the upstream's own mode."""
    upstream = LayerValue("upstream", GatewayMode(up.mesh_gateway.mode), f"upstream {_q(eid)}")
    registration = GatewayMode(ctx.proxy.mesh_gateway.mode)
    if flavour == _QUERY:
        # merge_service_config.go skips prepared-query upstreams: nothing central (and
        # not the proxy-level mode either) reaches them.
        why = "not consulted: prepared-query upstreams get nothing from central config"
        seen = f" (registration proxy.mesh_gateway is {_q(registration.value)})"
        return (
            upstream,
            LayerValue("service-defaults-override", _UNSET, why),
            LayerValue("proxy", _UNSET, why + (seen if registration is not _UNSET else "")),
            LayerValue("service-defaults-upstream-defaults", _UNSET, why),
            LayerValue("service-defaults", _UNSET, why),
            LayerValue("proxy-defaults", _UNSET, why),
        )
    sd = mesh.service_defaults(ctx.downstream, ctx.partition)
    sd_name = f"service-defaults {_q(ctx.downstream)}{_where_entry(ctx.partition)}"
    missing = f"no {sd_name}"
    uc = sd.upstream_config if sd is not None else None
    defaults = uc.defaults if uc is not None else None
    return (
        upstream,
        _override_layer(sd, sd_name, ident),
        LayerValue("proxy", registration, "registration proxy.mesh_gateway"),
        LayerValue(
            "service-defaults-upstream-defaults",
            GatewayMode(defaults.mesh_gateway.mode) if defaults is not None else _UNSET,
            (
                f"{sd_name} UpstreamConfig.Defaults"
                if defaults is not None
                else f"{sd_name} has no UpstreamConfig.Defaults"
                if sd is not None
                else missing
            ),
        ),
        LayerValue(
            "service-defaults",
            GatewayMode(sd.mesh_gateway.mode) if sd is not None else _UNSET,
            sd_name if sd is not None else missing,
        ),
        _proxy_defaults_layer(mesh.proxy_defaults(ctx.partition), ctx.partition),
    )


def _override_layer(sd: ServiceDefaults | None, sd_name: str, ident: ModeTarget) -> LayerValue:
    name = "service-defaults-override"
    if sd is None:
        return LayerValue(name, _UNSET, f"no {sd_name}")
    overrides = sd.upstream_config.overrides if sd.upstream_config is not None else ()
    if not overrides:
        return LayerValue(name, _UNSET, f"{sd_name} has no UpstreamConfig.Overrides")
    # The last matching entry wins, even one whose mode is unset: it then hides an
    # earlier entry's mode (ServiceDefaults.upstream_override).
    match = sd.upstream_override(ident.service, ident.namespace, ident.partition, ident.peer)
    if match is None:
        return LayerValue(name, _UNSET, f"{sd_name}: no UpstreamConfig.Overrides entry matches")
    index, ov = match
    keys = [
        f"{key}={value}"
        for key, value in (
            ("name", ov.name),
            ("namespace", ov.namespace),
            ("partition", ov.partition),
            ("peer", ov.peer),
        )
        if value
    ]
    detail = f"{sd_name} UpstreamConfig.Overrides[{index}] ({', '.join(keys)})"
    return LayerValue(name, GatewayMode(ov.mesh_gateway.mode), detail)


def _proxy_defaults_layer(pd: ProxyDefaults | None, partition: str) -> LayerValue:
    name = "proxy-defaults"
    if pd is None:
        return LayerValue(name, _UNSET, f"no proxy-defaults in partition {partition}")
    where = f'proxy-defaults "global" (partition {partition})'
    typed = GatewayMode(pd.mesh_gateway.mode)
    if typed is not _UNSET:
        return LayerValue(name, typed, where)
    # resolve.go seeds upstreams with an opaque Config["mesh_gateway"] when the typed
    # field is empty: the lowest client-side value.
    opaque = _opaque_mode(pd)
    if opaque is not _UNSET:
        detail = f'proxy-defaults "global" Config["mesh_gateway"] (partition {partition})'
        return LayerValue(name, opaque, detail)
    return LayerValue(name, _UNSET, where)


def _opaque_mode(pd: ProxyDefaults) -> GatewayMode:
    raw = by_norm_key(pd.config).get("meshgateway")
    if raw is None:
        return _UNSET
    try:
        return mesh_gateway_mode(raw)
    except ValueError:
        # Loading reports an invalid value (located); only a Mesh built in code, which
        # nothing validates, gets here, and Consul ignores such a value too.
        return _UNSET


def _chain_layers(target: ModeTarget, flavour: str, mesh: Mesh) -> tuple[LayerValue, ...]:
    """Layers 7-8: the discovery chain compiler's own per-target mode."""
    if flavour != _SERVICE:
        why = (
            "not consulted: peered upstreams have no discovery chain"
            if flavour == _PEERED
            else "not consulted: prepared-query upstreams have no discovery chain"
        )
        return (
            LayerValue("target-service-defaults", _UNSET, why),
            LayerValue("target-proxy-defaults", _UNSET, why),
        )
    sd = mesh.service_defaults(target.service, target.partition)
    sd_name = f"service-defaults {_q(target.service)}{_where_entry(target.partition)}"
    pd = mesh.proxy_defaults(target.partition)
    return (
        LayerValue(
            "target-service-defaults",
            GatewayMode(sd.mesh_gateway.mode) if sd is not None else _UNSET,
            sd_name if sd is not None else f"no {sd_name}",
        ),
        LayerValue(
            "target-proxy-defaults",
            GatewayMode(pd.mesh_gateway.mode) if pd is not None else _UNSET,
            (
                f'proxy-defaults "global" (partition {target.partition})'
                if pd is not None
                else f"no proxy-defaults in partition {target.partition}"
            ),
        ),
    )


def _is_external(target: ModeTarget, mesh: Mesh) -> bool:
    sd = mesh.service_defaults(target.service, target.partition)
    return sd is not None and bool(sd.external_sni)


# --------------------------------------------------------------------------------------
# Route
# --------------------------------------------------------------------------------------


def _gateways_of(datacenter: str, partition: str) -> str:
    if partition == _DEFAULT:
        return f"{datacenter}'s mesh gateways"
    return f"the mesh gateways of partition {partition} in {datacenter}"


def _place(target: ModeTarget) -> str:
    if target.partition == _DEFAULT:
        return target.datacenter
    return f"partition {target.partition} of {target.datacenter}"


def _route(
    ctx: _Context,
    target: ModeTarget,
    flavour: str,
    mode: GatewayMode,
    source: str,
    external: bool,
) -> tuple[Route, str]:
    """The route and a one-sentence reason."""
    decided = f"mode {mode.value} from {source}"
    if flavour == _QUERY:
        # xds endpoints.go: prepared-query endpoints are the query results' own
        # addresses; Consul never puts a mesh gateway in front of them.
        tail = f"; {decided} is not applied" if mode is not _UNSET else ""
        return ROUTE_DIRECT, (
            "prepared-query upstream: Consul sends it straight to the query's results, "
            f"never through mesh gateways{tail}"
        )
    if external:
        tail = f"; {decided} is ignored" if mode is not _UNSET else ""
        return ROUTE_DIRECT, (
            f"target {target.service} is external (ExternalSNI in its service-defaults): "
            f"Consul bypasses mesh gateways{tail}"
        )
    local_gateways = _gateways_of(ctx.datacenter, ctx.partition)
    if target.peer:
        peer_gateways = f"through peer {target.peer}'s mesh gateways"
        if mode is GatewayMode.LOCAL:
            return ROUTE_LOCAL_GATEWAY, f"{decided}: through {local_gateways} to peer {target.peer}"
        if mode is GatewayMode.REMOTE:
            return ROUTE_REMOTE_GATEWAY, f"{decided}: {peer_gateways}"
        if mode is GatewayMode.NONE:
            return ROUTE_REMOTE_GATEWAY, (
                f"peer target: mode none from {source} is invalid for peers and treated "
                f"as remote: {peer_gateways}"
            )
        return ROUTE_REMOTE_GATEWAY, f"peer target: unset mode behaves as remote: {peer_gateways}"
    if target.datacenter == ctx.datacenter and target.partition == ctx.partition:
        where = f"the local datacenter {ctx.datacenter}"
        if ctx.partition != _DEFAULT:
            where += f" and partition {ctx.partition}"
        setting = f"{mode.value}, from {source}" if mode is not _UNSET else "none set"
        return ROUTE_DIRECT, f"target is in {where}: mesh gateway mode is ignored ({setting})"
    if mode is GatewayMode.LOCAL:
        return ROUTE_LOCAL_GATEWAY, f"{decided}: through {local_gateways}"
    if mode is GatewayMode.REMOTE:
        gateways = _gateways_of(target.datacenter, target.partition)
        return ROUTE_REMOTE_GATEWAY, f"{decided}: through {gateways}"
    if mode is GatewayMode.NONE:
        return ROUTE_DIRECT, (
            f"{decided}: straight to the instances in {_place(target)}, no mesh gateway"
        )
    return ROUTE_DIRECT, (
        "no layer sets a mode, which behaves as none: straight to the instances in "
        f"{_place(target)}, no mesh gateway"
    )
