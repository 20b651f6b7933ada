"""Every accepted input form loads, and equivalent forms give equal models.

Fixtures under tests/fixtures/load/ are real files written the way Consul users write them
(agent configuration files, ``consul config write`` files) or shaped exactly like what
Consul's HTTP API takes and returns. HCL and JSON side by side must give equal models.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import attrs
import pytest

import meshgw
from meshgw import GatewayMode, Mesh, ServiceAddress, ServiceKind
from meshgw.model._options import gateway_options
from meshgw.model.entries import (
    ExportedServices,
    MeshConfigEntry,
    OtherConfigEntry,
    ProxyDefaults,
    ServiceDefaults,
    ServiceIntentions,
    ServiceResolver,
)

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "load"
PAIRS = FIXTURES / "pairs"


def load(*names: str) -> Mesh:
    return meshgw.load(*(FIXTURES / name for name in names))


def read_json(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def assert_same_mesh(a: Mesh, b: Mesh) -> None:
    assert a.services == b.services
    assert a.config_entries == b.config_entries
    assert a.catalog == b.catalog
    assert a.peers == b.peers
    assert a == b


# --- HCL and JSON side by side --------------------------------------------------------

PAIR_CASES = [
    ("web-sidecar.hcl", "web-sidecar.json"),
    ("services-list.hcl", "services-list.json"),
    ("services-blocks.hcl", "services-list.json"),
    ("mesh-gateway.hcl", "mesh-gateway.json"),
    ("connect-proxy.hcl", "connect-proxy.json"),
    ("proxy-defaults.hcl", "proxy-defaults.json"),
    ("service-defaults-web.hcl", "service-defaults-web.json"),
    ("service-resolver-api.hcl", "service-resolver-api.json"),
    ("service-resolver-billing.hcl", "service-resolver-billing.json"),
    ("exported-services.hcl", "exported-services.json"),
    ("mesh-entry.hcl", "mesh-entry.json"),
    ("service-intentions.hcl", "service-intentions.json"),
    ("bootstrap.hcl", "bootstrap.json"),
    ("mesh-file.hcl", "mesh-file.json"),
    ("agent-full.hcl", "agent-full.json"),
]


@pytest.mark.parametrize(("hcl", "json_name"), PAIR_CASES, ids=[p[0] for p in PAIR_CASES])
def test_hcl_and_json_give_equal_models(hcl: str, json_name: str) -> None:
    from_hcl = meshgw.load(PAIRS / hcl)
    from_json = meshgw.load(PAIRS / json_name)
    assert from_hcl.services or from_hcl.config_entries or from_hcl.catalog
    assert_same_mesh(from_hcl, from_json)


@pytest.mark.parametrize(("hcl", "json_name"), PAIR_CASES, ids=[p[0] for p in PAIR_CASES])
def test_loads_and_from_dict_agree_with_load(hcl: str, json_name: str) -> None:
    by_path = meshgw.load(PAIRS / json_name)
    text = (PAIRS / json_name).read_text(encoding="utf-8")
    assert_same_mesh(meshgw.loads(text, format="json"), by_path)
    assert_same_mesh(meshgw.loads(text), by_path)  # format guessed from the text
    assert_same_mesh(Mesh.from_dict(json.loads(text)), by_path)
    hcl_text = (PAIRS / hcl).read_text(encoding="utf-8")
    assert_same_mesh(meshgw.loads(hcl_text, format="hcl", name=hcl), by_path)


# --- 1. agent service definitions -----------------------------------------------------


def test_sidecar_service_is_expanded_like_consul_agent() -> None:
    mesh = meshgw.load(PAIRS / "web-sidecar.hcl")
    assert [s.id for s in mesh.services] == ["web-1", "web-1-sidecar-proxy"]

    parent = mesh.service("web-1")
    assert parent.kind is ServiceKind.TYPICAL
    assert parent.connect is not None
    assert parent.connect.sidecar_service is None  # the nested definition is dropped

    sidecar = mesh.service("web-1-sidecar-proxy")
    assert sidecar.kind is ServiceKind.CONNECT_PROXY
    assert sidecar.name == "web-sidecar-proxy"
    assert sidecar.port == 21000  # first port of Consul's sidecar range
    assert sidecar.address == "10.1.1.10"  # the parent's
    assert sidecar.tags == ("v1", "primary")
    assert sidecar.meta == {"version": "2.1.0"}
    assert sidecar.token == "2d6d5b3c-0f6a-4c9e-9d0c-6c0b1c8e4a11"
    assert sidecar.proxy is not None
    assert sidecar.proxy.destination_service_name == "web"
    assert sidecar.proxy.destination_service_id == "web-1"
    assert sidecar.proxy.local_service_address == "127.0.0.1"
    assert sidecar.proxy.local_service_port == 8080
    assert sidecar.proxy.mesh_gateway.mode is GatewayMode.LOCAL
    assert sidecar.proxy.config == {"protocol": "http"}
    api, payments = sidecar.upstreams
    assert (api.destination_name, api.datacenter, api.local_bind_port) == ("api", "dc2", 9191)
    assert api.mode is GatewayMode.DEFAULT
    assert api.bind_address == "127.0.0.1"
    assert (payments.destination_peer, payments.mode) == ("cluster-02", GatewayMode.REMOTE)
    # Two default checks, as Consul's agent adds when the sidecar defines none.
    assert [c.name for c in sidecar.checks] == [
        "Connect Sidecar Listening",
        "Connect Sidecar Aliasing web-1",
    ]
    assert sidecar.checks[1].definition.alias_service == "web-1"
    assert sidecar.checks[0].definition.tcp.endswith(":21000")


def test_sidecar_ports_are_assigned_in_load_order() -> None:
    mesh = meshgw.load(PAIRS / "services-list.hcl")
    ports = {s.id: s.port for s in mesh.services}
    assert ports == {
        "api": 9090,
        "api-sidecar-proxy": 21000,
        "billing": 9091,
        "billing-sidecar-proxy": 21001,  # the next free one
        "db": 5432,
        "db-sidecar-proxy": 21500,  # a sidecar with its own port keeps it
    }
    db_proxy = mesh.service("db-sidecar-proxy").proxy
    assert db_proxy is not None
    assert db_proxy.local_service_port == 5432


def test_sidecar_port_skips_ports_other_services_use() -> None:
    mesh = meshgw.loads(
        """
