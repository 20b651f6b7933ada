"""Tests for meshgw.filters: Consul (go-bexpr) filter expressions for resolver subsets."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meshgw._filters import Filter, compile_filter
from meshgw.errors import ParseError

INSTANCE: dict[str, Any] = {
    "Node": {
        "ID": "b78f2a3c",
        "Node": "node-1",
        "Address": "10.0.0.1",
        "Datacenter": "dc1",
        "TaggedAddresses": {"lan": "10.0.0.1", "wan": "198.18.0.1"},
        "Meta": {"rack": "rack-1", "zone": "a"},
    },
    "Service": {
        "Kind": "",
        "ID": "api-1",
        "Service": "api",
        "Tags": ["prod", "canary"],
        "Address": "10.0.0.10",
        "TaggedAddresses": {"wan": {"Address": "198.18.0.10", "Port": 443}},
        "Meta": {"version": "v1", "build": "2", "my key": "spaced", "blank": ""},
        "Port": 8080,
        "Weights": {"Passing": 10, "Warning": 1},
        "EnableTagOverride": False,
        "Proxy": {
            "DestinationServiceName": "",
            "DestinationServiceID": "",
            "LocalServiceAddress": "",
            "LocalServicePort": 0,
            "Mode": "",
        },
        "Connect": {"Native": True},
        "Namespace": "default",
        "Partition": "default",
    },
    "Checks": [{"CheckID": "serfHealth", "Status": "passing"}],
}


def matches(expression: str, context: dict[str, Any] | None = None) -> bool:
    return compile_filter(expression).matches(INSTANCE if context is None else context)


def parse_error(expression: str) -> ParseError:
    with pytest.raises(ParseError) as info:
        compile_filter(expression)
    error = info.value
    assert error.file is None
    assert error.line is None
    return error


class TestConsulDocExamples:
    def test_bare_value(self) -> None:
        assert matches("Service.Meta.version == v1")
        assert not matches("Service.Meta.version == v2")

    def test_value_in_tags(self) -> None:
        assert matches('"canary" in Service.Tags')
        assert not matches('"blue" in Service.Tags')

    def test_quoted_number_compares_as_string(self) -> None:
        assert matches('Service.Meta.build == "2"')
        assert not matches('Service.Meta.version == "2"')

    def test_node_meta_and_tags(self) -> None:
        # The hyphenated value must be quoted: go-bexpr only takes names and numbers bare.
        assert matches('Node.Meta.rack == "rack-1" and Service.Tags contains "prod"')
        assert not matches('Node.Meta.rack == "rack-2" and Service.Tags contains "prod"')
        error = parse_error("Node.Meta.rack == rack-1")
        assert error.column == len("Node.Meta.rack == rack") + 1
        assert '"rack-1"' in error.reason


class TestEquality:
    @pytest.mark.parametrize(
        ("expression", "expected"),
        [
            ("Service.Service == api", True),
            ("Service.Service != api", False),
            ("Service.Service == web", False),
            ("Service.Service != web", True),
            ("Node.Datacenter == dc1", True),
            ("Node.TaggedAddresses.wan == `198.18.0.1`", True),
            ('Service.TaggedAddresses.wan.Address == "198.18.0.10"', True),
            ("Service.Proxy.Mode == ``", True),
            ('Service.Kind == ""', True),
        ],
    )
    def test_strings(self, expression: str, expected: bool) -> None:
        assert matches(expression) is expected

    @pytest.mark.parametrize(
        ("expression", "expected"),
        [
            ("Service.Port == 8080", True),
            ('Service.Port == "8080"', True),
            ("Service.Port != 8080", False),
            ("Service.Port == 80", False),
            ("Service.Weights.Passing == 10", True),
            ("Service.TaggedAddresses.wan.Port == 443", True),
            ("Service.Proxy.LocalServicePort == 0", True),
            ("Service.Port == -1", False),
        ],
    )
    def test_integers(self, expression: str, expected: bool) -> None:
        assert matches(expression) is expected

    def test_integer_field_given_as_text_in_context(self) -> None:
        context = {"Service": {"Port": "8080"}}
        assert matches("Service.Port == 8080", context)

    @pytest.mark.parametrize(
        ("expression", "expected"),
        [
            ("Service.EnableTagOverride == false", True),
            ("Service.EnableTagOverride == true", False),
            ("Service.Connect.Native == true", True),
            ("Service.Connect.Native == True", True),
            ("Service.Connect.Native == 1", True),
            ('Service.Connect.Native != "t"', False),
        ],
    )
    def test_booleans(self, expression: str, expected: bool) -> None:
        assert matches(expression) is expected

    def test_bare_dotted_value_is_literal_text(self) -> None:
        # A bare selector-shaped value is text, never a reference to another field.
        context = {"Service": {"Meta": {"a": "Service.Meta.b", "b": "x"}}}
        assert matches("Service.Meta.a == Service.Meta.b", context)

    def test_keywords_as_bare_values(self) -> None:
        context = {"Service": {"Meta": {"a": "and"}}}
        assert matches("Service.Meta.a == and", context)


class TestEmptiness:
    @pytest.mark.parametrize(
        ("expression", "expected"),
        [
            ("Service.Tags is empty", False),
            ("Service.Tags is not empty", True),
            ("Service.Meta is not empty", True),
            ("Service.Meta.blank is empty", True),
            ("Service.Meta.version is empty", False),
            ("Service.Meta.version is not empty", True),
            ("Checks is empty", False),
            ("Checks is not empty", True),
        ],
    )
    def test_present(self, expression: str, expected: bool) -> None:
        assert matches(expression) is expected

    def test_empty_collections(self) -> None:
        context = {"Service": {"Tags": [], "Meta": {}}, "Checks": []}
        assert matches("Service.Tags is empty", context)
        assert matches("Service.Meta is empty", context)
        assert matches("Checks is empty", context)
        assert not matches("Checks is not empty", context)


class TestMembership:
    @pytest.mark.parametrize(
        ("expression", "expected"),
        [
            # list: membership
            ('"prod" in Service.Tags', True),
            ("prod in Service.Tags", True),
            ('"pro" in Service.Tags', False),
            ('"prod" not in Service.Tags', False),
            ('"blue" not in Service.Tags', True),
            ('Service.Tags contains "canary"', True),
            ("Service.Tags contains blue", False),
            ("Service.Tags not contains blue", True),
            # map: key present
            ('"version" in Service.Meta', True),
            ('"v1" in Service.Meta', False),
            ('Service.Meta contains "my key"', True),
            ('Service.Meta not contains "nope"', True),
            ("wan in Service.TaggedAddresses", True),
            ("lan in Service.TaggedAddresses", False),
            ("lan in Node.TaggedAddresses", True),
            # string: substring
            ('"pi" in Service.Service', True),
            ('Service.Service contains "ap"', True),
            ('Service.Service not contains "ap"', False),
            ('"10.0" in Node.Address', True),
            ("1 in Service.Meta.build", False),
            ("2 in Service.Meta.build", True),
        ],
    )
    def test_operators(self, expression: str, expected: bool) -> None:
        assert matches(expression) is expected


class TestMatches:
    @pytest.mark.parametrize(
        ("expression", "expected"),
        [
            ('Service.Meta.version matches "^v[0-9]+$"', True),
            ('Service.Meta.version matches "2"', False),
            ('Service.Meta.version not matches "^v2"', True),
            ('Service.Meta.version not matches "v"', False),
            # search, not full match
            ('Node.Node matches "de-"', True),
            (r"Node.Address matches `^10\.0\.`", True),
            ('Node.Address matches "^10\\\\.1"', False),
        ],
    )
    def test_regex(self, expression: str, expected: bool) -> None:
        assert matches(expression) is expected


class TestMissing:
    @pytest.mark.parametrize(
        ("expression", "expected"),
        [
            ("Service.Meta.nope == x", False),
            ("Service.Meta.nope != x", True),
            ("Service.Meta.nope is empty", True),
            ("Service.Meta.nope is not empty", False),
            ('"x" in Service.Meta.nope', False),
            ('"x" not in Service.Meta.nope', True),
            ('Service.Meta.nope contains "x"', False),
            ('Service.Meta.nope matches "x"', False),
            ('Service.Meta.nope not matches "x"', True),
            ("Service.Port == 8080", False),
            ("Service.Tags is empty", True),
            ('"prod" in Service.Tags', False),
            ("Checks is empty", True),
            ("Service.Connect.Native == false", False),
        ],
    )
    def test_missing_keys(self, expression: str, expected: bool) -> None:
        context: dict[str, Any] = {"Service": {"Meta": {}}}
        assert matches(expression, context) is expected

    def test_none_and_missing_sections(self) -> None:
        assert not matches("Service.Meta.version == v1", {})
        assert not matches("Service.Meta.version == v1", {"Service": None})
        assert not matches("Service.Meta.version == v1", {"Service": {"Meta": None}})
        assert matches("Service.Meta.version != v1", {"Service": {"Meta": None}})


class TestLogic:
    def test_precedence_and_binds_tighter_than_or(self) -> None:
        # a or (b and c): true because a is true, although c is false.
        assert matches("Service.Service == api or Service.Port == 1 and Service.Port == 2")
        # (a or b) and c would be false.
        assert not matches("(Service.Service == api or Service.Port == 1) and Service.Port == 2")

    def test_not(self) -> None:
        assert not matches("not Service.Service == api")
        assert matches("not not Service.Service == api")
        assert matches("not Service.Service == web and Service.Port == 8080")
        # not binds tighter than and/or
        assert matches("not Service.Service == api or Service.Port == 8080")
        assert not matches("not (Service.Service == api or Service.Port == 8080)")

    def test_parentheses(self) -> None:
        assert matches("(Service.Service == api)")
        assert matches("((Service.Service == api))")
        assert matches(" ( Service.Service == api ) and ( Service.Port == 8080 ) ")

    def test_chains(self) -> None:
        assert matches("Service.Port == 1 or Service.Port == 2 or Service.Port == 8080")
        assert not matches("Service.Port == 8080 and Service.Service == api and Checks is empty")

    def test_whitespace_is_free_around_equality(self) -> None:
        assert matches("Service.Service==api")
        assert matches('Service.Service!="web"')
        assert matches("\tService.Service ==\n api\r\n")

    def test_not_as_a_bare_value(self) -> None:
        # go-bexpr reads this as: the value "not" is in Service.Tags.
        assert not matches("not in Service.Tags")
        assert matches("not in Service.Tags", {"Service": {"Tags": ["not"]}})


class TestValues:
    def test_double_quoted_escapes(self) -> None:
        context = {"Service": {"Meta": {"k": 'a"b\\c\td\n\x41\u00e9'}}}
        assert matches(r'Service.Meta.k == "a\"b\\c\td\n\x41\u00e9"', context)
        assert matches(r'Service.Meta.k == "a\"b\\c\td\n\101\U000000e9"', context)

    def test_backquoted_raw(self) -> None:
        context = {"Service": {"Meta": {"k": r"a\nb"}}}
        assert matches(r"Service.Meta.k == `a\nb`", context)

    def test_numbers_against_strings(self) -> None:
        context = {"Service": {"Meta": {"k": "1.5"}}}
        assert matches("Service.Meta.k == 1.5", context)

    def test_bracket_selectors(self) -> None:
        assert matches('Service.Meta["my key"] == spaced')
        assert matches('Service.Meta[ "version" ] == v1')
        assert matches("Service.Meta[`version`] == v1")
        assert matches('Service["Meta"]["version"] == v1')
        assert matches('"my key" in Service.Meta')

    def test_digit_map_keys(self) -> None:
        context = {"Service": {"Meta": {"0": "zero", "1": {"5": "x"}}}}
        assert matches("Service.Meta.0 == zero", context)


class TestErrors:
    @pytest.mark.parametrize(
        ("expression", "column", "fragment"),
        [
            ("", 1, "empty filter expression"),
            ("   ", 1, "empty filter expression"),
            ('Service.Meta.version == "v1', 25, "unterminated string"),
            ("Service.Meta.version == `v1", 25, "unterminated string"),
            ('Service.Meta.version == "v\n1"', 27, "newline in string"),
            (r'Service.Meta.version == "\q"', 26, "invalid escape"),
            (r'Service.Meta.version == "\x4"', 26, "invalid escape"),
            ("Service.Foo == x", 1, "unknown selector Service.Foo"),
            ("Service.meta.version == x", 1, "did you mean Service.Meta?"),
            ("Services.Meta.version == x", 1, "did you mean Service?"),
            ("Foo == x", 1, "unknown selector Foo"),
            ('"x" in Service.Tag', 8, "unknown selector Service.Tag"),
            ("Service.Meta.a.b == x", 1, "Service.Meta.a is a string"),
            ("Checks.Status == passing", 1, "Checks is a list of health checks"),
            ("Service.Meta.version == v1 v2", 28, "unexpected 'v2'"),
            ('Service.Meta.version == v1 "x"', 28, "unexpected string"),
            ("Service.Meta.version == v1)", 27, "unexpected ')'"),
            ("Service.Meta.version ==", 24, "expected a value after '=='"),
            ("Service.Meta.version == ", 25, "expected a value after '=='"),
            ("Service.Meta.version", 21, "expected an operator"),
            ("Service.Meta.version == v1 and", 31, "expected an expression"),
            ("or Service.Port == 1", 4, "expected an operator"),
            ("not", 4, "expected an expression after 'not'"),
            ("( Service.Port == 1", 20, "expected ')'"),
            ("()", 2, "expected an expression, found ')'"),
            ('"x" in', 7, "expected a selector"),
            ('Service.Tags in "x"', 17, "the value goes first"),
            ('"x" == Service.Meta.a', 5, "'in' or 'not in'"),
            ("Service.Meta.a is full", 19, "expected 'empty' or 'not empty'"),
            ("Service.Meta.a is not full", 23, "expected 'empty'"),
            ("Service.Meta.a not equals x", 20, "expected 'in', 'contains' or 'matches'"),
            ('Service.Meta.a matches "("', 24, "invalid regular expression"),
            ('Service.Meta.a matches "[a-"', 24, "invalid regular expression"),
            ("Service.Port == abc", 17, "Service.Port is an integer"),
            ("Service.Port == 1.5", 17, "Service.Port is an integer"),
            ("Service.Connect.Native == yes", 27, "is a boolean"),
            ("Service.Port == 80x", 17, "invalid number literal"),
            ("Service.Weights == 1", 17, "Service.Weights is a structure"),
            ("Service.Port contains 8", 14, "'contains' cannot be applied to Service.Port"),
            ('Service.Tags matches "x"', 14, "'matches' cannot be applied to Service.Tags"),
            ('Service.Meta matches "x"', 14, "'matches' cannot be applied to Service.Meta"),
            ("Service.Tags == prod", 14, "'==' cannot be applied to Service.Tags"),
            ("Service.Port is empty", 14, "'is empty' cannot be applied"),
            ("Checks contains x", 8, "'contains' cannot be applied to Checks"),
            ("Service.Meta.my-key == x", 16, 'Service.Meta["my-key"]'),
            ("Service.Meta.a ! b", 16, "found character '!'"),
            ("Service.Meta.a == @", 19, "found character '@'"),
            ("Service.Meta[version] == x", 14, "expected a quoted map key"),
            ('Service.Meta["version" == x', 24, "expected ']'"),
            ("Service.Meta. version == x", 15, "expected a name after '.'"),
            # keywords need whitespace around them, as in go-bexpr
            ('Service.Meta.a == "b"and Service.Port == 1', 22, "whitespace before 'and'"),
            ('Service.Meta.a == "b" or(Service.Port == 1)', 25, "whitespace after 'or'"),
            ('"x"in Service.Tags', 4, "whitespace before 'in'"),
            ('Service.Tags contains"x"', 22, "whitespace after 'contains'"),
            ("not(Service.Port == 1)", 4, "whitespace after 'not'"),
            # keywords are lowercase
            ("Service.Port == 1 AND Service.Port == 2", 19, "unexpected 'AND'"),
            ("NOT Service.Port == 1", 5, "expected an operator"),
        ],
    )
    def test_parse_errors(self, expression: str, column: int, fragment: str) -> None:
        error = parse_error(expression)
        assert fragment in error.reason
        assert error.column == column, error.reason

    def test_nesting_limit(self) -> None:
        assert matches("(" * 100 + "Service.Port == 8080" + ")" * 100)
        assert matches("not " * 100 + "Service.Port == 8080")
        error = parse_error("(" * 101 + "Service.Port == 8080" + ")" * 101)
        assert "nested more than 100 levels" in error.reason
        assert error.column == 101
        error = parse_error("not " * 101 + "Service.Port == 8080")
        assert type(error) is ParseError
        assert "nested more than 100 levels" in error.reason
        assert error.column == 401

    def test_regex_repeat_too_large(self) -> None:
        assert (
            "invalid regular expression"
            in parse_error('Service.Meta.a matches "a{99999999999}"').reason
        )

    def test_excerpt_and_caret(self) -> None:
        error = parse_error("Service.Foo == x")
        assert error.excerpt == "Service.Foo == x"
        assert str(error).endswith("Service.Foo == x\n    ^")

    def test_multiline_expression_has_no_excerpt(self) -> None:
        error = parse_error("Service.Port == 1 and\n  Service.Foo == x")
        assert error.excerpt == ""
        assert error.column == len("Service.Port == 1 and\n  ") + 1

    def test_not_operator_reports_the_further_error(self) -> None:
        error = parse_error("not Service.Port == abc")
        assert error.column == len("not Service.Port == ") + 1
        assert "integer" in error.reason


class TestFilterObject:
    def test_expression_and_cache(self) -> None:
        first = compile_filter("Service.Meta.version == v1")
        assert isinstance(first, Filter)
        assert first.expression == "Service.Meta.version == v1"
        assert compile_filter("Service.Meta.version == v1") is first
        assert first == Filter("Service.Meta.version == v1", lambda ctx: False)
        assert "Service.Meta.version == v1" in repr(first)

    def test_many_instances(self) -> None:
        subset = compile_filter('Service.Meta.version == v2 and "prod" in Service.Tags')
        instances = [
            {"Service": {"Meta": {"version": f"v{i % 3}"}, "Tags": ["prod"] if i % 2 else []}}
            for i in range(3000)
        ]
        chosen = [i for i, inst in enumerate(instances) if subset.matches(inst)]
        assert chosen == [i for i in range(3000) if i % 3 == 2 and i % 2]


@given(st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=40))
def test_compile_never_raises_anything_but_parse_error(expression: str) -> None:
    try:
        compiled = compile_filter(expression)
    except ParseError as error:
        assert error.column is not None
        assert 1 <= error.column <= len(expression) + 1
    else:
        compiled.matches(INSTANCE)
        compiled.matches({})


_VALUE = st.from_regex(r"[A-Za-z0-9 _.:-]{0,12}", fullmatch=True)


@settings(max_examples=50)
@given(key=st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,8}", fullmatch=True), value=_VALUE, other=_VALUE)
def test_quoted_equality_matches_python(key: str, value: str, other: str) -> None:
    context = {"Service": {"Meta": {key: value}}}
    assert matches(f'Service.Meta.{key} == "{other}"', context) is (value == other)
    assert matches(f'Service.Meta["{key}"] != "{other}"', context) is (value != other)
    assert matches(f'"{other}" in Service.Meta.{key}', context) is (other in value)
