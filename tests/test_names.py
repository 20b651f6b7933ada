"""Names that reach SNIs, server_names and SPIFFE IDs are validated at load (issue 14).

Each hostile value in each name field is a located ValidationError naming the field; a
valid mesh using every field still loads.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

import meshgw
from meshgw import ValidationError


def _base() -> dict[str, Any]:
    return {
        "datacenter": "dc1",
        "primary_datacenter": "dc1",
        "trust_domain": "11111111-2222-3333-4444-555555555555.consul",
        "domain": "consul",
        "services": [
            {
                "name": "web-sidecar-proxy",
                "kind": "connect-proxy",
                "port": 21000,
                "namespace": "default",
                "proxy": {
                    "destination_service_name": "web",
                    "upstreams": [
                        {
                            "destination_name": "api",
                            "datacenter": "dc2",
                            "destination_namespace": "default",
                            "local_bind_port": 9191,
                        },
                        {
                            "destination_name": "db",
                            "destination_peer": "other",
                            "local_bind_port": 9192,
                        },
                    ],
                },
            }
        ],
        "catalog": [
            {
                "datacenter": "dc2",
                "node": "dc2-gw",
                "address": "10.0.0.2",
                "service": {"kind": "mesh-gateway", "service": "mesh-gateway", "port": 8443},
            },
            {
                "node": "server-1",
                "address": "10.0.0.3",
                "service": {"service": "consul", "port": 8300},
            },
        ],
        "peers": [
            {
                "name": "other",
                "trust_domain": "22222222-2222-3333-4444-555555555555.consul",
                "server_name": "server.dc9.peering.22222222-2222-3333-4444-555555555555.consul",
                "datacenter": "dc9",
                "remote_name": "here",
                "services": [{"name": "db"}],
            }
        ],
        "config_entries": {
            "bootstrap": [
                {
                    "kind": "service-resolver",
                    "name": "api",
                    "subsets": {"v1": {"filter": "Service.Meta.version == v1"}},
                    "failover": {
                        "*": {"datacenters": ["dc3"]},
                    },
                },
                {
                    "kind": "exported-services",
                    "name": "default",
                    "services": [{"name": "web", "consumers": [{"peer": "other"}]}],
                },
            ]
        },
    }


def _set(path: tuple[Any, ...]) -> Callable[[dict[str, Any], str], dict[str, Any]]:
    def apply(doc: dict[str, Any], value: str) -> dict[str, Any]:
        doc = copy.deepcopy(doc)
        target: Any = doc
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        return doc

    return apply


#: (rendered path of the problem, how to set the field)
FIELDS = {
    "datacenter": ("datacenter", _set(("datacenter",))),
    "primary_datacenter": ("primary_datacenter", _set(("primary_datacenter",))),
    "service name": ("services[0].name", _set(("services", 0, "name"))),
    "namespace": ("services[0].namespace", _set(("services", 0, "namespace"))),
    "destination_service_name": (
        "services[0].proxy.destination_service_name",
        _set(("services", 0, "proxy", "destination_service_name")),
    ),
    "upstream destination_name": (
        "services[0].proxy.upstreams[0].destination_name",
        _set(("services", 0, "proxy", "upstreams", 0, "destination_name")),
    ),
    "upstream datacenter": (
        "services[0].proxy.upstreams[0].datacenter",
        _set(("services", 0, "proxy", "upstreams", 0, "datacenter")),
    ),
    "upstream destination_peer": (
        "services[0].proxy.upstreams[1].destination_peer",
        _set(("services", 0, "proxy", "upstreams", 1, "destination_peer")),
    ),
    "catalog datacenter": ("catalog[0].datacenter", _set(("catalog", 0, "datacenter"))),
    "catalog service": ("catalog[0].service.name", _set(("catalog", 0, "service", "service"))),
    "server node": ("catalog[1].node", _set(("catalog", 1, "node"))),
    "peer name": ("peers[0].name", _set(("peers", 0, "name"))),
    "peer remote_name": ("peers[0].remote_name", _set(("peers", 0, "remote_name"))),
    "peer datacenter": ("peers[0].datacenter", _set(("peers", 0, "datacenter"))),
    "peer service": ("peers[0].services[0].name", _set(("peers", 0, "services", 0, "name"))),
    "resolver name": (
        "config_entries.bootstrap[0].name",
        _set(("config_entries", "bootstrap", 0, "name")),
    ),
    "exported service": (
        "config_entries.bootstrap[1].services[0].name",
        _set(("config_entries", "bootstrap", 1, "services", 0, "name")),
    ),
}

DNS_FIELDS = {
    "trust_domain": ("trust_domain", _set(("trust_domain",))),
    "domain": ("domain", _set(("domain",))),
    "peer trust_domain": ("peers[0].trust_domain", _set(("peers", 0, "trust_domain"))),
    "peer server_name": ("peers[0].server_name", _set(("peers", 0, "server_name"))),
}

#: Values that would widen, break or collide an SNI label.
HOSTILE = ["default.dc1", "*", "x.*", "a/b", "..", "a b", "a\x00b", "wéb", "Web", "x" * 64]
#: DNS names that must be refused (wildcards, junk, upper case).
HOSTILE_DNS = ["*.consul", "*", "a..consul", "a b.consul", "a\x00.consul", "é.consul", "A.consul"]


def test_a_valid_mesh_with_every_name_field_loads() -> None:
    mesh = meshgw.Mesh.from_dict(_base())
    assert mesh.datacenter == "dc1"


def _problem_at(exc: ValidationError, path: str) -> str:
    found = [p for p in exc.problems if p.path == path]
    assert found, f"no problem at {path}: {exc}"
    return found[0].message


@pytest.mark.parametrize(
    ("field", "value"),
    [
        pytest.param(field, value, id=f"{field}-{value!a}")
        for field in sorted(FIELDS)
        for value in HOSTILE
        # exported-services accepts the wildcard service name, as Consul does
        if (field, value) != ("exported service", "*")
    ],
)
def test_hostile_label_is_refused_where_it_is_written(field: str, value: str) -> None:
    path, apply = FIELDS[field]
    with pytest.raises(ValidationError) as info:
        meshgw.Mesh.from_dict(apply(_base(), value), name="mesh.json")
    message = _problem_at(info.value, path)
    assert "expected" in message or "wildcard" in message
    assert info.value.problems[0].file == "mesh.json"


@pytest.mark.parametrize("field", sorted(DNS_FIELDS))
@pytest.mark.parametrize("value", HOSTILE_DNS, ids=ascii)
def test_hostile_dns_name_is_refused(field: str, value: str) -> None:
    path, apply = DNS_FIELDS[field]
    with pytest.raises(ValidationError) as info:
        meshgw.Mesh.from_dict(apply(_base(), value))
    assert "DNS name" in _problem_at(info.value, path)


def test_gateway_datacenter_cannot_capture_local_snis() -> None:
    # The hijack: a gateway "in" datacenter default.dc1 made every gateway emit
    # a filter chain for *.default.dc1.internal.<td>, capturing local services' SNIs.
    text = """
