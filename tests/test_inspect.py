"""meshgw.testing's readers of a translate result."""

from __future__ import annotations

from pathlib import Path

import pytest

import meshgw
from meshgw.testing import LbEndpoint, cluster, endpoints_of, listener

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "two-dc"
TD = "7d6c6a53-2b5e-4f8e-9f1d-2a9f1c3b4e5d.consul"


@pytest.fixture(scope="module")
def mesh() -> meshgw.Mesh:
    return meshgw.load(EXAMPLE)


def test_endpoints_of_an_eds_cluster(mesh: meshgw.Mesh) -> None:
    out = meshgw.translate("mesh-gateway", mesh)
    assert endpoints_of(out, f"dc2.internal.{TD}") == [
        LbEndpoint("198.18.2.5", 443, "HEALTHY"),
        LbEndpoint("198.18.2.6", 443, "HEALTHY"),
    ]


def test_endpoints_of_a_static_cluster_and_a_bootstrap(mesh: meshgw.Mesh) -> None:
    name = f"dc2.internal.{TD}"
    eds = endpoints_of(meshgw.translate("mesh-gateway", mesh), name)
    static = meshgw.translate("mesh-gateway", mesh, endpoints="static")
    assert endpoints_of(static, name) == eds
    assert endpoints_of(meshgw.bootstrap("mesh-gateway", mesh), name) == eds
    assert cluster(static, name)["type"] == "STATIC"


def test_listener_and_clear_lookup_errors(mesh: meshgw.Mesh) -> None:
    out = meshgw.translate("mesh-gateway", mesh)
    assert listener(out, "wan:198.18.1.5:443")["address"]["socket_address"]["port_value"] == 443
    with pytest.raises(meshgw.LookupFailed, match=r"no listener 'x' \(there are: lan:10"):
        listener(out, "x")
    with pytest.raises(meshgw.LookupFailed, match="no cluster 'nope'"):
        endpoints_of(out, "nope")
