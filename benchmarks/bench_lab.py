"""How long the lab takes to bring the bundled two-datacenter example up.

Run from the repository root: ``PYTHONPATH=. python benchmarks/bench_lab.py [RUNS]``
(or ``python benchmarks/bench_lab.py`` with ``meshgw[lab]`` installed).

For each run (default 5) it times, separately:

* plan: load ``examples/two-dc``, choose the proxies, issue the certificates, translate
  the 7 proxies and map every address onto loopback (``meshgw.lab.plan``);
* start: start the echo backends and the 7 Envoys and wait until every one is ready
  (``Lab.start``);
* first connection: web's three upstreams, one connection each, with hops;
* close: stop everything.

and prints each run and the median. Goal on this 2-core machine: plan + start under
3 s. Not collected by pytest; never a timed test.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

# Run from a checkout without installing: the repository root is importable.
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import meshgw.lab  # noqa: E402

TWO_DC = ROOT / "examples" / "two-dc"


def one_run() -> tuple[float, float, float, float]:
    with tempfile.TemporaryDirectory(prefix="meshgw-bench-lab-") as tmp:
        t0 = time.perf_counter()
        lab = meshgw.lab.plan(TWO_DC, sources="web", workdir=tmp)
        t1 = time.perf_counter()
        try:
            lab.start()
            t2 = time.perf_counter()
            for service in ("api", "db", "redis"):
                conn = lab.connect("web", service, datacenter="dc2")
                if not conn.ok:
                    raise SystemExit(f"{service}: {conn.error}")
            t3 = time.perf_counter()
        finally:
            lab.close()
        t4 = time.perf_counter()
    return t1 - t0, t2 - t1, t3 - t2, t4 - t3


def main(argv: list[str]) -> None:
    runs = int(argv[0]) if argv else 5
    rows = []
    print(f"{'run':>4} {'plan s':>8} {'start s':>8} {'up s':>8} {'3 conns s':>10} {'close s':>8}")
    for i in range(runs):
        plan, start, conns, close = one_run()
        rows.append((plan, start, plan + start, conns, close))
        print(f"{i + 1:>4} {plan:8.2f} {start:8.2f} {plan + start:8.2f} {conns:10.2f} {close:8.2f}")
    med = [statistics.median(col) for col in zip(*rows, strict=True)]
    print(f"{'med':>4} {med[0]:8.2f} {med[1]:8.2f} {med[2]:8.2f} {med[3]:10.2f} {med[4]:8.2f}")


if __name__ == "__main__":
    main(sys.argv[1:])