datacenter = "dc1"
catalog = [
  {
    datacenter = "default.dc1"
    node = "evil"
    address = "10.9.9.9"
    service = { kind = "mesh-gateway", service = "mesh-gateway", port = 8443 }
  },
]
"""
    with pytest.raises(ValidationError) as info:
        meshgw.loads(text, name="mesh.hcl")
    (problem,) = info.value.problems
    assert (problem.file, problem.line, problem.path) == ("mesh.hcl", 5, "catalog[0].datacenter")
    assert "contains a dot" in problem.message


def test_peer_server_name_wildcard_is_refused() -> None:
    text = """
peers = [
  {
    name = "evil"
    server_name = "*.consul"
    server_addresses = ["10.0.0.1:8502"]
  },
]
"""
    with pytest.raises(ValidationError) as info:
        meshgw.loads(text, name="mesh.hcl")
    (problem,) = info.value.problems
    assert (problem.line, problem.path) == (5, "peers[0].server_name")
    assert "wildcard" in problem.message


def test_service_name_with_a_dot_is_refused_with_the_reason() -> None:
    doc = FIELDS["service name"][1](_base(), "v1.web")
    with pytest.raises(ValidationError) as info:
        meshgw.Mesh.from_dict(doc)
    message = _problem_at(info.value, "services[0].name")
    assert "contains a dot" in message and "SNI" in message


def test_an_sni_over_255_bytes_is_a_located_error() -> None:
    long = "a" * 63
    doc = _base()
    doc["trust_domain"] = ".".join([long, long, "consul"])
    doc["services"][0]["name"] = long
    doc["services"][0]["namespace"] = long
    with pytest.raises(ValidationError) as info:
        meshgw.Mesh.from_dict(doc, name="mesh.json")
    message = _problem_at(info.value, "services[0].name")
    assert "more than TLS allows (255)" in message


def test_uppercase_is_refused_with_a_hint() -> None:
    with pytest.raises(ValidationError) as info:
        meshgw.Mesh.from_dict(FIELDS["datacenter"][1](_base(), "DC1"))
    assert "upper case" in _problem_at(info.value, "datacenter")


def test_valid_names_at_the_limits_load() -> None:
    doc = _base()
    doc["services"][0]["proxy"]["upstreams"][0]["destination_name"] = "a_b-" + "c" * 59
    doc["peers"][0]["name"] = "p" * 63
    doc["services"][0]["proxy"]["upstreams"][1]["destination_peer"] = "p" * 63
    doc["datacenter"] = "dc_1-x"
    meshgw.Mesh.from_dict(doc)


def test_service_name_cannot_steer_a_certificate_path() -> None:
    # The case: {service} filled with a path-walking name.
    text = """
