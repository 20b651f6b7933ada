"""What intentions cost: loading them, deciding one question, and translating the sidecar
whose public listener carries them.

Run from the repository root::

    python benchmarks/bench_intentions.py [N ...]    # sources per entry, default 10 100 1000

For each N, a mesh has one sidecar (``api``, HTTP) and one ``service-intentions`` entry
for it with N sources (a third of them L7, with a path and a method permission; the rest
alternating allow and deny) plus a wildcard deny, ACLs default-deny. Printed, best of 5:
``meshgw.loads`` of the mesh, ``meshgw.resolve_intention`` for the lowest-precedence
source, ``meshgw.translate`` of api's sidecar, and the size of its RBAC filter.

Not collected by pytest (the file name does not start with ``test_``).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import meshgw  # noqa: E402

RUNS = 5


def mesh_text(n: int) -> str:
    sources: list[dict[str, Any]] = []
    for i in range(n):
        if i % 3 == 2:
            http = {"PathPrefix": f"/v{i}/", "Methods": ["GET", "HEAD"]}
            sources.append({"Name": f"svc{i}", "Permissions": [{"Action": "allow", "HTTP": http}]})
        else:
            sources.append({"Name": f"svc{i}", "Action": "allow" if i % 2 else "deny"})
    sources.append({"Name": "*", "Action": "deny"})
    doc = {
        "acl": {"enabled": True, "default_policy": "deny"},
        "services": [
            {
                "name": "api",
                "port": 8080,
                "connect": {"sidecar_service": {"proxy": {"config": {"protocol": "http"}}}},
            }
        ],
        "config_entries": {
            "bootstrap": [{"Kind": "service-intentions", "Name": "api", "Sources": sources}]
        },
    }
    return json.dumps(doc)


def best(fn: Callable[[], Any]) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(RUNS):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def main(sizes: list[int]) -> None:
    print(f"{'sources':>8} {'load ms':>9} {'decide ms':>10} {'translate ms':>13} {'rbac KiB':>9}")
    for n in sizes:
        text = mesh_text(n)
        load_s, mesh = best(lambda text=text: meshgw.loads(text, format="json", name="m.json"))
        last = f"svc{n - 1}"
        decide_s, _ = best(lambda mesh=mesh, last=last: meshgw.resolve_intention(last, "api", mesh))
        translate_s, out = best(lambda mesh=mesh: meshgw.translate("api-sidecar-proxy", mesh))
        (listener,) = [x for x in out["listeners"] if x["name"].startswith("public_listener")]
        hcm = listener["filter_chains"][0]["filters"][0]["typed_config"]
        size = len(json.dumps(hcm["http_filters"][0])) / 1024
        print(
            f"{n:>8} {load_s * 1e3:>9.1f} {decide_s * 1e3:>10.2f} "
            f"{translate_s * 1e3:>13.1f} {size:>9.1f}"
        )


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [10, 100, 1000])
