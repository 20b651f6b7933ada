"""The mesh gateway scenarios beyond WAN-federated service traffic (docs/scenarios.md):

* WAN federation of Consul servers through mesh gateways;
* cluster peering service traffic: services exported to peers, services imported from
  peers (and the SNI local sidecars send for them);
* peering control-plane traffic through mesh gateways;
* admin partitions of one datacenter;
* all of them at once (chain order), name collisions, and what a gateway outside them
  pays.

Every translated output is checked with the real Envoy (``@pytest.mark.envoy``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import attrs
import pytest
from test_gateway import (  # _envoy_accepts: Envoy checks what run() translates
    TD,
    Out,
    _envoy_accepts,  # noqa: F401
    by_name,
    dc_sni,
    gateway,
    hosts,
    make_mesh,
    names,
    remote_gw,
    run,
    sidecar,
    sni,
    stat_prefixes,
)

import meshgw
from meshgw._plan import peering as gateway_peering
from meshgw._plan import wanfed as gateway_wanfed
from meshgw._plan.gateway import plan_gateway
from meshgw._resolve.catalog import HEALTHY, UNHEALTHY
from meshgw._translation import translate
from meshgw.errors import TranslationError
from meshgw.model import Mesh, ServiceAddress

GOLDEN = Path(__file__).parent / "golden"
DOCS = Path(__file__).parents[1] / "docs"
PEER_TD = "0a1b2c3d-1111-2222-3333-444444444444.consul"
WANFED = {"consul-wan-federation": "1"}
TCP_PROXY = "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy"


# --------------------------------------------------------------------------- builders


def consul_server(
    node: str,
    address: str,
    *,
    port: int = 8300,
    meta: Mapping[str, str] | None = None,
    dc: str = "",
) -> dict[str, Any]:
    """A catalog entry for a Consul server: the ``consul`` service it registers."""
    svc: dict[str, Any] = {"service": "consul", "id": "consul", "meta": dict(meta or {})}
    if port:
        svc["port"] = port
    entry: dict[str, Any] = {"node": node, "address": address, "service": svc}
    if dc:
        entry["datacenter"] = dc
    return entry


def peering_server(node: str, address: str, tls_port: str = "8503", **meta: str) -> Any:
    return consul_server(node, address, meta={"grpc_tls_port": tls_port, **meta})


def mesh_entry(through: bool = True, **fields: Any) -> dict[str, Any]:
    return {"kind": "mesh", "peering": {"peer_through_mesh_gateways": through}, **fields}


def exported(*services: tuple[str, Iterable[str]], **fields: Any) -> dict[str, Any]:
    """An exported-services entry: (service name, consuming peers) pairs."""
    return {
        "kind": "exported-services",
        "name": "default",
        "services": [
            {"name": name, "consumers": [{"peer": peer} for peer in peers]}
            for name, peers in services
        ],
        **fields,
    }


def peer(name: str, **fields: Any) -> dict[str, Any]:
    """A peer of this cluster, trust domain PEER_TD, in dc9."""
    return {"name": name, "trust_domain": PEER_TD, "datacenter": "dc9", **fields}


def chains(out: Out) -> list[tuple[tuple[str, ...], str, str]]:
    """(server names, cluster, stat prefix) of every chain of the only listener."""
    (listener,) = out["listeners"]
    found = []
    for chain in listener["filter_chains"]:
        proxy = chain["filters"][-1]["typed_config"]
        assert proxy["@type"] == TCP_PROXY
        match = chain.get("filter_chain_match", {}).get("server_names", [])
        found.append((tuple(match), proxy["cluster"], proxy["stat_prefix"]))
    return found


def cluster_names(out: Out) -> set[str]:
    return {c["name"] for c in out["clusters"]}


def wanfed_mesh(**kw: Any) -> Mesh:
    """Consul's [MG] topology with the WAN-federation gateway and servers node1, node2."""
    paths = [
        GOLDEN / "mg-topology.json",
        GOLDEN / "mesh-gateway-using-federation-control-plane.json",
    ]
    return meshgw.load(*paths, **kw)


# =========================================================================== 1. WAN federation


@pytest.mark.envoy
def test_wan_federation_control_plane_as_consul_describes_it() -> None:
    """consul-output.md §2.2 / §3.2 / §4.4, mesh-gateway-using-federation-control-plane:
    keys dc2, dc4, dc6; local servers node1 (127.0.0.1) and node2 (127.0.0.2)."""
    out = run(wanfed_mesh())
    dc = {d: dc_sni(d) for d in ("dc2", "dc4", "dc6")}
    assert chains(out) == [
        ((f"*.{dc['dc2']}",), dc["dc2"], "mesh_gateway_remote.default.dc2"),
        ((f"*.{dc['dc4']}",), dc["dc4"], "mesh_gateway_remote.default.dc4"),
        ((f"*.{dc['dc6']}",), dc["dc6"], "mesh_gateway_remote.default.dc6"),
        (("*.server.dc2.consul",), "server.dc2.consul", "mesh_gateway_remote.default.dc2"),
        (("*.server.dc4.consul",), "server.dc4.consul", "mesh_gateway_remote.default.dc4"),
        (("*.server.dc6.consul",), "server.dc6.consul", "mesh_gateway_remote.default.dc6"),
        (
            ("node1.server.dc1.consul",),
            "node1.server.dc1.consul",
            "mesh_gateway_local_server.default.dc1",
        ),
        (
            ("node2.server.dc1.consul",),
            "node2.server.dc1.consul",
            "mesh_gateway_local_server.default.dc1",
        ),
        ((), "", "mesh_gateway_local.default"),
    ]
    servers = {
        "server.dc1.consul",
        "server.dc2.consul",
        "server.dc4.consul",
        "server.dc6.consul",
        "node1.server.dc1.consul",
        "node2.server.dc1.consul",
    }
    assert servers <= cluster_names(out)
    clusters = {c["name"]: c for c in out["clusters"]}
    # A remote datacenter's server cluster is its gateway cluster under another name:
    # EDS for dc2, hostname-aware (meshgw's rule) for dc4 and dc6.
    for d in ("dc2", "dc4", "dc6"):
        server = dict(clusters[f"server.{d}.consul"])
        gateways = dict(clusters[dc[d]])
        assert server.pop("name") == f"server.{d}.consul"
        if "load_assignment" in server:
            assert (
                server.pop("load_assignment")["endpoints"]
                == gateways.pop("load_assignment")["endpoints"]
            )
        gateways.pop("name")
        assert server == gateways
    assert clusters["server.dc4.consul"]["type"] == "STRICT_DNS"
    assert clusters["server.dc6.consul"]["type"] == "LOGICAL_DNS"
    for name in ("node1.server.dc1.consul", "node2.server.dc1.consul", "server.dc1.consul"):
        assert clusters[name] == {
            "name": name,
            "type": "EDS",
            "eds_cluster_config": {"eds_config": {"ads": {}, "resource_api_version": "V3"}},
            "connect_timeout": "5s",
            "outlier_detection": {},
        }
    assert hosts(by_name(out["endpoints"], "server.dc2.consul")) == hosts(
        by_name(out["endpoints"], dc["dc2"])
    )
    # Local servers: LAN address and server port, no health, no weight.
    assert hosts(by_name(out["endpoints"], "node1.server.dc1.consul")) == [
        ("127.0.0.1", 8300, None, None)
    ]
    assert hosts(by_name(out["endpoints"], "server.dc1.consul")) == [
        ("127.0.0.1", 8300, None, None),
        ("127.0.0.2", 8300, None, None),
    ]
    # No endpoints for the DNS server clusters: they are inline.
    assert "server.dc4.consul" not in {e["cluster_name"] for e in out["endpoints"]}


