"""Tests for meshgw.sidecar: endpoints by mode and target, failover, peers, names, options.

Every mesh is built as a mesh-file dict (the shape users write) around one topology:

* dc1 (local): gateways 10.1.0.1 / 10.1.0.2 :8443; api instances 10.1.1.1 (v1) and
  10.1.1.2 (v2) :21000;
* dc2: gateways WAN 198.18.2.1 / 198.18.2.2 :443; api 10.2.1.1 with a service WAN tag
  198.51.100.21:21443, and 10.2.1.2 with a node WAN address 203.0.113.22;
* dc3: gateways WAN 198.18.3.1 :443; api 10.3.1.1;
* dc4: api 10.4.1.1, no gateways;
* dc5: gateways with WAN host names; api 10.5.1.1;
* peer "acme" (trust domain acme.consul, dc9) exporting payments through 203.0.113.10:443.
"""

from __future__ import annotations

import copy
import json
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import attrs
import pytest

import meshgw
from meshgw._plan.sidecar import plan_sidecar
from meshgw._resolve.catalog import build_view
from meshgw._translation import translate as translate_service
from meshgw.errors import MeshgwWarning, TranslationError, UsageError, ValidationError
from meshgw.model import Mesh
from meshgw.naming import customization_hash
from meshgw.testing import TestPKI, make_test_pki, validate_with_envoy
from meshgw.testing import assert_envoy_accepts as _assert_envoy_accepts

TD = "11111111-2222-3333-4444-555555555555.consul"
PEER_TD = "acme.consul"
TCP_PROXY = "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy"
DOWNSTREAM_TLS = (
    "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext"
)
HTTP_OPTIONS = "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
SIDECAR = "web-sidecar-proxy"

Out = dict[str, list[dict[str, Any]]]


# --------------------------------------------------------------------------- topology


def gateway(
    dc: str, node: str, address: str, *, wan: str = "", status: str = "passing"
) -> dict[str, Any]:
    service: dict[str, Any] = {"kind": "mesh-gateway", "service": "mesh-gateway", "port": 8443}
    if wan:
        service["tagged_addresses"] = {"wan": {"address": wan, "port": 443}}
    return {
        "datacenter": dc,
        "node": node,
        "address": address,
        "service": service,
        "checks": [{"check_id": "gw", "status": status}],
    }


def instance(
    dc: str,
    node: str,
    address: str,
    *,
    service: str = "api",
    status: str = "passing",
    meta: Mapping[str, str] | None = None,
    wan: str = "",
    node_wan: str = "",
) -> dict[str, Any]:
    svc: dict[str, Any] = {
        "kind": "connect-proxy",
        "service": f"{service}-sidecar-proxy",
        "port": 21000,
        "proxy": {"destination_service_name": service},
    }
    if meta:
        svc["meta"] = dict(meta)
    if wan:
        svc["tagged_addresses"] = {"wan": {"address": wan, "port": 21443}}
    entry: dict[str, Any] = {
        "datacenter": dc,
        "node": node,
        "address": address,
        "service": svc,
        "checks": [{"check_id": f"{service}-alive", "status": status}],
    }
    if node_wan:
        entry["tagged_addresses"] = {"wan": node_wan}
    return entry


def catalog(
    *,
    local_gateways: bool = True,
    api_status: Mapping[str, str] | None = None,
    dc5_gateways: int = 1,
) -> list[dict[str, Any]]:
    status = dict(api_status or {})
    entries = []
    if local_gateways:
        entries += [gateway("dc1", "dc1-gw-1", "10.1.0.1"), gateway("dc1", "dc1-gw-2", "10.1.0.2")]
    entries += [
        instance(
            "dc1", "dc1-a", "10.1.1.1", meta={"version": "v1"}, status=status.get("dc1", "passing")
        ),
        instance(
            "dc1", "dc1-b", "10.1.1.2", meta={"version": "v2"}, status=status.get("dc1", "passing")
        ),
        gateway("dc2", "dc2-gw-1", "10.2.0.1", wan="198.18.2.1"),
        gateway("dc2", "dc2-gw-2", "10.2.0.2", wan="198.18.2.2"),
        instance(
            "dc2", "dc2-a", "10.2.1.1", wan="198.51.100.21", status=status.get("dc2", "passing")
        ),
        instance(
            "dc2", "dc2-b", "10.2.1.2", node_wan="203.0.113.22", status=status.get("dc2", "passing")
        ),
        gateway("dc3", "dc3-gw-1", "10.3.0.1", wan="198.18.3.1"),
        instance("dc3", "dc3-a", "10.3.1.1", status=status.get("dc3", "passing")),
        instance("dc4", "dc4-a", "10.4.1.1"),
        instance("dc5", "dc5-a", "10.5.1.1"),
    ]
    for i in range(dc5_gateways):
        entries.append(gateway("dc5", f"dc5-gw-{i}", f"10.5.0.{i}", wan=f"gw{i}.dc5.example.com"))
    return entries


PEERS = [
    {
        "name": "acme",
        "trust_domain": PEER_TD,
        "datacenter": "dc9",
        "remote_name": "our-cluster",
        "gateways": [{"address": "203.0.113.10", "port": 443}],
        "services": [{"name": "payments"}],
    },
    {
        "name": "acme-dns",
        "trust_domain": PEER_TD,
        "datacenter": "dc9",
        "gateways": [{"address": "mgw.acme.example.com", "port": 443}],
    },
]


def upstream(name: str = "api", port: int = 9001, **fields: Any) -> dict[str, Any]:
    return {"destination_name": name, "local_bind_port": port, **fields}


