"""Reading generated Envoy configuration the way Envoy does: which listener takes an
address, which filter chain a TLS server name selects, which cluster a chain sends to,
a cluster's children, endpoints, SNI and expected SANs.

Pure functions over the plain dicts :func:`meshgw.translate` returns.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, NamedTuple

__all__ = [
    "Bound",
    "ChainIndex",
    "Endpoint",
    "aggregate_children",
    "chain_cluster",
    "endpoints",
    "expected_sans",
    "http_manager",
    "is_wildcard",
    "listener_cluster",
    "pick_filter_chain",
    "route_clusters",
    "socket",
    "terminates_tls",
    "upstream_sni",
]

_WILDCARDS = frozenset({"0.0.0.0", "::", ""})
_TCP_PROXY = "envoy.filters.network.tcp_proxy"
_SNI_CLUSTER = "envoy.filters.network.sni_cluster"
_HCM = "envoy.filters.network.http_connection_manager"
_AGGREGATE = "envoy.clusters.aggregate"
# Envoy sends to HEALTHY and UNKNOWN hosts (a missing status is UNKNOWN); Consul's
# clusters disable panic routing (healthy_panic_threshold 0), so never to the others.
_ROUTABLE = frozenset({"HEALTHY", "UNKNOWN", ""})


class Endpoint(NamedTuple):
    """One host of a cluster: address (an IP or a DNS name), port, health."""

    address: str
    port: int
    health: str

    @property
    def healthy(self) -> bool:
        return self.health in _ROUTABLE


def is_wildcard(address: str) -> bool:
    """A bind address that takes every local address (``0.0.0.0``, ``::``)."""
    return address in _WILDCARDS


def socket(resource: Mapping[str, Any]) -> tuple[str, int]:
    """``(address, port)`` of a listener or endpoint ``address`` block's socket."""
    sock = resource.get("address", {}).get("socket_address", {})
    return str(sock.get("address", "")), int(sock.get("port_value", 0))


class Bound:
    """A proxy's listeners by the port they bind, built once per configuration."""

    __slots__ = ("_by_port",)

    def __init__(self, listeners: Iterable[Mapping[str, Any]]) -> None:
        self._by_port: dict[int, list[tuple[str, Mapping[str, Any]]]] = {}
        for listener in listeners:
            address, port = socket(listener)
            self._by_port.setdefault(port, []).append((address, listener))

    def for_socket(
        self, address: str, port: int, *, outbound: bool = False
    ) -> Mapping[str, Any] | None:
        """The listener bound exactly to ``address:port``, else one bound to a wildcard
        address on ``port`` (what the kernel hands a connection to); ``None`` if
        neither. ``outbound``: upstream listeners only."""
        wildcard = None
        for a, listener in self._by_port.get(port, ()):
            if outbound and listener.get("traffic_direction") != "OUTBOUND":
                continue
            if a == address:
                return listener
            if a in _WILDCARDS and wildcard is None:
                wildcard = listener
        return wildcard

    def at(
        self, address: str, port: int, advertised: Iterable[tuple[str, int]]
    ) -> Mapping[str, Any] | None:
        """The listener a connection to ``address:port`` reaches on a proxy advertised
        at ``advertised``: bound there (or on a wildcard), else — an advertised address
        in front of the proxy, such as a NAT'd WAN address — the listener bound to the
        proxy's first advertised address."""
        found = self.for_socket(address, port)
        if found is not None:
            return found
        advertised = tuple(advertised)
        if (address, port) in advertised:
            for a, p in advertised:
                found = self.for_socket(a, p)
                if found is not None:
                    return found
        return None

    def sharing(self, listener: Mapping[str, Any]) -> list[Mapping[str, Any]]:
        """The other listeners that bind ``listener``'s port on the same address, or
        where either address is a wildcard (Envoy cannot bind both)."""
        address, port = socket(listener)
        return [
            other
            for a, other in self._by_port.get(port, ())
            if other is not listener and (a == address or is_wildcard(a) or is_wildcard(address))
        ]

    def collisions(self) -> list[tuple[int, Mapping[str, Any], Mapping[str, Any]]]:
        """Every pair of listeners that cannot both bind: ``(port, one, other)``."""
        out = []
        for port, bound in sorted(self._by_port.items()):
            if not port:
                continue
            for i, (a, one) in enumerate(bound):
                for b, other in bound[i + 1 :]:
                    if a == b or is_wildcard(a) or is_wildcard(b):
                        out.append((port, one, other))
        return out


