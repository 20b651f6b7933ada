"""Multi-datacenter meshes for the end-to-end tests, configured only by meshgw.

The builders (topology, certificates, per-datacenter HCL mesh files, which Envoys to run
from which registration) live in ``examples/demo/demo_mesh.py``, so that the demo
script runs exactly what these tests prove; this module loads that file by path (an
example is not a package) and adds what only tests need: :func:`bring_up` on the
harness's :class:`~tests.e2e.harness.Stack`, and readers for the stats that tell which
way a connection went.

Stat names (Envoy 1.40, meshgw's stat prefixes, as in ``test_harness.py``):

* gateway: ``tcp.mesh_gateway_remote.default.<dc>.downstream_cx_total`` (forwarded to
  ``<dc>``'s gateways), ``tcp.mesh_gateway_local.default.downstream_cx_total`` (routed by
  SNI to a local service), ``...downstream_cx_no_route`` (SNI named no cluster),
  ``cluster.<sni>.upstream_cx_total`` per cluster;
* sidecar: ``tcp.upstream.<svc>.default.default.<dc>.downstream_cx_total`` (client side),
  ``tcp.public_listener.downstream_cx_total`` (server side).
"""

from __future__ import annotations

import importlib.util
import itertools
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import attrs

import meshgw
from meshgw.testing import TestPKI

from .harness import EnvoyProcess, Stack, tcp_roundtrip

DEMO_MESH = Path(__file__).resolve().parents[2] / "examples" / "demo" / "demo_mesh.py"


def _load_demo_mesh() -> ModuleType:
    name = "meshgw_examples_demo_mesh"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, DEMO_MESH)
    assert spec is not None and spec.loader is not None, DEMO_MESH
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while being built
    spec.loader.exec_module(module)
    return module


demo_mesh = _load_demo_mesh()

GATEWAY = demo_mesh.GATEWAY
GATEWAY_LOCAL_STAT: str = demo_mesh.GATEWAY_LOCAL_STAT
GATEWAY_NO_ROUTE_STAT = "tcp.mesh_gateway_local.default.downstream_cx_no_route"
MODES: tuple[str, ...] = demo_mesh.MODES
TRUST_DOMAIN: str = demo_mesh.TRUST_DOMAIN
Topology = demo_mesh.Topology
EnvoySpec = demo_mesh.EnvoySpec
bootstrap = demo_mesh.bootstrap
cli_command = demo_mesh.cli_command
envoy_specs = demo_mesh.envoy_specs
gateway_remote_stat = demo_mesh.gateway_remote_stat
load_mesh = demo_mesh.load_mesh
plan = demo_mesh.plan
sni = demo_mesh.sni
spiffe_id = demo_mesh.spiffe_id
write_mesh_files = demo_mesh.write_mesh_files
write_pki = demo_mesh.write_pki


def gateway_cluster(datacenter: str, trust_domain: str = TRUST_DOMAIN) -> str:
    """A gateway's cluster for ``datacenter``'s gateways (named by their SNI suffix)."""
    return f"{datacenter}.internal.{trust_domain}"


def upstream_stat(service: str, datacenter: str) -> str:
    """The client sidecar's upstream listener stat for ``service`` in ``datacenter``."""
    return f"tcp.upstream.{service}.default.default.{datacenter}.downstream_cx_total"


PUBLIC_LISTENER_STAT = "tcp.public_listener.downstream_cx_total"


