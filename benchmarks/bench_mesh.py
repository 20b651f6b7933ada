"""Benchmark: translating every proxy of a whole mesh, and what one upstream costs as the
mesh grows.

1. **Translate-all.** ``meshgen.generate(20, 250)``: 20 datacenters x 250 services
   (5,000 sidecars with 5 upstreams each across datacenters, mixed modes, 2 mesh
   gateways per datacenter, 5,040 proxies). :func:`meshgw.translate_all` translates
   every one in its own datacenter. Goal (with tracing every upstream, added by the
   trace work): under 15 s.
2. **Translate-all and trace every upstream.** :func:`meshgw.check` on the same mesh:
   every proxy translated in its own datacenter, every upstream of every sidecar traced
   through the gateways' configurations (25,000 traces). Goal: under 15 s.
3. **Per-upstream cost.** Meshes of 500, 5,000 and 50,000 sidecar instances (20
   datacenters, the services per datacenter scaled); the same 100 sidecars (5 per
   datacenter, 500 upstreams) translated with the mesh's catalog index already built:
   milliseconds per upstream, which should stay flat. The one-off index build (the
   first translation of a mesh) is reported on its own line. The same 500 upstreams
   traced (every gateway and destination they cross translated once, beforehand):
   milliseconds per trace.

Times are best of ``--repeat`` runs, as wall-clock and as this process's CPU time: on a
shared machine the wall-clock figure moves with the other work running there, the CPU
figure much less.

Run: ``python benchmarks/bench_mesh.py`` (``--quick`` for a smaller run).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# Run from a checkout without installing: the repository root and this directory.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from meshgen import generate

import meshgw

GOAL_SECONDS = 15.0
SAMPLE_PER_DC = 5


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, float, Any]:
    """``(best wall seconds, best CPU seconds, last result)`` of ``repeat`` calls."""
    walls: list[float] = []
    cpus: list[float] = []
    result: Any = None
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        result = fn()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return min(walls), min(cpus), result


def translate_all_figures(datacenters: int, services: int, repeat: int) -> None:
    wall, cpu, mesh = timed(lambda: generate(datacenters, services), 1)
    print(
        f"mesh: {datacenters} datacenters x {services} services, {len(mesh.catalog)} "
        f"catalog entries (generated in {wall:.2f} s)"
    )

    def run() -> dict[meshgw.MeshProxy, Any]:
        # A fresh but equal mesh each time, so that the catalog index is built each time.
        return meshgw.translate_all(generate(datacenters, services))

    gen_wall, gen_cpu, _ = timed(lambda: generate(datacenters, services), repeat)
    wall, cpu, out = timed(run, repeat)
    wall, cpu = wall - gen_wall, cpu - gen_cpu
    upstreams = sum(len(p.service.upstreams) for p in out)
    clusters = sum(len(r["clusters"]) for r in out.values())
    verdict = "met" if wall < GOAL_SECONDS else f"wall-clock over the {GOAL_SECONDS:.0f} s goal"
    print(
        f"translate_all: {len(out)} proxies, {upstreams} upstreams, {clusters} clusters: "
        f"{wall:.2f} s wall, {cpu:.2f} s CPU ({1000 * cpu / len(out):.2f} ms CPU per "
        f"proxy); goal {GOAL_SECONDS:.0f} s with tracing: {verdict}"
    )


def check_figures(datacenters: int, services: int, repeat: int) -> None:
    from meshgw._mesh.check import check_report

    def run() -> Any:
        # A fresh but equal mesh each time: nothing cached from the previous run.
        return check_report(generate(datacenters, services))

    gen_wall, gen_cpu, _ = timed(lambda: generate(datacenters, services), repeat)
    wall, cpu, report = timed(run, repeat)
    wall, cpu = wall - gen_wall, cpu - gen_cpu
    verdict = "met" if wall < GOAL_SECONDS else f"wall-clock over the {GOAL_SECONDS:.0f} s goal"
    print(
        f"check (translate all + trace all): {report.proxies} proxies, {report.upstreams} "
        f"upstreams traced, {len(report.findings)} findings: {wall:.2f} s wall, {cpu:.2f} s "
        f"CPU; goal {GOAL_SECONDS:.0f} s: {verdict}"
    )


def per_upstream_figures(sizes: list[int], datacenters: int, repeat: int) -> None:
    print(f"per upstream ({SAMPLE_PER_DC * datacenters} sidecars, index built):")
    for size in sizes:
        services = max(SAMPLE_PER_DC, size // datacenters)
        mesh = generate(datacenters, services)
        wall, cpu, n, index_cpu = sample_cost(mesh, repeat)
        print(
            f"  {datacenters * services:>6} instances: {1000 * wall / n:.3f} ms wall, "
            f"{1000 * cpu / n:.3f} ms CPU per upstream; first translation (builds the "
            f"index) {1000 * index_cpu:.0f} ms CPU more than the next"
        )
        wall, cpu, n = trace_cost(mesh, repeat)
        print(
            f"  {datacenters * services:>6} instances: {1000 * wall / n:.3f} ms wall, "
            f"{1000 * cpu / n:.3f} ms CPU per upstream traced"
        )


def sample_cost(mesh: meshgw.Mesh, repeat: int) -> tuple[float, float, int, float]:
    """``(wall, CPU, upstreams, index CPU)``: translating the first ``SAMPLE_PER_DC``
    sidecars of every datacenter with the index built, and what building it cost."""
    sample = _sample(mesh)
    first = sample[0]
    _, cold, _ = timed(lambda: meshgw.translate(first, mesh), 1)
    _, warm, _ = timed(lambda: meshgw.translate(first, mesh), 1)
    wall, cpu, _ = timed(lambda: [meshgw.translate(p, mesh) for p in sample], repeat)
    return wall, cpu, sum(len(p.service.upstreams) for p in sample), cold - warm


def _sample(mesh: meshgw.Mesh) -> list[meshgw.MeshProxy]:
    return [
        p
        for p in meshgw.proxies(mesh)
        if p.kind == meshgw.ServiceKind.CONNECT_PROXY
        and int(p.node.rsplit("-", 1)[1]) < SAMPLE_PER_DC
    ]


def trace_cost(mesh: meshgw.Mesh, repeat: int) -> tuple[float, float, int]:
    """``(wall, CPU, upstreams)``: tracing every upstream of the sample, with every proxy
    on the way translated beforehand (a fleet traced once warms it) and nothing of the
    walk itself remembered between runs."""
    from meshgw._mesh.fleet import Fleet
    from meshgw._mesh.trace import source_member, trace_upstream

    fleet = Fleet(mesh)
    members = [source_member(fleet, p.service) for p in _sample(mesh)]
    work = [(m, up) for m in members for up in m.service.upstreams]

    def run() -> None:
        fleet.memo.clear()
        for member, up in work:
            trace_upstream(fleet, member, up)

    run()  # translates what the traces cross
    wall, cpu, _ = timed(run, repeat)
    return wall, cpu, len(work)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--datacenters", type=int, default=20)
    parser.add_argument("--services", type=int, default=250, help="per datacenter")
    parser.add_argument("--sizes", default="500,5000,50000", help="instances, comma-separated")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="20 x 50, sizes 500,5000, 1 run")
    args = parser.parse_args(argv)
    if args.quick:
        args.services, args.sizes, args.repeat = 50, "500,5000", 1
    translate_all_figures(args.datacenters, args.services, args.repeat)
    check_figures(args.datacenters, args.services, args.repeat)
    per_upstream_figures([int(s) for s in args.sizes.split(",")], args.datacenters, args.repeat)


if __name__ == "__main__":
    main()