@pytest.mark.parametrize(
    "meta", [{}, {"consul-wan-federation": "0"}, {"consul-wan-federation": "true"}]
)
def test_gateway_without_the_wan_federation_meta_gets_no_server_chains(
    meta: dict[str, str],
) -> None:
    mesh = make_mesh(
        gateway(meta=meta),
        catalog=[remote_gw("dc2", "gw", "198.18.2.1"), consul_server("node1", "10.0.0.10")],
    )
    out = translate("mesh-gateway", mesh)
    assert not any("server." in name for name in cluster_names(out))
    assert stat_prefixes(out["listeners"][0]) == [
        "mesh_gateway_remote.default.dc2",
        "mesh_gateway_local.default",
    ]
    assert plan_gateway(mesh.service("mesh-gateway"), mesh).wan_federation is None


def test_non_default_partition_gateway_gets_no_wan_federation_chains() -> None:
    mesh = make_mesh(
        gateway(meta=WANFED, partition="ap1"),
        catalog=[
            remote_gw("dc1", "default-gw", "198.18.0.9"),
            consul_server("node1", "10.0.0.10"),
        ],
    )
    out = translate("mesh-gateway", mesh)
    assert not any("server." in name for name in cluster_names(out))
    assert [c[2] for c in chains(out)] == [
        "mesh_gateway_remote.default.dc1",
        "mesh_gateway_local.default",
    ]


@pytest.mark.envoy
def test_server_names_use_the_dns_domain_not_the_trust_domain() -> None:
    mesh = make_mesh(
        gateway(meta=WANFED),
        catalog=[remote_gw("dc2", "gw", "198.18.2.1"), consul_server("n1", "10.0.0.10")],
        domain="example.internal.",
    )
    out = run(mesh)
    assert [c[0] for c in chains(out)][1:3] == [
        ("*.server.dc2.example.internal",),
        ("n1.server.dc1.example.internal",),
    ]
    assert {"server.dc1.example.internal", "server.dc2.example.internal"} <= cluster_names(out)
    assert not any(TD in name and "server" in name for name in cluster_names(out))


@pytest.mark.envoy
def test_keepalive_on_remote_server_clusters_only() -> None:
    config = {
        "envoy_gateway_remote_tcp_enable_keepalive": True,
        "envoy_gateway_remote_tcp_keepalive_time": 120,
    }
    mesh = make_mesh(
        gateway(config, meta=WANFED),
        catalog=[remote_gw("dc2", "gw", "198.18.2.1"), consul_server("n1", "10.0.0.10")],
    )
    clusters = {c["name"]: c for c in run(mesh)["clusters"]}
    keepalive = {"tcp_keepalive": {"keepalive_time": 120}}
    assert clusters["server.dc2.consul"]["upstream_connection_options"] == keepalive
    assert "upstream_connection_options" not in clusters["server.dc1.consul"]
    assert "upstream_connection_options" not in clusters["n1.server.dc1.consul"]


def test_other_partitions_of_this_datacenter_have_no_server_chains() -> None:
    mesh = make_mesh(
        gateway(meta=WANFED),
        catalog=[remote_gw("dc1", "ap2-gw", "198.18.0.22", partition="ap2")],
    )
    out = translate("mesh-gateway", mesh)
    assert [c[2] for c in chains(out)] == [
        "mesh_gateway_remote.default.ap2.dc1",
        "mesh_gateway_local.default",
    ]
    assert cluster_names(out) == {f"ap2.dc1.internal-v1.{TD}"}


def secondary(primary_gateways: list[str], catalog: Iterable[Mapping[str, Any]] = ()) -> Mesh:
    return make_mesh(
        gateway(meta=WANFED),
        catalog=[consul_server("dc2-server", "10.2.0.10"), *catalog],
        datacenter="dc2",
        primary_datacenter="dc1",
        primary_gateways=primary_gateways,
        connect={"enable_mesh_gateway_wan_federation": True},
    )


@pytest.mark.envoy
def test_primary_gateways_reach_the_primary_servers_before_replication() -> None:
    out = run(secondary(["198.18.1.1:443", "gw.dc1.example.com:8443", "198.18.1.1:443"]))
    assert chains(out)[0] == (
        ("*.server.dc1.consul",),
        "server.dc1.consul",
        "mesh_gateway_remote.default.dc1",
    )
    primary = by_name(out["clusters"], "server.dc1.consul")
    assert primary["type"] == "STRICT_DNS"  # a name among them, two distinct endpoints
    assert hosts(primary["load_assignment"]) == [
        ("198.18.1.1", 443, None, None),
        ("gw.dc1.example.com", 8443, None, None),
    ]
    # Only server traffic: service traffic to dc1 needs dc1's gateways in the catalog.
    assert dc_sni("dc1") not in cluster_names(out)
    out = run(secondary(["198.18.1.1:443"]))
    assert hosts(by_name(out["endpoints"], "server.dc1.consul")) == [
        ("198.18.1.1", 443, None, None)
    ]


