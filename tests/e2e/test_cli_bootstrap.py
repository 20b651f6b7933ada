"""``meshgw bootstrap`` on the command line gives bootstraps that plain Envoys run.

The whole dc1 → dc2 path of mode ``local`` (web's sidecar, dc1's gateway, dc2's gateway,
api's sidecar) is configured by running, per Envoy, exactly what docs/try-it.md shows::

    python -m meshgw bootstrap <root>/<dc> --service <id> --admin <dc address>:0 -o <file>

(``python -m meshgw`` is the ``meshgw`` console script without installing it). The test
checks that every command succeeds silently, that its file equals ``meshgw.bootstrap``
of the same files through the Python API, and that the four Envoys started from those
files carry real mTLS traffic from dc1 to dc2's echo backend through both gateways.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from .harness import Stack
from .meshes import (
    GATEWAY_LOCAL_STAT,
    PUBLIC_LISTENER_STAT,
    Running,
    bootstrap,
    cli_command,
    demo_mesh,
    envoy_specs,
    gateway_remote_stat,
    plan,
    reserve_ports,
    traffic,
    write_mesh_files,
    write_pki,
)

REPO = Path(__file__).resolve().parents[2]


def _env() -> dict[str, str]:
    """The environment with this checkout first on ``PYTHONPATH`` (meshgw may not be
    installed), and warnings as errors (as pytest's ``filterwarnings = error``)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    env["PYTHONWARNINGS"] = "error"
    return env


def test_cli_bootstraps_carry_traffic(stack: Stack, tmp_path: Path) -> None:
    ports = reserve_ports(stack)  # held while the CLI runs, released as Envoys bind
    topology = plan(
        tmp_path / "mesh",
        port=ports,
        backends={"dc2": ["api"]},
        upstreams=[("api", "dc2", "local")],
    )
    pki = write_pki(topology)
    write_mesh_files(topology)
    topology.envoy_dir.mkdir()

    specs = envoy_specs(topology)
    outputs = {spec.name: topology.envoy_dir / f"{spec.name}.json" for spec in specs}
    commands = {spec.name: cli_command(topology, spec, outputs[spec.name]) for spec in specs}
    assert commands["dc2-gateway"][1:] == [
        "-m",
        "meshgw",
        "bootstrap",
        str(topology.dc_dir("dc2")),
        "--service",
        "mesh-gateway",
        "--admin",
        "127.0.0.2:0",
        "-o",
        str(outputs["dc2-gateway"]),
    ]
    running = {
        name: subprocess.Popen(
            command, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path
        )
        for name, command in commands.items()
    }
    for name, proc in running.items():
        out, err = proc.communicate(timeout=20)
        assert (proc.returncode, out, err) == (0, b"", b""), name

    configs = {name: json.loads(path.read_text(encoding="utf-8")) for name, path in outputs.items()}
    for spec in specs:
        assert configs[spec.name] == bootstrap(topology, spec), spec.name
    assert configs["dc1-web"]["node"] == {
        "id": "web-sidecar-proxy",
        "cluster": "web-sidecar-proxy",
    }
    assert configs["dc2-gateway"]["node"] == {"id": "mesh-gateway", "cluster": "mesh-gateway"}
    assert configs["dc2-gateway"]["admin"] == {
        "address": {"socket_address": {"address": "127.0.0.2", "port_value": 0}}
    }
    assert "dynamic_resources" not in configs["dc1-web"]  # no control plane needed

    envoys = demo_mesh.start(topology, stack, configs, ports=ports)
    mesh = Running(topology, pki, stack, envoys)
    for i in range(3):
        payload = f"via the CLI {i}".encode()
        assert mesh.send("api", payload) == b"api-dc2:" + payload
    mesh.sidecar("api", "dc2").wait_for_counter(PUBLIC_LISTENER_STAT, lambda n: n == 3)
    assert traffic(mesh.gateway("dc1")) == {gateway_remote_stat("dc2"): 3}
    assert traffic(mesh.gateway("dc2")) == {GATEWAY_LOCAL_STAT: 3}
