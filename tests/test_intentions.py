"""service-intentions: loading (Consul's validation rules, located), the default decision,
precedence and provenance (meshgw._resolve.intentions), and the sidecar's inbound RBAC."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import meshgw
from meshgw._envoy.rbac import Principal, RbacPolicy
from meshgw._plan.rbac import inbound_rbac
from meshgw._resolve.intentions import (
    FINDING_CODES,
    Identity,
    decide,
    default_policy,
    inbound_policy,
    intention_problems,
    intentions_for,
)
from meshgw.errors import MeshgwWarning, ValidationError
from meshgw.model import ServiceIntentions


def _mesh(text: str, tmp_path: Path, name: str = "mesh.hcl") -> meshgw.Mesh:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return meshgw.load(path)


def _problems(text: str, tmp_path: Path) -> str:
    with pytest.raises(ValidationError) as info:
        _mesh(text, tmp_path)
    return str(info.value)


def _entries(*entries: str, acl: str = "") -> str:
    body = ",\n".join(entries)
    return f"{acl}\nconfig_entries {{\n  bootstrap = [\n{body}\n  ]\n}}\n"


_DENY_ACL = 'acl {\n  enabled = true\n  default_policy = "deny"\n  tokens { agent = "s3cr3t" }\n}'

# --------------------------------------------------------------------------- the default


def test_default_is_allow_when_acls_are_off(tmp_path: Path) -> None:
    default = default_policy(_mesh('datacenter = "dc1"\n', tmp_path))
    assert default.allow
    assert str(default) == "default allow (ACLs are disabled)"


def test_default_follows_the_acl_default_policy(tmp_path: Path) -> None:
    mesh = _mesh(_DENY_ACL, tmp_path)
    default = default_policy(mesh)
    assert not default.allow
    assert str(default) == f'default deny (acl.default_policy = "deny" at {tmp_path}/mesh.hcl:1)'
    # The rest of the acl block (tokens among it) is neither kept nor shown.
    assert "s3cr3t" not in repr(mesh)


def test_acl_default_policy_unset_means_allow(tmp_path: Path) -> None:
    assert default_policy(_mesh("acl { enabled = true }\n", tmp_path)).allow


def test_default_intention_policy_overrides_acls(tmp_path: Path) -> None:
    mesh = _mesh(_DENY_ACL + '\ndefault_intention_policy = "allow"\n', tmp_path)
    default = default_policy(mesh)
    assert default.allow
    assert default.reason == 'default_intention_policy = "allow"'


def test_bad_default_settings_are_located_errors(tmp_path: Path) -> None:
    text = (
        'acl {\n  enabled = "yes"\n  default_policy = "maybe"\n}\ndefault_intention_policy = "x"\n'
    )
    message = _problems(text, tmp_path)
    assert f"{tmp_path}/mesh.hcl:2: acl.enabled: expected true or false" in message
    assert (
        f'{tmp_path}/mesh.hcl:3: acl.default_policy: invalid ACL default policy string "maybe"'
        in message
    )
    assert (
        f'{tmp_path}/mesh.hcl:5: default_intention_policy: invalid default intention policy "x"'
        in message
    )


# --------------------------------------------------------------------------- loading


def test_consul_validation_rules_are_located(tmp_path: Path) -> None:
    text = _entries(
        """    {
      Kind = "service-intentions"
      Name = "api"
      Sources = [
        { Name = "web", Action = "allow" },
        { Name = "web", Action = "deny" },
        { Name = "we*", Action = "allow" },
        { Name = "x", Namespace = "*", Action = "allow" },
        { Name = "cron", Action = "allow", Permissions = [
          { Action = "allow", HTTP = { PathExact = "v1", PathPrefix = "/v1" } },
          { Action = "permit", HTTP = { PathRegex = "(" } },
          { Action = "deny", HTTP = { Header = [ { Name = "x", Exact = "a", Prefix = "b" } ] } },
          { Action = "deny", HTTP = { Methods = ["get", "GET", "FETCH"] } },
          { Action = "deny", HTTP = {} },
          { Action = "deny" },
        ] },
        { Name = "p", Peer = "dc2", Partition = "part", Action = "allow" },
        { Name = "q", Action = "maybe" },
        { Name = "r" },
      ]
    }""",
        """    { Kind = "service-intentions", Name = "*", Sources = [
        { Name = "web", Permissions = [ { Action = "allow", HTTP = { PathPrefix = "/" } } ] }
      ] }""",
        """    { Kind = "service-intentions", Name = "db", Sources = [] }""",
    )
    message = _problems(text, tmp_path)
    at = f"{tmp_path}/mesh.hcl"
    first = "config_entries.bootstrap[0].sources"
    expected = [
        (9, "[1].name", 'source "default/web" is listed more than once (first as sources[0])'),
        (10, "[2].name", "wildcard '*' cannot be used with partial values"),
        (11, "[3].name", "an exact name cannot follow a wildcard namespace"),
        (12, "[4].action", "action must be omitted when permissions are given"),
        (
            13,
            "[4].permissions[0].http",
            "give at most one of path_exact, path_prefix or path_regex",
        ),
        (13, "[4].permissions[0].http.path_exact", "path doesn't start with '/': \"v1\""),
        (14, "[4].permissions[1].action", 'action must be "allow" or "deny" (got "permit")'),
        (14, "[4].permissions[1].http.path_regex", "invalid RE2 regular expression: missing ): ("),
        (15, "[4].permissions[2].http.header[0]", "give exactly one of present, exact, prefix"),
        (16, "[4].permissions[3].http.methods[1]", 'method "GET" is listed more than once'),
        (16, "[4].permissions[3].http.methods[2]", 'invalid HTTP method "FETCH"'),
        (17, "[4].permissions[4].http", "http must match on a path, a header or a method"),
        (18, "[4].permissions[5].http", "http is required"),
        (20, "[5].peer", "cannot set peer and partition at the same time"),
        (21, "[6].action", 'action must be "allow" or "deny" (got "maybe")'),
        (22, "[7].action", "action is required"),
    ]
    for line, sub, text in expected:
        assert f"{at}:{line}: {first}{sub}: {text}" in message
    assert (
        "config_entries.bootstrap[1].sources[0].permissions: permissions cannot be given on "
        "intentions with a wildcard destination" in message
    )
    assert "config_entries.bootstrap[2].sources: at least one source is required" in message
    assert message.count("\n") == len(expected) + 2


def test_unsupported_parts_are_errors_by_name(tmp_path: Path) -> None:
    text = _entries(
        """    { Kind = "service-intentions", Name = "api",
      JWT = { Providers = [ { Name = "okta" } ] },
      Sources = [
        { Name = "web", SamenessGroup = "group", Action = "allow" },
        { Name = "cron", Permissions = [
          { Action = "allow", HTTP = { PathPrefix = "/" },
            JWT = { Providers = [ { Name = "okta" } ] } }
        ] },
      ] }"""
    )
    message = _problems(text, tmp_path)
    assert (
        "config_entries.bootstrap[0].jwt: JWT requirements on intentions are not supported"
        in message
    )
    assert (
        "sources[0].sameness_group: sameness-group sources are not supported by meshgw" in message
    )
    assert (
        "sources[1].permissions[0].jwt: JWT requirements on permissions are not supported"
        in message
    )


def test_api_output_with_legacy_fields_loads(tmp_path: Path) -> None:
    entry = {
        "Kind": "service-intentions",
        "Name": "api",
        "Sources": [
            {
                "Name": "web",
                "Action": "allow",
                "Precedence": 9,
                "Type": "consul",
                "LegacyID": "4f3d2c1b-0000-0000-0000-000000000000",
                "LegacyMeta": {"owner": "team"},
                "LegacyCreateTime": "2020-01-01T00:00:00Z",
                "LegacyUpdateTime": "2020-01-01T00:00:00Z",
            }
        ],
        "CreateIndex": 10,
        "ModifyIndex": 12,
    }
    path = tmp_path / "api.json"
    path.write_text(json.dumps(entry))
    (loaded,) = meshgw.load(path).config_entries
    assert isinstance(loaded, ServiceIntentions)
    assert loaded.sources[0].legacy_id.startswith("4f3d")
    assert loaded.sources[0].legacy_meta == {"owner": "team"}


# --------------------------------------------------------------------------- decisions

_PRECEDENCE = _entries(
    """    { Kind = "service-intentions", Name = "api", Sources = [
        { Name = "*", Action = "allow" },
        { Name = "web", Action = "deny" },
        { Name = "*", Namespace = "*", Action = "deny" },
        { Name = "cron", Peer = "other", Action = "allow" },
        { Name = "admin", Permissions = [ { Action = "allow", HTTP = { PathPrefix = "/a" } } ] },
      ] }""",
    """    { Kind = "service-intentions", Name = "*", Sources = [
        { Name = "web", Action = "allow" },
        { Name = "billing", Action = "deny" },
      ] }""",
    acl=_DENY_ACL,
)


@pytest.mark.parametrize(
    ("source", "verdict", "decided_by"),
    [
        # exact source beats the wildcard source; the exact destination beats "*"
        (Identity("web"), "deny", "deny default/web → default/api (mesh.hcl:10)"),
        (Identity("billing"), "allow", "allow default/* → default/api (mesh.hcl:9)"),
        (Identity("web", namespace="team"), "deny", "deny */* → default/api (mesh.hcl:11)"),
        (
            Identity("cron", peer="other"),
            "allow",
            "allow peer other default/cron → default/api (mesh.hcl:12)",
        ),
        (Identity("web", peer="other"), "deny", "default deny (acl.default_policy"),
        (Identity("admin"), "l7", "L7 default/admin → default/api (mesh.hcl:13)"),
    ],
)
def test_decide_by_precedence_with_provenance(
    tmp_path: Path, source: Identity, verdict: str, decided_by: str
) -> None:
    decision = decide(_mesh(_PRECEDENCE, tmp_path), source, "api")
    assert decision.verdict == verdict
    assert decision.decided_by.replace(f"{tmp_path}/", "").startswith(decided_by)


def test_wildcard_destination_applies_when_no_exact_entry(tmp_path: Path) -> None:
    mesh = _mesh(_PRECEDENCE, tmp_path)
    assert decide(mesh, Identity("web"), "db").allowed is True
    assert decide(mesh, Identity("billing"), "db").allowed is False
    assert decide(mesh, Identity("cron"), "db").allowed is False  # the default
    assert [i.precedence for i in intentions_for(mesh, "api")] == [9, 9, 9, 8, 7, 6, 6]


def test_source_partition_defaults_to_the_destination_s(tmp_path: Path) -> None:
    text = _entries(
        """    { Kind = "service-intentions", Name = "api", Partition = "finance", Sources = [
        { Name = "web", Action = "allow" },
        { Name = "web", Partition = "default", Action = "deny" },
      ] }""",
        acl=_DENY_ACL,
    )
    mesh = _mesh(text, tmp_path)
    assert decide(mesh, Identity("web", partition="finance"), "api", partition="finance").allowed
    assert not decide(mesh, Identity("web"), "api", partition="finance").allowed


def test_inbound_policy_keeps_each_source_once_and_skips_unknown_peers(tmp_path: Path) -> None:
    mesh = _mesh(_PRECEDENCE, tmp_path)
    policy = inbound_policy(mesh, "api")
    sources = [(r.source.peer, r.source.namespace, r.source.name) for r in policy.rules]
    # web → * (allow) is shadowed by web → api (deny); cron from the unknown peer is left out
    assert sources == [
        ("", "default", "admin"),
        ("", "default", "web"),
        ("", "default", "*"),
        ("", "*", "*"),
        ("", "default", "billing"),  # billing → * (precedence 6)
    ]
    assert policy.skipped == (
        f"intention allow peer other default/cron → default/api ({tmp_path}/mesh.hcl:12): "
        "peer 'other' is not a known peer; left out",
    )
    assert not policy.default_allow


def test_l7_intention_on_a_tcp_service_is_a_deny(tmp_path: Path) -> None:
    text = _entries(
        """    { Kind = "service-intentions", Name = "api", Sources = [
        { Name = "web", Permissions = [ { Action = "allow", HTTP = { PathPrefix = "/" } } ] },
      ] }""",
        acl='acl {\n  enabled = true\n  default_policy = "allow"\n}',
    )
    policy = inbound_policy(_mesh(text, tmp_path), "api")
    tcp = inbound_rbac(policy, http=False)
    assert tcp.action == "DENY" and [r.name for r in tcp.rules] == ["consul-intentions-layer4"]
    http = inbound_rbac(policy, http=True)
    assert http.action == "DENY" and http.rules == ()  # the only permission is an allow


# --------------------------------------------------------------------------- the sidecar


def _sidecar_mesh(tmp_path: Path, protocol: str, extra: str = "") -> meshgw.Mesh:
    text = f"""
    {_DENY_ACL}
    service {{
      name = "api"
      port = 8080
      connect {{ sidecar_service {{ proxy {{ config {{ protocol = "{protocol}" {extra} }} }} }} }}
    }}
    config_entries {{
      bootstrap = [
        {{ Kind = "service-intentions", Name = "api", Sources = [
          {{ Name = "web", Permissions = [
            {{ Action = "allow", HTTP = {{ PathPrefix = "/v1" }} }}
          ] }},
          {{ Name = "cron", Action = "allow" }},
        ] }},
      ]
    }}
    """
    return _mesh(text, tmp_path)


def _public(out: dict[str, Any]) -> dict[str, Any]:
    (listener,) = [x for x in out["listeners"] if x["name"].startswith("public_listener")]
    return listener  # type: ignore[no-any-return]


def test_tcp_sidecar_public_listener_enforces_intentions(tmp_path: Path) -> None:
    mesh = _sidecar_mesh(tmp_path, "tcp")
    out = meshgw.translate(mesh.service("api-sidecar-proxy"), mesh)
    rbac, proxy = _public(out)["filter_chains"][0]["filters"]
    assert proxy["name"] == "envoy.filters.network.tcp_proxy"
    rules = rbac["typed_config"]["rules"]
    assert "action" not in rules  # ALLOW: default deny
    principals = rules["policies"]["consul-intentions-layer4"]["principals"]
    regexes = [p["authenticated"]["principal_name"]["safe_regex"]["regex"] for p in principals]
    td = "11111111-2222-3333-4444-555555555555.consul"
    # web's L7 intention cannot apply on TCP: a deny, which the default covers
    assert regexes == [f"^spiffe://{td}/ns/default/dc/[^/]+/svc/cron$"]


def test_http_sidecar_public_listener_enforces_path_permissions(tmp_path: Path) -> None:
    mesh = _sidecar_mesh(tmp_path, "http")
    out = meshgw.translate(mesh.service("api-sidecar-proxy"), mesh)
    (hcm,) = _public(out)["filter_chains"][0]["filters"]
    rbac, router = hcm["typed_config"]["http_filters"]
    assert router["name"] == "envoy.filters.http.router"
    policies = rbac["typed_config"]["rules"]["policies"]
    # Numbered by position among the intentions kept (cron is 0), as Consul does.
    assert sorted(policies) == ["consul-intentions-layer4", "consul-intentions-layer7-1"]
    assert policies["consul-intentions-layer7-1"]["permissions"] == [
        {"url_path": {"path": {"prefix": "/v1"}}}
    ]


def test_http_escape_hatch_gets_the_http_rbac_filter(tmp_path: Path) -> None:
    hcm = {
        "name": "envoy.filters.network.http_connection_manager",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.network."
            "http_connection_manager.v3.HttpConnectionManager",
            "stat_prefix": "custom",
            "route_config": {"name": "r", "virtual_hosts": []},
            "http_filters": [{"name": "envoy.filters.http.router"}],
        },
    }
    custom = {"name": "custom", "filter_chains": [{"filters": [hcm]}]}
    extra = f"envoy_public_listener_json = {json.dumps(json.dumps(custom))}"
    mesh = _sidecar_mesh(tmp_path, "http", extra)
    out = meshgw.translate(mesh.service("api-sidecar-proxy"), mesh)
    (listener,) = [x for x in out["listeners"] if x["name"] == "custom"]
    (got,) = listener["filter_chains"][0]["filters"]
    names = [f["name"] for f in got["typed_config"]["http_filters"]]
    assert names == ["envoy.filters.http.rbac", "envoy.filters.http.router"]


def test_unknown_peer_source_warns_at_translation(tmp_path: Path) -> None:
    text = """
    service {
      name = "api"
      port = 8080
      connect { sidecar_service {} }
    }
    config_entries {
      bootstrap = [
        { Kind = "service-intentions", Name = "api", Sources = [
          { Name = "web", Peer = "nowhere", Action = "deny" },
        ] },
      ]
    }
    """
    mesh = _mesh(text, tmp_path)
    with pytest.warns(MeshgwWarning, match="peer 'nowhere' is not a known peer; left out"):
        meshgw.translate(mesh.service("api-sidecar-proxy"), mesh)


# --------------------------------------------------------------------------- for check


def test_intentions_naming_unknown_services_and_peers(tmp_path: Path) -> None:
    text = """
    services = [
      { name = "web", port = 1, connect { sidecar_service {} } },
      { name = "payments", port = 2 },
    ]
    peers = [ { name = "acme", trust_domain = "acme.consul" } ]
    config_entries {
      bootstrap = [
        { Kind = "service-intentions", Name = "paymnets", Sources = [
          { Name = "web", Action = "allow" },
        ] },
        { Kind = "service-intentions", Name = "payments", Sources = [
          { Name = "wbe", Action = "allow" },
          { Name = "*", Action = "deny" },
          { Name = "cron", Peer = "acmee", Action = "allow" },
          { Name = "anything", Peer = "acme", Action = "allow" },
        ] },
      ]
    }
    """
    problems = intention_problems(_mesh(text, tmp_path))
    assert [str(p).replace(f"{tmp_path}/", "") for p in problems] == [
        'mesh.hcl:9: MGW102 service-intentions "paymnets": no service "paymnets" is '
        "registered or in the catalog (did you mean 'payments'?)",
        'mesh.hcl:13: MGW102 service-intentions "payments": source "wbe" is not registered '
        "or in the catalog (did you mean 'web'?)",
        'mesh.hcl:15: MGW103 service-intentions "payments": source "cron" names peer "acmee", '
        "which is not in peers (did you mean 'acme'?)",
    ]
    assert {code for code, *_ in FINDING_CODES} >= {p.code for p in problems}
    # meshgw.check reports them with the same codes, places and suggestions.
    found = [f for f in meshgw.check(_mesh(text, tmp_path)) if f.code in ("MGW102", "MGW103")]
    assert [(f.code, f.source and f.source.line, f.suggestion) for f in found] == [
        ("MGW102", 9, "did you mean 'payments'?"),
        ("MGW102", 13, "did you mean 'web'?"),
        ("MGW103", 15, "did you mean 'acme'?"),
    ]


# --------------------------------------------------------------------------- RBAC = decide


_NAMES = ("web", "api", "cron")
_SOURCE = st.fixed_dictionaries(
    {
        "Name": st.sampled_from((*_NAMES, "*")),
        "Namespace": st.sampled_from(("", "team", "*")),
        "Action": st.sampled_from(("allow", "deny")),
    }
).filter(lambda s: not (s["Namespace"] == "*" and s["Name"] != "*"))


def _rbac_allows(policy: RbacPolicy, spiffe: str) -> bool:
    def matches(p: Principal) -> bool:
        if p.kind == "uri_regex":
            return re.fullmatch(p.value, spiffe) is not None
        if p.kind == "and":
            return all(matches(c) for c in p.children)
        if p.kind == "not":
            return not matches(p.children[0])
        raise AssertionError(p.kind)

    hit = any(matches(p) for rule in policy.rules for p in rule.principals)
    return hit if policy.action == "ALLOW" else not hit


@settings(max_examples=60, deadline=None)
@given(
    exact=st.lists(_SOURCE, max_size=6),
    wildcard=st.lists(_SOURCE, max_size=3),
    default_allow=st.booleans(),
)
def test_the_tcp_rbac_filter_decides_as_the_intentions_do(
    exact: list[dict[str, str]], wildcard: list[dict[str, str]], default_allow: bool
) -> None:
    """For every caller, the RBAC rules built from the intentions (precedence removed)
    allow exactly when the first matching intention (or the default) does."""

    def unique(sources: list[dict[str, str]]) -> list[dict[str, str]]:
        seen: dict[tuple[str, str], dict[str, str]] = {}
        for s in sources:
            seen.setdefault((s["Namespace"] or "default", s["Name"]), s)
        return list(seen.values())

    entries = [{"Kind": "service-intentions", "Name": "api", "Sources": unique(exact)}]
    if wildcard:
        entries.append({"Kind": "service-intentions", "Name": "*", "Sources": unique(wildcard)})
    entries = [e for e in entries if e["Sources"]]
    mesh = meshgw.Mesh.from_dict(
        {
            "trust_domain": "td.consul",
            "acl": {"enabled": True, "default_policy": "allow" if default_allow else "deny"},
            "config_entries": {"bootstrap": entries},
        }
    )
    rbac = inbound_rbac(inbound_policy(mesh, "api"), http=False)
    for namespace in ("default", "team", "other"):
        for name in _NAMES:
            spiffe = f"spiffe://td.consul/ns/{namespace}/dc/dc1/svc/{name}"
            expected = decide(mesh, Identity(name, namespace), "api").allowed
            assert _rbac_allows(rbac, spiffe) is expected, (namespace, name)


def test_where_consul_s_rbac_departs_from_its_precedence_the_proxy_s_answer_is_given(
    tmp_path: Path,
) -> None:
    # * → api (precedence 8) comes before web → * (6), but Consul's RBAC translation only
    # lets a higher-precedence intention override a wider one: the proxy denies web.
    text = _entries(
        """    { Kind = "service-intentions", Name = "api", Sources = [
        { Name = "*", Action = "allow" },
      ] }""",
        """    { Kind = "service-intentions", Name = "*", Sources = [
        { Name = "web", Action = "deny" },
      ] }""",
        acl='acl {\n  enabled = true\n  default_policy = "allow"\n}',
    )
    mesh = _mesh(text, tmp_path)
    decision = decide(mesh, Identity("web"), "api")
    assert decision.verdict == "deny"
    assert decision.intention is not None and decision.intention.destination == "*"
    assert decision.decided_by.replace(f"{tmp_path}/", "") == (
        "deny: deny default/web → default/* (mesh.hcl:11); the proxy enforces this, though "
        "Consul's first-match check answers allow by allow default/* → default/api "
        "(mesh.hcl:8)"
    )
    assert decide(mesh, Identity("cron"), "api").allowed is True
    assert decision.summary.replace(f"{tmp_path}/", "") == "deny (mesh.hcl:11, not first match)"


def test_http_permissions_towards_a_tcp_service_are_reported(tmp_path: Path) -> None:
    text = """
    services = [
      { name = "web", port = 1, connect { sidecar_service {} } },
      { name = "db", port = 2, connect { sidecar_service {} } },
      { name = "docs", port = 3, connect { sidecar_service {
          proxy { config { protocol = "http" } } } } },
    ]
    config_entries {
      bootstrap = [
        { Kind = "service-intentions", Name = "db", Sources = [
          { Name = "web", Permissions = [ { Action = "allow", HTTP = { PathPrefix = "/" } } ] },
        ] },
        { Kind = "service-intentions", Name = "docs", Sources = [
          { Name = "web", Permissions = [ { Action = "allow", HTTP = { PathPrefix = "/" } } ] },
        ] },
      ]
    }
    """
    (problem,) = intention_problems(_mesh(text, tmp_path))
    assert problem.code == "MGW104"
    assert problem.where is not None and problem.where.line == 11
    assert problem.message == (
        'service-intentions "db": source "web" has HTTP permissions, but db\'s protocol is '
        '"tcp": its sidecars refuse that source'
    )