@attrs.define
class Running:
    """A mesh brought up on a stack: its topology, certificates and Envoys by name
    (``dc1-web``, ``dc1-gateway``, ``dc2-gateway``, ``dc2-api``, ...)."""

    topology: Any  # demo_mesh.Topology
    pki: TestPKI
    stack: Stack
    envoys: dict[str, EnvoyProcess]

    def gateway(self, datacenter: str) -> EnvoyProcess:
        return self.envoys[f"{datacenter}-gateway"]

    def sidecar(self, service: str, datacenter: str) -> EnvoyProcess:
        return self.envoys[f"{datacenter}-{service}"]

    @property
    def client(self) -> EnvoyProcess:
        c = self.topology.client
        return self.envoys[f"{c.datacenter}-{c.service}"]

    def send(self, service: str, payload: bytes, timeout: float = 5.0) -> bytes:
        """Send ``payload`` through the client's upstream listener for ``service``."""
        up = self.topology.client.upstream(service)
        return tcp_roundtrip(self.topology.client.address, up.port, payload, timeout)

    def upstream_cluster(self, service: str) -> str:
        """The cluster the client's upstream listener for ``service`` sends to (read
        from the bootstrap meshgw generated: an aggregate cluster when it fails over)."""
        up = self.topology.client.upstream(service)
        for listener in self.client.bootstrap["static_resources"]["listeners"]:
            port = listener["address"]["socket_address"]["port_value"]
            if port == up.port:
                tcp = listener["filter_chains"][0]["filters"][-1]["typed_config"]
                return str(tcp["cluster"])
        raise KeyError(f"no upstream listener on port {up.port}")

    def restart(self, name: str, config: Mapping[str, Any]) -> EnvoyProcess:
        """Stop Envoy ``name`` and start a new one (``<name>+``) from ``config`` in its
        place: how a static bootstrap takes new configuration."""
        old = self.envoys[name]
        old.stop()
        new = self.stack.envoy(f"{name}+", config, admin_host=old.admin_address[0])
        self.envoys[name] = new
        return new


def bring_up(stack: Stack, root: Path, **plan_kwargs: Any) -> Running:
    """Plan a mesh under ``root`` (free ports, reserved until bound), write its
    certificates and mesh files, and start every backend and Envoy on ``stack``, each
    Envoy from ``meshgw.bootstrap`` of its own datacenter's files."""
    ports = reserve_ports(stack)
    topology = plan(root, port=ports, **plan_kwargs)
    pki = write_pki(topology)
    write_mesh_files(topology)
    envoys = demo_mesh.start(topology, stack, ports=ports)
    return Running(topology, pki, stack, envoys)


def reserve_ports(stack: Stack) -> Any:
    """A :class:`demo_mesh.PortReservations` the stack releases when it closes (ports
    held from planning until the processes bind them; see its docstring)."""
    ports = demo_mesh.PortReservations()
    stack.add(ports)
    return ports


def traffic(proc: EnvoyProcess) -> dict[str, int]:
    """Every non-zero ``tcp.*.downstream_cx_total`` of an Envoy: the TCP proxies that
    accepted connections (empty: nothing went through it)."""
    stats = proc.stats(filter=r"^tcp\..*\.downstream_cx_total$")
    return {name: value for name, value in stats.items() if value}


_HOST_CX = re.compile(r"^(?P<cluster>[^:]+)::(?P<host>[^:]+:\d+)::cx_total::(?P<n>\d+)$")


def host_connections(proc: EnvoyProcess, cluster: str) -> dict[str, int]:
    """``host:port`` → connections opened, for every host of ``cluster`` (``/clusters``)."""
    out: dict[str, int] = {}
    for line in proc.clusters_text().splitlines():
        match = _HOST_CX.match(line)
        if match and match["cluster"] == cluster:
            out[match["host"]] = int(match["n"])
    return out


# --------------------------------------------------------------------------- trace


def predicted(topology: Any, service: str) -> meshgw.Trace:
    """What ``meshgw.trace`` says the client's upstream ``service`` does, read from the
    client's datacenter's files only (the mesh as dc1 sees it)."""
    client = topology.client
    mesh = load_mesh(topology, client.datacenter)
    return meshgw.trace(mesh, client.sidecar_id, service)


def envoy_name(hop: meshgw.Hop) -> str:
    """The running Envoy a hop names (``dc1-gateway``, ``dc2-api``, ``dc1-web``)."""
    if hop.kind == "mesh-gateway":
        return f"{hop.datacenter}-gateway"
    return f"{hop.datacenter}-{hop.proxy.removesuffix('-sidecar-proxy')}"


def assert_path_taken(mesh: Running, path: tuple[meshgw.Hop, ...], n: int) -> None:
    """Exactly ``n`` connections took ``path``: at every hop but the last, the hop's
    cluster opened ``n`` upstream connections, all to the next hop's address; the last
    hop's public listener accepted ``n``."""
    for hop, nxt in itertools.pairwise(path):
        proc = mesh.envoys[envoy_name(hop)]
        assert proc.counter(f"cluster.{hop.cluster}.upstream_cx_total") == n, (hop, nxt)
        assert host_connections(proc, hop.cluster) == {nxt.address: n}, (hop, nxt)
    last = mesh.envoys[envoy_name(path[-1])]
    assert last.counter(PUBLIC_LISTENER_STAT) == n, path[-1]
