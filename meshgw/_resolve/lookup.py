"""How every public function finds the registration it was given: a Service or its id/name."""

from __future__ import annotations

from meshgw._resolve.placement import MeshProxy, find_proxy, locate, proxies_named
from meshgw.errors import LookupFailed, UsageError
from meshgw.model.common import ServiceKind
from meshgw.model.mesh import Mesh
from meshgw.model.registration import Service


def registration(
    registration: Service | MeshProxy | str, mesh: Mesh | None
) -> tuple[Service, Mesh]:
    """The registration as a Service, and the mesh to work in: ``mesh`` as the
    registration's own datacenter sees it (:func:`~meshgw._resolve.placement.locate`), or
    an empty one holding just the registration when none is given."""
    if mesh is None:
        if not isinstance(registration, Service):
            raise UsageError(
                f"cannot look up registration {registration!r} without a mesh; pass the "
                "Service itself or a mesh that contains it"
            )
        return registration, Mesh(services=(registration,))
    if isinstance(registration, Service | MeshProxy):
        return locate(registration, mesh)
    if not isinstance(registration, str):
        raise UsageError(
            "expected a meshgw.Service, a meshgw.MeshProxy or an id or name, got "
            f"{type(registration).__name__}"
        )
    try:
        return mesh.service(registration), mesh
    except LookupFailed:
        # Not the local agent's: a proxy registered in the catalog, in any datacenter.
        if not proxies_named(mesh, registration):
            raise
        return locate(find_proxy(mesh, registration), mesh)


def sidecar_of(service: Service, mesh: Mesh) -> Service | None:
    """The connect-proxy registered for ``service`` (by destination id, else name)."""
    sid = service.id or service.name
    for candidate in mesh.services:
        proxy = candidate.proxy
        if (
            candidate.kind == ServiceKind.CONNECT_PROXY
            and proxy is not None
            and (
                proxy.destination_service_id == sid
                or (not proxy.destination_service_id and proxy.destination_service_name == sid)
            )
        ):
            return candidate
    return None
