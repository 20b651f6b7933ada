"""``translate()``: one registration to its Envoy clusters, listeners and endpoints.

Dispatches on the registration's kind, then assembles and sorts the result as the
design's output conventions say: ``{"clusters", "listeners", "endpoints"}``, clusters
and listeners sorted by ``name``, endpoints (ClusterLoadAssignments) by
``cluster_name``; snake_case proto-JSON without a top-level ``@type``.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any, Literal

from meshgw._envoy.bootstrap import static_bootstrap
from meshgw._envoy.clusters import AnyClusterSpec, build_cluster, cluster_assignment
from meshgw._envoy.endpoints import inline_assignments
from meshgw._envoy.listeners import AnyListenerSpec, build_listener
from meshgw._gcpause import gc_paused
from meshgw._plan.gateway import GatewayPlan, plan_gateway
from meshgw._plan.sidecar import MISSING_POLICIES, MissingPolicy, SidecarPlan, plan_sidecar
from meshgw._resolve import lookup
from meshgw._resolve.catalog import catalog_view
from meshgw._resolve.placement import MeshProxy
from meshgw.errors import MeshgwWarning, TranslationError, UsageError
from meshgw.model.common import ServiceKind
from meshgw.model.mesh import Mesh
from meshgw.model.registration import Service

__all__ = ["EndpointsMode", "MissingPolicy", "bootstrap", "translate"]

#: ``"eds"``: clusters of type EDS, their ClusterLoadAssignments in ``endpoints``.
#: ``"static"``: the same assignments inline (``STATIC`` clusters), ``endpoints`` empty.
EndpointsMode = Literal["eds", "static"]
_ENDPOINTS_MODES: tuple[EndpointsMode, ...] = ("eds", "static")

Resources = dict[str, list[dict[str, Any]]]


def translate(
    registration: Service | MeshProxy | str,
    mesh: Mesh | None = None,
    *,
    endpoints: EndpointsMode = "eds",
    missing: MissingPolicy = "error",
) -> dict[str, list[dict[str, Any]]]:
    """The Envoy configuration Consul would stream to the proxy of ``registration``.

    ``registration`` is a :class:`~meshgw.Service`, a :class:`~meshgw.MeshProxy` or the
    id (or name) of a proxy in ``mesh``: the local agent's registrations first, then the
    catalog's in any datacenter. A registration of another datacenter is translated as
    that datacenter's Consul would (see :func:`meshgw.datacenter_view`). Without a mesh,
    the registration is translated in an empty ``dc1`` mesh with a placeholder trust
    domain (:data:`meshgw.model.DEFAULT_TRUST_DOMAIN`): only what the registration alone
    determines (a gateway's listeners) comes out.

    ``endpoints``: ``"eds"`` (default) gives clusters that fetch their endpoints over
    ADS, as Consul's do, with the assignments under ``"endpoints"``; ``"static"``
    inlines each assignment into its cluster (``STATIC``), for an Envoy without a
    control plane. ``missing``: an upstream that cannot get endpoints (no instances,
    no gateway for its route) raises (``"error"``, default) or gets an empty
    assignment and a :class:`~meshgw.errors.MeshgwWarning` (``"warn"``).

    Returns ``{"clusters": [...], "listeners": [...], "endpoints": [...]}``: Envoy v3
    resources as plain dicts, each list sorted by name (``endpoints`` empty with
    ``"static"``).

    Raises :class:`~meshgw.errors.LookupFailed` for a name the mesh does not hold,
    :class:`~meshgw.errors.TranslationError` for a registration that cannot be
    translated (a typical service — translate its sidecar — or another kind than
    ``mesh-gateway`` and ``connect-proxy``; missing endpoints with ``missing="error"``)
    and :class:`~meshgw.errors.UsageError` for a bad ``endpoints`` or ``missing`` value.
    """
    if endpoints not in _ENDPOINTS_MODES:
        raise UsageError(f'endpoints must be "eds" or "static", not {endpoints!r}')
    if missing not in MISSING_POLICIES:
        raise UsageError(f'missing must be "error" or "warn", not {missing!r}')
    service, mesh = lookup.registration(registration, mesh)
    plan = _plan(service, mesh, missing)
    static = endpoints == "static"
    if static and isinstance(plan, SidecarPlan) and plan.static_refusal:
        raise TranslationError(plan.static_refusal)
    with gc_paused():
        result = _assemble(plan.owner, plan.clusters, plan.listeners, static=static)
    # Emitted once the result is built, in order, so that they point at the caller's line.
    for message in plan.warnings:
        warnings.warn(message, MeshgwWarning, stacklevel=2)
    return result


def _plan(service: Service, mesh: Mesh, missing: MissingPolicy) -> GatewayPlan | SidecarPlan:
    """The finished plan for ``service``, by its kind. The catalog view is built here,
    once, and handed to the planner."""
    kind = service.kind
    if kind in (ServiceKind.MESH_GATEWAY, ServiceKind.CONNECT_PROXY):
        with gc_paused():
            view = catalog_view(mesh)
            if kind == ServiceKind.MESH_GATEWAY:
                return plan_gateway(service, mesh, view=view)
        return plan_sidecar(service, mesh, view=view, missing=missing)
    if kind == ServiceKind.TYPICAL:
        sidecar = lookup.sidecar_of(service, mesh)
        if sidecar is not None:
            raise TranslationError(
                f"{service.id or service.name!r} is a typical service; translate its sidecar "
                f"proxy {sidecar.id!r} instead"
            )
        raise TranslationError(
            f"{service.id or service.name!r} is a typical service without a sidecar proxy; "
            "there is no Envoy configuration to generate for it"
        )
    raise TranslationError(
        f"translation of {kind!s} registrations is not supported "
        f"({service.id or service.name!r}); meshgw translates mesh-gateway and connect-proxy"
    )


def bootstrap(
    registration: Service | MeshProxy | str,
    mesh: Mesh | None = None,
    *,
    admin: tuple[str, int] | None = None,
    missing: MissingPolicy = "error",
) -> dict[str, Any]:
    """A complete static Envoy bootstrap for ``registration``: :func:`translate` with
    ``endpoints="static"``, as ``static_resources`` of a bootstrap that runs without a
    control plane.

    ``registration``, ``mesh`` and ``missing`` are those of :func:`translate`. The Envoy
    node is the registration's id (``node.id``) and name (``node.cluster``), as
    ``consul connect envoy`` sets them. ``admin`` as ``(address, port)`` (an IP literal;
    port 0 lets Envoy pick one) adds an admin listener. Returns the bootstrap as a plain
    dict; raises as :func:`translate` does.
    """
    service, mesh = lookup.registration(registration, mesh)
    resources = translate(service, mesh, endpoints="static", missing=missing)
    return static_bootstrap(
        resources, node_id=service.id or service.name, node_cluster=service.name, admin=admin
    )


def _assemble(
    owner: str,
    cluster_specs: Sequence[AnyClusterSpec],
    listener_specs: Sequence[AnyListenerSpec],
    *,
    static: bool,
) -> Resources:
    """Build every resource of a plan, refuse two of one name (Envoy would reject the
    configuration), sort, and with ``static`` inline the EDS assignments."""
    _require_distinct(owner, "clusters", [spec.name for spec in cluster_specs])
    _require_distinct(owner, "listeners", [spec.name for spec in listener_specs])
    clusters = [build_cluster(spec) for spec in cluster_specs]
    listeners = [build_listener(spec) for spec in listener_specs]
    assignments = [cla for cla in map(cluster_assignment, cluster_specs) if cla is not None]
    clusters.sort(key=_by_name)
    listeners.sort(key=_by_name)
    if static:
        return {
            "clusters": inline_assignments(clusters, assignments),
            "listeners": listeners,
            "endpoints": [],
        }
    assignments.sort(key=_by_cluster_name)
    return {"clusters": clusters, "listeners": listeners, "endpoints": assignments}


def _require_distinct(owner: str, what: str, names: Sequence[str]) -> None:
    if len(set(names)) == len(names):
        return
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise TranslationError(
                f"two {what} of {owner} are named {name!r}; Envoy would reject the configuration"
            )
        seen.add(name)


def _by_name(resource: dict[str, Any]) -> str:
    return str(resource["name"])


def _by_cluster_name(resource: dict[str, Any]) -> str:
    return str(resource["cluster_name"])
