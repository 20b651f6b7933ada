"""Envoy clusters from :class:`ClusterSpec` (and :class:`RawClusterSpec`) values.

Pure builders; nothing here knows about Consul's precedence rules. A spec says what the
cluster is (its discovery type, endpoints, timeouts, load balancer, TLS); the caller
decided all of that. :func:`build_cluster` gives the Cluster dict and
:func:`cluster_assignment` the ClusterLoadAssignment an xDS server would send for it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Literal

import attrs

from meshgw._envoy.endpoints import Endpoint, cluster_load_assignment
from meshgw._envoy.resources import (
    AGGREGATE_CLUSTER_TYPE,
    HTTP_PROTOCOL_OPTIONS_TYPE,
    eds_config,
    typed,
)
from meshgw._envoy.tls import SanMatcher, TlsContexts

__all__ = [
    "AnyClusterSpec",
    "CircuitBreakers",
    "ClusterSpec",
    "Discovery",
    "OutlierDetection",
    "RawClusterSpec",
    "TcpKeepalive",
    "UpstreamTls",
    "aggregate_cluster",
    "build_cluster",
    "cluster_assignment",
]

#: How a cluster finds its hosts: from EDS, by resolving DNS names in its inline
#: endpoints (``LOGICAL_DNS`` for exactly one name, ``STRICT_DNS`` for any number), from
#: its inline endpoints (``STATIC``), or through other clusters (``AGGREGATE``).
Discovery = Literal["EDS", "LOGICAL_DNS", "STRICT_DNS", "STATIC", "AGGREGATE"]

_DNS_TYPES = frozenset({"LOGICAL_DNS", "STRICT_DNS"})
_HTTP_PROTOCOL_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"


@attrs.frozen
class TcpKeepalive:
    """``upstream_connection_options.tcp_keepalive``; zero fields are left out (Envoy
    then uses the operating system's default)."""

    time: int = 0
    interval: int = 0
    probes: int = 0


@attrs.frozen
class OutlierDetection:
    """``outlier_detection``; empty or ``None`` fields are left out (Envoy's defaults).

    Durations are protobuf duration strings.
    """

    interval: str = ""
    consecutive_5xx: int = 0
    enforcing_consecutive_5xx: int | None = None
    max_ejection_percent: int | None = None
    base_ejection_time: str = ""


@attrs.frozen
class CircuitBreakers:
    """``circuit_breakers``: one threshold of the set limits, or ``{}`` when none is."""

    max_connections: int | None = None
    max_pending_requests: int | None = None
    max_requests: int | None = None


@attrs.frozen
class UpstreamTls:
    """The cluster's ``tls`` transport socket: the proxy's TLS material, the SNI to send
    and the URI SANs the peer certificate must satisfy (one of)."""

    contexts: TlsContexts
    sni: str
    san: tuple[SanMatcher, ...]

    def transport_socket(self) -> dict[str, Any]:
        return self.contexts.upstream(self.sni, self.san)


@attrs.frozen
class ClusterSpec:
    """What one cluster is.

    ``connect_timeout`` is a protobuf duration string (``"5s"``). ``endpoints`` are the
    cluster's hosts: sent over EDS for an ``EDS`` cluster, inline otherwise; ``None``
    gives an assignment without any locality group. ``aggregate`` names the clusters of
    an ``AGGREGATE`` cluster, in priority order. ``lb_policy`` is an Envoy ``LbPolicy``
    name or ``""`` (Envoy's default); ``least_request_choice_count`` > 0 adds
    ``least_request_lb_config``. ``dns_lookup_family`` applies to DNS clusters (their
    refresh rate is Envoy's default: ``dns_refresh_rate`` is deprecated in Envoy 1.40).
    ``http2`` makes the upstream protocol HTTP/2.

    The discovery-chain shape Consul gives sidecar upstream clusters (and a mesh
    gateway's ``exported~`` clusters) adds ``alt_stat_name``, ``circuit_breakers`` and
    ``common_lb_config.healthy_panic_threshold: {}`` (with ``no_panic_threshold``: a
    0 % threshold, so Envoy never falls back to balancing across unhealthy hosts).
    """

    name: str
    connect_timeout: str
    endpoints: tuple[Endpoint, ...] | None = ()
    discovery: Discovery = "EDS"
    aggregate: tuple[str, ...] = ()
    lb_policy: str = ""
    least_request_choice_count: int = 0
    tcp_keepalive: TcpKeepalive | None = None
    outlier_detection: OutlierDetection | None = OutlierDetection()
    dns_lookup_family: str = "V4_ONLY"
    alt_stat_name: str = ""
    circuit_breakers: CircuitBreakers | None = None
    no_panic_threshold: bool = False
    tls: UpstreamTls | None = None
    http2: bool = False

    @property
    def uses_eds(self) -> bool:
        """Whether the endpoints travel as a separate ClusterLoadAssignment."""
        return self.discovery == "EDS"


@attrs.frozen
class RawClusterSpec:
    """A cluster the user wrote as JSON (Consul's ``envoy_cluster_json`` escape hatches).

    ``text`` is the resource (no ``@type``); ``name`` its name (the planner's default
    when the JSON has none). ``tls`` is added when the resource has no transport socket.
    With ``eds_name`` (an EDS cluster without inline endpoints) ``endpoints`` travel as
    the assignment of that name.
    """

    name: str
    text: str
    tls: UpstreamTls | None = None
    eds_name: str = ""
    endpoints: tuple[Endpoint, ...] | None = None

    @property
    def uses_eds(self) -> bool:
        return bool(self.eds_name)


AnyClusterSpec = ClusterSpec | RawClusterSpec


def aggregate_cluster(name: str, clusters: Sequence[str], connect_timeout: str) -> ClusterSpec:
    """An aggregate cluster over ``clusters`` (in priority order), named ``name`` and
    reporting its stats under that name."""
    return ClusterSpec(
        name=name,
        connect_timeout=connect_timeout,
        discovery="AGGREGATE",
        aggregate=tuple(clusters),
        alt_stat_name=name,
        outlier_detection=None,
        endpoints=None,
    )


def build_cluster(spec: AnyClusterSpec) -> dict[str, Any]:
    """The Cluster dict for ``spec`` (no ``@type``). An ``EDS`` cluster's endpoints are
    in :func:`cluster_assignment`; every other type carries them inline."""
    if isinstance(spec, RawClusterSpec):
        return _raw_cluster(spec)
    cluster: dict[str, Any] = {"name": spec.name}
    if spec.alt_stat_name:
        cluster["alt_stat_name"] = spec.alt_stat_name
    discovery = spec.discovery
    if discovery == "EDS":
        cluster["type"] = "EDS"
        cluster["eds_cluster_config"] = eds_config()
    elif discovery == "AGGREGATE":
        cluster["cluster_type"] = {
            "name": "envoy.clusters.aggregate",
            "typed_config": typed(AGGREGATE_CLUSTER_TYPE, clusters=list(spec.aggregate)),
        }
    else:
        cluster["type"] = discovery
        cluster["load_assignment"] = cluster_load_assignment(spec.name, spec.endpoints)
        if discovery in _DNS_TYPES:
            cluster["dns_lookup_family"] = spec.dns_lookup_family
    cluster["connect_timeout"] = spec.connect_timeout
    if spec.circuit_breakers is not None:
        cluster["circuit_breakers"] = _circuit_breakers(spec.circuit_breakers)
    if spec.outlier_detection is not None:
        cluster["outlier_detection"] = _outlier_detection(spec.outlier_detection)
    if discovery == "AGGREGATE":
        cluster["lb_policy"] = "CLUSTER_PROVIDED"  # Envoy requires it of an aggregate
    elif spec.lb_policy:
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
    if spec.tls is not None:
        cluster["transport_socket"] = spec.tls.transport_socket()
    if spec.http2:
        cluster["typed_extension_protocol_options"] = {
            _HTTP_PROTOCOL_OPTIONS: typed(
                HTTP_PROTOCOL_OPTIONS_TYPE, explicit_http_config={"http2_protocol_options": {}}
            )
        }
    return cluster


def cluster_assignment(spec: AnyClusterSpec) -> dict[str, Any] | None:
    """The ClusterLoadAssignment of an EDS cluster, ``None`` for other types."""
    if isinstance(spec, RawClusterSpec):
        if not spec.eds_name:
            return None
        return cluster_load_assignment(spec.eds_name, spec.endpoints)
    if spec.discovery != "EDS":
        return None
    return cluster_load_assignment(spec.name, spec.endpoints)


def _raw_cluster(spec: RawClusterSpec) -> dict[str, Any]:
    cluster: dict[str, Any] = json.loads(spec.text)
    cluster.setdefault("name", spec.name)
    # As Consul: the mesh's mTLS unless the user brought a transport socket.
    if (
        spec.tls is not None
        and "transport_socket" not in cluster
        and "transportSocket" not in cluster
    ):
        cluster["transport_socket"] = spec.tls.transport_socket()
    return cluster


def _circuit_breakers(limits: CircuitBreakers) -> dict[str, Any]:
    threshold = {
        key: value
        for key, value in (
            ("max_connections", limits.max_connections),
            ("max_pending_requests", limits.max_pending_requests),
            ("max_requests", limits.max_requests),
        )
        if value is not None
    }
    return {"thresholds": [threshold]} if threshold else {}


def _outlier_detection(od: OutlierDetection) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if od.interval:
        out["interval"] = od.interval
    if od.consecutive_5xx:
        out["consecutive_5xx"] = od.consecutive_5xx
    if od.enforcing_consecutive_5xx is not None:
        out["enforcing_consecutive_5xx"] = od.enforcing_consecutive_5xx
    if od.max_ejection_percent is not None:
        out["max_ejection_percent"] = od.max_ejection_percent
    if od.base_ejection_time:
        out["base_ejection_time"] = od.base_ejection_time
    return out
