"""Errors raised by meshgw.

Every error meshgw raises derives from :class:`MeshgwError`::

    MeshgwError
     ├── ParseError          (ValueError)  text that is not valid HCL / JSON
     ├── ValidationError     (ValueError)  a document that parses but is wrong;
     │                                     carries every Problem at once
     ├── LookupFailed        (KeyError)    a name that is not in the mesh
     ├── UsageError          (ValueError)  a meshgw function called wrongly
     └── TranslationError                  a mesh that cannot be turned into Envoy
                                           configuration (e.g. no gateway for a mode)

    MeshgwWarning (UserWarning)            something translated, but not as asked
                                           (only where the caller opted into warnings)

No exception from lark, cattrs, json or the standard library escapes the public API.

Which error when — the rule every module follows:

* Something wrong in the *input documents* is found while loading, never later:
  :class:`ParseError` or :class:`ValidationError`, located (``file:line: path: ...``).
* Something wrong in the *call* — an argument no mesh could make right (an unknown
  ``endpoints=``, ``missing=``, ``format=`` or ``config_typos=`` value, no files, a
  required argument left empty, arguments that contradict each other, a registration
  named by id without a mesh to look it up in, mode resolution asked of a registration
  that is not a proxy, a test helper given something it does not take) — is
  :class:`UsageError`, whatever function was called. It derives from
  :class:`ValueError` for every kind of mistake (also a value of the wrong type), so one
  ``except UsageError`` catches them all.
* A name the mesh does not contain is :class:`LookupFailed`.
* A valid mesh and a valid call that still cannot be translated as asked (a mode that
  needs a gateway the catalog lacks, a registration of a kind with no Envoy
  configuration) is :class:`TranslationError`.
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs

__all__ = [
    "LookupFailed",
    "MeshgwError",
    "MeshgwWarning",
    "ParseError",
    "Problem",
    "TranslationError",
    "UsageError",
    "ValidationError",
]


class MeshgwError(Exception):
    """Base class of every error meshgw raises."""


class ParseError(MeshgwError, ValueError):
    """Text that is not valid HCL or JSON.

    ``file``, ``line`` and ``column`` (1-based) locate the problem, ``excerpt`` is the
    offending source line, ``reason`` says what was expected.
    """

    def __init__(
        self,
        reason: str,
        *,
        file: str | None = None,
        line: int | None = None,
        column: int | None = None,
        excerpt: str = "",
    ) -> None:
        self.reason = reason
        self.file = file
        self.line = line
        self.column = column
        self.excerpt = excerpt
        super().__init__(self._render())

    def _render(self) -> str:
        where = _where(self.file, self.line, self.column)
        text = f"{where}{self.reason}"
        if self.excerpt:
            text += f"\n    {self.excerpt.rstrip()}"
            if self.column:
                text += "\n    " + " " * (self.column - 1) + "^"
        return text


def _where(file: str | None, line: int | None, column: int | None = None) -> str:
    parts = [file or "<input>"]
    if line is not None:
        parts.append(str(line))
        if column is not None:
            parts.append(str(column))
    return ":".join(parts) + ": "


@attrs.frozen
class Problem:
    """One thing wrong with a document: where it is and what was expected."""

    path: str
    message: str
    file: str | None = None
    line: int | None = None

    def __str__(self) -> str:
        where = _where(self.file, self.line)
        path = f"{self.path}: " if self.path else ""
        return f"{where}{path}{self.message}"


class ValidationError(MeshgwError, ValueError):
    """A document that parsed but does not describe a valid mesh.

    ``problems`` lists every problem found, each with file, line (where known),
    field path and message; ``str()`` shows them one per line.
    """

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(
            sorted(problems, key=lambda p: (p.file or "", p.line or 0, p.path, p.message))
        )
        count = len(self.problems)
        head = f"{count} problem{'s' if count != 1 else ''} found"
        super().__init__(head + "".join(f"\n  {p}" for p in self.problems))


class LookupFailed(MeshgwError, KeyError):
    """A service, entry or peer that the mesh does not contain."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class UsageError(MeshgwError, ValueError):
    """A meshgw function called with an argument no mesh could make right (an unknown
    option value, a missing or contradictory argument); the message names the argument
    and what it accepts."""


class TranslationError(MeshgwError):
    """A valid mesh that cannot be translated as asked (for example a mode that
    needs a gateway the catalog does not have)."""


class MeshgwWarning(UserWarning):
    """Translation went ahead but could not do everything asked (for example an upstream
    left without endpoints because the caller chose ``missing="warn"``)."""