services {
  name = "legacy-proxy"
  kind = "connect-proxy"
  port = 21000
  proxy { destination_service_name = "legacy" }
}
services {
  name = "web"
  port = 8080
  connect { sidecar_service {} }
}
""",
        format="hcl",
    )
    assert mesh.service("web-sidecar-proxy").port == 21001


def test_sidecar_of_a_socket_service_uses_the_socket() -> None:
    mesh = meshgw.loads(
        json.dumps(
            {
                "service": {
                    "name": "db",
                    "socket_path": "/run/db.sock",
                    "connect": {"sidecar_service": {"name": "db-proxy", "port": 21444}},
                }
            }
        ),
        format="json",
    )
    sidecar = mesh.service("db-sidecar-proxy")
    assert sidecar.name == "db-proxy"  # a name given is kept; the id never changes
    assert sidecar.port == 21444
    assert sidecar.proxy is not None
    assert sidecar.proxy.local_service_socket_path == "/run/db.sock"
    assert sidecar.proxy.local_service_address == ""
    assert sidecar.proxy.local_service_port == 0


def test_sidecar_own_settings_win_over_inherited_ones() -> None:
    mesh = meshgw.loads(
        """
service {
  name    = "web"
  port    = 8080
  address = "10.1.1.10"
  tags    = ["parent"]
  meta    = { owner = "parent" }
  token   = "parent-token"
  connect {
    sidecar_service {
      address = "10.1.1.11"
      tags    = ["sidecar"]
      meta    = { owner = "sidecar" }
      token   = "sidecar-token"
      proxy {
        local_service_address = "10.1.1.10"
        local_service_port    = 8081
      }
    }
  }
}
""",
        format="hcl",
    )
    sidecar = mesh.service("web-sidecar-proxy")
    assert sidecar.address == "10.1.1.11"
    assert sidecar.tags == ("sidecar",)
    assert sidecar.meta == {"owner": "sidecar"}
    assert sidecar.token == "sidecar-token"
    assert sidecar.proxy is not None
    assert sidecar.proxy.local_service_address == "10.1.1.10"
    assert sidecar.proxy.local_service_port == 8081


def test_sidecar_default_check_uses_the_inherited_address() -> None:
    mesh = meshgw.load(PAIRS / "web-sidecar.hcl")
    assert mesh.service("web-1-sidecar-proxy").checks[0].definition.tcp == "10.1.1.10:21000"


def test_services_list_and_blocks_build_the_same_list() -> None:
    blocks = meshgw.load(PAIRS / "services-blocks.hcl")
    listed = meshgw.load(PAIRS / "services-list.hcl")
    assert [s.id for s in blocks.services] == [s.id for s in listed.services]
    assert_same_mesh(blocks, listed)


def test_mesh_gateway_registration() -> None:
    gw = meshgw.load(PAIRS / "mesh-gateway.hcl").service("mesh-gateway")
    assert gw.kind is ServiceKind.MESH_GATEWAY
    assert gw.is_gateway
    assert (gw.port, gw.address) == (8443, "10.1.0.5")
    assert gw.tagged_addresses == {
        "lan": ServiceAddress("10.1.0.5", 8443),
        "wan": ServiceAddress("198.18.1.5", 443),
    }
    assert gw.wan_address() == ServiceAddress("198.18.1.5", 443)
    assert gw.meta == {"consul-wan-federation": "1"}
    assert gw.proxy is not None
    options = gateway_options(gw.proxy.config)
    assert options.bind_tagged_addresses
    assert options.no_default_bind
    assert options.connect_timeout_ms == 5000
    assert options.dns_discovery_type == "STRICT_DNS"
    assert [c.definition.tcp for c in gw.checks] == ["10.1.0.5:8443"]


def test_connect_proxy_registration_with_upstream_modes() -> None:
    proxy_svc = meshgw.load(PAIRS / "connect-proxy.hcl").service("web-sidecar-proxy")
    assert proxy_svc.kind is ServiceKind.CONNECT_PROXY
    assert proxy_svc.is_sidecar
    assert proxy_svc.port == 8181
    assert proxy_svc.proxy is not None
    assert proxy_svc.proxy.destination_service_name == "web"
    assert proxy_svc.proxy.local_service_port == 9090
    assert proxy_svc.proxy.mesh_gateway.mode is GatewayMode.REMOTE
    assert [(u.destination_name, u.local_bind_port, u.mode) for u in proxy_svc.upstreams] == [
        ("api", 10000, GatewayMode.LOCAL),
        ("db", 10001, GatewayMode.REMOTE),
        ("redis", 10002, GatewayMode.NONE),
    ]


# --- 2. HTTP API shapes -----------------------------------------------------------------


def test_agent_register_payload_mesh_gateway() -> None:
    mesh = load("agent-register-mesh-gateway.json")
    (gw,) = mesh.services
    assert (gw.kind, gw.id, gw.name, gw.port) == (
        ServiceKind.MESH_GATEWAY,
        "mesh-gateway-1",
        "mesh-gateway",
        8443,
    )
    assert gw.tagged_addresses["wan"] == ServiceAddress("203.0.113.7", 443)
    assert gw.meta == {"consul-wan-federation": "1"}
    assert gw.proxy is not None
    assert gw.proxy.config["envoy_gateway_bind_tagged_addresses"] is True
    (check,) = gw.checks
    assert (
        check.definition.tcp,
        check.definition.interval,
        check.definition.deregister_critical_service_after,
    ) == (
        "10.1.0.5:8443",
        "10s",
        "6h",
    )
    assert mesh.service("mesh-gateway") is gw


def test_agent_register_payload_with_sidecar() -> None:
    # PUT /v1/agent/service/register: PascalCase, a single `Check`, `Connect.SidecarService`.
    mesh = load("agent-register-web.json")
    web = mesh.service("web-1")
    assert (web.name, web.port, web.address, web.tags) == (
        "web",
        8080,
        "10.1.1.10",
        ("primary", "v1"),
    )
    assert web.meta == {"version": "2.1.0"}
    assert web.weights is not None
    assert (web.weights.passing, web.weights.warning) == (10, 1)
    assert [
        (c.definition.http, c.definition.interval, c.definition.timeout) for c in web.checks
    ] == [("http://10.1.1.10:8080/health", "10s", "1s")]
    sidecar = mesh.service("web-1-sidecar-proxy")
    assert (sidecar.name, sidecar.kind, sidecar.port) == (
        "web-sidecar-proxy",
        ServiceKind.CONNECT_PROXY,
        21000,
    )
    assert sidecar.proxy is not None
    assert (sidecar.proxy.destination_service_name, sidecar.proxy.local_service_port) == (
        "web",
        8080,
    )
    assert sidecar.proxy.mesh_gateway.mode is GatewayMode.LOCAL
    assert [
        (u.destination_name, u.datacenter, u.destination_peer, u.mode) for u in sidecar.upstreams
    ] == [
        ("api", "dc2", "", GatewayMode.DEFAULT),
        ("payments", "", "cluster-02", GatewayMode.REMOTE),
    ]
    # The same definition under an agent configuration file's `service` key, and with
    # `Checks` as a list, gives the same registrations.
    payload = read_json("agent-register-web.json")
    assert_same_mesh(Mesh.from_dict({"service": payload}), mesh)
    payload["Checks"] = [payload.pop("Check")]
    assert_same_mesh(Mesh.from_dict(payload), mesh)


def test_catalog_register_payload() -> None:
    mesh = load("catalog-register-gateway.json")
    assert mesh.services == ()
    (entry,) = mesh.catalog
    assert (entry.node, entry.address, entry.datacenter) == ("dc2-gw-1", "10.2.0.5", "dc2")
    assert entry.id == "b78f2a3c-7b2a-4c55-9a5e-1d5b7a1f0c2e"
    assert entry.tagged_addresses == {"lan": "10.2.0.5", "wan": "198.18.2.5"}
    assert entry.node_meta == {"rack": "r7"}
    svc = entry.service
    assert svc is not None
    assert (svc.kind, svc.name, svc.id, svc.port) == (
        ServiceKind.MESH_GATEWAY,
        "mesh-gateway",
        "mesh-gateway",
        8443,
    )
    assert svc.meta == {"consul-wan-federation": "1"}
    assert entry.best_address(wan=True) == ServiceAddress("198.18.2.5", 443)
    assert [(c.id, c.status, c.service_id) for c in entry.checks] == [
        ("service:mesh-gateway", "passing", "mesh-gateway")
    ]
    assert entry.checks[0].definition.tcp == "10.2.0.5:8443"
    assert entry.status == "passing"
    payload = read_json("catalog-register-gateway.json")
    payload["Checks"] = [payload.pop("Check")]
    assert_same_mesh(Mesh.from_dict(payload), mesh)


def test_agent_service_response() -> None:
    # GET /v1/agent/service/web-sidecar-proxy as Consul returns it: `Service` is the
    # name, `Datacenter`, `ContentHash` and `"Tags": null` are there.
    mesh = load("agent-service-web-sidecar-proxy.json")
    (svc,) = mesh.services
    assert (svc.kind, svc.id, svc.name, svc.port, svc.address) == (
        ServiceKind.CONNECT_PROXY,
        "web-sidecar-proxy",
        "web-sidecar-proxy",
        21000,
        "10.1.1.10",
    )
    assert svc.datacenter == "dc1"
    assert svc.tags == ()
    assert svc.meta == {"version": "v2"}
    assert svc.weights is not None
    assert (svc.weights.passing, svc.weights.warning) == (1, 1)
    assert svc.tagged_addresses["lan_ipv4"] == ServiceAddress("10.1.1.10", 21000)
    proxy = svc.proxy
    assert proxy is not None
    assert (proxy.destination_service_name, proxy.destination_service_id) == ("web", "web")
    assert (proxy.local_service_address, proxy.local_service_port) == ("127.0.0.1", 8080)
    assert proxy.mesh_gateway.mode is GatewayMode.LOCAL
    assert proxy.config == {"protocol": "http"}
    assert [
        (u.destination_name, u.datacenter, u.destination_peer, u.mode) for u in svc.upstreams
    ] == [
        ("api", "dc2", "", GatewayMode.REMOTE),
        ("payments", "", "cluster-02", GatewayMode.DEFAULT),
    ]
    assert mesh.catalog == ()
    assert mesh.datacenter == "dc1"


def test_null_lists_and_maps_are_empty() -> None:
    # Consul's API writes null for empty lists and maps; Go reads it as empty.
    mesh = Mesh.from_dict(
        {
            "Name": "web",
            "Port": 8080,
            "Tags": None,
            "Meta": None,
            "Proxy": {"Config": None, "Upstreams": None},
        }
    )
    web = mesh.service("web")
    assert (web.tags, web.meta) == ((), {})
    assert web.proxy is not None
    assert (web.proxy.config, web.proxy.upstreams) == ({}, ())


def test_single_check_object_in_json_agent_file() -> None:
    # Consul's `check` (one object) next to `checks` (a list), in a JSON agent file.
    mesh = meshgw.loads(
        json.dumps({"service": {"name": "web", "port": 80, "check": {"tcp": "127.0.0.1:80"}}}),
        format="json",
    )
    assert [c.definition.tcp for c in mesh.service("web").checks] == ["127.0.0.1:80"]


def test_catalog_service_response() -> None:
    mesh = load("catalog-service-api.json")
    assert mesh.services == ()
    first, second = mesh.catalog
    assert (first.node, first.address, first.datacenter) == ("dc2-app-1", "10.2.1.10", "dc2")
    assert first.id == "40e4a748-2192-161a-0510-9bf59fe950b5"
    assert first.node_meta == {"consul-network-segment": "", "rack": "r1"}
    assert first.tagged_addresses["wan"] == "198.18.2.10"
    svc = first.service
    assert svc is not None
    assert (svc.kind, svc.name, svc.id, svc.port, svc.address) == (
        ServiceKind.TYPICAL,
        "api",
        "api-1",
        9090,
        "10.2.1.10",
    )
    assert svc.tags == ("v1",)
    assert svc.meta == {"version": "1.4.2"}
    assert svc.tagged_addresses["wan_ipv4"] == ServiceAddress("198.18.2.10", 9090)
    assert svc.weights is not None
    assert svc.weights.passing == 1
    assert second.service is not None
    assert (second.service.id, second.service.port, second.service.address) == ("api-2", 9091, "")
    assert second.best_address(wan=False) == ServiceAddress("10.2.1.11", 9091)
    assert first.status == second.status == "passing"  # no checks in this response


def test_health_service_response() -> None:
    mesh = load("health-service-api.json")
    first, second = mesh.catalog
    assert (first.node, first.address, first.datacenter) == ("dc2-app-1", "10.2.1.10", "dc2")
    assert first.node_meta == {"consul-network-segment": "", "instance_type": "t2.medium"}
    assert first.tagged_addresses["wan"] == "198.18.2.10"
    assert first.service is not None
    assert (first.service.name, first.service.id, first.service.port) == ("api", "api-1", 9090)
    assert first.service.kind is ServiceKind.TYPICAL
    assert first.service.tags == ("primary", "v1")
    assert first.service.meta == {"version": "1.4.2"}
    assert first.service.weights is not None
    assert first.service.weights.passing == 10
    assert first.service.tagged_addresses["wan_ipv4"] == ServiceAddress("198.18.2.10", 9090)
    assert [(c.id, c.status) for c in first.checks] == [
        ("serfHealth", "passing"),
        ("service:api-1", "passing"),
    ]
    assert first.checks[1].service_tags == ("primary", "v1")
    assert first.status == "passing"
    assert [(c.id, c.status, c.output[:9]) for c in second.checks] == [
        ("serfHealth", "passing", "Agent ali"),
        ("service:api-2", "critical", "dial tcp "),
    ]
    assert second.status == "critical"
    assert second.best_address(wan=True) == ServiceAddress("10.2.1.11", 9091)


def test_catalog_service_id_defaults_to_its_name() -> None:
    mesh = Mesh.from_dict(
        {
            "Node": "n1",
            "Address": "10.0.0.1",
            "Service": {"Service": "api", "Port": 9090},
            "Checks": [{"CheckID": "service:api", "ServiceID": "api", "Status": "critical"}],
        }
    )
    (entry,) = mesh.catalog
    assert entry.service is not None
    assert entry.service.id == "api"
    assert entry.status == "critical"


# --- 3. config entries --------------------------------------------------------------------


def test_proxy_defaults_entry() -> None:
    (entry,) = meshgw.load(PAIRS / "proxy-defaults.hcl").config_entries
    assert isinstance(entry, ProxyDefaults)
    assert (entry.kind, entry.name) == ("proxy-defaults", "global")
    assert entry.mesh_gateway.mode is GatewayMode.LOCAL
    assert entry.config == {
        "protocol": "http",
        "envoy_gateway_bind_tagged_addresses": True,
        "connect_timeout_ms": 5000,
    }


def test_service_defaults_entry_with_upstream_config() -> None:
    mesh = meshgw.load(PAIRS / "service-defaults-web.hcl")
    (entry,) = mesh.config_entries
    assert isinstance(entry, ServiceDefaults)
    assert mesh.service_defaults("web") is entry
    assert (entry.name, entry.protocol, entry.mesh_gateway.mode) == (
        "web",
        "http",
        GatewayMode.REMOTE,
    )
    uc = entry.upstream_config
    assert uc is not None
    defaults = uc.defaults
    assert defaults is not None
    assert defaults.mesh_gateway.mode is GatewayMode.LOCAL
    assert defaults.connect_timeout_ms == 5000
    assert defaults.limits is not None
    assert (
        defaults.limits.max_connections,
        defaults.limits.max_pending_requests,
        defaults.limits.max_concurrent_requests,
    ) == (512, 512, 512)
    phc = defaults.passive_health_check
    assert phc is not None
    assert (phc.interval, phc.max_failures, phc.enforcing_consecutive_5xx) == (10 * 10**9, 5, 100)
    api, payments = uc.overrides
    assert (api.name, api.mesh_gateway.mode, api.connect_timeout_ms) == (
        "api",
        GatewayMode.NONE,
        2500,
    )
    assert (payments.name, payments.peer, payments.mesh_gateway.mode) == (
        "payments",
        "cluster-02",
        GatewayMode.REMOTE,
    )


def test_service_resolver_with_subsets_and_failover() -> None:
    mesh = meshgw.load(PAIRS / "service-resolver-api.hcl")
    (entry,) = mesh.config_entries
    assert isinstance(entry, ServiceResolver)
    assert mesh.service_resolver("api") is entry
    assert entry.default_subset == "v1"
    assert entry.connect_timeout == 15_000_000_000  # "15s" in nanoseconds
    assert entry.subsets["v1"].filter == "Service.Meta.version == v1"
    assert entry.subsets["v2"].only_passing
    assert entry.failover["*"].datacenters == ("dc2", "dc3")
    peer_target, dc_target = entry.failover["v2"].targets
    assert peer_target.peer == "cluster-02"
    assert (dc_target.datacenter, dc_target.service_subset) == ("dc3", "v2")
    assert entry.redirect is None


def test_service_resolver_with_redirect() -> None:
    (entry,) = meshgw.load(PAIRS / "service-resolver-billing.hcl").config_entries
    assert isinstance(entry, ServiceResolver)
    assert entry.redirect is not None
    assert (entry.redirect.service, entry.redirect.datacenter) == ("billing", "dc2")
    assert entry.failover == {}


@pytest.mark.parametrize(
    ("written", "nanoseconds"),
    [
        ('"15s"', 15 * 10**9),
        ('"250ms"', 250 * 10**6),
        ('"1m30s"', 90 * 10**9),
        ("5000000", 5000000),
    ],
)
def test_resolver_durations(written: str, nanoseconds: int) -> None:
    mesh = meshgw.loads(
        f'Kind = "service-resolver"\nName = "api"\nConnectTimeout = {written}\n', format="hcl"
    )
    entry = mesh.service_resolver("api")
    assert entry is not None
    assert entry.connect_timeout == nanoseconds


def test_exported_services_entry() -> None:
    mesh = meshgw.load(PAIRS / "exported-services.hcl")
    (entry,) = mesh.config_entries
    assert isinstance(entry, ExportedServices)
    assert mesh.exported_services() is entry
    (api,) = entry.services
    assert api.name == "api"
    assert [(c.peer, c.partition) for c in api.consumers] == [("cluster-02", ""), ("", "team-b")]


def test_exported_services_consumer_peer_name_alias() -> None:
    mesh = Mesh.from_dict(
        {
            "Kind": "exported-services",
            "Name": "default",
            "Services": [{"Name": "api", "Consumers": [{"PeerName": "cluster-02"}]}],
        }
    )
    entry = mesh.exported_services()
    assert entry is not None
    assert entry.services[0].consumers[0].peer == "cluster-02"


def test_mesh_entry() -> None:
    mesh = meshgw.load(PAIRS / "mesh-entry.hcl")
    (entry,) = mesh.config_entries
    assert isinstance(entry, MeshConfigEntry)
    assert mesh.mesh_entry() is entry
    assert entry.name == "mesh"
    assert entry.peering is not None
    assert entry.peering.peer_through_mesh_gateways


def test_unmodelled_kind_is_kept_verbatim() -> None:
    text = 'Kind = "service-router"\nName = "api"\nRoutes = [{ Match = {} }]\n'
    (entry,) = meshgw.loads(text, format="hcl").config_entries
    assert isinstance(entry, OtherConfigEntry)
    assert (entry.kind, entry.name) == ("service-router", "api")
    assert entry.body["Routes"] == [{"Match": {}}]


def test_service_intentions_are_modelled() -> None:
    (entry,) = meshgw.load(PAIRS / "service-intentions.hcl").config_entries
    assert isinstance(entry, ServiceIntentions)
    assert (entry.kind, entry.name) == ("service-intentions", "api")
    (source,) = entry.sources
    assert (source.name, source.action, source.permissions) == ("web", "allow", ())
    assert source.source is not None and source.source.line == 4


def test_config_entries_bootstrap_in_agent_config() -> None:
    mesh = meshgw.load(PAIRS / "bootstrap.hcl")
    pd, sd, mesh_entry = mesh.config_entries
    assert pd == meshgw.load(PAIRS / "proxy-defaults.hcl").config_entries[0]
    assert mesh_entry == meshgw.load(PAIRS / "mesh-entry.hcl").config_entries[0]
    assert isinstance(sd, ServiceDefaults)
    assert (sd.name, sd.protocol, sd.mesh_gateway.mode) == ("api", "grpc", GatewayMode.REMOTE)
    assert mesh.proxy_defaults() is pd


def test_config_entries_bootstrap_as_repeated_blocks() -> None:
    mesh = meshgw.loads(
        """
