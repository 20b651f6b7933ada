"""explain in depth: routes as an enum, every layer, discovery-chain targets, one upstream,
every sidecar — from Python and the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import meshgw
from meshgw._cli import main

MESH = """
datacenter = "dc1"
service {
  name = "web-sidecar-proxy"
  kind = "connect-proxy"
  port = 21000
  proxy {
    destination_service_name = "web"
    upstreams = [
      { destination_name = "api", local_bind_port = 9001, mesh_gateway = { mode = "local" } },
      { destination_name = "db", datacenter = "dc2", local_bind_port = 9002 },
    ]
  }
}
service {
  name = "billing-sidecar-proxy"
  kind = "connect-proxy"
  port = 21001
  proxy {
    destination_service_name = "billing"
    upstreams = [{ destination_name = "db", datacenter = "dc2", local_bind_port = 9003 }]
  }
}
config_entries {
  bootstrap = [
    { kind = "proxy-defaults", name = "global", mesh_gateway = { mode = "remote" } },
    { kind = "service-defaults", name = "api-v2", mesh_gateway = { mode = "none" } },
    { kind = "service-resolver", name = "api",
      failover = { "*" = { datacenters = ["dc2", "dc3"] } } },
    { kind = "service-resolver", name = "db", redirect = { service = "db-v2" } },
  ]
}
"""


@pytest.fixture
def mesh() -> meshgw.Mesh:
    return meshgw.loads(MESH, format="hcl", name="mesh.hcl")


def test_route_is_a_str_enum(mesh: meshgw.Mesh) -> None:
    res = meshgw.resolve_mode("web-sidecar-proxy", "api", mesh)
    assert res.route is meshgw.Route.DIRECT and res.route == "direct"
    assert meshgw.resolve_mode("web-sidecar-proxy", "db", mesh).route is meshgw.Route.REMOTE_GATEWAY
    with pytest.raises(ValueError, match="'local_gateway' is not a valid Route"):
        meshgw.Route("local_gateway")


def test_failover_targets_have_their_own_routes(mesh: meshgw.Mesh) -> None:
    explanation = meshgw.explain("web-sidecar-proxy", mesh)
    api = [t for t in explanation.targets if t.upstream == "api"]
    assert [(t.role, t.target, t.resolution.route) for t in api] == [
        ("primary", "api.default.default.dc1", meshgw.Route.DIRECT),
        ("failover", "api.default.default.dc2", meshgw.Route.LOCAL_GATEWAY),
        ("failover", "api.default.default.dc3", meshgw.Route.LOCAL_GATEWAY),
    ]
    # the upstream's own mode (layer 1) applies to every target of its chain
    assert {t.resolution.source for t in api} == {"upstream"}


def test_redirect_target_is_listed(mesh: meshgw.Mesh) -> None:
    explanation = meshgw.explain("web-sidecar-proxy", mesh)
    db = [t for t in explanation.targets if t.upstream == "db?dc=dc2"]
    assert [(t.role, t.target, t.resolution.route) for t in db] == [
        ("primary", "db-v2.default.default.dc2", meshgw.Route.REMOTE_GATEWAY),
    ]


def test_only_one_upstream(mesh: meshgw.Mesh) -> None:
    explanation = meshgw.explain("web-sidecar-proxy", mesh).only("api")
    assert [r.upstream for r in explanation] == ["api"]
    assert {t.upstream for t in explanation.targets} == {"api"}
    with pytest.raises(meshgw.LookupFailed, match="has no upstream 'cache'"):
        meshgw.explain("web-sidecar-proxy", mesh).only("cache")


def test_verbose_render_shows_layers_and_targets(mesh: meshgw.Mesh) -> None:
    text = meshgw.explain("web-sidecar-proxy", mesh).only("api").render(verbose=True)
    lines = text.splitlines()
    start = lines.index("api: layers (highest precedence first)")
    layers = [line.split()[0] for line in lines[start + 1 : start + 9]]
    assert layers == [
        "upstream",
        "service-defaults-override",
        "proxy",
        "service-defaults-upstream-defaults",
        "service-defaults",
        "proxy-defaults",
        "target-service-defaults",
        "target-proxy-defaults",
    ]
    assert lines[start + 1].split()[:2] == ["upstream", "local"]
    assert "api: discovery chain targets" in lines
    assert any(
        line.strip().startswith(
            "failover api.default.default.dc3  local (upstream) → local-gateway"
        )
        for line in lines
    )


def test_cli_explain_all_upstream_verbose(
    mesh: meshgw.Mesh, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "mesh.hcl").write_text(MESH)
    assert main(["explain", str(tmp_path), "--all", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert [e["service"] for e in payload] == ["web-sidecar-proxy", "billing-sidecar-proxy"]
    assert main(["explain", str(tmp_path), "-s", "web-sidecar-proxy", "-u", "api", "-v"]) == 0
    out = capsys.readouterr().out
    table = meshgw.explain("web-sidecar-proxy", mesh).only("api").render(verbose=True)
    # the library's rendering, then what the trace finds (this mesh has no catalog)
    assert out.startswith(table)
    assert out[len(table) :].startswith("what stops these connections")
    assert main(["explain", str(tmp_path), "-s", "web-sidecar-proxy", "-u", "nope"]) == 1
    assert "has no upstream 'nope'" in capsys.readouterr().err


def test_cli_explain_lists_what_stops_each_upstream(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from tests.test_check import broken_example

    root = broken_example(tmp_path)
    assert main(["explain", str(root), "-s", "web-sidecar-proxy"]) == 0
    text = capsys.readouterr().out
    head, stops = text.split(
        "what stops these connections (meshgw trace; codes in docs/findings.md):\n"
    )
    assert "db?dc=dc9" in head and "MGW" not in head
    assert [line.split(":")[0].strip() + " " + line.split()[2] for line in stops.splitlines()] == [
        "api?dc=dc2 MGW031",
        "db?dc=dc9 MGW002",
        "reddis?dc=dc2 MGW001",
    ]
    assert "did you mean 'redis'" in stops or "'reddis'" in stops
    assert main(["explain", str(root), "-s", "web-sidecar-proxy", "-u", "db", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert [p["code"] for p in payload["problems"]] == ["MGW002"]
    clean = Path(__file__).resolve().parents[1] / "examples" / "two-dc"
    assert main(["explain", str(clean), "-s", "web-sidecar-proxy", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["problems"] == []
    assert main(["explain", str(clean), "-s", "web-sidecar-proxy"]) == 0
    assert "what stops" not in capsys.readouterr().out
