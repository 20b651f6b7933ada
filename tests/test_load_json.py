"""meshgw.load.jsonread: parse_json (fast, plain values) and locate_json (with lines)."""

from __future__ import annotations

import json
import textwrap
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meshgw._load.jsonread import locate_json, parse_json
from meshgw._load.raw import RawDict, RawList, line_of
from meshgw.errors import ParseError

SIDECAR = textwrap.dedent(
    """\
    {
      "service": {
        "name": "web",
        "port": 8080,
        "connect": {"sidecar_service": {"proxy": {
          "mesh_gateway": {"mode": "remote"},
          "upstreams": [
            {"destination_name": "api", "datacenter": "dc2", "local_bind_port": 10000},
            {
              "destination_name": "db",
              "destination_peer": "cluster-02",
              "local_bind_port": 10001,
              "mesh_gateway": {"mode": "local"}
            }
          ]
        }}},
        "weights": {"passing": 1.5, "warning": 0},
        "enable_tag_override": false,
        "token": null
      }
    }
    """
)


def test_parse_json_returns_plain_values() -> None:
    data = parse_json(SIDECAR, name="web.json")
    assert data == json.loads(SIDECAR)
    assert type(data) is dict
    assert type(data["service"]["connect"]["sidecar_service"]["proxy"]["upstreams"]) is list
    assert type(data["service"]["port"]) is int
    assert type(data["service"]["weights"]["passing"]) is float


def test_parse_json_scalar_and_array_documents() -> None:
    assert parse_json("[1, 2]") == [1, 2]
    assert parse_json(' "x" ') == "x"
    assert parse_json("\ufeff{}") == {}


def test_locate_json_records_lines() -> None:
    tree = locate_json(SIDECAR, name="web.json")
    assert tree == json.loads(SIDECAR)
    assert isinstance(tree, RawDict)
    assert (tree.file, tree.line) == ("web.json", 1)
    service = tree["service"]
    assert service.line == 2
    assert service.key_lines == {
        "name": 3,
        "port": 4,
        "connect": 5,
        "weights": 17,
        "enable_tag_override": 18,
        "token": 19,
    }
    upstreams = service["connect"]["sidecar_service"]["proxy"]["upstreams"]
    assert isinstance(upstreams, RawList)
    assert (upstreams.file, upstreams.line) == ("web.json", 7)
    assert upstreams.item_lines == [8, 9]
    assert upstreams[1].key_lines["mesh_gateway"] == 13
    assert line_of(tree, ["service", "connect", "sidecar_service", "proxy", "upstreams", 1]) == 9
    path: list[str | int] = [
        "Service",
        "Connect",
        "SidecarService",
        "Proxy",
        "Upstreams",
        1,
        "MeshGateway",
        "Mode",
    ]
    assert line_of(tree, path) == 13
    assert line_of(tree, ["service", "weights", "nope"]) == 17


def test_locate_json_values_match_the_standard_library() -> None:
    text = '{"a": [1, -2, 3.5, 1e3, -0.0, true, false, null, "\\u00e9\\n\\"", {}, []], "b": {}}'
    located = locate_json(text)
    assert located == json.loads(text)
    assert type(located["a"][3]) is float
    assert type(located["a"][1]) is int


def test_duplicate_key_is_an_error() -> None:
    text = '{\n  "mode": "local",\n  "port": 1,\n  "mode": "remote"\n}\n'
    with pytest.raises(ParseError) as info:
        parse_json(text, name="x.json")
    error = info.value
    assert "duplicate key `mode` (first at line 2, again at line 4)" in str(error)
    assert (error.file, error.line, error.column) == ("x.json", 4, 3)
    assert error.excerpt == '  "mode": "remote"'


def test_nested_duplicate_key_is_an_error() -> None:
    text = '{"a": [{"b": 1}, {"c": 1,\n"c": 2}]}'
    with pytest.raises(ParseError, match="duplicate key `c`") as info:
        parse_json(text)
    assert info.value.line == 2
    with pytest.raises(ParseError, match="duplicate key `c`"):
        locate_json(text)


@pytest.mark.parametrize(
    ("text", "line", "column", "message"),
    [
        ('{\n  "a": 1,\n  "b": \n}', 4, 1, "Expecting value"),
        ('{"a": 1 "b": 2}', 1, 9, "Expecting ',' delimiter"),
        ("[1, 2", 1, 6, "Expecting"),
        ("{'a': 1}", 1, 2, "Expecting property name enclosed in double quotes"),
        ('{"a": 1}\n{"b": 2}', 2, 1, "Extra data"),
        ("", 1, 1, "Expecting value"),
        ("[NaN]", 1, 2, "`NaN` is not a JSON value"),
        ('{"a": -Infinity}', 1, 7, "`-Infinity` is not a JSON value"),
        ("1" * 5000, 1, 1, "is too long"),
    ],
)
def test_syntax_errors(text: str, line: int, column: int, message: str) -> None:
    with pytest.raises(ParseError) as info:
        parse_json(text, name="x.json")
    error = info.value
    assert message in error.reason
    assert (error.file, error.line, error.column) == ("x.json", line, column)
    assert error.excerpt == text.split("\n")[line - 1]


@pytest.mark.parametrize(
    ("text", "line", "column", "message"),
    [
        ('{"a": 1,\n "b" 2}', 2, 6, "expected `:` after key 'b'"),
        ('{"a": [1,\n 2 3]}', 2, 4, "expected `,` or `]`"),
        ('{"a": 1\n "b": 2}', 2, 2, "expected `,` or `}`"),
        ('{"a": tru}', 1, 7, "`tru` is not a JSON value"),
        ('{"a": "x\ny"}', 1, 9, "Invalid control character"),
        ("[1] 2", 1, 5, "extra data"),
        ("[", 1, 2, "unexpected end of document"),
        ("{1: 2}", 1, 2, "expected a key in double quotes"),
    ],
)
def test_locate_json_errors(text: str, line: int, column: int, message: str) -> None:
    with pytest.raises(ParseError) as info:
        locate_json(text, name="x.json")
    error = info.value
    assert message in error.reason
    assert (error.file, error.line, error.column) == ("x.json", line, column)


def test_nesting_too_deep() -> None:
    with pytest.raises(ParseError, match="nesting too deep"):
        parse_json("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ParseError, match="nesting too deep"):
        locate_json("[" * 5000 + "]" * 5000)


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=50, deadline=None)
@given(JSON_VALUES, st.booleans())
def test_locate_json_agrees_with_parse_json(value: Any, indent: bool) -> None:
    text = json.dumps(value, indent=2 if indent else None)
    assert parse_json(text) == value
    assert locate_json(text) == value


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_garbage_raises_only_parse_error(text: str) -> None:
    for parse in (parse_json, locate_json):
        try:
            parse(text)
        except ParseError as error:
            assert error.reason