config_entries {
  bootstrap {
    kind = "proxy-defaults"
    name = "global"
    mesh_gateway { mode = "local" }
  }
  bootstrap {
    kind     = "service-defaults"
    name     = "api"
    protocol = "grpc"
    mesh_gateway = { mode = "remote" }
  }
}
""",
        format="hcl",
    )
    pd, sd = meshgw.load(PAIRS / "bootstrap.hcl").config_entries[:2]
    assert isinstance(pd, ProxyDefaults)
    assert mesh.config_entries == (attrs.evolve(pd, config={}), sd)


# --- 4. key spelling ----------------------------------------------------------------------

SPELLINGS = {
    "snake": {
        "kind": "kind",
        "name": "name",
        "port": "port",
        "proxy": "proxy",
        "dsn": "destination_service_name",
        "upstreams": "upstreams",
        "dn": "destination_name",
        "dc": "datacenter",
        "lbp": "local_bind_port",
        "mg": "mesh_gateway",
        "mode": "mode",
        "ta": "tagged_addresses",
    },
    "Pascal": {
        "kind": "Kind",
        "name": "Name",
        "port": "Port",
        "proxy": "Proxy",
        "dsn": "DestinationServiceName",
        "upstreams": "Upstreams",
        "dn": "DestinationName",
        "dc": "Datacenter",
        "lbp": "LocalBindPort",
        "mg": "MeshGateway",
        "mode": "Mode",
        "ta": "TaggedAddresses",
    },
    "lowerCamel": {
        "kind": "kind",
        "name": "name",
        "port": "port",
        "proxy": "proxy",
        "dsn": "destinationServiceName",
        "upstreams": "upstreams",
        "dn": "destinationName",
        "dc": "datacenter",
        "lbp": "localBindPort",
        "mg": "meshGateway",
        "mode": "mode",
        "ta": "taggedAddresses",
    },
}


def _spelled_hcl(k: dict[str, str]) -> str:
    return f"""
