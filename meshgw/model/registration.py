"""Service registrations: agent service definitions and HTTP API payloads.

Field names are the snake_case keys of Consul's agent configuration files; the loaders
accept every spelling Consul accepts (CamelCase, PascalCase, snake_case).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from meshgw.model.common import (
    GatewayMode,
    MeshGatewayConfig,
    ProxyMode,
    ServiceAddress,
    ServiceKind,
    Source,
)

__all__ = [
    "Check",
    "CheckDefinition",
    "Connect",
    "Expose",
    "ExposePath",
    "Proxy",
    "Service",
    "TransparentProxy",
    "Upstream",
    "Weights",
]


def _source() -> Any:
    return attrs.field(default=None, eq=False, repr=False)


@attrs.frozen
class Weights:
    """DNS / load-balancing weights of an instance by health."""

    passing: int = 1
    warning: int = 1


@attrs.frozen
class CheckDefinition:
    """How a check runs: the agent definition fields (``tcp``, ``http``, ``interval``,
    ...), written at the top level of an agent check or under ``Definition`` in the
    health API. meshgw keeps them (and reports typos in them) but does not evaluate them.
    """

    interval: str = ""
    timeout: str = ""
    ttl: str = ""
    deregister_critical_service_after: str = ""
    tcp: str = ""
    tcp_use_tls: bool = False
    udp: str = ""
    http: str = ""
    method: str = ""
    header: Mapping[str, Any] = attrs.field(factory=dict)
    body: str = ""
    disable_redirects: bool = False
    grpc: str = ""
    grpc_use_tls: bool = False
    h2ping: str = ""
    h2ping_use_tls: bool = False
    os_service: str = ""
    args: tuple[str, ...] = ()
    docker_container_id: str = ""
    shell: str = ""
    alias_node: str = ""
    alias_service: str = ""
    tls_server_name: str = ""
    tls_skip_verify: bool = False
    success_before_passing: int = 0
    failures_before_warning: int = 0
    failures_before_critical: int = 0


@attrs.frozen
class Check:
    """A health check, as written in a registration or returned by the health API.

    meshgw evaluates ``status``; how the check runs is kept in ``definition`` (agent
    check files write those keys at the top level; they load into ``definition``).
    """

    id: str = ""
    name: str = ""
    status: str = ""
    notes: str = ""
    output: str = ""
    node: str = ""
    service_id: str = ""
    service_name: str = ""
    service_tags: tuple[str, ...] = ()
    type: str = ""
    namespace: str = ""
    partition: str = ""
    peer_name: str = ""
    definition: CheckDefinition | None = None


@attrs.frozen
class TransparentProxy:
    """``transparent_proxy`` options."""

    outbound_listener_port: int = 0
    dialed_directly: bool = False


@attrs.frozen
class ExposePath:
    """One HTTP path exposed without mTLS."""

    path: str = ""
    local_path_port: int = 0
    listener_port: int = 0
    protocol: str = ""
    parsed_from_check: bool = False


@attrs.frozen
class Expose:
    """``expose`` options of a proxy."""

    checks: bool = False
    paths: tuple[ExposePath, ...] = ()


@attrs.frozen
class Upstream:
    """One explicit upstream of a sidecar proxy."""

    destination_name: str = ""
    destination_type: str = "service"
    destination_namespace: str = ""
    destination_partition: str = ""
    destination_peer: str = ""
    datacenter: str = ""
    local_bind_address: str = ""
    local_bind_port: int = 0
    local_bind_socket_path: str = ""
    local_bind_socket_mode: str = ""
    config: Mapping[str, Any] = attrs.field(factory=dict)
    mesh_gateway: MeshGatewayConfig = MeshGatewayConfig()
    centrally_configured: bool = False
    source: Source | None = _source()

    @property
    def bind_address(self) -> str:
        """The address the upstream listener binds (Consul's default ``127.0.0.1``)."""
        return self.local_bind_address or "127.0.0.1"

    @property
    def mode(self) -> GatewayMode:
        """The upstream's own mesh gateway mode (``""`` when unset)."""
        return self.mesh_gateway.mode


@attrs.frozen
class Proxy:
    """The ``proxy`` block of a connect-proxy or gateway registration."""

    destination_service_name: str = ""
    destination_service_id: str = ""
    local_service_address: str = ""
    local_service_port: int = 0
    local_service_socket_path: str = ""
    mode: ProxyMode = ProxyMode.DEFAULT
    transparent_proxy: TransparentProxy | None = None
    config: Mapping[str, Any] = attrs.field(factory=dict)
    upstreams: tuple[Upstream, ...] = ()
    mesh_gateway: MeshGatewayConfig = MeshGatewayConfig()
    expose: Expose = Expose()
    access_logs: Mapping[str, Any] = attrs.field(factory=dict)
    envoy_extensions: tuple[Mapping[str, Any], ...] = ()
    mutual_tls_mode: str = ""


@attrs.frozen
class Connect:
    """The ``connect`` block of a typical service."""

    native: bool = False
    sidecar_service: Service | None = None


@attrs.frozen
class Service:
    """A service registration: typical service, sidecar proxy or gateway.

    A ``connect { sidecar_service {} }`` block is expanded at load time into its own
    ``connect-proxy`` Service (``Mesh.services`` holds both), as Consul's agent does.
    """

    name: str = ""
    id: str = ""
    kind: ServiceKind = ServiceKind.TYPICAL
    tags: tuple[str, ...] = ()
    address: str = ""
    tagged_addresses: Mapping[str, ServiceAddress] = attrs.field(factory=dict)
    meta: Mapping[str, str] = attrs.field(factory=dict)
    port: int = 0
    socket_path: str = ""
    checks: tuple[Check, ...] = ()
    weights: Weights | None = None
    token: str = attrs.field(default="", repr=False)
    enable_tag_override: bool = False
    proxy: Proxy | None = None
    connect: Connect | None = None
    namespace: str = ""
    partition: str = ""
    locality: Mapping[str, str] = attrs.field(factory=dict)
    datacenter: str = ""
    peer_name: str = ""
    source: Source | None = _source()

    @property
    def is_sidecar(self) -> bool:
        """A connect-proxy that fronts a local service."""
        return self.kind is ServiceKind.CONNECT_PROXY

    @property
    def is_gateway(self) -> bool:
        return self.kind.is_gateway

    @property
    def upstreams(self) -> tuple[Upstream, ...]:
        """The proxy's explicit upstreams (empty for services without a proxy)."""
        return self.proxy.upstreams if self.proxy is not None else ()

    def wan_address(self) -> ServiceAddress:
        """Consul's ``BestAddress(wan=True)`` at service level: the ``wan`` tagged address
        (its port when non-zero, else the service port), else the service address."""
        wan = self.tagged_addresses.get("wan")
        if wan is not None and wan.address:
            return ServiceAddress(wan.address, wan.port or self.port)
        return ServiceAddress(self.address, self.port)