def test_catalog_gateways_of_the_primary_win_over_primary_gateways() -> None:
    out = translate(
        "mesh-gateway", secondary(["198.18.9.9:443"], [remote_gw("dc1", "gw", "198.18.1.1")])
    )
    assert hosts(by_name(out["endpoints"], "server.dc1.consul")) == [
        ("198.18.1.1", 443, HEALTHY, 1)
    ]


@pytest.mark.parametrize(
    ("addresses", "message"),
    [
        (["provider=aws tag_key=consul"], "go-discover"),
        (["198.18.1.1"], "expected host:port"),
        (["198.18.1.1:0"], "invalid port '0'"),
        (["2001:db8::1:443"], r"\[address\]:port"),
    ],
)
def test_unusable_primary_gateways(addresses: list[str], message: str) -> None:
    with pytest.raises(TranslationError, match=rf"primary_gateways\[0\].*{message}"):
        translate("mesh-gateway", secondary(addresses))


def test_primary_gateways_in_the_primary_is_an_error() -> None:
    mesh = make_mesh(
        gateway(meta=WANFED), primary_datacenter="dc1", primary_gateways=["198.18.1.1:443"]
    )
    with pytest.raises(TranslationError, match="only be configured in a secondary"):
        translate("mesh-gateway", mesh)


def test_ipv6_primary_gateway() -> None:
    out = translate("mesh-gateway", secondary(["[2001:db8::1]:443"]))
    assert hosts(by_name(out["endpoints"], "server.dc1.consul")) == [
        ("2001:db8::1", 443, None, None)
    ]


@pytest.mark.parametrize(
    ("servers", "message"),
    [
        ([consul_server("n1", "10.0.0.1"), consul_server("n1", "10.0.0.2")], "two Consul server"),
        ([consul_server("n1", "10.0.0.1", port=0)], "server RPC port"),
    ],
)
def test_unusable_local_servers(servers: list[dict[str, Any]], message: str) -> None:
    mesh = make_mesh(gateway(meta=WANFED), catalog=servers)
    with pytest.raises(TranslationError, match=message):
        translate("mesh-gateway", mesh)


def test_servers_of_other_datacenters_are_not_local() -> None:
    mesh = make_mesh(
        gateway(meta=WANFED),
        catalog=[consul_server("n1", "10.0.0.1"), consul_server("n2", "10.2.0.1", dc="dc2")],
    )
    out = translate("mesh-gateway", mesh)
    assert cluster_names(out) == {"n1.server.dc1.consul", "server.dc1.consul"}


# =========================================================================== 2a. exported


def exporting_mesh(
    *entries: Mapping[str, Any],
    catalog: Iterable[Mapping[str, Any]] = (),
    gw: Mapping[str, Any] | None = None,
    **settings: Any,
) -> Mesh:
    base = [
        sidecar("api", "n1", "10.0.1.1", meta={"version": "1"}),
        sidecar("api", "n2", "10.0.1.2", meta={"version": "2"}, checks=[("", "warning")]),
        sidecar("web", "n3", "10.0.1.3"),
    ]
    return make_mesh(
        gw if gw is not None else gateway(),
        catalog=[*base, *catalog],
        entries=entries,
        **settings,
    )


def peered_sni(service: str, peer_name: str, partition: str = "default") -> str:
    return f"{service}.default.{partition}.{peer_name}.external.{TD}"


@pytest.mark.envoy
def test_exported_service_chain_and_cluster() -> None:
    out = run(exporting_mesh(exported(("api", ["peer-b", "peer-a", "peer-b"]))))
    cluster = f"exported~{sni('api')}"
    assert chains(out)[0] == (
        (peered_sni("api", "peer-a"), peered_sni("api", "peer-b")),  # one per peer, sorted
        cluster,
        "mesh_gateway_local_peered.api.default.default.dc1",
    )
    assert by_name(out["clusters"], cluster) == {
        "name": cluster,
        "alt_stat_name": cluster,
        "type": "EDS",
        "eds_cluster_config": {"eds_config": {"ads": {}, "resource_api_version": "V3"}},
        "connect_timeout": "5s",
        "circuit_breakers": {},
        "outlier_detection": {},
        "common_lb_config": {"healthy_panic_threshold": {}},
    }  # no transport socket: TCP passes through
    assert hosts(by_name(out["endpoints"], cluster)) == [
        ("10.0.1.1", 2222, HEALTHY, 1),
        ("10.0.1.2", 2222, HEALTHY, 1),
    ]
    # web is not exported: only the catch-all reaches it.
    assert len(chains(out)) == 2


def test_exports_are_sorted_and_wildcards_expand_to_local_services() -> None:
    entry = {
        "kind": "exported-services",
        "name": "default",
        "services": [
            {"name": "*", "consumers": [{"peer": "peer-a"}]},
            {"name": "api", "consumers": [{"peer": "peer-b"}]},
            {"name": "not-here", "consumers": [{"peer": "peer-a"}]},  # no instances
        ],
    }
    out = translate("mesh-gateway", exporting_mesh(entry))
    assert [c[0] for c in chains(out)[:-1]] == [
        (peered_sni("api", "peer-a"), peered_sni("api", "peer-b")),
        (peered_sni("web", "peer-a"),),
    ]


def test_partition_consumers_need_no_peer_chains() -> None:
    entry = {
        "kind": "exported-services",
        "name": "default",
        "services": [{"name": "api", "consumers": [{"partition": "ap1"}]}],
    }
    mesh = exporting_mesh(entry)
    assert len(chains(translate("mesh-gateway", mesh))) == 1
    assert plan_gateway(mesh.service("mesh-gateway"), mesh).peering is None


def test_sameness_group_consumers_are_an_error() -> None:
    entry = {
        "kind": "exported-services",
        "name": "default",
        "services": [{"name": "api", "consumers": [{"sameness_group": "east"}]}],
    }
    with pytest.raises(TranslationError, match="sameness group 'east'"):
        translate("mesh-gateway", exporting_mesh(entry))


@pytest.mark.parametrize(
    "protocol_entry",
    [
        {"kind": "service-defaults", "name": "api", "protocol": "http"},
        {"kind": "service-defaults", "name": "api", "protocol": "grpc"},
        {"kind": "proxy-defaults", "name": "global", "config": {"protocol": "http2"}},
    ],
)
def test_http_like_exports_are_not_supported_yet(protocol_entry: dict[str, Any]) -> None:
    mesh = exporting_mesh(exported(("api", ["peer-a"])), protocol_entry)
    with pytest.raises(TranslationError, match=r"terminates TLS .* not translate yet"):
        translate("mesh-gateway", mesh)


