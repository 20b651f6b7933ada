"""Reading HCL documents the way Consul reads them.

:func:`parse_hcl` parses with python-hcl2's lark grammar (HCL2) and converts the
lark parse tree itself into a raw tree (:class:`~meshgw.load.raw.RawDict`), which is
much faster than python-hcl2's own transformer and lets meshgw keep line numbers,
report duplicates and reject what Consul would not read as a value.

The raw tree mimics Consul's HCL1 decoding:

* ``a = v`` gives key ``a``; a block ``a { ... }`` gives ``a: [ {...} ]`` (a one-item
  :class:`~meshgw.load.raw.RawList`, ``a`` in ``block_keys``); repeated blocks append
  to the list; a labeled block ``a "x" y { ... }`` gives ``a: [ {x: [ {y: [ {...} ]} ]} ]``,
  labeled blocks sharing a name and leading labels sharing the enclosing levels.
* An attribute list and blocks of the same name merge into one list, in source order;
  any other attribute/block clash, and any repeated attribute or object key, is an
  error.
* Only literals are values: strings (escapes decoded; ``$${`` and ``%%{`` give ``${``
  and ``%{``; interpolation and template directives are errors), heredocs (``<<-``
  strips the common indentation), numbers (``int`` unless written with a fraction or
  exponent; ``-`` allowed; a leading zero, which HCL1 reads as octal, is an error),
  ``true``/``false``/``null``, tuples and objects. A bare word, function call,
  operator, conditional, ``for`` expression, splat or attribute access is an error.

HCL1 compatibility. Consul reads its files with HCL version 1, and its documentation
is full of examples that are not HCL2. When (and only when) python-hcl2 rejects a
text, the text is rewritten, keeping every line break so that line numbers hold
(columns in error messages are mapped back to the text as written), and parsed
again. Supported, besides what python-hcl2 already accepts (several attributes on
one line, ``a: v`` in objects):

1. A block inside an object literal, e.g. inside a list element:
   ``upstreams = [{ destination_name = "api"  mesh_gateway { mode = "local" } }]``;
   also with labels (``name "label" { ... }``). It still counts as a block.
2. Quoted names in a block body or at the top level:
   ``meta { "consul-wan-federation" = "1" }``, ``"*" { ... }``.
3. Commas between the items of a block body: ``lan { address = "10.0.0.5", port = 8443 }``.
4. ``/* ... */`` comments anywhere whitespace may be, e.g. ``port = /* tls */ 8443``.
5. ``$${`` / ``%%{`` with no closing ``}`` in the same string (``"cost: $${"``).

Not supported (an error, never a silent difference): hexadecimal and octal numbers,
names containing ``.``, a value on the line after its ``=``, quoted names that are not
identifiers at the top level of a file. Where HCL1 and HCL2 differ, meshgw follows
HCL2 for: ``null`` (a value here, an error in HCL1), ``$${`` (unescaped here, kept in
HCL1) and ``<<-`` heredocs (the common indentation here, the closing marker's in HCL1).
"""

from __future__ import annotations

import re
from bisect import bisect_right
from itertools import pairwise
from typing import Any, NoReturn

from meshgw._load.raw import RawDict, RawList, too_deep
from meshgw.errors import ParseError

__all__ = ["parse_hcl"]


def parse_hcl(text: str, *, name: str | None = None) -> RawDict:
    """Parse HCL ``text`` (Consul style) into a :class:`~meshgw.load.raw.RawDict`.

    ``name`` is the file name used in error messages and stored on the tree. Every
    problem raises :class:`~meshgw.errors.ParseError` with the line, column and source
    line; no exception from lark or python-hcl2 escapes.
    """
    if text.startswith("\ufeff"):
        text = text[1:]
    if "\r" in text:
        # lark ignores \r, but heredoc bodies and line excerpts would keep it.
        text = text.replace("\r\n", "\n")
    parser, lark_error = _parser()
    source = _Source(text, name)
    try:
        try:
            tree = parser.parse(text + "\n")  # the grammar needs a final newline
        except lark_error as exc:
            return _parse_rewritten(source, parser, lark_error, exc)
        try:
            return _Walker(source, {}).document(tree)
        except _Misread:
            return _parse_rewritten(source, parser, lark_error, None)
    except RecursionError:
        raise too_deep(text, name) from None


# --- the parser ---------------------------------------------------------------------

_Tree: Any = None
_Token: Any = None


def _parser() -> tuple[Any, type[Exception]]:
    """python-hcl2's lark parser (built once, cached by python-hcl2) and lark's base error."""
    global _Tree, _Token
    import hcl2.parser
    from lark import Token, Tree
    from lark.exceptions import LarkError

    _Tree, _Token = Tree, Token
    return hcl2.parser.parser(), LarkError


class _Misread(Exception):
    """python-hcl2 accepted the text but lexed it wrongly; retry on the rewritten text."""


