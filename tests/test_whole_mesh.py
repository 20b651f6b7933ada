"""The whole mesh: every proxy of every datacenter (and of peered meshes) translated,
each in its own datacenter, with the catalog indexed once per mesh."""

from __future__ import annotations

import gc
import json
import pickle
import shutil
import weakref
from pathlib import Path

import attrs
import pytest

import meshgw
from meshgw._cli import main
from meshgw._resolve import catalog
from meshgw.model import TlsSettings
from meshgw.testing import assert_envoy_accepts, make_test_pki

ROOT = Path(__file__).resolve().parents[1]
TWO_DC = ROOT / "examples" / "two-dc"
FEDERATION = ROOT / "examples" / "federation"
TD = "7d6c6a53-2b5e-4f8e-9f1d-2a9f1c3b4e5d.consul"


def east() -> meshgw.Mesh:
    """examples/federation/east: dc1 and dc2, each from its own directory, joined."""
    return meshgw.combine_datacenters(
        [meshgw.load(FEDERATION / "east" / dc) for dc in ("dc2", "dc1")]
    )


def cluster_names(out: dict[str, list[dict[str, object]]]) -> list[str]:
    return [str(c["name"]) for c in out["clusters"]]


def test_proxies_lists_every_datacenters_gateways_and_sidecars() -> None:
    mesh = meshgw.load(TWO_DC)
    assert [p.key for p in meshgw.proxies(mesh)] == [
        "dc1/dc1-agent-1/mesh-gateway",
        "dc1/dc1-agent-1/web-sidecar-proxy",
        "dc1/dc1-app-1/billing-sidecar-proxy",
        "dc2/dc2-app-1/api-sidecar-proxy",
        "dc2/dc2-app-1/db-sidecar-proxy",
        "dc2/dc2-app-2/redis-sidecar-proxy",
        "dc2/dc2-gw-1/mesh-gateway",
        "dc2/dc2-gw-2/mesh-gateway",
    ]
    gw = meshgw.proxies(mesh)[-1]
    assert gw.kind == meshgw.ServiceKind.MESH_GATEWAY and gw.address == "10.2.0.6"
    assert gw.source is not None and gw.source.file is not None
    assert gw.source.file.endswith("dc1.hcl") and gw.source.line == 27


@pytest.mark.envoy
def test_a_gateway_of_another_datacenter_is_translated_as_its_own_consul_would() -> None:
    mesh = meshgw.load(TWO_DC)
    proxy = next(p for p in meshgw.proxies(mesh) if p.key == "dc2/dc2-gw-1/mesh-gateway")
    out = meshgw.translate(proxy, mesh)
    # dc2 is local: its own services are served directly, dc1 is the remote datacenter.
    assert cluster_names(out) == [
        f"api.default.dc2.internal.{TD}",
        f"db.default.dc2.internal.{TD}",
        f"dc1.internal.{TD}",
        f"redis.default.dc2.internal.{TD}",
    ]
    assert meshgw.translate(proxy.service, mesh) == out  # the Service object: same answer
    dc1_gw = meshgw.translate("mesh-gateway", mesh)  # the local agent's own gateway
    assert f"dc2.internal.{TD}" in cluster_names(dc1_gw)
    assert_envoy_accepts(out)


@pytest.mark.envoy
def test_a_sidecar_of_another_datacenter_goes_through_its_own_gateway(tmp_path: Path) -> None:
    pki = make_test_pki(tmp_path, east().trust_domain, [("api", "dc2")])
    tls = TlsSettings(
        ca_file=pki.ca_file,
        cert_file=f"{pki.directory}/{{service}}-{{datacenter}}.pem",
        key_file=f"{pki.directory}/{{service}}-{{datacenter}}-key.pem",
    )
    mesh = attrs.evolve(east(), tls=tls)  # certificates Envoy can read
    api = next(p for p in meshgw.proxies(mesh) if p.id == "api-sidecar-proxy")
    out = meshgw.translate(api, mesh)
    # Mode local (proxy-defaults, replicated from dc1): dc2's gateway at its LAN address.
    billing = next(e for e in out["endpoints"] if e["cluster_name"].startswith("billing."))
    hosts = [
        ep["endpoint"]["address"]["socket_address"]
        for group in billing["endpoints"]
        for ep in group["lb_endpoints"]
    ]
    assert hosts == [{"address": "10.2.0.5", "port_value": 8443}]
    assert_envoy_accepts(out)