def test_http_service_that_is_not_exported_is_fine() -> None:
    mesh = exporting_mesh(
        exported(("api", ["peer-a"])),
        {"kind": "service-defaults", "name": "web", "protocol": "http"},
    )
    assert len(chains(translate("mesh-gateway", mesh))) == 2


@pytest.mark.envoy
def test_exported_service_follows_its_resolver() -> None:
    resolver = {
        "kind": "service-resolver",
        "name": "api",
        "default_subset": "v2",
        "connect_timeout": "7s",
        "subsets": {
            "v1": {"filter": "Service.Meta.version == 1"},
            "v2": {"filter": "Service.Meta.version == 2", "only_passing": True},
        },
    }
    out = run(exporting_mesh(exported(("api", ["peer-a"])), resolver))
    cluster = f"exported~{sni('api', subset='v2')}"
    assert chains(out)[0][1] == cluster
    exported_cluster = by_name(out["clusters"], cluster)
    assert exported_cluster["connect_timeout"] == "7s"
    # The subset's instances, with OnlyPassing: the warning instance is unhealthy.
    assert hosts(by_name(out["endpoints"], cluster)) == [("10.0.1.2", 2222, UNHEALTHY, 1)]


def test_exported_service_redirected_to_another_local_service() -> None:
    resolver = {"kind": "service-resolver", "name": "api", "redirect": {"service": "web"}}
    out = translate("mesh-gateway", exporting_mesh(exported(("api", ["peer-a"])), resolver))
    assert chains(out)[0][1:] == (
        f"exported~{sni('web')}",
        "mesh_gateway_local_peered.api.default.default.dc1",
    )
    assert hosts(by_name(out["endpoints"], f"exported~{sni('web')}")) == [
        ("10.0.1.3", 2222, HEALTHY, 1)
    ]


def test_exported_service_redirected_out_of_the_datacenter_is_an_error() -> None:
    resolver = {"kind": "service-resolver", "name": "api", "redirect": {"datacenter": "dc2"}}
    with pytest.raises(TranslationError, match="only serves peers from its own datacenter"):
        translate("mesh-gateway", exporting_mesh(exported(("api", ["peer-a"])), resolver))


@pytest.mark.envoy
def test_exports_of_a_partition_gateway() -> None:
    mesh = make_mesh(
        gateway(partition="ap1"),
        catalog=[sidecar("api", "n1", "10.0.1.1", partition="ap1")],
        entries=[{**exported(("api", ["peer-a"])), "name": "ap1"}],
    )
    out = run(mesh)
    assert chains(out)[0] == (
        (peered_sni("api", "peer-a", "ap1"),),
        f"exported~api.default.ap1.dc1.internal-v1.{TD}",
        "mesh_gateway_local_peered.api.default.ap1.dc1",
    )


# =========================================================================== 2b. imported


def importing_mesh(*peers: Mapping[str, Any], config: Mapping[str, Any] | None = None) -> Mesh:
    return make_mesh(gateway(config), catalog=[sidecar("web", "n1", "10.0.1.1")], peers=list(peers))


def primary_sni(service: str, peer_partition: str = "default", our_name: str = "dc1") -> str:
    return f"{service}.default.{peer_partition}.{our_name}.external.{PEER_TD}"


@pytest.mark.envoy
def test_imported_services_get_clusters_but_no_chains() -> None:
    mesh = importing_mesh(
        peer(
            "peer-a",
            remote_name="cluster-01",
            remote_partition="finance",
            gateways=[
                {"address": "203.0.113.1", "port": 443},
                {"address": "203.0.113.2", "port": 443},
            ],
            services=[{"name": "db"}, {"name": "cache"}, {"name": "db"}],
        )
    )
    out = run(mesh)
    db = primary_sni("db", "finance", "cluster-01")
    assert cluster_names(out) == {sni("web"), db, primary_sni("cache", "finance", "cluster-01")}
    assert by_name(out["clusters"], db)["type"] == "EDS"
    assert hosts(by_name(out["endpoints"], db)) == [
        ("203.0.113.1", 443, HEALTHY, 1),
        ("203.0.113.2", 443, HEALTHY, 1),
    ]
    assert len(chains(out)) == 1  # reached through the catch-all sni_cluster chain


@pytest.mark.envoy
@pytest.mark.parametrize(
    ("gateways", "config", "expected"),
    [
        (["lb.peer.example.com"], {}, "LOGICAL_DNS"),
        (["lb.peer.example.com"], {"envoy_dns_discovery_type": "strict_dns"}, "STRICT_DNS"),
        (["lb1.peer.example.com", "lb2.peer.example.com"], {}, "STRICT_DNS"),
        (["lb1.peer.example.com", "203.0.113.9"], {}, "STRICT_DNS"),
    ],
)
def test_imported_services_behind_hostname_gateways(
    gateways: list[str], config: dict[str, Any], expected: str
) -> None:
    mesh = importing_mesh(
        peer(
            "peer-a",
            gateways=[{"address": a, "port": 8443} for a in gateways],
            services=[{"name": "db"}],
        ),
        config=config,
    )
    out = run(mesh)
    cluster = by_name(out["clusters"], primary_sni("db"))
    assert cluster["type"] == expected
    assert [h[0] for h in hosts(cluster["load_assignment"])] == gateways


def test_imported_clusters_get_the_remote_keepalive() -> None:
    mesh = importing_mesh(
        peer(
            "peer-a", gateways=[{"address": "203.0.113.1", "port": 443}], services=[{"name": "db"}]
        ),
        config={
            "envoy_gateway_remote_tcp_enable_keepalive": True,
            "envoy_gateway_remote_tcp_keepalive_probes": 3,
        },
    )
    cluster = by_name(translate("mesh-gateway", mesh)["clusters"], primary_sni("db"))
    assert cluster["upstream_connection_options"] == {"tcp_keepalive": {"keepalive_probes": 3}}


