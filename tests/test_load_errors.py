"""Bad inputs: every one raises ParseError or ValidationError, located and explained.

Table-driven: each case is the document text, the expected error class and, for a
ValidationError, the exact path and line and a message substring of EACH problem; for a
ParseError the line (and column where stable) and a reason substring.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import meshgw
from meshgw import Mesh, MeshgwError, ParseError, ValidationError


@dataclass(frozen=True)
class Case:
    id: str
    text: str
    error: type[MeshgwError]
    #: ValidationError: (path, line, message substring) of every problem, in order.
    problems: tuple[tuple[str, int | None, str], ...] = ()
    #: ParseError: (line, column or None when not stable, reason substring).
    parse: tuple[int, int | None, str] | None = None
    fmt: str = "hcl"


def invalid(id: str, text: str, *problems: tuple[str, int | None, str], fmt: str = "hcl") -> Case:
    return Case(id, text, ValidationError, problems=problems, fmt=fmt)


def unparsable(
    id: str, text: str, line: int, column: int | None, reason: str, fmt: str = "hcl"
) -> Case:
    return Case(id, text, ParseError, parse=(line, column, reason), fmt=fmt)


def proxy_with_upstreams(items: str) -> str:
    """A connect-proxy registration whose upstream list starts on line 8."""
    return (
        "service {\n"  # 1
        '  name = "p"\n'  # 2
        '  kind = "connect-proxy"\n'  # 3
        "  port = 21000\n"  # 4
        "  proxy {\n"  # 5
        '    destination_service_name = "web"\n'  # 6
        "    upstreams = [\n"  # 7
        f"{items}"  # 8...
        "    ]\n"
        "  }\n"
        "}\n"
    )


def gateway_config(lines: str) -> str:
    """A mesh gateway whose proxy.config body starts on line 7."""
    return (
        "service {\n"
        '  name = "gw"\n'
        '  kind = "mesh-gateway"\n'
        "  port = 8443\n"
        "  proxy {\n"
        "    config {\n"
        f"{lines}"
        "    }\n"
        "  }\n"
        "}\n"
    )


def sidecar_config(lines: str) -> str:
    """A connect-proxy whose proxy.config body starts on line 8."""
    return (
        "service {\n"
        '  name = "p"\n'
        '  kind = "connect-proxy"\n'
        "  port = 21000\n"
        "  proxy {\n"
        '    destination_service_name = "web"\n'
        "    config {\n"
        f"{lines}"
        "    }\n"
        "  }\n"
        "}\n"
    )


def web(*lines: str) -> str:
    """A typical service `web` on port 80; extra lines start on line 4."""
    body = "".join(f"  {line}\n" for line in lines)
    return f'service {{\n  name = "web"\n  port = 80\n{body}}}\n'


CASES: list[Case] = [
    # --- syntax -----------------------------------------------------------------------
    unparsable(
        "hcl-missing-brace",
        'service {\n  name = "web"\n  port = 8080\n',
        1,
        9,
        "missing closing `}` for block `service`",
    ),
    unparsable(
        "hcl-unterminated-string",
        'service {\n  name = "web\n  port = 8080\n}\n',
        2,
        10,
        "unterminated string",
    ),
    unparsable(
        "hcl-bad-token", 'service {\n  name = "web"\n  port = 8080 @\n}\n', 3, 15, "unexpected `@`"
    ),
    unparsable(
        "json-missing-brace",
        '{\n  "service": {\n    "name": "web",\n    "port": 8080\n  }\n',
        6,
        1,
        "invalid JSON",
        fmt="json",
    ),
    unparsable(
        "json-trailing-comma",
        '{\n  "service": {\n    "name": "web",\n    "port": 8080,\n  }\n}\n',
        5,
        3,
        "Expecting property name",
        fmt="json",
    ),
    unparsable(
        "json-nan",
        '{\n  "service": {\n    "name": "web",\n    "port": NaN\n  }\n}\n',
        4,
        13,
        "`NaN` is not a JSON value",
        fmt="json",
    ),
    unparsable(
        "json-duplicate-key",
        '{\n  "service": {\n    "name": "web",\n    "name": "api"\n  }\n}\n',
        4,
        5,
        "(first at line 3, again at line 4)",
        fmt="json",
    ),
    unparsable(
        "hcl-duplicate-attribute",
        'service {\n  name = "web"\n  name = "api"\n}\n',
        3,
        3,
        "duplicate attribute `name` (first at line 2, again at line 3)",
    ),
    unparsable(
        "hcl-bare-word",
        'service {\n  name = "web"\n  port = 80\n  proxy {\n    mesh_gateway {\n'
        "      mode = local\n    }\n  }\n}\n",
        6,
        14,
        'bare word local where a value is expected (did you mean "local"?)',
    ),
    unparsable(
        "hcl-interpolation",
        'service {\n  name = "${var.name}"\n}\n',
        2,
        11,
        "interpolation is not supported",
    ),
    unparsable(
        "hcl-function-call",
        'service {\n  name = upper("web")\n  port = 80\n}\n',
        2,
        10,
        "function call",
    ),
    unparsable(
        "hcl-operator",
        'service {\n  name = "web"\n  port = 80 + 1\n}\n',
        3,
        10,
        "expressions are not supported",
    ),
    unparsable(
        "hcl-hex-number", 'service {\n  name = "web"\n  port = 0x50\n}\n', 3, 10, "hexadecimal"
    ),
    unparsable(
        "hcl-leading-zero", 'service {\n  name = "web"\n  port = 080\n}\n', 3, 10, "leading zero"
    ),
    unparsable(
        "hcl-value-on-next-line",
        'service {\n  name = "web"\n  port =\n    80\n}\n',
        3,
        9,
        "expected a value",
    ),
    # --- wrong types ------------------------------------------------------------------
    invalid(
        "port-as-string",
        'service {\n  name = "web"\n  port = "8080"\n}\n',
        ("service.port", 3, 'expected a whole number, got string "8080"'),
    ),
    invalid(
        "port-as-float",
        'service {\n  name = "gw"\n  port = 8443.0\n}\n',
        ("service.port", 3, "expected a whole number, got number"),
    ),
    invalid(
        "bool-as-string",
        web('enable_tag_override = "false"'),
        ("service.enable_tag_override", 4, 'expected true or false, got string "false"'),
    ),
    invalid(
        "tags-as-string",
        web('tags = "v1"'),
        ("service.tags", 4, 'expected a list, got string "v1"'),
    ),
    invalid(
        "json-port-as-string",
        '{\n  "service": {\n    "name": "web",\n    "port": "8080"\n  }\n}\n',
        ("service.port", 4, 'expected a whole number, got string "8080"'),
        fmt="json",
    ),
    invalid(
        "services-as-object",
        'services = {\n  name = "web"\n  port = 80\n}\n',
        ("services", 1, "expected a list of services, got an object"),
    ),
    invalid(
        "json-top-level-list-of-numbers",
        "[1, 2]",
        ("[0]", 1, "expected an object, got number 1"),
        ("[1]", 1, "expected an object, got number 2"),
        fmt="json",
    ),
    # --- unknown keys and spellings --------------------------------------------------
    invalid(
        "unknown-key-prxy",
        web("prxy {}"),
        ("service.prxy", 4, "unknown key 'prxy' (did you mean 'proxy'?)"),
    ),
    invalid(
        "unknown-key-destination-nme",
        '{\n  "Kind": "connect-proxy",\n  "Name": "web-sidecar-proxy",\n  "Port": 21000,\n'
        '  "Proxy": {\n    "DestinationServiceName": "web",\n    "Upstreams": [\n'
        '      {"destination_nme": "api", "LocalBindPort": 9000}\n    ]\n  }\n}\n',
        (
            "proxy.upstreams[0].destination_nme",
            8,
            "unknown key 'destination_nme' (did you mean 'destination_name'?)",
        ),
        fmt="json",
    ),
    invalid(
        "unknown-config-entry-key",
        'Kind = "service-defaults"\nName = "web"\nProtocl = "http"\n',
        ("Protocl", 3, "unknown key 'Protocl' (did you mean 'protocol'?)"),
    ),
    invalid(
        "unknown-mesh-file-key",
        'datacenter = "dc1"\nprimary_datacentre = "dc1"\n',
        ("primary_datacentre", 2, "(did you mean 'primary_datacenter'?)"),
    ),
    invalid(
        "field-spelt-twice",
        web("Port = 81"),
        ("service.port", 3, "'Port' repeats 'port' (the same field, spelt twice)"),
    ),
    # --- missing required fields ------------------------------------------------------
    invalid(
        "missing-service-name",
        "service {\n  port = 80\n}\n",
        ("service.name", 1, "service name is required"),
    ),
    invalid(
        "missing-gateway-port",
        'service {\n  name = "gw"\n  kind = "mesh-gateway"\n}\n',
        ("service.port", 1, "port is required for a mesh-gateway"),
    ),
    invalid(
        "missing-destination-service-name",
        'service {\n  name = "p"\n  kind = "connect-proxy"\n  port = 21000\n}\n',
        (
            "service.proxy.destination_service_name",
            1,
            "destination_service_name is required for a connect-proxy",
        ),
    ),
    invalid(
        "missing-upstream-destination-name",
        proxy_with_upstreams("      { local_bind_port = 9000 },\n"),
        ("service.proxy.upstreams[0].destination_name", 8, "destination_name is required"),
    ),
    invalid(
        "missing-upstream-local-bind-port",
        proxy_with_upstreams('      { destination_name = "api" },\n'),
        ("service.proxy.upstreams[0].local_bind_port", 8, "local_bind_port"),
    ),
    invalid(
        "catalog-entry-without-address",
        'catalog = [\n  {\n    node = "n1"\n'
        '    service = { service = "api", port = 80 }\n  },\n]\n',
        ("catalog[0].address", 2, "address is required"),
    ),
    # --- modes, kinds ------------------------------------------------------------------
    invalid(
        "mode-lcoal-upstream",
        proxy_with_upstreams(
            "      {\n"
            '        destination_name = "api"\n'
            "        local_bind_port  = 9000\n"
            '        mesh_gateway { mode = "lcoal" }\n'
            "      },\n"
        ),
        (
            "service.proxy.upstreams[0].mesh_gateway.mode",
            11,
            'invalid mode "lcoal" (expected none, local or remote)',
        ),
    ),
    invalid(
        "mode-lcoal-proxy",
        'service {\n  name = "p"\n  kind = "connect-proxy"\n  port = 21000\n  proxy {\n'
        '    destination_service_name = "web"\n    mesh_gateway {\n      mode = "lcoal"\n'
        "    }\n  }\n}\n",
        ("service.proxy.mesh_gateway.mode", 8, 'invalid mode "lcoal"'),
    ),
    invalid(
        "mode-lcoal-proxy-defaults",
        'Kind = "proxy-defaults"\nName = "global"\nMeshGateway {\n  Mode = "lcoal"\n}\n',
        ("mesh_gateway.mode", 4, 'invalid mode "lcoal" (expected none, local or remote)'),
    ),
    invalid(
        "mode-lcoal-service-defaults-override",
        'Kind = "service-defaults"\nName = "web"\nUpstreamConfig {\n  Overrides = [\n    {\n'
        '      Name = "api"\n      MeshGateway = { Mode = "lcoal" }\n    },\n  ]\n}\n',
        ("upstream_config.overrides[0].mesh_gateway.mode", 7, 'invalid mode "lcoal"'),
    ),
    invalid(
        "mode-lcoal-service-defaults-upstream-defaults",
        'Kind = "service-defaults"\nName = "web"\nUpstreamConfig {\n  Defaults {\n'
        '    MeshGateway { Mode = "LOCAL" }\n  }\n}\n',
        ("upstream_config.defaults.mesh_gateway.mode", 5, 'invalid mode "LOCAL"'),
    ),
    invalid(
        "mode-lcoal-json-upstream",
        '{\n  "Kind": "connect-proxy",\n  "Name": "web-sidecar-proxy",\n  "Port": 21000,\n'
        '  "Proxy": {\n    "DestinationServiceName": "web",\n    "Upstreams": [\n'
        '      {"DestinationName": "api", "LocalBindPort": 9000,\n'
        '       "MeshGateway": {"Mode": "lcoal"}}\n'
        "    ]\n  }\n}\n",
        ("proxy.upstreams[0].mesh_gateway.mode", 9, 'invalid mode "lcoal"'),
        fmt="json",
    ),
    invalid(
        "mode-not-a-string",
        'Kind = "proxy-defaults"\nName = "global"\nMeshGateway {\n  Mode = true\n}\n',
        ("mesh_gateway.mode", 4, "expected a string"),
    ),
    invalid(
        "invalid-kind",
        'service {\n  name = "p"\n  kind = "sidecar"\n  port = 21000\n}\n',
        ("service.kind", 3, 'invalid kind "sidecar" (expected connect-proxy, mesh-gateway'),
    ),
    invalid(
        "invalid-proxy-mode",
        'service {\n  name = "p"\n  kind = "connect-proxy"\n  port = 21000\n  proxy {\n'
        '    destination_service_name = "web"\n    mode = "transparnt"\n  }\n}\n',
        (
            "service.proxy.mode",
            7,
            'invalid proxy mode "transparnt" (expected direct or transparent)',
        ),
    ),
    # --- ports -------------------------------------------------------------------------
    invalid(
        "gateway-port-zero",
        'service {\n  name = "gw"\n  kind = "mesh-gateway"\n  port = 0\n}\n',
        ("service.port", 4, "port is required for a mesh-gateway"),
    ),
    invalid(
        "port-too-large",
        'service {\n  name = "web"\n  port = 70000\n}\n',
        ("service.port", 3, "port 70000 is out of range (expected 1 to 65535)"),
    ),
    invalid(
        "port-negative",
        'service {\n  name = "web"\n  port = -1\n}\n',
        ("service.port", 3, "port -1 is out of range"),
    ),
    invalid(
        "local-bind-port-too-large",
        proxy_with_upstreams('      { destination_name = "api", local_bind_port = 70000 },\n'),
        ("service.proxy.upstreams[0].local_bind_port", 8, "port 70000 is out of range"),
    ),
    # --- upstreams ---------------------------------------------------------------------
    invalid(
        "datacenter-and-destination-peer",
        proxy_with_upstreams(
            "      {\n"
            '        destination_name = "api"\n'
            '        datacenter       = "dc2"\n'
            '        destination_peer = "cluster-02"\n'
            "        local_bind_port  = 9000\n"
            "      },\n"
        ),
        (
            "service.proxy.upstreams[0]",
            8,
            "an upstream cannot set both destination_peer and datacenter",
        ),
    ),
    invalid(
        "duplicate-upstreams",
        proxy_with_upstreams(
            '      { destination_name = "api", local_bind_port = 9000 },\n'
            '      { destination_name = "api", local_bind_port = 9001 },\n'
        ),
        ("service.proxy.upstreams[1]", 9, "duplicate upstream: same destination as upstreams[0]"),
    ),
    invalid(
        "duplicate-local-bind",
        proxy_with_upstreams(
            '      { destination_name = "api", local_bind_port = 9000 },\n'
            '      { destination_name = "db", local_bind_address = "127.0.0.1", '
            "local_bind_port = 9000 },\n"
        ),
        ("service.proxy.upstreams[1]", 9, 'duplicate local bind "127.0.0.1:9000"'),
    ),
    # --- registrations -----------------------------------------------------------------
    invalid(
        "proxy-defaults-not-global",
        'Kind = "proxy-defaults"\nName = "web"\n',
        ("name", 2, 'invalid name "web", only "global" is supported'),
    ),
    invalid(
        "sidecar-service-with-id",
        web("connect {", "  sidecar_service {", '    id = "x"', "  }", "}"),
        ("service.connect.sidecar_service.id", 6, "sidecar_service can't specify an id"),
    ),
    invalid(
        "nested-sidecar-service",
        web(
            "connect {",
            "  sidecar_service {",
            "    connect {",
            "      sidecar_service {}",
            "    }",
            "  }",
            "}",
        ),
        (
            "service.connect.sidecar_service.connect.sidecar_service",
            7,
            "sidecar_service can't have a nested sidecar_service",
        ),
    ),
    invalid(
        "gateway-with-upstreams",
        'service {\n  name = "gw"\n  kind = "mesh-gateway"\n  port = 8443\n  proxy {\n'
        '    upstreams = [\n      { destination_name = "api", local_bind_port = 9000 },\n'
        "    ]\n  }\n}\n",
        ("service.proxy.upstreams", 6, "a mesh-gateway cannot have upstreams"),
    ),
    invalid(
        "gateway-with-destination-service-name",
        'service {\n  name = "gw"\n  kind = "mesh-gateway"\n  port = 8443\n  proxy {\n'
        '    destination_service_name = "web"\n  }\n}\n',
        (
            "service.proxy.destination_service_name",
            6,
            "destination_service_name is not valid for a mesh-gateway",
        ),
    ),
    invalid(
        "bad-meta-key",
        web("meta {", '  "bad key" = "x"', "}"),
        ('service.meta["bad key"]', 5, "meta key contains invalid characters"),
    ),
    invalid(
        "consul-meta-prefix-on-typical-service",
        web("meta {", '  "consul-wan-federation" = "1"', "}"),
        (
            "service.meta.consul-wan-federation",
            5,
            "meta key prefix 'consul-' is reserved for internal use",
        ),
    ),
    invalid(
        "invalid-check-status",
        web("checks = [", '  { name = "c", ttl = "10s", status = "ok" },', "]"),
        (
            "service.checks[0].status",
            5,
            'invalid check status "ok" (expected passing, warning or critical)',
        ),
    ),
    invalid(
        "duplicate-service-ids",
        'services = [\n  { name = "web", port = 80 },\n  { name = "web", port = 81 },\n]\n',
        ("services[1].id", 3, 'duplicate service id "web"'),
    ),
    invalid(
        "lan-ipv4-not-ipv4",
        web("tagged_addresses {", '  lan_ipv4 { address = "fe80::1", port = 80 }', "}"),
        (
            "service.tagged_addresses.lan_ipv4.address",
            5,
            "tagged address lan_ipv4 must be a valid IPv4 address",
        ),
    ),
    invalid(
        "weights-passing-zero",
        web("weights {", "  passing = 0", "}"),
        ("service.weights.passing", 5, "passing weight must be between 1 and 65535"),
    ),
    invalid(
        "socket-path-and-port",
        web('socket_path = "/run/web.sock"'),
        ("service", 1, "cannot have both socket_path and address/port"),
    ),
    invalid(
        "peer-server-address-without-port",
        'peers = [\n  {\n    name = "p1"\n    server_addresses = ["10.0.0.1"]\n  },\n]\n',
        ("peers[0].server_addresses[0]", 4, 'expected "host:port", got "10.0.0.1"'),
    ),
    # --- proxy.config ------------------------------------------------------------------
    invalid(
        "config-misspelt-option",
        gateway_config("      envoy_gateway_bind_taged_addresses = true\n"),
        (
            "service.proxy.config.envoy_gateway_bind_taged_addresses",
            7,
            "(did you mean 'envoy_gateway_bind_tagged_addresses'?)",
        ),
    ),
    invalid(
        "config-connect-timeout-not-a-number",
        gateway_config('      connect_timeout_ms = "abc"\n'),
        ("service.proxy.config.connect_timeout_ms", 7, 'expected a whole number, got string "abc"'),
    ),
    invalid(
        "config-dns-discovery-type",
        gateway_config('      envoy_dns_discovery_type = "magic_dns"\n'),
        ("service.proxy.config.envoy_dns_discovery_type", 7, "invalid value 'magic_dns'"),
    ),
    invalid(
        "config-unknown-envoy-option",
        gateway_config("      envoy_frobnicate = true\n"),
        ("service.proxy.config.envoy_frobnicate", 7, "unknown option 'envoy_frobnicate'"),
    ),
    invalid(
        "config-gateway-option-on-sidecar",
        sidecar_config("      envoy_gateway_bind_tagged_addresses = true\n"),
        (
            "service.proxy.config.envoy_gateway_bind_tagged_addresses",
            8,
            "envoy_gateway_bind_tagged_addresses does not apply to a connect-proxy",
        ),
    ),
    invalid(
        "config-bad-protocol",
        sidecar_config('      protocol = "htp"\n'),
        ("service.proxy.config.protocol", 8, "invalid value 'htp'"),
    ),
    invalid(
        "config-bind-address-port-zero",
        '{\n  "Kind": "mesh-gateway",\n  "Name": "gw",\n  "Port": 8443,\n  "Proxy": {\n'
        '    "Config": {\n      "envoy_gateway_bind_addresses": {\n'
        '        "lan": {"address": "10.0.0.1", "port": 0}\n      }\n    }\n  }\n}\n',
        ("proxy.config.envoy_gateway_bind_addresses", 7, "lan: must be between 1 and 65535"),
        fmt="json",
    ),
    # --- config entries ----------------------------------------------------------------
    invalid(
        "service-defaults-override-without-name",
        'Kind = "service-defaults"\nName = "web"\nUpstreamConfig {\n  Overrides = [\n    {\n'
        "      ConnectTimeoutMs = 100\n    },\n  ]\n}\n",
        ("upstream_config.overrides[0].name", 5, "name is required in an upstream override"),
    ),
    invalid(
        "resolver-subset-not-dns-label",
        'Kind = "service-resolver"\nName = "api"\nSubsets = {\n'
        '  V1_bad = { Filter = "Service.Meta.version == v1" }\n}\n',
        ("subsets.V1_bad", 4, 'subset name "V1_bad" must be a DNS label'),
    ),
    invalid(
        "resolver-default-subset-missing",
        'Kind = "service-resolver"\nName = "api"\nDefaultSubset = "v3"\nSubsets = {\n'
        '  v1 = { Filter = "Service.Meta.version == v1" }\n}\n',
        ("default_subset", 3, 'default_subset "v3" is not a valid subset'),
    ),
    invalid(
        "resolver-redirect-and-failover",
        'Kind = "service-resolver"\nName = "api"\nRedirect {\n  Datacenter = "dc2"\n}\n'
        'Failover = {\n  "*" = { Datacenters = ["dc3"] }\n}\n',
        ("redirect", 3, "redirect and failover cannot both be set"),
    ),
    invalid(
        "resolver-bad-filter",
        'Kind = "service-resolver"\nName = "api"\nSubsets = {\n'
        '  v1 = { Filter = "Service.Meta.version ==" }\n}\n',
        ("subsets.v1.filter", 4, "invalid filter 'Service.Meta.version =='"),
    ),
    invalid(
        "resolver-bad-duration",
        'Kind = "service-resolver"\nName = "api"\nConnectTimeout = "15 seconds"\n',
        ("connect_timeout", 3, 'expected a duration such as "5s"'),
    ),
    invalid(
        "exported-consumer-peer-and-partition",
        'Kind = "exported-services"\nName = "default"\nServices = [\n  {\n    Name = "api"\n'
        '    Consumers = [\n      { Peer = "p1", Partition = "b" },\n    ]\n  },\n]\n',
        (
            "services[0].consumers[0]",
            7,
            "a consumer sets exactly one of peer, partition or sameness_group",
        ),
    ),
    invalid(
        "unknown-config-entry-kind-in-bootstrap",
        'config_entries {\n  bootstrap = [\n    {\n      Kind = "service-splitterr"\n'
        '      Name = "api"\n    },\n  ]\n}\n',
        (
            "config_entries.bootstrap[0].kind",
            4,
            "invalid config entry kind \"service-splitterr\" (did you mean 'service-splitter'?)",
        ),
    ),
    # --- HCL version 1 edge cases --------------------------------------------------------
    unparsable(
        "hcl1-block-in-object-unclosed",
        proxy_with_upstreams(
            "      {\n"
            '        destination_name = "api"\n'
            "        local_bind_port = 9000\n"
            "        mesh_gateway {\n"
            '          mode = "local"\n'
            "      },\n"
        ),
        14,
        5,
        "the object opened at line 8 needs `}` first",
    ),
    unparsable(
        "hcl1-block-in-object-with-bare-word",
        proxy_with_upstreams(
            "      {\n"
            '        destination_name = "api"\n'
            "        local_bind_port = 9000\n"
            "        mesh_gateway {\n"
            "          mode = local\n"
            "        }\n"
            "      },\n"
        ),
        12,
        18,
        "bare word local",
    ),
    unparsable(
        "hcl1-quoted-key-block-duplicate",
        web("meta {", '  "team" = "a"', '  "team" = "b"', "}"),
        6,
        None,
        "duplicate attribute `team` (first at line 5, again at line 6)",
    ),
    unparsable(
        "hcl1-quoted-and-bare-key-duplicate",
        web("meta {", '  "team" = "a"', '  team = "b"', "}"),
        6,
        5,
        "duplicate attribute `team`",
    ),
]


def test_enough_cases() -> None:
    assert len(CASES) >= 40
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case) -> None:
    name = f"bad.{case.fmt}"
    with pytest.raises(case.error) as info:
        meshgw.loads(case.text, format=case.fmt, name=name)
    error = info.value
    if isinstance(error, ParseError):
        assert case.parse is not None
        line, column, reason = case.parse
        assert error.file == name
        assert error.line == line, error
        if column is not None:
            assert error.column == column, error
        assert reason in error.reason
        lines = case.text.split("\n")
        assert error.excerpt == lines[line - 1]
        assert str(error).startswith(f"{name}:{line}:")
    else:
        assert isinstance(error, ValidationError)
        got = [(p.path, p.line) for p in error.problems]
        assert got == [(path, line) for path, line, _ in case.problems], str(error)
        for problem, (_, _, message) in zip(error.problems, case.problems, strict=True):
            assert message in problem.message, str(error)
            assert problem.file == name


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_as_a_file(case: Case, tmp_path: Path) -> None:
    path = tmp_path / f"bad.{case.fmt}"
    path.write_text(case.text, encoding="utf-8")
    with pytest.raises(case.error) as info:
        meshgw.load(path)
    error = info.value
    if isinstance(error, ParseError):
        assert error.file == str(path)
    else:
        assert isinstance(error, ValidationError)
        assert {p.file for p in error.problems} == {str(path)}


# --- known bugs (the fixes belong to other files) ---------------------------------------


def test_float_port_message_shows_the_float() -> None:
    with pytest.raises(ValidationError) as info:
        meshgw.loads('service {\n  name = "gw"\n  port = 8443.0\n}\n', format="hcl")
    assert "got number 8443.0" in info.value.problems[0].message


def test_unknown_config_entry_kind_in_a_bare_entry() -> None:
    with pytest.raises(ValidationError) as info:
        meshgw.loads('Kind = "proxy-default"\nName = "global"\n', format="hcl", name="pd.hcl")
    (problem,) = info.value.problems
    assert (problem.path, problem.line) == ("kind", 1)
    assert 'invalid config entry kind "proxy-default"' in problem.message
    assert "proxy-defaults" in problem.message


def test_misspelt_agent_setting_gets_a_suggestion() -> None:
    with pytest.raises(ValidationError) as info:
        meshgw.loads('datacenter = "dc1"\ndata_dri = "/opt/consul"\n', format="hcl")
    assert "did you mean 'data_dir'?" in info.value.problems[0].message


@pytest.mark.parametrize(
    ("text", "fmt", "path"),
    [
        ('{"service": {"name": "web", "port": 80, "prxy": null}}', "json", "service.prxy"),
        ('service {\n  name = "web"\n  port = 80\n  prxy = null\n}\n', "hcl", "service.prxy"),
        ('{"Kind": "service-defaults", "Name": "web", "Protocl": null}', "json", "Protocl"),
    ],
    ids=["json-service", "hcl-service", "json-config-entry"],
)
def test_unknown_key_with_null_value_is_reported(text: str, fmt: str, path: str) -> None:
    with pytest.raises(ValidationError) as info:
        meshgw.loads(text, format=fmt)
    (problem,) = info.value.problems
    assert problem.path == path
    assert "unknown key" in problem.message


# --- every problem at once, across files, and how errors print ---------------------------

FIVE_PROBLEMS = """\
datacenter = "dc1"
services = [
  {
    name = "web"
    port = "8080"
  },
  {
    name = "mesh-gateway"
    kind = "mesh-gateway"
    meta = { "consul-version" = "1" }
  },
  {
    name = "api-sidecar-proxy"
    kind = "connect-proxy"
    port = 21001
    proxy {
      destination_service_name = "api"
      upstreams = [
        {
          destination_name = "db"
          local_bind_port  = 9191
          mesh_gateway {
            mode = "lcoal"
          }
        },
      ]
    }
  },
]
config_entries {
  bootstrap = [
    {
      Kind = "proxy-defaults"
      Name = "default"
    },
  ]
}
"""


def test_all_problems_of_a_document_at_once_sorted_by_line() -> None:
    with pytest.raises(ValidationError) as info:
        meshgw.loads(FIVE_PROBLEMS, format="hcl", name="mesh.hcl")
    error = info.value
    assert [(p.line, p.path) for p in error.problems] == [
        (5, "services[0].port"),
        (7, "services[1].port"),
        (10, "services[1].meta.consul-version"),
        (23, "services[2].proxy.upstreams[0].mesh_gateway.mode"),
        (34, "config_entries.bootstrap[0].name"),
    ]
    assert str(error).splitlines() == [
        "5 problems found",
        '  mesh.hcl:5: services[0].port: expected a whole number, got string "8080"',
        "  mesh.hcl:7: services[1].port: port is required for a mesh-gateway",
        "  mesh.hcl:10: services[1].meta.consul-version: "
        "meta key prefix 'consul-' is reserved for internal use",
        "  mesh.hcl:23: services[2].proxy.upstreams[0].mesh_gateway.mode: "
        'invalid mode "lcoal" (expected none, local or remote)',
        "  mesh.hcl:34: config_entries.bootstrap[0].name: "
        'invalid name "default", only "global" is supported',
    ]


def test_the_same_problems_in_json() -> None:
    text = """\
{
  "datacenter": "dc1",
  "services": [
    {
      "name": "web",
      "port": "8080"
    },
    {
      "name": "mesh-gateway",
      "kind": "mesh-gateway"
    }
  ]
}
"""
    with pytest.raises(ValidationError) as info:
        meshgw.loads(text, format="json", name="mesh.json")
    assert [(p.path, p.line) for p in info.value.problems] == [
        ("services[0].port", 6),  # the key's line
        ("services[1].port", 8),  # missing: the line of the object that lacks it
    ]


def test_problems_across_files_each_name_their_file(tmp_path: Path) -> None:
    gateway = tmp_path / "gateway.hcl"
    gateway.write_text(
        'service {\n  name = "gw"\n  kind = "mesh-gateway"\n  port = 70000\n}\n', "utf-8"
    )
    defaults = tmp_path / "defaults.json"
    defaults.write_text(
        '{\n  "Kind": "proxy-defaults",\n  "Name": "global",\n'
        '  "MeshGateway": {"Mode": "remot"}\n}\n',
        "utf-8",
    )
    with pytest.raises(ValidationError) as info:
        meshgw.load(gateway, defaults)
    problems = info.value.problems
    assert [(p.file, p.line, p.path) for p in problems] == [
        (str(defaults), 4, "mesh_gateway.mode"),  # sorted by file name, then line
        (str(gateway), 4, "service.port"),
    ]
    text = str(info.value)
    assert text.startswith("2 problems found\n")
    assert f'  {defaults}:4: mesh_gateway.mode: invalid mode "remot"' in text
    assert f"  {gateway}:4: service.port: port 70000 is out of range" in text


def test_a_directory_reports_problems_of_every_file(tmp_path: Path) -> None:
    (tmp_path / "a.hcl").write_text('service {\n  name = "a"\n  port = "1"\n}\n', "utf-8")
    (tmp_path / "b.json").write_text('{"service": {"name": "b", "port": -2}}', "utf-8")
    with pytest.raises(ValidationError) as info:
        meshgw.load(tmp_path)
    assert [(Path(p.file or "").name, p.line) for p in info.value.problems] == [
        ("a.hcl", 3),
        ("b.json", 1),
    ]


def test_problem_str_format() -> None:
    with pytest.raises(ValidationError) as info:
        meshgw.loads(web("prxy {}"), format="hcl", name="web.hcl")
    (problem,) = info.value.problems
    assert str(problem) == "web.hcl:4: service.prxy: unknown key 'prxy' (did you mean 'proxy'?)"
    assert str(info.value) == f"1 problem found\n  {problem}"


def test_problem_without_a_name_or_line() -> None:
    with pytest.raises(ValidationError) as info:
        Mesh.from_dict({"service": {"name": "web", "port": "80"}})
    (problem,) = info.value.problems
    assert (problem.file, problem.line) == (None, None)
    assert str(problem) == '<input>: service.port: expected a whole number, got string "80"'


def test_parse_error_str_shows_the_line_and_a_caret() -> None:
    text = web("proxy {", "  mesh_gateway {", "    mode = local", "  }", "}")
    with pytest.raises(ParseError) as info:
        meshgw.loads(text, format="hcl", name="web.hcl")
    assert str(info.value).splitlines() == [
        'web.hcl:6:14: bare word local where a value is expected (did you mean "local"?)',
        "          mode = local",
        "                 ^",
    ]


def test_errors_are_meshgw_errors_and_value_errors() -> None:
    cases = [
        ("service {", r"^<input>:1:9: missing closing `}` for block `service` opened at line 1"),
        (
            "service { port = true }",
            r"<input>:1: service\.port: expected a whole number, got boolean true$",
        ),
    ]
    for text, message in cases:
        with pytest.raises(MeshgwError, match=message) as info:
            meshgw.loads(text, format="hcl")
        assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    ("call", "needle"),
    [
        (lambda p: meshgw.load(p / "missing.hcl"), r"missing\.hcl: cannot read: No such file"),
        (lambda p: meshgw.load(), r"^no files given to load$"),
        (
            lambda p: meshgw.loads("{}", format="yaml"),
            r"^unknown format 'yaml' \(expected \"hcl\" or \"json\"\)$",
        ),
    ],
    ids=["missing-file", "no-files", "unknown-format"],
)
def test_other_load_errors_are_meshgw_errors(call: Any, needle: str, tmp_path: Path) -> None:
    with pytest.raises(MeshgwError, match=needle):
        call(tmp_path)


def test_a_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.hcl"
    path.write_bytes('service {\n  name = "café"\n}\n'.encode("latin-1"))
    with pytest.raises(MeshgwError, match=r"latin1\.hcl.*not UTF-8"):
        meshgw.load(path)


# --- nothing but MeshgwError escapes ------------------------------------------------------

_KEYS = st.sampled_from(
    """service services name Name Service port Port kind Kind id ID proxy Proxy upstreams
    Upstreams destination_name DestinationName local_bind_port mesh_gateway MeshGateway mode
    Mode config connect sidecar_service catalog node Node ServiceName Checks check checks
    status config_entries bootstrap peers datacenter tagged_addresses meta Subsets Failover
    Redirect UpstreamConfig Overrides Defaults Consumers Services Peer gateways address
    trust_domain mesh_tls weights""".split()
) | st.text(max_size=6)
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**40), max_value=2**40)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from(
        [
            "",
            "local",
            "lcoal",
            "mesh-gateway",
            "connect-proxy",
            "proxy-defaults",
            "service-defaults",
            "service-resolver",
            "exported-services",
            "mesh",
            "service-intentions",
            "global",
            "passing",
            "web",
            "15s",
        ]
    )
    | st.text(max_size=6)
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_KEYS, inner, max_size=5),
    max_leaves=25,
)
_DOCUMENTS = st.dictionaries(_KEYS, _VALUES, max_size=6) | st.lists(_VALUES, max_size=3)


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(_DOCUMENTS)
def test_random_documents_raise_only_meshgw_errors(document: Any) -> None:
    loaders: list[Callable[[], Mesh]] = [
        lambda: Mesh.from_dict(document),
        lambda: meshgw.loads(json.dumps(document), format="json"),
    ]
    for load in loaders:
        try:
            mesh = load()
        except MeshgwError:
            continue
        assert isinstance(mesh, Mesh)


def test_option_typos_are_reported_with_the_structural_problems() -> None:
    """A service that fails to structure still gets its proxy.config and upstream config
    checked: all problems of a document at once."""
    text = (
        "service {\n"
        '  name = "web-sidecar-proxy"\n'
        '  kind = "connect-proxy"\n'
        '  port = "8181"\n'
        "  proxy {\n"
        '    destination_service_name = "web"\n'
        "    upstreams = [\n"
        "      {\n"
        '        destination_name = "api"\n'
        "        local_bind_port  = 10000\n"
        '        config { connect_timeout_ms = "soon" }\n'
        "      },\n"
        "    ]\n"
        "    config {\n"
        "      envoy_gateway_bind_taged_addresses = true\n"
        "    }\n"
        "  }\n"
        "}\n"
    )
    with pytest.raises(ValidationError) as info:
        meshgw.loads(text, format="hcl", name="web.hcl")
    got = [(p.path, p.line) for p in info.value.problems]
    assert got == [
        ("service.port", 4),
        ("service.proxy.upstreams[0].config.connect_timeout_ms", 11),
        ("service.proxy.config.envoy_gateway_bind_taged_addresses", 15),
    ]
    message = info.value.problems[2].message
    assert "did you mean 'envoy_gateway_bind_tagged_addresses'?" in message
    assert "does not apply to a connect-proxy" in message


def test_config_typos_can_warn_like_consul(recwarn: pytest.WarningsRecorder) -> None:
    """``config_typos="warn"``: option problems become MeshgwWarnings pointing at the
    caller, the value is kept; other problems stay errors."""
    text = (
        "service {\n"
        '  name = "gw"\n'
        '  kind = "mesh-gateway"\n'
        "  port = 8443\n"
        "  proxy { config { envoy_gateway_bind_taged_addresses = true } }\n"
        "}\n"
    )
    with pytest.raises(ValidationError, match="envoy_gateway_bind_taged_addresses"):
        meshgw.loads(text, format="hcl", name="gw.hcl")
    with pytest.warns(meshgw.MeshgwWarning, match=r"gw\.hcl:5: service\.proxy\.config") as got:
        mesh = meshgw.loads(text, format="hcl", name="gw.hcl", config_typos="warn")
    assert got[0].filename == __file__
    assert mesh.service("gw").proxy is not None
    assert mesh.service("gw").proxy.config == {"envoy_gateway_bind_taged_addresses": True}
    with pytest.raises(ValidationError, match="port is required"):
        meshgw.loads(text.replace("port = 8443", ""), format="hcl", config_typos="warn")
    with pytest.warns(meshgw.MeshgwWarning):
        meshgw.Mesh.from_dict(
            {
                "service": {
                    "name": "gw",
                    "kind": "mesh-gateway",
                    "port": 1,
                    "proxy": {"config": {"connect_timeout_ms": "soon"}},
                }
            },
            config_typos="warn",
        )
    with pytest.raises(meshgw.MeshgwError, match="config_typos"):
        meshgw.loads(text, format="hcl", config_typos="ignore")  # type: ignore[arg-type]


def test_duplicate_config_entry_across_files(tmp_path: Path) -> None:
    (tmp_path / "a.hcl").write_text('Kind = "service-resolver"\nName = "db"\n')
    (tmp_path / "b.hcl").write_text('Kind = "service-resolver"\nName = "db"\n')
    with pytest.raises(ValidationError) as info:
        meshgw.load(tmp_path / "a.hcl", tmp_path / "b.hcl")
    (problem,) = info.value.problems
    assert (Path(str(problem.file)).name, problem.line, problem.path, problem.message) == (
        "b.hcl",
        1,
        "",
        'duplicate service-resolver config entry "db"',
    )


def test_duplicate_config_entry_in_one_file() -> None:
    text = (
        "config_entries {\n"
        "  bootstrap = [\n"
        '    { kind = "service-resolver", name = "db" },\n'
        '    { kind = "service-resolver", name = "api" },\n'
        '    { kind = "service-defaults", name = "db" },\n'  # another kind: no clash
        '    { kind = "service-resolver", name = "db", partition = "ap1" },\n'  # another partition
        '    { kind = "service-resolver", name = "db" },\n'
        "  ]\n"
        "}\n"
    )
    with pytest.raises(ValidationError) as info:
        meshgw.loads(text, format="hcl", name="entries.hcl")
    assert [str(p) for p in info.value.problems] == [
        'entries.hcl:7: config_entries.bootstrap[4]: duplicate service-resolver config entry "db"'
    ]