service {{
  {k["name"]} = "web-sidecar-proxy"
  {k["kind"]} = "connect-proxy"
  {k["port"]} = 21000
  {k["ta"]} = {{ lan = {{ address = "10.0.0.1", port = 21000 }} }}
  {k["proxy"]} {{
    {k["dsn"]} = "web"
    {k["mg"]} {{ {k["mode"]} = "remote" }}
    {k["upstreams"]} = [
      {{
        {k["dn"]} = "api"
        {k["dc"]} = "dc2"
        {k["lbp"]} = 9191
        {k["mg"]} = {{ {k["mode"]} = "local" }}
      }},
    ]
  }}
}}
"""


def _spelled_json(k: dict[str, str]) -> dict[str, Any]:
    return {
        "service": {
            k["name"]: "web-sidecar-proxy",
            k["kind"]: "connect-proxy",
            k["port"]: 21000,
            k["ta"]: {"lan": {"address": "10.0.0.1", "port": 21000}},
            k["proxy"]: {
                k["dsn"]: "web",
                k["mg"]: {k["mode"]: "remote"},
                k["upstreams"]: [
                    {k["dn"]: "api", k["dc"]: "dc2", k["lbp"]: 9191, k["mg"]: {k["mode"]: "local"}}
                ],
            },
        }
    }


def test_key_spellings_give_the_same_model() -> None:
    meshes = []
    for keys in SPELLINGS.values():
        meshes.append(meshgw.loads(_spelled_hcl(keys), format="hcl"))
        meshes.append(meshgw.loads(json.dumps(_spelled_json(keys)), format="json"))
    first = meshes[0]
    up = first.service("web-sidecar-proxy").upstreams[0]
    assert (up.destination_name, up.datacenter, up.local_bind_port, up.mode) == (
        "api",
        "dc2",
        9191,
        GatewayMode.LOCAL,
    )
    for other in meshes[1:]:
        assert_same_mesh(other, first)


def test_http_api_snake_case_aliases() -> None:
    # PUT /v1/agent/service/register accepts both spellings of multi-word fields.
    pascal = Mesh.from_dict(
        {
            "Kind": "connect-proxy",
            "Name": "p",
            "Port": 21000,
            "TaggedAddresses": {"wan": {"Address": "198.18.0.1", "Port": 443}},
            "Proxy": {
                "DestinationServiceName": "web",
                "Upstreams": [{"DestinationName": "api", "LocalBindPort": 9191}],
            },
        }
    )
    snake = Mesh.from_dict(
        {
            "Kind": "connect-proxy",
            "Name": "p",
            "Port": 21000,
            "tagged_addresses": {"wan": {"address": "198.18.0.1", "port": 443}},
            "Proxy": {
                "destination_service_name": "web",
                "Upstreams": [{"destination_name": "api", "local_bind_port": 9191}],
            },
        }
    )
    assert_same_mesh(pascal, snake)


def test_hcl_block_and_attribute_object_are_equal() -> None:
    template = """
