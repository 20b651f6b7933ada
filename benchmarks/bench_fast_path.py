"""Does the loader's hand-inlined fast path still pay? An A/B benchmark.

Run from the repository root::

    python benchmarks/bench_fast_path.py [N]      # N catalog entries, default 10,000

meshgw structures valid documents with small functions compiled per class
(``meshgw._load.convert._fast_class``) and falls back to cattrs' detailed converter only
on a problem. The alternative is cattrs' own generated structure functions
(``cattrs.gen.make_dict_structure_fn``, meshgw's non-detailed converter) with the same
fallback. Both variants load the same JSON mesh (``bench_load.py``'s catalog) in
alternating runs, so that load on the machine hits both alike, and print, best of 5:
``meshgw.loads`` end to end, structuring alone (every catalog entry), and the ratios.
The fast path is kept while cattrs' functions are clearly slower.

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
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_load  # noqa: E402

import meshgw  # noqa: E402
from meshgw._load import convert  # noqa: E402
from meshgw.model.catalog import CatalogEntry  # noqa: E402

RUNS = 5
Structure = Callable[..., Any]


def cattrs_structure(value: Any, cls: type, file: str | None = None) -> Any:
    """``convert.structure`` with cattrs' generated functions instead of the fast path."""
    token = convert.current_file.set(file)
    try:
        try:
            return convert._converter(False).structure(value, cls)
        except Exception:
            pass
        try:
            return convert._converter(True).structure(value, cls)
        except Exception as exc:
            raise convert.StructureFailed(list(convert._walk(exc, ()))) from None
    finally:
        convert.current_file.reset(token)


def structure_all(fn: Structure, entries: list[dict[str, Any]]) -> None:
    for entry in entries:
        fn(entry, CatalogEntry, "x.json")


def timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    text = json.dumps(bench_load.mesh_document(n), indent=2)
    entries = [bench_load.catalog_entry(i) for i in range(n)]
    variants: dict[str, Structure] = {"fast path": convert.structure, "cattrs": cattrs_structure}
    # Same result either way (Source positions aside, which models do not compare).
    fast = [convert.structure(e, CatalogEntry, "x.json") for e in entries[:200]]
    assert fast == [cattrs_structure(e, CatalogEntry, "x.json") for e in entries[:200]]

    loads: dict[str, list[float]] = {name: [] for name in variants}
    structure: dict[str, list[float]] = {name: [] for name in variants}
    original = convert.structure
    try:
        for _ in range(RUNS):
            for name, fn in variants.items():
                convert.structure = fn
                loads[name].append(timed(lambda: meshgw.loads(text, format="json")))
                start = time.perf_counter()
                structure_all(fn, entries)
                structure[name].append(time.perf_counter() - start)
    finally:
        convert.structure = original
    json_loads = min(timed(lambda: json.loads(text)) for _ in range(RUNS))

    print(f"python {sys.version.split()[0]}, JSON mesh with N = {n:,}, best of {RUNS}")
    print(f"  json.loads                         {json_loads:.3f} s")
    for name in variants:
        print(f"  meshgw.loads ({name:9})          {min(loads[name]):.3f} s")
    for name in variants:
        print(f"  structuring N entries ({name:9}) {min(structure[name]):.3f} s")
    fast_name, other = list(variants)
    print(f"  cattrs / fast path, loads          {min(loads[other]) / min(loads[fast_name]):.2f} x")
    print(
        f"  cattrs / fast path, structuring    "
        f"{min(structure[other]) / min(structure[fast_name]):.2f} x"
    )


if __name__ == "__main__":
    main()
