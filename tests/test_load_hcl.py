"""meshgw.load.hcl (parse_hcl) and meshgw.load.raw (RawDict, RawList, line_of)."""

from __future__ import annotations

import copy
import textwrap
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meshgw._load.hcl import parse_hcl
from meshgw._load.raw import RawDict, RawList, line_of
from meshgw.errors import MeshgwError, ParseError


def hcl(text: str) -> RawDict:
    return parse_hcl(textwrap.dedent(text), name="test.hcl")


def unwrap(value: Any) -> Any:
    """Replace single HCL blocks (one-element lists under a block key) by their body."""
    if isinstance(value, RawDict):
        return {
            key: unwrap(item[0] if key in value.block_keys and len(item) == 1 else item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [unwrap(item) for item in value]
    return value


# --- values -------------------------------------------------------------------------


def test_scalars_and_key_lines() -> None:
    tree = hcl(
        """\
        name    = "web"
        port    = 8080
        weight  = 1.5
        big     = 1e3
        neg     = -3
        neg_f   = - 0.25
        enabled = true
        off     = false
        nothing = null
        """
    )
    assert tree == {
        "name": "web",
        "port": 8080,
        "weight": 1.5,
        "big": 1000.0,
        "neg": -3,
        "neg_f": -0.25,
        "enabled": True,
        "off": False,
        "nothing": None,
    }
    assert type(tree["port"]) is int
    assert type(tree["big"]) is float
    assert tree.key_lines == {
        "name": 1,
        "port": 2,
        "weight": 3,
        "big": 4,
        "neg": 5,
        "neg_f": 6,
        "enabled": 7,
        "off": 8,
        "nothing": 9,
    }
    assert tree.file == "test.hcl"
    assert tree.line == 1
    assert tree.block_keys == set()


def test_tuples_and_objects() -> None:
    tree = hcl(
        """\
        tags = ["a", "b",
          "c",
        ]
        meta = { version = "1", "consul-wan-federation" = "1"
          team: "x"
        }
        empty_list = []
        empty_obj = {}
        """
    )
    assert tree == {
        "tags": ["a", "b", "c"],
        "meta": {"version": "1", "consul-wan-federation": "1", "team": "x"},
        "empty_list": [],
        "empty_obj": {},
    }
    tags = tree["tags"]
    assert isinstance(tags, RawList)
    assert tags.line == 1
    assert tags.item_lines == [1, 1, 2]
    meta = tree["meta"]
    assert isinstance(meta, RawDict)
    assert meta.line == 4
    assert meta.key_lines == {"version": 4, "consul-wan-federation": 4, "team": 5}
    assert meta.file == "test.hcl"


def test_string_escapes() -> None:
    tree = hcl(
        r"""
        a = "quote \" backslash \\ newline \n tab \t cr \r"
        b = "caf\u00e9 \U0001F600 \ud83d\ude00"
        c = "$${literal} and %%{directive}"
        d = "cost: $${"
        e = "100%"
        f = "$5 and $"
        g = "$${a %%{b} \n $${c}}"
        """
    )
    assert tree["a"] == 'quote " backslash \\ newline \n tab \t cr \r'
    assert tree["b"] == "café 😀 😀"
    assert tree["c"] == "${literal} and %{directive}"
    assert tree["d"] == "cost: ${"
    assert tree["e"] == "100%"
    assert tree["f"] == "$5 and $"
    assert tree["g"] == "${a %{b} \n ${c}}"


def test_escaped_interpolation_does_not_run_past_the_string() -> None:
    # python-hcl2 lexes `$${" b = "}` as one token; the text means a = "${", b = "}"
    tree = hcl('a = "$${" b = "}"\n')
    assert tree == {"a": "${", "b": "}"}


def test_heredocs() -> None:
    tree = hcl(
        """\
        plain = <<EOF
          indented
        $${not interpolated}

        EOF
        trimmed = <<-EOT
            first
              second

            third
            EOT
        empty = <<EOF
        EOF
        after = 1
        """
    )
    assert tree["plain"] == "  indented\n${not interpolated}\n\n"
    assert tree["trimmed"] == "first\n  second\n\nthird\n"
    assert tree["empty"] == ""
    assert tree.key_lines["trimmed"] == 6
    assert tree.key_lines["after"] == 14


def test_heredoc_at_end_of_file() -> None:
    assert parse_hcl("x = <<EOF\nhello\nEOF") == {"x": "hello\n"}


def test_comments_of_all_kinds() -> None:
    tree = hcl(
        """\
        # hash comment
        a = 1 # trailing
        // slash comment
        b = 2 // trailing
        /* block
           comment over
           three lines */
        c = 3 /* inline */
        d = [1, /* inside */ 2]
        """
    )
    assert tree == {"a": 1, "b": 2, "c": 3, "d": [1, 2]}
    assert tree.key_lines == {"a": 2, "b": 4, "c": 8, "d": 9}


def test_crlf_input() -> None:
    text = 'a = "x"\r\nsvc {\r\n  port = 1\r\n  doc = <<EOF\r\nline\r\nEOF\r\n}\r\n'
    tree = parse_hcl(text)
    assert tree == {"a": "x", "svc": [{"port": 1, "doc": "line\n"}]}
    assert tree["svc"][0].key_lines == {"port": 3, "doc": 4}


def test_byte_order_mark_is_ignored() -> None:
    assert parse_hcl('\ufeffa = "x"\n') == {"a": "x"}


def test_keywords_as_names() -> None:
    tree = hcl("in = 1\nfor = 2\nx = { if = 3, true = 4 }\n")
    assert tree == {"in": 1, "for": 2, "x": {"if": 3, "true": 4}}


# --- blocks -------------------------------------------------------------------------


def test_block_and_attribute_unwrap_to_the_same_value() -> None:
    block = hcl('mesh_gateway { mode = "local" }')
    attribute = hcl('mesh_gateway = { mode = "local" }')
    assert block == {"mesh_gateway": [{"mode": "local"}]}
    assert isinstance(block["mesh_gateway"], RawList)
    assert block.block_keys == {"mesh_gateway"}
    assert attribute == {"mesh_gateway": {"mode": "local"}}
    assert attribute.block_keys == set()
    assert unwrap(block) == unwrap(attribute) == {"mesh_gateway": {"mode": "local"}}


def test_repeated_blocks_build_a_list() -> None:
    tree = hcl(
        """\
        proxy {
          upstreams {
            destination_name = "api"
          }
          upstreams {
            destination_name = "db"
          }
        }
        """
    )
    proxy = tree["proxy"][0]
    assert proxy == {"upstreams": [{"destination_name": "api"}, {"destination_name": "db"}]}
    assert proxy.block_keys == {"upstreams"}
    assert proxy["upstreams"].item_lines == [2, 5]
    assert proxy["upstreams"][1].line == 5
    assert proxy.key_lines == {"upstreams": 2}


def test_labeled_blocks_nest_like_hcl1() -> None:
    tree = hcl(
        """\
        a "x" "y" { b = 1 }
        a "x" z { c = 2 }
        a "x" "y" { d = 3 }
        a { e = 4 }
        """
    )
    assert tree == {"a": [{"x": [{"y": [{"b": 1}, {"d": 3}], "z": [{"c": 2}]}]}, {"e": 4}]}
    level_x = tree["a"][0]
    assert level_x.block_keys == {"x"}
    assert level_x["x"][0].block_keys == {"y", "z"}
    assert level_x["x"][0].key_lines == {"y": 1, "z": 2}


def test_attribute_list_and_blocks_merge_in_source_order() -> None:
    first_attribute = hcl(
        """\
        upstreams = [{ destination_name = "a" }]
        upstreams { destination_name = "b" }
        """
    )
    assert first_attribute == {"upstreams": [{"destination_name": "a"}, {"destination_name": "b"}]}
    assert first_attribute["upstreams"].item_lines == [1, 2]
    first_block = hcl(
        """\
        upstreams { destination_name = "a" }
        upstreams = [{ destination_name = "b" }, { destination_name = "c" }]
        """
    )
    assert [u["destination_name"] for u in first_block["upstreams"]] == ["a", "b", "c"]
    assert first_block["upstreams"].item_lines == [1, 2, 2]
    assert first_block.block_keys == {"upstreams"}


def test_single_line_blocks_with_several_attributes() -> None:
    tree = hcl('lan { address = "10.0.0.5"    port = 8443 }')
    assert tree == {"lan": [{"address": "10.0.0.5", "port": 8443}]}


# --- Consul documentation examples (HCL1) --------------------------------------------

SIDECAR = """\
service {
  name = "web"
  port = 8080
  connect {
    sidecar_service {
      proxy {
        mesh_gateway { mode = "remote" }
        upstreams = [
          {
            destination_name = "api"
            datacenter = "dc2"
            local_bind_port = 10000
            mesh_gateway {
              mode = "local"
            }
          },
          { destination_name = "db"  local_bind_port = 10001  mesh_gateway { mode = "none" } },
        ]
      }
    }
  }
}
"""

MESH_GATEWAY = """\
service {
  kind = "mesh-gateway"
  name = "mesh-gateway"
  port = 8443
  address = "10.0.0.5"
  tagged_addresses {
    lan { address = "10.0.0.5"    port = 8443 }
    wan { address = "203.0.113.7" port = 443 }
  }
  meta { "consul-wan-federation" = "1" }
  proxy {
    mesh_gateway { mode = "local" }     # allowed but see 2.7
    config {
      envoy_gateway_bind_tagged_addresses = true
      connect_timeout_ms = 5000
    }
  }
  checks = [{ name = "mesh-gateway listening", tcp = "10.0.0.5:8443", interval = "10s" }]
}
"""


def test_sidecar_with_blocks_inside_list_elements() -> None:
    tree = parse_hcl(SIDECAR, name="web.hcl")
    proxy = tree["service"][0]["connect"][0]["sidecar_service"][0]["proxy"][0]
    upstreams = proxy["upstreams"]
    assert upstreams == [
        {
            "destination_name": "api",
            "datacenter": "dc2",
            "local_bind_port": 10000,
            "mesh_gateway": [{"mode": "local"}],
        },
        {"destination_name": "db", "local_bind_port": 10001, "mesh_gateway": [{"mode": "none"}]},
    ]
    # a block inside an object literal is still a block
    assert upstreams[0].block_keys == {"mesh_gateway"}
    assert upstreams[0].key_lines == {
        "destination_name": 10,
        "datacenter": 11,
        "local_bind_port": 12,
        "mesh_gateway": 13,
    }
    assert upstreams.item_lines == [9, 17]
    assert line_of(tree, ["service", "connect", "sidecar_service", "proxy", "upstreams", 0]) == 9
    path: list[str | int] = ["service", "connect", "sidecar_service", "proxy", "upstreams", 1]
    assert line_of(tree, [*path, "mesh_gateway", "mode"]) == 17
    path = ["Service", "Connect", "SidecarService", "Proxy", "Upstreams", 0, "MeshGateway", "Mode"]
    assert line_of(tree, path) == 14


def test_sidecar_in_hcl2_style_gives_the_same_tree() -> None:
    hcl2_style = SIDECAR.replace("mesh_gateway {", "mesh_gateway = {")
    assert unwrap(parse_hcl(hcl2_style)) == unwrap(parse_hcl(SIDECAR))


def test_mesh_gateway_with_quoted_meta_keys_and_tagged_addresses() -> None:
    tree = parse_hcl(MESH_GATEWAY, name="gw.hcl")
    assert unwrap(tree) == {
        "service": {
            "kind": "mesh-gateway",
            "name": "mesh-gateway",
            "port": 8443,
            "address": "10.0.0.5",
            "tagged_addresses": {
                "lan": {"address": "10.0.0.5", "port": 8443},
                "wan": {"address": "203.0.113.7", "port": 443},
            },
            "meta": {"consul-wan-federation": "1"},
            "proxy": {
                "mesh_gateway": {"mode": "local"},
                "config": {
                    "envoy_gateway_bind_tagged_addresses": True,
                    "connect_timeout_ms": 5000,
                },
            },
            "checks": [
                {"name": "mesh-gateway listening", "tcp": "10.0.0.5:8443", "interval": "10s"}
            ],
        }
    }
    service = tree["service"][0]
    assert service.block_keys == {"tagged_addresses", "meta", "proxy"}
    assert service["meta"][0].key_lines == {"consul-wan-federation": 10}
    assert line_of(tree, ["service", "tagged_addresses", "wan", "port"]) == 8
    assert line_of(tree, ["service", "proxy", "config", "connect_timeout_ms"]) == 15
    assert line_of(tree, ["service", "checks", 0, "tcp"]) == 18


def test_quoted_names_that_are_not_identifiers() -> None:
    tree = hcl(
        """\
        Kind = "service-resolver"
        Name = "api"
        Failover {
          "*" {
            Datacenters = ["dc2", "dc3"]
          }
        }
        node_meta {
          "rack.id" = "r1"
          zone = "a"
        }
        """
    )
    assert tree == {
        "Kind": "service-resolver",
        "Name": "api",
        "Failover": [{"*": [{"Datacenters": ["dc2", "dc3"]}]}],
        "node_meta": [{"rack.id": "r1", "zone": "a"}],
    }
    assert tree.block_keys == {"Failover", "node_meta"}
    assert tree["Failover"][0].block_keys == {"*"}
    assert line_of(tree, ["failover", "*", "datacenters", 1]) == 5
    assert line_of(tree, ["node_meta", "zone"]) == 10


def test_quoted_identifier_names_at_the_top_level() -> None:
    tree = hcl('"datacenter" = "dc1"\n"service" { "name" = "web" }\n')
    assert tree == {"datacenter": "dc1", "service": [{"name": "web"}]}


def test_hcl1_commas_and_inline_comments() -> None:
    tree = hcl(
        """\
        lan { address = "10.0.0.5", port = 8443 }
        upstreams { destination_name = "a" },
        upstreams { destination_name = "b" }
        port = /* tls */ 8443
        """
    )
    assert tree == {
        "lan": [{"address": "10.0.0.5", "port": 8443}],
        "upstreams": [{"destination_name": "a"}, {"destination_name": "b"}],
        "port": 8443,
    }
    assert tree.key_lines == {"lan": 1, "upstreams": 2, "port": 4}


def test_labeled_block_inside_an_object() -> None:
    tree = hcl('x = [{ a "l" { b = 1 }\n a "m" { c = 2 } }]\n')
    assert tree == {"x": [{"a": [{"l": [{"b": 1}], "m": [{"c": 2}]}]}]}
    assert tree["x"][0].key_lines == {"a": 1}


def test_rewrite_keeps_valid_hcl2_unchanged() -> None:
    # An HCL1 construct at the end sends the whole text through the HCL1 rewrite; the
    # HCL2 part above it must read exactly as it does without the rewrite.
    valid = textwrap.dedent(
        """\
        a = "x, y { z }" # a, b { c }
        b = { "k" = "v", "q.r" = [1, 2, { s = "t" }] }
        c "label" { d = <<EOF
        e { f }, "g" = 1
        EOF
        }
        h = ["$${i}", "%%{j}", "k, {l}"]
        m { n = "o" }
        """
    )
    forced = valid + "zz = [{ p { q = 1 } }]\n"
    plain, rewritten = parse_hcl(valid), parse_hcl(forced)
    assert rewritten.pop("zz") == [{"p": [{"q": 1}]}]
    assert rewritten == plain
    assert rewritten.key_lines == {**plain.key_lines, "zz": 9}
    assert rewritten.block_keys == plain.block_keys


# --- line_of ------------------------------------------------------------------------


def test_line_of_through_blocks_lists_and_normalised_keys() -> None:
    tree = hcl(
        """\
        service {
          name = "web"
          proxy {
            upstreams = [
              { destination_name = "api" },
              {
                destination_name = "db"
                local_bind_port = 9
              },
            ]
          }
        }
        """
    )
    assert line_of(tree, []) == 1
    assert line_of(tree, ["service"]) == 1
    assert line_of(tree, ["service", "name"]) == 2
    assert line_of(tree, ["service", 0, "name"]) == 2
    assert line_of(tree, ["service", "proxy", "upstreams"]) == 4
    assert line_of(tree, ["service", "proxy", "upstreams", 1]) == 6
    assert line_of(tree, ["service", "proxy", "upstreams", 1, "local_bind_port"]) == 8
    assert line_of(tree, ["Service", "Proxy", "Upstreams", 1, "LocalBindPort"]) == 8
    assert line_of(tree, ["service", "proxy", "upstreams", 1, "localBindPort"]) == 8
    # a failed step gives the best line so far
    assert line_of(tree, ["service", "proxy", "upstreams", 7, "x"]) == 4
    assert line_of(tree, ["service", "proxy", "missing"]) == 3
    assert line_of(tree, ["service", "name", "deeper"]) == 2
    assert line_of(tree, ["service", "proxy", "upstreams", "x"]) == 4


def test_line_of_prefers_an_exact_key() -> None:
    tree = hcl('destinationName = "a"\ndestination_name = "b"\n')
    assert line_of(tree, ["destination_name"]) == 2
    assert line_of(tree, ["destinationName"]) == 1
    assert line_of(tree, ["DestinationName"]) == 1


def test_line_of_on_plain_containers() -> None:
    assert line_of({"a": [{"b": 1}]}, ["a", "b"]) is None
    assert line_of([1, 2], [0]) is None
    assert line_of(None, ["a"]) is None


def test_raw_containers_behave_like_dict_and_list() -> None:
    tree = hcl('a { b = [1, 2] }\nc = "d"\n')
    assert tree == {"a": [{"b": [1, 2]}], "c": "d"}
    clone = copy.deepcopy(tree)
    assert clone == tree
    assert clone.key_lines == tree.key_lines
    assert clone.block_keys == {"a"}
    assert clone["a"][0]["b"].item_lines == [1, 1]
    made = RawDict({"x": 1}, file="f", line=3)
    assert made == {"x": 1}
    assert (made.file, made.line, made.key_lines, made.block_keys) == ("f", 3, {}, set())
    assert RawList([1], line=2, item_lines=[2]).item_lines == [2]


# --- errors -------------------------------------------------------------------------

ERRORS = [
    # (text, line, column, part of the message)
    ("a = [1, 2}\n", 1, 10, "unexpected `}`: the list opened at line 1 needs `]` first"),
    ("a = 1\n}\n", 2, 1, "unexpected `}`"),
    ("a = 1 2\n", 1, 7, "unexpected `2`"),
    ('service "web"\n  port = 1\n', 2, 3, 'expected `=` or `{` after `service "web"`'),
    ("x = 1\nservice\n\n", 2, 8, "expected `=` or `{` after `service`"),
    ("a = \n", 1, 5, "expected a value"),
    ("a = 'x'\n", 1, 5, "strings are written in double quotes"),
    ('mode = "local"\nport = 1\nmode = "remote"\n', 3, 1, "duplicate attribute `mode`"),
    (
        'x = { a = 1,\n  "a" = 2 }\n',
        2,
        3,
        "duplicate attribute `a` (first at line 1, again at line 2)",
    ),
    ("a = 1\na { }\n", 2, 1, "`a` is defined both as an attribute and as a block"),
    ("a { }\na = 1\n", 2, 1, "`a` is defined both as an attribute and as a block"),
    ("mode = local\n", 1, 8, 'bare word local where a value is expected (did you mean "local"?)'),
    ("x = [1, remote]\n", 1, 9, "bare word remote"),
    ('a = "x ${var.y} z"\n', 1, 8, "interpolation is not supported; write $${ for a literal"),
    ('a = "%{ if x }y%{ endif }"\n', 1, 6, "template directives are not supported"),
    ('a = "$${a ${b}"\n', 1, 11, "interpolation is not supported"),
    ("a = <<EOF\n${x}\nEOF\n", 1, 5, "interpolation is not supported"),
    ('a = upper("x")\n', 1, 5, "expressions are not supported (a function call `upper(...)`)"),
    ("a = 1 + 2\n", 1, 5, "expressions are not supported (an operator)"),
    ("a = !true\n", 1, 5, "expressions are not supported (an operator)"),
    ('a = true ? "x" : "y"\n', 1, 5, "expressions are not supported (a conditional)"),
    ("a = [for x in y : x]\n", 1, 5, "expressions are not supported (a `for` expression)"),
    ("a = x.y\n", 1, 5, "expressions are not supported (an attribute access)"),
    ("a = x[0]\n", 1, 5, "expressions are not supported (an index)"),
    ("a = x[*].y\n", 1, 5, "expressions are not supported (a splat)"),
    ("a = (1)\n", 1, 5, "expressions are not supported (parentheses)"),
    ('a = "foo\nb = "bar"\n', 1, 5, "unterminated string"),
    ('a = "foo\n', 1, 5, "unterminated string"),
    ("a = 1 /* never closed\nb = 2\n", 1, 7, "unterminated comment"),
    ("a = <<EOF\nno end\n", 1, 5, "unterminated heredoc <<EOF"),
    (
        "service {\n  proxy {\n    port = 1\n}\n",
        1,
        9,
        "missing closing `}` for block `service` opened at line 1 (end of file reached)",
    ),
    ("a = [\n  1,\n", 1, 5, "missing closing `]` for list opened at line 1"),
    (r'a = "\q"', 1, 6, r"unknown escape sequence \q"),
    ("a = 0755\n", 1, 5, "leading zero"),
    ("a = 0x1f\n", 1, 5, "hexadecimal numbers are not supported"),
    ("timeout = 10s\n", 1, 11, 'invalid number `10s` (did you mean "10s"?)'),
    ('"b.c" = 1\n', 1, 1, "at the top level of a file a name may be quoted only if"),
    ("x = { 1 = 2 }\n", 1, 7, "object keys must be names or strings"),
    # HCL1 text that is rewritten: columns still refer to the original text
    (
        'up = [{ name = "a" mesh_gateway { mode = local } }]\n',
        1,
        42,
        "bare word local",
    ),
    (
        'up = [{ name = "a" mesh_gateway { mode = "local" } }]\nb = [1 2]\n',
        2,
        8,
        "expected `,` or `]`",
    ),
    (
        'up = [{ mesh_gateway { mode = "local" } }]\nb = "open\n',
        2,
        5,
        "unterminated string",
    ),
    (
        'meta { "a.b" = "1" }\nmeta { "c" = 2 }\nx = {\n  "d" = 1\n  d = 2\n}\n',
        5,
        3,
        "duplicate attribute `d`",
    ),
]


@pytest.mark.parametrize(("text", "line", "column", "message"), ERRORS)
def test_parse_errors(text: str, line: int, column: int, message: str) -> None:
    with pytest.raises(ParseError) as info:
        parse_hcl(text, name="test.hcl")
    error = info.value
    assert message in str(error)
    assert (error.file, error.line, error.column) == ("test.hcl", line, column)
    assert error.excerpt == text.split("\n")[line - 1]
    assert str(error).startswith(f"test.hcl:{line}:{column}: ")


def test_error_at_end_of_file_points_at_the_last_line() -> None:
    with pytest.raises(ParseError) as info:
        parse_hcl("a = 1\nb =")
    assert (info.value.line, info.value.column) == (2, 4)
    assert "expected a value" in info.value.reason


def test_nesting_too_deep() -> None:
    with pytest.raises(ParseError, match="nesting too deep"):
        parse_hcl("a = " + "[" * 1000 + "]" * 1000)


HCL_PIECES = st.sampled_from(
    [
        "a", "b_c", " = ", "=", "{", "}", "[", "]", "(", ")", ",", ":", "\n", " ", '"',
        '"x"', "1", "-2.5", "true", "null", "#", "//", "/*", "*/", "<<EOF\n", "\nEOF\n",
        "<<-X\n", "${", "$${", "%{", "\\", "'", ".", "*", "mesh_gateway {", '"k.y" = ',
    ]
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_garbage_raises_only_parse_error(text: str) -> None:
    try:
        result = parse_hcl(text)
    except ParseError as error:
        assert error.reason
    else:
        assert isinstance(result, RawDict)


@settings(max_examples=200, deadline=None)
@given(st.lists(HCL_PIECES, max_size=30).map("".join))
def test_hcl_like_garbage_raises_only_parse_error(text: str) -> None:
    try:
        parse_hcl(text)
    except ParseError as error:
        assert error.reason
        if error.line is not None:
            assert error.line >= 1
    except MeshgwError as error:  # pragma: no cover - would be a bug
        pytest.fail(f"unexpected {type(error).__name__}: {error}")