def test_a_sidecar_of_another_datacenter_by_id() -> None:
    mesh = meshgw.load(TWO_DC)
    out = meshgw.translate("api-sidecar-proxy", mesh)
    assert [x["name"] for x in out["listeners"]] == ["public_listener:0.0.0.0:21000"]
    # An id registered on several nodes needs its node: the error lists them.
    twice = meshgw.Mesh.from_dict(
        {
            "catalog": [
                {"node": n, "address": a, "datacenter": "dc2", "service": _sidecar("api")}
                for n, a in (("n1", "10.0.0.1"), ("n2", "10.0.0.2"))
            ]
        }
    )
    with pytest.raises(meshgw.LookupFailed, match="dc2/n1/api-sidecar-proxy, dc2/n2/"):
        meshgw.translate("api-sidecar-proxy", twice)
    with pytest.raises(meshgw.LookupFailed, match="no service registration 'nope'"):
        meshgw.translate("nope", twice)


def _sidecar(name: str, **proxy: object) -> dict[str, object]:
    return {
        "kind": "connect-proxy",
        "service": f"{name}-sidecar-proxy",
        "port": 21000,
        "proxy": {"destination_service_name": name, "local_service_port": 8080, **proxy},
    }


def test_datacenter_view() -> None:
    mesh = east()
    dc2 = meshgw.datacenter_view(mesh, "dc2")
    assert dc2 is meshgw.datacenter_view(mesh, "dc2")
    assert meshgw.datacenter_view(mesh, "dc1") is mesh
    assert (dc2.datacenter, dc2.primary_datacenter) == ("dc2", "dc1")
    assert dc2.trust_domain == mesh.trust_domain
    assert dc2.config_entries == mesh.config_entries
    # The agent's registrations are dc1 catalog entries there; peerings stay with dc1.
    assert dc2.services == () and dc2.peers == ()
    web = next(e for e in dc2.catalog if e.service and e.service.id == "web-sidecar-proxy")
    assert (web.datacenter, web.node, web.address) == ("dc1", "dc1-agent-1", "10.1.0.9")
    with pytest.raises(meshgw.LookupFailed, match=r"no datacenter 'dc9'.*dc1, dc2"):
        meshgw.datacenter_view(mesh, "dc9")


def test_translate_all_equals_translate_and_indexes_the_catalog_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    mesh = east()
    calls: list[meshgw.Mesh] = []
    real = catalog.build_view

    def counting(m: meshgw.Mesh) -> catalog.CatalogView:
        calls.append(m)
        return real(m)

    monkeypatch.setattr(catalog, "build_view", counting)
    everything = meshgw.translate_all(mesh)
    assert [p.key for p in everything] == [p.key for p in meshgw.proxies(mesh)]
    for proxy, out in everything.items():
        assert meshgw.translate(proxy, mesh) == out
    assert calls == [mesh]  # two datacenters, five translations each way: one index


def test_caching_leaves_the_mesh_a_plain_value() -> None:
    mesh = east()
    before = (repr(mesh), pickle.dumps(mesh))
    meshgw.translate_all(mesh)
    assert (repr(mesh), pickle.dumps(mesh)) == before
    copy = pickle.loads(pickle.dumps(mesh))
    assert copy == mesh and meshgw.translate_all(copy) == meshgw.translate_all(mesh)
    # The cache does not keep a mesh alive.
    ref = weakref.ref(mesh)
    del mesh, copy
    gc.collect()
    assert ref() is None


def test_upstream_errors_name_the_registration() -> None:
    text = """
datacenter = "dc1"
catalog = [
  {
    datacenter = "dc2"
    node       = "n1"
    address    = "10.2.0.1"
    service = {
      kind = "connect-proxy", service = "api-sidecar-proxy", port = 21000
      proxy = {
        destination_service_name = "api", local_service_port = 8080
        upstreams = [{ destination_name = "db", datacenter = "dc3", local_bind_port = 1,
                       mesh_gateway = { mode = "remote" } }]
      }
    }
  },
]
"""
    mesh = meshgw.loads(text, name="mesh.hcl")
    with pytest.raises(meshgw.TranslationError) as info:
        meshgw.translate_all(mesh)
    message = str(info.value)
    assert message.startswith(
        "mesh.hcl:8: dc2/n1/api-sidecar-proxy: proxy.upstreams[0]: upstream 'db?dc=dc3' "
    )


