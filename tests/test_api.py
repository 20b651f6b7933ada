"""The public API contract of DESIGN.md: the names exist, are typed, and import fast."""

from __future__ import annotations

import subprocess
import sys
import types

import meshgw

CONTRACT = [
    "load",
    "loads",
    "Mesh",
    "Service",
    "Upstream",
    "GatewayMode",
    "ServiceKind",
    "resolve_mode",
    "explain",
    "translate",
    "bootstrap",
    "MeshgwError",
    "ParseError",
    "ValidationError",
    "Problem",
    "LookupFailed",
    "TranslationError",
]


def test_every_contract_name_is_public() -> None:
    for name in CONTRACT:
        assert name in meshgw.__all__, name
        assert getattr(meshgw, name) is not None


def test_translate_and_bootstrap_are_the_functions() -> None:
    assert isinstance(meshgw.translate, types.FunctionType)
    assert isinstance(meshgw.bootstrap, types.FunctionType)
    from meshgw import bootstrap, translate

    assert translate is meshgw.translate and bootstrap is meshgw.bootstrap


def test_import_does_not_load_parsers_or_translators() -> None:
    code = (
        "import sys, meshgw; "
        "print(sorted(m for m in ('hcl2', 'lark', 'meshgw._translation', 'meshgw._plan.gateway') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_gateway_mode_values() -> None:
    assert [m.value for m in meshgw.GatewayMode] == ["", "none", "local", "remote"]
    assert str(meshgw.GatewayMode.LOCAL) == "local"
    assert meshgw.GatewayMode("") is meshgw.GatewayMode.DEFAULT


def test_errors_are_meshgw_errors_and_builtins() -> None:
    assert issubclass(meshgw.ParseError, meshgw.MeshgwError)
    assert issubclass(meshgw.ParseError, ValueError)
    assert issubclass(meshgw.ValidationError, ValueError)
    assert issubclass(meshgw.LookupFailed, KeyError)
    assert issubclass(meshgw.TranslationError, meshgw.MeshgwError)
