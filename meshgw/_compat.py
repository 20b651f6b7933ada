"""Deprecated import paths that earlier docs taught, kept working with a warning.

Each shim module is a facade: ``__getattr__ = moved(__name__, {name: "module:attr"})``.
The target is imported only when the old name is used, so the shims cost nothing and
sit outside the layering (they name their targets as strings, never import them).
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable, Mapping
from typing import Any


def moved(module: str, names: Mapping[str, tuple[str, str]]) -> Callable[[str], Any]:
    """A module ``__getattr__`` serving ``names``: old name → (``"pkg.mod:attr"``, advice)."""

    def __getattr__(name: str) -> Any:
        if name not in names:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        target, advice = names[name]
        warnings.warn(
            f"{module}.{name} is deprecated and will be removed; {advice}",
            DeprecationWarning,
            stacklevel=2,
        )
        path, _, attr = target.partition(":")
        return getattr(importlib.import_module(path), attr)

    return __getattr__