service {{
  name = "web-sidecar-proxy"
  kind = "connect-proxy"
  port = 21000
  proxy {{
    destination_service_name = "web"
    {mesh_gateway}
  }}
}}
"""
    block = meshgw.loads(template.format(mesh_gateway='mesh_gateway { mode = "local" }'), "hcl")
    attribute = meshgw.loads(
        template.format(mesh_gateway='mesh_gateway = { mode = "local" }'), "hcl"
    )
    assert_same_mesh(block, attribute)
    proxy = block.service("web-sidecar-proxy").proxy
    assert proxy is not None
    assert proxy.mesh_gateway.mode is GatewayMode.LOCAL


def test_opaque_map_keys_are_kept_as_written() -> None:
    mesh = meshgw.loads(
        """
service {
  name = "web"
  port = 8080
  meta = { Owner_Team = "payments", "build-id" = "42" }
  tagged_addresses = { LAN_Custom = { address = "10.0.0.1", port = 8080 } }
}
""",
        format="hcl",
    )
    web = mesh.service("web")
    assert web.meta == {"Owner_Team": "payments", "build-id": "42"}
    assert list(web.tagged_addresses) == ["LAN_Custom"]


# --- 5. HCL version 1 (Consul's documentation examples) --------------------------------


def test_hcl1_sidecar_with_blocks_inside_upstream_objects() -> None:
    # tests/fixtures/load/pairs/connect-proxy.hcl is the documentation example verbatim
    # in structure: `mesh_gateway { mode = ... }` blocks inside list elements.
    text = (PAIRS / "connect-proxy.hcl").read_text(encoding="utf-8")
    assert "mesh_gateway {" in text
    modes = [u.mode for u in meshgw.loads(text, "hcl").service("web-sidecar-proxy").upstreams]
    assert modes == [GatewayMode.LOCAL, GatewayMode.REMOTE, GatewayMode.NONE]


def test_hcl1_mesh_gateway_documentation_example() -> None:
    from_hcl = load("hcl1/mesh-gateway-doc.hcl")
    from_json = load("hcl1/mesh-gateway-doc.json")
    gw_hcl = from_hcl.service("mesh-gateway")
    gw_json = from_json.service("mesh-gateway")
    assert gw_hcl.meta == {"consul-wan-federation": "1"}
    assert gw_hcl.tagged_addresses == {
        "lan": ServiceAddress("10.0.0.5", 8443),
        "wan": ServiceAddress("203.0.113.7", 443),
    }
    assert gw_hcl.proxy is not None
    assert gw_json.proxy is not None
    # proxy.config is opaque: blocks inside it stay HCL block lists, as in Consul, so
    # only the options read from it compare equal...
    options = gateway_options(gw_hcl.proxy.config)
    assert options == gateway_options(gw_json.proxy.config)
    assert options.bind_tagged_addresses
    assert options.no_default_bind
    assert options.bind_addresses == {"all-interfaces": ServiceAddress("0.0.0.0", 8443)}
    # ...and everything outside it is equal.
    same_config = attrs.evolve(gw_hcl.proxy, config=gw_json.proxy.config)
    assert attrs.evolve(gw_hcl, proxy=same_config) == gw_json


def test_hcl1_comma_separated_block_body_and_block_comments() -> None:
    mesh = meshgw.loads(
        """
