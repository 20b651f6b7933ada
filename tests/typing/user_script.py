"""A user's script over meshgw's public API. `mypy --strict` checks it in CI (.ci/run) and
tests/test_typing_script.py runs it, so the public names stay usable and typed."""

from __future__ import annotations

import sys
from pathlib import Path

import meshgw
from meshgw import naming
from meshgw.errors import MeshgwError, ValidationError
from meshgw.model import GatewayMode, Mesh, Service, ServiceKind
from meshgw.testing import LbEndpoint, assert_routes_through, cluster, endpoints_of, listener


def main(example: Path) -> int:
    mesh: Mesh = meshgw.load(example)
    also: Mesh = meshgw.loads('datacenter = "dc1"', format="hcl", name="inline.hcl")
    assert also.datacenter == "dc1"
    assert meshgw.Mesh.from_dict({"datacenter": "dc1"}).datacenter == "dc1"

    proxy: Service = mesh.service("web-sidecar-proxy")
    assert proxy.kind == ServiceKind.CONNECT_PROXY
    assert proxy.proxy is not None and proxy.proxy.mesh_gateway.mode is GatewayMode.REMOTE

    resolution: meshgw.ModeResolution = meshgw.resolve_mode(proxy, "api", mesh)
    route: meshgw.Route = resolution.route
    assert route is meshgw.Route.LOCAL_GATEWAY
    target = meshgw.resolve_target_mode(
        "web-sidecar-proxy", "api", mesh, service_name="api", datacenter="dc2"
    )
    assert target.route == "local-gateway"
    explanation: meshgw.Explanation = meshgw.explain("web-sidecar-proxy", mesh)
    layers: list[meshgw.LayerValue] = [v for r in explanation for v in r.layers]
    assert len(layers) == 8 * len(explanation)

    out = meshgw.translate(proxy, mesh, endpoints="static", missing="error")
    first: str = out["clusters"][0]["name"]
    gateway = meshgw.translate("mesh-gateway", mesh)
    sni = naming.service_sni("api", "default", "default", "dc2", mesh.trust_domain)
    hosts: list[LbEndpoint] = endpoints_of(gateway, f"dc2.internal.{mesh.trust_domain}")
    assert hosts and all(h.health == "HEALTHY" for h in hosts)
    assert cluster(out, first)["name"] == first
    assert listener(gateway, "wan:198.18.1.5:443")
    boot = meshgw.bootstrap(proxy, mesh, admin=("127.0.0.1", 0))
    assert boot["node"]["id"] == "web-sidecar-proxy"
    assert sni.startswith("api.default.dc2.")
    traced: meshgw.Trace = assert_routes_through(mesh, proxy, "api", ["dc1", "dc2"])
    assert traced.ok and len(traced.active[0]) == 4
    placed: list[meshgw.MeshProxy] = [p for p in meshgw.proxies(mesh) if p.service.upstreams]
    assert [p.id for p in placed] == ["web-sidecar-proxy"]
    assert len(meshgw.explain(placed[0], mesh)) == 3
    assert meshgw.resolve_mode(placed[0], "api", mesh).route is meshgw.Route.LOCAL_GATEWAY
    assert meshgw.trace(mesh, placed[0], "db").ok

    try:
        meshgw.loads('service { name = "x" port = "p" }', format="hcl", name="bad.hcl")
    except ValidationError as exc:
        problems: list[meshgw.Problem] = list(exc.problems)
        assert problems[0].line == 1
    try:
        meshgw.translate("nope", mesh)
    except MeshgwError as exc:
        assert "nope" in str(exc)
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
