"""How every public function finds the registration it was given: a Service or its id/name."""

from __future__ import annotations

from meshgw.errors import UsageError
from meshgw.model.common import ServiceKind
from meshgw.model.mesh import Mesh
from meshgw.model.registration import Service


def registration(registration: Service | str, mesh: Mesh | None) -> tuple[Service, Mesh]:
    """The registration as a Service, and the mesh to work in (an empty one holding just
    the registration when none is given)."""
    if mesh is None:
        if not isinstance(registration, Service):
            raise UsageError(
                f"cannot look up registration {registration!r} without a mesh; pass the "
                "Service itself or a mesh that contains it"
            )
        return registration, Mesh(services=(registration,))
    if isinstance(registration, Service):
        return registration, mesh
    if not isinstance(registration, str):
        raise UsageError(
            f"expected a meshgw.Service or its id or name, got {type(registration).__name__}"
        )
    return mesh.service(registration), mesh


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
