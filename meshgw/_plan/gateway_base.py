"""What every mesh gateway scenario plans from: the gateway's binds, the other
datacenters' and partitions' gateways and the local services, decided once.

:func:`meshgw._plan.gateway.plan_gateway` builds a :class:`GatewayBase` first; each
scenario (WAN federation, cluster peering) plans its own part from it, and the finished
gateway plan composes them. Scenario modules import this one, never the gateway plan.
"""

from __future__ import annotations

import attrs

from meshgw import naming
from meshgw._envoy.clusters import TcpKeepalive
from meshgw._envoy.endpoints import Endpoint
from meshgw._resolve.catalog import Instance
from meshgw._values import ip_version
from meshgw.errors import TranslationError
from meshgw.model._options import GatewayOptions
from meshgw.model.entries import ServiceResolver
from meshgw.model.registration import Service

__all__ = [
    "DEFAULT_BIND",
    "Bind",
    "GatewayBase",
    "LocalService",
    "LocalSubset",
    "RemoteGateway",
    "parse_host_port",
    "remote_tcp_keepalive",
]

#: Name of the bind on the gateway's own service address.
DEFAULT_BIND = "default"


@attrs.frozen
class Bind:
    """An address the gateway listens on; ``name`` is the bind's short name (``default``,
    a tagged-address key or an ``envoy_gateway_bind_addresses`` key)."""

    name: str
    address: str
    port: int

    @property
    def listener_name(self) -> str:
        return naming.listener_name(self.name, self.address, self.port)


@attrs.frozen
class RemoteGateway:
    """The mesh gateways of another datacenter or admin partition (a gateway key).

    ``endpoints`` are their WAN-preferred addresses (Consul's ``BestAddress(true)``)
    with health and weight, in catalog order.
    """

    datacenter: str
    partition: str
    key: str
    sni: str
    instances: tuple[Instance, ...]
    endpoints: tuple[Endpoint, ...]


@attrs.frozen
class LocalSubset:
    """One service-resolver subset of a local service and the instances it selects."""

    name: str
    filter: str
    only_passing: bool
    cluster: str
    endpoints: tuple[Endpoint, ...]


@attrs.frozen
class LocalService:
    """A connect service with instances next to the gateway.

    ``endpoints`` are those of the unnamed cluster: every instance, or the resolver's
    ``DefaultSubset`` when it has one. ``connect_timeout`` is a duration string.
    ``has_hostnames``: some instance's address is a DNS name, not an IP.
    """

    name: str
    namespace: str
    partition: str
    cluster: str
    instances: tuple[Instance, ...]
    endpoints: tuple[Endpoint, ...]
    subsets: tuple[LocalSubset, ...]
    resolver: ServiceResolver | None
    connect_timeout: str
    lb_policy: str = ""
    least_request_choice_count: int = 0
    has_hostnames: bool = False


@attrs.frozen
class GatewayBase:
    """The part of a gateway's plan every scenario needs: who the gateway is, where it
    listens, the other gateway keys it routes to and the local services it fronts."""

    service: Service
    datacenter: str
    partition: str
    trust_domain: str
    options: GatewayOptions
    binds: tuple[Bind, ...]
    remote_gateways: tuple[RemoteGateway, ...]
    local_services: tuple[LocalService, ...]


def parse_host_port(text: str, what: str) -> tuple[str, int]:
    """``(host, port)`` from ``"host:port"`` or ``"[ipv6]:port"``.

    ``what`` names the value in the :class:`~meshgw.errors.TranslationError` raised for
    anything else: a missing or invalid port, an empty host, a bare IPv6 address, or a
    go-discover expression (``provider=...``), which cannot be resolved offline.
    """
    problem = ""
    host, sep, port_text = text.rpartition(":")
    if "provider=" in text:
        problem = "a go-discover expression cannot be resolved offline; list host:port"
    elif not sep or not host:
        problem = "expected host:port"
    elif host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        if ip_version(host) != 6:
            problem = "expected an IPv6 address between [ and ]"
    elif ":" in host:
        problem = "write an IPv6 address as [address]:port"
    if not problem and not (port_text.isdigit() and 0 < int(port_text) < 65536):
        problem = f"invalid port {port_text!r} (expected 1-65535)"
    if problem:
        raise TranslationError(f"{what}: {text!r}: {problem}")
    return host, int(port_text)


def remote_tcp_keepalive(options: GatewayOptions) -> TcpKeepalive | None:
    """The TCP keepalive of a gateway's clusters to other places (remote datacenters,
    their servers, peers), when ``envoy_gateway_remote_tcp_enable_keepalive`` is set."""
    if not options.tcp_keepalive:
        return None
    return TcpKeepalive(
        time=options.tcp_keepalive_time,
        interval=options.tcp_keepalive_interval,
        probes=options.tcp_keepalive_probes,
    )