def test_a_set_of_peered_meshes() -> None:
    meshes = meshgw.MeshSet.load(FEDERATION)
    assert list(meshes) == ["east", "west"]
    assert meshes.peer_mesh("east", "west") == ("west", meshes["west"])
    assert meshes.peer_mesh("west", "east") == ("east", meshes["east"])
    keys = [p.key for p in meshgw.proxies(meshes)]
    assert keys[0] == "east/dc1/dc1-agent-1/mesh-gateway"
    assert keys[-2:] == [
        "west/dc3/dc3-agent-1/mesh-gateway",
        "west/dc3/dc3-app-1/payments-sidecar-proxy",
    ]
    everything = meshgw.translate_all(meshes)
    west_gw = next(out for p, out in everything.items() if p.key.startswith("west/dc3/dc3-agent"))
    assert any(name.startswith("exported~payments.") for name in cluster_names(west_gw))
    assert meshgw.MeshSet(dict(meshes)) == meshes
    assert pickle.loads(pickle.dumps(meshes)) == meshes


def test_a_set_names_what_does_not_match() -> None:
    meshes = meshgw.MeshSet.load(FEDERATION)
    lone = meshgw.MeshSet({"east": meshes["east"]})
    with pytest.raises(meshgw.LookupFailed, match="no mesh of the set has trust domain"):
        lone.peer_mesh("east", "west")
    with pytest.raises(meshgw.LookupFailed, match="no peer 'nope'"):
        meshes.peer_mesh("east", "nope")
    with pytest.raises(meshgw.LookupFailed, match="did you mean 'east'"):
        meshes["eats"]
    with pytest.raises(meshgw.MeshgwError, match="mesh files at the top level"):
        meshgw.MeshSet.load(TWO_DC)


def test_cli_translates_every_proxy_into_one_file_each(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["translate", "--all", str(FEDERATION), "-o", str(tmp_path)]) == 0
    assert "wrote 7 of 7 proxies" in capsys.readouterr().out
    files = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*.json"))
    assert files == sorted(f"{p.key}.json" for p in meshgw.proxies(meshgw.MeshSet.load(FEDERATION)))
    mesh = east()
    written = json.loads((tmp_path / "east/dc2/dc2-gw-1/mesh-gateway.json").read_text())
    gateway = next(p for p in meshgw.proxies(mesh) if p.key == "dc2/dc2-gw-1/mesh-gateway")
    assert written == meshgw.translate(gateway.service, mesh)


def test_cli_all_reports_every_failure_and_writes_the_rest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "mesh.hcl"
    broken.write_text((TWO_DC / "dc1.hcl").read_text().replace(", local_service_port = 8080", ""))
    for name in ("mesh-gateway.hcl", "proxy-defaults.hcl", "web.hcl"):
        (tmp_path / name).write_text((TWO_DC / name).read_text())
    out = tmp_path / "out"
    assert main(["translate", "--all", str(tmp_path), "-o", str(out)]) == 1
    std = capsys.readouterr()
    assert "wrote 4 of 8 proxies" in std.out
    assert "4 proxies could not be translated" in std.err
    assert f"{broken}:38: dc2/dc2-app-1/api-sidecar-proxy: " in std.err
    assert main(["translate", "--all", str(tmp_path)]) == 1
    assert "name a directory with -o OUT" in capsys.readouterr().err


def test_cli_all_names_files_of_gone_proxies_and_prunes_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    meshes = tmp_path / "meshes"
    shutil.copytree(FEDERATION, meshes)
    assert main(["translate", "--all", str(meshes), "-o", str(out)]) == 0
    capsys.readouterr()
    # The next run is without west's cluster: its two proxies are gone; a note is not JSON.
    shutil.rmtree(meshes / "west")
    (out / "NOTES.txt").write_text("mine")
    east_dir = str(meshes)
    assert main(["translate", "--all", east_dir, "-o", str(out)]) == 0
    std = capsys.readouterr()
    west = sorted(str(p) for p in (out / "west").rglob("*.json"))
    assert len(west) == 2
    assert f"meshgw: warning: 2 files under {out} are not of this mesh's proxies " in std.err
    assert "(--prune removes them): " + ", ".join(west) in std.err
    assert main(["translate", "--all", east_dir, "-o", str(out), "--prune"]) == 0
    std = capsys.readouterr()
    assert "removed 2 files of proxies no longer in the mesh" in std.out and not std.err
    assert not list((out / "west").rglob("*.json")) and (out / "NOTES.txt").exists()
    assert len(list(out.rglob("*.json"))) == 5
    assert usage(capsys, "translate", str(TWO_DC), "-s", "mesh-gateway", "--prune") == (
        "--prune goes with --all"
    )