def mesh_dict(
    tls: Mapping[str, str],
    upstreams: Iterable[Mapping[str, Any]] = (),
    *,
    entries: Iterable[Mapping[str, Any]] = (),
    pd_mode: str = "",
    cat: list[dict[str, Any]] | None = None,
    proxy: Mapping[str, Any] | None = None,
    service: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    boot = list(entries)
    if pd_mode:
        boot.append({"kind": "proxy-defaults", "name": "global", "mesh_gateway": {"mode": pd_mode}})
    sidecar: dict[str, Any] = {
        "kind": "connect-proxy",
        "name": SIDECAR,
        "port": 21000,
        "proxy": {
            "destination_service_name": "web",
            "local_service_port": 8080,
            "upstreams": list(upstreams),
            **(proxy or {}),
        },
        **(service or {}),
    }
    return {
        "datacenter": "dc1",
        "trust_domain": TD,
        "services": [sidecar],
        "config_entries": {"bootstrap": boot},
        "catalog": catalog() if cat is None else cat,
        "peers": copy.deepcopy(PEERS),
        "mesh_tls": dict(tls),
    }


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPKI:
    return make_test_pki(tmp_path_factory.mktemp("pki"), TD, [("web", "dc1")])


@pytest.fixture(scope="module")
def tls(pki: TestPKI) -> dict[str, str]:
    return {
        "ca_file": pki.ca_file,
        "cert_file": f"{pki.directory}/{{service}}-{{datacenter}}.pem",
        "key_file": f"{pki.directory}/{{service}}-{{datacenter}}-key.pem",
    }


def assert_envoy_accepts(out: Mapping[str, Any]) -> None:
    """Envoy accepts ``out`` in both forms, without any deprecated field."""
    __tracebackhide__ = True
    _assert_envoy_accepts(out, reject_deprecated=True)


def translate(data: Mapping[str, Any], **kw: Any) -> Out:
    mesh = Mesh.from_dict(data)
    return translate_service(mesh.service(SIDECAR), mesh, **kw)


# --------------------------------------------------------------------------- accessors


def by_name(items: list[dict[str, Any]], key: str = "name") -> dict[str, dict[str, Any]]:
    return {str(item[key]): item for item in items}


def addresses(cla: Mapping[str, Any]) -> list[tuple[str, int]]:
    return [
        (
            lb["endpoint"]["address"]["socket_address"]["address"],
            lb["endpoint"]["address"]["socket_address"]["port_value"],
        )
        for group in cla["endpoints"]
        for lb in group["lb_endpoints"]
    ]


def health(cla: Mapping[str, Any]) -> list[str]:
    return [lb["health_status"] for group in cla["endpoints"] for lb in group["lb_endpoints"]]


def endpoints_of(out: Out, cluster: str) -> list[tuple[str, int]]:
    return addresses(by_name(out["endpoints"], "cluster_name")[cluster])


def tls_of(cluster: Mapping[str, Any]) -> tuple[str, list[str]]:
    ctx = cluster["transport_socket"]["typed_config"]
    sans = ctx["common_tls_context"]["validation_context"]["match_typed_subject_alt_names"]
    return ctx["sni"], [m["matcher"]["exact"] for m in sans]


def listener_cluster(out: Out, name: str) -> str:
    listener = by_name(out["listeners"])[name]
    return str(listener["filter_chains"][0]["filters"][-1]["typed_config"]["cluster"])


def sni(service: str, dc: str, subset: str = "") -> str:
    head = f"{subset}." if subset else ""
    return f"{head}{service}.default.{dc}.internal.{TD}"


def spiffe(service: str, dc: str, td: str = TD) -> str:
    return f"spiffe://{td}/ns/default/dc/{dc}/svc/{service}"


LOCAL_GWS = [("10.1.0.1", 8443), ("10.1.0.2", 8443)]
DC2_GWS = [("198.18.2.1", 443), ("198.18.2.2", 443)]
DC3_GWS = [("198.18.3.1", 443)]
DC1_API = [("10.1.1.1", 21000), ("10.1.1.2", 21000)]
DC2_API_WAN = [("198.51.100.21", 21443), ("203.0.113.22", 21000)]


# --------------------------------------------------------------------------- mode x target


MODE_TABLE = [
    # (upstream datacenter, mode, expected endpoints)
    ("", "none", DC1_API),
    ("", "local", DC1_API),
    ("", "remote", DC1_API),
    ("dc2", "", DC2_API_WAN),
    ("dc2", "none", DC2_API_WAN),
    ("dc2", "local", LOCAL_GWS),
    ("dc2", "remote", DC2_GWS),
    ("dc3", "remote", DC3_GWS),
]


@pytest.mark.envoy
@pytest.mark.parametrize(("dc", "mode", "expected"), MODE_TABLE)
def test_endpoints_by_mode_and_target(
    dc: str, mode: str, expected: list[tuple[str, int]], tls: dict[str, str]
) -> None:
    # The mode comes from proxy-defaults: the chain derives the same mode, so no prefix.
    fields = {"datacenter": dc} if dc else {}
    out = translate(mesh_dict(tls, [upstream(**fields)], pd_mode=mode))
    target_dc = dc or "dc1"
    name = sni("api", target_dc)
    assert [c["name"] for c in out["clusters"]] == [name, "local_app"]
    assert endpoints_of(out, name) == expected
    assert tls_of(by_name(out["clusters"])[name]) == (name, [spiffe("api", target_dc)])
    eid = f"api?dc={dc}" if dc else "api"
    assert listener_cluster(out, f"{eid}:127.0.0.1:9001") == name
    listener = by_name(out["listeners"])[f"{eid}:127.0.0.1:9001"]
    stat = listener["filter_chains"][0]["filters"][0]["typed_config"]["stat_prefix"]
    assert stat == f"upstream.api.default.default.{target_dc}"
    assert listener["traffic_direction"] == "OUTBOUND"
    assert_envoy_accepts(out)


@pytest.mark.parametrize("mode", ["local", "remote"])
def test_no_gateway_for_the_mode_is_an_error(mode: str, tls: dict[str, str]) -> None:
    # dc4 has no gateways; without local gateways "local" cannot work either.
    data = mesh_dict(
        tls, [upstream(datacenter="dc4")], pd_mode=mode, cat=catalog(local_gateways=False)
    )
    where = "dc1" if mode == "local" else "dc4"
    with pytest.raises(TranslationError) as info:
        translate(data)
    message = str(info.value)
    assert "upstream 'api?dc=dc4'" in message
    assert f"mode {mode} (from proxy-defaults)" in message
    assert f"no mesh-gateway instance in datacenter {where}" in message or (
        f"datacenter {where}, but the catalog has no mesh-gateway instance" in message
    )


@pytest.mark.envoy
@pytest.mark.parametrize("mode", ["local", "remote"])
def test_no_gateway_with_missing_warn_gives_empty_endpoints(mode: str, tls: dict[str, str]) -> None:
    data = mesh_dict(
        tls, [upstream(datacenter="dc4")], pd_mode=mode, cat=catalog(local_gateways=False)
    )
    with pytest.warns(MeshgwWarning, match="no mesh-gateway instance"):
        out = translate(data, missing="warn")
    cla = by_name(out["endpoints"], "cluster_name")[sni("api", "dc4")]
    assert cla == {"cluster_name": sni("api", "dc4"), "endpoints": []}
    assert_envoy_accepts(out)


@pytest.mark.envoy
@pytest.mark.parametrize(
    ("mode", "gateways"),
    [
        ("local", [("10.1.0.1", 8443), ("10.1.0.2", 8443)]),
        ("remote", [("198.18.2.1", 443), ("198.18.2.2", 443)]),
    ],
)
def test_target_without_instances_lists_its_gateways_unhealthy(
    mode: str, gateways: list[tuple[str, int]], tls: dict[str, str]
) -> None:
    # As Consul: the target's health is known (no instance), so the gateways that would
    # carry its traffic are listed, UNHEALTHY.
    out = translate(mesh_dict(tls, [upstream("nothing", datacenter="dc2")], pd_mode=mode))
    name = sni("nothing", "dc2")
    assert endpoints_of(out, name) == gateways
    (group,) = by_name(out["endpoints"], "cluster_name")[name]["endpoints"]
    assert {ep["health_status"] for ep in group["lb_endpoints"]} == {"UNHEALTHY"}
    assert_envoy_accepts(out)


@pytest.mark.envoy
def test_gateways_behind_one_name_are_one_endpoint(tls: dict[str, str]) -> None:
    cat = [
        *catalog(dc5_gateways=0),
        gateway("dc5", "dc5-gw-a", "10.5.0.1", wan="lb.dc5.example.com"),
        gateway("dc5", "dc5-gw-b", "10.5.0.2", wan="lb.dc5.example.com"),
    ]
    out = translate(mesh_dict(tls, [upstream(datacenter="dc5")], pd_mode="remote", cat=cat))
    cluster = by_name(out["clusters"])[sni("api", "dc5")]
    assert cluster["type"] == "LOGICAL_DNS"
    assert addresses(cluster["load_assignment"]) == [("lb.dc5.example.com", 443)]
    assert_envoy_accepts(out)


@pytest.mark.envoy
@pytest.mark.parametrize(("count", "kind"), [(1, "LOGICAL_DNS"), (2, "STRICT_DNS")])
def test_hostname_gateways_give_a_dns_cluster(count: int, kind: str, tls: dict[str, str]) -> None:
    data = mesh_dict(
        tls, [upstream(datacenter="dc5")], pd_mode="remote", cat=catalog(dc5_gateways=count)
    )
    out = translate(data)
    name = sni("api", "dc5")
    cluster = by_name(out["clusters"])[name]
    assert cluster["type"] == kind
    assert "eds_cluster_config" not in cluster
    assert addresses(cluster["load_assignment"]) == [
        (f"gw{i}.dc5.example.com", 443) for i in range(count)
    ]
    assert cluster["dns_lookup_family"] == "V4_ONLY"
    assert name not in by_name(out["endpoints"], "cluster_name")
    assert_envoy_accepts(out)


# --------------------------------------------------------------------------- failover


FAILOVER = {
    "kind": "service-resolver",
    "name": "api",
    "connect_timeout": "15s",
    "failover": {"*": {"datacenters": ["dc2", "dc3"]}},
}


@pytest.mark.envoy
@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("local", [DC1_API, LOCAL_GWS, LOCAL_GWS]),
        ("remote", [DC1_API, DC2_GWS, DC3_GWS]),
        ("none", [DC1_API, DC2_API_WAN, [("10.3.1.1", 21000)]]),
    ],
)
def test_failover_through_gateways(
    mode: str, expected: list[list[tuple[str, int]]], tls: dict[str, str]
) -> None:
    out = translate(mesh_dict(tls, [upstream()], entries=[FAILOVER], pd_mode=mode))
    base = sni("api", "dc1")
    children = [f"failover-target~{i}~{base}" for i in range(3)]
    clusters = by_name(out["clusters"])
    aggregate = clusters[base]
    assert aggregate["cluster_type"]["typed_config"]["clusters"] == children
    assert aggregate["lb_policy"] == "CLUSTER_PROVIDED"
    assert aggregate["connect_timeout"] == "15s"
    assert "transport_socket" not in aggregate
    for child, dc, want in zip(children, ("dc1", "dc2", "dc3"), expected, strict=True):
        assert tls_of(clusters[child]) == (sni("api", dc), [spiffe("api", dc)])
        assert clusters[child]["connect_timeout"] == "15s"
        assert clusters[child]["alt_stat_name"] == child
        assert endpoints_of(out, child) == want
    assert listener_cluster(out, "api:127.0.0.1:9001") == base
    assert_envoy_accepts(out)


