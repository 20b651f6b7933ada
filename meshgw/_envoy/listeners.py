"""Envoy listeners from :class:`ListenerSpec` (and :class:`RawListenerSpec`) values.

Pure builders; nothing here knows about Consul. A listener has filter chains in match
order; each chain optionally matches SNI names, optionally enforces an RBAC policy,
optionally terminates TLS, and ends in a TCP proxy or an HTTP connection manager.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal

import attrs

from meshgw._envoy.rbac import (
    NETWORK_RBAC_FILTER,
    RbacPolicy,
    http_rbac_filter,
    network_rbac_filter,
)
from meshgw._envoy.resources import (
    HCM_TYPE,
    ROUTER_TYPE,
    pipe_address,
    sni_cluster_filter,
    socket_address,
    tcp_proxy_filter,
    tls_inspector,
    typed,
)
from meshgw._envoy.tls import TlsContexts

__all__ = [
    "AnyListenerSpec",
    "FilterChainSpec",
    "HttpSpec",
    "ListenerSpec",
    "RawListenerSpec",
    "build_filter_chain",
    "build_listener",
    "http_connection_manager",
]


@attrs.frozen
class HttpSpec:
    """An HTTP connection manager routing every request to the chain's cluster through
    an inline route configuration named ``route_name`` (meshgw emits no RDS resources).
    ``http2`` accepts HTTP/2 downstream; ``rbac`` adds the HTTP RBAC filter before the
    router."""

    route_name: str
    http2: bool = False
    rbac: RbacPolicy | None = None


@attrs.frozen
class FilterChainSpec:
    """One filter chain.

    ``server_names`` is the SNI match (exact names or ``*.suffix`` wildcards); empty
    means no match, i.e. the listener's catch-all chain. ``rbac`` puts the network RBAC
    filter (stats under ``rbac_stat_prefix``) first. The chain ends in a ``tcp_proxy``
    to ``cluster`` with ``stat_prefix`` -- or, with ``http``, an HTTP connection
    manager; with ``sni_cluster`` an ``envoy.filters.network.sni_cluster`` filter first
    sets the cluster to the SNI (``cluster`` is then ``""``). ``tls`` terminates TLS
    with the proxy's certificate, requiring a client certificate.
    """

    stat_prefix: str
    cluster: str = ""
    server_names: tuple[str, ...] = ()
    sni_cluster: bool = False
    rbac: RbacPolicy | None = None
    rbac_stat_prefix: str = ""
    http: HttpSpec | None = None
    tls: TlsContexts | None = None


@attrs.frozen
class ListenerSpec:
    """A listener on ``address:port`` -- or, with ``pipe``, on the Unix domain socket
    ``address`` (file mode ``pipe_mode``) -- with its filter chains, in match order.
    ``traffic_direction`` is ``""`` (unspecified), ``INBOUND`` or ``OUTBOUND``."""

    name: str
    address: str
    port: int
    filter_chains: tuple[FilterChainSpec, ...] = ()
    tls_inspector: bool = True
    traffic_direction: Literal["", "INBOUND", "OUTBOUND"] = ""
    pipe: bool = False
    pipe_mode: int | None = None


@attrs.frozen
class RawListenerSpec:
    """A listener the user wrote as JSON (Consul's ``envoy_*_listener_json`` escape
    hatches). ``text`` is the resource (no ``@type``); ``name`` its name (the planner's
    default when the JSON has none).

    With ``rbac`` and ``http_rbac``, the HTTP RBAC filter goes first in the HTTP
    connection manager of every chain, when every chain has one (Consul's
    ``injectHTTPFilterOnFilterChains``); otherwise, with ``rbac``, each filter chain gets
    the network RBAC filter first unless it has one. With ``tls``, each chain terminates
    TLS unless some chain already does (what Consul adds to a public listener of the
    user's).
    """

    name: str
    text: str
    rbac: RbacPolicy | None = None
    rbac_stat_prefix: str = ""
    http_rbac: bool = False
    tls: TlsContexts | None = None


AnyListenerSpec = ListenerSpec | RawListenerSpec


def http_connection_manager(stat_prefix: str, cluster: str, http: HttpSpec) -> dict[str, Any]:
    """``envoy.filters.network.http_connection_manager`` sending every request to
    ``cluster``."""
    http_filters = [] if http.rbac is None else [http_rbac_filter(http.rbac)]
    http_filters.append({"name": "envoy.filters.http.router", "typed_config": typed(ROUTER_TYPE)})
    config = typed(
        HCM_TYPE,
        stat_prefix=stat_prefix,
        route_config={
            "name": http.route_name,
            "virtual_hosts": [
                {
                    "name": http.route_name,
                    "domains": ["*"],
                    "routes": [{"match": {"prefix": "/"}, "route": {"cluster": cluster}}],
                }
            ],
        },
        http_filters=http_filters,
    )
    if http.http2:
        config["http2_protocol_options"] = {}
    return {"name": "envoy.filters.network.http_connection_manager", "typed_config": config}


def build_filter_chain(spec: FilterChainSpec) -> dict[str, Any]:
    """The FilterChain dict for ``spec``."""
    chain: dict[str, Any] = {}
    if spec.server_names:
        chain["filter_chain_match"] = {"server_names": list(spec.server_names)}
    filters = [sni_cluster_filter()] if spec.sni_cluster else []
    if spec.rbac is not None:
        filters.append(network_rbac_filter(spec.rbac, spec.rbac_stat_prefix))
    if spec.http is not None:
        filters.append(http_connection_manager(spec.stat_prefix, spec.cluster, spec.http))
    else:
        filters.append(tcp_proxy_filter(spec.stat_prefix, spec.cluster))
    chain["filters"] = filters
    if spec.tls is not None:
        chain["transport_socket"] = spec.tls.downstream()
    return chain


def build_listener(spec: AnyListenerSpec) -> dict[str, Any]:
    """The Listener dict for ``spec`` (no ``@type``)."""
    if isinstance(spec, RawListenerSpec):
        return _raw_listener(spec)
    address = (
        pipe_address(spec.address, spec.pipe_mode)
        if spec.pipe
        else socket_address(spec.address, spec.port)
    )
    listener: dict[str, Any] = {
        "name": spec.name,
        "address": address,
        "filter_chains": [build_filter_chain(chain) for chain in spec.filter_chains],
    }
    if spec.tls_inspector:
        listener["listener_filters"] = [tls_inspector()]
    if spec.traffic_direction:
        listener["traffic_direction"] = spec.traffic_direction
    return listener


def _raw_listener(spec: RawListenerSpec) -> dict[str, Any]:
    listener: dict[str, Any] = json.loads(spec.text)
    listener.setdefault("name", spec.name)
    if spec.rbac is None and spec.tls is None:
        return listener
    # The planner checked the shape: a non-empty list of chain objects with filter lists.
    chains = listener.get("filter_chains", listener.get("filterChains"))
    assert isinstance(chains, list)
    has_tls = any(
        isinstance(chain, Mapping) and ("transport_socket" in chain or "transportSocket" in chain)
        for chain in chains
    )
    rbac = spec.rbac
    if rbac is not None and not (spec.http_rbac and _inject_http_rbac(chains, rbac)):
        for chain in chains:
            filters = chain.setdefault("filters", [])
            if not any(
                isinstance(f, Mapping) and f.get("name") == NETWORK_RBAC_FILTER for f in filters
            ):
                filters.insert(0, network_rbac_filter(rbac, spec.rbac_stat_prefix))
    if spec.tls is not None and not has_tls:
        for chain in chains:
            chain["transport_socket"] = spec.tls.downstream()
    return listener


_HCM_NAMES = ("envoy.filters.network.http_connection_manager", "envoy.http_connection_manager")


def _inject_http_rbac(chains: list[dict[str, Any]], policy: RbacPolicy) -> bool:
    """Consul's injectHTTPFilterOnFilterChains: the HTTP RBAC filter first in the HTTP
    filters of the connection manager of every chain; ``False`` (nothing changed) unless
    every chain has one."""
    managers = []
    for chain in chains:
        found = [
            f.get("typed_config", f.get("typedConfig"))
            for f in chain.get("filters", [])
            if isinstance(f, Mapping) and f.get("name") in _HCM_NAMES
        ]
        if not found or not isinstance(found[0], dict):
            return False
        managers.append(found[0])
    authz = http_rbac_filter(policy)
    for hcm in managers:
        camel = "httpFilters" in hcm and "http_filters" not in hcm
        key = "httpFilters" if camel else "http_filters"
        hcm[key] = [authz, *hcm.get(key, [])]
    return True
