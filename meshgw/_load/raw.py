"""The raw tree: what the HCL and JSON readers produce.

A raw tree is nested dicts, lists and scalars with no knowledge of Consul's schema.
The readers return :class:`RawDict` and :class:`RawList`, which behave exactly like
``dict`` and ``list`` (they compare equal to them and print the same) but also
remember where in the source each key and item was written, so that a later
validation problem can name a line. :func:`line_of` looks that line up for a path.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from meshgw._values import find_key

__all__ = ["RawDict", "RawList", "line_of"]


class RawDict(dict[str, Any]):
    """A ``dict`` that remembers source positions.

    ``file`` is the document name, ``line`` the line of the opening brace or block
    header, ``key_lines`` the 1-based line each key is written on and ``block_keys``
    the keys that came from HCL blocks (their values are lists of bodies) rather
    than from attributes.
    """

    __slots__ = ("block_keys", "file", "key_lines", "line")

    file: str | None
    line: int | None
    key_lines: dict[str, int]
    block_keys: set[str]

    def __init__(
        self,
        data: Mapping[str, Any] | Iterable[tuple[str, Any]] = (),
        /,
        *,
        file: str | None = None,
        line: int | None = None,
    ) -> None:
        super().__init__(data)
        self.file = file
        self.line = line
        self.key_lines = {}
        self.block_keys = set()


class RawList(list[Any]):
    """A ``list`` that remembers source positions.

    ``file`` is the document name, ``line`` the line of the opening bracket (or of the
    first block, for a list built from repeated HCL blocks) and ``item_lines`` the
    line each item starts on (``None`` where unknown), parallel to the items.
    """

    __slots__ = ("file", "item_lines", "line")

    file: str | None
    line: int | None
    item_lines: list[int | None]

    def __init__(
        self,
        data: Iterable[Any] = (),
        /,
        *,
        file: str | None = None,
        line: int | None = None,
        item_lines: Iterable[int | None] | None = None,
    ) -> None:
        super().__init__(data)
        self.file = file
        self.line = line
        self.item_lines = list(item_lines) if item_lines is not None else []


def line_of(tree: Any, path: Sequence[str | int]) -> int | None:
    """The source line of the deepest element of ``tree`` that ``path`` reaches.

    A ``str`` step looks a key up as Consul does (ignoring case and underscores, an
    exact match first); an ``int`` step indexes a list. A ``str`` step applied to a
    list holding exactly one dict (an HCL block) steps into that dict first. The
    result is the line of the last key or item reached, or the line of the closest
    positioned container; ``None`` for plain dicts and lists.
    """
    current = tree
    best: int | None = getattr(tree, "line", None)
    for step in path:
        if isinstance(step, str):
            if isinstance(current, list) and len(current) == 1 and isinstance(current[0], dict):
                if isinstance(current, RawList) and current.item_lines:
                    best = current.item_lines[0] or best
                current = current[0]
            if not isinstance(current, Mapping):
                return best
            key = find_key(current, step)
            if key is None:
                return best
            if isinstance(current, RawDict):
                best = current.key_lines.get(key, best)
            current = current[key]
        else:
            if not isinstance(current, list):
                return best
            try:
                item = current[step]
            except (IndexError, TypeError):
                return best
            if isinstance(current, RawList) and -len(current.item_lines) <= step < len(
                current.item_lines
            ):
                best = current.item_lines[step] or best
            current = item
    return best