@pytest.mark.envoy
@pytest.mark.parametrize("mode", ["none", "local"])
def test_health_triggered_failover(mode: str, tls: dict[str, str]) -> None:
    # dc1 and dc2 instances critical: direct endpoints and gateway endpoints for those
    # targets are UNHEALTHY; dc3 stays HEALTHY.
    cat = catalog(api_status={"dc1": "critical", "dc2": "critical"})
    out = translate(mesh_dict(tls, [upstream()], entries=[FAILOVER], pd_mode=mode, cat=cat))
    cla = by_name(out["endpoints"], "cluster_name")
    base = sni("api", "dc1")
    assert health(cla[f"failover-target~0~{base}"]) == ["UNHEALTHY", "UNHEALTHY"]
    assert set(health(cla[f"failover-target~1~{base}"])) == {"UNHEALTHY"}
    assert set(health(cla[f"failover-target~2~{base}"])) == {"HEALTHY"}
    if mode == "local":  # the dc2 target is reached through the (healthy) local gateways
        assert addresses(cla[f"failover-target~1~{base}"]) == LOCAL_GWS
    assert_envoy_accepts(out)


@pytest.mark.envoy
def test_only_passing_subset_through_gateway(tls: dict[str, str]) -> None:
    resolver = {
        "kind": "service-resolver",
        "name": "api",
        "default_subset": "live",
        "subsets": {"live": {"filter": "", "only_passing": True}},
    }
    cat = catalog(api_status={"dc2": "warning"})
    out = translate(
        mesh_dict(tls, [upstream(datacenter="dc2")], entries=[resolver], pd_mode="remote", cat=cat)
    )
    cla = by_name(out["endpoints"], "cluster_name")[sni("api", "dc2", "live")]
    assert addresses(cla) == DC2_GWS
    assert health(cla) == ["UNHEALTHY", "UNHEALTHY"]
    assert_envoy_accepts(out)


@pytest.mark.envoy
def test_redirect_to_another_datacenter(tls: dict[str, str]) -> None:
    resolver = {"kind": "service-resolver", "name": "api", "redirect": {"datacenter": "dc2"}}
    out = translate(mesh_dict(tls, [upstream()], entries=[resolver], pd_mode="remote"))
    name = sni("api", "dc2")
    assert listener_cluster(out, "api:127.0.0.1:9001") == name
    assert endpoints_of(out, name) == DC2_GWS
    listener = by_name(out["listeners"])["api:127.0.0.1:9001"]
    stat = listener["filter_chains"][0]["filters"][0]["typed_config"]["stat_prefix"]
    assert stat == "upstream.api.default.default.dc1"  # the chain's start
    assert_envoy_accepts(out)


@pytest.mark.envoy
def test_default_subset_filters_instances(tls: dict[str, str]) -> None:
    resolver = {
        "kind": "service-resolver",
        "name": "api",
        "default_subset": "v2",
        "subsets": {
            "v1": {"filter": "Service.Meta.version == v1"},
            "v2": {"filter": "Service.Meta.version == v2"},
        },
    }
    out = translate(mesh_dict(tls, [upstream()], entries=[resolver]))
    name = sni("api", "dc1", "v2")
    assert listener_cluster(out, "api:127.0.0.1:9001") == name
    assert endpoints_of(out, name) == [("10.1.1.2", 21000)]
    assert tls_of(by_name(out["clusters"])[name]) == (name, [spiffe("api", "dc1")])
    assert_envoy_accepts(out)


# --------------------------------------------------------------------------- peers