mesh_tls { cert_file = "/etc/meshgw/{service}.pem" }
service {
  name = "p"
  kind = "connect-proxy"
  port = 21000
  proxy { destination_service_name = "../../root/.ssh/id_ecdsa" }
}
"""
    with pytest.raises(ValidationError) as info:
        meshgw.loads(text, name="mesh.hcl")
    (problem,) = info.value.problems
    assert (problem.line, problem.path) == (7, "service.proxy.destination_service_name")


@pytest.mark.parametrize(
    ("field", "template", "message"),
    [
        ("cert_file", "/etc/meshgw/../../root/{service}.pem", "'..' segments"),
        ("key_file", "/etc/{svc}.pem", "unknown placeholder {svc}"),
        ("sds_cert_secret", "{service}-{nope}", "unknown placeholder {nope}"),
    ],
)
def test_mesh_tls_templates_are_checked_at_load(field: str, template: str, message: str) -> None:
    with pytest.raises(ValidationError) as info:
        meshgw.loads(f'mesh_tls {{\n  {field} = "{template}"\n}}\n', name="tls.hcl")
    (problem,) = info.value.problems
    assert (problem.line, problem.path) == (2, f"mesh_tls.{field}")
    assert message in problem.message


def test_agent_file_with_connect_enabled_is_not_a_registration() -> None:
    mesh = meshgw.loads('datacenter = "dc2"\nconnect { enabled = true }\n', name="agent.hcl")
    assert mesh.datacenter == "dc2" and mesh.services == ()
    as_json = '{"datacenter": "dc2", "connect": {"enabled": true}}'
    assert meshgw.loads(as_json, name="agent.json").datacenter == "dc2"


def test_a_hand_built_mesh_cannot_walk_a_certificate_path_either() -> None:
    from meshgw.model import Mesh, Proxy, Service, ServiceKind, TlsSettings

    proxy = Service(
        kind=ServiceKind.CONNECT_PROXY,
        name="p",
        id="p",
        port=21000,
        proxy=Proxy(destination_service_name="../../root/.ssh/id_ecdsa"),
    )
    tls = TlsSettings(ca_file="/ca.pem", cert_file="/etc/{service}.pem", key_file="/k.pem")
    mesh = Mesh(services=(proxy,), tls=tls)
    with pytest.raises(meshgw.TranslationError, match="not a name"):
        meshgw.translate(proxy, mesh)
