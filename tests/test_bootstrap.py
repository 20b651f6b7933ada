"""meshgw.envoy.bootstrap: static_bootstrap and inline_endpoints (pure dict builders)."""

from __future__ import annotations

import copy
import json
import re
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meshgw._envoy.bootstrap import (
    DEFAULT_XDS_ADDRESS,
    XDS_CLUSTER_NAME,
    inline_endpoints,
    static_bootstrap,
)
from meshgw.errors import MeshgwError, TranslationError

ADS_SOURCE = {"ads": {}, "resource_api_version": "V3"}


def endpoint(address: str, port: int) -> dict[str, Any]:
    return {"endpoint": {"address": {"socket_address": {"address": address, "port_value": port}}}}


def eds_cluster(name: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "type": "EDS",
        "connect_timeout": "5s",
        "eds_cluster_config": {"eds_config": dict(ADS_SOURCE)},
        **extra,
    }


def dns_cluster(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "type": "LOGICAL_DNS",
        "connect_timeout": "5s",
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [{"lb_endpoints": [endpoint("gw.example.com", 443)]}],
        },
    }


def cla(name: str, *ports: int) -> dict[str, Any]:
    return {
        "@type": "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment",
        "cluster_name": name,
        "endpoints": [{"lb_endpoints": [endpoint("10.0.0.1", port) for port in ports]}],
    }


def listener(name: str = "public") -> dict[str, Any]:
    return {
        "name": name,
        "address": {"socket_address": {"address": "0.0.0.0", "port_value": 8443}},
        "filter_chains": [
            {
                "filters": [
                    {
                        "name": "envoy.filters.network.tcp_proxy",
                        "typed_config": {
                            "@type": "type.googleapis.com/"
                            "envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
                            "stat_prefix": "public",
                            "cluster": "a",
                        },
                    }
                ]
            }
        ],
    }


def result(*clusters: dict[str, Any], endpoints: tuple[dict[str, Any], ...] = ()) -> dict[str, Any]:
    return {"clusters": list(clusters), "listeners": [listener()], "endpoints": list(endpoints)}


def build(resources: Any, **kw: Any) -> dict[str, Any]:
    return static_bootstrap(resources, node_id="node-1", node_cluster="web", **kw)


# --------------------------------------------------------------------------- static_bootstrap


def test_without_eds_there_is_no_ads() -> None:
    res = result(dns_cluster("b"), dns_cluster("a"))
    out = build(res)
    assert out == {
        "node": {"id": "node-1", "cluster": "web"},
        "static_resources": {"listeners": res["listeners"], "clusters": res["clusters"]},
    }
    assert [c["name"] for c in out["static_resources"]["clusters"]] == ["b", "a"]


def test_eds_cluster_brings_ads_and_xds_cluster() -> None:
    out = build(result(eds_cluster("a"), dns_cluster("b"), endpoints=(cla("a", 1),)))
    assert out["dynamic_resources"] == {
        "ads_config": {
            "api_type": "GRPC",
            "transport_api_version": "V3",
            "grpc_services": [{"envoy_grpc": {"cluster_name": XDS_CLUSTER_NAME}}],
        }
    }
    clusters = out["static_resources"]["clusters"]
    assert [c["name"] for c in clusters] == ["a", "b", XDS_CLUSTER_NAME]
    xds = clusters[-1]
    assert xds["type"] == "STATIC"
    options = xds["typed_extension_protocol_options"][
        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
    ]
    assert options == {
        "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
        "explicit_http_config": {"http2_protocol_options": {}},
    }
    assert xds["load_assignment"] == {
        "cluster_name": XDS_CLUSTER_NAME,
        "endpoints": [{"lb_endpoints": [endpoint(*DEFAULT_XDS_ADDRESS)]}],
    }
    # ClusterLoadAssignments are never part of a bootstrap
    assert clusters[0] == eds_cluster("a")


def test_nested_ads_config_source_brings_ads() -> None:
    lst = listener()
    lst["filter_chains"][0]["filters"] = [
        {
            "name": "envoy.filters.network.http_connection_manager",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.network."
                "http_connection_manager.v3.HttpConnectionManager",
                "stat_prefix": "x",
                "rds": {"route_config_name": "r", "config_source": dict(ADS_SOURCE)},
            },
        }
    ]
    out = build({"clusters": [dns_cluster("a")], "listeners": [lst]})
    assert "dynamic_resources" in out


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        (("10.1.2.3", 15000), "STATIC"),
        (("::1", 15000), "STATIC"),
        (("xds.example.com", 15000), "STRICT_DNS"),
    ],
)
def test_xds_address(address: tuple[str, int], kind: str) -> None:
    out = build(result(eds_cluster("a")), xds_address=address)
    xds = out["static_resources"]["clusters"][-1]
    assert xds["type"] == kind
    assert xds["load_assignment"]["endpoints"] == [{"lb_endpoints": [endpoint(*address)]}]