def _filters(chain: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return list(chain.get("filters", ()))


def listener_cluster(listener: Mapping[str, Any]) -> str:
    """The cluster an upstream (or public) listener sends to (see :func:`chain_cluster`)."""
    for chain in listener.get("filter_chains", ()):
        cluster = chain_cluster(chain, "")
        if cluster:
            return cluster
    return ""


class ChainIndex:
    """A listener's filter chains by server name, built once, for repeated lookups."""

    __slots__ = ("catch_all", "exact", "wildcards")

    def __init__(self, listener: Mapping[str, Any]) -> None:
        self.exact: dict[str, Mapping[str, Any]] = {}
        wildcards: list[tuple[str, Mapping[str, Any]]] = []
        self.catch_all: Mapping[str, Any] | None = None
        for chain in listener.get("filter_chains", ()):
            names = chain.get("filter_chain_match", {}).get("server_names")
            if not names:
                if self.catch_all is None:
                    self.catch_all = chain
                continue
            for name in names:
                if name.startswith("*"):
                    wildcards.append((name[1:], chain))
                else:
                    self.exact.setdefault(name, chain)
        # Longest suffix first: Envoy prefers the most specific wildcard.
        wildcards.sort(key=lambda w: -len(w[0]))
        self.wildcards = tuple(wildcards)
        if self.catch_all is None:
            default = listener.get("default_filter_chain")
            self.catch_all = default if isinstance(default, Mapping) else None

    def pick(self, server_name: str) -> Mapping[str, Any] | None:
        """See :func:`pick_filter_chain`."""
        found = self.exact.get(server_name)
        if found is not None:
            return found
        for suffix, chain in self.wildcards:
            if server_name.endswith(suffix):
                return chain
        return self.catch_all


def pick_filter_chain(listener: Mapping[str, Any], server_name: str) -> Mapping[str, Any] | None:
    """The filter chain Envoy selects for a TLS ClientHello naming ``server_name``:
    an exact ``server_names`` match, else the longest matching wildcard
    (``*.suffix``), else a chain without ``server_names``, else the listener's
    ``default_filter_chain``; ``None`` when nothing matches (Envoy closes the
    connection)."""
    return ChainIndex(listener).pick(server_name)


def chain_cluster(chain: Mapping[str, Any], server_name: str) -> str:
    """The cluster a filter chain's TCP proxy sends to: the SNI itself after an
    ``sni_cluster`` filter (when the SNI is set), else the TCP proxy's ``cluster``
    (the first of ``weighted_clusters``); for an HTTP connection manager, its catch-all
    route's cluster."""
    sni_cluster = False
    for f in _filters(chain):
        name = f.get("name")
        if name == _SNI_CLUSTER:
            sni_cluster = True
        elif name == _TCP_PROXY:
            if sni_cluster and server_name:
                return server_name
            tc = f.get("typed_config", {})
            if tc.get("cluster"):
                return str(tc["cluster"])
            weighted = tc.get("weighted_clusters", {}).get("clusters", ())
            if weighted:
                return str(weighted[0].get("name", ""))
            return ""
        elif name == _HCM:
            return _route_cluster(f.get("typed_config", {}))
    return ""


def _route_cluster(hcm: Mapping[str, Any]) -> str:
    # An HTTP upstream or public listener: meshgw's inline route configuration ends the
    # first virtual host with the catch-all route (Consul's chain routes put a router's
    # matches before it), whose cluster every other request goes to.
    hosts = hcm.get("route_config", {}).get("virtual_hosts", ())
    routes = hosts[0].get("routes", ()) if hosts else ()
    if not routes:
        return ""
    action = routes[-1].get("route", {})
    if action.get("cluster"):
        return str(action["cluster"])
    weighted = action.get("weighted_clusters", {}).get("clusters", ())
    return str(weighted[0].get("name", "")) if weighted else ""


def http_manager(listener: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The HTTP connection manager's configuration of a listener that speaks HTTP;
    ``None`` for a TCP listener."""
    for chain in listener.get("filter_chains", ()):
        for f in _filters(chain):
            if f.get("name") == _HCM:
                config: Mapping[str, Any] = f.get("typed_config", {})
                return config
    return None


def route_clusters(hcm: Mapping[str, Any]) -> Iterator[str]:
    """Every cluster an HTTP connection manager's inline routes send to (each route's
    ``cluster`` and weighted clusters), in route order."""
    for host in hcm.get("route_config", {}).get("virtual_hosts", ()):
        for route in host.get("routes", ()):
            action = route.get("route", {})
            if action.get("cluster"):
                yield str(action["cluster"])
            for weighted in action.get("weighted_clusters", {}).get("clusters", ()):
                yield str(weighted.get("name", ""))


def terminates_tls(chain: Mapping[str, Any]) -> bool:
    """Whether the chain ends the client's TLS (a downstream transport socket)."""
    return "transport_socket" in chain


def aggregate_children(cluster: Mapping[str, Any]) -> tuple[str, ...] | None:
    """An aggregate cluster's children in priority order; ``None`` for other clusters."""
    ct = cluster.get("cluster_type")
    if not ct or ct.get("name") != _AGGREGATE:
        return None
    return tuple(str(c) for c in ct.get("typed_config", {}).get("clusters", ()))


def endpoints(
    cluster: Mapping[str, Any], assignments: Mapping[str, Mapping[str, Any]]
) -> list[Endpoint]:
    """The cluster's hosts, inline (``load_assignment``) or from its EDS assignment."""
    assignment = cluster.get("load_assignment") or assignments.get(str(cluster.get("name")))
    out: list[Endpoint] = []
    if not assignment:
        return out
    for locality in assignment.get("endpoints", ()):
        for lb in locality.get("lb_endpoints", ()):
            address, port = socket(lb.get("endpoint", {}))
            out.append(Endpoint(address, port, str(lb.get("health_status", ""))))
    return out


def _tls_context(cluster: Mapping[str, Any]) -> Mapping[str, Any]:
    ts = cluster.get("transport_socket")
    if not ts:
        return {}
    tc = ts.get("typed_config", {})
    return tc if isinstance(tc, Mapping) else {}


def upstream_sni(cluster: Mapping[str, Any]) -> str | None:
    """The SNI the cluster's TLS origination sends; ``None`` without TLS."""
    tc = _tls_context(cluster)
    if not tc:
        return None
    return str(tc.get("sni", ""))


def expected_sans(cluster: Mapping[str, Any]) -> tuple[str, ...]:
    """The URI SANs the cluster accepts from its server (empty: not checked)."""
    ctx = _tls_context(cluster).get("common_tls_context", {})
    vc = ctx.get("validation_context", {})
    if not vc:
        vc = ctx.get("combined_validation_context", {}).get("default_validation_context", {})
    out = []
    for m in vc.get("match_typed_subject_alt_names", ()):
        matcher = m.get("matcher", {})
        if "exact" in matcher:
            out.append(str(matcher["exact"]))
        elif "prefix" in matcher:
            out.append(str(matcher["prefix"]) + "*")
    return tuple(out)
