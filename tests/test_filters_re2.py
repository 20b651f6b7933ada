"""``matches`` in resolver subset filters has RE2 semantics, as in Consul (issue 14):
linear time, RE2's syntax, and numbers Go can parse."""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from typing import Any

import pytest

import meshgw
from meshgw import ValidationError
from meshgw._filters import compile_filter
from meshgw.errors import ParseError


def _instance(meta: str) -> dict[str, Any]:
    return {"Service": {"Service": "api", "Meta": {"v": meta}, "Port": 8080}}


def _finishes(call: Callable[[], object], seconds: float = 30.0) -> object:
    """Run ``call`` in a thread and fail (not hang) if it has not returned in time: a
    generous bound on something that takes microseconds with a linear-time engine."""
    box: list[object] = []
    thread = threading.Thread(target=lambda: box.append(call()), daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), "filter evaluation did not finish: backtracking regex?"
    return box[0]


def test_catastrophic_pattern_runs_in_linear_time() -> None:
    flt = compile_filter('Service.Meta.v matches "(a+)+$"')
    # The case: no match, which a backtracking engine takes minutes to find.
    assert _finishes(lambda: flt.matches(_instance("a" * 33 + "!"))) is False
    assert _finishes(lambda: flt.matches(_instance("!" + "a" * 33))) is True
    nested = compile_filter('Service.Meta.v matches "^(a|aa)+$"')
    assert _finishes(lambda: nested.matches(_instance("a" * 5000 + "b"))) is False


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        (r"(a)\\1", "invalid escape"),  # backreference
        ("(?=a)", "invalid perl operator"),  # lookahead
        ("(?<!a)b", "invalid"),  # lookbehind
        ("a{1001}", "invalid repetition size"),
        ("a{99999999999}", "invalid repeat count"),
        ("a**", "bad repetition operator"),
        ("(", "missing )"),
    ],
)
def test_patterns_re2_rejects_are_parse_errors(pattern: str, reason: str) -> None:
    with pytest.raises(ParseError) as info:
        compile_filter(f'Service.Meta.v matches "{pattern}"')
    assert reason in info.value.reason
    assert info.value.column == len("Service.Meta.v matches ") + 1


def test_re2_syntax_python_lacks_is_accepted() -> None:
    # Go / RE2 syntax that Python's re refuses.
    assert compile_filter(r'Service.Meta.v matches "^\\pL+$"').matches(_instance("abc"))
    assert compile_filter('Service.Meta.v matches "^[[:digit:]]+$"').matches(_instance("42"))


def test_values_with_nul_and_surrogates_do_not_escape() -> None:
    flt = compile_filter('Service.Meta.v matches "b"')
    assert flt.matches(_instance("a\x00b"))
    assert flt.matches(_instance("\ud800b"))


def test_a_4301_digit_number_is_a_parse_error() -> None:
    with pytest.raises(ParseError) as info:
        compile_filter("Service.Port == " + "9" * 4301)
    assert "64 bits" in info.value.reason
    with pytest.raises(ParseError):
        compile_filter("Service.Port == 9223372036854775808")
    assert compile_filter("Service.Port == 9223372036854775807").matches(_instance("")) is False


def test_a_huge_numeric_value_in_the_catalog_compares_unequal() -> None:
    flt = compile_filter("Service.Port == 8080")
    assert flt.matches({"Service": {"Port": "9" * 5000}}) is False


_RESOLVER: dict[str, Any] = {
    "config_entries": {
        "bootstrap": [
            {
                "kind": "service-resolver",
                "name": "api",
                "subsets": {"v1": {"filter": 'Service.Meta.v matches "(?=x)"'}},
            }
        ]
    }
}


def test_an_rejected_pattern_is_a_located_error_at_load() -> None:
    with pytest.raises(ValidationError) as info:
        meshgw.Mesh.from_dict(copy.deepcopy(_RESOLVER), name="r.json")
    (problem,) = info.value.problems
    assert problem.path == "config_entries.bootstrap[0].subsets.v1.filter"
    assert "invalid regular expression" in problem.message