def test_admin() -> None:
    out = build(result(dns_cluster("a")), admin=("127.0.0.1", 19000))
    assert out["admin"] == {
        "address": {"socket_address": {"address": "127.0.0.1", "port_value": 19000}}
    }
    assert "admin" not in build(result(dns_cluster("a")))


def test_empty_result() -> None:
    out = build({"clusters": [], "listeners": [], "endpoints": []})
    assert out == {"node": {"id": "node-1", "cluster": "web"}, "static_resources": {}}


def test_input_not_mutated_and_not_shared() -> None:
    res = result(eds_cluster("a"), dns_cluster("b"), endpoints=(cla("a", 1),))
    before = copy.deepcopy(res)
    out = build(res, admin=("127.0.0.1", 19000))
    assert res == before
    out["static_resources"]["clusters"][0]["name"] = "changed"
    out["static_resources"]["listeners"][0]["filter_chains"].clear()
    assert res == before


def test_deterministic_and_plain() -> None:
    res = result(eds_cluster("a"), dns_cluster("b"), endpoints=(cla("a", 1),))
    frozen = MappingProxyType({key: tuple(value) for key, value in res.items()})
    first = json.dumps(build(res), sort_keys=True)
    assert json.dumps(build(res), sort_keys=True) == first
    assert json.dumps(build(frozen), sort_keys=True) == first


def test_xds_cluster_name_clash() -> None:
    with pytest.raises(TranslationError, match=XDS_CLUSTER_NAME):
        build(result(eds_cluster("a"), dns_cluster(XDS_CLUSTER_NAME)))
    # without ADS the name is free to use
    build(result(dns_cluster(XDS_CLUSTER_NAME)))


@pytest.mark.parametrize(
    ("resources", "message"),
    [
        ([], "resources must be a mapping with clusters, listeners, endpoints lists, not list"),
        ({"clusters": "a"}, "resources['clusters'] must be a list of mappings"),
        ({"clusters": [1]}, "resources['clusters'] must be a list of mappings"),
        ({"listeners": {"name": "x"}}, "resources['listeners'] must be a list of mappings"),
        ({"endpoints": [None]}, "resources['endpoints'] must be a list of mappings"),
    ],
)
def test_bad_shape(resources: Any, message: str) -> None:
    with pytest.raises(MeshgwError, match=f"^{re.escape(message)}$"):
        build(resources)


clusters_strategy = st.lists(
    st.builds(
        lambda name, eds: eds_cluster(name) if eds else dns_cluster(name),
        st.text("abcdef.-", min_size=1, max_size=8),
        st.booleans(),
    ),
    max_size=6,
)


@settings(max_examples=50, deadline=None)
@given(clusters_strategy)
def test_property_ads_iff_eds(clusters: list[dict[str, Any]]) -> None:
    res = {"clusters": clusters, "listeners": [], "endpoints": []}
    before = copy.deepcopy(res)
    out = build(res)
    has_eds = any(c["type"] == "EDS" for c in clusters)
    assert ("dynamic_resources" in out) is has_eds
    names = [c["name"] for c in out["static_resources"].get("clusters", [])]
    assert names == [c["name"] for c in clusters] + ([XDS_CLUSTER_NAME] if has_eds else [])
    assert res == before
    assert json.dumps(build(res), sort_keys=True) == json.dumps(out, sort_keys=True)


# --------------------------------------------------------------------------- inline_endpoints


def test_inline_endpoints() -> None:
    res = result(
        eds_cluster("a", outlier_detection={}),
        eds_cluster("no-cla"),
        dns_cluster("dns"),
        endpoints=(cla("a", 1, 2), cla("unknown", 3)),
    )
    res["extra"] = {"kept": True}
    before = copy.deepcopy(res)
    out = inline_endpoints(res)
    assert res == before
    a, no_cla, dns = out["clusters"]
    assert a == {
        "name": "a",
        "type": "STATIC",
        "connect_timeout": "5s",
        "outlier_detection": {},
        "load_assignment": {
            "cluster_name": "a",
            "endpoints": [{"lb_endpoints": [endpoint("10.0.0.1", 1), endpoint("10.0.0.1", 2)]}],
        },
    }
    assert no_cla == before["clusters"][1]
    assert dns == before["clusters"][2]
    assert out["endpoints"] == []
    assert out["listeners"] == before["listeners"]
    assert out["extra"] == {"kept": True}
    # fully copied
    out["listeners"][0]["name"] = "changed"
    out["extra"]["kept"] = False
    assert res == before


def test_inline_endpoints_uses_eds_service_name() -> None:
    cluster = eds_cluster("a")
    cluster["eds_cluster_config"]["service_name"] = "a-svc"
    out = inline_endpoints(result(cluster, endpoints=(cla("a", 1), cla("a-svc", 2))))
    assert out["clusters"][0]["load_assignment"]["cluster_name"] == "a-svc"


def test_inline_endpoints_then_bootstrap_has_no_ads() -> None:
    out = build(inline_endpoints(result(eds_cluster("a"), endpoints=(cla("a", 1),))))
    assert "dynamic_resources" not in out
    assert [c["name"] for c in out["static_resources"]["clusters"]] == ["a"]