class _Rewrite:
    """A rewritten text, the blocks it turned into attributes and how to map offsets back."""

    def __init__(
        self, original: str, edits: list[tuple[int, int, str]], markers: dict[int, int]
    ) -> None:
        edits.sort(key=lambda edit: (edit[0], edit[1]))
        pieces: list[str] = []
        self.new_starts: list[int] = []
        # per edit: new end, old start, old length, total shift after it
        self._spans: list[tuple[int, int, int, int]] = []
        done = shift = 0
        for start, end, new in edits:
            pieces.append(original[done:start])
            pieces.append(new)
            done = end
            new_start = start + shift
            shift += len(new) - (end - start)
            self.new_starts.append(new_start)
            self._spans.append((new_start + len(new), start, end - start, shift))
        pieces.append(original[done:])
        self.text = "".join(pieces)
        self._old_ends = [old_start + old_length for _, old_start, old_length, _ in self._spans]
        # markers are keyed by original offsets of block names; the walker sees new ones
        self.markers = {self.new_offset(offset): labels for offset, labels in markers.items()}

    def new_offset(self, offset: int) -> int:
        """Map an offset of the original text that no edit covers to the rewritten text."""
        index = bisect_right(self._old_ends, offset) - 1
        return offset + self._spans[index][3] if index >= 0 else offset

    def original_offset(self, offset: int) -> int:
        index = bisect_right(self.new_starts, offset) - 1
        if index < 0:
            return offset
        new_end, old_start, old_length, shift = self._spans[index]
        if offset < new_end:
            return old_start + min(offset - self.new_starts[index], old_length)
        return offset - shift


class _Source:
    """The original text (BOM and CRLF normalised): positions, excerpts and errors.

    ``rewrite`` is set while the tree being walked comes from a rewritten text, so
    positions are mapped back to the original.
    """

    def __init__(self, text: str, name: str | None) -> None:
        self.text = text
        self.name = name
        self.rewrite: _Rewrite | None = None
        self._starts: list[int] | None = None

    def line_starts(self) -> list[int]:
        if self._starts is None:
            self._starts = [0, *(m.end() for m in re.finditer("\n", self.text))]
        return self._starts

    def offset_to_position(self, offset: int) -> tuple[int, int]:
        starts = self.line_starts()
        line = bisect_right(starts, offset)
        return line, offset - starts[line - 1] + 1

    def position_to_offset(self, line: int, column: int) -> int:
        starts = self.line_starts()
        line = min(max(line, 1), len(starts))
        return min(starts[line - 1] + max(column, 1) - 1, len(self.text))

    def position(self, line: int, column: int, offset: int | None) -> tuple[int, int]:
        """The original (line, column) of a lark position in the parsed text."""
        if self.rewrite is None or offset is None:
            return line, column
        return self.offset_to_position(self.rewrite.original_offset(offset))

    def excerpt(self, line: int) -> str:
        starts = self.line_starts()
        if not 1 <= line <= len(starts):
            return ""
        end = starts[line] - 1 if line < len(starts) else len(self.text)
        return self.text[starts[line - 1] : end].rstrip("\r")

    def error(self, reason: str, line: int | None = None, column: int | None = None) -> ParseError:
        if line is not None:
            last = len(self.line_starts())
            if line > last:  # the end of the file: point after its last non-blank line
                line = last
                while line > 1 and not self.excerpt(line).strip():
                    line -= 1
                column = len(self.excerpt(line)) + 1
        return ParseError(
            reason,
            file=self.name,
            line=line,
            column=column,
            excerpt=self.excerpt(line) if line is not None else "",
        )


# --- a lexical scan of the original text, for the rewrite and for error messages -------

_SCAN = re.compile(
    r"""
      (?P<nl>\n)
    | (?P<ws>[ \t\r]+)
    | (?P<comment>(?:\#|//)[^\n]*)
    | (?P<bcomment>/\*(?:[^*]|\*(?!/))*\*/)
    | (?P<badcomment>/\*)
    | (?P<heredoc><<-?(?P<marker>[A-Za-z][A-Za-z0-9._-]*)\n)
    | (?P<string>"(?:[^"\\\n$%]|\\[^\n]|\$\$\{|%%\{|[$%]\{[^}\n]*\}|[$%])*")
    | (?P<badstring>"[^\n]*)
    | (?P<number>[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)
    | (?P<name>[A-Za-z_][A-Za-z0-9_-]*)
    | (?P<punct>[{}\[\]()=:,])
    | (?P<other>.)
    """,
    re.VERBOSE | re.DOTALL,
)
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")

# a token: (kind, start, end, line, column); kind is the group name, or the
# punctuation character itself
_Tok = tuple[str, int, int, int, int]


