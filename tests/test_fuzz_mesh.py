"""Property tests of the whole-mesh tools over generated meshes.

Two independent readings of one mesh are compared: ``meshgw.resolve_mode`` applies
Consul's mode rules, ``meshgw.trace`` follows the Envoy configuration every proxy gets.
Whenever every piece a route needs is there and healthy, the trace must arrive, along
exactly the gateways the mode says; whatever it finds, it must say why, and neither the
trace nor ``check`` may depend on the order of the catalog.
"""

from __future__ import annotations

import copy
import random
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import meshgw
from meshgw.testing import assert_routes_through

FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)
STATUSES = ["passing", "warning", "critical"]
USABLE = {"passing", "warning"}  # Consul's endpoints are healthy unless critical
REMOTE_DCS = ["dc2", "dc3"]


def _entry(
    dc: str, node: str, address: str, service: dict[str, Any], status: str
) -> dict[str, Any]:
    return {
        "datacenter": dc,
        "node": node,
        "address": address,
        "service": service,
        "checks": [{"check_id": "alive", "status": status}],
    }


@st.composite
def meshes(
    draw: st.DrawFn,
) -> tuple[dict[str, Any], str, dict[str, list[str]], dict[str, list[str]]]:
    """A mesh whose dc1 sidecar ``web`` has one upstream ``api`` in another datacenter,
    with gateways and api sidecars of random health in every datacenter. Returns the
    document, the upstream's mode, and the statuses of each datacenter's gateways and
    api sidecars (the local agent's own gateway, when there is one, counts as passing)."""
    mode = draw(st.sampled_from(["local", "remote", "none"]))
    target = draw(st.sampled_from(REMOTE_DCS))
    catalog: list[dict[str, Any]] = []
    gateways: dict[str, list[str]] = {}
    sidecars: dict[str, list[str]] = {}
    for n, dc in enumerate(["dc1", *REMOTE_DCS], 1):
        gateways[dc] = draw(st.lists(st.sampled_from(STATUSES), max_size=2))
        for i, status in enumerate(gateways[dc]):
            gw = {
                "kind": "mesh-gateway",
                "service": "mesh-gateway",
                "port": 8443,
                "tagged_addresses": {
                    "lan": {"address": f"10.{n}.0.{5 + i}", "port": 8443},
                    "wan": {"address": f"198.18.{n}.{5 + i}", "port": 443},
                },
            }
            catalog.append(_entry(dc, f"{dc}-gw-{i}", f"10.{n}.0.{5 + i}", gw, status))
        if dc == "dc1":
            continue
        sidecars[dc] = draw(st.lists(st.sampled_from(STATUSES), max_size=2))
        for i, status in enumerate(sidecars[dc]):
            proxy = {
                "kind": "connect-proxy",
                "service": "api-sidecar-proxy",
                "port": 21000,
                "proxy": {"destination_service_name": "api", "local_service_port": 8080},
            }
            catalog.append(_entry(dc, f"{dc}-app-{i}", f"10.{n}.1.{10 + i}", proxy, status))
    services: list[dict[str, Any]] = [
        {
            "name": "web",
            "port": 8080,
            "connect": {
                "sidecar_service": {
                    "port": 21000,
                    "proxy": {
                        "upstreams": [
                            {
                                "destination_name": "api",
                                "datacenter": target,
                                "local_bind_port": 9191,
                                "mesh_gateway": {"mode": mode},
                            }
                        ]
                    },
                }
            },
        }
    ]
    if draw(st.booleans()):
        # dc1's agent runs a gateway of its own (no checks: passing)
        services.append(
            {
                "name": "mesh-gateway",
                "kind": "mesh-gateway",
                "port": 8443,
                "address": "10.1.0.9",
                "tagged_addresses": {
                    "lan": {"address": "10.1.0.9", "port": 8443},
                    "wan": {"address": "198.18.1.9", "port": 443},
                },
            }
        )
        gateways["dc1"] = [*gateways["dc1"], "passing"]
    doc = {
        "datacenter": "dc1",
        "primary_datacenter": "dc1",
        "advertise_addr": "10.1.0.9",
        "services": services,
        "catalog": catalog,
    }
    return doc, mode, gateways, sidecars


def _usable(statuses: list[str]) -> bool:
    return any(s in USABLE for s in statuses)


@FUZZ
@given(meshes())
def test_trace_agrees_with_the_mode_rules(
    case: tuple[dict[str, Any], str, dict[str, list[str]], dict[str, list[str]]],
) -> None:
    doc, mode, gateways, sidecars = case
    mesh = meshgw.Mesh.from_dict(doc)
    upstream = doc["services"][0]["connect"]["sidecar_service"]["proxy"]["upstreams"][0]
    target = upstream["datacenter"]
    resolution = meshgw.resolve_mode("web-sidecar-proxy", "api", mesh)
    assert resolution.mode.value == mode
    expected = {"local": ["dc1", target], "remote": [target], "none": []}[mode]
    needed = [*expected]  # each datacenter whose gateways the route crosses
    healthy = _usable(sidecars[target]) and all(_usable(gateways[dc]) for dc in needed)

    t = meshgw.trace(mesh, "web-sidecar-proxy", "api")
    if healthy:
        assert_routes_through(mesh, "web-sidecar-proxy", "api", expected)
    if not t.ok:
        # a failure is always explained
        assert any(p.severity.value == "error" for p in t.problems), t.render()
    for path in t.paths:
        # whatever the health, a path only ever crosses the mode's gateways
        crossed = [h.peer or h.datacenter for h in path if h.kind == "mesh-gateway"]
        assert crossed == expected, t.render()
        assert path[-1].proxy == "api-sidecar-proxy" and path[-1].datacenter == target


@settings(FUZZ, max_examples=25)
@given(meshes(), st.integers(0, 2**32 - 1))
def test_trace_and_check_do_not_depend_on_catalog_order(
    case: tuple[dict[str, Any], str, dict[str, list[str]], dict[str, list[str]]], seed: int
) -> None:
    doc = case[0]
    shuffled = copy.deepcopy(doc)
    random.Random(seed).shuffle(shuffled["catalog"])
    one, other = meshgw.Mesh.from_dict(doc), meshgw.Mesh.from_dict(shuffled)
    first = meshgw.trace(one, "web-sidecar-proxy", "api")
    second = meshgw.trace(other, "web-sidecar-proxy", "api")
    assert first.to_dict() == second.to_dict()
    assert [f.to_dict() for f in meshgw.check(one)] == [f.to_dict() for f in meshgw.check(other)]
