"""The worked example of docs/intentions.md (examples/intentions/): what the page shows is
what the code prints, and the proxies it describes are ones Envoy accepts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import meshgw
from meshgw.testing import assert_envoy_accepts, make_test_pki

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "intentions"
DOC = (ROOT / "docs" / "intentions.md").read_text(encoding="utf-8")


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC, flags=re.S)


@pytest.fixture
def mesh(monkeypatch: pytest.MonkeyPatch) -> meshgw.Mesh:
    # Relative names, as the page runs it from examples/intentions/.
    monkeypatch.chdir(EXAMPLE)
    return meshgw.load("mesh.hcl", "intentions.hcl")


def test_the_page_shows_the_example_s_intentions() -> None:
    text = (EXAMPLE / "intentions.hcl").read_text(encoding="utf-8")
    body = text.split("\n", 1)[1]  # without the file's opening comment
    assert _blocks("hcl") == [body]


def test_the_page_shows_what_explain_prints(mesh: meshgw.Mesh) -> None:
    exp = meshgw.explain("web-sidecar-proxy", mesh)
    assert _blocks("text") == [exp.render()]
    verbose = exp.render(verbose=True)
    line = "payments: intentions: deny: deny default/web → default/payments (intentions.hcl:8)"
    assert line in verbose and line in DOC
    assert [d["verdict"] for d in exp.to_dict()["intentions"]] == ["deny", "l7", "deny"]


def test_the_page_s_one_question(mesh: meshgw.Mesh) -> None:
    decision = meshgw.resolve_intention("billing", "payments", mesh)
    assert (decision.verdict, decision.allowed) == ("allow", True)
    assert str(decision) == "allow: allow default/* → default/payments (intentions.hcl:9)"
    assert f"str(decision)         # '{decision}'" in DOC
    assert decision.intention is not None and decision.intention.precedence == 8
    assert meshgw.resolve_intention("api", "reports", mesh).allowed is False


def test_the_example_s_sidecars_are_accepted_by_envoy(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(EXAMPLE)
    names = ("web", "api", "payments")
    pki = make_test_pki(
        tmp_path, "7d6c6a53-2b5e-4f8e-9f1d-2a9f1c3b4e5d.consul", [(n, "dc1") for n in names]
    )
    tls = tmp_path / "tls.hcl"
    tls.write_text(
        f'mesh_tls {{\n  ca_file = "{pki.ca_file}"\n'
        f'  cert_file = "{pki.directory}/{{service}}-{{datacenter}}.pem"\n'
        f'  key_file = "{pki.directory}/{{service}}-{{datacenter}}-key.pem"\n}}\n'
    )
    mesh = meshgw.load("mesh.hcl", "intentions.hcl", tls)
    for name in names:
        assert_envoy_accepts(
            meshgw.translate(f"{name}-sidecar-proxy", mesh), reject_deprecated=True
        )


def test_check_and_trace_report_the_intentions(
    mesh: meshgw.Mesh, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    findings = meshgw.check(mesh)
    assert [(f.code, f.upstream) for f in findings] == [
        ("MGW100", "payments"),
        ("MGW101", "api"),
        ("MGW100", "reports"),
    ]
    # docs/findings.md shows these two as they are printed.
    page = (ROOT / "docs" / "findings.md").read_text(encoding="utf-8")
    assert str(findings[0]) in page and str(findings[1]) in page
    denied = meshgw.trace(mesh, "web", "payments")
    assert denied.render() in DOC
    assert not denied.ok and [p.code for p in denied.problems] == ["MGW100"]
    assert "denied by deny default/web → default/payments (intentions.hcl:8)" in str(denied)
    # The L7 upstream reaches api's sidecar (an HTTP listener traced to local_app).
    l7 = meshgw.trace(mesh, "web", "api")
    assert l7.ok and l7.paths[0][-1].proxy == "api-sidecar-proxy"
    # Allowed: the path ends at the destination's public listener without a finding.
    allow = tmp_path / "allow.hcl"
    allow.write_text(
        'Kind = "service-intentions"\nName = "reports"\n'
        'Sources = [{ Name = "web", Action = "allow" }]\n'
    )
    more = meshgw.load("mesh.hcl", "intentions.hcl", allow)
    ok = meshgw.trace(more, "web", "reports")
    assert ok.ok and ok.problems == () and ok.paths[0][-1].cluster == "local_app"