service {
  name = "mesh-gateway"
  kind = "mesh-gateway"
  port = /* TLS */ 8443
  tagged_addresses {
    wan { address = "203.0.113.7", port = 443 }
  }
}
""",
        format="hcl",
    )
    gw = mesh.service("mesh-gateway")
    assert gw.port == 8443
    assert gw.tagged_addresses["wan"] == ServiceAddress("203.0.113.7", 443)


def test_hcl_repeated_upstreams_blocks_build_a_list() -> None:
    blocks = meshgw.loads(
        """
service {
  name = "web-sidecar-proxy"
  kind = "connect-proxy"
  port = 8181
  proxy {
    destination_service_name = "web"
    local_service_port       = 9090
    mesh_gateway {
      mode = "remote"
    }
    upstreams {
      destination_name = "api"
      datacenter       = "dc2"
      local_bind_port  = 10000
      mesh_gateway {
        mode = "local"
      }
    }
    upstreams {
      destination_name = "db"
      datacenter       = "dc2"
      local_bind_port  = 10001
      mesh_gateway {
        mode = "remote"
      }
    }
    upstreams {
      destination_name = "redis"
      datacenter       = "dc2"
      local_bind_port  = 10002
      mesh_gateway {
        mode = "none"
      }
    }
  }
}
""",
        format="hcl",
    )
    assert_same_mesh(blocks, meshgw.load(PAIRS / "connect-proxy.json"))


def test_hcl1_resolver_with_quoted_block_names() -> None:
    # Older Consul documentation writes resolver maps as blocks, with "*" as a name.
    blocks = meshgw.loads(
        """
