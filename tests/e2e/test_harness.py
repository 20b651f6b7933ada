"""Proof of the e2e harness: real Envoys, real mTLS, hand-written configs.

The smallest faithful version of Consul's cross-datacenter mesh path (mode ``remote``),
every address on loopback:

    client ──tcp──▶ sidecar A (dc1, 127.0.0.1)   upstream listener, plain TCP
                    cluster: UpstreamTlsContext (web/dc1 cert, sni + SAN match)
           ──mTLS─▶ gateway (dc2, 127.0.0.2)     tls_inspector + sni_cluster + tcp_proxy
                    cluster named by the SNI, no TLS of its own
           ──mTLS─▶ sidecar B (dc2, 127.0.0.2)   public listener, DownstreamTlsContext
                    requiring a client certificate → tcp_proxy → local_app
           ──tcp──▶ echo backend (127.0.0.2), tag b"dc2:"

The configs are written by hand (not by meshgw's translator), in the shapes of
``shared/reference/consul-output.md`` §2 and §5.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import pytest

from meshgw.testing import TestPKI

from . import harness
from .harness import (
    TEST_TRUST_DOMAIN,
    EchoServer,
    EnvoyProcess,
    EnvoyStartError,
    PortAllocator,
    Stack,
    free_port,
    tcp_roundtrip,
    wait_until,
)

TD = TEST_TRUST_DOMAIN
API_DC2_SNI = f"api.default.dc2.internal.{TD}"
UNKNOWN_SNI = f"billing.default.dc2.internal.{TD}"
GATEWAY_PREFIX = "mesh_gateway_local.default"

_TYPES = "type.googleapis.com/envoy.extensions"
TCP_PROXY = f"{_TYPES}.filters.network.tcp_proxy.v3.TcpProxy"
SNI_CLUSTER = f"{_TYPES}.filters.network.sni_cluster.v3.SniCluster"
TLS_INSPECTOR = f"{_TYPES}.filters.listener.tls_inspector.v3.TlsInspector"
UPSTREAM_TLS = f"{_TYPES}.transport_sockets.tls.v3.UpstreamTlsContext"
DOWNSTREAM_TLS = f"{_TYPES}.transport_sockets.tls.v3.DownstreamTlsContext"


# --------------------------------------------------------------------------- config pieces


def address(host: str, port: int) -> dict[str, Any]:
    return {"socket_address": {"address": host, "port_value": port}}


def tcp_proxy(stat_prefix: str, cluster: str) -> dict[str, Any]:
    return {
        "name": "envoy.filters.network.tcp_proxy",
        "typed_config": {"@type": TCP_PROXY, "stat_prefix": stat_prefix, "cluster": cluster},
    }


def static_cluster(
    name: str, host: str, port: int, transport_socket: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    cluster: dict[str, Any] = {
        "name": name,
        "type": "STATIC",
        "connect_timeout": "2s",
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": address(host, port)}}]}],
        },
    }
    if transport_socket is not None:
        cluster["transport_socket"] = dict(transport_socket)
    return cluster


def common_tls(pki: TestPKI, service: str, dc: str) -> dict[str, Any]:
    cert_file, key_file = pki.leaves[service, dc]
    return {
        "tls_params": {},
        "tls_certificates": [
            {"certificate_chain": {"filename": cert_file}, "private_key": {"filename": key_file}}
        ],
        "validation_context": {"trusted_ca": {"filename": pki.ca_file}},
    }


def upstream_tls(pki: TestPKI, service: str, dc: str, *, sni: str, san: str) -> dict[str, Any]:
    """A sidecar's upstream TLS: our leaf, the CA, the target's SNI and SPIFFE ID."""
    common = common_tls(pki, service, dc)
    common["validation_context"]["match_typed_subject_alt_names"] = [
        {"san_type": "URI", "matcher": {"exact": san}}
    ]
    return {
        "name": "tls",
        "typed_config": {"@type": UPSTREAM_TLS, "common_tls_context": common, "sni": sni},
    }


def downstream_tls(pki: TestPKI, service: str, dc: str) -> dict[str, Any]:
    """A sidecar's public-listener TLS: our leaf, the CA, a client cert required."""
    return {
        "name": "tls",
        "typed_config": {
            "@type": DOWNSTREAM_TLS,
            "common_tls_context": common_tls(pki, service, dc),
            "require_client_certificate": True,
        },
    }


@attrs.frozen
class Upstream:
    """One upstream of sidecar A: its listener port, cluster name, SNI and SAN."""

    port: int
    cluster: str
    sni: str
    san: str


@attrs.frozen
class Mesh:
    sidecar_a: EnvoyProcess
    gateway: EnvoyProcess
    sidecar_b: EnvoyProcess
    echo: EchoServer
    upstreams: Mapping[str, Upstream]
    public_port: int
    gateway_port: int


