"""The raw tree: what the HCL and JSON readers produce.

A raw tree is nested dicts, lists and scalars with no knowledge of Consul's schema.
The readers return :class:`RawDict` and :class:`RawList`, which behave exactly like
``dict`` and ``list`` (they compare equal to them and print the same) but also
remember where in the source each key and item was written, so that a later
validation problem can name a line. :func:`line_of` looks that line up for a path.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from meshgw._values import find_key
from meshgw.errors import ParseError

__all__ = ["RawDict", "RawList", "line_of", "nesting", "too_deep"]

_NESTING_TOKEN = re.compile(r'"(?:[^"\\\n]|\\.)*"|[\[\]{}()]')


def nesting(text: str) -> tuple[int, int]:
    """How deep brackets nest in ``text`` (strings skipped) and the offset of the bracket
    where that depth is first reached."""
    depth = deepest = at = 0
    for m in _NESTING_TOKEN.finditer(text):
        ch = m.group()
        if ch in "[{(":
            depth += 1
            if depth > deepest:
                deepest, at = depth, m.start()
        elif ch in "]})":
            depth -= 1
    return deepest, at


def too_deep(text: str | None, name: str | None) -> ParseError:
    """The error for a document nested deeper than Python can follow, located at the
    bracket where the deepest nesting starts (only computed on failure)."""
    if not text:
        return ParseError("nesting too deep", file=name)
    deepest, at = nesting(text)
    line = text.count("\n", 0, at) + 1
    column = at - (text.rfind("\n", 0, at) + 1) + 1
    # A caret thousands of columns out helps nobody: show the line only when short.
    excerpt = text.splitlines()[line - 1] if column <= 200 else ""
    return ParseError(
        f"nesting too deep ({deepest} levels; meshgw follows a few hundred)",
        file=name,
        line=line,
        column=column,
        excerpt=excerpt,
    )


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