@pytest.mark.envoy
@pytest.mark.parametrize(
    ("mode", "expected"),
    [("local", LOCAL_GWS), ("remote", [("203.0.113.10", 443)]), ("", [("203.0.113.10", 443)])],
)
def test_peered_upstream(mode: str, expected: list[tuple[str, int]], tls: dict[str, str]) -> None:
    fields: dict[str, Any] = {"destination_peer": "acme"}
    if mode:
        fields["mesh_gateway"] = {"mode": mode}
    out = translate(mesh_dict(tls, [upstream("payments", 9400, **fields)]))
    name = f"payments.default.acme.external.{PEER_TD}"
    cluster = by_name(out["clusters"])[name]
    assert tls_of(cluster) == (
        f"payments.default.default.our-cluster.external.{PEER_TD}",
        [spiffe("payments", "dc9", PEER_TD)],
    )
    assert endpoints_of(out, name) == expected
    # Consul's peered cluster: no alt_stat_name, panic mode off, ejection up to 100 %.
    assert "alt_stat_name" not in cluster
    assert cluster["common_lb_config"] == {"healthy_panic_threshold": {}}
    assert cluster["outlier_detection"] == {"max_ejection_percent": 100}
    assert cluster["connect_timeout"] == "5s"
    listener = by_name(out["listeners"])["payments?peer=acme:127.0.0.1:9400"]
    tcp = listener["filter_chains"][0]["filters"][0]["typed_config"]
    assert tcp == {
        "@type": TCP_PROXY,
        "stat_prefix": "upstream_peered.payments.default.acme",
        "cluster": name,
    }
    assert_envoy_accepts(out)


@pytest.mark.envoy
def test_peer_with_hostname_gateway(tls: dict[str, str]) -> None:
    out = translate(mesh_dict(tls, [upstream("payments", 9400, destination_peer="acme-dns")]))
    cluster = by_name(out["clusters"])[f"payments.default.acme-dns.external.{PEER_TD}"]
    assert cluster["type"] == "LOGICAL_DNS"
    assert addresses(cluster["load_assignment"]) == [("mgw.acme.example.com", 443)]
    assert_envoy_accepts(out)


def test_unknown_peer_is_an_error(tls: dict[str, str]) -> None:
    with pytest.raises(TranslationError, match="no peer 'nope'"):
        translate(mesh_dict(tls, [upstream("payments", 9400, destination_peer="nope")]))


def test_service_the_peer_does_not_export(tls: dict[str, str]) -> None:
    with pytest.raises(TranslationError, match="does not export 'ledger'"):
        translate(mesh_dict(tls, [upstream("ledger", 9400, destination_peer="acme")]))


@pytest.mark.envoy
def test_failover_to_a_peer_target(tls: dict[str, str]) -> None:
    resolver = {
        "kind": "service-resolver",
        "name": "payments",
        "failover": {"*": {"targets": [{"peer": "acme"}]}},
    }
    cat = [*catalog(), instance("dc1", "pay-1", "10.1.2.1", service="payments")]
    out = translate(mesh_dict(tls, [upstream("payments")], entries=[resolver], cat=cat))
    base = sni("payments", "dc1")
    child = f"failover-target~1~{base}"
    assert tls_of(by_name(out["clusters"])[child]) == (
        f"payments.default.default.our-cluster.external.{PEER_TD}",
        [spiffe("payments", "dc9", PEER_TD)],
    )
    assert endpoints_of(out, child) == [("203.0.113.10", 443)]
    assert_envoy_accepts(out)


@pytest.mark.envoy
def test_redirect_to_a_peer_gets_the_resolvers_connect_timeout(tls: dict[str, str]) -> None:
    resolver = {
        "kind": "service-resolver",
        "name": "payments",
        "connect_timeout": "33s",
        "redirect": {"peer": "acme"},
    }
    out = translate(mesh_dict(tls, [upstream("payments")], entries=[resolver]))
    name = f"payments.default.acme.external.{PEER_TD}"
    assert by_name(out["clusters"])[name]["connect_timeout"] == "33s"
    assert endpoints_of(out, name) == [("203.0.113.10", 443)]
    assert_envoy_accepts(out)


# --------------------------------------------------------------------------- names


@pytest.mark.envoy
@pytest.mark.parametrize(
    ("fields", "entries", "prefix"),
    [
        ({"mesh_gateway": {"mode": "local"}}, [], "c225dc1c"),
        ({"mesh_gateway": {"mode": "remote"}}, [], "dd412229"),
        (
            {
                "mesh_gateway": {"mode": "local"},
                "config": {"protocol": "grpc", "connect_timeout_ms": 66000},
            },
            [],
            "78ebd528",
        ),
        # Same mode as the chain derives (proxy-defaults): nothing customized.
        ({"mesh_gateway": {"mode": "local"}}, ["pd-local"], ""),
        # Timeout equal to the resolver's default: nothing customized.
        ({"config": {"connect_timeout_ms": 5000}}, [], ""),
        # Protocol equal to the chain's (service-defaults api protocol tcp).
        ({"config": {"protocol": "tcp"}}, ["sd-tcp"], ""),
        # An override from the downstream's service-defaults counts like the upstream's.
        ({}, ["override-remote"], "dd412229"),
    ],
)
def test_customization_prefix(
    fields: dict[str, Any], entries: list[str], prefix: str, tls: dict[str, str]
) -> None:
    known = {
        "pd-local": {"kind": "proxy-defaults", "name": "global", "mesh_gateway": {"mode": "local"}},
        "sd-tcp": {"kind": "service-defaults", "name": "api", "protocol": "tcp"},
        "override-remote": {
            "kind": "service-defaults",
            "name": "web",
            "upstream_config": {"overrides": [{"name": "api", "mesh_gateway": {"mode": "remote"}}]},
        },
    }
    data = mesh_dict(
        tls, [upstream(datacenter="dc2", **fields)], entries=[known[e] for e in entries]
    )
    out = translate(data)
    expected = f"{prefix}~{sni('api', 'dc2')}" if prefix else sni("api", "dc2")
    assert listener_cluster_or_route(out, "api?dc=dc2:127.0.0.1:9001") == expected
    assert expected in by_name(out["clusters"])
    assert tls_of(by_name(out["clusters"])[expected])[0] == sni("api", "dc2")
    assert_envoy_accepts(out)


def listener_cluster_or_route(out: Out, name: str) -> str:
    terminal = by_name(out["listeners"])[name]["filter_chains"][0]["filters"][-1]["typed_config"]
    if "route_config" in terminal:
        return str(terminal["route_config"]["virtual_hosts"][0]["routes"][0]["route"]["cluster"])
    return str(terminal["cluster"])


def test_prefix_values_are_consuls() -> None:
    assert customization_hash("local") == "c225dc1c"
    assert customization_hash("remote") == "dd412229"
    assert customization_hash("local", "grpc", 66 * 10**9) == "78ebd528"


@pytest.mark.envoy
def test_grpc_upstream_uses_http2_and_an_hcm(tls: dict[str, str]) -> None:
    up = upstream(datacenter="dc2", config={"protocol": "grpc", "connect_timeout_ms": 66000})
    out = translate(mesh_dict(tls, [up], pd_mode="local"))
    name = f"{customization_hash('', 'grpc', 66 * 10**9)}~{sni('api', 'dc2')}"
    cluster = by_name(out["clusters"])[name]
    assert cluster["connect_timeout"] == "66s"
    options = cluster["typed_extension_protocol_options"]
    assert options["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"][
        "explicit_http_config"
    ] == {"http2_protocol_options": {}}
    hcm = by_name(out["listeners"])["api?dc=dc2:127.0.0.1:9001"]["filter_chains"][0]["filters"][0]
    assert hcm["name"] == "envoy.filters.network.http_connection_manager"
    assert hcm["typed_config"]["stat_prefix"] == "upstream.api.default.default.dc2"
    assert_envoy_accepts(out)