def build_mesh(stack: Stack, pki: TestPKI) -> Mesh:
    """Start echo backend, sidecar B, the dc2 gateway and sidecar A (all hand-written).

    Sidecar A has three upstreams: ``api`` (right SNI and SAN), ``unknown_sni`` (an SNI
    the gateway has no cluster for) and ``wrong_san`` (routed to api, expecting
    another SPIFFE ID).
    """
    ports = stack.ports
    dc1, dc2 = ports.ip("dc1"), ports.ip("dc2")
    echo = stack.echo(dc2, tag=b"dc2:")
    public_port = ports.port(dc2)
    gateway_port = ports.port(dc2)

    api_san = pki.spiffe_ids["api", "dc2"]
    wrong_san = f"spiffe://{TD}/ns/default/dc/dc2/svc/billing"
    upstreams = {
        "api": Upstream(ports.port(dc1), API_DC2_SNI, API_DC2_SNI, api_san),
        "unknown_sni": Upstream(ports.port(dc1), UNKNOWN_SNI, UNKNOWN_SNI, wrong_san),
        "wrong_san": Upstream(ports.port(dc1), "api_wrong_san", API_DC2_SNI, wrong_san),
    }

    sidecar_b = {
        "listeners": [
            {
                "name": f"public_listener:{dc2}:{public_port}",
                "address": address(dc2, public_port),
                "filter_chains": [
                    {
                        "transport_socket": downstream_tls(pki, "api", "dc2"),
                        "filters": [tcp_proxy("public_listener", "local_app")],
                    }
                ],
            }
        ],
        "clusters": [static_cluster("local_app", *echo.address)],
    }
    gateway = {
        "listeners": [
            {
                "name": f"default:{dc2}:{gateway_port}",
                "address": address(dc2, gateway_port),
                "listener_filters": [
                    {
                        "name": "envoy.filters.listener.tls_inspector",
                        "typed_config": {"@type": TLS_INSPECTOR},
                    }
                ],
                "filter_chains": [
                    {
                        "filters": [
                            {
                                "name": "envoy.filters.network.sni_cluster",
                                "typed_config": {"@type": SNI_CLUSTER},
                            },
                            tcp_proxy(GATEWAY_PREFIX, ""),
                        ]
                    }
                ],
            }
        ],
        "clusters": [static_cluster(API_DC2_SNI, dc2, public_port)],
    }
    sidecar_a = {
        "listeners": [
            {
                "name": f"{name}:{dc1}:{up.port}",
                "address": address(dc1, up.port),
                "traffic_direction": "OUTBOUND",
                "filter_chains": [
                    {"filters": [tcp_proxy(f"upstream.{name}.default.default.dc2", up.cluster)]}
                ],
            }
            for name, up in upstreams.items()
        ],
        "clusters": [
            static_cluster(
                up.cluster,
                dc2,
                gateway_port,
                upstream_tls(pki, "web", "dc1", sni=up.sni, san=up.san),
            )
            for up in upstreams.values()
        ],
    }

    # Launch all three, then wait for all: they start in parallel.
    procs = {
        "sidecar-b": stack.launch("sidecar-b", sidecar_b, admin_host=dc2),
        "gateway": stack.launch("gateway", gateway, admin_host=dc2),
        "sidecar-a": stack.launch("sidecar-a", sidecar_a, admin_host=dc1),
    }
    for proc in procs.values():
        proc.wait_ready()
    return Mesh(
        sidecar_a=procs["sidecar-a"],
        gateway=procs["gateway"],
        sidecar_b=procs["sidecar-b"],
        echo=echo,
        upstreams=upstreams,
        public_port=public_port,
        gateway_port=gateway_port,
    )


@pytest.fixture
def mesh(stack: Stack, pki: TestPKI) -> Mesh:
    return build_mesh(stack, pki)


def _ssl_handshakes(proc: EnvoyProcess) -> dict[str, int]:
    return {k: v for k, v in proc.stats().items() if k.endswith("ssl.handshake") and v}


# --------------------------------------------------------------------------- the mesh path


