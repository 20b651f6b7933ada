"""Envoy listeners from :class:`ListenerSpec` values.

Pure builders; nothing here knows about Consul. A listener reads the TLS SNI (without
terminating TLS) and its filter chains pass the connection on by SNI.
"""

from __future__ import annotations

from typing import Any

import attrs

from meshgw._envoy.resources import (
    sni_cluster_filter,
    socket_address,
    tcp_proxy_filter,
    tls_inspector,
)

__all__ = ["FilterChainSpec", "ListenerSpec", "build_filter_chain", "build_listener"]


@attrs.frozen
class FilterChainSpec:
    """One filter chain that proxies TCP without terminating TLS.

    ``server_names`` is the SNI match (exact names or ``*.suffix`` wildcards); empty
    means no match, i.e. the listener's catch-all chain. The chain's ``tcp_proxy`` sends
    to ``cluster`` with ``stat_prefix``; with ``sni_cluster`` an
    ``envoy.filters.network.sni_cluster`` filter first sets the cluster to the SNI
    (``cluster`` is then ``""``).
    """

    stat_prefix: str
    cluster: str = ""
    server_names: tuple[str, ...] = ()
    sni_cluster: bool = False


@attrs.frozen
class ListenerSpec:
    """A listener on ``address:port`` with its filter chains, in match order."""

    name: str
    address: str
    port: int
    filter_chains: tuple[FilterChainSpec, ...] = ()
    tls_inspector: bool = True


def build_filter_chain(spec: FilterChainSpec) -> dict[str, Any]:
    """The FilterChain dict for ``spec``."""
    chain: dict[str, Any] = {}
    if spec.server_names:
        chain["filter_chain_match"] = {"server_names": list(spec.server_names)}
    filters = [sni_cluster_filter()] if spec.sni_cluster else []
    filters.append(tcp_proxy_filter(spec.stat_prefix, spec.cluster))
    chain["filters"] = filters
    return chain


def build_listener(spec: ListenerSpec) -> dict[str, Any]:
    """The Listener dict for ``spec`` (no ``@type``, no traffic direction: Consul leaves
    it UNSPECIFIED on gateways)."""
    listener: dict[str, Any] = {
        "name": spec.name,
        "address": socket_address(spec.address, spec.port),
        "filter_chains": [build_filter_chain(chain) for chain in spec.filter_chains],
    }
    if spec.tls_inspector:
        listener["listener_filters"] = [tls_inspector()]
    return listener
