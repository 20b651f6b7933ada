"""Small builders for Envoy v3 proto-JSON (snake_case), shared by every translator.

Everything here is a pure function returning fresh dicts; nothing knows about Consul.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AGGREGATE_CLUSTER_TYPE",
    "CLA_TYPE",
    "CLUSTER_TYPE",
    "LISTENER_TYPE",
    "eds_config",
    "pipe_address",
    "sni_cluster_filter",
    "socket_address",
    "tcp_proxy_filter",
    "tls_inspector",
    "typed",
]

CLUSTER_TYPE = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
LISTENER_TYPE = "type.googleapis.com/envoy.config.listener.v3.Listener"
CLA_TYPE = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"
AGGREGATE_CLUSTER_TYPE = "type.googleapis.com/envoy.extensions.clusters.aggregate.v3.ClusterConfig"
TCP_PROXY_TYPE = "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy"
SNI_CLUSTER_TYPE = "type.googleapis.com/envoy.extensions.filters.network.sni_cluster.v3.SniCluster"
TLS_INSPECTOR_TYPE = (
    "type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector"
)
RBAC_TYPE = "type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC"
HTTP_RBAC_TYPE = "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC"
UPSTREAM_TLS_TYPE = (
    "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext"
)
DOWNSTREAM_TLS_TYPE = (
    "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext"
)
HCM_TYPE = (
    "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3"
    ".HttpConnectionManager"
)
ROUTER_TYPE = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
HTTP_PROTOCOL_OPTIONS_TYPE = (
    "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
)


def typed(type_url: str, **fields: Any) -> dict[str, Any]:
    """An ``Any``: ``{"@type": type_url, **fields}``."""
    return {"@type": type_url, **fields}


def socket_address(address: str, port: int) -> dict[str, Any]:
    """``{"socket_address": {"address", "port_value"}}``."""
    return {"socket_address": {"address": address, "port_value": port}}


def pipe_address(path: str, mode: int | None = None) -> dict[str, Any]:
    """``{"pipe": {"path", "mode"}}``: a Unix domain socket (``mode`` left out when None)."""
    pipe: dict[str, Any] = {"path": path}
    if mode is not None:
        pipe["mode"] = mode
    return {"pipe": pipe}


def eds_config() -> dict[str, Any]:
    """EDS over ADS, as Consul configures every EDS cluster."""
    return {"eds_config": {"ads": {}, "resource_api_version": "V3"}}


def tcp_proxy_filter(stat_prefix: str, cluster: str) -> dict[str, Any]:
    """``envoy.filters.network.tcp_proxy`` to one cluster (``""`` with sni_cluster)."""
    return {
        "name": "envoy.filters.network.tcp_proxy",
        "typed_config": typed(TCP_PROXY_TYPE, stat_prefix=stat_prefix, cluster=cluster),
    }


def sni_cluster_filter() -> dict[str, Any]:
    """``envoy.filters.network.sni_cluster``: the SNI names the upstream cluster."""
    return {"name": "envoy.filters.network.sni_cluster", "typed_config": typed(SNI_CLUSTER_TYPE)}


def tls_inspector() -> dict[str, Any]:
    """The TLS inspector listener filter (reads SNI without terminating TLS)."""
    return {
        "name": "envoy.filters.listener.tls_inspector",
        "typed_config": typed(TLS_INSPECTOR_TYPE),
    }
