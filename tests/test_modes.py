"""Tests for meshgw.modes: the 8-layer precedence, override matching and routes.

Layers are numbered as in docs/modes.md (1 = highest precedence):
1 upstream, 2 service-defaults override, 3 proxy registration, 4 UpstreamConfig.Defaults,
5 downstream service-defaults, 6 proxy-defaults of the proxy's partition,
7 target service-defaults, 8 proxy-defaults of the target's partition.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from itertools import combinations
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meshgw import loads
from meshgw._resolve.modes import (
    LAYERS,
    Explanation,
    LayerValue,
    ModeResolution,
    ModeTarget,
    explain,
    resolve_mode,
    resolve_target_mode,
)
from meshgw.errors import LookupFailed, MeshgwError, ValidationError
from meshgw.model import (
    Connect,
    GatewayMode,
    Mesh,
    MeshGatewayConfig,
    Proxy,
    ProxyDefaults,
    Service,
    ServiceDefaults,
    ServiceKind,
    Upstream,
    UpstreamConfig,
    UpstreamConfiguration,
)

U = GatewayMode.DEFAULT
NONE = GatewayMode.NONE
LOCAL = GatewayMode.LOCAL
REMOTE = GatewayMode.REMOTE

DIRECT = "direct"
LGW = "local-gateway"
RGW = "remote-gateway"

# Route of a mode for a target in another datacenter or partition (not a peer).
CROSS_ROUTE = {U: DIRECT, NONE: DIRECT, LOCAL: LGW, REMOTE: RGW}


def _mgw(mode: GatewayMode) -> MeshGatewayConfig:
    return MeshGatewayConfig(mode)


# Upstream shapes; every one points at service "api".
TARGETS: dict[str, dict[str, str]] = {
    "dc2": {"datacenter": "dc2"},  # another datacenter
    "ap2": {"destination_partition": "ap2"},  # another partition of dc1
    "default-ap": {"destination_partition": "default"},  # for a proxy outside default
    "local": {},  # dc1, default partition
    "peer": {"destination_peer": "acme"},
    "query": {"destination_type": "prepared_query", "datacenter": "dc2"},
}


def build(
    layers: Mapping[int, GatewayMode] | None = None,
    target: str = "dc2",
    *,
    overrides: tuple[UpstreamConfig, ...] | None = None,
    proxy_partition: str = "",
    sd_namespace: str = "",
    up_namespace: str = "",
    external: bool = False,
    pd_config: Mapping[str, Any] | None = None,
    proxy_id: str = "web-sidecar-proxy",
) -> tuple[Service, Mesh]:
    """A web sidecar with one upstream "api" and entries setting the given layers.

    A layer present with value ``U`` creates its entry with an empty mode (to show that
    an existing-but-empty entry falls through); an absent layer creates nothing.
    """
    layers = dict(layers or {})
    up_fields: dict[str, Any] = dict(TARGETS[target])
    if up_namespace:
        up_fields["destination_namespace"] = up_namespace
    upstream = Upstream(
        destination_name="api",
        local_bind_port=9001,
        mesh_gateway=_mgw(layers.get(1, U)),
        **up_fields,
    )
    proxy = Proxy(
        destination_service_name="web",
        destination_service_id="web",
        mesh_gateway=_mgw(layers.get(3, U)),
        upstreams=(upstream,),
    )
    svc = Service(
        kind=ServiceKind.CONNECT_PROXY,
        name=proxy_id,
        id=proxy_id,
        port=21000,
        proxy=proxy,
        partition=proxy_partition,
    )
    proxy_ap = proxy_partition or "default"
    target_ap = up_fields.get("destination_partition", proxy_ap)
    if target == "peer":
        target_ap = proxy_ap
    entries: list[Any] = []

    if overrides is None and 2 in layers:
        overrides = (
            UpstreamConfig(
                name="api",
                partition=up_fields.get("destination_partition", ""),
                peer=up_fields.get("destination_peer", ""),
                mesh_gateway=_mgw(layers[2]),
            ),
        )
    if overrides is not None or {4, 5} & layers.keys():
        upstream_config = UpstreamConfiguration(
            overrides=overrides or (),
            defaults=UpstreamConfig(mesh_gateway=_mgw(layers[4])) if 4 in layers else None,
        )
        entries.append(
            ServiceDefaults(
                name="web",
                mesh_gateway=_mgw(layers.get(5, U)),
                upstream_config=upstream_config,
                namespace=sd_namespace,
                partition=proxy_partition,
            )
        )
    if 7 in layers or external:
        entries.append(
            ServiceDefaults(
                name="api",
                mesh_gateway=_mgw(layers.get(7, U)),
                partition="" if target_ap == "default" else target_ap,
                external_sni="api.example.com" if external else "",
            )
        )
    if target_ap == proxy_ap and 6 in layers and 8 in layers and layers[6] != layers[8]:
        raise ValueError("layers 6 and 8 are the same entry when the partitions agree")
    if 6 in layers or pd_config is not None or (8 in layers and target_ap == proxy_ap):
        mode = layers[6] if 6 in layers else layers.get(8, U)
        entries.append(
            ProxyDefaults(
                mesh_gateway=_mgw(mode), config=pd_config or {}, partition=proxy_partition
            )
        )
    if 8 in layers and target_ap != proxy_ap:
        partition = "" if target_ap == "default" else target_ap
        entries.append(ProxyDefaults(mesh_gateway=_mgw(layers[8]), partition=partition))
    mesh = Mesh(datacenter="dc1", services=(svc,), config_entries=tuple(entries))
    return svc, mesh


def resolve(
    layers: Mapping[int, GatewayMode] | None = None, target: str = "dc2", **kw: Any
) -> ModeResolution:
    svc, mesh = build(layers, target, **kw)
    return resolve_mode(svc, "api", mesh)


@attrs.frozen
class Case:
    layers: Mapping[int, GatewayMode]
    target: str
    mode: GatewayMode
    source: str
    route: str
    options: Mapping[str, Any] = attrs.field(factory=dict)


def _all_below(k: int, value: GatewayMode) -> dict[int, GatewayMode]:
    return {j: value for j in range(k + 1, 9)}


ov = UpstreamConfig  # shorter rows below

CASES = [
    # -- `none` is a value: it stops fall-through at every layer ------------------------
    *[
        pytest.param(
            Case({k: NONE, **_all_below(k, LOCAL)}, "ap2", NONE, LAYERS[k - 1], DIRECT),
            id=f"none-stops-at-L{k}-{LAYERS[k - 1]}",
        )
        for k in range(1, 9)
    ],
    # -- an existing entry with an empty mode falls through to the next layer -----------
    *[
        pytest.param(
            Case({k: U, k + 1: REMOTE}, "ap2", REMOTE, LAYERS[k], RGW),
            id=f"unset-falls-through-L{k}-to-L{k + 1}",
        )
        for k in range(1, 8)
    ],
    pytest.param(Case({8: U}, "ap2", U, "default", DIRECT), id="unset-L8-gives-default"),
    pytest.param(Case({}, "dc2", U, "default", DIRECT), id="nothing-set-cross-dc-direct"),
    # -- cross-datacenter targets ------------------------------------------------------
    pytest.param(Case({6: LOCAL}, "dc2", LOCAL, "proxy-defaults", LGW), id="dc2-local"),
    pytest.param(Case({1: REMOTE}, "dc2", REMOTE, "upstream", RGW), id="dc2-remote"),
    pytest.param(Case({3: NONE, 6: LOCAL}, "dc2", NONE, "proxy", DIRECT), id="dc2-none"),
    pytest.param(
        Case({7: REMOTE}, "dc2", REMOTE, "target-service-defaults", RGW),
        id="dc2-target-service-defaults",
    ),
    # -- same datacenter and partition: the mode is reported, never used ---------------
    pytest.param(Case({6: LOCAL}, "local", LOCAL, "proxy-defaults", DIRECT), id="local-local"),
    pytest.param(Case({1: REMOTE}, "local", REMOTE, "upstream", DIRECT), id="local-remote"),
    pytest.param(Case({3: NONE}, "local", NONE, "proxy", DIRECT), id="local-none"),
    pytest.param(Case({}, "local", U, "default", DIRECT), id="local-unset"),
    # -- another partition of the same datacenter uses gateways like another DC --------
    pytest.param(Case({6: LOCAL}, "ap2", LOCAL, "proxy-defaults", LGW), id="partition-local"),
    pytest.param(Case({1: REMOTE}, "ap2", REMOTE, "upstream", RGW), id="partition-remote"),
    pytest.param(
        Case({8: REMOTE}, "ap2", REMOTE, "target-proxy-defaults", RGW),
        id="partition-uses-target-partition-proxy-defaults",
    ),
    pytest.param(
        Case({6: LOCAL, 8: REMOTE}, "ap2", LOCAL, "proxy-defaults", LGW),
        id="partition-own-proxy-defaults-beat-target-partition",
    ),
    pytest.param(
        # proxy in ap1: layer 6 reads ap1's proxy-defaults, layer 8 default's.
        Case({6: LOCAL, 8: REMOTE}, "default-ap", LOCAL, "proxy-defaults", LGW,
             {"proxy_partition": "ap1"}),
        id="partition-proxy-in-ap1-target-in-default",
    ),
    pytest.param(Case({}, "ap2", U, "default", DIRECT), id="partition-unset"),
    # -- peer targets: unset and none behave as remote -----------------------------
    pytest.param(Case({}, "peer", U, "default", RGW), id="peer-unset-is-remote"),
    pytest.param(Case({1: NONE}, "peer", NONE, "upstream", RGW), id="peer-none-is-remote"),
    pytest.param(Case({6: LOCAL}, "peer", LOCAL, "proxy-defaults", LGW), id="peer-local"),
    pytest.param(Case({3: REMOTE}, "peer", REMOTE, "proxy", RGW), id="peer-remote"),
    pytest.param(
        Case({7: LOCAL}, "peer", U, "default", RGW), id="peer-has-no-chain-no-target-defaults"
    ),
    # -- prepared queries: nothing from central config, never through a gateway ----------
    pytest.param(
        Case({2: LOCAL, 4: LOCAL, 5: LOCAL, 6: LOCAL, 7: LOCAL}, "query", U, "default", DIRECT),
        id="query-ignores-central-config",
    ),
    pytest.param(Case({3: LOCAL}, "query", U, "default", DIRECT), id="query-ignores-proxy-mode"),
    pytest.param(Case({1: LOCAL}, "query", LOCAL, "upstream", DIRECT), id="query-own-mode"),
    # -- override matching -----------------------------------------------------------
    pytest.param(
        Case({3: REMOTE}, "dc2", LOCAL, "service-defaults-override", LGW,
             {"overrides": (ov(name="api", mesh_gateway=_mgw(LOCAL)),)}),
        id="override-matches-by-name",
    ),
    pytest.param(
        Case({3: REMOTE}, "dc2", LOCAL, "service-defaults-override", LGW,
             {"overrides": (ov(name="api", namespace="default", partition="default",
                               mesh_gateway=_mgw(LOCAL)),)}),
        id="override-matches-explicit-defaults",
    ),
    pytest.param(
        Case({3: REMOTE}, "dc2", REMOTE, "proxy", RGW,
             {"overrides": (ov(name="apx", mesh_gateway=_mgw(LOCAL)),)}),
        id="override-name-mismatch",
    ),
    pytest.param(
        Case({3: REMOTE}, "dc2", REMOTE, "proxy", RGW,
             {"overrides": (ov(name="api", namespace="team", mesh_gateway=_mgw(LOCAL)),)}),
        id="override-namespace-mismatch",
    ),
    pytest.param(
        Case({3: REMOTE}, "dc2", REMOTE, "proxy", RGW,
             {"overrides": (ov(name="api", partition="ap9", mesh_gateway=_mgw(LOCAL)),)}),
        id="override-partition-mismatch",
    ),
    pytest.param(
        Case({3: REMOTE}, "dc2", REMOTE, "proxy", RGW,
             {"overrides": (ov(name="api", peer="acme", mesh_gateway=_mgw(LOCAL)),)}),
        id="override-peer-mismatch",
    ),
    pytest.param(
        Case({3: REMOTE}, "dc2", REMOTE, "proxy", RGW,
             {"overrides": (ov(mesh_gateway=_mgw(LOCAL)),)}),
        id="override-nameless-never-matches",
    ),
    pytest.param(
        Case({3: NONE}, "dc2", REMOTE, "service-defaults-override", RGW,
             {"overrides": (ov(name="api", mesh_gateway=_mgw(LOCAL)),
                            ov(name="api", mesh_gateway=_mgw(REMOTE)))}),
        id="override-last-match-wins",
    ),
    pytest.param(
        Case({3: NONE}, "dc2", NONE, "proxy", DIRECT,
             {"overrides": (ov(name="api", mesh_gateway=_mgw(LOCAL)),
                            ov(name="api"))}),
        id="override-last-match-wins-even-unset",
    ),
    pytest.param(
        Case({}, "peer", LOCAL, "service-defaults-override", LGW,
             {"overrides": (ov(name="api", peer="acme", mesh_gateway=_mgw(LOCAL)),)}),
        id="override-peer-matches-peered-upstream",
    ),
    pytest.param(
        # Consul 1.15 also matched a peer-less override by name ("legacy mode"); >= 1.16
        # does not, and neither does meshgw.
        Case({}, "peer", U, "default", RGW,
             {"overrides": (ov(name="api", mesh_gateway=_mgw(LOCAL)),)}),
        id="override-no-legacy-name-only-peer-match",
    ),
    pytest.param(
        Case({}, "dc2", LOCAL, "service-defaults-override", LGW,
             {"overrides": (ov(name="api", mesh_gateway=_mgw(LOCAL)),),
              "sd_namespace": "team", "up_namespace": "team"}),
        id="override-namespace-inherited-from-entry",
    ),
    pytest.param(
        Case({}, "dc2", U, "default", DIRECT,
             {"overrides": (ov(name="api", mesh_gateway=_mgw(LOCAL)),), "up_namespace": "team"}),
        id="override-empty-namespace-is-default",
    ),
    pytest.param(
        Case({2: REMOTE}, "ap2", REMOTE, "service-defaults-override", RGW),
        id="override-matches-partition-target",
    ),
    # -- odds and ends -----------------------------------------------------------------
    pytest.param(
        Case({6: LOCAL}, "dc2", LOCAL, "proxy-defaults", DIRECT, {"external": True}),
        id="external-sni-target-bypasses-gateways",
    ),
    pytest.param(
        Case({}, "dc2", LOCAL, "proxy-defaults", LGW,
             {"pd_config": {"mesh_gateway": {"mode": "local"}}}),
        id="proxy-defaults-opaque-config-mesh-gateway",
    ),
    pytest.param(
        Case({6: REMOTE}, "dc2", REMOTE, "proxy-defaults", RGW,
             {"pd_config": {"mesh_gateway": [{"Mode": "local"}]}}),
        id="proxy-defaults-typed-field-beats-opaque-config",
    ),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES)
def test_resolution_table(case: Case) -> None:
    res = resolve(case.layers, case.target, **case.options)
    assert (res.mode, res.source, res.route) == (case.mode, case.source, case.route)


def test_table_is_big_enough() -> None:
    assert len(CASES) >= 40


# Every layer against every lower one, with different values. Partition target "ap2"
# keeps layers 6 and 8 in different entries.
_CYCLE = (LOCAL, REMOTE, NONE)
PAIRS = [
    pytest.param(
        hi,
        lo,
        _CYCLE[(hi + lo) % 3],
        _CYCLE[(hi + lo + 1) % 3],
        id=f"L{hi}-{LAYERS[hi - 1]}={_CYCLE[(hi + lo) % 3].value}"
        f"-beats-L{lo}-{LAYERS[lo - 1]}={_CYCLE[(hi + lo + 1) % 3].value}",
    )
    for hi, lo in combinations(range(1, 9), 2)
]


@pytest.mark.parametrize(("hi", "lo", "hi_mode", "lo_mode"), PAIRS)
def test_higher_layer_wins(hi: int, lo: int, hi_mode: GatewayMode, lo_mode: GatewayMode) -> None:
    res = resolve({hi: hi_mode, lo: lo_mode}, "ap2")
    assert res.mode is hi_mode
    assert res.source == LAYERS[hi - 1]
    assert res.route == CROSS_ROUTE[hi_mode]
    assert res.layer(LAYERS[lo - 1]).mode is lo_mode  # the loser is still reported


def test_pairs_cover_every_pair() -> None:
    assert len(PAIRS) == 28


# -- layers and details ------------------------------------------------------------------


def test_layers_all_present_in_order_with_details() -> None:
    overrides = (
        UpstreamConfig(name="other", mesh_gateway=_mgw(REMOTE)),
        UpstreamConfig(name="api", partition="ap2", mesh_gateway=_mgw(NONE)),
    )
    svc, mesh = build(
        {1: LOCAL, 3: REMOTE, 4: LOCAL, 5: NONE, 6: REMOTE, 7: LOCAL, 8: NONE},
        "ap2",
        overrides=overrides,
    )
    res = resolve_mode(svc, "api", mesh)
    assert res.layers == (
        LayerValue("upstream", LOCAL, 'upstream "api"'),
        LayerValue(
            "service-defaults-override",
            NONE,
            'service-defaults "web" UpstreamConfig.Overrides[1] (name=api, partition=ap2)',
        ),
        LayerValue("proxy", REMOTE, "registration proxy.mesh_gateway"),
        LayerValue(
            "service-defaults-upstream-defaults",
            LOCAL,
            'service-defaults "web" UpstreamConfig.Defaults',
        ),
        LayerValue("service-defaults", NONE, 'service-defaults "web"'),
        LayerValue("proxy-defaults", REMOTE, 'proxy-defaults "global" (partition default)'),
        LayerValue("target-service-defaults", LOCAL, 'service-defaults "api" (partition ap2)'),
        LayerValue("target-proxy-defaults", NONE, 'proxy-defaults "global" (partition ap2)'),
    )
    assert tuple(v.layer for v in res.layers) == LAYERS
    assert res.override_mode is LOCAL
    assert res.chain_mode is LOCAL
    assert res.target == ModeTarget("api", "default", "ap2", "dc1", "")


def test_layers_when_nothing_exists() -> None:
    res = resolve({}, "dc2")
    assert [v.mode for v in res.layers] == [U] * 8
    assert [v.detail for v in res.layers] == [
        'upstream "api?dc=dc2"',
        'no service-defaults "web"',
        "registration proxy.mesh_gateway",
        'no service-defaults "web"',
        'no service-defaults "web"',
        "no proxy-defaults in partition default",
        'no service-defaults "api"',
        "no proxy-defaults in partition default",
    ]
    assert res.override_mode is U and res.chain_mode is U


def test_layers_not_consulted_are_said_so() -> None:
    peer = resolve({7: LOCAL}, "peer")
    assert peer.layer("target-service-defaults") == LayerValue(
        "target-service-defaults", U, "not consulted: peered upstreams have no discovery chain"
    )
    query = resolve({3: LOCAL}, "query")
    assert query.layer("proxy").mode is U
    assert "not consulted" in query.layer("proxy").detail
    assert '"local"' in query.layer("proxy").detail
    assert query.upstream == "prepared_query:api?dc=dc2"


def test_override_and_chain_modes_and_customization() -> None:
    customized = resolve({3: LOCAL, 7: REMOTE})
    assert (customized.override_mode, customized.chain_mode) == (LOCAL, REMOTE)
    assert customized.customized
    same = resolve({3: LOCAL, 6: LOCAL})  # layer 8 is the same entry as 6 here
    assert (same.override_mode, same.chain_mode) == (LOCAL, LOCAL)
    assert not same.customized
    chain_only = resolve({7: REMOTE})
    assert (chain_only.override_mode, chain_only.chain_mode) == (U, REMOTE)
    assert not chain_only.customized
    assert not resolve({1: LOCAL}, "peer").customized  # no chain, no hash
    external = resolve({1: LOCAL}, external=True)
    assert external.external and not external.customized


def test_reasons() -> None:
    assert resolve({6: LOCAL}).reason == (
        "mode local from proxy-defaults: through dc1's mesh gateways"
    )
    assert resolve({1: REMOTE}).reason == "mode remote from upstream: through dc2's mesh gateways"
    assert resolve({6: LOCAL}, "local").reason.startswith(
        "target is in the local datacenter dc1: mesh gateway mode is ignored"
    )
    assert resolve({}, "peer").reason.startswith("peer target: unset mode behaves as remote")
    none_peer = resolve({1: NONE}, "peer").reason
    assert "invalid for peers and treated as remote" in none_peer
    assert "behaves as none" in resolve({}).reason
    assert "partition ap2" in resolve({1: REMOTE}, "ap2").reason
    assert "ExternalSNI" in resolve({}, external=True).reason
    assert "prepared-query" in resolve({}, "query").reason


_OPAQUE_PD = """
config_entries {
  bootstrap = [
    {
      kind = "proxy-defaults"
      name = "global"
      config {
        mesh_gateway = %s
      }
    }
  ]
}
"""


def test_opaque_proxy_defaults_mode_is_checked_at_load() -> None:
    """Consul honours proxy-defaults Config["mesh_gateway"]; its value is checked when
    the entry loads, with file and line, not when a mode is resolved."""
    mesh = loads(_OPAQUE_PD % '{ Mode = "local" }', format="hcl", name="pd.hcl")
    (pd,) = mesh.config_entries
    assert isinstance(pd, ProxyDefaults)
    svc, mesh = build({}, pd_config=pd.config)
    assert resolve_mode(svc, "api", mesh).mode == LOCAL
    for value, message in (
        ('{ mode = "sideways" }', 'invalid mode string "sideways"'),
        ('"local"', 'expected { mode = "none" | "local" | "remote" }, got string "local"'),
    ):
        with pytest.raises(ValidationError) as info:
            loads(_OPAQUE_PD % value, format="hcl", name="pd.hcl")
        (problem,) = info.value.problems
        assert problem.path == "config_entries.bootstrap[0].config.mesh_gateway"
        assert (problem.file, problem.line) == ("pd.hcl", 8)
        assert message in problem.message


def test_invalid_opaque_mode_in_a_mesh_built_in_code_is_ignored() -> None:
    # Nothing validates a Mesh built in code; resolving does not start to (as Consul,
    # which ignores a value it cannot decode).
    assert resolve({}, pd_config={"mesh_gateway": {"mode": "sideways"}}).mode == U
    assert resolve({}, pd_config={"MeshGateway": {"Mode": "local"}}).mode == LOCAL


# -- nested sidecar_service vs standalone proxy ------------------------------------------

UPSTREAMS = (
    Upstream(destination_name="api", datacenter="dc2", local_bind_port=9001),
    Upstream(
        destination_name="db", datacenter="dc2", local_bind_port=9002, mesh_gateway=_mgw(REMOTE)
    ),
    Upstream(destination_name="cache", local_bind_port=9003),
    Upstream(destination_name="payments", destination_peer="acme", local_bind_port=9004),
)
ENTRIES = (
    ProxyDefaults(mesh_gateway=_mgw(LOCAL)),
    ServiceDefaults(
        name="web",
        upstream_config=UpstreamConfiguration(
            overrides=(UpstreamConfig(name="cache", mesh_gateway=_mgw(NONE)),)
        ),
    ),
)


def _nested() -> tuple[Service, Service]:
    """A service with ``connect { sidecar_service {} }`` and the connect-proxy the loader
    expands it into (as Consul's agent does)."""
    sidecar_block = Service(proxy=Proxy(upstreams=UPSTREAMS))
    parent = Service(
        name="web", id="web", port=8080, connect=Connect(sidecar_service=sidecar_block)
    )
    expanded = Service(
        kind=ServiceKind.CONNECT_PROXY,
        name="web-sidecar-proxy",
        id="web-sidecar-proxy",
        port=21000,
        proxy=Proxy(
            destination_service_name="web",
            destination_service_id="web",
            local_service_address="127.0.0.1",
            local_service_port=8080,
            upstreams=UPSTREAMS,
        ),
    )
    return parent, expanded


def test_nested_and_standalone_sidecars_resolve_identically() -> None:
    parent, nested = _nested()
    standalone = Service(
        kind=ServiceKind.CONNECT_PROXY,
        name="web-proxy",
        id="web-proxy-1",
        port=21001,
        proxy=Proxy(destination_service_name="web", upstreams=UPSTREAMS),
    )
    mesh = Mesh(datacenter="dc1", services=(parent, nested, standalone), config_entries=ENTRIES)
    a, b = explain(nested, mesh), explain(standalone, mesh)
    assert len(a) == len(b) == 4
    for x, y in zip(a, b, strict=True):
        assert (x.mode, x.source, x.route, x.layers) == (y.mode, y.source, y.route, y.layers)
        assert (x.target, x.reason, x.upstream) == (y.target, y.reason, y.upstream)
    assert (a.service, b.service) == ("web-sidecar-proxy", "web-proxy-1")
    cache = a.resolutions[2]
    assert (cache.mode, cache.source, cache.route) == (NONE, "service-defaults-override", DIRECT)


def test_parent_of_a_sidecar_points_at_the_sidecar() -> None:
    parent, _ = _nested()
    empty = explain(parent)
    assert len(empty) == 0
    assert "web-sidecar-proxy" in empty.render()
    with pytest.raises(MeshgwError, match=r"typical service.*web-sidecar-proxy"):
        resolve_mode(parent, "api")


# -- selecting an upstream -----------------------------------------------------------------


def _web(*upstreams: Upstream) -> Service:
    return Service(
        kind=ServiceKind.CONNECT_PROXY,
        name="web-sidecar-proxy",
        proxy=Proxy(destination_service_name="web", upstreams=upstreams),
    )


def test_select_by_name_envoy_id_and_object() -> None:
    svc = _web(*UPSTREAMS)
    mesh = Mesh(config_entries=ENTRIES)
    by_name = resolve_mode(svc, "db", mesh)
    assert by_name.upstream == "db?dc=dc2"
    assert resolve_mode(svc, "db?dc=dc2", mesh) == by_name
    assert resolve_mode(svc, UPSTREAMS[1], mesh) == by_name
    assert resolve_mode(svc, "payments?peer=acme", mesh).upstream == "payments?peer=acme"
    assert by_name.service == "web-sidecar-proxy"  # the id defaults to the name


def test_unknown_upstream_lists_the_upstreams() -> None:
    with pytest.raises(LookupFailed, match=r"no upstream 'nope'.*api\?dc=dc2, db\?dc=dc2"):
        resolve_mode(_web(*UPSTREAMS), "nope")
    with pytest.raises(LookupFailed, match="upstreams: none"):
        resolve_mode(_web(), "api")


def test_ambiguous_name_asks_for_the_envoy_id() -> None:
    svc = _web(
        Upstream(destination_name="api", datacenter="dc2"),
        Upstream(destination_name="api", datacenter="dc3"),
    )
    with pytest.raises(LookupFailed, match="envoy id"):
        resolve_mode(svc, "api")
    assert resolve_mode(svc, "api?dc=dc3").target.datacenter == "dc3"


def test_envoy_id_beats_name() -> None:
    svc = _web(Upstream(destination_name="api", datacenter="dc2"), Upstream(destination_name="api"))
    assert resolve_mode(svc, "api").upstream == "api"


def test_mesh_none_is_an_empty_dc1() -> None:
    svc = _web(*UPSTREAMS)
    res = resolve_mode(svc, "api")
    assert (res.mode, res.source, res.route) == (U, "default", DIRECT)
    assert res.target == ModeTarget("api", "default", "default", "dc2", "")
    cache = resolve_mode(svc, "cache")
    assert cache.target.datacenter == "dc1" and cache.route == DIRECT


def test_not_a_sidecar_proxy() -> None:
    gateway = Service(
        kind=ServiceKind.MESH_GATEWAY,
        name="mesh-gateway",
        port=8443,
        proxy=Proxy(mesh_gateway=_mgw(LOCAL)),
    )
    with pytest.raises(MeshgwError, match="mesh-gateway"):
        resolve_mode(gateway, "api")
    empty = explain(gateway)
    assert len(empty) == 0 and "routes nothing" in empty.render()
    with pytest.raises(MeshgwError, match="typical service"):
        resolve_mode(Service(name="web"), "api")
    orphan = Service(kind=ServiceKind.CONNECT_PROXY, name="p", proxy=Proxy(upstreams=UPSTREAMS))
    with pytest.raises(MeshgwError, match="destination_service_name"):
        resolve_mode(orphan, "api")
    with pytest.raises(MeshgwError, match="no proxy block"):
        resolve_mode(Service(kind=ServiceKind.CONNECT_PROXY, name="p"), "api")


# -- discovery-chain targets -------------------------------------------------------------


def test_target_mode_for_failover_and_redirect_targets() -> None:
    svc, mesh = build({3: LOCAL}, "dc2")
    failover = resolve_target_mode(svc, "api", mesh, service_name="api", datacenter="dc3")
    assert failover.target == ModeTarget("api", "default", "default", "dc3", "")
    assert (failover.mode, failover.source, failover.route) == (LOCAL, "proxy", LGW)
    assert "through dc1's mesh gateways" in failover.reason
    local = resolve_target_mode(svc, "api", mesh, service_name="api", datacenter="dc1")
    assert local.route == DIRECT

    svc, mesh = build({7: REMOTE}, "dc2")  # service-defaults "api" says remote
    mesh = attrs.evolve(
        mesh,
        config_entries=(
            *mesh.config_entries,
            ServiceDefaults(name="api-v2", mesh_gateway=_mgw(NONE)),
        ),
    )
    redirect = resolve_target_mode(svc, "api", mesh, service_name="api-v2")
    assert redirect.target == ModeTarget("api-v2", "default", "default", "dc2", "")
    assert (redirect.mode, redirect.source, redirect.route) == (
        NONE,
        "target-service-defaults",
        DIRECT,
    )
    assert redirect.layer("target-service-defaults").detail == 'service-defaults "api-v2"'
    primary = resolve_target_mode(svc, "api", mesh, service_name="api")
    assert primary.target == ModeTarget("api", "default", "default", "dc2", "")
    assert (primary.upstream, primary.mode, primary.source, primary.route) == (
        "api?dc=dc2",
        REMOTE,
        "target-service-defaults",
        RGW,
    )
    assert primary.reason == "mode remote from target-service-defaults: through dc2's mesh gateways"


def test_target_mode_peer_and_partition_targets() -> None:
    svc, mesh = build({}, "dc2")
    peer = resolve_target_mode(svc, "api", mesh, service_name="api", peer="acme")
    assert peer.target == ModeTarget("api", "default", "default", "", "acme")
    assert (peer.source, peer.route) == ("default", RGW)
    svc, mesh = build({8: LOCAL}, "ap2")
    other = resolve_target_mode(svc, "api", mesh, service_name="api", partition="ap3")
    assert (other.mode, other.source, other.route) == (U, "default", DIRECT)  # ap3 has none
    same = resolve_target_mode(svc, "api", mesh, service_name="api")
    assert (same.mode, same.source, same.route) == (LOCAL, "target-proxy-defaults", LGW)


def test_target_mode_refusals() -> None:
    svc, mesh = build({}, "peer")
    with pytest.raises(MeshgwError, match="no discovery chain"):
        resolve_target_mode(svc, "api", mesh, service_name="api")
    svc, mesh = build({}, "dc2")
    with pytest.raises(MeshgwError, match="not both"):
        resolve_target_mode(svc, "api", mesh, service_name="api", peer="p", datacenter="dc2")
    with pytest.raises(MeshgwError, match="service_name"):
        resolve_target_mode(svc, "api", mesh, service_name="")


# -- explain -----------------------------------------------------------------------------

WORKED_TABLE = """\
web-sidecar-proxy (datacenter dc1, partition default): 4 upstreams
UPSTREAM            TARGET                MODE    SOURCE          ROUTE           INTENTION            REASON
api?dc=dc2          api (dc2)             local   proxy-defaults  local-gateway   allow (default)      mode local from proxy-defaults: through dc1's mesh gateways
db?dc=dc2           db (dc2)              remote  upstream        remote-gateway  allow (default)      mode remote from upstream: through dc2's mesh gateways
cache               cache (dc1)           local   proxy-defaults  direct          allow (default)      target is in the local datacenter dc1: mesh gateway mode is ignored (local, from proxy-defaults)
payments?peer=acme  payments (peer acme)  local   proxy-defaults  local-gateway   unknown (peer acme)  mode local from proxy-defaults: through dc1's mesh gateways to peer acme
"""  # noqa: E501


def _worked() -> tuple[Service, Mesh]:
    svc = _web(*UPSTREAMS)
    return svc, Mesh(datacenter="dc1", services=(svc,), config_entries=ENTRIES[:1])


def test_explain_one_resolution_per_upstream_in_order() -> None:
    svc, mesh = _worked()
    exp = explain(svc, mesh)
    assert isinstance(exp, Explanation)
    assert [r.upstream for r in exp] == [
        "api?dc=dc2",
        "db?dc=dc2",
        "cache",
        "payments?peer=acme",
    ]
    assert all(isinstance(r, ModeResolution) for r in exp)
    # Expected values written out (explain and resolve_mode share one implementation, so
    # comparing them would prove nothing): api and payments take proxy-defaults' local,
    # db its upstream's remote, cache is local to dc1 (mode kept, route direct).
    assert [(r.target, r.mode, r.source, r.route) for r in exp] == [
        (ModeTarget("api", "default", "default", "dc2", ""), LOCAL, "proxy-defaults", LGW),
        (ModeTarget("db", "default", "default", "dc2", ""), REMOTE, "upstream", RGW),
        (ModeTarget("cache", "default", "default", "dc1", ""), LOCAL, "proxy-defaults", DIRECT),
        (ModeTarget("payments", "default", "default", "", "acme"), LOCAL, "proxy-defaults", LGW),
    ]
    # Each upstream's eight layers, in precedence order: only the set ones carry a mode.
    assert [[(v.layer, v.mode) for v in r.layers if v.mode is not U] for r in exp] == [
        [("proxy-defaults", LOCAL), ("target-proxy-defaults", LOCAL)],
        [("upstream", REMOTE), ("proxy-defaults", LOCAL), ("target-proxy-defaults", LOCAL)],
        [("proxy-defaults", LOCAL), ("target-proxy-defaults", LOCAL)],
        [("proxy-defaults", LOCAL)],  # a peer target: no target partition's proxy-defaults
    ]
    assert all([v.layer for v in r.layers] == list(LAYERS) for r in exp)


def test_explain_render() -> None:
    svc, mesh = _worked()
    text = explain(svc, mesh).render()
    assert text == WORKED_TABLE
    assert str(explain(svc, mesh)) == text  # deterministic, and str() is render()
    header = text.splitlines()[1].split()
    assert header == ["UPSTREAM", "TARGET", "MODE", "SOURCE", "ROUTE", "INTENTION", "REASON"]


def test_explain_render_is_in_the_docs() -> None:
    svc, mesh = _worked()
    doc = (Path(__file__).parents[1] / "docs" / "modes.md").read_text(encoding="utf-8")
    assert explain(svc, mesh).render() in doc


def test_explain_to_dict_is_json() -> None:
    svc, mesh = _worked()
    data = explain(svc, mesh).to_dict()
    assert json.loads(json.dumps(data)) == data
    first = data["resolutions"][0]
    assert first["mode"] == "local" and first["source"] == "proxy-defaults"
    assert len(first["layers"]) == 8
    assert first["target"] == {
        "service": "api",
        "namespace": "default",
        "partition": "default",
        "datacenter": "dc2",
        "peer": "",
    }


def test_explain_proxy_without_upstreams() -> None:
    exp = explain(_web())
    assert len(exp) == 0
    assert exp.render() == (
        "web-sidecar-proxy (datacenter dc1, partition default): no explicit upstreams\n"
    )


# -- properties ----------------------------------------------------------------------------

MODES = st.sampled_from(list(GatewayMode))
SET_MODES = st.sampled_from([NONE, LOCAL, REMOTE])
LAYER_INPUTS = st.dictionaries(st.integers(1, 8), MODES)
SPLIT_TARGETS = st.sampled_from(["ap2", "dc2"])


def _inputs(layers: dict[int, GatewayMode], target: str) -> dict[int, GatewayMode]:
    if target == "dc2":
        layers.pop(8, None)  # same proxy-defaults entry as layer 6 here
    return layers


def _first(layers: Mapping[int, GatewayMode]) -> tuple[GatewayMode, str]:
    for k in range(1, 9):
        if layers.get(k, U) is not U:
            return layers[k], LAYERS[k - 1]
    return U, "default"


@settings(max_examples=60)
@given(LAYER_INPUTS, SPLIT_TARGETS, st.data())
def test_lower_layer_never_matters_once_a_higher_one_is_set(
    layers: dict[int, GatewayMode], target: str, data: st.DataObject
) -> None:
    high = data.draw(st.integers(1, 7), label="higher layer")
    low = data.draw(st.integers(high + 1, 8), label="lower layer")
    layers = _inputs({**layers, high: data.draw(SET_MODES, label="higher mode")}, target)
    before = resolve(layers, target)
    after = resolve(_inputs({**layers, low: data.draw(MODES, label="lower mode")}, target), target)
    assert (after.mode, after.source, after.route) == (before.mode, before.source, before.route)
    assert LAYERS.index(after.source) < low


NAMES = st.text("abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=12)


@settings(max_examples=40)
@given(NAMES, NAMES.map(lambda s: f"dc-{s}"), NAMES)
def test_no_layer_set_is_default(name: str, dc: str, peer: str) -> None:
    svc = _web(
        Upstream(destination_name=name, datacenter=dc),
        Upstream(destination_name=name, destination_peer=peer),
    )
    cross, peered = explain(svc)
    assert (cross.mode, cross.source, cross.route) == (U, "default", DIRECT)
    assert (peered.mode, peered.source, peered.route) == (U, "default", RGW)


@settings(max_examples=60)
@given(LAYER_INPUTS, SPLIT_TARGETS)
def test_mode_is_the_first_non_empty_layer(layers: dict[int, GatewayMode], target: str) -> None:
    layers = _inputs(layers, target)
    res = resolve(layers, target)
    assert (res.mode, res.source) == _first(layers)
    reported = [v for v in res.layers if v.mode is not U]
    if reported:
        assert (res.mode, res.source) == (reported[0].mode, reported[0].layer)
    else:
        assert (res.mode, res.source) == (U, "default")
    assert res.route == CROSS_ROUTE[res.mode]
    assert res.override_mode == _first({k: v for k, v in layers.items() if k <= 6})[0]