class _Scan:
    """The tokens of a text and its first lexical error (unterminated string etc.)."""

    def __init__(self, text: str) -> None:
        self.tokens: list[_Tok] = []
        self.problem: tuple[str, int, int] | None = None  # reason, line, column
        tokens = self.tokens
        match = _SCAN.match
        pos, line, line_start, size = 0, 1, 0, len(text)
        while pos < size:
            found = match(text, pos)
            assert found is not None  # `other` matches any character
            kind = found.lastgroup or "other"
            end = found.end()
            column = pos - line_start + 1
            if kind == "nl":
                tokens.append(("nl", pos, end, line, column))
                line, line_start = line + 1, end
            elif kind == "ws":
                pass
            elif kind == "punct":
                tokens.append((text[pos], pos, end, line, column))
            elif kind == "heredoc":
                marker = found.group("marker")
                closing = re.compile(r"^[ \t]*" + re.escape(marker) + r"$", re.MULTILINE)
                last = closing.search(text, end)
                if last is None:
                    self.problem = (f"unterminated heredoc <<{marker}", line, column)
                    return
                end = last.end()
                tokens.append(("heredoc", pos, end, line, column))
                line += text.count("\n", pos, end)
                line_start = text.rfind("\n", pos, end) + 1
            elif kind in ("badstring", "badcomment"):
                if self.problem is None:
                    what = "string" if kind == "badstring" else "comment"
                    self.problem = (f"unterminated {what}", line, column)
                if kind == "badcomment":
                    return
                tokens.append(("string", pos, end, line, column))
            else:
                if kind == "bcomment" and "\n" in found.group():
                    line += found.group().count("\n")
                    line_start = text.rfind("\n", pos, end) + 1
                tokens.append((kind, pos, end, line, column))
            pos = end


# --- the HCL1 rewrite ---------------------------------------------------------------

_KEY, _HEADER, _VALUE, _AFTER = range(4)
_CLOSER_OF = {"body": "}", "object": "}", "tuple": "]", "paren": ")"}


class _Frame:
    """One open bracket (or the file itself) while scanning."""

    __slots__ = ("closers", "header", "kind", "label", "open", "state")

    def __init__(self, kind: str, open_index: int, label: str = "") -> None:
        self.kind = kind  # body (file or block), object, tuple, paren
        self.open = open_index  # token index of the opening bracket, -1 for the file
        self.label = label  # "block `x`" / "object" / "list" for messages
        self.state = _KEY
        self.header: list[int] = []
        self.closers = 0  # extra `}` to insert before the closing one


class _Plan:
    """What one pass over the tokens found and would change."""

    def __init__(self) -> None:
        self.edits: list[tuple[int, int, str]] = []
        self.markers: dict[int, int] = {}  # original offset of a block name -> label count
        self.convert: set[int] = set()  # `{` of block bodies to rewrite as objects
        self.unclosed: list[_Frame] = []
        self.bad_closers: dict[int, _Frame | None] = {}  # token index -> frame left open
        self.unfixable: set[int] = set()  # quoted top-level names that are not identifiers
        self.frame_at: _Frame | None = None  # the innermost frame at token `stop`


def _plan(text: str, tokens: list[_Tok], convert: set[int], stop: int = -1) -> _Plan:
    """Walk the tokens with a small state machine tracking bodies, objects and values."""
    return _Planner(text, tokens, convert).run(stop)


