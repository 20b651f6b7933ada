"""Small value types shared by registrations, config entries and the catalog."""

from __future__ import annotations

from enum import Enum

import attrs

__all__ = [
    "GatewayMode",
    "MeshGatewayConfig",
    "ProxyMode",
    "ServiceAddress",
    "ServiceKind",
    "Source",
]


class _StrEnum(str, Enum):
    def __str__(self) -> str:
        return str(self.value)


class GatewayMode(_StrEnum):
    """A mesh gateway mode. ``DEFAULT`` (``""``) means "no opinion at this layer"."""

    DEFAULT = ""
    NONE = "none"
    LOCAL = "local"
    REMOTE = "remote"


class ProxyMode(_StrEnum):
    """``proxy.mode``: how outbound traffic reaches the proxy."""

    DEFAULT = ""
    DIRECT = "direct"
    TRANSPARENT = "transparent"


class ServiceKind(_StrEnum):
    """The kind of a service registration (``""`` is a typical service)."""

    TYPICAL = ""
    CONNECT_PROXY = "connect-proxy"
    MESH_GATEWAY = "mesh-gateway"
    TERMINATING_GATEWAY = "terminating-gateway"
    INGRESS_GATEWAY = "ingress-gateway"
    API_GATEWAY = "api-gateway"

    @property
    def is_gateway(self) -> bool:
        return self in _GATEWAY_KINDS


_GATEWAY_KINDS = frozenset(
    {
        ServiceKind.MESH_GATEWAY,
        ServiceKind.TERMINATING_GATEWAY,
        ServiceKind.INGRESS_GATEWAY,
        ServiceKind.API_GATEWAY,
    }
)


@attrs.frozen
class Source:
    """Where something was written: file name (or ``<input>``) and 1-based line."""

    file: str | None = None
    line: int | None = None

    def __str__(self) -> str:
        where = self.file or "<input>"
        return f"{where}:{self.line}" if self.line is not None else where


@attrs.frozen
class MeshGatewayConfig:
    """``mesh_gateway { mode = ... }`` at any layer."""

    mode: GatewayMode = GatewayMode.DEFAULT


@attrs.frozen
class ServiceAddress:
    """A tagged address or bind address: ``{address, port}`` (port 0 = the service port)."""

    address: str = ""
    port: int = 0
