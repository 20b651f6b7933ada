"""The curated public surface: which modules are public, what docs may teach, old paths."""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

import pytest

import meshgw

ROOT = Path(__file__).resolve().parent.parent
#: Public submodules (documented); everything else is private (``_``) or a deprecated shim.
PUBLIC_MODULES = {"errors", "model", "naming", "testing", "lab"}
#: Old import paths earlier docs taught; each warns and forwards.
SHIMS = {
    "meshgw.sidecar": {"translate_sidecar": "translate"},
    "meshgw.modes": {"resolve_target_mode": "resolve_target_mode", "explain": "explain"},
    "meshgw.gateway": {"plan_gateway": None},
    "meshgw.envoy.bootstrap": {"static_bootstrap": None, "inline_endpoints": None},
}


def test_every_top_level_module_is_public_private_or_a_shim() -> None:
    shims = {name.split(".")[1] for name in SHIMS}
    for info in pkgutil.iter_modules(meshgw.__path__):
        name = info.name
        assert name.startswith("_") or name in PUBLIC_MODULES | shims, (
            f"meshgw.{name} is neither private, a documented public module nor a shim"
        )


def test_public_modules_declare_their_api() -> None:
    for name in PUBLIC_MODULES:
        try:
            module = importlib.import_module(f"meshgw.{name}")
        except ImportError:
            continue  # an optional module not present in this checkout
        exported = module.__all__
        assert exported, name
        assert all(not n.startswith("_") for n in exported), name
        assert all(hasattr(module, n) for n in exported), name


def test_naming_exports_only_the_addressing_names() -> None:
    import meshgw.naming as naming

    assert "spiffe_id" in naming.__all__ and "service_sni" in naming.__all__
    assert not [n for n in naming.__all__ if n.endswith("stat_prefix") or "duration" in n]


@pytest.mark.parametrize(("module", "name"), [(m, n) for m, ns in SHIMS.items() for n in ns])
def test_old_paths_warn_and_forward(module: str, name: str) -> None:
    mod = importlib.import_module(module)
    with pytest.warns(DeprecationWarning, match=rf"{re.escape(module)}\.{name} is deprecated"):
        value = getattr(mod, name)
    assert callable(value)
    public = SHIMS[module][name]
    if public is not None:
        assert value is getattr(meshgw, public)


def test_shims_refuse_unknown_names() -> None:
    import meshgw.sidecar

    with pytest.raises(AttributeError, match="has no attribute 'plan'"):
        meshgw.sidecar.plan  # noqa: B018


_DOC_NAME = re.compile(r"\bmeshgw\.([A-Za-z_][\w]*)(?:\.([A-Za-z_]\w*))?")


def _doc_files() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def test_docs_teach_only_public_names() -> None:
    problems = []
    for path in _doc_files():
        for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for first, second in _DOC_NAME.findall(line):
                if first in {"py", "md"}:  # file names like meshgw.py never occur, but be safe
                    continue
                where = f"{path.relative_to(ROOT)}:{lineno}: meshgw.{first}"
                if first in PUBLIC_MODULES:
                    module = importlib.import_module(f"meshgw.{first}")
                    if second and second not in module.__all__:
                        problems.append(f"{where}.{second} is not public")
                elif first not in meshgw.__all__:
                    problems.append(f"{where} is not a public name")
    assert not problems, "\n".join(problems)


def test_every_public_name_has_a_docstring() -> None:
    import inspect

    missing = []
    for module_name in ("meshgw", *(f"meshgw.{m}" for m in sorted(PUBLIC_MODULES))):
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        for name in module.__all__:
            obj = getattr(module, name)
            if not (inspect.isfunction(obj) or inspect.isclass(obj)):
                continue
            if not (obj.__doc__ or "").strip():
                missing.append(f"{module_name}.{name}")
            if inspect.isclass(obj):
                missing += [
                    f"{module_name}.{name}.{attr}"
                    for attr, value in vars(obj).items()
                    if not attr.startswith("_")
                    and inspect.isfunction(value)
                    and not (value.__doc__ or "").strip()
                ]
    assert not missing, "public names without a docstring: " + ", ".join(sorted(set(missing)))