class _Planner:
    """The state machine of :func:`_plan`: a stack of frames (bodies, objects, lists,
    parentheses), each in a state (key, header, value, after a value)."""

    def __init__(self, text: str, tokens: list[_Tok], convert: set[int]) -> None:
        self.text = text
        self.tokens = tokens
        self.convert = convert
        self.plan = _Plan()
        self.edits = self.plan.edits
        self.stack = [_Frame("body", -1)]

    def run(self, stop: int) -> _Plan:
        for index in range(len(self.tokens)):
            if index == stop:
                self.plan.frame_at = self.stack[-1]
            self.token(index)
        self.plan.unclosed = self.stack[1:]
        return self.plan

    def token(self, index: int) -> None:
        kind, start, end, _, _ = self.tokens[index]
        if kind == "comment":
            return
        if kind == "bcomment":
            self.edits.append((start, end, re.sub(r"[^\n]", " ", self.text[start:end])))
            return
        if kind == "string" and ("$${" in self.text[start:end] or "%%{" in self.text[start:end]):
            # \u0024 is `$`: the same string without needing a closing `}`
            piece = self.text[start:end]
            piece = piece.replace("$${", "\\u0024{").replace("%%{", "\\u0025{")
            self.edits.append((start, end, piece))
        frame = self.stack[-1]
        if kind in ("}", "]", ")"):
            self.close(frame, index)
        elif frame.kind in ("tuple", "paren"):
            if kind in ("{", "[", "("):
                self.open_value(kind, index)
        else:
            self.step(frame, index)

    def close(self, frame: _Frame, index: int) -> None:
        kind, start, _, _, _ = self.tokens[index]
        if len(self.stack) == 1:
            self.plan.bad_closers.setdefault(index, None)
            return
        if _CLOSER_OF[frame.kind] != kind:
            self.plan.bad_closers.setdefault(index, frame)
        self.stack.pop()
        if frame.closers:
            self.edits.append((start, start, "}" * frame.closers))
        self.stack[-1].state = _AFTER

    def step(self, frame: _Frame, index: int) -> None:
        """One token of a body or an object."""
        kind, start, end, _, _ = self.tokens[index]
        state = frame.state
        if kind == "nl":
            if state == _AFTER:
                frame.state = _KEY
        elif state == _HEADER:
            if kind in ("name", "string"):
                frame.header.append(index)
            elif kind in ("=", ":"):
                if len(frame.header) == 1:
                    self.quoted_name(frame, frame.header[0])
                frame.state = _VALUE
            elif kind == "{":
                frame.state = _AFTER
                self.open_block(frame, index)
            else:
                frame.state = _KEY
        elif kind in ("name", "string") and state in (_KEY, _AFTER):
            frame.header = [index]
            frame.state = _HEADER
        elif kind == ",":
            if frame.kind == "body" and state == _AFTER:
                self.edits.append((start, end, " "))
            frame.state = _KEY
        elif kind in ("{", "[", "("):
            frame.state = _AFTER  # once the bracket closes
            self.open_value(kind, index)
        elif state == _VALUE:
            if kind in ("name", "string", "number", "heredoc"):
                frame.state = _AFTER
        elif state == _AFTER:
            frame.state = _VALUE  # an operator or `.`: the expression goes on

    def quoted_name(self, frame: _Frame, index: int) -> int:
        """Fix a quoted name in a body (HCL1 allows it, HCL2 does not); return its shift."""
        kind, start, end, _, _ = self.tokens[index]
        if kind != "string" or frame.kind != "body":
            return 0
        if _NAME.fullmatch(self.text, start + 1, end - 1):
            self.edits.append((start, start + 1, " "))  # blanks keep the columns
            self.edits.append((end - 1, end, " "))
            return 1
        if frame.open >= 0:
            self.plan.convert.add(frame.open)
        else:
            self.plan.unfixable.add(index)
        return 0

    def open_block(self, frame: _Frame, brace: int) -> None:
        tokens = self.tokens
        header = frame.header
        first = tokens[header[0]]
        label = f"block `{self.text[first[1] : first[2]]}`"
        shift = 0
        if frame.kind == "body":
            shift = self.quoted_name(frame, header[0])
            if brace not in self.convert:
                self.stack.append(_Frame("body", brace, label))
                return
        # `name "l1" l2 {` -> `name = { "l1" = { l2 = {`, closed by two extra `}`
        for index in header[:-1]:
            self.edits.append((tokens[index][2], tokens[index][2], " = {"))
        self.edits.append((tokens[header[-1]][2], tokens[header[-1]][2], " ="))
        self.plan.markers[first[1] + shift] = len(header) - 1
        child = _Frame("object", brace, label)
        child.closers = len(header) - 1
        self.stack.append(child)

    def open_value(self, kind: str, index: int) -> None:
        if kind == "{":
            self.stack.append(_Frame("object", index, "object"))
        elif kind == "[":
            self.stack.append(_Frame("tuple", index, "list"))
        else:
            self.stack.append(_Frame("paren", index, "`(`"))


def _rewrite(text: str, scan: _Scan) -> _Rewrite | None:
    """The HCL1-compatible rewrite of ``text``, or None when there is nothing to change."""
    first = _plan(text, scan.tokens, set())
    plan = _plan(text, scan.tokens, first.convert) if first.convert else first
    if not plan.edits:
        return None
    return _Rewrite(text, plan.edits, plan.markers)


def _parse_rewritten(
    source: _Source, parser: Any, lark_error: type[Exception], first: Exception | None
) -> RawDict:
    """Parse the HCL1-compatible rewrite of a text python-hcl2 rejected (or misread).

    ``first`` is python-hcl2's error on the text as written (None if it misread it).
    When the rewrite fails too, the error reported is the first in the text among an
    unterminated string, comment or heredoc and the syntax error that got furthest.
    """
    scan = _Scan(source.text)
    rewrite = _rewrite(source.text, scan)
    second: Exception | None = None
    if rewrite is not None:
        try:
            tree = parser.parse(rewrite.text + "\n")
        except lark_error as exc:
            second = exc
        else:
            source.rewrite = rewrite
            return _Walker(source, rewrite.markers).document(tree)
    error: Exception | None = first
    error_rewrite: _Rewrite | None = None
    if second is not None and (
        first is None
        or _lark_position(source, second, rewrite) > _lark_position(source, first, None)
    ):
        error, error_rewrite = second, rewrite
    if scan.problem is not None:
        reason, line, column = scan.problem
        if error is None or (line, column) <= _lark_position(source, error, error_rewrite):
            raise source.error(reason, line, column)
    if error is None:  # pragma: no cover - a misread that the rewrite does not change
        raise source.error("`$${` or `%%{` needs a closing `}` in the same string")
    raise _syntax_error(source, scan, error, error_rewrite)


