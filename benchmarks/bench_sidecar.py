"""Benchmark: translating a sidecar with many upstreams across many datacenters.

A mesh of 20 datacenters, each with two mesh gateways; 1,000 services spread over them,
two instances each; every 10th service has a service-resolver failing over to the next
datacenter. The sidecar ``web-sidecar-proxy`` in dc1 has N upstreams (one per service,
modes cycling none / local / remote). Prints the best of 3 translate times for
N = 250, 500 and 1,000 (goal: under 0.3 s at 1,000, growing linearly).

Run: ``python benchmarks/bench_sidecar.py``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

# Run from a checkout without installing: the repository root is importable.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from meshgw._translation import translate
from meshgw.model import Mesh

DATACENTERS = 20
SERVICES = 1000
MODES = ("none", "local", "remote")
SIZES = (250, 500, 1000)
REPEAT = 3
GOAL_SECONDS = 0.3


def _dc(i: int) -> str:
    return f"dc{i % DATACENTERS + 1}"


def build_mesh(upstreams: int) -> Mesh:
    catalog: list[dict[str, Any]] = []
    for d in range(DATACENTERS):
        dc = _dc(d)
        for g in range(2):
            catalog.append(
                {
                    "datacenter": dc,
                    "node": f"{dc}-gw-{g}",
                    "address": f"10.{d}.0.{g + 1}",
                    "service": {
                        "kind": "mesh-gateway",
                        "service": "mesh-gateway",
                        "port": 8443,
                        "tagged_addresses": {
                            "wan": {"address": f"198.18.{d}.{g + 1}", "port": 443}
                        },
                    },
                    "checks": [{"check_id": "gw", "status": "passing"}],
                }
            )
    entries: list[dict[str, Any]] = []
    for s in range(SERVICES):
        dc = _dc(s)
        for n in range(2):
            catalog.append(
                {
                    "datacenter": dc,
                    "node": f"{dc}-node-{s}-{n}",
                    "address": f"10.{s % DATACENTERS}.{s // 250 + 1}.{(s * 2 + n) % 250 + 1}",
                    "service": {
                        "kind": "connect-proxy",
                        "service": f"svc-{s:04d}-sidecar-proxy",
                        "port": 21000 + n,
                        "proxy": {"destination_service_name": f"svc-{s:04d}"},
                    },
                    "checks": [{"check_id": "alive", "status": "passing"}],
                }
            )
        if s % 10 == 0:
            entries.append(
                {
                    "kind": "service-resolver",
                    "name": f"svc-{s:04d}",
                    "connect_timeout": "10s",
                    "failover": {"*": {"datacenters": [_dc(s + 1)]}},
                }
            )
    ups = [
        {
            "destination_name": f"svc-{s:04d}",
            "datacenter": _dc(s),
            "local_bind_port": 10000 + s,
            "mesh_gateway": {"mode": MODES[s % len(MODES)]},
        }
        for s in range(upstreams)
    ]
    return Mesh.from_dict(
        {
            "datacenter": "dc1",
            "services": [
                {
                    "kind": "connect-proxy",
                    "name": "web-sidecar-proxy",
                    "port": 21000,
                    "proxy": {
                        "destination_service_name": "web",
                        "local_service_port": 8080,
                        "upstreams": ups,
                    },
                }
            ],
            "config_entries": {"bootstrap": entries},
            "catalog": catalog,
        }
    )


def best_of(mesh: Mesh, repeat: int = REPEAT) -> tuple[float, dict[str, list[dict[str, Any]]]]:
    service = mesh.service("web-sidecar-proxy")
    best = float("inf")
    out: dict[str, list[dict[str, Any]]] = {}
    for _ in range(repeat):
        start = time.perf_counter()
        out = translate(service, mesh)
        best = min(best, time.perf_counter() - start)
    return best, out


def main() -> None:
    print(f"{DATACENTERS} datacenters, {SERVICES} services x 2 instances, best of {REPEAT}")
    header = ("upstreams", "clusters", "endpoints", "seconds", "ms/upstream")
    print("  ".join(f"{h:>{w}}" for h, w in zip(header, (9, 8, 9, 8, 11), strict=True)))
    results = []
    for size in SIZES:
        seconds, out = best_of(build_mesh(size))
        results.append((size, seconds))
        print(
            f"{size:>9}  {len(out['clusters']):>8}  {len(out['endpoints']):>9}  "
            f"{seconds:>8.3f}  {seconds / size * 1000:>11.3f}"
        )
    largest, seconds = results[-1]
    verdict = "met" if seconds < GOAL_SECONDS else "NOT met"
    print(f"goal: under {GOAL_SECONDS} s at {largest} upstreams: {verdict}")


if __name__ == "__main__":
    main()