def test_peers_of_other_partitions_are_not_imported_here() -> None:
    mesh = importing_mesh(
        peer(
            "peer-a",
            partition="ap1",
            gateways=[{"address": "203.0.113.1", "port": 443}],
            services=[{"name": "db"}],
        )
    )
    assert cluster_names(translate("mesh-gateway", mesh)) == {sni("web")}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"services": [{"name": "db"}]}, "lists no gateways"),
        (
            {
                "trust_domain": "",
                "services": [{"name": "db"}],
                "gateways": [{"address": "203.0.113.1", "port": 443}],
            },
            "no trust_domain",
        ),
    ],
)
def test_unusable_importing_peers(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(TranslationError, match=message):
        translate("mesh-gateway", importing_mesh(peer("peer-a", **fields)))


def test_peer_gateway_without_port_in_a_mesh_built_in_code() -> None:
    # The loaders require the port; a Mesh built in code is not validated.
    mesh = importing_mesh(
        peer(
            "peer-a", services=[{"name": "db"}], gateways=[{"address": "203.0.113.1", "port": 443}]
        )
    )
    (the_peer,) = mesh.peers
    broken = attrs.evolve(the_peer, gateways=(ServiceAddress("203.0.113.1", 0),))
    with pytest.raises(TranslationError, match="port between 1 and 65535"):
        translate("mesh-gateway", attrs.evolve(mesh, peers=(broken,)))


@pytest.mark.parametrize(
    ("remote_name", "remote_partition", "namespace"),
    [("cluster-01", "", ""), ("", "finance", ""), ("cluster-01", "finance", "payments")],
)
def test_local_sidecar_peered_sni_is_a_gateway_cluster(
    remote_name: str, remote_partition: str, namespace: str
) -> None:
    """A sidecar in mode local sends its peered upstream's SNI to the local gateway,
    whose catch-all forwards it to the cluster of that name: they must be equal."""
    web_sidecar = {
        "kind": "connect-proxy",
        "name": "web-sidecar-proxy",
        "port": 21000,
        "proxy": {
            "destination_service_name": "web",
            "local_service_port": 8080,
            "mesh_gateway": {"mode": "local"},
            "upstreams": [
                {
                    "destination_name": "db",
                    "destination_peer": "peer-a",
                    "destination_namespace": namespace,
                    "local_bind_port": 9191,
                }
            ],
        },
    }
    the_peer = peer(
        "peer-a",
        remote_name=remote_name,
        remote_partition=remote_partition,
        gateways=[{"address": "203.0.113.1", "port": 443}],
        services=[{"name": "db", "namespace": namespace}],
    )
    mesh = make_mesh(gateway(), services=[web_sidecar], peers=[the_peer])
    side = translate(mesh.service("web-sidecar-proxy"), mesh)
    (upstream,) = [c for c in side["clusters"] if c["name"] != "local_app"]
    sent = upstream["transport_socket"]["typed_config"]["sni"]
    # Through the local gateway (mode local) ...
    (cla,) = [e for e in side["endpoints"] if e["cluster_name"] == upstream["name"]]
    assert hosts(cla) == [("1.2.3.4", 8443, HEALTHY, 1)]
    # ... which has a cluster named exactly what the sidecar sends.
    gw_out = run(mesh)
    assert sent in cluster_names(gw_out)
    assert hosts(by_name(gw_out["endpoints"], sent)) == [("203.0.113.1", 443, HEALTHY, 1)]


# =========================================================================== 3. control plane


def control_plane_mesh(
    servers: Iterable[Mapping[str, Any]],
    *,
    peers: Iterable[Mapping[str, Any]] = (),
    entries: Iterable[Mapping[str, Any]] = (mesh_entry(),),
    **kw: Any,
) -> Mesh:
    return make_mesh(gateway(), catalog=list(servers), entries=entries, peers=list(peers), **kw)


LOCAL_PEERING = f"server.dc1.peering.{TD}"


@pytest.mark.envoy
def test_peering_control_plane_skips_replicas_and_servers_without_a_tls_port() -> None:
    out = run(
        control_plane_mesh(
            [
                peering_server("replica", "10.0.0.9", read_replica="true"),
                peering_server("s1", "10.0.0.1"),
                consul_server("s2", "10.0.0.2", meta={"grpc_port": "8502"}),  # plain gRPC only
                peering_server("s3", "10.0.0.3", tls_port="nope"),
                peering_server("s4", "10.0.0.4", tls_port="70000"),
                peering_server("s5", "10.0.0.5", tls_port="8600", read_replica="false"),
            ]
        )
    )
    assert chains(out) == [
        ((LOCAL_PEERING,), LOCAL_PEERING, "mesh_gateway_local_peering_server.default.dc1"),
        ((), "", "mesh_gateway_local.default"),
    ]
    assert hosts(by_name(out["endpoints"], LOCAL_PEERING)) == [
        ("10.0.0.1", 8503, None, None),
        ("10.0.0.5", 8600, None, None),
    ]


@pytest.mark.envoy
def test_peering_server_tls_port_must_be_a_valid_port() -> None:
    # The grpc_tls_port meta is text: only 1..65535 is a port Envoy can dial.
    servers = [
        peering_server("s0", "10.0.0.10", tls_port="0"),
        peering_server("s1", "10.0.0.1", tls_port="1"),
        peering_server("s2", "10.0.0.2", tls_port="65535"),
        peering_server("s3", "10.0.0.3", tls_port="65536"),
        peering_server("s4", "10.0.0.4", tls_port="-8503"),
        peering_server("s5", "10.0.0.5", tls_port=" 8503"),
    ]
    out = run(control_plane_mesh(servers))
    assert hosts(by_name(out["endpoints"], LOCAL_PEERING)) == [
        ("10.0.0.1", 1, None, None),
        ("10.0.0.2", 65535, None, None),
    ]


def test_read_replica_only_cluster_gets_no_peering_chain() -> None:
    mesh = control_plane_mesh([peering_server("replica", "10.0.0.9", read_replica="true")])
    out = translate("mesh-gateway", mesh)
    assert len(chains(out)) == 1
    assert out["clusters"] == []


def test_voters_without_any_tls_port_are_an_error() -> None:
    mesh = control_plane_mesh([consul_server("s1", "10.0.0.1", meta={"grpc_port": "8502"})])
    with pytest.raises(TranslationError, match=r"no Consul server of dc1 .* 'grpc_tls_port'"):
        translate("mesh-gateway", mesh)


@pytest.mark.parametrize(
    "entries",
    [(), (mesh_entry(False),), ({"kind": "mesh"},), ({**mesh_entry(), "partition": "ap1"},)],
)
def test_no_control_plane_without_peer_through_mesh_gateways(
    entries: tuple[dict[str, Any], ...],
) -> None:
    mesh = control_plane_mesh(
        [peering_server("s1", "10.0.0.1")],
        peers=[
            peer(
                "peer-a",
                server_name="server.dc9.peering.x.consul",
                server_addresses=["198.51.100.1:8503"],
            )
        ],
        entries=entries,
    )
    out = translate("mesh-gateway", mesh)
    assert len(chains(out)) == 1 and out["clusters"] == []


@pytest.mark.envoy
def test_peer_servers_chains_and_clusters() -> None:
    peers = [
        # IP addresses: EDS, sorted as strings as in Consul.
        peer(
            "peer-c",
            server_name="server.dc2.peering.c.consul",
            server_addresses=["9.10.11.12:5200", "13.14.15.16:5200"],
        ),
        # Another peering (another partition) to the same servers: one chain.
        peer(
            "peer-c2",
            partition="ap1",
            server_name="server.dc2.peering.c.consul",
            server_addresses=["13.14.15.16:5200", "9.10.11.12:5200"],
        ),
        # One host name: LOGICAL_DNS, no health.
        peer(
            "peer-d",
            server_name="server.dc3.peering.d.consul",
            server_addresses=["lb.d.example.com:8080"],
        ),
        # Several: STRICT_DNS.
        peer(
            "peer-b",
            server_name="server.dc4.peering.b.consul",
            server_addresses=["lb1.b.example.com:8503", "lb2.b.example.com:8503"],
        ),
        # The accepting side of a peering dials nothing.
        peer("peer-e", server_name="server.dc5.peering.e.consul"),
    ]
    out = run(control_plane_mesh([peering_server("s1", "10.0.0.1")], peers=peers))
    assert [c[0][0] if c[0] else "" for c in chains(out)] == [
        LOCAL_PEERING,
        "server.dc2.peering.c.consul",
        "server.dc3.peering.d.consul",
        "server.dc4.peering.b.consul",
        "",
    ]
    assert chains(out)[1] == (
        ("server.dc2.peering.c.consul",),
        "server.dc2.peering.c.consul",
        "mesh_gateway_remote_peering_servers.server.dc2.peering.c.consul",
    )
    assert hosts(by_name(out["endpoints"], "server.dc2.peering.c.consul")) == [
        ("13.14.15.16", 5200, None, None),
        ("9.10.11.12", 5200, None, None),
    ]
    d = by_name(out["clusters"], "server.dc3.peering.d.consul")
    assert d["type"] == "LOGICAL_DNS"
    assert hosts(d["load_assignment"]) == [("lb.d.example.com", 8080, None, None)]
    assert by_name(out["clusters"], "server.dc4.peering.b.consul")["type"] == "STRICT_DNS"
    plan = plan_gateway(
        control_plane_mesh([], peers=peers).service("mesh-gateway"),
        control_plane_mesh([], peers=peers),
    )
    assert plan.peering is not None
    assert plan.peering.peer_servers[0].peers == ("peer-c", "peer-c2")


def test_peer_servers_without_local_voters() -> None:
    """Dialing out does not need local servers."""
    mesh = control_plane_mesh(
        [],
        peers=[
            peer(
                "peer-a",
                server_name="server.dc9.peering.a.consul",
                server_addresses=["198.51.100.1:8503"],
            )
        ],
    )
    assert [c[2] for c in chains(translate("mesh-gateway", mesh))] == [
        "mesh_gateway_remote_peering_servers.server.dc9.peering.a.consul",
        "mesh_gateway_local.default",
    ]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"server_name": LOCAL_PEERING, "server_addresses": ["198.51.100.1:8503"]},
            "own peering server name",
        ),
        ({"server_addresses": ["198.51.100.1:8503"]}, "no server_name"),
    ],
)
def test_unusable_peer_servers(fields: dict[str, Any], message: str) -> None:
    mesh = control_plane_mesh([peering_server("s1", "10.0.0.1")], peers=[peer("peer-a", **fields)])
    with pytest.raises(TranslationError, match=message):
        translate("mesh-gateway", mesh)


