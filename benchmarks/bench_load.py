"""Loading benchmark: meshgw.loads on a large catalog, as JSON and as HCL.

Run from the repository root::

    python benchmarks/bench_load.py            # the figures in docs/performance.md
    python benchmarks/bench_load.py --profile  # also print cProfile's top functions

It builds a mesh file whose ``catalog`` holds N node registrations (node, address,
datacenter, node tagged addresses, one service with kind, name, port, tags, meta and
proxy, and two checks), writes it as JSON and as HCL text and prints, best of 3 runs:

* JSON, N = 10,000: ``meshgw.loads`` and its ratio to ``json.loads`` of the same text
  (goals: under 1 s, within 5x of ``json.loads``);
* HCL, N = 2,000: meshgw's total, the lark parse alone (``hcl2.parses_to_tree``),
  python-hcl2's own ``hcl2.loads`` for reference, and meshgw_total / lark_parse
  (goal: at most 1.25);
* the time ``import meshgw`` takes in a fresh interpreter (goal: under 0.3 s).

Not collected by pytest (the file name does not start with ``test_``).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import hcl2  # noqa: E402

import meshgw  # noqa: E402

JSON_N = 10_000
HCL_N = 2_000
RUNS = 3

GOAL_JSON_SECONDS = 1.0
GOAL_JSON_RATIO = 5.0
GOAL_HCL_RATIO = 1.25
GOAL_IMPORT_SECONDS = 0.3


def catalog_entry(i: int) -> dict[str, Any]:
    """One catalog registration: a sidecar proxy, or every 50th a mesh gateway."""
    dc = f"dc{i % 3 + 1}"
    net = f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}"
    node = f"node-{i:05d}"
    if i % 50 == 0:
        service: dict[str, Any] = {
            "kind": "mesh-gateway",
            "service": "mesh-gateway",
            "id": f"mesh-gateway-{i}",
            "port": 8443,
            "tags": ["gateway"],
            "meta": {"consul-wan-federation": "1", "version": "1.17.2"},
            "tagged_addresses": {
                "lan": {"address": net, "port": 8443},
                "wan": {"address": f"198.18.{i // 256 % 256}.{i % 256}", "port": 443},
            },
            "proxy": {"config": {"envoy_gateway_bind_tagged_addresses": True}},
        }
    else:
        name = f"svc-{i % 500:03d}"
        service = {
            "kind": "connect-proxy",
            "service": f"{name}-sidecar-proxy",
            "id": f"{name}-sidecar-proxy-{i}",
            "port": 21000 + i % 200,
            "tags": ["v1", "primary"],
            "meta": {"version": "2.1.0", "team": f"team-{i % 7}"},
            "proxy": {
                "destination_service_name": name,
                "destination_service_id": f"{name}-{i}",
                "local_service_address": "127.0.0.1",
                "local_service_port": 8080,
                "mesh_gateway": {"mode": "local"},
            },
        }
    return {
        "node": node,
        "address": net,
        "datacenter": dc,
        "tagged_addresses": {"lan": net, "wan": net},
        "service": service,
        "checks": [
            {"check_id": "serfHealth", "name": "Serf Health Status", "status": "passing"},
            {
                "check_id": f"service:{service['id']}",
                "name": "Connect Sidecar Listening",
                "service_id": service["id"],
                "status": "passing" if i % 17 else "critical",
            },
        ],
    }


def mesh_document(n: int) -> dict[str, Any]:
    return {
        "datacenter": "dc1",
        "primary_datacenter": "dc1",
        "catalog": [catalog_entry(i) for i in range(n)],
    }


# --- HCL writer (enough for the document above) -------------------------------------


def hcl_value(value: Any, indent: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        if all(not isinstance(v, dict | list) for v in value):
            return "[" + ", ".join(hcl_value(v, indent) for v in value) + "]"
        inner = indent + "  "
        items = "".join(f"{inner}{hcl_value(v, inner)},\n" for v in value)
        return "[\n" + items + indent + "]"
    if isinstance(value, dict):
        inner = indent + "  "
        body = "".join(f"{inner}{hcl_key(k)} = {hcl_value(v, inner)}\n" for k, v in value.items())
        return "{\n" + body + indent + "}"
    raise TypeError(type(value))


def hcl_key(key: str) -> str:
    return key if key.replace("_", "a").replace("-", "a").isalnum() else json.dumps(key)


def to_hcl(doc: dict[str, Any]) -> str:
    return "".join(f"{hcl_key(k)} = {hcl_value(v, '')}\n" for k, v in doc.items())


# --- measuring -------------------------------------------------------------------------


def best_of(fn: Callable[[], Any], runs: int = RUNS) -> float:
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def import_time(runs: int = RUNS) -> float:
    code = "import time; t = time.perf_counter(); import meshgw; print(time.perf_counter() - t)"
    times = []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
        )
        times.append(float(out.stdout.strip()))
    return min(times)


def profile(label: str, fn: Callable[[], Any], top: int = 25) -> None:
    prof = cProfile.Profile()
    prof.enable()
    fn()
    prof.disable()
    out = io.StringIO()
    stats = pstats.Stats(prof, stream=out)
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)
    print(f"\n===== profile: {label} =====")
    print(out.getvalue())


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profile", action="store_true", help="print cProfile output")
    parser.add_argument("--json-n", type=int, default=JSON_N)
    parser.add_argument("--hcl-n", type=int, default=HCL_N)
    args = parser.parse_args()

    json_text = json.dumps(mesh_document(args.json_n), indent=2)
    hcl_text = to_hcl(mesh_document(args.hcl_n))

    # Sanity: both texts load and describe the same catalog.
    assert len(meshgw.loads(json_text, format="json").catalog) == args.json_n
    assert len(meshgw.loads(hcl_text, format="hcl").catalog) == args.hcl_n

    print(f"python {sys.version.split()[0]}, meshgw {meshgw.__version__}, best of {RUNS}")
    print()

    t_json = best_of(lambda: json.loads(json_text))
    t_meshgw_json = best_of(lambda: meshgw.loads(json_text, format="json"))
    ratio_json = t_meshgw_json / t_json
    print(f"JSON, N = {args.json_n:,} ({len(json_text) / 1e6:.1f} MB)")
    print(f"  json.loads                {t_json:8.3f} s")
    print(
        f"  meshgw.loads              {t_meshgw_json:8.3f} s   "
        f"goal < {GOAL_JSON_SECONDS:g} s: {verdict(t_meshgw_json < GOAL_JSON_SECONDS)}"
    )
    print(
        f"  meshgw / json.loads       {ratio_json:8.2f} x   "
        f"goal <= {GOAL_JSON_RATIO:g}x: {verdict(ratio_json <= GOAL_JSON_RATIO)}"
    )
    print()

    t_lark = best_of(lambda: hcl2.parses_to_tree(hcl_text))
    t_hcl2 = best_of(lambda: hcl2.loads(hcl_text))
    t_meshgw_hcl = best_of(lambda: meshgw.loads(hcl_text, format="hcl"))
    ratio_hcl = t_meshgw_hcl / t_lark
    print(f"HCL, N = {args.hcl_n:,} ({len(hcl_text) / 1e6:.1f} MB)")
    print(f"  lark parse (parses_to_tree) {t_lark:6.3f} s")
    print(f"  hcl2.loads (reference)      {t_hcl2:6.3f} s")
    print(f"  meshgw.loads                {t_meshgw_hcl:6.3f} s")
    print(
        f"  meshgw / lark parse         {ratio_hcl:6.2f} x   "
        f"goal <= {GOAL_HCL_RATIO:g}x: {verdict(ratio_hcl <= GOAL_HCL_RATIO)}"
    )
    print()

    t_import = import_time()
    print(
        f"import meshgw                 {t_import:6.3f} s   "
        f"goal < {GOAL_IMPORT_SECONDS:g} s: {verdict(t_import < GOAL_IMPORT_SECONDS)}"
    )

    if args.profile:
        profile("meshgw.loads JSON", lambda: meshgw.loads(json_text, format="json"))
        profile("meshgw.loads HCL", lambda: meshgw.loads(hcl_text, format="hcl"))


if __name__ == "__main__":
    main()
