"""Mesh gateway translation speed.

Run from the repository root: ``PYTHONPATH=. python benchmarks/bench_gateway.py [N ...]``
(or ``python benchmarks/bench_gateway.py`` with meshgw installed).

Builds a synthetic mesh in code -- one gateway, N local services with 4 sidecar instances
each, and 20 remote datacenters with 2 gateways each -- and prints, for each N, the best of
3 translate() times and its ratio to ``json.loads`` of the output's JSON text (how long
merely reading the result takes). Goals on a 2-core machine: N=5000 under 0.5 s,
ratio <= 4, time linear in N.

A second table repeats it with a service-resolver on every other service (two subsets
selected by ``Service.Meta.version``, one OnlyPassing): three clusters instead of one for
those services, and a filter evaluation per instance and subset.

Not collected by pytest.
"""

from __future__ import annotations

import gc
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# Run from a checkout without installing: the repository root is importable.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from meshgw._translation import translate
from meshgw.model import (
    CatalogEntry,
    Check,
    Mesh,
    Proxy,
    ResolverSubset,
    Service,
    ServiceAddress,
    ServiceKind,
    ServiceResolver,
)

TRUST_DOMAIN = "11111111-2222-3333-4444-555555555555.consul"
REMOTE_DATACENTERS = 20
GATEWAYS_PER_DATACENTER = 2
INSTANCES_PER_SERVICE = 4
SIZES = (100, 1000, 5000)


def build_mesh(services: int, *, resolvers: bool = False) -> Mesh:
    """The synthetic mesh described in the module docstring."""
    gateway = Service(
        kind=ServiceKind.MESH_GATEWAY,
        name="mesh-gateway",
        id="mesh-gateway",
        address="10.0.0.1",
        port=8443,
        tagged_addresses={
            "lan": ServiceAddress("10.0.0.1", 8443),
            "wan": ServiceAddress("198.18.0.1", 443),
        },
        proxy=Proxy(config={"envoy_gateway_bind_tagged_addresses": True}),
    )
    catalog: list[CatalogEntry] = []
    for d in range(REMOTE_DATACENTERS):
        for g in range(GATEWAYS_PER_DATACENTER):
            catalog.append(
                CatalogEntry(
                    node=f"dc{d + 2}-gw-{g}",
                    address=f"10.{d + 2}.0.{g + 1}",
                    datacenter=f"dc{d + 2}",
                    service=Service(
                        kind=ServiceKind.MESH_GATEWAY,
                        name="mesh-gateway",
                        id="mesh-gateway",
                        port=8443,
                        tagged_addresses={
                            "wan": ServiceAddress(f"198.18.{d + 2}.{g + 1}", 443),
                        },
                    ),
                    checks=(Check(id="alive", status="passing"),),
                )
            )
    entries: list[ServiceResolver] = []
    passing = (Check(id="alive", status="passing"),)
    warning = (Check(id="alive", status="warning"),)
    for s in range(services):
        name = f"svc-{s}"
        for i in range(INSTANCES_PER_SERVICE):
            n = s * INSTANCES_PER_SERVICE + i
            catalog.append(
                CatalogEntry(
                    node=f"node-{n}",
                    address=f"10.{100 + n // 65536}.{n // 256 % 256}.{n % 256}",
                    datacenter="dc1",
                    service=Service(
                        kind=ServiceKind.CONNECT_PROXY,
                        name=f"{name}-sidecar-proxy",
                        id=f"{name}-sidecar-proxy-{i}",
                        address=f"172.{16 + n // 65536}.{n // 256 % 256}.{n % 256}",
                        port=21000,
                        meta={"version": str(i % 2 + 1)},
                        proxy=Proxy(destination_service_name=name),
                    ),
                    checks=warning if i == 3 else passing,
                )
            )
        if resolvers and s % 2 == 0:
            entries.append(
                ServiceResolver(
                    name=name,
                    subsets={
                        "v1": ResolverSubset(filter="Service.Meta.version == 1"),
                        "v2": ResolverSubset(filter="Service.Meta.version == 2", only_passing=True),
                    },
                )
            )
    return Mesh(
        datacenter="dc1",
        trust_domain=TRUST_DOMAIN,
        services=(gateway,),
        catalog=tuple(catalog),
        config_entries=tuple(entries),
    )


def best_of(runs: int, fn: Callable[[], Any]) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(runs):
        gc.collect()
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def main(sizes: tuple[int, ...] = SIZES) -> None:
    for resolvers in (False, True):
        print("with a two-subset resolver on every other service" if resolvers else "plain")
        print(
            f"{'N':>6} {'clusters':>9} {'JSON MB':>8} {'translate s':>12} "
            f"{'json.loads s':>13} {'ratio':>6} {'s per 1000 N':>13}"
        )
        for n in sizes:
            mesh = build_mesh(n, resolvers=resolvers)
            seconds, out = best_of(3, lambda mesh=mesh: translate("mesh-gateway", mesh))
            text = json.dumps(out)
            loads, _ = best_of(3, lambda text=text: json.loads(text))
            print(
                f"{n:>6} {len(out['clusters']):>9} {len(text) / 1e6:>8.2f} {seconds:>12.3f} "
                f"{loads:>13.3f} {seconds / loads:>6.2f} {seconds / n * 1000:>13.3f}"
            )
        print()


if __name__ == "__main__":
    main(tuple(int(a) for a in sys.argv[1:]) or SIZES)
