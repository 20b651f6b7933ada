"""Envoy's bounds at load, and no non-meshgw exception for extreme values (issue 14).

Each value here used to load (and be refused by Envoy later, or crash translation) or
raised OverflowError / ValueError / RecursionError. Each is now a located error naming
the option.
"""

from __future__ import annotations

from typing import Any

import pytest

import meshgw
from meshgw import MeshgwError, ParseError, ValidationError


def _sidecar(config: dict[str, Any], **proxy: Any) -> dict[str, Any]:
    return {
        "service": {
            "name": "web-sidecar-proxy",
            "kind": "connect-proxy",
            "port": 21000,
            "proxy": {"destination_service_name": "web", "config": config, **proxy},
        }
    }


def _gateway(config: dict[str, Any]) -> dict[str, Any]:
    return {
        "service": {
            "name": "mesh-gateway",
            "kind": "mesh-gateway",
            "port": 8443,
            "proxy": {"config": config},
        }
    }


def _entry(**entry: Any) -> dict[str, Any]:
    return {"config_entries": {"bootstrap": [entry]}}


def _defaults_upstream(**fields: Any) -> dict[str, Any]:
    return _entry(kind="service-defaults", name="api", upstream_config={"defaults": fields})


U32 = 2**32
BAD: dict[str, tuple[dict[str, Any], str, str]] = {
    # id: (document, problem path, message substring)
    "keepalive time": (
        _gateway({"envoy_gateway_remote_tcp_keepalive_time": U32}),
        "service.proxy.config.envoy_gateway_remote_tcp_keepalive_time",
        "between 0 and 4294967295",
    ),
    "keepalive interval": (
        _gateway({"envoy_gateway_remote_tcp_keepalive_interval": U32}),
        "service.proxy.config.envoy_gateway_remote_tcp_keepalive_interval",
        "4294967295",
    ),
    "keepalive probes": (
        _gateway({"envoy_gateway_remote_tcp_keepalive_probes": U32}),
        "service.proxy.config.envoy_gateway_remote_tcp_keepalive_probes",
        "4294967295",
    ),
    "gateway connect timeout": (
        _gateway({"connect_timeout_ms": 10**30}),
        "service.proxy.config.connect_timeout_ms",
        "between 0 and",
    ),
    "unicode digit": (
        _gateway({"connect_timeout_ms": "²"}),
        "service.proxy.config.connect_timeout_ms",
        "expected a whole number",
    ),
    "local connect timeout": (
        _sidecar({"local_connect_timeout_ms": 10**20}),
        "service.proxy.config.local_connect_timeout_ms",
        "between 0 and",
    ),
    "bind_address hostname": (
        _sidecar({"bind_address": "localhost"}),
        "service.proxy.config.bind_address",
        "expected an IP address",
    ),
    "local_service_address hostname": (
        _sidecar({}, local_service_address="localhost"),
        "service.proxy.local_service_address",
        "not an IP address",
    ),
    "NaN in escape hatch": (
        _sidecar({"envoy_public_listener_json": '{"name": NaN}'}),
        "service.proxy.config.envoy_public_listener_json",
        "NaN",
    ),
    "Infinity in escape hatch": (
        _sidecar({"envoy_local_cluster_json": '{"x": -Infinity}'}),
        "service.proxy.config.envoy_local_cluster_json",
        "Infinity",
    ),
    "escape hatch nested 5000 deep": (
        _sidecar({"envoy_public_listener_json": "[" * 5000 + "]" * 5000}),
        "service.proxy.config.envoy_public_listener_json",
        "nested more than 100 deep",
    ),
    "upstream circuit breaker": (
        _sidecar(
            {},
            upstreams=[
                {
                    "destination_name": "api",
                    "local_bind_port": 9000,
                    "config": {"limits": {"max_connections": U32}},
                }
            ],
        ),
        "service.proxy.upstreams[0].config.limits",
        "4294967295",
    ),
    "upstream base_ejection_time 0s": (
        _sidecar(
            {},
            upstreams=[
                {
                    "destination_name": "api",
                    "local_bind_port": 9000,
                    "config": {"passive_health_check": {"base_ejection_time": "0s"}},
                }
            ],
        ),
        "service.proxy.upstreams[0].config.passive_health_check",
        "greater than zero",
    ),
    "upstream interval past Go's range": (
        _sidecar(
            {},
            upstreams=[
                {
                    "destination_name": "api",
                    "local_bind_port": 9000,
                    "config": {"passive_health_check": {"interval": "300y"}},
                }
            ],
        ),
        "service.proxy.upstreams[0].config.passive_health_check",
        "expected a duration",
    ),
    "service-defaults limits": (
        _defaults_upstream(limits={"max_pending_requests": U32}),
        "config_entries.bootstrap[0].upstream_config.defaults.limits.max_pending_requests",
        "4294967295",
    ),
    "service-defaults base_ejection_time": (
        _defaults_upstream(passive_health_check={"base_ejection_time": "0s"}),
        "config_entries.bootstrap[0].upstream_config.defaults.passive_health_check"
        ".base_ejection_time",
        "greater than zero",
    ),
    "service-defaults max_failures": (
        _defaults_upstream(passive_health_check={"max_failures": U32}),
        "config_entries.bootstrap[0].upstream_config.defaults.passive_health_check.max_failures",
        "4294967295",
    ),
    "service-defaults connect timeout": (
        _defaults_upstream(connect_timeout_ms=10**15),
        "config_entries.bootstrap[0].upstream_config.defaults.connect_timeout_ms",
        "between 0 and",
    ),
    "least request choice count": (
        _entry(
            kind="service-resolver",
            name="api",
            load_balancer={
                "policy": "least_request",
                "least_request_config": {"choice_count": U32},
            },
        ),
        "config_entries.bootstrap[0].load_balancer.least_request_config.choice_count",
        "at most 4294967295",
    ),
    "309-digit duration": (
        _entry(kind="service-resolver", name="api", connect_timeout="1" * 309 + "s"),
        "config_entries.bootstrap[0].connect_timeout",
        "at most about 292 years",
    ),
    "huge integer duration": (
        _entry(kind="service-resolver", name="api", request_timeout=2**64),
        "config_entries.bootstrap[0].request_timeout",
        "out of range",
    ),
    "superscript port": (
        {"peers": [{"name": "p", "server_name": "s.p.consul", "server_addresses": ["h:²"]}]},
        "peers[0].server_addresses[0]",
        'expected "host:port"',
    ),
    "port 10**5000": (
        {"service": {"name": "web", "port": 10**5000}},
        "service.port",
        "about 5001 digits",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_out_of_bounds_value_is_a_located_error_naming_the_option(case: str) -> None:
    doc, path, message = BAD[case]
    with pytest.raises(ValidationError) as info:
        meshgw.Mesh.from_dict(doc, name="mesh.json")
    found = [p for p in info.value.problems if p.path == path]
    assert found, str(info.value)
    assert message in found[0].message
    assert found[0].file == "mesh.json"


def test_values_at_envoys_bounds_load() -> None:
    meshgw.Mesh.from_dict(
        _gateway(
            {
                "envoy_gateway_remote_tcp_keepalive_probes": U32 - 1,
                "envoy_gateway_remote_tcp_keepalive_time": U32 - 1,
                "connect_timeout_ms": (2**63 - 1) // 1_000_000,
            }
        )
    )
    meshgw.Mesh.from_dict(_sidecar({"bind_address": "::1", "envoy_public_listener_json": "{}"}))


def test_non_string_keys_are_refused() -> None:
    for doc in ({1: 2}, {"service": {"name": "web", 3: "x"}}):
        with pytest.raises(ValidationError, match="keys must be strings"):
            meshgw.Mesh.from_dict(doc)


@pytest.mark.parametrize(
    ("text", "fmt", "line"),
    [
        ("[" * 5000 + "]" * 5000, "json", 1),
        (
            '{"service": {"name": "x", "port": 1, "meta": {"a": "[["},\n "proxy": {"config": '
            '{"x": ' + "[" * 900 + "]" * 900 + "}}}}",
            "json",
            2,
        ),
        ("a = " + "[" * 1200 + "]" * 1200, "hcl", 1),
        ("x = {\n" * 1200 + "}" * 1200, "hcl", 1200),
    ],
)
def test_deep_nesting_is_a_located_parse_error(text: str, fmt: str, line: int) -> None:
    with pytest.raises(ParseError) as info:
        meshgw.loads(text, format=fmt, name=f"deep.{fmt}")
    assert info.value.line == line
    assert info.value.file == f"deep.{fmt}"
    assert "nesting too deep" in info.value.reason


def test_deeply_nested_mapping_is_a_meshgw_error() -> None:
    d: dict[str, Any] = {}
    for _ in range(5000):
        d = {"a": d}
    with pytest.raises(MeshgwError, match="nesting too deep"):
        meshgw.Mesh.from_dict({"service": {"name": "x", "port": 1, "proxy": {"config": d}}})
