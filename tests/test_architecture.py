"""The package's import directions (docs/architecture.md), asserted so a cycle or an
upward import cannot come back.

Every module under ``meshgw/`` is parsed with :mod:`ast`; every import counts: at module
level, inside functions and under ``if TYPE_CHECKING:``. Each module belongs to one layer;
an import may go to a lower layer, or stay inside its own package. There is no list of
exceptions. No module imports another module's ``_private`` name, and the modules import
each other without cycles.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "meshgw"

#: (module or package prefix, layer, group). The longest matching prefix decides. An
#: import may go to a lower layer, or sideways to a module of the same group.
LAYERS: tuple[tuple[str, int, str], ...] = (
    # 0: leaves -- errors, value helpers, the filter language, naming; standard library only
    ("meshgw.errors", 0, "leaf"),
    ("meshgw._values", 0, "leaf"),
    ("meshgw._gcpause", 0, "leaf"),
    ("meshgw._compat", 0, "leaf"),
    ("meshgw._filters", 0, "leaf"),
    ("meshgw._names", 0, "leaf"),
    ("meshgw.naming", 0, "leaf"),
    ("meshgw._inspect", 0, "leaf"),
    # 1: frozen models (and proxy option reading)
    ("meshgw.model", 1, "model"),
    # 2: text and mappings to models
    ("meshgw._load", 2, "load"),
    # 3: Consul's semantics: modes, discovery chains, the catalog, intentions
    ("meshgw._resolve", 3, "resolve"),
    # 4: pure Envoy builders (plans import their spec types: plan -> envoy, never back)
    ("meshgw._envoy", 4, "envoy"),
    # 5: what each proxy kind needs, as a finished plan
    ("meshgw._plan", 5, "plan"),
    # 6: the one assembler
    ("meshgw._translation", 6, "translation"),
    # 7: whole-mesh tools on top of translation
    ("meshgw._mesh", 7, "mesh-tools"),
    ("meshgw.lab", 7, "mesh-tools"),
    ("meshgw._lab", 7, "mesh-tools"),
    # 8: the public face: the API, test helpers, the CLI, deprecated import paths
    ("meshgw.testing", 8, "top"),
    ("meshgw._cli", 8, "top"),
    ("meshgw.__main__", 8, "top"),
    ("meshgw.gateway", 8, "top"),
    ("meshgw.modes", 8, "top"),
    ("meshgw.sidecar", 8, "top"),
    ("meshgw.envoy", 8, "top"),
    ("meshgw", 8, "top"),  # meshgw/__init__.py
)

#: Lower groups on another branch, which a group may not import either: loading and
#: resolution both stand on the model alone, and the Envoy builders know neither how
#: documents are read nor Consul's semantics (docs/architecture.md).
OTHER_BRANCH: dict[str, frozenset[str]] = {
    "resolve": frozenset({"load"}),
    "envoy": frozenset({"load", "resolve"}),
}

Edge = tuple[str, str, str, int]  # (importer, imported module, imported name or "", line)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def all_modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports_of(module: str, source: str, is_package: bool, known: Iterable[str]) -> Iterator[Edge]:
    """Every import of meshgw code in ``source``, wherever it stands in the file."""
    known = set(known)
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "meshgw" or alias.name.startswith("meshgw."):
                    yield module, alias.name, "", node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            if base != "meshgw" and not base.startswith("meshgw."):
                continue
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                if sub in known:  # ``from meshgw import naming``: the submodule itself
                    yield module, sub, "", node.lineno
                else:
                    yield module, base, alias.name, node.lineno


@functools.cache
def all_edges() -> tuple[Edge, ...]:
    modules = all_modules()
    edges: list[Edge] = []
    for name, path in modules.items():
        source = path.read_text(encoding="utf-8")
        edges.extend(imports_of(name, source, path.name == "__init__.py", modules))
    return tuple(edges)


def layer_of(module: str) -> tuple[int, str] | None:
    best: tuple[str, int, str] | None = None
    for prefix, level, group in LAYERS:
        if (module == prefix or module.startswith(prefix + ".")) and (
            best is None or len(prefix) > len(best[0])
        ):
            best = (prefix, level, group)
    return None if best is None else (best[1], best[2])


def layer_violations(edges: Iterable[Edge]) -> list[str]:
    """Imports that go up a layer, sideways into another group, or to another branch."""
    out = []
    for importer, imported, _, line in edges:
        src, dst = layer_of(importer), layer_of(imported)
        if src is None or dst is None:
            out.append(f"{importer}:{line}: {imported}: a module without a layer")
        elif (
            dst[0] > src[0]
            or (dst[0] == src[0] and dst[1] != src[1])
            or dst[1] in OTHER_BRANCH.get(src[1], ())
        ):
            out.append(
                f"{importer}:{line} (layer {src[0]}, {src[1]}) imports {imported} "
                f"(layer {dst[0]}, {dst[1]})"
            )
    return out


def private_name_imports(edges: Iterable[Edge]) -> list[str]:
    """``from other_module import _name``: reaching into another module's privates."""
    return [
        f"{importer}:{line} imports {name} from {imported}"
        for importer, imported, name, line in edges
        if name.startswith("_") and not name.startswith("__") and imported != importer
    ]


