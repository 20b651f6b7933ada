"""The public API contract of DESIGN.md: the names exist, are typed, and import fast."""

from __future__ import annotations

import subprocess
import sys
import types
from collections.abc import Callable
from pathlib import Path

import pytest

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
    "MeshProxy",
    "MeshSet",
    "proxies",
    "translate_all",
    "datacenter_view",
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
        "print(sorted(m for m in ('hcl2', 'lark', 'meshgw._translation', 'meshgw._plan.gateway', "
        "'meshgw._mesh.translator', 'meshgw._mesh.meshset') "
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


def test_usage_errors_are_one_class_everywhere(tmp_path: Path) -> None:
    """errors.py's rule: a call no mesh could make right raises UsageError (a MeshgwError
    and a ValueError) from every entry point, loading, resolving and translating alike."""
    from meshgw._resolve.modes import resolve_target_mode
    from meshgw.testing import assert_envoy_accepts, make_test_pki

    assert issubclass(meshgw.UsageError, meshgw.MeshgwError)
    assert issubclass(meshgw.UsageError, ValueError)
    mesh = meshgw.loads(_SIDECAR, format="hcl")
    proxy = mesh.service("web-sidecar-proxy")
    mistakes: list[tuple[Callable[[], object], str]] = [
        (lambda: meshgw.loads("{}", format="yaml"), "unknown format"),
        (lambda: meshgw.loads("{}", format="json", config_typos="x"), "config_typos"),  # type: ignore[arg-type]
        (lambda: meshgw.load(), "no files given"),
        (lambda: meshgw.translate(proxy, mesh, endpoints="inline"), "endpoints must be"),  # type: ignore[arg-type]
        (lambda: meshgw.translate(proxy, mesh, missing="ignore"), "missing must be"),  # type: ignore[arg-type]
        (lambda: meshgw.translate("web-sidecar-proxy"), "without a mesh"),
        (lambda: meshgw.bootstrap("web-sidecar-proxy"), "without a mesh"),
        (lambda: resolve_target_mode(proxy, "api", mesh, service_name=""), "needs a service_name"),
        (
            lambda: resolve_target_mode(
                proxy, "api", mesh, service_name="api", peer="p", datacenter="dc2"
            ),
            "not both",
        ),
    ]
    mistakes += [
        (lambda: meshgw.resolve_mode(mesh.service("web"), "api", mesh), "typical service"),
        (lambda: make_test_pki(tmp_path, "", [("web", "dc1")]), "invalid trust domain"),
        (lambda: make_test_pki(tmp_path, "td", [("web", "dc1"), ("web", "dc1")]), "two"),
        (lambda: assert_envoy_accepts([]), "expected a translate result"),  # type: ignore[arg-type]
    ]
    for call, needle in mistakes:
        with pytest.raises(meshgw.UsageError, match=needle):
            call()


_SIDECAR = """
datacenter = "dc1"
service {
  name = "web"
  port = 8080
  connect {
    sidecar_service {
      proxy {
        upstreams = [{ destination_name = "api", local_bind_port = 9191 }]
      }
    }
  }
}
"""


def test_the_readme_example_runs(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = Path(__file__).resolve().parents[1]
    code = (root / "README.md").read_text().split("```python\n", 1)[1].split("```", 1)[0]
    monkeypatch.chdir(root)
    exec(compile(code, "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert "web-sidecar-proxy (datacenter dc1, partition default): 3 upstreams" in out
    assert "web-sidecar-proxy -> api?dc=dc2: ok" in out
    assert "MGW" not in out  # the example checks clean
