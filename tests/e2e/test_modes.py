"""Real TLS traffic through real Envoys, configured only by meshgw, in every gateway mode.

Two simulated datacenters on loopback, each described by its own directory of HCL mesh
files and each Envoy started from ``meshgw.bootstrap`` of its own datacenter's mesh
(``tests/e2e/meshes.py``, builders shared with ``examples/demo``)::

    dc1 (127.0.0.1)                                  dc2 (127.0.0.2)
    client -tcp-> web-sidecar-proxy
                  local:  -mTLS-> dc1 gateway -> dc2 gateway -> api-sidecar-proxy
                  remote: -mTLS----------------> dc2 gateway -> api-sidecar-proxy
                  none:   -mTLS-------------------------------> api-sidecar-proxy
                                             api-sidecar-proxy -tcp-> echo "api-dc2:"

Each test sends bytes through web's upstream listener, checks the echo (its tag names
the backend that answered) and reads every Envoy's stats to prove the route taken:

* ``local``: dc1's gateway forwarded to dc2 (``mesh_gateway_remote.default.dc2``), dc2's
  gateway routed to api (``mesh_gateway_local.default``);
* ``remote``: only dc2's gateway saw the connections; dc1's gateway none;
* ``none``: no gateway saw anything; web connected straight to dc2's api sidecar.

The mTLS is end to end (web's leaf ↔ api's leaf, SAN-checked): gateways only read SNI.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from meshgw import Hop

from .harness import EnvoyProcess, Stack
from .meshes import (
    GATEWAY_LOCAL_STAT,
    MODES,
    PUBLIC_LISTENER_STAT,
    EnvoySpec,
    Running,
    assert_path_taken,
    bootstrap,
    bring_up,
    demo_mesh,
    envoy_name,
    gateway_cluster,
    gateway_remote_stat,
    host_connections,
    predicted,
    reserve_ports,
    sni,
    traffic,
    upstream_stat,
)

N = 3  # connections per upstream


def _send(mesh: Running, service: str, n: int = N, dc: str = "dc2") -> None:
    for i in range(n):
        payload = f"hello {i} from web to {service}".encode()
        assert mesh.send(service, payload) == f"{service}-{dc}:".encode() + payload


def _no_tls_at(*gateways: EnvoyProcess) -> None:
    for gw in gateways:
        handshakes = gw.stats(filter=r"ssl\.handshake$")
        assert not {k: v for k, v in handshakes.items() if v}, "a gateway terminated TLS"


@pytest.mark.parametrize("mode", MODES)
def test_mode_routes_traffic(stack: Stack, tmp_path: Path, mode: str) -> None:
    mesh = bring_up(
        stack, tmp_path / "mesh", backends={"dc2": ["api"]}, upstreams=[("api", "dc2", mode)]
    )
    topo = mesh.topology
    _send(mesh, "api")

    web, gw1, gw2 = mesh.client, mesh.gateway("dc1"), mesh.gateway("dc2")
    api = mesh.sidecar("api", "dc2")
    backend = topo.backend("api", "dc2")
    api.wait_for_counter(PUBLIC_LISTENER_STAT, lambda n: n == N)

    # web: the upstream listener's cluster is named by api's SNI (with Consul's
    # customization prefix: the upstream overrides the mode); mTLS every time.
    cluster = mesh.upstream_cluster("api")
    assert cluster.endswith(sni("api", "dc2"))
    assert traffic(web) == {upstream_stat("api", "dc2"): N}
    assert web.counter(f"cluster.{cluster}.upstream_cx_total") == N
    assert web.counter(f"cluster.{cluster}.ssl.handshake") == N
    # api's sidecar: N client-authenticated TLS connections, N to the backend.
    assert traffic(api) == {PUBLIC_LISTENER_STAT: N}
    public = f"listener.{backend.address}_{backend.sidecar_port}"
    assert api.counter(f"{public}.ssl.handshake") == N
    assert api.counter(f"{public}.ssl.no_certificate") == 0
    assert api.counter("cluster.local_app.upstream_cx_total") == N

    # The first hop web took, as its Envoy counted it.
    first_hop = {
        "local": (topo.gateways["dc1"].address, topo.gateways["dc1"].port),
        "remote": (topo.gateways["dc2"].address, topo.gateways["dc2"].port),
        "none": (backend.address, backend.sidecar_port),
    }[mode]
    assert host_connections(web, cluster) == {f"{first_hop[0]}:{first_hop[1]}": N}

    api_cluster = f"cluster.{sni('api', 'dc2')}.upstream_cx_total"
    if mode == "local":
        assert traffic(gw1) == {gateway_remote_stat("dc2"): N}
        assert gw1.counter(f"cluster.{gateway_cluster('dc2')}.upstream_cx_total") == N
        assert traffic(gw2) == {GATEWAY_LOCAL_STAT: N}
        assert gw2.counter(api_cluster) == N
    elif mode == "remote":
        assert traffic(gw1) == {}
        assert traffic(gw2) == {GATEWAY_LOCAL_STAT: N}
        assert gw2.counter(api_cluster) == N
    else:
        assert traffic(gw1) == {}
        assert traffic(gw2) == {}
        assert gw2.counter(api_cluster) == 0
    _no_tls_at(gw1, gw2)

    # meshgw.trace, from dc1's files alone, predicted exactly that path, and the
    # Envoys off it carried nothing.
    predicted_path = _only_path(topo, "api")
    assert [(h.datacenter, h.kind) for h in predicted_path] == {
        "local": [
            ("dc1", "connect-proxy"),
            ("dc1", "mesh-gateway"),
            ("dc2", "mesh-gateway"),
            ("dc2", "connect-proxy"),
        ],
        "remote": [("dc1", "connect-proxy"), ("dc2", "mesh-gateway"), ("dc2", "connect-proxy")],
        "none": [("dc1", "connect-proxy"), ("dc2", "connect-proxy")],
    }[mode]
    assert_path_taken(mesh, predicted_path, N)
    on_path = {envoy_name(h) for h in predicted_path}
    assert all(traffic(p) == {} for name, p in mesh.envoys.items() if name not in on_path)


def _only_path(topology: object, service: str) -> tuple[Hop, ...]:
    """The one path ``meshgw.trace`` predicts for the client's upstream ``service``."""
    t = predicted(topology, service)
    assert t.ok and not t.problems, t.render()
    assert len(t.paths) == 1, t.render()
    return t.paths[0]


