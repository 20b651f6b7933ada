"""A mesh gateway routes by SNI only: a name it has no cluster for is refused, unread.

dc2's gateway (configured by meshgw from dc2's mesh files) is dialled directly with
Python's ``ssl``: a client holding a valid mesh certificate (web's, from the same CA)
sends a TLS ClientHello whose SNI names no service or datacenter the gateway knows.
The gateway has no TLS context of its own; its ``tls_inspector`` reads the SNI, the
catch-all chain's ``sni_cluster`` finds no cluster of that name, and tcp_proxy closes
the connection: not one byte comes back (no ServerHello), and
``tcp.mesh_gateway_local.default.downstream_cx_no_route`` counts it.

The control: the same client, the same way, with api's SNI, completes the handshake with
api's sidecar behind the gateway (its certificate carries api's SPIFFE ID in dc2) and
gets its bytes echoed.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Generator

import pytest

from meshgw.testing import find_envoy

from .harness import Stack
from .meshes import (
    GATEWAY_LOCAL_STAT,
    GATEWAY_NO_ROUTE_STAT,
    TRUST_DOMAIN,
    Running,
    bring_up,
    gateway_cluster,
    gateway_remote_stat,
    sni,
    spiffe_id,
    traffic,
)

OTHER_TRUST_DOMAIN = "99999999-8888-7777-6666-555555555555.consul"


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Generator[Running, None, None]:
    """dc1 and dc2, api in dc2; shared by this module's tests (they compare deltas)."""
    root = tmp_path_factory.mktemp("sni")
    with Stack(root / "stack", envoy=find_envoy()) as stack:
        yield bring_up(
            stack, root / "mesh", backends={"dc2": ["api"]}, upstreams=[("api", "dc2", "remote")]
        )