def usage(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(list(argv)) == 1
    return capsys.readouterr().err.split("meshgw: ", 1)[1].split(" (")[0].strip()


def test_each_datacenters_own_files_join_into_the_clusters_mesh() -> None:
    mesh = east()
    assert mesh == meshgw.MeshSet.load(FEDERATION)["east"]
    assert (mesh.datacenter, mesh.primary_datacenter) == ("dc1", "dc1")
    # dc2's agent registrations are catalog entries of dc2's agent node now.
    api = next(p for p in meshgw.proxies(mesh) if p.id == "api-sidecar-proxy")
    assert (api.datacenter, api.node, api.address) == ("dc2", "dc2-app-1", "10.2.1.10")
    assert api.source is not None and str(api.source).endswith("east/dc2/mesh.hcl:13")
    # dc2's copy of dc1's gateway is dropped: dc1's own registration stands.
    gateways = [p.key for p in meshgw.proxies(mesh) if p.kind == meshgw.ServiceKind.MESH_GATEWAY]
    assert gateways == ["dc1/dc1-agent-1/mesh-gateway", "dc2/dc2-gw-1/mesh-gateway"]
    assert f"dc2.internal.{mesh.trust_domain}" in cluster_names(
        meshgw.translate("mesh-gateway", mesh)
    )


PROXY_DEFAULTS = {"kind": "proxy-defaults", "name": "global", "mesh_gateway": {"mode": "local"}}


@pytest.mark.parametrize(
    ("dc2", "message"),
    [
        ({"datacenter": "dc1"}, "datacenter 'dc1' is written twice"),
        ({"primary_datacenter": "dc2"}, "must name one primary_datacenter"),
        ({"trust_domain": "other.consul"}, "is not the primary dc1's"),
        (
            {"config_entries": {"bootstrap": [{**PROXY_DEFAULTS, "mesh_gateway": {}}]}},
            "proxy-defaults 'global' differs between dc1 and dc2",
        ),
    ],
)
def test_joining_datacenters_refuses_what_a_cluster_cannot_be(
    dc2: dict[str, object], message: str
) -> None:
    dc1 = meshgw.Mesh.from_dict(
        {
            "datacenter": "dc1",
            "primary_datacenter": "dc1",
            "config_entries": {"bootstrap": [PROXY_DEFAULTS]},
        },
        name="dc1.hcl",
    )
    other = meshgw.Mesh.from_dict({"datacenter": "dc2", **dc2}, name="dc2.hcl")
    with pytest.raises(meshgw.MeshgwError, match=message):
        meshgw.combine_datacenters([dc1, other])


def _dc2_peers_with_west(root: Path, acl: str = "") -> Path:
    """A copy of examples/federation where east's dc2 has its own peering with west (the
    same peer as dc1's) and api's sidecar there calls payments through it."""
    shutil.copytree(FEDERATION, root)
    dc1 = (root / "east" / "dc1" / "mesh.hcl").read_text()
    peers = dc1[dc1.index("peers = [") :]
    dc2 = root / "east" / "dc2" / "mesh.hcl"
    text = dc2.read_text().replace(
        '{ destination_name = "billing", datacenter = "dc1", local_bind_port = 10000 },',
        '{ destination_name = "billing", datacenter = "dc1", local_bind_port = 10000 },\n'
        '          { destination_name = "payments", destination_peer = "west", '
        "local_bind_port = 10001 },",
    )
    dc2.write_text(text + "\n" + peers + "\n" + acl)
    return root


def test_a_secondary_datacenter_has_peerings_of_its_own(tmp_path: Path) -> None:
    root = _dc2_peers_with_west(tmp_path / "federation")
    meshes = meshgw.MeshSet.load(root)
    east = meshes["east"]
    assert east.datacenter == "dc1" and [p.name for p in east.peers] == ["west"]
    (settings,) = east.datacenter_settings
    assert settings.datacenter == "dc2" and [p.name for p in settings.peers] == ["west"]
    assert [p.name for p in meshgw.datacenter_view(east, "dc2").peers] == ["west"]
    # dc2's sidecar translates its peered upstream through dc2's own peering ...
    api = next(p for p in meshgw.proxies(east) if p.id == "api-sidecar-proxy")
    out = meshgw.translate(api, east)
    assert any(n.startswith("payments.default.west.external.") for n in cluster_names(out))
    # ... and the trace crosses into west from dc2.
    t = meshgw.trace(meshes, api, "payments")
    assert t.ok and not t.problems, t.render()
    assert [(h.peer, h.datacenter, h.proxy) for h in t.paths[0]] == [
        ("", "dc2", "api-sidecar-proxy"),
        ("", "dc2", "mesh-gateway"),
        ("west", "dc3", "mesh-gateway"),
        ("west", "dc3", "payments-sidecar-proxy"),
    ]
    assert meshgw.check(meshes) == ()
    # Without dc2's own peering, its upstream names a peer dc2 does not have.
    plain = meshgw.MeshSet.load(FEDERATION)
    assert [
        (settings.datacenter, settings.peers) for settings in plain["east"].datacenter_settings
    ] == [("dc2", ())]


def test_each_datacenter_decides_intentions_with_its_own_acl_settings(tmp_path: Path) -> None:
    deny = 'acl {\n  enabled = true\n  default_policy = "deny"\n}\n'
    root = _dc2_peers_with_west(tmp_path / "federation", acl=deny)
    east = meshgw.MeshSet.load(root)["east"]
    assert meshgw.datacenter_view(east, "dc2").acl.default_policy == "deny"
    assert east.acl.default_policy == ""  # dc1 did not turn ACLs on

    def default_action(proxy_id: str, mesh: meshgw.Mesh) -> str:
        proxy = next(p for p in meshgw.proxies(mesh) if p.id == proxy_id)
        out = meshgw.translate(proxy, mesh)
        public = next(x for x in out["listeners"] if x["name"].startswith("public_listener"))
        text = json.dumps(public)
        # no intentions: an empty ALLOW rule set denies everything, an empty DENY allows
        return "deny" if '"action": "DENY"' not in text else "allow"

    assert default_action("api-sidecar-proxy", east) == "deny"
    assert default_action("web-sidecar-proxy", east) == "allow"
    # A datacenter with no files of its own shares the mesh's ACL settings.
    one = meshgw.Mesh.from_dict(
        {
            "datacenter": "dc1",
            "acl": {"enabled": True, "default_policy": "deny"},
            "catalog": [
                {
                    "datacenter": "dc2",
                    "node": "n2",
                    "address": "10.2.0.1",
                    "service": {
                        "kind": "connect-proxy",
                        "service": "api-sidecar-proxy",
                        "port": 21000,
                        "proxy": {"destination_service_name": "api", "local_service_port": 8080},
                    },
                }
            ],
        }
    )
    assert meshgw.datacenter_view(one, "dc2").acl.default_policy == "deny"
    assert default_action("api-sidecar-proxy", one) == "deny"


def test_cli_translate_names_the_registration_and_finds_catalog_proxies(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("dc1.hcl", "mesh-gateway.hcl", "proxy-defaults.hcl"):
        (tmp_path / name).write_text((TWO_DC / name).read_text())
    web = tmp_path / "web.hcl"
    web.write_text((TWO_DC / "web.hcl").read_text().replace('"dc2"', '"dc9"'))
    assert main(["translate", str(tmp_path), "-s", "web-sidecar-proxy"]) == 1
    err = capsys.readouterr().err
    assert f"{web}:2: web-sidecar-proxy: proxy.upstreams[1]: upstream 'db?dc=dc9'" in err
    assert main(["translate", str(TWO_DC), "-s", "api-sidecar-proxy", "-t", "listener"]) == 0
    listeners = json.loads(capsys.readouterr().out)["listeners"]
    assert [x["name"] for x in listeners] == ["public_listener:0.0.0.0:21000"]


def test_cli_reads_a_cluster_directory_split_by_datacenter(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # east/ holds dc1/ and dc2/ (one trust domain, dc1 the primary): one mesh, not a set.
    assert main(["translate", "--all", str(FEDERATION / "east"), "-o", str(tmp_path)]) == 0
    files = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*.json"))
    assert files == sorted(f"{p.key}.json" for p in meshgw.proxies(east()))
    capsys.readouterr()
    assert main(["explain", str(FEDERATION / "east"), "-s", "api-sidecar-proxy"]) == 0
    assert "through dc2's mesh gateways" in capsys.readouterr().out
    # A set of peered clusters is one mesh per cluster: only --all reads it whole.
    assert main(["explain", str(FEDERATION), "-s", "api-sidecar-proxy"]) == 1
    assert "a set of meshes (east, west)" in capsys.readouterr().err