@pytest.mark.envoy
def test_external_sni(tls: dict[str, str]) -> None:
    sd = {"kind": "service-defaults", "name": "api", "external_sni": "api.example.com"}
    out = translate(mesh_dict(tls, [upstream(datacenter="dc2")], entries=[sd], pd_mode="remote"))
    cluster = by_name(out["clusters"])[sni("api", "dc2")]  # the name stays the internal SNI
    assert tls_of(cluster)[0] == "api.example.com"
    assert_envoy_accepts(out)


# --------------------------------------------------------------------------- inbound


@pytest.mark.envoy
def test_inbound_listener_and_local_app(pki: TestPKI, tls: dict[str, str]) -> None:
    out = translate(mesh_dict(tls, []))
    listener = by_name(out["listeners"])["public_listener:0.0.0.0:21000"]
    assert listener["traffic_direction"] == "INBOUND"
    chain = listener["filter_chains"][0]
    rbac, tcp = chain["filters"]
    assert rbac["typed_config"]["rules"] == {"action": "DENY"}
    assert rbac["typed_config"]["stat_prefix"] == "connect_authz"
    assert tcp["typed_config"]["cluster"] == "local_app"
    assert tcp["typed_config"]["stat_prefix"] == "public_listener"
    context = chain["transport_socket"]["typed_config"]
    assert context["require_client_certificate"] is True
    cert, key = pki.leaves["web", "dc1"]
    assert context["common_tls_context"]["tls_certificates"] == [
        {"certificate_chain": {"filename": cert}, "private_key": {"filename": key}}
    ]
    assert context["common_tls_context"]["validation_context"] == {
        "trusted_ca": {"filename": pki.ca_file}
    }
    local = by_name(out["clusters"])["local_app"]
    assert local["connect_timeout"] == "5s"
    assert addresses(local["load_assignment"]) == [("127.0.0.1", 8080)]
    assert_envoy_accepts(out)


def _local_app_port(tls: dict[str, str], services: list[dict[str, Any]], **proxy: Any) -> Out:
    """A standalone sidecar of web with no proxy.local_service_port, beside ``services``."""
    data = mesh_dict(tls, [])
    del data["services"][0]["proxy"]["local_service_port"]
    data["services"][0]["proxy"].update(proxy)
    data["services"] += services
    mesh = meshgw.Mesh.from_dict(data)
    return meshgw.translate(mesh.service(SIDECAR), mesh)


def test_local_app_port_falls_back_to_the_destination_registration(tls: dict[str, str]) -> None:
    # Consul fills LocalServicePort from the destination service's registration.
    web = {"name": "web", "port": 8181}  # its id is its name
    out = _local_app_port(tls, [web])
    local = by_name(out["clusters"])["local_app"]
    assert addresses(local["load_assignment"]) == [("127.0.0.1", 8181)]
    # destination_service_id picks that instance's port among several
    others = [{"name": "web", "id": f"web-{i}", "port": 8280 + i} for i in (1, 2)]
    out = _local_app_port(tls, [web, *others], destination_service_id="web-2")
    local = by_name(out["clusters"])["local_app"]
    assert addresses(local["load_assignment"]) == [("127.0.0.1", 8282)]
    # an explicit port wins over the registration's
    out = _local_app_port(tls, [web], local_service_port=9999)
    local = by_name(out["clusters"])["local_app"]
    assert addresses(local["load_assignment"]) == [("127.0.0.1", 9999)]


def test_local_app_port_without_a_destination_registration_is_an_error(
    tls: dict[str, str],
) -> None:
    with pytest.raises(
        TranslationError,
        match=r"^connect-proxy 'web-sidecar-proxy' has no proxy\.local_service_port \(and its "
        r"destination service 'web' is not registered with a port\)$",
    ):
        _local_app_port(tls, [])


def test_local_connect_timeout_below_1_ms_is_the_default(tls: dict[str, str]) -> None:
    # Consul: local_connect_timeout_ms below 1 is its default of 5 s.
    for value, expected in ((0, "5s"), (1, "0.001s"), (5000, "5s"), (250, "0.250s")):
        out = translate(mesh_dict(tls, [], proxy={"config": {"local_connect_timeout_ms": value}}))
        assert by_name(out["clusters"])["local_app"]["connect_timeout"] == expected, value


@pytest.mark.envoy
def test_http_sidecar_and_bind_options(tls: dict[str, str]) -> None:
    config = {
        "protocol": "http2",
        "bind_address": "127.0.0.2",
        "bind_port": 21500,
        "local_connect_timeout_ms": 1500,
    }
    out = translate(mesh_dict(tls, [], proxy={"config": config}))
    listener = by_name(out["listeners"])["public_listener:127.0.0.2:21500"]
    # As in Consul: no network RBAC filter; the HTTP one runs in the connection manager.
    (hcm,) = listener["filter_chains"][0]["filters"]
    assert hcm["name"] == "envoy.filters.network.http_connection_manager"
    http_filters = [f["name"] for f in hcm["typed_config"]["http_filters"]]
    assert http_filters == ["envoy.filters.http.rbac", "envoy.filters.http.router"]
    local = by_name(out["clusters"])["local_app"]
    assert local["connect_timeout"] == "1.500s"
    assert "typed_extension_protocol_options" in local
    assert_envoy_accepts(out)


# --------------------------------------------------------------------------- escape hatches


@pytest.mark.envoy
def test_public_listener_escape_hatch_gets_tls_and_rbac(tls: dict[str, str]) -> None:
    custom = {
        "@type": "type.googleapis.com/envoy.config.listener.v3.Listener",
        "name": "custom_public",
        "address": {"socket_address": {"address": "0.0.0.0", "port_value": 21000}},
        "filter_chains": [
            {
                "filters": [
                    {
                        "name": "envoy.filters.network.tcp_proxy",
                        "typed_config": {
                            "@type": TCP_PROXY,
                            "stat_prefix": "custom",
                            "cluster": "local_app",
                        },
                    }
                ]
            }
        ],
    }
    local = {
        "name": "local_app",
        "type": "STATIC",
        "connect_timeout": "2s",
        "load_assignment": {
            "cluster_name": "local_app",
            "endpoints": [
                {
                    "lb_endpoints": [
                        {
                            "endpoint": {
                                "address": {
                                    "socket_address": {"address": "127.0.0.1", "port_value": 7070}
                                }
                            }
                        }
                    ]
                }
            ],
        },
    }
    config = {
        "envoy_public_listener_json": json.dumps(custom),
        "envoy_local_cluster_json": json.dumps(local),
    }
    out = translate(mesh_dict(tls, [], proxy={"config": config}))
    listener = by_name(out["listeners"])["custom_public"]
    assert "@type" not in listener
    chain = listener["filter_chains"][0]
    assert [f["name"] for f in chain["filters"]] == [
        "envoy.filters.network.rbac",
        "envoy.filters.network.tcp_proxy",
    ]
    assert chain["transport_socket"]["name"] == "tls"
    assert by_name(out["clusters"])["local_app"] == local
    assert_envoy_accepts(out)