# --- syntax errors --------------------------------------------------------------------

_END = (1 << 62, 0)  # sorts after every real position


def _lark_where(
    source: _Source, exc: Exception, rewrite: _Rewrite | None
) -> tuple[int, int, int] | None:
    """(line, column, offset) in the original text of a lark error; None for end of file."""
    token = getattr(exc, "token", None)
    if token is not None:
        line, column = getattr(token, "line", None), getattr(token, "column", None)
        offset = getattr(token, "start_pos", None)
    else:
        line, column = getattr(exc, "line", None), getattr(exc, "column", None)
        offset = getattr(exc, "pos_in_stream", None)
    if getattr(token, "type", None) in ("$END", "<EOF>"):
        return None
    if not isinstance(line, int) or not isinstance(column, int) or line < 1:
        return None
    if not isinstance(offset, int):
        return line, column, source.position_to_offset(line, column)
    if rewrite is not None:
        offset = rewrite.original_offset(offset)
    offset = min(offset, len(source.text))
    line, column = source.offset_to_position(offset)
    return line, column, offset


def _lark_position(source: _Source, exc: Exception, rewrite: _Rewrite | None) -> tuple[int, int]:
    where = _lark_where(source, exc, rewrite)
    return _END if where is None else (where[0], where[1])


_VALUE_TERMINALS = {"DBLQUOTE", "INT_LITERAL", "LSQB", "HEREDOC_TEMPLATE"}
_AFTER_VALUE_TERMINALS = {"RBRACE", "RSQB", "COMMA", "NL_OR_COMMENT", "RPAR"}


def _header_before(text: str, tokens: list[_Tok], index: int) -> str:
    """The block header (name and labels) that ends just before token ``index``."""
    while index > 0 and tokens[index - 1][0] == "nl":
        index -= 1
    names: list[str] = []
    while index > 0 and tokens[index - 1][0] in ("name", "string"):
        index -= 1
        names.append(text[tokens[index][1] : tokens[index][2]])
    if index > 0 and tokens[index - 1][0] in ("=", ":") and names:
        names.pop()  # that one was a value
    return " ".join(reversed(names))


def _hint(expected: set[str], header: str, top_level: bool = False) -> str:
    """What the parser expected, in words."""
    if len(expected) > 20:  # lark lost track (e.g. after an unknown character)
        return ""
    if expected & _VALUE_TERMINALS and not expected & _AFTER_VALUE_TERMINALS:
        return "; expected a value"
    if "LBRACE" in expected and not expected & _VALUE_TERMINALS:
        return f"; expected `=` or `{{` after `{header}`" if header else "; expected `=` or `{`"
    if expected & {"EQ", "COLON"}:
        return f"; expected `=` after `{header}`" if header else "; expected `=`"
    if "RSQB" in expected:
        return "; expected `,` or `]`"
    if "RPAR" in expected:
        return "; expected `)`"
    if "RBRACE" in expected:
        if "COMMA" in expected:
            return "; expected `,`, a new line or `}`"
        return "; expected a new line" if top_level else "; expected a new line or `}`"
    return ""


def _describe(text: str, token: _Tok) -> str:
    kind, start, end, _, _ = token
    piece = text[start:end]
    if kind == "nl":
        return "end of line"
    if kind == "heredoc":
        return "heredoc"
    if kind == "string":
        return f"string {piece[:40]}{'...' if len(piece) > 40 else ''}"
    if kind in ("comment", "bcomment"):
        return "comment"
    if kind == "other" and piece == "'":
        return "`'` (strings are written in double quotes)"
    if not piece.isprintable():
        return f"character {piece!r}"
    return f"`{piece}`"