@pytest.mark.parametrize(
    ("address", "message"),
    [
        ("198.51.100.1", "expected host:port"),
        ("198.51.100.1:x", "invalid port 'x'"),
        (":8503", "expected host:port"),
        ("[lb.example.com]:8503", "IPv6 address between"),
    ],
)
def test_unreadable_peer_server_addresses_in_a_mesh_built_in_code(
    address: str, message: str
) -> None:
    # The loaders check the form; a Mesh built in code is not validated.
    mesh = control_plane_mesh(
        [],
        peers=[
            peer(
                "peer-a",
                server_name="server.dc9.peering.a.consul",
                server_addresses=["198.51.100.1:8503"],
            )
        ],
    )
    (the_peer,) = mesh.peers
    broken = attrs.evolve(the_peer, server_addresses=(address,))
    with pytest.raises(TranslationError, match=rf"peer 'peer-a' server_addresses: .*{message}"):
        translate("mesh-gateway", attrs.evolve(mesh, peers=(broken,)))


def test_host_port_forms() -> None:
    parse = gateway_peering.parse_host_port
    assert parse("10.0.0.1:8503", "x") == ("10.0.0.1", 8503)
    assert parse("lb.example.com:443", "x") == ("lb.example.com", 443)
    assert parse("[2001:db8::1]:443", "x") == ("2001:db8::1", 443)


def test_one_server_name_with_different_addresses_is_an_error() -> None:
    name = "server.dc9.peering.a.consul"
    mesh = control_plane_mesh(
        [],
        peers=[
            peer("peer-a", server_name=name, server_addresses=["198.51.100.1:8503"]),
            peer(
                "peer-a2", partition="ap1", server_name=name, server_addresses=["198.51.100.2:8503"]
            ),
        ],
    )
    with pytest.raises(TranslationError, match="'peer-a' and 'peer-a2' have the same server_name"):
        translate("mesh-gateway", mesh)


# =========================================================================== 4. partitions


