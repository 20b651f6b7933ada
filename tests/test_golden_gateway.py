"""Mesh gateway output against Consul's own golden files (see tests/golden/README.md).

Each case loads Consul's base mesh gateway topology plus one case file, translates the
gateway, and compares with Consul's golden after normalising (DiscoveryResponse
unwrapped, top-level ``@type`` dropped, camelCase keys to snake_case). Where meshgw
deliberately differs, a named :class:`Difference` rewrites the golden into what meshgw
emits instead -- after checking that the golden really shows Consul's behaviour -- and
then the two must be equal. Every difference is described in docs/consul-differences.md.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import meshgw
from meshgw._translation import translate
from meshgw.testing import assert_envoy_accepts

GOLDEN = Path(__file__).parent / "golden"

TD = "11111111-2222-3333-4444-555555555555.consul"
DC4 = f"dc4.internal.{TD}"

Resources = list[dict[str, Any]]


# --------------------------------------------------------------------------- normalising

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def snake_keys(value: Any) -> Any:
    """camelCase keys to snake_case, recursively; values and ``@type`` untouched."""
    if isinstance(value, dict):
        return {
            (key if key.startswith("@") else _CAMEL.sub("_", key).lower()): snake_keys(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [snake_keys(item) for item in value]
    return value


def consul_resources(goldens: Path, kind: str, case: str) -> Resources:
    """Consul's golden ``<kind>-<case>`` (in ``goldens``, the ``consul_goldens`` fixture)
    as meshgw-shaped resources."""
    response = json.loads((goldens / f"{kind}-{case}.json").read_text(encoding="utf-8"))
    resources = []
    for resource in response.get("resources", []):  # absent when there are none
        resource = dict(resource)
        resource.pop("@type")
        resources.append(snake_keys(resource))
    return resources


# --------------------------------------------------------------------------- differences


@dataclass(frozen=True)
class Difference:
    """A deliberate difference from Consul: ``apply`` rewrites Consul's (normalised)
    resources into meshgw's, asserting first that they show what Consul does."""

    name: str
    doc: str  # the heading in docs/consul-differences.md
    apply: Callable[[Resources], None]


def _endpoint(address: str, port: int, health: str = "HEALTHY", weight: int = 1) -> Any:
    return {
        "endpoint": {"address": {"socket_address": {"address": address, "port_value": port}}},
        "health_status": health,
        "load_balancing_weight": weight,
    }


def _all_dc4_gateways(clusters: Resources) -> None:
    (dc4,) = [c for c in clusters if c["name"] == DC4]
    # Consul: LOGICAL_DNS with only the first healthy hostname gateway.
    assert dc4["type"] == "LOGICAL_DNS"
    assert dc4["load_assignment"]["endpoints"] == [
        {"lb_endpoints": [_endpoint("123.us-west-2.elb.notaws.com", 443)]}
    ]
    # meshgw: every gateway of dc4, hostnames and the IP one alike.
    dc4["type"] = "STRICT_DNS"
    dc4["load_assignment"]["endpoints"] = [
        {
            "lb_endpoints": [
                _endpoint("123.us-west-2.elb.notaws.com", 443),
                _endpoint("456.us-west-2.elb.notaws.com", 443),
                _endpoint("198.38.1.1", 443),
            ]
        }
    ]


ALL_HOSTNAME_GATEWAYS = Difference(
    name="dc4: every gateway of a hostname datacenter, STRICT_DNS",
    doc="Hostname gateways: every endpoint, never an invalid LOGICAL_DNS cluster",
    apply=_all_dc4_gateways,
)


def _no_dns_refresh_rate(clusters: Resources) -> None:
    dns = [c for c in clusters if c.get("type") in ("LOGICAL_DNS", "STRICT_DNS")]
    # Consul: a 10 s refresh rate on every DNS cluster (deprecated in Envoy 1.40).
    assert dns and all(c["dns_refresh_rate"] == "10s" for c in dns)
    for cluster in dns:
        del cluster["dns_refresh_rate"]


NO_DNS_REFRESH_RATE = Difference(
    name="DNS clusters without dns_refresh_rate",
    doc="DNS clusters have no `dns_refresh_rate`",
    apply=_no_dns_refresh_rate,
)


@dataclass(frozen=True)
class Case:
    kind: str  # clusters | listeners | endpoints
    consul_case: str  # Consul's golden name
    mesh_case: str  # our case file in tests/golden/
    differences: tuple[Difference, ...] = ()

    @property
    def id(self) -> str:
        return f"{self.kind}-{self.consul_case}"