def _context(mesh: Running) -> ssl.SSLContext:
    """A mesh client: web's leaf certificate, trusting the mesh CA (no host name check:
    mesh identities are SPIFFE URIs, checked by the caller)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(mesh.pki.ca_file)
    ctx.load_cert_chain(*mesh.pki.leaves["web", "dc1"])
    return ctx


def _client_hello(mesh: Running, server_name: str | None) -> bytes:
    """The bytes of a ClientHello with ``server_name`` as SNI (none when ``None``)."""
    tls = _context(mesh).wrap_bio(ssl.MemoryBIO(), out := ssl.MemoryBIO(), False, server_name)
    with pytest.raises(ssl.SSLWantReadError):
        tls.do_handshake()
    hello = out.read()
    assert hello[:1] == b"\x16", "not a TLS handshake record"
    return hello


def _send_raw(address: tuple[str, int], data: bytes, timeout: float = 5.0) -> bytes:
    """Send ``data``, return everything received until the peer closes."""
    received = bytearray()
    with socket.create_connection(address, timeout=timeout) as sock:
        sock.sendall(data)
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except ConnectionResetError:
            pass
    return bytes(received)


def _deltas(mesh: Running, dc: str, names: list[str], before: dict[str, int]) -> dict[str, int]:
    stats = mesh.gateway(dc).stats()
    return {name: stats.get(name, 0) - before.get(name, 0) for name in names}


UNKNOWN = {
    "unknown-service": f"billing.default.dc2.internal.{TRUST_DOMAIN}",
    "unknown-datacenter": f"api.default.dc9.internal.{TRUST_DOMAIN}",
    "other-trust-domain": f"api.default.dc2.internal.{OTHER_TRUST_DOMAIN}",
    "not-a-mesh-name": "www.example.com",
    "no-sni": None,
}


@pytest.mark.parametrize("server_name", list(UNKNOWN.values()), ids=list(UNKNOWN))
def test_unknown_sni_is_refused_without_a_byte(mesh: Running, server_name: str | None) -> None:
    gw = mesh.gateway("dc2")
    gw_address = (mesh.topology.gateways["dc2"].address, mesh.topology.gateways["dc2"].port)
    watched = [
        GATEWAY_NO_ROUTE_STAT,
        GATEWAY_LOCAL_STAT,
        f"cluster.{sni('api', 'dc2')}.upstream_cx_total",
        gateway_remote_stat("dc1"),
    ]
    before = gw.stats()
    api_before = traffic(mesh.sidecar("api", "dc2"))

    assert _send_raw(gw_address, _client_hello(mesh, server_name)) == b""

    gw.wait_for_counter(
        GATEWAY_NO_ROUTE_STAT, lambda n: n == before.get(GATEWAY_NO_ROUTE_STAT, 0) + 1
    )
    assert _deltas(mesh, "dc2", watched, before) == {
        GATEWAY_NO_ROUTE_STAT: 1,
        GATEWAY_LOCAL_STAT: 1,  # accepted by the catch-all chain, then closed
        f"cluster.{sni('api', 'dc2')}.upstream_cx_total": 0,
        gateway_remote_stat("dc1"): 0,
    }
    # Nothing went further: api's sidecar saw no connection.
    assert traffic(mesh.sidecar("api", "dc2")) == api_before


def test_known_sni_reaches_api_through_the_same_gateway(mesh: Running) -> None:
    gw = mesh.gateway("dc2")
    gw_address = (mesh.topology.gateways["dc2"].address, mesh.topology.gateways["dc2"].port)
    before = gw.stats()
    with (
        socket.create_connection(gw_address, timeout=5) as raw,
        _context(mesh).wrap_socket(raw, server_hostname=sni("api", "dc2")) as tls,
    ):
        peer = tls.getpeercert()
        assert ("URI", spiffe_id("api", "dc2")) in peer["subjectAltName"]
        tls.sendall(b"ping")
        received = b""
        while not received.endswith(b"ping"):
            chunk = tls.recv(1024)
            assert chunk, f"closed after {received!r}"
            received += chunk
    assert received == b"api-dc2:ping"
    assert _deltas(mesh, "dc2", [GATEWAY_NO_ROUTE_STAT, GATEWAY_LOCAL_STAT], before) == {
        GATEWAY_NO_ROUTE_STAT: 0,
        GATEWAY_LOCAL_STAT: 1,
    }


def test_unknown_service_of_a_known_datacenter_is_refused_by_its_gateway(mesh: Running) -> None:
    """``*.dc1.internal.<td>`` matches dc2's chain to dc1: dc2's gateway forwards it,
    unread, and dc1's gateway (which has no such service) refuses it."""
    gw1, gw2 = mesh.gateway("dc1"), mesh.gateway("dc2")
    gw_address = (mesh.topology.gateways["dc2"].address, mesh.topology.gateways["dc2"].port)
    before1, before2 = gw1.stats(), gw2.stats()
    hello = _client_hello(mesh, sni("billing", "dc1"))

    assert _send_raw(gw_address, hello) == b""

    gw1.wait_for_counter(
        GATEWAY_NO_ROUTE_STAT, lambda n: n == before1.get(GATEWAY_NO_ROUTE_STAT, 0) + 1
    )
    assert _deltas(
        mesh,
        "dc2",
        [gateway_remote_stat("dc1"), f"cluster.{gateway_cluster('dc1')}.upstream_cx_total"],
        before2,
    ) == {gateway_remote_stat("dc1"): 1, f"cluster.{gateway_cluster('dc1')}.upstream_cx_total": 1}
    assert _deltas(mesh, "dc1", [GATEWAY_LOCAL_STAT, GATEWAY_NO_ROUTE_STAT], before1) == {
        GATEWAY_LOCAL_STAT: 1,
        GATEWAY_NO_ROUTE_STAT: 1,
    }


def test_watched_stats_exist(mesh: Running) -> None:
    """Every stat compared above exists (a renamed one would read as an unchanged 0)."""
    names = set(mesh.gateway("dc2").stats())
    assert {
        GATEWAY_NO_ROUTE_STAT,
        GATEWAY_LOCAL_STAT,
        gateway_remote_stat("dc1"),
        f"cluster.{sni('api', 'dc2')}.upstream_cx_total",
        f"cluster.{gateway_cluster('dc1')}.upstream_cx_total",
    } <= names
