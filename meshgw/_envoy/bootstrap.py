"""Envoy v3 bootstrap documents built around a translate result.

Pure dict builders: no I/O, no global state, inputs are never mutated and the same
input always gives the same output.

:func:`static_bootstrap` wraps ``{"clusters": [...], "listeners": [...], "endpoints": [...]}``
into a complete bootstrap (``node``, ``static_resources``, optional ``admin``). When a
resource needs an aggregated discovery service (an EDS cluster, or any ``{"ads": {}}``
config source), it also adds ``dynamic_resources.ads_config`` and the static gRPC
cluster :data:`XDS_CLUSTER_NAME` that ``ads_config`` points at, so Envoy accepts the
EDS clusters.

:func:`inline_endpoints` turns EDS clusters into ``STATIC`` clusters carrying their
ClusterLoadAssignment inline: the form to use when no xDS server will run, and the form
in which Envoy checks the endpoints themselves.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from meshgw._envoy.endpoints import inline_assignments
from meshgw._values import is_ip, plain_copy
from meshgw.errors import TranslationError

__all__ = [
    "DEFAULT_XDS_ADDRESS",
    "XDS_CLUSTER_NAME",
    "inline_endpoints",
    "static_bootstrap",
]

#: Name of the static cluster that ``dynamic_resources.ads_config`` points at.
XDS_CLUSTER_NAME = "meshgw-xds"

#: Where the ADS server is expected when no ``xds_address`` is given.
DEFAULT_XDS_ADDRESS: tuple[str, int] = ("127.0.0.1", 18000)

_HTTP_PROTOCOL_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
_RESOURCE_KEYS = ("clusters", "listeners", "endpoints")


def static_bootstrap(
    resources: Mapping[str, Any],
    *,
    node_id: str,
    node_cluster: str,
    admin: tuple[str, int] | None = None,
    xds_address: tuple[str, int] = DEFAULT_XDS_ADDRESS,
) -> dict[str, Any]:
    """Build a complete Envoy v3 bootstrap (snake_case proto-JSON) from ``resources``.

    ``resources`` is a translate result: a mapping with ``clusters``, ``listeners`` and
    ``endpoints`` lists (missing keys count as empty). Listeners and clusters become
    ``static_resources``, in their given order. ClusterLoadAssignments in ``endpoints``
    are *not* part of a bootstrap (an xDS server sends them); use
    :func:`inline_endpoints` first to carry them inline.

    ``node_id`` and ``node_cluster`` fill ``node``. ``admin`` as ``(address, port)``
    adds an ``admin`` block listening there (without an access log).

    When any cluster is of type ``EDS``, or any resource uses an ``{"ads": {}}`` config
    source, the bootstrap gets ``dynamic_resources.ads_config`` (gRPC, API version V3)
    and a static HTTP/2 cluster named :data:`XDS_CLUSTER_NAME` that points at
    ``xds_address`` (``STATIC`` for an IP address, ``STRICT_DNS`` for a host name).

    Raises :class:`~meshgw.errors.TranslationError` when ``resources`` is not shaped
    like a translate result, or when a cluster already uses the name
    :data:`XDS_CLUSTER_NAME` while ADS is needed.
    """
    listeners = _resource_list(resources, "listeners")
    clusters = _resource_list(resources, "clusters")
    _resource_list(resources, "endpoints")  # checked for shape only

    bootstrap: dict[str, Any] = {"node": {"id": node_id, "cluster": node_cluster}}
    static: dict[str, Any] = {}
    if listeners:
        static["listeners"] = listeners
    if _needs_ads(clusters, listeners):
        if any(c.get("name") == XDS_CLUSTER_NAME for c in clusters):
            raise TranslationError(
                f"a cluster is named {XDS_CLUSTER_NAME!r}, which the bootstrap needs for its "
                "ADS connection"
            )
        clusters.append(_xds_cluster(xds_address))
        bootstrap["dynamic_resources"] = {
            "ads_config": {
                "api_type": "GRPC",
                "transport_api_version": "V3",
                "grpc_services": [{"envoy_grpc": {"cluster_name": XDS_CLUSTER_NAME}}],
            }
        }
    if clusters:
        static["clusters"] = clusters
    bootstrap["static_resources"] = static
    if admin is not None:
        bootstrap["admin"] = {"address": _socket_address(*admin)}
    return bootstrap


def inline_endpoints(resources: Mapping[str, Any]) -> dict[str, Any]:
    """Return a copy of ``resources`` whose EDS clusters carry their endpoints inline.

    Every cluster of type ``EDS`` whose ClusterLoadAssignment is in
    ``resources["endpoints"]`` becomes ``"type": "STATIC"`` with that assignment (less any
    ``@type``) as ``load_assignment``, and loses ``eds_cluster_config``. An assignment
    belongs to the cluster whose ``eds_cluster_config.service_name``, or else ``name``,
    equals its ``cluster_name``. EDS clusters without an assignment stay as they are;
    assignments for no cluster are dropped. ``endpoints`` becomes ``[]``; other keys are
    copied unchanged.
    """
    clusters = _resource_list(resources, "clusters")
    assignments = [
        cla
        for cla in _resource_list(resources, "endpoints")
        if isinstance(cla.get("cluster_name"), str)
    ]
    out: dict[str, Any] = {key: plain_copy(value) for key, value in resources.items()}
    out["clusters"] = inline_assignments(clusters, assignments)
    out["endpoints"] = []
    return out


def _needs_ads(clusters: Sequence[Mapping[str, Any]], listeners: Sequence[Any]) -> bool:
    if any(c.get("type") == "EDS" for c in clusters):
        return True
    return _uses_ads([clusters, listeners])


def _uses_ads(node: Any) -> bool:
    """True when ``node`` contains a ConfigSource with ``ads`` set."""
    if isinstance(node, Mapping):
        if isinstance(node.get("ads"), Mapping):
            return True
        return any(_uses_ads(value) for value in node.values())
    if isinstance(node, list | tuple):
        return any(_uses_ads(item) for item in node)
    return False


def _xds_cluster(address: tuple[str, int]) -> dict[str, Any]:
    host, _ = address
    kind = "STATIC" if is_ip(host) else "STRICT_DNS"
    return {
        "name": XDS_CLUSTER_NAME,
        "type": kind,
        "connect_timeout": "5s",
        "typed_extension_protocol_options": {
            _HTTP_PROTOCOL_OPTIONS: {
                "@type": f"type.googleapis.com/{_HTTP_PROTOCOL_OPTIONS}",
                "explicit_http_config": {"http2_protocol_options": {}},
            }
        },
        "load_assignment": {
            "cluster_name": XDS_CLUSTER_NAME,
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": _socket_address(*address)}}]}],
        },
    }


def _socket_address(host: str, port: int) -> dict[str, Any]:
    return {"socket_address": {"address": host, "port_value": port}}


def _resource_list(resources: Mapping[str, Any], key: str) -> list[dict[str, Any]]:
    """A deep, plain copy of ``resources[key]``, checked to be a list of mappings."""
    if not isinstance(resources, Mapping):
        raise TranslationError(
            f"resources must be a mapping with {', '.join(_RESOURCE_KEYS)} lists, "
            f"not {type(resources).__name__}"
        )
    value = resources.get(key, [])
    if isinstance(value, list | tuple) and all(isinstance(item, Mapping) for item in value):
        return [plain_copy(item) for item in value]
    raise TranslationError(f"resources[{key!r}] must be a list of mappings")