kind = "service-resolver"
name = "api"
default_subset = "v1"
connect_timeout = "15s"
subsets {
  v1 {
    filter = "Service.Meta.version == v1"
  }
  v2 {
    filter       = "Service.Meta.version == v2"
    only_passing = true
  }
}
failover {
  "*" {
    datacenters = ["dc2", "dc3"]
  }
  v2 {
    targets = [
      { peer = "cluster-02" },
      { datacenter = "dc3", service_subset = "v2" },
    ]
  }
}
""",
        format="hcl",
    )
    assert_same_mesh(blocks, meshgw.load(PAIRS / "service-resolver-api.json"))


# --- 6. the mesh file and merging ---------------------------------------------------------


def test_mesh_file_settings() -> None:
    mesh = meshgw.load(PAIRS / "mesh-file.hcl")
    assert (mesh.datacenter, mesh.primary_datacenter, mesh.domain) == ("dc1", "dc1", "consul")
    assert mesh.trust_domain == "7d6c6a53-2b5e-4f8e-9f1d-2a9f1c3b4e5d.consul"
    gw, billing = mesh.catalog
    assert (gw.datacenter, gw.node, gw.address) == ("dc2", "dc2-gw-1", "10.2.0.5")
    assert gw.service is not None
    assert (gw.service.kind, gw.service.name, gw.service.port) == (
        ServiceKind.MESH_GATEWAY,
        "mesh-gateway",
        8443,
    )
    assert gw.best_address(wan=True) == ServiceAddress("198.18.2.5", 443)
    assert gw.status == "passing"
    assert billing.datacenter == "dc1"  # no datacenter: the local one
    assert billing.status == "warning"
    (peer,) = mesh.peers
    assert mesh.peer("cluster-02") is peer
    assert (peer.remote_name, peer.datacenter) == ("cluster-01", "dc1")
    assert peer.gateways == (
        ServiceAddress("203.0.113.20", 443),
        ServiceAddress("203.0.113.21", 443),
    )
    assert [s.name for s in peer.services] == ["payments"]
    assert peer.server_addresses == ("203.0.113.20:8503",)
    assert mesh.tls is not None
    assert mesh.tls.cert_file == "/etc/meshgw/{service}.pem"


def test_defaults_when_nothing_is_set() -> None:
    mesh = meshgw.loads('service {\n  name = "web"\n  port = 8080\n}\n', format="hcl")
    assert mesh.datacenter == "dc1"
    assert mesh.trust_domain == meshgw.model.DEFAULT_TRUST_DOMAIN
    assert mesh.domain == "consul"
    assert mesh.service("web").id == "web"  # id defaults to the name
    assert Mesh.from_dict({}) == Mesh()


def test_several_files_merge_into_one_mesh() -> None:
    merged = meshgw.load(
        PAIRS / "mesh-file.hcl",
        PAIRS / "mesh-gateway.json",
        PAIRS / "proxy-defaults.hcl",
        PAIRS / "web-sidecar.hcl",
    )
    assert merged.datacenter == "dc1"
    assert [s.id for s in merged.services] == ["mesh-gateway", "web-1", "web-1-sidecar-proxy"]
    assert [e.kind for e in merged.config_entries] == ["proxy-defaults"]
    assert len(merged.catalog) == 2
    assert len(merged.peers) == 1
    assert merged.sources == tuple(
        str(PAIRS / n)
        for n in ("mesh-file.hcl", "mesh-gateway.json", "proxy-defaults.hcl", "web-sidecar.hcl")
    )


def test_a_directory_loads_its_files_in_name_order() -> None:
    mesh = load("mesh")
    assert [Path(s).name for s in mesh.sources] == [
        "10-settings.hcl",
        "20-mesh-gateway.json",
        "30-proxy-defaults.hcl",
        "40-health-api.json",
        "50-web.hcl",
    ]
    assert mesh.datacenter == "dc1"  # given twice, with the same value
    assert [s.id for s in mesh.services] == ["mesh-gateway", "web", "web-sidecar-proxy"]
    assert mesh.proxy_defaults() is not None
    assert [(c.node, c.datacenter) for c in mesh.catalog] == [
        ("dc2-app-1", "dc2"),
        ("dc2-app-2", "dc2"),
    ]
    # The same as listing the files.
    files = sorted((FIXTURES / "mesh").iterdir())
    assert_same_mesh(meshgw.load(*files), mesh)


def test_a_setting_given_twice_with_different_values_is_an_error(tmp_path: Path) -> None:
    first = tmp_path / "a.hcl"
    first.write_text('datacenter = "dc1"\ntrust_domain = "a.consul"\n', encoding="utf-8")
    second = tmp_path / "b.json"
    second.write_text('{\n  "trust_domain": "a.consul",\n  "datacenter": "dc2"\n}\n', "utf-8")
    with pytest.raises(meshgw.ValidationError) as info:
        meshgw.load(first, second)
    (problem,) = info.value.problems
    assert (problem.file, problem.line, problem.path) == (str(second), 3, "datacenter")
    assert "dc2" in problem.message
    assert str(first) in problem.message


# --- 7. a full agent configuration ---------------------------------------------------------


def test_full_agent_configuration_loads_and_agent_settings_are_ignored() -> None:
    mesh = meshgw.load(PAIRS / "agent-full.hcl")
    assert (mesh.datacenter, mesh.node_name, mesh.advertise_addr) == ("dc1", "app-1", "10.1.1.10")
    assert mesh.connect.enabled
    assert [s.id for s in mesh.services] == ["web", "web-sidecar-proxy"]
    assert mesh.service("web-sidecar-proxy").upstreams[0].destination_name == "api"


@pytest.mark.parametrize(
    "agent_setting",
    ["connect {\n  enabled = true\n}\n", 'check {\n  id = "mem"\n  ttl = "30s"\n}\n'],
    ids=["connect-block", "agent-check"],
)
def test_agent_file_with_connect_or_check_and_a_service_block(agent_setting: str) -> None:
    mesh = meshgw.loads(
        f'datacenter = "dc1"\n{agent_setting}service {{\n  name = "web"\n  port = 8080\n}}\n',
        format="hcl",
    )
    assert [s.id for s in mesh.services] == ["web"]


def test_server_agent_configuration_with_wan_federation() -> None:
    mesh = meshgw.loads(
        """