@pytest.mark.envoy
def test_partition_gateway_routes_to_another_partition_of_its_datacenter() -> None:
    catalog = [
        remote_gw("dc1", "ap1-gw", "198.18.0.21", partition="ap1"),
        remote_gw("dc1", "ap2-gw", "198.18.0.22", partition="ap2"),
        remote_gw("dc2", "dc2-gw", "198.18.2.1"),  # other datacenters: default partition only
    ]
    out = run(make_mesh(gateway(partition="ap1"), catalog=catalog))
    ap2 = f"ap2.dc1.internal-v1.{TD}"
    assert chains(out) == [
        ((f"*.{ap2}",), ap2, "mesh_gateway_remote.default.ap2.dc1"),
        ((), "", "mesh_gateway_local.default"),
    ]
    assert hosts(by_name(out["endpoints"], ap2)) == [("198.18.0.22", 443, HEALTHY, 1)]


@pytest.mark.envoy
def test_services_exported_to_a_partition_resolve_through_both_gateways() -> None:
    """A sidecar in ap1 (mode local) dials api of ap2: its SNI matches the ap1 gateway's
    chain for ap2, and the ap2 gateway has a cluster of that name."""
    catalog = [
        remote_gw("dc1", "ap1-gw", "10.0.0.21", partition="ap1"),
        {**remote_gw("dc1", "ap2-gw", "10.0.0.22", partition="ap2"), "node": "ap2-gw"},
        sidecar("api", "n2", "10.0.2.1", partition="ap2"),
    ]
    export_to_ap1 = {
        "kind": "exported-services",
        "name": "ap2",
        "partition": "ap2",
        "services": [{"name": "api", "consumers": [{"partition": "ap1"}]}],
    }
    web = {
        "kind": "connect-proxy",
        "name": "web-sidecar-proxy",
        "port": 21000,
        "partition": "ap1",
        "proxy": {
            "destination_service_name": "web",
            "local_service_port": 8080,
            "mesh_gateway": {"mode": "local"},
            "upstreams": [
                {"destination_name": "api", "destination_partition": "ap2", "local_bind_port": 9191}
            ],
        },
    }
    gw_ap1 = gateway(partition="ap1", address="10.0.0.21")
    gw_ap2 = {**gateway(partition="ap2", address="10.0.0.22"), "name": "mesh-gateway-ap2"}
    mesh = make_mesh(gw_ap1, services=[gw_ap2, web], catalog=catalog, entries=[export_to_ap1])
    side = translate(mesh.service("web-sidecar-proxy"), mesh)
    (upstream,) = [c for c in side["clusters"] if c["name"] != "local_app"]
    sent = upstream["transport_socket"]["typed_config"]["sni"]
    assert sent == f"api.default.ap2.dc1.internal-v1.{TD}"
    ap1_out = run(mesh, "mesh-gateway")
    ((match, _, _),) = [c for c in chains(ap1_out) if c[1] == f"ap2.dc1.internal-v1.{TD}"]
    assert match[0].startswith("*.") and sent.endswith(match[0][1:])  # Envoy's wildcard
    ap2_out = run(mesh, "mesh-gateway-ap2")
    assert sent in cluster_names(ap2_out)
    assert hosts(by_name(ap2_out["endpoints"], sent)) == [("10.0.2.1", 2222, HEALTHY, 1)]
    # A partition consumer adds no peer chain.
    assert not any(c[2].startswith("mesh_gateway_local_peered") for c in chains(ap2_out))


# =========================================================================== all at once


def everything_mesh() -> Mesh:
    return make_mesh(
        gateway(meta=WANFED),
        catalog=[
            remote_gw("dc2", "dc2-gw", "198.18.2.1"),
            remote_gw("dc3", "dc3-gw", "198.18.3.1"),
            sidecar("api", "n1", "10.0.1.1"),
            sidecar("web", "n2", "10.0.1.2"),
            peering_server("s1", "10.0.0.1"),
            peering_server("s2", "10.0.0.2", read_replica="true"),
        ],
        entries=[mesh_entry(), exported(("web", ["peer-b"]), ("api", ["peer-a"]))],
        peers=[
            peer(
                "peer-b",
                server_name="server.dc9.peering.b.consul",
                server_addresses=["198.51.100.2:8503"],
            ),
            peer(
                "peer-a",
                server_name="server.dc8.peering.a.consul",
                server_addresses=["198.51.100.1:8503"],
                gateways=[{"address": "203.0.113.1", "port": 443}],
                services=[{"name": "db"}],
            ),
        ],
    )


@pytest.mark.envoy
def test_chain_order_with_every_scenario_at_once() -> None:
    out = run(everything_mesh())
    assert [c[2] for c in chains(out)] == [
        "mesh_gateway_local_peered.api.default.default.dc1",  # 1. exported, sorted
        "mesh_gateway_local_peered.web.default.default.dc1",
        "mesh_gateway_remote.default.dc2",  # 2. remote datacenters
        "mesh_gateway_remote.default.dc3",
        "mesh_gateway_remote.default.dc2",  # 3. WAN federation, remote servers
        "mesh_gateway_remote.default.dc3",
        "mesh_gateway_local_server.default.dc1",  # 4. WAN federation, local servers
        "mesh_gateway_local_server.default.dc1",
        "mesh_gateway_local_peering_server.default.dc1",  # 5. peering control plane
        "mesh_gateway_remote_peering_servers.server.dc8.peering.a.consul",  # 6. sorted
        "mesh_gateway_remote_peering_servers.server.dc9.peering.b.consul",
        "mesh_gateway_local.default",  # catch-all
    ]
    assert [c[1] for c in chains(out)][4:8] == [
        "server.dc2.consul",
        "server.dc3.consul",
        "s1.server.dc1.consul",
        "s2.server.dc1.consul",  # WAN federation reaches read replicas too
    ]
    assert primary_sni("db") in cluster_names(out)
    static = translate("mesh-gateway", everything_mesh(), endpoints="static")
    assert static["endpoints"] == []


def test_every_listener_gets_every_chain() -> None:
    mesh = make_mesh(
        gateway(
            {"envoy_gateway_bind_tagged_addresses": True},
            tagged={"lan": ("10.0.0.5", 8443)},
            meta=WANFED,
        ),
        catalog=[remote_gw("dc2", "gw", "198.18.2.1"), peering_server("s1", "10.0.0.1")],
        entries=[mesh_entry()],
    )
    out = translate("mesh-gateway", mesh)
    assert [[p for p in stat_prefixes(listener)] for listener in out["listeners"]] == [
        [
            f"mesh_gateway_remote.{bind}.dc2",
            f"mesh_gateway_remote.{bind}.dc2",
            f"mesh_gateway_local_server.{bind}.dc1",
            f"mesh_gateway_local_peering_server.{bind}.dc1",
            f"mesh_gateway_local.{bind}",
        ]
        for bind in ("default", "lan")
    ]


