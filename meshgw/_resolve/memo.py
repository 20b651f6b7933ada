"""Values derived from a mesh once and kept as long as that mesh object lives.

A :class:`~meshgw.model.Mesh` is frozen, so anything computed from it (the catalog
index, where each registration lives, the mesh as another datacenter sees it) stays
valid for its lifetime. :func:`per_mesh` keeps such values in a side table keyed by the
mesh object's identity rather than on the mesh itself: the model's equality, hashing,
repr and pickled form are untouched, a copy or an ``attrs.evolve`` of a mesh starts
afresh, and an entry is dropped when its mesh is garbage collected (a weak reference's
finaliser). Cached values must not refer to the mesh they were computed from, or the
mesh would never be collected.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

from meshgw.model.mesh import Mesh

__all__ = ["peek", "per_mesh", "seed"]

T = TypeVar("T")

# id(mesh) -> {key: value}. The finaliser registered with the first entry of a mesh
# removes its row before the id can be reused by another object.
_TABLE: dict[int, dict[str, Any]] = {}
_LOCK = threading.Lock()


def _row(mesh: Mesh) -> dict[str, Any]:
    key = id(mesh)
    row = _TABLE.get(key)
    if row is None:
        with _LOCK:
            row = _TABLE.get(key)
            if row is None:
                row = _TABLE[key] = {}
                weakref.finalize(mesh, _TABLE.pop, key, None)
    return row


def per_mesh(mesh: Mesh, key: str, make: Callable[[Mesh], T]) -> T:
    """``make(mesh)``, computed on the first call for this mesh object and ``key`` only."""
    row = _row(mesh)
    try:
        value: T = row[key]
    except KeyError:
        value = row[key] = make(mesh)
    return value


def seed(mesh: Mesh, key: str, value: object) -> None:
    """Record ``value`` as what ``per_mesh(mesh, key, ...)`` computes (for a value that is
    known to be the same as another mesh's, e.g. a shared catalog index)."""
    _row(mesh).setdefault(key, value)


def peek(mesh: Mesh, key: str) -> object | None:
    """What :func:`per_mesh` or :func:`seed` recorded for ``mesh`` and ``key``, if
    anything (``None`` otherwise); computes nothing."""
    row = _TABLE.get(id(mesh))
    return None if row is None else row.get(key)