def _syntax_error(
    source: _Source, scan: _Scan, exc: Exception, rewrite: _Rewrite | None
) -> ParseError:
    """A ParseError for a lark error, worded from our own scan of the original text."""
    text, tokens = source.text, scan.tokens
    expected = getattr(exc, "expected", None) or getattr(exc, "allowed", None) or ()
    expected = {str(term) for term in expected}
    where = _lark_where(source, exc, rewrite)
    index = len(tokens)
    if where is not None:
        index = bisect_right(tokens, where[2], key=lambda token: token[1]) - 1
        if index < 0 or tokens[index][2] <= where[2]:
            index += 1  # the error is in whitespace: name the next token
    plan = _plan(text, tokens, set(), index)
    for number, after in pairwise(tokens[: index + 1]):
        if number[0] == "number" and after[0] == "name" and number[2] == after[1]:
            # `0x1f`, `10s`: lark would only complain later, about something else
            piece = text[number[1] : after[2]]
            if piece[:2] in ("0x", "0X"):
                reason = f"invalid number `{piece}`: hexadecimal numbers are not supported"
            else:
                reason = f'invalid number `{piece}` (did you mean "{piece}"?)'
            return source.error(reason, *number[3:])
    if where is None:
        if plan.unclosed:
            frame = plan.unclosed[-1]
            _, _, _, line, column = tokens[frame.open]
            return source.error(
                f"missing closing `{_CLOSER_OF[frame.kind]}` for {frame.label} opened at "
                f"line {line} (end of file reached)",
                line,
                column,
            )
        hint = _hint(expected, _header_before(text, tokens, len(tokens)))
        last = len(source.line_starts())
        return source.error(f"unexpected end of file{hint}", last + 1)
    line, column, _ = where
    if index >= len(tokens):
        return source.error(f"unexpected end of file{_hint(expected, '')}", line, column)
    token = tokens[index]
    kind = token[0]
    if index in plan.bad_closers:
        left_open = plan.bad_closers[index]
        if left_open is None:
            return source.error(f"unexpected `{kind}`: nothing is open here", line, column)
        opened = tokens[left_open.open][3]
        return source.error(
            f"unexpected `{kind}`: the {left_open.label} opened at line {opened} needs "
            f"`{_CLOSER_OF[left_open.kind]}` first",
            line,
            column,
        )
    if index in plan.unfixable:
        return source.error(
            f"unexpected string {text[token[1] : token[2]]}: at the top level of a file a name "
            "may be quoted only if it is a plain identifier (letters, digits, `_`, `-`)",
            line,
            column,
        )
    top_level = plan.frame_at is not None and plan.frame_at.open < 0
    hint = _hint(expected, _header_before(text, tokens, index), top_level)
    return source.error(f"unexpected {_describe(text, token)}{hint}", line, column)


# --- the tree walk ------------------------------------------------------------------

_ESCAPE = re.compile(r"\\(?:u([0-9A-Fa-f]{4})|U([0-9A-Fa-f]{8})|(.))", re.DOTALL)
_SIMPLE_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}
_TEMPLATE = re.compile(r"\$\$\{|%%\{|\$\{|%\{")
_LITERALS = {"TRUE": True, "FALSE": False, "NULL": None}
_EXPRESSIONS = {
    "function_call": "a function call",
    "binary_op": "an operator",
    "unary_op": "an operator",
    "conditional": "a conditional",
    "for_tuple_expr": "a `for` expression",
    "for_object_expr": "a `for` expression",
    "attr_splat_expr_term": "a splat",
    "full_splat_expr_term": "a splat",
    "get_attr_expr_term": "an attribute access",
    "index_expr_term": "an index",
    "template_string": "a template",
}
_INTERPOLATION = "interpolation is not supported; write $${ for a literal ${"
_DIRECTIVE = "template directives are not supported; write %%{ for a literal %{"