@pytest.mark.envoy
def test_public_listener_escape_hatch_keeps_its_own_tls(pki: TestPKI, tls: dict[str, str]) -> None:
    cert, key = pki.leaves["web", "dc1"]
    mine = {
        "name": "tls",
        "typed_config": {
            "@type": DOWNSTREAM_TLS,
            "common_tls_context": {
                "tls_certificates": [
                    {"certificate_chain": {"filename": cert}, "private_key": {"filename": key}}
                ]
            },
        },
    }
    tcp = {
        "name": "envoy.filters.network.tcp_proxy",
        "typed_config": {"@type": TCP_PROXY, "stat_prefix": "mine", "cluster": "local_app"},
    }
    custom = {
        "name": "custom_public",
        "address": {"socket_address": {"address": "0.0.0.0", "port_value": 21000}},
        "filter_chains": [{"filters": [tcp], "transport_socket": mine}],
    }
    out = translate(
        mesh_dict(tls, [], proxy={"config": {"envoy_public_listener_json": json.dumps(custom)}})
    )
    chain = by_name(out["listeners"])["custom_public"]["filter_chains"][0]
    assert chain["transport_socket"] == mine
    assert chain["filters"][0]["name"] == "envoy.filters.network.rbac"
    assert_envoy_accepts(out)


CUSTOM_CLUSTER = {
    "name": "my-api",
    "type": "EDS",
    "eds_cluster_config": {"eds_config": {"ads": {}, "resource_api_version": "V3"}},
    "connect_timeout": "3s",
}
CUSTOM_LISTENER = {
    "name": "my-api-listener",
    "address": {"socket_address": {"address": "127.0.0.1", "port_value": 9001}},
    "filter_chains": [
        {
            "filters": [
                {
                    "name": "envoy.filters.network.tcp_proxy",
                    "typed_config": {
                        "@type": TCP_PROXY,
                        "stat_prefix": "mine",
                        "cluster": "my-api",
                    },
                }
            ]
        }
    ],
}
HATCHES = {
    "envoy_cluster_json": json.dumps(CUSTOM_CLUSTER),
    "envoy_listener_json": json.dumps(CUSTOM_LISTENER),
}


@pytest.mark.envoy
def test_upstream_escape_hatches(tls: dict[str, str]) -> None:
    out = translate(mesh_dict(tls, [upstream(datacenter="dc2", config=HATCHES)], pd_mode="remote"))
    clusters = by_name(out["clusters"])
    assert sorted(clusters) == ["local_app", "my-api"]
    assert clusters["my-api"]["transport_socket"]["typed_config"]["sni"] == sni("api", "dc2")
    assert endpoints_of(out, "my-api") == DC2_GWS
    assert sorted(by_name(out["listeners"])) == ["my-api-listener", "public_listener:0.0.0.0:21000"]
    assert_envoy_accepts(out)


@pytest.mark.envoy
def test_upstream_escape_hatches_ignored_with_a_resolver(tls: dict[str, str]) -> None:
    resolver = {"kind": "service-resolver", "name": "api", "connect_timeout": "9s"}
    data = mesh_dict(tls, [upstream(datacenter="dc2", config=HATCHES)], entries=[resolver])
    with pytest.warns(MeshgwWarning, match="ignored because a discovery chain"):
        out = translate(data)
    assert sni("api", "dc2") in by_name(out["clusters"])
    assert "my-api" not in by_name(out["clusters"])
    assert_envoy_accepts(out)


# --------------------------------------------------------------------------- options


@pytest.mark.envoy
def test_limits_and_passive_health_check_from_service_defaults(tls: dict[str, str]) -> None:
    sd = {
        "kind": "service-defaults",
        "name": "web",
        "upstream_config": {
            "defaults": {
                "limits": {"max_connections": 10, "max_pending_requests": 20},
                "passive_health_check": {"interval": "10s", "max_failures": 3},
            },
            "overrides": [{"name": "api", "limits": {"max_concurrent_requests": 5}}],
        },
    }
    up = upstream(
        datacenter="dc2",
        config={"passive_health_check": {"max_failures": 7, "base_ejection_time": "30s"}},
    )
    out = translate(mesh_dict(tls, [up], entries=[sd], pd_mode="remote"))
    cluster = by_name(out["clusters"])[sni("api", "dc2")]
    # The matching override replaces the defaults' limits; the upstream's own config
    # replaces the passive health check.
    assert cluster["circuit_breakers"] == {"thresholds": [{"max_requests": 5}]}
    assert cluster["outlier_detection"] == {"consecutive_5xx": 7, "base_ejection_time": "30s"}
    assert_envoy_accepts(out)


def test_upstream_connect_timeout_sources(tls: dict[str, str]) -> None:
    # The resolver's ConnectTimeout (0 = unset: 5 s), replaced by the upstream's own
    # connect_timeout_ms.
    cases = [
        ("0s", None, "5s"),
        ("12s", None, "12s"),
        ("12s", 750, "0.750s"),
        ("0s", 750, "0.750s"),
    ]
    for resolver_timeout, upstream_ms, expected in cases:
        entry = {"kind": "service-resolver", "name": "api", "connect_timeout": resolver_timeout}
        config = {} if upstream_ms is None else {"connect_timeout_ms": upstream_ms}
        out = translate(mesh_dict(tls, [upstream(config=config)], entries=[entry]))
        (cluster,) = [c for c in out["clusters"] if c["name"] != "local_app"]
        # A timeout that differs from the chain's customizes the cluster (hash~ prefix).
        customized = upstream_ms is not None
        assert (cluster["name"] != sni("api", "dc1")) is customized
        assert cluster["name"].endswith(sni("api", "dc1"))
        assert cluster["connect_timeout"] == expected, (resolver_timeout, upstream_ms)


def test_every_limit_and_passive_health_check_field(tls: dict[str, str]) -> None:
    # Each Consul field lands in its own Envoy field (Consul's ToOutlierDetection and
    # makeUpstreamCircuitBreakers); zero interval and max_failures mean Envoy's defaults.
    full = {
        "limits": {
            "max_connections": 11,
            "max_pending_requests": 22,
            "max_concurrent_requests": 33,
        },
        "passive_health_check": {
            "interval": "7s",
            "max_failures": 4,
            "enforcing_consecutive_5xx": 55,
            "max_ejection_percent": 66,
            "base_ejection_time": "45s",
        },
    }
    zeros = {"passive_health_check": {"interval": "0s", "max_failures": 0}}
    ups = [upstream(datacenter="dc2", config=full), upstream("db", 9002, config=zeros)]
    out = translate(mesh_dict(tls, ups, pd_mode="remote"))
    api = by_name(out["clusters"])[sni("api", "dc2")]
    assert api["circuit_breakers"] == {
        "thresholds": [{"max_connections": 11, "max_pending_requests": 22, "max_requests": 33}]
    }
    assert api["outlier_detection"] == {
        "interval": "7s",
        "consecutive_5xx": 4,
        "enforcing_consecutive_5xx": 55,
        "max_ejection_percent": 66,
        "base_ejection_time": "45s",
    }
    db = by_name(out["clusters"])[sni("db", "dc1")]
    assert db["outlier_detection"] == {}
    assert db["circuit_breakers"] == {}


