"""Consul filter expressions (hashicorp/go-bexpr), as used by service-resolver subsets::

    Subsets = { v1 = { Filter = "Service.Meta.version == v1" } }

:func:`compile_filter` parses and type-checks an expression once (results are cached);
:meth:`Filter.matches` then tests one service instance.

Grammar (go-bexpr)::

    expr   := or
    or     := and ("or" and)*
    and    := unary ("and" unary)*
    unary  := "not" unary | "(" expr ")" | match
    match  := Sel "==" V | Sel "!=" V | Sel "is" "empty" | Sel "is" "not" "empty"
            | V "in" Sel | V "not" "in" Sel | Sel "contains" V | Sel "not" "contains" V
            | Sel "matches" V | Sel "not" "matches" V

* A selector is a dotted path of names (``[A-Za-z][A-Za-z0-9_]*``), where a map key may
  also be written ``["any text"]``: ``Service.Meta.version``, ``Service.Meta["my key"]``.
* A value is a double-quoted string (Go escapes), a backquoted raw string, a number
  (``8080``, ``-1``, ``1.5``) or a bare name or dotted path (``v1``, ``true``), which is
  taken as literal text. Anything else (``rack-1``) must be quoted, as in Consul.
* Keywords are lowercase. ``and``, ``or``, ``in``, ``contains``, ``matches`` and ``is``
  need whitespace on both sides and ``not`` needs it after, as in go-bexpr: Consul rejects
  ``a == "b"and c == "d"``.

Selectors are checked at compile time against the schema of Consul's
``CheckServiceNode`` (see :func:`compile_filter`); an unknown field, an operator the
field's type does not support or a value that does not fit the field is a
:class:`~meshgw.errors.ParseError`. Consul checks only the syntax when a resolver is
written (``bexpr.CreateEvaluator(filter, nil)``); a wrong field name surfaces later, when
it applies the filter while building a gateway's or sidecar's endpoints.
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Callable, Iterable, Mapping
from enum import Enum
from typing import Any, NamedTuple

import attrs
import re2  # type: ignore[import-untyped]

from meshgw.errors import ParseError

__all__ = ["Filter", "compile_filter", "re2_problem"]

Context = Mapping[str, Any]
_Test = Callable[[Context], bool]


@attrs.frozen
class Filter:
    """A compiled filter expression. Equal filters have equal :attr:`expression` text."""

    expression: str
    _test: _Test = attrs.field(repr=False, eq=False)

    def matches(self, context: Context) -> bool:
        """Whether one service instance satisfies the filter.

        ``context`` is a mapping shaped like Consul's ``CheckServiceNode``:
        ``{"Node": {...}, "Service": {...}, "Checks": [...]}`` with Consul's field names
        (``Service.Meta``, ``Service.Tags``, ``Node.Meta``, ...). Absent keys and ``None``
        values count as missing: ``==``, ``in``, ``contains`` and ``matches`` are false,
        their negations true, ``is empty`` true.
        """
        return self._test(context)


@functools.lru_cache(maxsize=1024)
def compile_filter(expression: str) -> Filter:
    """Parse and type-check a filter expression.

    Valid selectors (field names exact-case, as in Consul's API)::

        Node.ID  Node.Node  Node.Address  Node.Datacenter
        Node.TaggedAddresses.<key>  Node.Meta.<key>                      (strings)
        Service.Kind  Service.ID  Service.Service  Service.Address
        Service.Namespace  Service.Partition                              (strings)
        Service.Tags                                                      (list of strings)
        Service.Meta.<key>                                                (strings)
        Service.TaggedAddresses.<key>.Address / .Port                     (string / integer)
        Service.Port  Service.Weights.Passing  Service.Weights.Warning    (integers)
        Service.EnableTagOverride  Service.Connect.Native                 (booleans)
        Service.Proxy.DestinationServiceName  .DestinationServiceID
        Service.Proxy.LocalServiceAddress  .Mode  (strings)  .LocalServicePort (integer)
        Checks                                                            (emptiness only)

    Operators by type: strings take every operator (``in``/``contains`` is a substring
    test, ``matches`` a regular-expression search, ``is empty`` a length test); integers
    and booleans take ``==`` and ``!=``; lists take ``in``/``contains`` (membership) and
    ``is empty``; maps take ``in``/``contains`` (key present) and ``is empty``.
    ``matches`` on a list or map is refused: go-bexpr rejects it too, so Consul could not
    apply such a filter.

    Raises :class:`~meshgw.errors.ParseError` with ``column`` (1-based, counted in
    characters from the start of ``expression``) and ``excerpt`` set; ``file`` and
    ``line`` are left for the caller, who knows where the expression came from.
    """
    return Filter(expression, _Parser(expression).parse())


# ======================================================================================
# Schema
# ======================================================================================


class _Kind(Enum):
    STRING = "a string"
    INT = "an integer"
    BOOL = "a boolean"
    LIST = "a list of strings"
    MAP = "a map"
    STRUCT = "a structure"
    CHECKS = "a list of health checks"


class _Op(Enum):
    EQ = "=="
    NE = "!="
    EMPTY = "is empty"
    NOT_EMPTY = "is not empty"
    IN = "in"
    NOT_IN = "not in"
    CONTAINS = "contains"
    NOT_CONTAINS = "not contains"
    MATCHES = "matches"
    NOT_MATCHES = "not matches"


_NEGATED = {_Op.NE, _Op.NOT_EMPTY, _Op.NOT_IN, _Op.NOT_CONTAINS, _Op.NOT_MATCHES}
_ALL_OPS = frozenset(_Op)
_EQUALITY = frozenset({_Op.EQ, _Op.NE})
_EMPTINESS = frozenset({_Op.EMPTY, _Op.NOT_EMPTY})
_MEMBERSHIP = frozenset({_Op.IN, _Op.NOT_IN, _Op.CONTAINS, _Op.NOT_CONTAINS})

# Which operators each type supports. go-bexpr's typed validation (field_config.go) allows
# the same, except that it refuses ``is empty`` on strings; meshgw accepts that so that a
# missing or blank map value can be tested for.
_SUPPORTED: dict[_Kind, frozenset[_Op]] = {
    _Kind.STRING: _ALL_OPS,
    _Kind.INT: _EQUALITY,
    _Kind.BOOL: _EQUALITY,
    _Kind.LIST: _MEMBERSHIP | _EMPTINESS,
    _Kind.MAP: _MEMBERSHIP | _EMPTINESS,
    _Kind.STRUCT: frozenset(),
    _Kind.CHECKS: _EMPTINESS,
}


@attrs.frozen
class _Field:
    kind: _Kind
    fields: Mapping[str, _Field] = attrs.field(factory=dict)  # STRUCT: its fields
    values: _Field | None = None  # MAP: the type of every value


_STR = _Field(_Kind.STRING)
_INT = _Field(_Kind.INT)
_BOOL = _Field(_Kind.BOOL)
_STR_MAP = _Field(_Kind.MAP, values=_STR)


def _struct(**fields: _Field) -> _Field:
    return _Field(_Kind.STRUCT, fields=fields)


_SCHEMA = _struct(
    Node=_struct(
        ID=_STR,
        Node=_STR,
        Address=_STR,
        Datacenter=_STR,
        TaggedAddresses=_STR_MAP,
        Meta=_STR_MAP,
    ),
    Service=_struct(
        Kind=_STR,
        ID=_STR,
        Service=_STR,
        Tags=_Field(_Kind.LIST),
        Address=_STR,
        TaggedAddresses=_Field(_Kind.MAP, values=_struct(Address=_STR, Port=_INT)),
        Meta=_STR_MAP,
        Port=_INT,
        Weights=_struct(Passing=_INT, Warning=_INT),
        EnableTagOverride=_BOOL,
        Proxy=_struct(
            DestinationServiceName=_STR,
            DestinationServiceID=_STR,
            LocalServiceAddress=_STR,
            LocalServicePort=_INT,
            Mode=_STR,
        ),
        Connect=_struct(Native=_BOOL),
        Namespace=_STR,
        Partition=_STR,
    ),
    Checks=_Field(_Kind.CHECKS),
)


# ======================================================================================
# Tokenizer
# ======================================================================================


class _T(Enum):
    WORD = "word"
    NUMBER = "number"
    STRING = "string"
    EQ = "=="
    NE = "!="
    DOT = "."
    LBRACKET = "["
    RBRACKET = "]"
    LPAREN = "("
    RPAREN = ")"
    BAD = "character"
    EOF = "end of expression"


class _Token(NamedTuple):
    kind: _T
    text: str  # the source text
    value: str  # decoded text of a string literal; the source text otherwise
    start: int  # 0-based offset
    space_before: bool  # whitespace (or the start of the expression) precedes it

    @property
    def column(self) -> int:
        return self.start + 1

    def describe(self) -> str:
        if self.kind is _T.EOF:
            return "end of expression"
        if self.kind is _T.STRING:
            return f"string {self.text}"
        if self.kind is _T.NUMBER:
            return f"number {self.text}"
        if self.kind is _T.BAD:
            return f"character {self.text!r}"
        return repr(self.text)


_SPACE = " \t\r\n"  # go-bexpr's whitespace
_SCAN = re.compile(
    r"(?P<number>-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?)"
    r"|(?P<word>[A-Za-z][A-Za-z0-9_]*)"
    r"|(?P<op>==|!=)"
    r"|(?P<punct>[.\[\]()])"
)
_PUNCT = {".": _T.DOT, "[": _T.LBRACKET, "]": _T.RBRACKET, "(": _T.LPAREN, ")": _T.RPAREN}
_SIMPLE_ESCAPES = {
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
    '"': '"',
}
_HEX_ESCAPES = {"x": 2, "u": 4, "U": 8}


class _Source:
    """The expression text, for positioned errors."""

    def __init__(self, text: str) -> None:
        self.text = text

    def error(self, reason: str, offset: int) -> ParseError:
        # A one-line expression is its own excerpt; for a multi-line one the column is
        # still an offset into the whole text, so an excerpt would put the caret wrong.
        excerpt = self.text if "\n" not in self.text else ""
        return ParseError(reason, column=offset + 1, excerpt=excerpt)


def _tokenize(src: _Source) -> list[_Token]:
    text = src.text
    tokens: list[_Token] = []
    pos = 0
    space = True
    while True:
        while pos < len(text) and text[pos] in _SPACE:
            pos += 1
            space = True
        if pos >= len(text):
            tokens.append(_Token(_T.EOF, "", "", pos, True))
            return tokens
        char = text[pos]
        if char in '"`':
            end, value = _scan_string(src, pos)
            tokens.append(_Token(_T.STRING, text[pos:end], value, pos, space))
            pos = end
        elif match := _SCAN.match(text, pos):
            group = match.lastgroup
            lexeme = match.group()
            if group == "number":
                kind = _T.NUMBER
            elif group == "word":
                kind = _T.WORD
            elif group == "op":
                kind = _T.EQ if lexeme == "==" else _T.NE
            else:
                kind = _PUNCT[lexeme]
            tokens.append(_Token(kind, lexeme, lexeme, pos, space))
            pos = match.end()
        else:
            # Left for the parser, which can say what was expected there.
            tokens.append(_Token(_T.BAD, char, char, pos, space))
            pos += 1
        space = False


def _scan_string(src: _Source, start: int) -> tuple[int, str]:
    """Scan a string literal at ``start``; return its end offset and decoded value."""
    text = src.text
    quote = text[start]
    if quote == "`":
        end = text.find("`", start + 1)
        if end < 0:
            raise src.error("unterminated string literal", start)
        # Go drops carriage returns from raw strings.
        return end + 1, text[start + 1 : end].replace("\r", "")
    out: list[str] = []
    pos = start + 1
    while pos < len(text):
        char = text[pos]
        if char == '"':
            return pos + 1, "".join(out)
        if char == "\n":
            raise src.error("newline in string literal (use \\n, or a `raw string`)", pos)
        if char != "\\":
            out.append(char)
            pos += 1
            continue
        out.append(_decode_escape(src, pos))
        pos += _escape_length(text, pos)
    raise src.error("unterminated string literal", start)


def _escape_length(text: str, pos: int) -> int:
    kind = text[pos + 1] if pos + 1 < len(text) else ""
    if kind in _HEX_ESCAPES:
        return 2 + _HEX_ESCAPES[kind]
    if kind in "01234567" and kind:
        return 4
    return 2


def _decode_escape(src: _Source, pos: int) -> str:
    # Go's escapes (strconv.Unquote), which is what go-bexpr decodes strings with.
    text = src.text
    kind = text[pos + 1] if pos + 1 < len(text) else ""
    if not kind:
        raise src.error("unterminated string literal", pos)
    if kind in _SIMPLE_ESCAPES:
        return _SIMPLE_ESCAPES[kind]
    digits = ""
    if kind in _HEX_ESCAPES:
        digits = text[pos + 2 : pos + 2 + _HEX_ESCAPES[kind]]
        if len(digits) == _HEX_ESCAPES[kind] and all(c in "0123456789abcdefABCDEF" for c in digits):
            code = int(digits, 16)
            if code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF:
                return chr(code)
    elif kind in "01234567":
        digits = text[pos + 1 : pos + 4]
        if len(digits) == 3 and all(c in "01234567" for c in digits) and int(digits, 8) <= 0o377:
            return chr(int(digits, 8))
    shown = text[pos : pos + 2 + len(digits)]
    raise src.error(f"invalid escape sequence {shown!r} in string literal", pos)


# ======================================================================================
# Parser
# ======================================================================================


class _TooDeep(ParseError):
    """Nesting beyond :data:`_MAX_DEPTH`; never backtracked over, never seen by callers."""


class _Path(NamedTuple):
    parts: tuple[str, ...]
    start: int
    end: int

    def source(self, text: str) -> str:
        return text[self.start : self.end]


class _Value(NamedTuple):
    raw: str  # the text compared with (quotes removed, escapes decoded)
    token: _Token


_MISSING: Any = object()
_GO_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_GO_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})
_INT_LITERAL = re.compile(r"-?(?:0|[1-9][0-9]*)")
_PATH_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_KEYWORD_OPS = ("in", "contains", "matches")
_MAX_DEPTH = 100  # nested parentheses and nots


class _Parser:
    def __init__(self, text: str) -> None:
        self.src = _Source(text)
        self.text = text
        self.tokens = _tokenize(self.src)
        self.pos = 0
        self.depth = 0

    # -- token helpers -----------------------------------------------------------------

    def peek(self, ahead: int = 0) -> _Token:
        return self.tokens[min(self.pos + ahead, len(self.tokens) - 1)]

    def advance(self) -> _Token:
        token = self.peek()
        self.pos = min(self.pos + 1, len(self.tokens) - 1)
        return token

    def error(self, reason: str, token: _Token) -> ParseError:
        return self.src.error(reason, token.start)

    def is_word(self, token: _Token, *words: str) -> bool:
        return token.kind is _T.WORD and token.text in words

    def require_space_around(self, keyword: _Token) -> None:
        if not keyword.space_before:
            raise self.error(f"expected whitespace before {keyword.text!r}", keyword)
        after = self.peek()
        if not after.space_before:
            raise self.error(f"expected whitespace after {keyword.text!r}", after)

    # -- grammar -----------------------------------------------------------------------

    def parse(self) -> _Test:
        if self.peek().kind is _T.EOF:
            raise self.src.error("empty filter expression", 0)
        try:
            test = self.parse_or()
        except _TooDeep as deep:
            # Callers see a plain ParseError; the subclass only steers backtracking.
            raise ParseError(deep.reason, column=deep.column, excerpt=deep.excerpt) from None
        token = self.peek()
        if token.kind is not _T.EOF:
            raise self.error(
                f"unexpected {token.describe()}: expected 'and', 'or' or the end", token
            )
        return test

    def parse_or(self) -> _Test:
        tests = [self.parse_and()]
        while self.is_word(self.peek(), "or"):
            self.require_space_around(self.advance())
            tests.append(self.parse_and())
        if len(tests) == 1:
            return tests[0]
        return lambda ctx: any(test(ctx) for test in tests)

    def parse_and(self) -> _Test:
        tests = [self.parse_unary()]
        while self.is_word(self.peek(), "and"):
            self.require_space_around(self.advance())
            tests.append(self.parse_unary())
        if len(tests) == 1:
            return tests[0]
        return lambda ctx: all(test(ctx) for test in tests)

    def parse_unary(self) -> _Test:
        token = self.peek()
        if self.is_word(token, "not"):
            after = self.peek(1)
            if after.kind is _T.EOF:
                raise self.error(
                    "expected an expression after 'not', found end of expression", after
                )
            if after.kind is _T.LPAREN and not after.space_before:
                raise self.error("expected whitespace after 'not'", after)
            if after.space_before:
                return self.nested(token, self.parse_not)
        if token.kind is _T.LPAREN:
            return self.nested(token, self.parse_group)
        return self.parse_match()

    def nested(self, token: _Token, parse: Callable[[], _Test]) -> _Test:
        # Bound the recursion so that no RecursionError can escape for absurd input.
        if self.depth >= _MAX_DEPTH:
            error = self.error(f"expression nested more than {_MAX_DEPTH} levels deep", token)
            raise _TooDeep(error.reason, column=error.column, excerpt=error.excerpt)
        self.depth += 1
        try:
            return parse()
        finally:
            self.depth -= 1

    def parse_group(self) -> _Test:
        opening = self.advance()
        inner = self.parse_or()
        close = self.peek()
        if close.kind is not _T.RPAREN:
            raise self.error(
                f"expected ')' to close the '(' at column {opening.column}, "
                f"found {close.describe()}",
                close,
            )
        self.advance()
        return inner

    def parse_not(self) -> _Test:
        # "not" is also a valid bare value (``not in Service.Tags`` tests for the tag
        # "not"), so like go-bexpr's PEG parser try the operator first, then the match;
        # when both fail, report the error that got further.
        saved = self.pos
        self.advance()
        try:
            operand = self.parse_unary()
        except _TooDeep:
            raise  # no other reading of the text can help
        except ParseError as as_operator:
            self.pos = saved
            try:
                return self.parse_match()
            except ParseError as as_match:
                raise max(as_operator, as_match, key=lambda e: e.column or 0) from None
        return lambda ctx: not operand(ctx)

    def parse_match(self) -> _Test:
        token = self.peek()
        if token.kind in (_T.STRING, _T.NUMBER):
            value = self.parse_value(None)
            op_token = self.peek()
            op = self.parse_operator(f"value {token.text}")
            if op not in (_Op.IN, _Op.NOT_IN):
                raise self.error(
                    f"a value must be followed by 'in' or 'not in', not {op.value!r}", op_token
                )
            return self.finish_match(self.parse_selector(op), op, op_token, value)
        if token.kind is _T.WORD:
            path = self.parse_path()
            self.check_glued(path)
            op_token = self.peek()
            op = self.parse_operator(path.source(self.text))
            if op in (_Op.IN, _Op.NOT_IN):
                # ``v1 in Service.Tags``: what looked like a selector is a bare value.
                value = _Value(".".join(path.parts), token)
                return self.finish_match(self.parse_selector(op), op, op_token, value)
            if op in _EMPTINESS:
                return self.finish_match(path, op, op_token, None)
            return self.finish_match(path, op, op_token, self.parse_value(op))
        if token.kind is _T.EOF:
            raise self.error("expected an expression, found end of expression", token)
        raise self.error(f"expected an expression, found {token.describe()}", token)

    def parse_operator(self, after: str) -> _Op:
        token = self.peek()
        if token.kind is _T.EQ:
            self.advance()
            return _Op.EQ
        if token.kind is _T.NE:
            self.advance()
            return _Op.NE
        if self.is_word(token, "is", "not", *_KEYWORD_OPS):
            if not token.space_before:
                raise self.error(f"expected whitespace before {token.text!r}", token)
            self.advance()
            if token.text == "is":
                negated = self.is_word(self.peek(), "not")
                if negated:
                    self.advance()
                empty = self.peek()
                if not self.is_word(empty, "empty"):
                    expected = "'empty'" if negated else "'empty' or 'not empty'"
                    raise self.error(
                        f"expected {expected} after 'is', found {empty.describe()}", empty
                    )
                self.advance()
                return _Op.NOT_EMPTY if negated else _Op.EMPTY
            name = token.text
            if name == "not":
                word = self.peek()
                if not self.is_word(word, *_KEYWORD_OPS):
                    raise self.error(
                        "expected 'in', 'contains' or 'matches' after 'not', "
                        f"found {word.describe()}",
                        word,
                    )
                self.advance()
                name = f"not {word.text}"
            following = self.peek()
            if not following.space_before:
                raise self.error(f"expected whitespace after {name!r}", following)
            return _Op(name)
        raise self.error(
            f"expected an operator after {after} (==, !=, is empty, is not empty, in, "
            f"not in, contains, not contains, matches, not matches), found {token.describe()}",
            token,
        )

    def parse_path(self) -> _Path:
        first = self.advance()
        parts = [first.text]
        end = first.start + len(first.text)
        while True:
            token = self.peek()
            if token.space_before:
                break
            if token.kind is _T.DOT:
                self.advance()
                name = self.peek()
                if name.space_before or name.kind not in (_T.WORD, _T.NUMBER):
                    raise self.error(f"expected a name after '.', found {name.describe()}", name)
                if name.kind is _T.NUMBER and not _PATH_NUMBER.fullmatch(name.text):
                    raise self.error(f"invalid name {name.text!r} after '.'", name)
                self.advance()
                # go-bexpr accepts digit-only names (``.0``); the scanner reads ``.1.5``
                # as a number, so split it back into names.
                parts.extend(name.text.split("."))
                end = name.start + len(name.text)
            elif token.kind is _T.LBRACKET:
                self.advance()
                key = self.peek()
                if key.kind is not _T.STRING:
                    raise self.error(
                        f"expected a quoted map key after '[', found {key.describe()}", key
                    )
                self.advance()
                close = self.peek()
                if close.kind is not _T.RBRACKET:
                    raise self.error(
                        f"expected ']' after the map key, found {close.describe()}", close
                    )
                self.advance()
                parts.append(key.value)
                end = close.start + 1
            else:
                break
        return _Path(tuple(parts), first.start, end)

    def check_glued(self, path: _Path) -> None:
        """Explain text stuck to a selector or bare value (``rack-1``, ``Meta.my-key``)."""
        token = self.peek()
        if token.space_before or token.kind in (_T.EQ, _T.NE, _T.RPAREN, _T.EOF):
            return
        whole = re.match(r"[^\s()]*", self.text[path.start :])
        glued = whole.group() if whole else path.source(self.text)
        if path.parts[0] in _SCHEMA.fields and len(path.parts) > 1:
            *head, _ = path.parts
            hint = f'write a map key like this as {".".join(head)}["{glued.rsplit(".", 1)[-1]}"]'
        else:
            hint = f'a bare value may only hold letters, digits and "_": quote it, "{glued}"'
        raise self.error(
            f"unexpected {token.describe()} after {path.source(self.text)} ({hint})", token
        )

    def parse_selector(self, op: _Op) -> _Path:
        token = self.peek()
        if token.kind is not _T.WORD:
            hint = ""
            if token.kind in (_T.STRING, _T.NUMBER):
                # ``Service.Tags in "x"`` has its operands the wrong way round.
                word = "contains" if op is _Op.IN else "not contains"
                hint = f" (the value goes first: or write <selector> {word} {token.text})"
            raise self.error(
                f"expected a selector after {op.value!r}, found {token.describe()}{hint}", token
            )
        path = self.parse_path()
        self.check_glued(path)
        return path

    def parse_value(self, op: _Op | None) -> _Value:
        token = self.peek()
        if token.kind is _T.STRING:
            self.advance()
            return _Value(token.value, token)
        if token.kind is _T.NUMBER:
            self.advance()
            after = self.peek()
            # go-bexpr: a number must be followed by whitespace, ')' or the end.
            if not (after.space_before or after.kind in (_T.RPAREN, _T.EOF)):
                raise self.error(f"invalid number literal {token.text + after.text!r}", token)
            return _Value(token.text, token)
        if token.kind is _T.WORD:
            path = self.parse_path()
            self.check_glued(path)
            return _Value(".".join(path.parts), token)
        where = f" after {op.value!r}" if op else ""
        raise self.error(f"expected a value{where}, found {token.describe()}", token)

    # -- type checking and evaluation ----------------------------------------------------

    def resolve(self, path: _Path) -> _Field:
        field = _SCHEMA
        for index, part in enumerate(path.parts):
            so_far = ".".join(path.parts[:index])
            if field.kind is _Kind.STRUCT:
                found = field.fields.get(part)
                if found is None:
                    raise self.src.error(
                        f"unknown selector {path.source(self.text)} "
                        f"({_suggest(part, field.fields, so_far)})",
                        path.start,
                    )
                field = found
            elif field.kind is _Kind.MAP and field.values is not None:
                field = field.values
            else:
                raise self.src.error(
                    f"unknown selector {path.source(self.text)} "
                    f"({so_far} is {field.kind.value} and has no fields)",
                    path.start,
                )
        return field

    def finish_match(self, path: _Path, op: _Op, op_token: _Token, value: _Value | None) -> _Test:
        field = self.resolve(path)
        selector = path.source(self.text)
        if op not in _SUPPORTED[field.kind]:
            if field.kind is _Kind.STRUCT:
                names = ", ".join(sorted(field.fields))
                reason = f"{selector} is a structure; select one of its fields ({names})"
            else:
                allowed = ", ".join(o.value for o in _Op if o in _SUPPORTED[field.kind])
                reason = (
                    f"{op.value!r} cannot be applied to {selector}, which is "
                    f"{field.kind.value} (it supports: {allowed})"
                )
            raise self.error(reason, op_token)
        positive = self.predicate(field.kind, op, value, selector)
        keys = path.parts
        empty_when_missing = op in _EMPTINESS
        negate = op in _NEGATED

        def test(ctx: Context) -> bool:
            current: Any = ctx
            for key in keys:
                current = current.get(key) if isinstance(current, Mapping) else None
                if current is None:
                    result = empty_when_missing
                    break
            else:
                result = positive(current)
            return not result if negate else result

        return test

    def predicate(
        self, kind: _Kind, op: _Op, value: _Value | None, selector: str
    ) -> Callable[[Any], bool]:
        """The non-negated test of a present value."""
        if op in _EMPTINESS:
            return _is_empty
        assert value is not None  # every other operator has one
        raw = value.raw
        if op in (_Op.EQ, _Op.NE):
            if kind is _Kind.INT:
                number = _int64(raw)
                if number is None:
                    raise self.error(
                        f"{selector} is an integer; {raw[:40]!r} is not "
                        "(expected a whole number within 64 bits)",
                        value.token,
                    )
                return lambda v: _as_int(v) == number
            if kind is _Kind.BOOL:
                if raw not in _GO_TRUE | _GO_FALSE:
                    raise self.error(
                        f"{selector} is a boolean; {raw!r} is not (use true or false)",
                        value.token,
                    )
                flag = raw in _GO_TRUE
                return lambda v: isinstance(v, bool) and v is flag
            return lambda v: _as_str(v) == raw
        if op in _MEMBERSHIP:
            if kind is _Kind.LIST:
                return lambda v: _is_list(v) and any(_as_str(item) == raw for item in v)
            if kind is _Kind.MAP:
                return lambda v: isinstance(v, Mapping) and raw in v
            return lambda v: raw in _as_str(v)
        # matches / not matches: strings only, by _SUPPORTED.
        problem = _regex_problem(raw)
        if problem is not None:
            raise self.error(f"invalid regular expression {raw!r}: {problem}", value.token)
        pattern = re2.compile(raw, _RE2_OPTIONS)
        return lambda v: _search(pattern, _as_str(v))


# Consul evaluates ``matches`` with Go's regexp package: RE2 syntax, linear time. The
# RE2 library gives the same guarantees (Python's re backtracks: "(a+)+$" against 33
# a's and a mismatch took minutes) and refuses what Go refuses (backreferences,
# lookaround, repeat counts over 1000).
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False
_RE2_OPTIONS.never_capture = True
# RE2 reads a repeat count too large to parse as literal text; Go's parser refuses it.
_HUGE_REPEAT = re.compile(r"(?<!\\)\{[0-9]{5,}")


def re2_problem(pattern: str) -> str | None:
    """Why RE2 would refuse ``pattern`` (``None`` when it compiles). The one RE2 syntax
    check: filters here, intentions' regexes at load (Envoy uses RE2 too)."""
    try:
        re2.compile(pattern, _RE2_OPTIONS)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else b""
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        return str(reason) or "invalid RE2 syntax"
    except UnicodeError:
        return "the pattern is not valid Unicode"
    return None


def _regex_problem(raw: str) -> str | None:
    if _HUGE_REPEAT.search(raw):
        return "invalid repeat count (at most 1000)"
    return re2_problem(raw)


def _search(pattern: Any, value: str) -> bool:
    try:
        return pattern.search(value) is not None
    except UnicodeError:  # a lone surrogate: match what UTF-8 can carry
        return pattern.search(value.encode("utf-8", "replace").decode("utf-8")) is not None


def _suggest(name: str, fields: Iterable[str], parent: str) -> str:
    names = sorted(fields)
    by_case = {n.lower(): n for n in names}
    close = by_case.get(name.lower()) or next(
        iter(difflib.get_close_matches(name, names, n=1, cutoff=0.6)), None
    )
    if close:
        return f"did you mean {parent + '.' if parent else ''}{close}?"
    if parent:
        return f"{parent} has: {', '.join(names)}"
    return f"a selector starts with {', '.join(names[:-1])} or {names[-1]}"


def _as_str(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        return _int64(value)
    return None


def _int64(text: str) -> int | None:
    """A Go int64 literal, else None (also for thousands of digits, which int() refuses)."""
    if len(text) > 20 or not _INT_LITERAL.fullmatch(text):
        return None
    number = int(text)
    return number if -(2**63) <= number < 2**63 else None


def _is_list(value: Any) -> bool:
    return isinstance(value, Iterable) and not isinstance(value, (str, bytes, Mapping))


def _is_empty(value: Any) -> bool:
    try:
        return len(value) == 0
    except TypeError:
        return False
