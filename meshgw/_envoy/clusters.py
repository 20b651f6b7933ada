"""Envoy clusters from :class:`ClusterSpec` values.

Pure builders; nothing here knows about Consul's precedence rules. A spec says what the
cluster is (its discovery type, endpoints, timeouts, load balancer); the caller decided
all of that.
"""

from __future__ import annotations

from typing import Any, Literal

import attrs

from meshgw._envoy.endpoints import Endpoint, cluster_load_assignment
from meshgw._envoy.resources import eds_config

__all__ = ["ClusterSpec", "Discovery", "TcpKeepalive", "build_cluster"]

#: How a cluster finds its hosts: from EDS, or by resolving DNS names in its inline
#: endpoints (``LOGICAL_DNS`` for exactly one name, ``STRICT_DNS`` for any number).
Discovery = Literal["EDS", "LOGICAL_DNS", "STRICT_DNS"]

_DNS_TYPES = frozenset({"LOGICAL_DNS", "STRICT_DNS"})


@attrs.frozen
class TcpKeepalive:
    """``upstream_connection_options.tcp_keepalive``; zero fields are left out (Envoy
    then uses the operating system's default)."""

    time: int = 0
    interval: int = 0
    probes: int = 0


@attrs.frozen
class ClusterSpec:
    """What one cluster is.

    ``connect_timeout`` is a protobuf duration string (``"5s"``). ``endpoints`` are the
    cluster's hosts: sent over EDS for an ``EDS`` cluster, inline for a DNS one.
    ``lb_policy`` is an Envoy ``LbPolicy`` name or ``""`` (Envoy's default);
    ``least_request_choice_count`` > 0 adds ``least_request_lb_config``.

    The discovery-chain shape Consul gives sidecar upstream clusters (and a mesh
    gateway's ``exported~`` clusters) adds ``alt_stat_name``, ``circuit_breakers: {}``
    (with ``circuit_breakers``) and ``common_lb_config.healthy_panic_threshold: {}``
    (with ``no_panic_threshold``: a 0 % threshold, so Envoy never falls back to
    balancing across unhealthy hosts).
    """

    name: str
    connect_timeout: str
    endpoints: tuple[Endpoint, ...] = ()
    discovery: Discovery = "EDS"
    lb_policy: str = ""
    least_request_choice_count: int = 0
    tcp_keepalive: TcpKeepalive | None = None
    outlier_detection: bool = True
    dns_refresh_rate: str = "10s"
    dns_lookup_family: str = "V4_ONLY"
    alt_stat_name: str = ""
    circuit_breakers: bool = False
    no_panic_threshold: bool = False

    @property
    def uses_eds(self) -> bool:
        """Whether the endpoints travel as a separate ClusterLoadAssignment."""
        return self.discovery == "EDS"


def build_cluster(spec: ClusterSpec, *, inline_endpoints: bool = False) -> dict[str, Any]:
    """The Cluster dict for ``spec`` (no ``@type``).

    With ``inline_endpoints`` an EDS cluster becomes ``STATIC`` and carries its
    ClusterLoadAssignment as ``load_assignment`` (for configurations without an xDS
    server); DNS clusters always carry theirs.
    """
    cluster: dict[str, Any] = {"name": spec.name}
    if spec.alt_stat_name:
        cluster["alt_stat_name"] = spec.alt_stat_name
    if spec.discovery in _DNS_TYPES:
        cluster["type"] = spec.discovery
        cluster["load_assignment"] = cluster_load_assignment(spec.name, spec.endpoints)
        cluster["dns_refresh_rate"] = spec.dns_refresh_rate
        cluster["dns_lookup_family"] = spec.dns_lookup_family
    elif inline_endpoints:
        cluster["type"] = "STATIC"
        cluster["load_assignment"] = cluster_load_assignment(spec.name, spec.endpoints)
    else:
        cluster["type"] = "EDS"
        cluster["eds_cluster_config"] = eds_config()
    cluster["connect_timeout"] = spec.connect_timeout
    if spec.circuit_breakers:
        cluster["circuit_breakers"] = {}
    if spec.outlier_detection:
        cluster["outlier_detection"] = {}
    if spec.lb_policy:
        cluster["lb_policy"] = spec.lb_policy
    if spec.least_request_choice_count > 0:
        cluster["least_request_lb_config"] = {"choice_count": spec.least_request_choice_count}
    if spec.no_panic_threshold:
        cluster["common_lb_config"] = {"healthy_panic_threshold": {}}
    keepalive = spec.tcp_keepalive
    if keepalive is not None:
        options: dict[str, int] = {}
        if keepalive.probes:
            options["keepalive_probes"] = keepalive.probes
        if keepalive.time:
            options["keepalive_time"] = keepalive.time
        if keepalive.interval:
            options["keepalive_interval"] = keepalive.interval
        cluster["upstream_connection_options"] = {"tcp_keepalive": options}
    return cluster