@pytest.mark.envoy
def test_unix_socket_bind(tls: dict[str, str], tmp_path: Path) -> None:
    path = str(tmp_path / "api.sock")
    up = {
        "destination_name": "api",
        "local_bind_socket_path": path,
        "local_bind_socket_mode": "0600",
    }
    out = translate(mesh_dict(tls, [up]))
    listener = by_name(out["listeners"])[f"api:{path}"]
    assert listener["address"] == {"pipe": {"path": path, "mode": 0o600}}
    assert_envoy_accepts(out)


def test_prepared_query_is_an_error(tls: dict[str, str]) -> None:
    up = upstream("geo-cache", 8181, destination_type="prepared_query")
    with pytest.raises(TranslationError, match="prepared query"):
        translate(mesh_dict(tls, [up]))


@pytest.mark.envoy
def test_prepared_query_with_missing_warn(tls: dict[str, str]) -> None:
    up = upstream("geo-cache", 8181, destination_type="prepared_query")
    with pytest.warns(MeshgwWarning, match="prepared query"):
        out = translate(mesh_dict(tls, [up]), missing="warn")
    name = f"geo-cache.default.dc1.query.{TD}"
    assert by_name(out["endpoints"], "cluster_name")[name]["endpoints"] == []
    listener = by_name(out["listeners"])["prepared_query:geo-cache:127.0.0.1:8181"]
    tcp = listener["filter_chains"][0]["filters"][0]["typed_config"]
    assert tcp["stat_prefix"] == "upstream.prepared_query_geo-cache"
    assert_envoy_accepts(out)


@pytest.mark.envoy
def test_transparent_proxy_warns(tls: dict[str, str]) -> None:
    with pytest.warns(MeshgwWarning, match="transparent proxy"):
        out = translate(mesh_dict(tls, [upstream()], proxy={"mode": "transparent"}))
    assert sni("api", "dc1") in by_name(out["clusters"])
    assert_envoy_accepts(out)


def test_duplicate_bind_is_an_error(tls: dict[str, str]) -> None:
    # The loader refuses this already; a Service built in code reaches the translator.
    mesh = Mesh.from_dict(mesh_dict(tls, [upstream("api")]))
    svc = mesh.service(SIDECAR)
    assert svc.proxy is not None
    twin = attrs.evolve(svc.proxy.upstreams[0], destination_name="db")
    svc = attrs.evolve(svc, proxy=attrs.evolve(svc.proxy, upstreams=(*svc.proxy.upstreams, twin)))
    with pytest.raises(TranslationError, match=r"same address 127\.0\.0\.1:9001"):
        translate_service(svc, mesh)


@pytest.mark.envoy
def test_two_upstreams_to_one_target_share_the_cluster(tls: dict[str, str]) -> None:
    ups = [upstream("api", 9001), upstream("api", 9002, datacenter="dc1")]
    out = translate(mesh_dict(tls, ups))
    assert [c["name"] for c in out["clusters"]] == [sni("api", "dc1"), "local_app"]
    assert len(out["listeners"]) == 3
    assert_envoy_accepts(out)


def test_not_a_sidecar(tls: dict[str, str]) -> None:
    mesh = Mesh.from_dict(mesh_dict(tls, []))
    gateway_mesh = Mesh.from_dict(
        {"service": {"kind": "mesh-gateway", "name": "mesh-gateway", "port": 8443}}
    )
    with pytest.raises(TranslationError, match="not a connect-proxy"):
        plan_sidecar(gateway_mesh.service("mesh-gateway"), mesh, view=build_view(mesh))


# --------------------------------------------------------------------------- certificates


@pytest.mark.envoy
def test_sds_over_ads(tls: dict[str, str]) -> None:
    data = mesh_dict({"sds_cluster": "ads"}, [upstream(datacenter="dc2")], pd_mode="remote")
    out = translate(data)
    common = by_name(out["clusters"])[sni("api", "dc2")]["transport_socket"]["typed_config"][
        "common_tls_context"
    ]
    assert common["tls_certificate_sds_secret_configs"] == [
        {"name": "web", "sds_config": {"ads": {}, "resource_api_version": "V3"}}
    ]
    combined = common["combined_validation_context"]
    assert combined["validation_context_sds_secret_config"]["name"] == "ROOTCA"
    assert combined["default_validation_context"]["match_typed_subject_alt_names"] == [
        {"san_type": "URI", "matcher": {"exact": spiffe("api", "dc2")}}
    ]
    # Only the EDS form: Envoy crashes on SDS over ADS from a STATIC cluster
    # (envoyproxy/envoy#15517), which is why meshgw refuses endpoints="static" here.
    eds = [v for v in validate_with_envoy(out, reject_deprecated=True) if v.form == "eds"]
    assert eds and eds[0].ok, eds[0].message
    with pytest.raises(TranslationError, match="15517"):
        translate(data, endpoints="static")


@pytest.mark.envoy
def test_sds_from_a_cluster(tls: dict[str, str]) -> None:
    settings = {
        "sds_cluster": "sds-agent",
        "sds_ca_secret": "roots",
        "sds_cert_secret": "{service}-{datacenter}",
    }
    out = translate(mesh_dict(settings, []))
    context = by_name(out["listeners"])["public_listener:0.0.0.0:21000"]["filter_chains"][0][
        "transport_socket"
    ]["typed_config"]["common_tls_context"]
    secret = context["tls_certificate_sds_secret_configs"][0]
    assert secret["name"] == "web-dc1"
    grpc = secret["sds_config"]["api_config_source"]["grpc_services"][0]
    assert grpc == {"envoy_grpc": {"cluster_name": "sds-agent"}}
    assert context["validation_context_sds_secret_config"]["name"] == "roots"
    # The SDS cluster is the user's (in their bootstrap); add one so Envoy can check.
    sds_cluster = {
        "name": "sds-agent",
        "type": "STATIC",
        "connect_timeout": "1s",
        "typed_extension_protocol_options": {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": HTTP_OPTIONS,
                "explicit_http_config": {"http2_protocol_options": {}},
            }
        },
        "load_assignment": {
            "cluster_name": "sds-agent",
            "endpoints": [
                {"lb_endpoints": [{"endpoint": {"address": {"pipe": {"path": "/run/sds.sock"}}}}]}
            ],
        },
    }
    assert_envoy_accepts({**out, "clusters": [*out["clusters"], sds_cluster]})


