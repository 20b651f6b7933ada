"""The command line: translate, explain, bootstrap, check — and the README's main job."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from meshgw._cli import main
from meshgw.testing import assert_envoy_accepts, find_envoy

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "two-dc"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_readme_main_job_translates_the_example_gateway(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "translate", str(EXAMPLE), "--service", "mesh-gateway")
    assert code == 0, err
    result = json.loads(out)
    assert sorted(result) == ["clusters", "endpoints", "listeners"]
    names = [listener["name"] for listener in result["listeners"]]
    # no_default_bind + bind_tagged_addresses in examples/two-dc/mesh-gateway.hcl
    assert names == ["lan:10.1.0.5:8443", "wan:198.18.1.5:443"]
    td = "7d6c6a53-2b5e-4f8e-9f1d-2a9f1c3b4e5d.consul"
    assert f"dc2.internal.{td}" in [c["name"] for c in result["clusters"]]
    dc2 = next(e for e in result["endpoints"] if e["cluster_name"] == f"dc2.internal.{td}")
    addresses = [
        ep["endpoint"]["address"]["socket_address"]["address"]
        for group in dc2["endpoints"]
        for ep in group["lb_endpoints"]
    ]
    assert addresses == ["198.18.2.5", "198.18.2.6"]


@pytest.mark.envoy
@pytest.mark.skipif(find_envoy() is None, reason="no Envoy binary")
def test_example_gateway_output_runs_in_envoy(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "translate", str(EXAMPLE), "--service", "mesh-gateway")
    assert code == 0, err
    assert_envoy_accepts(json.loads(out))


def test_translate_static_writes_to_a_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    target = tmp_path / "out.json"
    code, out, _ = run(
        capsys, "translate", str(EXAMPLE), "-s", "mesh-gateway", "--static", "-o", str(target)
    )
    assert code == 0 and out == ""
    result = json.loads(target.read_text())
    assert result["endpoints"] == []
    assert all(c["type"] != "EDS" for c in result["clusters"])


def test_explain_prints_the_table_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "explain", str(EXAMPLE), "--service", "web-sidecar-proxy")
    assert code == 0
    assert "api?dc=dc2" in out and "local-gateway" in out and "remote-gateway" in out
    code, out, _ = run(capsys, "explain", str(EXAMPLE), "-s", "web-sidecar-proxy", "--json")
    assert code == 0
    data = json.loads(out)
    routes = {r["upstream"]: r["route"] for r in data["resolutions"]}
    assert routes == {
        "api?dc=dc2": "local-gateway",
        "db?dc=dc2": "remote-gateway",
        "redis?dc=dc2": "direct",
    }


def test_bootstrap_has_node_and_admin(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(
        capsys, "bootstrap", str(EXAMPLE), "-s", "mesh-gateway", "--admin", "127.0.0.1:19000"
    )
    assert code == 0, err
    boot = json.loads(out)
    assert boot["node"] == {"id": "mesh-gateway", "cluster": "mesh-gateway"}
    admin = boot["admin"]["address"]["socket_address"]
    assert admin == {"address": "127.0.0.1", "port_value": 19000}


def test_check_summarises(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "check", str(EXAMPLE))
    assert code == 0
    assert out.startswith("ok: datacenter dc1;")
    assert "1 connect-proxy" in out and "1 mesh-gateway" in out


def test_service_must_be_chosen_when_ambiguous(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "translate", str(EXAMPLE))
    assert code == 1
    assert "--service" in err and "mesh-gateway" in err and "web-sidecar-proxy" in err


def test_bad_input_is_a_located_error_not_a_traceback(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.hcl"
    bad.write_text('service {\n  name = "web"\n  port = "8080"\n}\n')
    code, out, err = run(capsys, "check", str(bad))
    assert code == 1 and out == ""
    assert f"{bad}:3: service.port: expected a whole number" in err
    assert "Traceback" not in err


def test_unknown_service_and_bad_admin(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "translate", str(EXAMPLE), "-s", "nope")
    assert code == 1 and "no service registration 'nope'" in err
    with pytest.raises(SystemExit) as exc:
        main(["bootstrap", str(EXAMPLE), "-s", "mesh-gateway", "--admin", "x"])
    assert exc.value.code == 2
    assert "argument --admin: expected IP:PORT, got 'x'" in capsys.readouterr().err


def test_python_dash_m_runs_the_cli() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "meshgw", "check", str(EXAMPLE)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("ok: datacenter dc1;")


def test_config_typos_flag(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    typo = tmp_path / "gw.hcl"
    typo.write_text(
        'service {\n  name = "gw"\n  kind = "mesh-gateway"\n  port = 8443\n'
        "  proxy { config { envoy_gateway_bind_taged_addresses = true } }\n}\n"
    )
    code, _, err = run(capsys, "check", str(typo))
    assert code == 1 and "did you mean 'envoy_gateway_bind_tagged_addresses'?" in err
    code, out, err = run(capsys, "check", "--config-typos", "warn", str(typo))
    assert code == 0 and out.startswith("ok:")
    assert err.startswith(f"meshgw: warning: {typo}:5: service.proxy.config.")