# =========================================================================== collisions


def test_peer_server_name_equal_to_a_wan_federation_server_name_is_an_error() -> None:
    mesh = make_mesh(
        gateway(meta=WANFED),
        catalog=[peering_server("s1", "10.0.0.1")],
        entries=[mesh_entry()],
        peers=[
            peer(
                "peer-a", server_name="s1.server.dc1.consul", server_addresses=["198.51.100.1:8503"]
            )
        ],
    )
    with pytest.raises(
        TranslationError, match=r"two filter chains .* match SNI 's1\.server\.dc1\.consul'"
    ):
        translate("mesh-gateway", mesh)


def test_peer_server_name_equal_to_an_exported_sni_is_an_error() -> None:
    mesh = exporting_mesh(
        mesh_entry(),
        exported(("api", ["peer-a"])),
        peers=[
            peer(
                "peer-a",
                server_name=peered_sni("api", "peer-a"),
                server_addresses=["198.51.100.1:8503"],
            )
        ],
    )
    with pytest.raises(TranslationError, match="two filter chains"):
        translate("mesh-gateway", mesh)


def test_imported_cluster_named_like_a_local_one_is_an_error() -> None:
    # A peer whose names make its PrimarySNI equal to a peer server name.
    name = primary_sni("db")
    mesh = control_plane_mesh(
        [],
        peers=[
            peer(
                "peer-a",
                gateways=[{"address": "203.0.113.1", "port": 443}],
                services=[{"name": "db"}],
            ),
            peer("peer-b", server_name=name, server_addresses=["198.51.100.1:8503"]),
        ],
    )
    with pytest.raises(TranslationError, match="two clusters"):
        translate("mesh-gateway", mesh)


# =========================================================================== cost


def test_scenarios_cost_nothing_when_unused(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the meta, a mesh entry or peers, no server is even looked up."""

    def boom(*args: Any) -> Any:
        raise AssertionError("consul_servers called")

    monkeypatch.setattr(gateway_wanfed, "consul_servers", boom)
    monkeypatch.setattr(gateway_peering, "consul_servers", boom)
    mesh = make_mesh(
        gateway(),
        catalog=[
            remote_gw("dc2", "gw", "198.18.2.1"),
            sidecar("api", "n1", "10.0.1.1"),
            peering_server("s1", "10.0.0.1"),
        ],
        entries=[mesh_entry(False)],
    )
    plan = plan_gateway(mesh.service("mesh-gateway"), mesh)
    assert plan.wan_federation is None and plan.peering is None
    assert names(translate("mesh-gateway", mesh)["clusters"]) == [sni("api"), dc_sni("dc2")]


# =========================================================================== docs


def _doc_text() -> str:
    return (DOCS / "scenarios.md").read_text(encoding="utf-8")


def _doc_hcl_blocks() -> dict[str, str]:
    """The HCL blocks of docs/scenarios.md, by the file name on their first line."""
    out = {}
    for block in re.findall(r"```hcl\n(.*?)```", _doc_text(), re.S):
        first = block.splitlines()[0]
        match = re.match(r"# (\S+\.hcl) -- ", first)
        assert match, f"HCL block without a '# <name>.hcl -- ...' first line: {first!r}"
        out[match.group(1)] = block
    return out


def _doc_output(file: str, registration: str, *, check: bool = False) -> Out:
    mesh = meshgw.loads(_doc_hcl_blocks()[file], format="hcl", name=file)
    service = mesh.service(registration)
    if service.kind == "connect-proxy":
        return translate(service, mesh)
    return run(mesh, registration) if check else translate(registration, mesh)


@pytest.mark.envoy
@pytest.mark.parametrize(
    ("file", "registration", "expected"),
    [
        ("wan-services.hcl", "mesh-gateway", ["*.dc2.internal."]),
        ("wan-federation.hcl", "mesh-gateway", ["*.server.dc2.consul", "node-a.server.dc1.consul"]),
        ("wan-federation-secondary.hcl", "mesh-gateway", ["*.server.dc1.consul"]),
        ("peering-exporter.hcl", "mesh-gateway", ["payments.default.default.cluster-02.external."]),
        ("peering-importer.hcl", "mesh-gateway", ["payments.default.default.cluster-02.external."]),
        (
            "peering-control-plane.hcl",
            "mesh-gateway",
            ["server.dc1.peering.7c2f", "server.dc3.peering."],
        ),
        ("partitions.hcl", "mesh-gateway-ap1", ["*.ap2.dc1.internal-v1."]),
    ],
)
def test_docs_scenarios_translate(file: str, registration: str, expected: list[str]) -> None:
    """Each scenario's mesh file loads, translates and Envoy accepts the gateway's output."""
    text = repr(_doc_output(file, registration, check=True))
    for piece in expected:
        assert piece in text, piece


def test_docs_peering_path_is_consistent() -> None:
    """The importer's sidecar sends what the importer's gateway has a cluster for, and
    the exporter's gateway has a chain for it."""
    side = _doc_output("peering-importer.hcl", "web-sidecar-proxy")
    (upstream,) = [c for c in side["clusters"] if c["name"] != "local_app"]
    sent = upstream["transport_socket"]["typed_config"]["sni"]
    assert sent in cluster_names(_doc_output("peering-importer.hcl", "mesh-gateway"))
    exporter = _doc_output("peering-exporter.hcl", "mesh-gateway")
    assert (sent,) in [c[0] for c in chains(exporter)]


def test_docs_excerpts_are_real_output() -> None:
    """Every JSON excerpt in docs/scenarios.md marked ``<!-- from: <file> <registration>
    <chains|clusters|endpoints> -->`` is exactly a part of what meshgw emits."""
    found = re.findall(
        r"<!-- from: (\S+) (\S+) (chains|clusters|endpoints) -->\n```json\n(.*?)```",
        _doc_text(),
        re.S,
    )
    assert len(found) >= 15
    for file, registration, kind, excerpt in found:
        out = _doc_output(file, registration)
        pool = out["listeners"][0]["filter_chains"] if kind == "chains" else out[kind]
        assert json.loads(excerpt) in pool, f"{file} {registration} {kind}: {excerpt[:200]}"