@pytest.mark.envoy
def test_default_certificate_placeholders(pki: TestPKI) -> None:
    data = mesh_dict({}, [upstream()])
    del data["mesh_tls"]
    out = translate(data)
    text = json.dumps(out)
    assert "/etc/meshgw/tls/web.pem" in text
    assert "/etc/meshgw/tls/web-key.pem" in text
    assert "/etc/meshgw/tls/ca.pem" in text
    # Envoy reads certificate files: check the structure with the test PKI in their place.
    cert, key = pki.leaves["web", "dc1"]
    text = (
        text.replace("/etc/meshgw/tls/web-key.pem", key)
        .replace("/etc/meshgw/tls/web.pem", cert)
        .replace("/etc/meshgw/tls/ca.pem", pki.ca_file)
    )
    assert_envoy_accepts(json.loads(text))


def test_unknown_placeholder_is_an_error() -> None:
    # Found at load since issue 14, located at the template.
    with pytest.raises(ValidationError, match=r"mesh_tls.cert_file: unknown placeholder \{svc\}"):
        translate(mesh_dict({"cert_file": "/certs/{svc}.pem"}, []))


def test_sds_and_files_together_is_an_error() -> None:
    with pytest.raises(TranslationError, match="choose SDS or files"):
        translate(mesh_dict({"sds_cluster": "ads", "ca_file": "/ca.pem"}, []))


# --------------------------------------------------------------------------- properties


@pytest.mark.envoy
def test_static_mode_inlines_every_eds_cluster(tls: dict[str, str]) -> None:
    ups = [
        upstream(),
        upstream("payments", 9400, destination_peer="acme-dns"),
        upstream("x", 9002, datacenter="dc5"),
    ]
    data = mesh_dict(tls, ups, entries=[FAILOVER], pd_mode="remote")
    eds = translate(data)
    static = translate(data, endpoints="static")
    assert static["endpoints"] == []
    clas = by_name(eds["endpoints"], "cluster_name")
    for cluster in static["clusters"]:
        original = by_name(eds["clusters"])[cluster["name"]]
        if original.get("type") == "EDS":
            assert cluster["type"] == "STATIC"
            assert "eds_cluster_config" not in cluster
            assert cluster["load_assignment"] == clas[cluster["name"]]
        else:
            assert cluster == original  # aggregate, DNS and local_app unchanged
    assert static["listeners"] == eds["listeners"]
    assert_envoy_accepts(static)


@pytest.mark.envoy
def test_deterministic_and_inputs_untouched(tls: dict[str, str]) -> None:
    data = mesh_dict(
        tls,
        [
            upstream(config={"limits": {"max_connections": 3}}),
            upstream("payments", 9400, destination_peer="acme"),
        ],
        entries=[FAILOVER],
        pd_mode="local",
        service={"token": "s3cr3t-t0ken-do-not-leak"},
    )
    frozen = copy.deepcopy(data)
    mesh = Mesh.from_dict(data)
    snapshot = copy.deepcopy(mesh)
    first = translate_service(mesh.service(SIDECAR), mesh)
    first_text = json.dumps(first, sort_keys=True)
    # Changing the output must not reach the mesh or the next result.
    first["clusters"][0]["name"] = "changed"
    first["endpoints"][0]["endpoints"].clear()
    second = translate_service(mesh.service(SIDECAR), mesh)
    assert json.dumps(second, sort_keys=True) == first_text
    assert json.dumps(translate(data), sort_keys=True) == first_text
    assert mesh == snapshot
    assert data == frozen
    assert "s3cr3t" not in first_text
    assert "PRIVATE KEY" not in first_text
    for key in ("clusters", "listeners"):
        names = [r["name"] for r in second[key]]
        assert names == sorted(names)
    names = [r["cluster_name"] for r in second["endpoints"]]
    assert names == sorted(names)
    assert_envoy_accepts(second)


@pytest.mark.envoy
def test_nested_and_standalone_sidecars_translate_alike(tls: dict[str, str]) -> None:
    ups = [upstream(datacenter="dc2"), upstream("db", 9002)]
    proxy = {"upstreams": ups, "mesh_gateway": {"mode": "remote"}}
    nested = {
        "datacenter": "dc1",
        "trust_domain": TD,
        "service": {
            "name": "web",
            "port": 8080,
            "connect": {"sidecar_service": {"port": 21000, "proxy": proxy}},
        },
        "catalog": catalog(),
        "mesh_tls": tls,
    }
    standalone = {
        "datacenter": "dc1",
        "trust_domain": TD,
        "service": {
            "kind": "connect-proxy",
            "name": "web-proxy",
            "id": "web-proxy-1",
            "port": 21000,
            "proxy": {
                "destination_service_name": "web",
                "local_service_address": "127.0.0.1",
                "local_service_port": 8080,
                **proxy,
            },
        },
        "catalog": catalog(),
        "mesh_tls": tls,
    }
    a, b = Mesh.from_dict(nested), Mesh.from_dict(standalone)
    out_a = translate_service(a.service("web-sidecar-proxy"), a)
    out_b = translate_service(b.service("web-proxy-1"), b)
    assert out_a == out_b
    assert_envoy_accepts(out_a)


def test_options_are_validated(tls: dict[str, str]) -> None:
    mesh = Mesh.from_dict(mesh_dict(tls, []))
    with pytest.raises(UsageError, match="endpoints must be"):
        translate_service(mesh.service(SIDECAR), mesh, endpoints="inline")  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="missing must be"):
        translate_service(mesh.service(SIDECAR), mesh, missing="ignore")  # type: ignore[arg-type]


def test_no_warning_in_the_plain_case(tls: dict[str, str]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        translate(mesh_dict(tls, [upstream(datacenter="dc2")], pd_mode="local"))


def test_the_plan_is_what_translate_builds(tls: dict[str, str]) -> None:
    data = mesh_dict(tls, [upstream(datacenter="dc2")], pd_mode="remote")
    mesh = Mesh.from_dict(data)
    plan = plan_sidecar(mesh.service(SIDECAR), mesh, view=build_view(mesh))
    out = translate_service(SIDECAR, mesh)
    assert sorted(c.name for c in plan.clusters) == [c["name"] for c in out["clusters"]]
    assert sorted(ln.name for ln in plan.listeners) == [ln["name"] for ln in out["listeners"]]
    assert plan.owner == f"connect-proxy {SIDECAR!r}"
    assert plan.warnings == ()


@pytest.mark.envoy
def test_routers_and_splitters_are_not_modelled(tls: dict[str, str]) -> None:
    router = {"kind": "service-router", "name": "api", "routes": []}
    data = mesh_dict(tls, [upstream(config=HATCHES)], entries=[router])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = translate(data)
    messages = [str(w.message) for w in caught if issubclass(w.category, MeshgwWarning)]
    assert any("service-router / service-splitter of 'api' is not modelled" in m for m in messages)
    assert any("envoy_listener_json / envoy_cluster_json ignored" in m for m in messages)
    assert all(w.filename == __file__ for w in caught)  # they point at the caller
    assert sni("api", "dc1") in by_name(out["clusters"])
    assert_envoy_accepts(out)
