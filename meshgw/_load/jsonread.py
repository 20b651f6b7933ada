"""Reading JSON documents.

:func:`parse_json` is the fast path: the standard library's C decoder, plus a check
that no object repeats a key (Go's decoder, and so Consul, silently keeps the last
one; meshgw refuses). It returns plain dicts and lists. :func:`locate_json` parses
the same text again, slowly, recording the line of every key and item; it is meant
to be called only when a problem has to be located.

Both reject what JSON does not allow but Python's decoder does (``NaN``,
``Infinity``) and raise :class:`~meshgw.errors.ParseError` for every syntax error.
"""

from __future__ import annotations

import json
import re
from bisect import bisect_right
from json.decoder import scanstring  # type: ignore[attr-defined]
from typing import Any, NoReturn

from meshgw._load.raw import RawDict, RawList, too_deep
from meshgw.errors import ParseError

__all__ = ["locate_json", "parse_json"]


class _DuplicateKey(Exception):
    """Raised from the object hook; parse_json locates it with the slow parser."""


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise _DuplicateKey
    return result


def _no_constants(name: str) -> NoReturn:
    raise ValueError(name)


def _excerpt(text: str, line: int) -> str:
    lines = text.split("\n")
    if 1 <= line <= len(lines):
        return lines[line - 1].rstrip("\r")
    return ""


def _strip_bom(text: str) -> str:
    return text[1:] if text.startswith("\ufeff") else text


def parse_json(text: str, *, name: str | None = None) -> Any:
    """Parse a JSON document into plain dicts, lists and scalars.

    Raises :class:`~meshgw.errors.ParseError` (with file, line, column and the source
    line) for a syntax error, a repeated key in one object, ``NaN``/``Infinity`` or
    nesting too deep for the decoder.
    """
    text = _strip_bom(text)
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constants)
    except json.JSONDecodeError as exc:
        raise ParseError(
            f"invalid JSON: {exc.msg}",
            file=name,
            line=exc.lineno,
            column=exc.colno,
            excerpt=_excerpt(text, exc.lineno),
        ) from None
    except (_DuplicateKey, ValueError):
        pass  # the locating parser names the key or constant and its position
    except RecursionError:
        raise too_deep(text, name) from None
    locate_json(text, name=name)
    # The slow parser found nothing wrong; should be unreachable.
    raise ParseError("invalid JSON", file=name)  # pragma: no cover


_WS = re.compile(r"[ \t\n\r]*")
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|-Infinity")
_LITERALS = {"true": True, "false": False, "null": None}


class _Locator:
    """A small recursive-descent JSON parser that records lines."""

    def __init__(self, text: str, name: str | None) -> None:
        self.text = text
        self.name = name
        self._newlines = [m.start() for m in re.finditer("\n", text)]

    def line(self, pos: int) -> int:
        return bisect_right(self._newlines, pos - 1) + 1

    def fail(self, reason: str, pos: int) -> NoReturn:
        line = self.line(pos)
        start = self._newlines[line - 2] + 1 if line > 1 else 0
        raise ParseError(
            reason,
            file=self.name,
            line=line,
            column=pos - start + 1,
            excerpt=_excerpt(self.text, line),
        )

    def skip(self, pos: int) -> int:
        match = _WS.match(self.text, pos)
        assert match is not None  # the pattern matches the empty string
        return match.end()

    def document(self) -> Any:
        pos = self.skip(0)
        value, pos = self.value(pos)
        pos = self.skip(pos)
        if pos != len(self.text):
            self.fail("invalid JSON: extra data after the document", pos)
        return value

    def value(self, pos: int) -> tuple[Any, int]:
        text = self.text
        char = text[pos : pos + 1]
        if char == "{":
            return self.object(pos)
        if char == "[":
            return self.array(pos)
        if char == '"':
            return self.string(pos)
        number = _NUMBER.match(text, pos)
        if number is not None:
            literal = number.group()
            if number.group(1) or number.group(2):
                return float(literal), number.end()
            try:
                return int(literal), number.end()
            except ValueError:  # more digits than Python converts
                self.fail(f"invalid JSON: number {literal[:20]}... is too long", pos)
        word = _WORD.match(text, pos)
        if word is not None:
            if word.group() in _LITERALS:
                return _LITERALS[word.group()], word.end()
            self.fail(f"invalid JSON: `{word.group()}` is not a JSON value", pos)
        if not char:
            self.fail("invalid JSON: unexpected end of document", pos)
        self.fail(f"invalid JSON: unexpected `{char}` where a value is expected", pos)

    def string(self, pos: int) -> tuple[str, int]:
        try:
            value: str
            value, end = scanstring(self.text, pos + 1, True)
            return value, end
        except json.JSONDecodeError as exc:
            self.fail(f"invalid JSON: {exc.msg}", exc.pos)

    def object(self, pos: int) -> tuple[RawDict, int]:
        text = self.text
        result = RawDict(file=self.name, line=self.line(pos))
        key_lines = result.key_lines
        pos = self.skip(pos + 1)
        if text[pos : pos + 1] == "}":
            return result, pos + 1
        while True:
            if text[pos : pos + 1] != '"':
                self.fail("invalid JSON: expected a key in double quotes", pos)
            key_pos = pos
            key, pos = self.string(pos)
            line = self.line(key_pos)
            if key in key_lines:
                self.fail(
                    f"duplicate key `{key}` (first at line {key_lines[key]}, again at line {line})",
                    key_pos,
                )
            pos = self.skip(pos)
            if text[pos : pos + 1] != ":":
                self.fail(f"invalid JSON: expected `:` after key {key!r}", pos)
            pos = self.skip(pos + 1)
            result[key], pos = self.value(pos)
            key_lines[key] = line
            pos = self.skip(pos)
            char = text[pos : pos + 1]
            if char == "}":
                return result, pos + 1
            if char != ",":
                self.fail("invalid JSON: expected `,` or `}` after an object member", pos)
            pos = self.skip(pos + 1)

    def array(self, pos: int) -> tuple[RawList, int]:
        text = self.text
        result = RawList(file=self.name, line=self.line(pos))
        item_lines = result.item_lines
        pos = self.skip(pos + 1)
        if text[pos : pos + 1] == "]":
            return result, pos + 1
        while True:
            item_lines.append(self.line(pos))
            item, pos = self.value(pos)
            result.append(item)
            pos = self.skip(pos)
            char = text[pos : pos + 1]
            if char == "]":
                return result, pos + 1
            if char != ",":
                self.fail("invalid JSON: expected `,` or `]` after an array item", pos)
            pos = self.skip(pos + 1)


def locate_json(text: str, *, name: str | None = None) -> Any:
    """Parse a JSON document into :class:`RawDict` / :class:`RawList` with positions.

    Slower than :func:`parse_json`; gives the same values. Every container records
    ``file`` and ``line``; objects record ``key_lines``, arrays ``item_lines``. Raises
    :class:`~meshgw.errors.ParseError` on invalid JSON, including repeated keys.
    """
    text = _strip_bom(text)
    try:
        return _Locator(text, name).document()
    except RecursionError:
        raise too_deep(text, name) from None
