"""Mesh gateway peering output against Consul's own golden files (tests/golden/README.md).

The pattern of tests/test_golden_gateway.py (whose normalising helpers this reuses):
Consul's ``[PMG]`` topology (``TestConfigSnapshotPeeredMeshGateway``) is rebuilt as mesh
files, the gateway is translated, and each golden -- unwrapped, top-level ``@type``
dropped, camelCase keys made snake_case -- must equal meshgw's output once the listed,
documented differences are applied. These cases need none: meshgw emits exactly what
Consul does.

Mesh files (ours, in tests/golden/; Consul's outputs are read from the project's
reference, ``../shared/reference/consul-goldens/``, and the tests skip without it):

* ``pmg-topology.json`` -- the ``[PMG]`` context: datacenter dc1 (the only one), trust
  domain ``11111111-2222-3333-4444-555555555555.consul``; loaded with
  ``mesh-gateway.json``, the same gateway as ``[MG]``.
* ``mesh-gateway-peering-control-plane.json`` -- variant ``control-plane``: the ``mesh``
  entry with ``Peering.PeerThroughMeshGateways``; ``consul`` instances ``replica``
  (127.0.0.10, ``read_replica = "true"``), ``node1`` / ``node2`` (127.0.0.1 / .2,
  ``grpc_tls_port`` 8503; node2 with a WAN host name tag that must not be used),
  ``node3`` (only ``grpc_port``) and ``node4`` (``grpc_tls_port = "bad"``). Consul's
  fixture gives the servers no port; ours have 8300 (unused here).
* ``mesh-gateway-with-exported-peered-services.json`` -- variant
  ``default-services-tcp``: sidecars of foo, bar and gir on nodes test1 (10.10.1.1) and
  test2 (10.10.1.2), port 8080; an ``exported-services`` entry exporting foo and bar to
  peer-a, gir to peer-b.
* ``mesh-gateway-using-federation-control-plane.json`` (used by
  tests/test_gateway_scenarios.py over ``mg-topology.json``) -- the ``[MG]`` gateway with
  meta ``consul-wan-federation = "1"`` and servers node1 (127.0.0.1) and node2
  (127.0.0.2), port 8300. Consul's golden of that name is not in the reference, so that
  test checks consul-output.md's description of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from test_golden_gateway import (
    GOLDEN,
    Difference,
    Resources,
    assert_documented,
    assert_each_difference_is_needed,
    consul_resources,
)

import meshgw
from meshgw._translation import translate
from meshgw.testing import assert_envoy_accepts

# Consul's [PMG] fixture: the same gateway as [MG] (1.2.3.4:8443, lan and wan tagged
# addresses) in dc1, which is the only datacenter.
PMG_FILES = ("pmg-topology.json", "mesh-gateway.json")


@dataclass(frozen=True)
class Case:
    kind: str  # clusters | listeners | endpoints
    consul_case: str  # Consul's golden name (also our case file in tests/golden/)
    differences: tuple[Difference, ...] = ()

    @property
    def id(self) -> str:
        return f"{self.kind}-{self.consul_case}"


CONTROL_PLANE = "mesh-gateway-peering-control-plane"
EXPORTED = "mesh-gateway-with-exported-peered-services"
CASES = [
    # PeerThroughMeshGateways; servers: a read replica, two with grpc_tls_port 8503 (one
    # with a WAN hostname tag, unused), one with only grpc_port, one with "bad".
    Case("clusters", CONTROL_PLANE),
    Case("listeners", CONTROL_PLANE),
    Case("endpoints", CONTROL_PLANE),
    # foo and bar exported to peer-a, gir to peer-b; each on 10.10.1.1/.2:8080; TCP.
    Case("clusters", EXPORTED),
    Case("listeners", EXPORTED),
    Case("endpoints", EXPORTED),
]
MESH_CASES = sorted({case.consul_case for case in CASES})


def load_case(case: str) -> meshgw.Mesh:
    return meshgw.load(*(GOLDEN / name for name in PMG_FILES), GOLDEN / f"{case}.json")


def meshgw_output(case: str, **kw: Any) -> dict[str, Resources]:
    return translate("mesh-gateway", load_case(case), **kw)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_matches_consul(case: Case, consul_goldens: Path) -> None:
    expected = consul_resources(consul_goldens, case.kind, case.consul_case)
    for difference in case.differences:
        difference.apply(expected)
    assert meshgw_output(case.consul_case)[case.kind] == expected


#: The deliberate differences each case lists, by case id: none -- meshgw emits exactly
#: what Consul does. Pinned, so that a difference added to hide a change in meshgw's output
#: fails here until it is made on purpose (and documented).
LISTED_DIFFERENCES: dict[str, list[str]] = {case.id: [] for case in CASES}


def test_listed_differences_are_the_expected_ones() -> None:
    assert [case.id for case in CASES] == [
        f"{kind}-{name}"
        for name in (CONTROL_PLANE, EXPORTED)
        for kind in ("clusters", "listeners", "endpoints")
    ]
    assert {case.id: [d.name for d in case.differences] for case in CASES} == LISTED_DIFFERENCES


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_listed_differences_still_occur(case: Case, consul_goldens: Path) -> None:
    """Each listed difference is needed and documented; with none listed, meshgw's output
    is Consul's golden as it is."""
    consul = consul_resources(consul_goldens, case.kind, case.consul_case)
    ours = meshgw_output(case.consul_case)[case.kind]
    assert consul, f"{case.id}: the golden holds no resource"
    assert_each_difference_is_needed(consul, ours, case.differences)
    assert_documented(list(case.differences))


def test_goldens_show_what_the_cases_are_about(consul_goldens: Path) -> None:
    """The goldens are not trivially matched: they hold the peering chains."""
    (listener,) = consul_resources(consul_goldens, "listeners", CONTROL_PLANE)
    assert [c.get("filter_chain_match") for c in listener["filter_chains"]] == [
        {"server_names": ["server.dc1.peering.11111111-2222-3333-4444-555555555555.consul"]},
        None,
    ]
    (listener,) = consul_resources(consul_goldens, "listeners", EXPORTED)
    assert len(listener["filter_chains"]) == 4
    names = [c["name"] for c in consul_resources(consul_goldens, "clusters", EXPORTED)]
    assert sum(name.startswith("exported~") for name in names) == 3


@pytest.mark.envoy
@pytest.mark.parametrize("case", MESH_CASES)
@pytest.mark.parametrize("mode", ["eds", "static"])
def test_envoy_accepts(case: str, mode: str) -> None:
    out = meshgw_output(case, endpoints=mode)
    assert_envoy_accepts(out)
    assert_envoy_accepts(out, reject_deprecated=True)