CASES = [
    Case("clusters", "mesh-gateway", "mesh-gateway", (ALL_HOSTNAME_GATEWAYS, NO_DNS_REFRESH_RATE)),
    Case("listeners", "mesh-gateway", "mesh-gateway"),
    Case("endpoints", "mesh-gateway", "mesh-gateway"),
    Case("listeners", "mesh-gateway-tagged-addresses", "mesh-gateway-tagged-addresses"),
    Case(
        "clusters",
        "mesh-gateway-tcp-keepalives",
        "mesh-gateway-tcp-keepalives",
        (ALL_HOSTNAME_GATEWAYS, NO_DNS_REFRESH_RATE),
    ),
    Case(
        "clusters",
        "mesh-gateway-service-subsets",
        "mesh-gateway-service-subsets",
        (ALL_HOSTNAME_GATEWAYS, NO_DNS_REFRESH_RATE),
    ),
    # Consul's endpoints golden of this name comes from its "service-subsets2" variant,
    # which also has foo subsets.
    Case("endpoints", "mesh-gateway-service-subsets", "mesh-gateway-service-subsets2"),
]
MESH_CASES = sorted({case.mesh_case for case in CASES})


def load_case(mesh_case: str) -> meshgw.Mesh:
    return meshgw.load(GOLDEN / "mg-topology.json", GOLDEN / f"{mesh_case}.json")


def meshgw_output(mesh_case: str, **kw: Any) -> dict[str, Resources]:
    return translate("mesh-gateway", load_case(mesh_case), **kw)


# --------------------------------------------------------------------------- tests


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_matches_consul(case: Case, consul_goldens: Path) -> None:
    expected = consul_resources(consul_goldens, case.kind, case.consul_case)
    for difference in case.differences:
        difference.apply(expected)
    assert meshgw_output(case.mesh_case)[case.kind] == expected


#: The deliberate differences each case lists, by case id: pinned, so that a difference
#: added to hide a change in meshgw's output fails here until it is made on purpose.
LISTED_DIFFERENCES = {
    "clusters-mesh-gateway": [ALL_HOSTNAME_GATEWAYS.name, NO_DNS_REFRESH_RATE.name],
    "listeners-mesh-gateway": [],
    "endpoints-mesh-gateway": [],
    "listeners-mesh-gateway-tagged-addresses": [],
    "clusters-mesh-gateway-tcp-keepalives": [ALL_HOSTNAME_GATEWAYS.name, NO_DNS_REFRESH_RATE.name],
    "clusters-mesh-gateway-service-subsets": [
        ALL_HOSTNAME_GATEWAYS.name,
        NO_DNS_REFRESH_RATE.name,
    ],
    "endpoints-mesh-gateway-service-subsets": [],
}


def test_listed_differences_are_the_expected_ones() -> None:
    assert {case.id: [d.name for d in case.differences] for case in CASES} == LISTED_DIFFERENCES


def assert_each_difference_is_needed(
    consul: Resources, ours: Resources, differences: tuple[Difference, ...]
) -> None:
    """Without any one of ``differences`` (the others applied), ``ours`` differs from
    Consul's; with none listed, the golden is matched as it is."""
    __tracebackhide__ = True
    if not differences:
        assert ours == consul, "no difference listed, yet meshgw's output is not Consul's"
    for difference in differences:
        without = copy.deepcopy(consul)
        for other in differences:
            if other is not difference:
                other.apply(without)
        assert ours != without, f"{difference.name!r} no longer differs from Consul"


def assert_documented(differences: list[Difference]) -> None:
    """Each difference names a heading of docs/consul-differences.md."""
    __tracebackhide__ = True
    docs = (Path(__file__).parents[1] / "docs" / "consul-differences.md").read_text(
        encoding="utf-8"
    )
    headings = {line.lstrip("#").strip() for line in docs.splitlines() if line.startswith("#")}
    for difference in differences:
        assert difference.doc in headings, f"{difference.name!r}: no heading {difference.doc!r}"


@pytest.mark.parametrize("case", [c for c in CASES if c.differences], ids=lambda c: c.id)
def test_listed_differences_still_occur(case: Case, consul_goldens: Path) -> None:
    """Each listed difference is needed: without it, meshgw's output differs."""
    consul = consul_resources(consul_goldens, case.kind, case.consul_case)
    ours = meshgw_output(case.mesh_case)[case.kind]
    assert_each_difference_is_needed(consul, ours, case.differences)


def test_differences_are_documented() -> None:
    listed = [d for case in CASES for d in case.differences]
    assert listed, "the mesh gateway goldens list their deliberate differences"
    assert_documented(listed)


@pytest.mark.envoy
@pytest.mark.parametrize("mesh_case", MESH_CASES)
@pytest.mark.parametrize("mode", ["eds", "static"])
def test_envoy_accepts(mesh_case: str, mode: str) -> None:
    out = meshgw_output(mesh_case, endpoints=mode)
    assert_envoy_accepts(out)
    assert_envoy_accepts(out, reject_deprecated=True)