server           = true
bootstrap_expect = 3
datacenter       = "dc2"
primary_datacenter = "dc1"
primary_gateways = ["198.18.1.5:443"]
connect {
  enabled                            = true
  enable_mesh_gateway_wan_federation = true
}
""",
        format="hcl",
    )
    assert mesh.datacenter == "dc2"
    assert mesh.primary_gateways == ("198.18.1.5:443",)
    assert mesh.connect.enable_mesh_gateway_wan_federation


# --- 8. the bundled examples ---------------------------------------------------------------


def test_examples_two_dc() -> None:
    mesh = meshgw.load(ROOT / "examples" / "two-dc")
    assert (mesh.datacenter, mesh.primary_datacenter) == ("dc1", "dc1")
    assert mesh.trust_domain == "7d6c6a53-2b5e-4f8e-9f1d-2a9f1c3b4e5d.consul"
    pd = mesh.proxy_defaults()
    assert pd is not None
    assert pd.mesh_gateway.mode is GatewayMode.LOCAL
    gw = mesh.service("mesh-gateway")
    assert gw.kind is ServiceKind.MESH_GATEWAY
    assert gw.wan_address() == ServiceAddress("198.18.1.5", 443)
    web = mesh.service("web-sidecar-proxy")
    assert web.proxy is not None
    assert web.proxy.mesh_gateway.mode is GatewayMode.REMOTE
    assert [(u.destination_name, u.datacenter, u.mode) for u in web.upstreams] == [
        ("api", "dc2", GatewayMode.LOCAL),
        ("db", "dc2", GatewayMode.REMOTE),
        ("redis", "dc2", GatewayMode.NONE),
    ]
    dc2_gateways = [
        c
        for c in mesh.catalog
        if c.datacenter == "dc2" and c.service is not None and c.service.is_gateway
    ]
    assert [c.node for c in dc2_gateways] == ["dc2-gw-1", "dc2-gw-2"]


# --- 9. lookups and inputs that stay untouched ----------------------------------------------


def test_service_lookup_by_id_and_name() -> None:
    mesh = meshgw.load(PAIRS / "web-sidecar.hcl")
    assert mesh.service("web-1") is mesh.service("web")
    assert mesh.service("web-1-sidecar-proxy") is mesh.service("web-sidecar-proxy")
    with pytest.raises(meshgw.LookupFailed) as info:
        mesh.service("api")
    assert isinstance(info.value, KeyError)
    assert isinstance(info.value, meshgw.MeshgwError)
    assert "'api'" in str(info.value)
    assert "web-1" in str(info.value)  # names what is registered


@pytest.mark.parametrize(
    "name",
    [
        "pairs/web-sidecar.json",
        "pairs/mesh-file.json",
        "pairs/bootstrap.json",
        "pairs/service-resolver-api.json",
        "agent-register-mesh-gateway.json",
        "catalog-service-api.json",
        "health-service-api.json",
    ],
)
def test_from_dict_does_not_mutate_its_input(name: str) -> None:
    data = read_json(name)
    before = copy.deepcopy(data)
    mesh = Mesh.from_dict(data)
    assert data == before
    # Nor does the model share mutable containers with the input.
    data_again = read_json(name)
    assert_same_mesh(Mesh.from_dict(data_again), mesh)
    _scramble(data)
    assert_same_mesh(Mesh.from_dict(data_again), mesh)


def _scramble(value: Any) -> None:
    if isinstance(value, dict):
        for key in list(value):
            _scramble(value[key])
            value[key] = "scrambled" if not isinstance(value[key], dict | list) else value[key]
    elif isinstance(value, list):
        for item in value:
            _scramble(item)
        value.append("scrambled")