def cycles(edges: Iterable[Edge]) -> list[list[str]]:
    """Every import cycle (one per strongly connected component of the import graph)."""
    graph: dict[str, set[str]] = {}
    for importer, imported, _, _ in edges:
        if importer != imported:
            graph.setdefault(importer, set()).add(imported)
            graph.setdefault(imported, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


# --------------------------------------------------------------------------- the rules


def test_every_module_has_a_layer() -> None:
    assert [m for m in all_modules() if layer_of(m) is None] == []


def test_imports_only_go_down_or_stay_in_their_package() -> None:
    assert layer_violations(all_edges()) == []


def test_no_module_imports_a_private_name_of_another() -> None:
    assert private_name_imports(all_edges()) == []


def test_no_import_cycles() -> None:
    assert cycles(all_edges()) == []


# --------------------------------------------------------------------------- the checks can fail


def test_the_parser_finds_every_kind_of_import() -> None:
    source = """
from typing import TYPE_CHECKING
from meshgw.errors import MeshgwError
import meshgw._values
if TYPE_CHECKING:
    from meshgw._plan.gateway import GatewayPlan
def f():
    from . import clusters
    from .endpoints import _private
"""
    known = {"meshgw._envoy.clusters", "meshgw._envoy.endpoints"}
    edges = {
        (dst, name) for _, dst, name, _ in imports_of("meshgw._envoy.tls", source, False, known)
    }
    assert edges == {
        ("meshgw.errors", "MeshgwError"),
        ("meshgw._values", ""),
        ("meshgw._plan.gateway", "GatewayPlan"),
        ("meshgw._envoy.clusters", ""),
        ("meshgw._envoy.endpoints", "_private"),
    }


@pytest.mark.parametrize(
    ("importer", "imported"),
    [
        ("meshgw._envoy.clusters", "meshgw._plan.gateway"),  # envoy -> plan: up
        ("meshgw.model.mesh", "meshgw._load.documents"),  # model -> load: up
        ("meshgw._values", "meshgw.model.common"),  # a leaf -> model: up
        ("meshgw._resolve.modes", "meshgw._translation"),  # up by three
        ("meshgw.errors", "meshgw.testing"),
        ("meshgw._mesh.trace", "meshgw._cli"),  # whole-mesh tools -> CLI: up
        ("meshgw.model.mesh", "meshgw.unknown"),  # a module without a layer
        ("meshgw._resolve.modes", "meshgw._load.documents"),  # down, but another branch
        ("meshgw._envoy.tls", "meshgw._resolve.catalog"),  # builders know no Consul rules
    ],
)
def test_an_upward_import_is_reported(importer: str, imported: str) -> None:
    assert len(layer_violations([(importer, imported, "X", 1)])) == 1


def test_downward_and_same_package_imports_pass() -> None:
    allowed = [
        ("meshgw._plan.gateway", "meshgw._envoy.clusters", "ClusterSpec", 1),
        ("meshgw._plan.peering", "meshgw._plan.gateway_base", "Bind", 1),
        ("meshgw._load.validate", "meshgw.model._options", "", 1),
        ("meshgw._cli.translate", "meshgw._translation", "translate", 1),
        ("meshgw", "meshgw._load.documents", "load", 1),
    ]
    assert layer_violations(allowed) == []


def test_a_private_import_is_reported() -> None:
    edges = [
        ("meshgw._plan.peering", "meshgw._plan.gateway", "_dns_plan", 3),
        ("meshgw._plan.peering", "meshgw._plan.gateway", "plan_gateway", 4),
        ("meshgw._cli", "meshgw", "__version__", 5),
    ]
    assert private_name_imports(edges) == [
        "meshgw._plan.peering:3 imports _dns_plan from meshgw._plan.gateway"
    ]


def test_a_cycle_is_reported() -> None:
    edges = [
        ("meshgw._plan.gateway", "meshgw._plan.peering", "", 1),
        ("meshgw._plan.peering", "meshgw._plan.wanfed", "", 1),
        ("meshgw._plan.wanfed", "meshgw._plan.gateway", "", 1),
        ("meshgw._plan.gateway", "meshgw.errors", "", 1),
    ]
    assert cycles(edges) == [
        ["meshgw._plan.gateway", "meshgw._plan.peering", "meshgw._plan.wanfed"]
    ]
    assert cycles(edges[1:]) == []


#: Helpers and Consul rules with one home each, by the names their copies had.
ONE_HOME: dict[str, str] = {
    "norm_key": "meshgw._values",
    "by_norm_key": "meshgw._values",
    "find_key": "meshgw._values",
    "unwrap_block": "meshgw._values",
    "duration_ns": "meshgw._values",
    "parse_go_duration": "meshgw._values",
    "is_ip": "meshgw._values",
    "plain_copy": "meshgw._values",
    "instance_health": "meshgw._resolve.catalog",
    "endpoint_health": "meshgw._resolve.catalog",
    "instance_checks": "meshgw.model.catalog",
    "chain_protocol": "meshgw._resolve.chain",
    "choose_discovery": "meshgw._plan.discovery",
    "mesh_gateway_mode": "meshgw.model._options",
}
#: Names the copies had before they were folded into the homes above.
OLD_COPIES = frozenset(
    {"_norm", "_find_key", "_is_ip", "_is_ipv6", "_plain", "to_plain"}
    | {"_materialise", "_instance_health", "_instance_checks", "_chain_protocol", "_dns_plan"}
    | {"_override_matches"}
)


def module_functions() -> dict[str, list[str]]:
    """Module-level function name -> the modules defining it."""
    out: dict[str, list[str]] = {}
    for name, path in all_modules().items():
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                out.setdefault(node.name, []).append(name)
    return out


def test_each_shared_rule_is_defined_once() -> None:
    defined = module_functions()
    assert {name: defined.get(name) for name in ONE_HOME} == {
        name: [home] for name, home in ONE_HOME.items()
    }
    assert {name: where for name, where in defined.items() if name in OLD_COPIES} == {}
