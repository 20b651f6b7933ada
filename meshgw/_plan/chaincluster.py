"""The discovery-chain cluster: the one shape Consul gives a sidecar's upstream target
clusters and a mesh gateway's ``exported~`` clusters (``makeUpstreamClusterForDiscoveryChain``).

Both planners build it here so that the two cannot drift apart.
"""

from __future__ import annotations

from meshgw._envoy.clusters import (
    CircuitBreakers,
    ClusterSpec,
    Discovery,
    OutlierDetection,
    UpstreamTls,
)
from meshgw._envoy.endpoints import Endpoint

__all__ = ["discovery_chain_cluster"]


def discovery_chain_cluster(
    name: str,
    connect_timeout: str,
    endpoints: tuple[Endpoint, ...] | None,
    discovery: Discovery = "EDS",
    *,
    tls: UpstreamTls | None = None,
    http2: bool = False,
    circuit_breakers: CircuitBreakers | None = None,
    outlier_detection: OutlierDetection | None = None,
    lb_policy: str = "",
    least_request_choice_count: int = 0,
) -> ClusterSpec:
    """A discovery-chain target cluster named ``name``: stats under its own name
    (``alt_stat_name``), circuit breakers and outlier detection (``{}`` when not given:
    Envoy's defaults) and no panic threshold (Consul never balances over unhealthy
    hosts of a target; failover is the aggregate cluster's job)."""
    return ClusterSpec(
        name=name,
        connect_timeout=connect_timeout,
        endpoints=endpoints,
        discovery=discovery,
        alt_stat_name=name,
        circuit_breakers=circuit_breakers if circuit_breakers is not None else CircuitBreakers(),
        outlier_detection=(
            outlier_detection if outlier_detection is not None else OutlierDetection()
        ),
        no_panic_threshold=True,
        lb_policy=lb_policy,
        least_request_choice_count=least_request_choice_count,
        tls=tls,
        http2=http2,
    )