def test_bytes_flow_through_gateway_with_mtls(mesh: Mesh) -> None:
    api = mesh.upstreams["api"]
    for i in range(3):
        payload = f"hello {i} from web".encode()
        assert tcp_roundtrip("127.0.0.1", api.port, payload) == b"dc2:" + payload
    assert mesh.echo.connections == 3

    gw = mesh.gateway
    gw.wait_for_counter(f"tcp.{GATEWAY_PREFIX}.downstream_cx_total", lambda n: n == 3)
    assert gw.counter(f"cluster.{API_DC2_SNI}.upstream_cx_total") == 3
    assert gw.counter(f"tcp.{GATEWAY_PREFIX}.downstream_cx_no_route") == 0
    assert gw.stats(filter=r"^tcp\.")[f"tcp.{GATEWAY_PREFIX}.downstream_cx_total"] == 3
    # The gateway only read the SNI: it has no TLS context, so no handshake anywhere.
    assert _ssl_handshakes(gw) == {}
    # The sidecars did the mTLS, end to end.
    assert mesh.sidecar_a.counter(f"cluster.{API_DC2_SNI}.ssl.handshake") == 3
    public = f"listener.127.0.0.2_{mesh.public_port}"
    assert mesh.sidecar_b.counter(f"{public}.ssl.handshake") == 3
    assert mesh.sidecar_b.counter(f"{public}.ssl.no_certificate") == 0
    assert mesh.sidecar_b.counter("tcp.public_listener.downstream_cx_total") == 3


def test_unknown_sni_is_closed_by_gateway(mesh: Mesh) -> None:
    up = mesh.upstreams["unknown_sni"]
    assert tcp_roundtrip("127.0.0.1", up.port, b"nobody home?") == b""

    gw = mesh.gateway
    gw.wait_for_counter(f"tcp.{GATEWAY_PREFIX}.downstream_cx_no_route", lambda n: n == 1)
    assert gw.counter(f"tcp.{GATEWAY_PREFIX}.downstream_cx_total") == 1
    assert gw.counter(f"cluster.{API_DC2_SNI}.upstream_cx_total") == 0
    assert mesh.sidecar_a.counter(f"cluster.{UNKNOWN_SNI}.ssl.handshake") == 0
    assert mesh.echo.connections == 0
    assert mesh.echo.bytes_received == 0


def test_wrong_san_fails_the_handshake(mesh: Mesh) -> None:
    up = mesh.upstreams["wrong_san"]
    assert tcp_roundtrip("127.0.0.1", up.port, b"are you billing?") == b""

    a = mesh.sidecar_a
    a.wait_for_counter(f"cluster.{up.cluster}.ssl.fail_verify_san", lambda n: n == 1)
    assert a.counter(f"cluster.{up.cluster}.ssl.handshake") == 0
    # The gateway did route it to api's sidecar, which never got a byte of payload.
    assert mesh.gateway.counter(f"cluster.{API_DC2_SNI}.upstream_cx_total") == 1
    # Sidecar B's tcp_proxy opens its local_app connection as soon as it accepts, before
    # the TLS handshake is done: the backend may see a connection, but never a byte.
    assert mesh.echo.connections <= 1
    assert mesh.echo.bytes_received == 0


# --------------------------------------------------------------------------- harness pieces


