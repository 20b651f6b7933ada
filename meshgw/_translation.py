"""``translate()``: one registration to its Envoy clusters, listeners and endpoints.

Dispatches on the registration's kind, then assembles and sorts the result as the
design's output conventions say: ``{"clusters", "listeners", "endpoints"}``, clusters
and listeners sorted by ``name``, endpoints (ClusterLoadAssignments) by
``cluster_name``; snake_case proto-JSON without a top-level ``@type``.
"""

from __future__ import annotations

from typing import Any, Literal

from meshgw._envoy.bootstrap import static_bootstrap
from meshgw._envoy.clusters import build_cluster
from meshgw._envoy.endpoints import cluster_load_assignment
from meshgw._envoy.listeners import build_listener
from meshgw._gcpause import gc_paused
from meshgw._plan.gateway import plan_gateway
from meshgw._resolve import lookup
from meshgw._resolve.catalog import catalog_view
from meshgw._resolve.placement import MeshProxy
from meshgw.errors import TranslationError, UsageError
from meshgw.model.common import ServiceKind
from meshgw.model.mesh import Mesh
from meshgw.model.registration import Service

__all__ = ["EndpointsMode", "MissingPolicy", "bootstrap", "translate"]

#: ``"eds"``: clusters of type EDS, their ClusterLoadAssignments in ``endpoints``.
#: ``"static"``: the same assignments inline (``STATIC`` clusters), ``endpoints`` empty.
EndpointsMode = Literal["eds", "static"]
#: ``"error"``: an upstream whose endpoints cannot be had (no gateway for its mode, a
#: prepared query) raises TranslationError. ``"warn"``: it gets an empty load
#: assignment and a :class:`~meshgw.errors.MeshgwWarning`.
MissingPolicy = Literal["error", "warn"]


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

    Mesh gateways are translated here; ``connect-proxy`` sidecars by
    :mod:`meshgw.sidecar`. Other kinds, and typical services (translate their sidecar),
    raise :class:`~meshgw.errors.TranslationError`.
    """
    if endpoints not in ("eds", "static"):
        raise UsageError(f'endpoints must be "eds" or "static", not {endpoints!r}')
    if missing not in ("error", "warn"):
        raise UsageError(f'missing must be "error" or "warn", not {missing!r}')
    service, mesh = lookup.registration(registration, mesh)

    kind = service.kind
    if kind == ServiceKind.MESH_GATEWAY:
        with gc_paused():
            return _translate_mesh_gateway(service, mesh, static=endpoints == "static")
    if kind == ServiceKind.CONNECT_PROXY:
        return _translate_sidecar(service, mesh, endpoints, missing)
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
    ``endpoints="static"`` wrapped by :func:`meshgw.envoy.bootstrap.static_bootstrap`.

    The Envoy node is the registration's id (``node.id``) and name (``node.cluster``), as
    ``consul connect envoy`` sets them. ``admin`` as ``(address, port)`` adds an admin
    listener.
    """
    service, mesh = lookup.registration(registration, mesh)
    resources = translate(service, mesh, endpoints="static", missing=missing)
    return static_bootstrap(
        resources, node_id=service.id or service.name, node_cluster=service.name, admin=admin
    )


def _translate_sidecar(
    service: Service, mesh: Mesh, endpoints: EndpointsMode, missing: MissingPolicy
) -> dict[str, list[dict[str, Any]]]:
    from meshgw._plan.sidecar import translate_sidecar

    return translate_sidecar(service, mesh, endpoints=endpoints, missing=missing)


def _translate_mesh_gateway(
    service: Service, mesh: Mesh, *, static: bool
) -> dict[str, list[dict[str, Any]]]:
    plan = plan_gateway(service, mesh, view=catalog_view(mesh))
    names: set[str] = set()
    for spec in plan.clusters:
        if spec.name in names:
            raise TranslationError(
                f"two clusters of mesh gateway {service.id or service.name!r} are named "
                f"{spec.name!r}; Envoy would reject the configuration"
            )
        names.add(spec.name)
    clusters = [build_cluster(spec, inline_endpoints=static) for spec in plan.clusters]
    listeners = [build_listener(spec) for spec in plan.listeners]
    assignments = (
        []
        if static
        else [
            cluster_load_assignment(spec.name, spec.endpoints)
            for spec in plan.clusters
            if spec.uses_eds
        ]
    )
    clusters.sort(key=_by_name)
    listeners.sort(key=_by_name)
    assignments.sort(key=_by_cluster_name)
    return {"clusters": clusters, "listeners": listeners, "endpoints": assignments}


def _by_name(resource: dict[str, Any]) -> str:
    return str(resource["name"])


def _by_cluster_name(resource: dict[str, Any]) -> str:
    return str(resource["cluster_name"])
