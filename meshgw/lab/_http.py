"""HTTP in the lab: which listeners speak it, and what the lab changes for it.

A sidecar whose service's protocol is ``http``, ``http2`` or ``grpc`` gets an HTTP
connection manager on its listeners instead of a TCP proxy; the lab then sends HTTP
requests through it and runs an HTTP echo backend behind it. Two changes to the
generated configuration, on HTTP clusters only, keep the lab's view of the bytes exact:

* one request per upstream connection, so that every request opens its own connection
  through every gateway on the way, and the per-host connection counters the lab reads
  its hops from move for each request (a pooled connection would hide the path);
* the application side (``local_app``) speaks HTTP/1.1, the lab's echo backend, also
  for ``http2`` and ``grpc`` services; the mesh side between the sidecars is unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from meshgw._mesh import envoyview as ev

__all__ = ["http_listener", "prepare_http"]

_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
_OPTIONS_TYPE = f"type.googleapis.com/{_OPTIONS}"
_APP_CLUSTERS = frozenset({"local_app"})


def http_listener(bootstrap: Mapping[str, Any], address: str, port: int) -> bool:
    """Whether the listener of ``bootstrap`` bound to ``address:port`` speaks HTTP."""
    for listener in bootstrap.get("static_resources", {}).get("listeners", []):
        if ev.socket(listener) == (address, port):
            return ev.http_manager(listener) is not None
    return False


def prepare_http(bootstrap: dict[str, Any]) -> bool:
    """Change ``bootstrap`` in place for the lab (see the module docstring); returns
    whether its public listener speaks HTTP (its application is then an HTTP backend)."""
    resources = bootstrap.get("static_resources", {})
    clusters = {str(c.get("name", "")): c for c in resources.get("clusters", [])}
    reached: set[str] = set()
    public_http = False
    for listener in resources.get("listeners", []):
        hcm = ev.http_manager(listener)
        if hcm is None:
            continue
        if str(listener.get("name", "")).startswith("public_listener"):
            public_http = True
        reached.update(ev.route_clusters(hcm))
    for name in _with_children(reached, clusters):
        cluster = clusters.get(name)
        if cluster is not None:
            _one_request_per_connection(cluster, app=name in _APP_CLUSTERS)
    return public_http


def _with_children(names: set[str], clusters: Mapping[str, Mapping[str, Any]]) -> set[str]:
    """``names`` and, through aggregate clusters, the clusters that carry their traffic."""
    out: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in out:
            continue
        out.add(name)
        todo.extend(ev.aggregate_children(clusters.get(name, {})) or ())
    return out


def _one_request_per_connection(cluster: dict[str, Any], *, app: bool) -> None:
    if ev.aggregate_children(cluster) is not None:
        return  # an aggregate: its children hold the connections
    extensions = cluster.setdefault("typed_extension_protocol_options", {})
    options = extensions.setdefault(_OPTIONS, {"@type": _OPTIONS_TYPE})
    chosen = [k for k in _PROTOCOL_CHOICES if k in options]
    if app or not chosen:
        for key in chosen:
            del options[key]
        # HTTP/1.1: what the lab's echo backend speaks, and the protocol of an HTTP
        # cluster that does not choose one (Envoy requires the choice here)
        options["explicit_http_config"] = {"http_protocol_options": {}}
    common = options.setdefault("common_http_protocol_options", {})
    common["max_requests_per_connection"] = 1


_PROTOCOL_CHOICES = ("explicit_http_config", "use_downstream_protocol_config", "auto_config")