def _pid_is_our_envoy(pid: int, bootstrap: Path) -> bool:
    """Whether ``pid`` still runs Envoy with ``bootstrap`` (guards against pid reuse)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True  # no /proc: assume the worst
    return str(bootstrap).encode() in cmdline


def test_stack_teardown_stops_everything(tmp_path: Path, pki: TestPKI) -> None:
    with Stack(tmp_path / "ok") as stack:
        mesh = build_mesh(stack, pki)
        api = mesh.upstreams["api"]
        assert tcp_roundtrip("127.0.0.1", api.port, b"x") == b"dc2:x"
        procs = list(stack)
        pids = [(p.pid, p.bootstrap_path) for p in procs]
        assert all(p.running for p in procs)
    for pid, bootstrap in pids:
        assert pid is not None
        assert not _pid_is_our_envoy(pid, bootstrap)
    assert all(p.returncode is not None for p in procs)
    with pytest.raises(ConnectionRefusedError):
        tcp_roundtrip(*mesh.echo.address, b"x", timeout=1, connect_attempts=1)
    assert not harness._LIVE._items

    # The same when the body raises.
    class Boom(Exception):
        pass

    with pytest.raises(Boom), Stack(tmp_path / "boom") as stack:
        mesh = build_mesh(stack, pki)
        procs = list(stack)
        raise Boom
    assert all(p.returncode is not None for p in procs)
    assert not any(_pid_is_our_envoy(p.pid or 0, p.bootstrap_path) for p in procs)
    assert not harness._LIVE._items
    # Logs stay in the stack's workdir for post-mortems.
    assert (tmp_path / "boom" / "gateway" / "envoy.log").is_file()


def test_start_failure_reports_log_tail(stack: Stack) -> None:
    bad = {
        "listeners": [
            {
                "name": "bad",
                "address": address("127.0.0.1", free_port()),
                "filter_chains": [{"filters": [tcp_proxy("bad", "no_such_cluster")]}],
                "no_such_field": True,
            }
        ]
    }
    # No timing here: a start failure that hung would meet the ready timeout and the
    # test's wall-clock guard.
    with pytest.raises(EnvoyStartError) as info:
        stack.envoy("bad", bad)
    message = str(info.value)
    assert "exited with status" in message
    assert "no_such_field" in message  # from Envoy's own log
    assert not stack.envoys["bad"].running


def test_port_allocator_and_echo() -> None:
    ports = PortAllocator()
    assert ports.ip("dc1") == "127.0.0.1"
    assert ports.ip("dc2") == "127.0.0.2"
    assert ports.ip("dc3") == "127.0.0.3"
    assert ports.ip("elsewhere") == "127.0.0.11"
    assert ports.ip("dc2") == "127.0.0.2"
    taken = {ports.port("127.0.0.2") for _ in range(20)}
    assert len(taken) == 20
    with pytest.raises(ValueError, match="loopback"):
        free_port("0.0.0.0")

    with EchoServer("127.0.0.3", tag=b"dc3:") as echo:
        assert tcp_roundtrip(*echo.address, b"ping") == b"dc3:ping"
        assert tcp_roundtrip(*echo.address, b"pong") == b"dc3:pong"
        # A client that connects and leaves must not upset the server.
        socket.create_connection(echo.address, timeout=1).close()
        wait_until(lambda: echo.connections >= 3, "the echo server counted 3 connections")
        assert echo.connections == 3
        assert echo.bytes_received == 8
    assert echo.errors == []


def test_public_envoy_process_runs_a_bootstrap_file_as_it_is(tmp_path: Path) -> None:
    import json

    import yaml

    import meshgw.lab

    document = {
        "node": {"id": "from-file", "cluster": "from-file"},
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}}},
        "static_resources": {},
    }
    as_json = tmp_path / "b.json"
    as_json.write_text(json.dumps(document))
    as_yaml = tmp_path / "b.yaml"
    as_yaml.write_text(yaml.safe_dump(document))
    before = as_json.read_bytes()
    with meshgw.lab.Stack(tmp_path / "run") as stack:
        for name, path in (("json", as_json), ("yaml", as_yaml)):
            envoy = stack.envoy(name, path)  # waits until Envoy answers /ready
            assert envoy.bootstrap_path == path
            assert envoy.command[1:3] == ("-c", str(path))
            assert envoy.bootstrap == document
            server_info = json.loads(envoy.admin_get("/server_info"))
            assert server_info["command_line_options"]["config_path"] == str(path)
    assert as_json.read_bytes() == before  # the caller's file is never rewritten
    assert not (tmp_path / "run" / "json" / "bootstrap.json").exists()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"static_resources": {}}', "has no admin block (meshgw bootstrap --admin HOST:0"),
        ('{"listeners": []}', "expected an Envoy bootstrap (static_resources, node)"),
        ("{not json", "is not a bootstrap"),
    ],
)
def test_public_envoy_process_refuses_a_bad_bootstrap_file(
    tmp_path: Path, text: str, message: str
) -> None:
    import meshgw.lab

    path = tmp_path / "b.json"
    path.write_text(text)
    with pytest.raises(meshgw.lab.EnvoyError, match=re.escape(message)):
        meshgw.lab.EnvoyProcess(path, name="x", envoy="/bin/true")
    with pytest.raises(meshgw.lab.EnvoyError, match="cannot read bootstrap"):
        meshgw.lab.EnvoyProcess(tmp_path / "missing.json", name="x", envoy="/bin/true")


def _live_envoy(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"envoy" in cmdline and stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_envoys_stop_when_their_owner_is_killed(tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys
    import textwrap

    root = Path(__file__).resolve().parents[2]
    owner = textwrap.dedent(
        f"""
        import time
        import meshgw.lab
        bootstrap = {{
            "node": {{"id": "orphan", "cluster": "orphan"}},
            "admin": {{"address": {{"socket_address": {{
                "address": "127.0.0.1", "port_value": 0}}}}}},
            "static_resources": {{}},
        }}
        stack = meshgw.lab.Stack({str(tmp_path / "run")!r})
        print(stack.envoy("orphan", bootstrap).pid, flush=True)
        time.sleep(600)
        """
    )
    with subprocess.Popen(
        [sys.executable, "-c", owner],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(root)},
    ) as proc:
        try:
            assert proc.stdout is not None
            pid = int(proc.stdout.readline())
            assert _live_envoy(pid)
            proc.send_signal(signal.SIGKILL)  # no atexit, no finally: only the watchdog is left
            proc.wait(30)
            wait_until(lambda: not _live_envoy(pid), "the killed owner's Envoy has stopped")
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