def test_three_modes_side_by_side(stack: Stack, tmp_path: Path) -> None:
    """Consul's documentation example, live: ``proxy-defaults`` says ``local``; web's
    ``api`` upstream inherits it, ``db`` overrides it with ``remote``, ``cache`` with
    ``none`` — three destinations in dc2, three routes, one client Envoy."""
    mesh = bring_up(
        stack,
        tmp_path / "mesh",
        backends={"dc2": ["api", "db", "cache"]},
        upstreams=[("api", "dc2", ""), ("db", "dc2", "remote"), ("cache", "dc2", "none")],
        default_mode="local",
    )
    # Cluster names as Consul's chain compiler makes them: no prefix for the mode the
    # chain has anyway, the mode-only override hashes for the others.
    assert mesh.upstream_cluster("api") == sni("api", "dc2")
    assert mesh.upstream_cluster("db") == "dd412229~" + sni("db", "dc2")
    assert mesh.upstream_cluster("cache") == "fc9afadf~" + sni("cache", "dc2")
    for service in ("api", "db", "cache"):
        _send(mesh, service)
    for service in ("api", "db", "cache"):
        mesh.sidecar(service, "dc2").wait_for_counter(PUBLIC_LISTENER_STAT, lambda n: n == N)

    gw1, gw2 = mesh.gateway("dc1"), mesh.gateway("dc2")
    assert traffic(gw1) == {gateway_remote_stat("dc2"): N}  # api only
    assert traffic(gw2) == {GATEWAY_LOCAL_STAT: 2 * N}  # api and db
    assert gw2.counter(f"cluster.{sni('api', 'dc2')}.upstream_cx_total") == N
    assert gw2.counter(f"cluster.{sni('db', 'dc2')}.upstream_cx_total") == N
    assert gw2.counter(f"cluster.{sni('cache', 'dc2')}.upstream_cx_total") == 0
    assert traffic(mesh.client) == {
        upstream_stat("api", "dc2"): N,
        upstream_stat("db", "dc2"): N,
        upstream_stat("cache", "dc2"): N,
    }
    _no_tls_at(gw1, gw2)
    # meshgw.trace predicted each upstream's path, hop by hop.
    for service in ("api", "db", "cache"):
        assert_path_taken(mesh, _only_path(mesh.topology, service), N)


def test_public_listener_binds_the_registered_address(stack: Stack, tmp_path: Path) -> None:
    """A sidecar registered with ``address = "127.0.0.2"`` and no ``bind_address``
    listens on 127.0.0.2, as with Consul — not on every interface."""
    ports = reserve_ports(stack)
    topology = demo_mesh.plan(
        tmp_path / "mesh",
        port=ports,
        backends={"dc2": ["api"]},
        upstreams=[("api", "dc2", "none")],
    )
    pki = demo_mesh.write_pki(topology)
    demo_mesh.write_mesh_files(topology)
    backend = topology.backend("api", "dc2")
    config = bootstrap(topology, EnvoySpec("dc2-api", "dc2", backend.sidecar_id))
    (public,) = [
        listener
        for listener in config["static_resources"]["listeners"]
        if listener["name"].startswith("public_listener:")
    ]
    # Checked before anything starts: the buggy config would listen beyond loopback.
    assert public["address"]["socket_address"] == {
        "address": backend.address,
        "port_value": backend.sidecar_port,
    }, json.dumps(public["address"])
    assert public["name"] == f"public_listener:{backend.address}:{backend.sidecar_port}"

    envoys = demo_mesh.start(topology, stack, ports=ports)
    listeners = envoys["dc2-api"].listeners()
    assert listeners[public["name"]] == (backend.address, backend.sidecar_port)
    mesh = Running(topology, pki, stack, envoys)
    _send(mesh, "api", n=1)
