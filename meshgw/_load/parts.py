"""A document being loaded and what it contributes to a Mesh.

Shared by shape detection (:mod:`meshgw._load.documents`) and the validation rules
(:mod:`meshgw._load.validate`), which both report problems through a :class:`Document`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import attrs

from meshgw._load.convert import PathElem
from meshgw.errors import MeshgwError, Problem
from meshgw.model.catalog import CatalogEntry
from meshgw.model.entries import ConfigEntry
from meshgw.model.mesh import Peer
from meshgw.model.registration import Service

__all__ = ["Document", "Parts", "render_path"]

_IDENT = re.compile(r"^[A-Za-z0-9_-]+$")


def render_path(path: Sequence[PathElem]) -> str:
    """``("service", "proxy", "upstreams", 1, "mesh_gateway")`` →
    ``service.proxy.upstreams[1].mesh_gateway``."""
    out = ""
    for elem in path:
        if isinstance(elem, int):
            out += f"[{elem}]"
        elif _IDENT.match(elem):
            out += f".{elem}" if out else elem
        else:
            out += f'["{elem}"]'
    return out


@attrs.define
class Document:
    """One document (a file or mapping) and what is needed to locate problems in it:
    every problem found is reported through it, with file, line and field path."""

    name: str | None
    raw: Any
    text: str | None = None
    fmt: str | None = None
    _located: Any = None
    problems: list[Problem] = attrs.field(factory=list)
    warnings: list[Problem] = attrs.field(factory=list)
    config_typos: str = "error"

    def line(self, path: Sequence[PathElem]) -> int | None:
        from meshgw._load.raw import line_of

        tree = self.raw
        if not hasattr(tree, "key_lines") and not hasattr(tree, "item_lines"):
            if self.text is None or self.fmt != "json":
                return None
            if self._located is None:
                from meshgw._load.jsonread import locate_json

                try:
                    self._located = locate_json(self.text, name=self.name)
                except MeshgwError:
                    return None
            tree = self._located
        return line_of(tree, list(path))

    def report(self, path: Sequence[PathElem], message: str) -> None:
        self.problems.append(Problem(render_path(path), message, self.name, self.line(path)))

    def report_option(self, path: Sequence[PathElem], message: str) -> None:
        """A problem in an opaque ``proxy.config`` map: an error unless the caller asked
        for Consul's leniency (``config_typos="warn"``)."""
        problem = Problem(render_path(path), message, self.name, self.line(path))
        (self.warnings if self.config_typos == "warn" else self.problems).append(problem)


@attrs.define
class Parts:
    """What one document contributes to a Mesh."""

    settings: dict[str, tuple[Any, str | None]] = attrs.field(factory=dict)
    services: list[tuple[Service, Document, tuple[PathElem, ...]]] = attrs.field(factory=list)
    entries: list[tuple[ConfigEntry, Document, tuple[PathElem, ...]]] = attrs.field(factory=list)
    catalog: list[tuple[CatalogEntry, Document, tuple[PathElem, ...]]] = attrs.field(factory=list)
    peers: list[tuple[Peer, Document, tuple[PathElem, ...]]] = attrs.field(factory=list)
