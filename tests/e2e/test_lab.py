"""meshgw.lab with real Envoys: the bundled two-datacenter example, a hostname gateway
and a peering, each brought up from the user's files unchanged (10.x addresses, WAN
tags, host names), bytes sent through every upstream, and the hops read back from the
Envoys' stats; failover when gateways go down; nothing left running."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import meshgw
import meshgw.lab
from meshgw.lab import Connection, Lab

ROOT = Path(__file__).resolve().parents[2]
TWO_DC = ROOT / "examples" / "two-dc"
FIXTURES = ROOT / "tests" / "fixtures" / "lab"
TD = "7d6c6a53-2b5e-4f8e-9f1d-2a9f1c3b4e5d.consul"

SIDECAR, GATEWAY = "connect-proxy", "mesh-gateway"

#: web's three upstreams in examples/two-dc: (service, mode, hops as (proxy, dc, kind)).
TWO_DC_PATHS = {
    "api": (  # mode local: dc1's gateway, then dc2's
        ("web-sidecar-proxy", "dc1", SIDECAR),
        ("mesh-gateway", "dc1", GATEWAY),
        ("mesh-gateway", "dc2", GATEWAY),
        ("api-sidecar-proxy", "dc2", SIDECAR),
    ),
    "db": (  # mode remote: straight to dc2's gateway
        ("web-sidecar-proxy", "dc1", SIDECAR),
        ("mesh-gateway", "dc2", GATEWAY),
        ("db-sidecar-proxy", "dc2", SIDECAR),
    ),
    "redis": (  # mode none: straight to redis's sidecar
        ("web-sidecar-proxy", "dc1", SIDECAR),
        ("redis-sidecar-proxy", "dc2", SIDECAR),
    ),
}


def _route(conn: Connection) -> tuple[tuple[str, str, str], ...]:
    return tuple((hop.proxy, hop.datacenter, hop.kind) for hop in conn.hops)


def _check_against_trace(lab: Lab, service: str, **where: str) -> None:
    """The real path is one meshgw.trace predicted from the same files."""
    conn, comparison = lab.verify("web", service, **where)
    assert conn.ok, conn.error
    assert comparison.agrees, comparison


@pytest.fixture
def two_dc(tmp_path: Path) -> Lab:
    with meshgw.lab.start(TWO_DC, sources="web", workdir=tmp_path / "lab") as lab:
        yield lab  # type: ignore[misc]


def test_two_dc_example_upstreams_carry_bytes_along_their_paths(two_dc: Lab) -> None:
    for service, route in TWO_DC_PATHS.items():
        for _ in range(2):
            conn = two_dc.connect("web", service, datacenter="dc2")
            assert conn.ok, f"{service}: {conn.error}\n{two_dc.log_tails()}"
            assert conn.answer is not None
            assert (conn.answer.service, conn.answer.datacenter) == (service, "dc2")
            assert _route(conn) == route, conn.path
            sni = f"{service}.default.dc2.internal.{TD}"
            assert {hop.sni for hop in conn.hops} == {sni}
            # web's cluster is named by the SNI (mode overrides add a prefix); the
            # last gateway routes by SNI to the service's cluster; the sidecar to its app.
            assert conn.hops[0].cluster.endswith(sni)
            assert conn.hops[-1].cluster == "local_app"
            assert conn.hops[-1].endpoint == "local app"
            if len(conn.hops) > 2:
                assert conn.hops[-2].cluster == sni
            _check_against_trace(two_dc, service, datacenter="dc2")
    api = two_dc.connect("web", "api", datacenter="dc2")
    # dc1's gateway forwards to dc2's gateways at their WAN addresses.
    assert api.hops[1].cluster == f"dc2.internal.{TD}"
    assert api.hops[1].endpoint in ("198.18.2.5:443", "198.18.2.6:443")
    assert api.hops[0].endpoint == "10.1.0.5:8443"
    assert api.answer is not None and api.answer.node == "dc2-app-1"


def test_two_dc_gateways_down_and_up_again(two_dc: Lab) -> None:
    downed = two_dc.down("mesh-gateway", datacenter="dc2")
    assert downed == ["dc2/dc2-gw-1/mesh-gateway", "dc2/dc2-gw-2/mesh-gateway"]
    for service in ("api", "db"):
        conn = two_dc.connect("web", service, datacenter="dc2")
        assert not conn.ok and conn.answer is None, conn
        assert conn.error
    # Mode local fails at dc1's gateway: it tried dc2's gateways and could not connect.
    api = two_dc.connect("web", "api", datacenter="dc2")
    assert _route(api)[:2] == TWO_DC_PATHS["api"][:2]
    assert api.hops[-1].failed
    # The trace follows the files, where the gateways are up: the comparison says why.
    _, comparison = two_dc.verify("web", "api", datacenter="dc2")
    assert not comparison.agrees and comparison.expected_ok
    assert "proxies down in the lab, not in the files: dc2/dc2-gw-1" in comparison.reason
    redis = two_dc.connect("web", "redis", datacenter="dc2")
    assert redis.ok and _route(redis) == TWO_DC_PATHS["redis"]

    two_dc.up("mesh-gateway", datacenter="dc2")
    assert two_dc.connect("web", "api", datacenter="dc2").ok


def test_whole_datacenter_down_and_teardown_leaves_nothing(tmp_path: Path) -> None:
    lab = meshgw.lab.start(TWO_DC, workdir=tmp_path / "lab")
    with lab:
        lab.down(datacenter="dc2")
        for service in TWO_DC_PATHS:
            assert not lab.connect("web", service, datacenter="dc2").ok
        procs = list(lab.envoys.values())
        assert sum(p.running for p in procs) == 2  # dc1's gateway and web's sidecar
    assert not any(p.running for p in procs)
    assert all(p.returncode is not None for p in procs)
    assert not lab.running


def test_hostname_gateway(tmp_path: Path) -> None:
    with meshgw.lab.start(FIXTURES / "hostname", workdir=tmp_path / "lab") as lab:
        conn = lab.connect("web", "api")
        assert conn.ok, conn.error
        assert _route(conn) == (
            ("web-sidecar-proxy", "dc1", SIDECAR),
            ("mesh-gateway", "dc2", GATEWAY),
            ("api-sidecar-proxy", "dc2", SIDECAR),
        )
        assert conn.hops[0].endpoint == "gw.dc2.example.internal:443"
        _check_against_trace(lab, "api")


def test_peering(tmp_path: Path) -> None:
    meshes = [FIXTURES / "peering" / "importer.hcl", FIXTURES / "peering" / "exporter.hcl"]
    with meshgw.lab.start(meshes, workdir=tmp_path / "lab") as lab:
        conn = lab.connect("web", "payments", peer="cluster-01")
        assert conn.ok, conn.error
        assert conn.answer == meshgw.lab.Answer("payments", "dc1", "payments-1", "cluster-01")
        assert [(h.proxy, h.peer, h.kind) for h in conn.hops] == [
            ("web-sidecar-proxy", "", SIDECAR),
            ("mesh-gateway", "", GATEWAY),
            ("mesh-gateway", "cluster-01", GATEWAY),
            ("payments-sidecar-proxy", "cluster-01", SIDECAR),
        ]
        assert conn.hops[1].endpoint == "203.0.113.10:443"
        assert conn.hops[2].cluster.startswith("exported~payments.")
        _check_against_trace(lab, "payments", peer="cluster-01")


def test_an_intention_denies_as_the_trace_predicts(tmp_path: Path) -> None:
    # A copy of the example (files unchanged) plus one config entry: api refuses web.
    mesh = tmp_path / "mesh"
    shutil.copytree(TWO_DC, mesh)
    (mesh / "api-intentions.hcl").write_text(
        'Kind = "service-intentions"\nName = "api"\nSources = [{ Name = "web", Action = "deny" }]\n'
    )
    with meshgw.lab.start(mesh, workdir=tmp_path / "lab") as lab:
        api, comparison = lab.verify("web", "api", datacenter="dc2")
        assert not api.ok and api.answer is None
        # The bytes reached api's sidecar, whose RBAC filter closed the connection.
        assert _route(api) == TWO_DC_PATHS["api"]
        assert comparison.agrees and not comparison.expected_ok  # the same failure
        assert "MGW100" in comparison.expected[0]
        db, comparison = lab.verify("web", "db", datacenter="dc2")
        assert db.ok and comparison.agrees


HTTP_SERVICES = """
config_entries {
  bootstrap = [
    { kind = "service-defaults", name = "api", protocol = "http" },
    { kind = "service-defaults", name = "db", protocol = "http2" },
    {
      kind = "service-intentions"
      name = "api"
      sources = [
        {
          name = "web"
          permissions = [
            { action = "deny", http = { path_prefix = "/admin" } },
            { action = "allow", http = { path_prefix = "/" } },
          ]
        },
      ]
    },
  ]
}
"""


def test_http_services_carry_requests_along_their_paths(tmp_path: Path) -> None:
    # examples/two-dc, unchanged, plus one file: api speaks HTTP (with an L7 intention),
    # db HTTP/2; redis stays TCP.
    mesh = tmp_path / "mesh"
    shutil.copytree(TWO_DC, mesh)
    (mesh / "protocols.hcl").write_text(HTTP_SERVICES)
    with meshgw.lab.start(mesh, sources="web", workdir=tmp_path / "lab") as lab:
        for service, path in (("api", "/v1/items"), ("db", "/"), ("redis", "/")):
            for _ in range(2):  # a second request still crosses every gateway
                conn, comparison = lab.verify("web", service, datacenter="dc2", path=path)
                assert conn.ok, f"{service}: {conn.error}\n{lab.log_tails()}"
                assert conn.status == (0 if service == "redis" else 200)
                assert conn.answer is not None and conn.answer.service == service
                assert _route(conn) == TWO_DC_PATHS[service], conn.path
                assert comparison.agrees, comparison
        # The L7 intention refuses /admin at api's sidecar: what the trace allows for
        # ("decided per request", MGW101), with the request's real path.
        admin, comparison = lab.verify("web", "api", datacenter="dc2", path="/admin/users")
        assert not admin.ok and admin.status == 403 and "RBAC: access denied" in admin.error
        assert _route(admin) == TWO_DC_PATHS["api"]
        assert comparison.agrees and comparison.expected_ok
        posted = lab.connect("web", "api", datacenter="dc2", method="POST", path="/v1/x")
        assert posted.ok and posted.reply.endswith(b"hello from the meshgw lab")