class _Walker:
    """Turns python-hcl2's lark parse tree into a raw tree."""

    def __init__(self, source: _Source, markers: dict[int, int]) -> None:
        self.source = source
        self.name = source.name
        # offsets of attributes that the HCL1 rewrite made out of blocks -> label count
        self.markers = markers
        # (id of a dict, block name) -> the dict that collects that name's labels
        self.containers: dict[tuple[int, str], RawDict] = {}
        self.value_of = {
            "string": self.string,
            "int_lit": self.integer,
            "object": self.mapping,
            "tuple": self.sequence,
            "literal_value": self.literal,
            "float_lit": self.floating,
            "heredoc_template": self.heredoc,
            "heredoc_template_trim": self.heredoc,
            "identifier": self.bare_word,
        }

    # errors

    def fail(self, reason: str, line: int, column: int, offset: int | None) -> NoReturn:
        line, column = self.source.position(line, column, offset)
        raise self.source.error(reason, line, column)

    def fail_token(self, reason: str, token: Any) -> NoReturn:
        self.fail(reason, token.line, token.column, token.start_pos)

    def fail_node(self, reason: str, node: Any) -> NoReturn:
        meta = node.meta
        self.fail(
            reason,
            getattr(meta, "line", 1),
            getattr(meta, "column", 1),
            getattr(meta, "start_pos", None),
        )

    # structure

    def document(self, tree: Any) -> RawDict:
        out = RawDict(file=self.name, line=1)
        self.body(tree.children[0], out)
        return out

    def body(self, tree: Any, out: RawDict) -> None:
        seen: dict[str, int] = {}  # attribute name -> line, to report duplicates
        markers = self.markers
        for child in tree.children:
            data = child.data
            if data == "attribute":
                name_tree, _, expression = child.children
                token = name_tree.children[0]
                if markers and token.start_pos in markers:
                    self.rewritten_block(out, seen, token.value, token, expression)
                else:
                    self.put(out, seen, token.value, self.value(expression), token)
            elif data == "block":
                self.block(child, out, seen)

    def block(self, tree: Any, out: RawDict, seen: dict[str, int]) -> None:
        names: list[str] = []
        body: Any = None
        token: Any = None
        for child in tree.children:
            if child.__class__ is not _Tree:
                continue
            data = child.data
            if data == "body":
                body = child
            elif data == "string":
                if token is None:  # pragma: no cover - the grammar starts with a name
                    token = child.children[0]
                names.append(self.string(child))
            elif data != "new_line_or_comment":
                if token is None:
                    token = child.children[0]
                names.append(child.children[0].value)
        inner = RawDict(file=self.name, line=token.line)
        self.body(body, inner)
        self.put_block(out, seen, names, inner, token)

    def rewritten_block(
        self, out: RawDict, seen: dict[str, int], key: str, token: Any, expression: Any
    ) -> None:
        # `name = { "l1" = { body } }`, made by the rewrite from `name "l1" { body }`
        names = [key]
        inner = self.value(expression)
        for _ in range(self.markers[token.start_pos]):
            ((label, inner),) = inner.items()
            names.append(label)
        inner.line = token.line
        self.put_block(out, seen, names, inner, token)

    def put(self, out: RawDict, seen: dict[str, int], key: str, value: Any, token: Any) -> None:
        """Add attribute ``key``, refusing duplicates; a list merges with blocks of the name."""
        line = token.line
        if key not in out:
            out[key] = value
            out.key_lines[key] = line
            seen[key] = line
            return
        if key in seen:
            self.fail_token(
                f"duplicate attribute `{key}` (first at line {seen[key]}, again at line {line})",
                token,
            )
        seen[key] = line
        if not isinstance(value, RawList):
            self.fail_token(
                f"`{key}` is defined both as an attribute and as a block "
                f"(lines {out.key_lines[key]} and {line})",
                token,
            )
        existing = out[key]
        existing.extend(value)
        existing.item_lines.extend(value.item_lines)

    def put_block(
        self, out: RawDict, seen: dict[str, int], names: list[str], inner: RawDict, token: Any
    ) -> None:
        key = names[0]
        if len(names) > 1:
            container = self.containers.get((id(out), key))
            if container is None:
                container = RawDict(file=self.name, line=token.line)
                self.containers[(id(out), key)] = container
                self.add_block(out, seen, key, container, token)
            self.put_block(container, {}, names[1:], inner, token)
        else:
            self.add_block(out, seen, key, inner, token)

    def add_block(
        self, out: RawDict, seen: dict[str, int], key: str, item: RawDict, token: Any
    ) -> None:
        line = token.line
        if key not in out:
            out[key] = RawList([item], file=self.name, line=line, item_lines=[line])
            out.key_lines[key] = line
            out.block_keys.add(key)
            return
        existing = out[key]
        if key not in out.block_keys:
            if not isinstance(existing, RawList):
                self.fail_token(
                    f"`{key}` is defined both as an attribute and as a block "
                    f"(lines {out.key_lines[key]} and {line})",
                    token,
                )
            out.block_keys.add(key)
        existing.append(item)
        existing.item_lines.append(line)

    # values

    def value(self, node: Any) -> Any:
        if node.data == "expr_term":
            children = node.children
            if len(children) == 1:
                inner = children[0]
                handler = self.value_of.get(inner.data)
                if handler is not None:
                    return handler(inner)
                self.expression(inner)
            self.fail_node("expressions are not supported (parentheses); write a literal", node)
        if node.data == "unary_op":
            sign, term = node.children
            if sign.type == "MINUS" and len(term.children) == 1:
                inner = term.children[0]
                if inner.data in ("int_lit", "float_lit"):
                    return -self.value_of[inner.data](inner)
        self.expression(node)

    def expression(self, node: Any) -> NoReturn:
        what = _EXPRESSIONS.get(node.data, "an expression")
        if node.data == "function_call":
            what = f"a function call `{node.children[0].children[0].value}(...)`"
        self.fail_node(f"expressions are not supported ({what}); write a literal value", node)

    def bare_word(self, node: Any) -> NoReturn:
        token = node.children[0]
        word = token.value
        self.fail_token(
            f'bare word {word} where a value is expected (did you mean "{word}"?)', token
        )

    def literal(self, node: Any) -> Any:
        return _LITERALS[node.children[0].type]

    def integer(self, node: Any) -> int:
        token = node.children[0]
        text = token.value
        digits = text.lstrip("-")
        if digits[0] == "0" and len(digits) > 1:
            self.fail_token(
                f"number {text} has a leading zero, which Consul's HCL reads as octal; "
                "write it without the zero, or quote it",
                token,
            )
        try:
            return int(text)
        except ValueError:  # more digits than Python converts
            self.fail_token(f"number {text[:20]}... is too long", token)

    def floating(self, node: Any) -> float:
        return float(node.children[0].value)

    def string(self, node: Any) -> str:
        children = node.children
        if len(children) == 3:
            part = children[1].children[0]
            if part.__class__ is _Token and part.type == "STRING_CHARS":
                raw = part.value
                if "\\" not in raw and "\n" not in raw:
                    return str(raw)
        pieces: list[str] = []
        for part_tree in children[1:-1]:
            part = part_tree.children[0]
            if part.__class__ is _Tree:
                reason = _DIRECTIVE if part.data.startswith("template") else _INTERPOLATION
                self.fail_node(reason, part)
            raw = part.value
            if "\n" in raw or (part.type != "STRING_CHARS" and '"' in raw):
                if part.type != "STRING_CHARS" and self.source.rewrite is None:
                    # python-hcl2 ran `$${` on past the closing quote to a later `}`
                    raise _Misread
                self.fail_token("unterminated string", children[0])
            if part.type == "STRING_CHARS":
                pieces.append(self.unescape(raw, part) if "\\" in raw else raw)
            else:
                # `$${` or `%%{` (a literal `${` or `%{`), which python-hcl2 runs on to
                # the next `}`: the rest is ordinary string text
                pieces.append(raw[1:3])
                pieces.append(self.template_text(raw[3:], part, 3))
        return "".join(pieces)

    def template_text(self, raw: str, token: Any, at: int) -> str:
        """String text that may hold `$${`, `%%{` (literals) or `${`, `%{` (errors)."""
        pieces: list[str] = []
        done = 0
        for match in _TEMPLATE.finditer(raw):
            found = match.group()
            if found in ("${", "%{"):
                where = at + match.start()
                self.fail(
                    _INTERPOLATION if found == "${" else _DIRECTIVE,
                    token.line,
                    token.column + where,
                    token.start_pos + where,
                )
            pieces.append(self.unescape(raw[done : match.start()], token, at + done))
            pieces.append(found[1:])
            done = match.end()
        pieces.append(self.unescape(raw[done:], token, at + done))
        return "".join(pieces)

    def unescape(self, raw: str, token: Any, at: int = 0) -> str:
        """Decode the backslash escapes of ``raw``, found ``at`` characters into ``token``."""
        if "\\" not in raw:
            return raw

        def replace(match: re.Match[str]) -> str:
            short, long, char = match.groups()
            where = at + match.start()
            if char is not None:
                if char in _SIMPLE_ESCAPES:
                    return _SIMPLE_ESCAPES[char]
                self.fail(
                    f"unknown escape sequence \\{char} (write \\\\ for a backslash)",
                    token.line,
                    token.column + where,
                    token.start_pos + where,
                )
            code = int(short or long, 16)
            if code > 0x10FFFF:
                self.fail(
                    f"invalid escape sequence {match.group()}",
                    token.line,
                    token.column + where,
                    token.start_pos + where,
                )
            return chr(code)

        text = _ESCAPE.sub(replace, raw)
        if "\\u" in raw:
            try:  # a pair of \u escapes may encode one character beyond U+FFFF
                text = text.encode("utf-16", "surrogatepass").decode("utf-16")
            except UnicodeDecodeError:
                self.fail_token("invalid \\u escape: unpaired surrogate", token)
        return text

    def heredoc(self, node: Any) -> str:
        token = node.children[0]
        lines = token.value.split("\n")
        body = lines[1:-2]  # between `<<EOF` and the closing marker
        if node.data == "heredoc_template_trim" and body:
            indent = min(
                (len(line) - len(line.lstrip(" \t")) for line in body if line.strip(" \t")),
                default=0,
            )
            body = [line[indent:] for line in body]
        text = "\n".join(body) + "\n" if body else ""
        if "${" not in text and "%{" not in text:
            return text
        pieces: list[str] = []
        done = 0
        for match in _TEMPLATE.finditer(text):
            found = match.group()
            if found in ("${", "%{"):
                self.fail_token(_INTERPOLATION if found == "${" else _DIRECTIVE, token)
            pieces.append(text[done : match.start()] + found[1:])
            done = match.end()
        pieces.append(text[done:])
        return "".join(pieces)

    def sequence(self, node: Any) -> RawList:
        children = node.children
        out = RawList(file=self.name, line=children[0].line)
        lines = out.item_lines
        value = self.value
        for child in children:
            if child.__class__ is _Tree and child.data != "new_line_or_comment":
                out.append(value(child))
                lines.append(child.meta.line)
        return out

    def mapping(self, node: Any) -> RawDict:
        children = node.children
        out = RawDict(file=self.name, line=children[0].line)
        seen: dict[str, int] = {}
        markers = self.markers
        for child in children:
            if child.__class__ is _Tree and child.data == "object_elem":
                key_tree, _, expression = child.children
                key, token = self.key(key_tree.children[0])
                if markers and token.start_pos in markers:
                    self.rewritten_block(out, seen, key, token, expression)
                else:
                    self.put(out, seen, key, self.value(expression), token)
        return out

    def key(self, node: Any) -> tuple[str, Any]:
        """An object key: a name or a string (both mean the string)."""
        if node.data == "expr_term" and len(node.children) == 1:
            node = node.children[0]
        data = node.data
        if data == "string":
            return self.string(node), node.children[0]
        if data in ("identifier", "keyword", "literal_value"):
            token = node.children[0]
            return str(token.value), token
        self.fail_node("object keys must be names or strings", node)
