"""meshgw's RBAC filters against Consul's own (``TestMakeRBACNetworkAndHTTPFilters``).

Each case rebuilds one of Consul's test inputs as a mesh (intentions towards ``api``,
trust domain ``test.consul``, a peer ``peer1`` whose trust domain is ``peer1.domain``
exporting from partition ``part1``; the default from the ACL default policy) and
compares the filter meshgw builds with Consul's golden, read from
``../shared/reference/consul-rbac-goldens/`` (HashiCorp's data, not in this repository;
camelCase proto-JSON, so it is made snake_case first). After the one deliberate
difference (:func:`_modern_matchers`) they must be equal, and Envoy must accept every
filter without a deprecated field.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

import meshgw
from meshgw._envoy.rbac import http_rbac_filter, network_rbac_filter
from meshgw._envoy.resources import HCM_TYPE, ROUTER_TYPE, socket_address, tcp_proxy_filter, typed
from meshgw._plan.rbac import inbound_rbac
from meshgw._resolve.intentions import inbound_policy
from meshgw.testing import assert_envoy_accepts

_CAMEL = re.compile(r"(?<=[a-z0-9])([A-Z])")

Source = dict[str, Any]


def _snake_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            (k if k.startswith("@") or "-" in k else _CAMEL.sub(r"_\1", k).lower()): _snake_keys(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_snake_keys(v) for v in value]
    return value


_HEADER_MATCH = {
    "exact_match": "exact",
    "prefix_match": "prefix",
    "suffix_match": "suffix",
    "safe_regex_match": "safe_regex",
}


def _modern_matchers(value: Any) -> Any:
    """Envoy 1.40 deprecates ``google_re2`` in regex matchers and the ``*_match`` string
    fields of header matchers (Consul's goldens, Envoy 1.26): meshgw writes ``{"regex"}``
    and ``string_match`` (docs/consul-differences.md)."""
    if isinstance(value, list):
        return [_modern_matchers(v) for v in value]
    if not isinstance(value, dict):
        return value
    out = {k: _modern_matchers(v) for k, v in value.items() if k != "google_re2"}
    for old, new in _HEADER_MATCH.items():
        if old in out:
            out["string_match"] = {new: out.pop(old)}
    return out


def _allow(name: str, **more: Any) -> Source:
    return {"Name": name, "Action": "allow", **more}


def _deny(name: str, **more: Any) -> Source:
    return {"Name": name, "Action": "deny", **more}


def _perms(name: str, *perms: tuple[str, dict[str, Any]]) -> Source:
    return {"Name": name, "Permissions": [{"Action": a, "HTTP": h} for a, h in perms]}


_KITCHEN_HEADERS = [
    {"Name": "x-foo", "Present": True},
    {"Name": "x-bar", "Exact": "xyz"},
    {"Name": "x-dib", "Prefix": "gaz"},
    {"Name": "x-gir", "Suffix": "zim"},
    {"Name": "x-zim", "Regex": "gi[rR]"},
    {"Name": "z-foo", "Present": True, "Invert": True},
    {"Name": "z-bar", "Exact": "xyz", "Invert": True},
    {"Name": "z-dib", "Prefix": "gaz", "Invert": True},
    {"Name": "z-gir", "Suffix": "zim", "Invert": True},
    {"Name": "z-zim", "Regex": "gi[rR]", "Invert": True},
]


def _kitchen_sink(first: str, rest: str) -> Source:
    return _perms(
        "web",
        (first, {"PathExact": "/v1/secret"}),
        (rest, {"PathPrefix": "/v1"}),
        (rest, {"PathRegex": "/v[123]", "Methods": ["GET", "HEAD", "OPTIONS"]}),
        (rest, {"Header": _KITCHEN_HEADERS}),
    )


# golden name → (default allow, intentions towards "api" (or (destination, source)))
CASES: dict[str, tuple[bool, list[Any]]] = {
    "default-allow-one-deny": (True, [_deny("web")]),
    "default-deny-one-allow": (False, [_allow("web")]),
    "default-deny-allow-deny": (False, [_deny("web"), _allow("*")]),
    "default-allow-service-wildcard-deny": (True, [_deny("*")]),
    "default-deny-service-wildcard-allow": (False, [_allow("*")]),
    "default-allow-kitchen-sink": (
        True,
        [_deny("web"), _allow("unsafe"), _deny("cron"), _deny("*")],
    ),
    "default-deny-kitchen-sink": (
        False,
        [_allow("web"), _deny("unsafe"), _allow("cron"), _allow("*")],
    ),
    "default-deny-mixed-precedence": (
        False,
        [_allow("web"), _deny("*"), ("*", _deny("web"))],
    ),
    "default-deny-peered-kitchen-sink": (
        False,
        [_allow("web"), _allow("*", Peer="peer1"), _deny("web", Peer="peer1")],
    ),
    "default-allow-deny-all-and-path-allow": (
        True,
        [_perms("web", ("allow", {"PathPrefix": "/"})), _deny("*")],
    ),
    "default-deny-two-path-deny-and-path-allow": (
        False,
        [
            _perms(
                "web",
                ("deny", {"PathExact": "/v1/secret"}),
                ("deny", {"PathExact": "/v1/admin"}),
                ("allow", {"PathPrefix": "/"}),
            )
        ],
    ),
    "default-deny-single-intention-with-kitchen-sink-perms": (
        False,
        [_kitchen_sink("deny", "allow")],
    ),
    "default-allow-single-intention-with-kitchen-sink-perms": (
        True,
        [_kitchen_sink("allow", "deny")],
    ),
}


def _mesh(default_allow: bool, intentions: list[Any]) -> meshgw.Mesh:
    by_destination: dict[str, list[Source]] = {}
    for item in intentions:
        destination, source = item if isinstance(item, tuple) else ("api", item)
        by_destination.setdefault(destination, []).append(source)
    entries = [
        {"Kind": "service-intentions", "Name": name, "Sources": sources}
        for name, sources in by_destination.items()
    ]
    return meshgw.Mesh.from_dict(
        {
            "trust_domain": "test.consul",
            "acl": {"enabled": True, "default_policy": "allow" if default_allow else "deny"},
            "config_entries": {"bootstrap": entries},
            "peers": [
                {"name": "peer1", "trust_domain": "peer1.domain", "remote_partition": "part1"}
            ],
        }
    )


def _built(goldens: Path, case: str) -> dict[str, Any]:
    default_allow, intentions = CASES[case]
    policy = inbound_policy(_mesh(default_allow, intentions), "api")
    assert policy.skipped == ()
    if _golden(goldens, case)["name"] == "envoy.filters.http.rbac":
        return http_rbac_filter(inbound_rbac(policy, http=True))
    return network_rbac_filter(inbound_rbac(policy, http=False), "connect_authz")


def _golden(goldens: Path, case: str) -> dict[str, Any]:
    """Consul's golden ``case`` (in ``goldens``, the ``consul_rbac_goldens`` fixture)."""
    path = goldens / f"{case}.json"
    return _snake_keys(json.loads(path.read_text(encoding="utf-8")))  # type: ignore[no-any-return]


@pytest.mark.parametrize("case", sorted(CASES))
def test_rbac_filter_matches_consul(case: str, consul_rbac_goldens: Path) -> None:
    golden = _golden(consul_rbac_goldens, case)
    assert _built(consul_rbac_goldens, case) == _modern_matchers(golden)


def test_envoy_accepts_every_filter_without_deprecated_fields(consul_rbac_goldens: Path) -> None:
    listeners = []
    for i, case in enumerate(sorted(CASES)):
        built = _built(consul_rbac_goldens, case)
        if built["name"] == "envoy.filters.http.rbac":
            filters = [_hcm([built, _ROUTER])]
        else:
            filters = [built, tcp_proxy_filter("x", "app")]
        listeners.append(
            {
                "name": case,
                "address": socket_address("127.0.0.1", 20000 + i),
                "filter_chains": [{"filters": filters}],
            }
        )
    assert_envoy_accepts({"listeners": listeners, "clusters": [_APP]}, reject_deprecated=True)


_ROUTER = {"name": "envoy.filters.http.router", "typed_config": typed(ROUTER_TYPE)}
_APP = {
    "name": "app",
    "type": "STATIC",
    "connect_timeout": "1s",
    "load_assignment": {
        "cluster_name": "app",
        "endpoints": [
            {"lb_endpoints": [{"endpoint": {"address": socket_address("127.0.0.1", 1)}}]}
        ],
    },
}


def _hcm(http_filters: list[dict[str, Any]]) -> dict[str, Any]:
    route = {"match": {"prefix": "/"}, "route": {"cluster": "app"}}
    host = {"name": "r", "domains": ["*"], "routes": [route]}
    return {
        "name": "envoy.filters.network.http_connection_manager",
        "typed_config": typed(
            HCM_TYPE,
            stat_prefix="x",
            route_config={"name": "r", "virtual_hosts": [host]},
            http_filters=http_filters,
        ),
    }


def test_every_golden_has_a_case(consul_rbac_goldens: Path) -> None:
    assert sorted(p.stem for p in consul_rbac_goldens.glob("*.json")) == sorted(CASES)
