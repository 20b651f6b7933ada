"""CLI conventions: version, stdin, output formats and files, selection, usage errors,
validated values, warnings, help texts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from meshgw._cli import main

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "two-dc"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def usage_error(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    with pytest.raises(SystemExit) as exc:
        main(list(argv))
    assert exc.value.code == 2
    return capsys.readouterr().err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    import meshgw

    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out == f"meshgw {meshgw.__version__}\n"


def test_stdin_is_one_document(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    text = (EXAMPLE / "mesh-gateway.hcl").read_text()
    monkeypatch.setattr("sys.stdin", io.StringIO(text))
    code, out, err = run(capsys, "check", "-")
    assert code == 0, err
    assert out.startswith("ok: ") and "1 mesh-gateway" in out
    monkeypatch.setattr("sys.stdin", io.StringIO('service { name = "x" port = "p" }'))
    code, _, err = run(capsys, "check", "-")
    assert code == 1 and err.startswith("meshgw: ") and "<stdin>:1: " in err
    code, _, err = run(capsys, "check", "-", str(EXAMPLE))
    assert code == 1 and "- (standard input) must be the only FILE" in err


def test_yaml_and_json_give_the_same_resources(capsys: pytest.CaptureFixture[str]) -> None:
    base = ("translate", str(EXAMPLE), "-s", "web-sidecar-proxy")
    code, as_json, _ = run(capsys, *base)
    assert code == 0
    code, as_yaml, _ = run(capsys, *base, "-o", "yaml")
    assert code == 0
    assert yaml.safe_load(as_yaml) == json.loads(as_json)
    # deterministic: keys sorted, the same text twice
    assert run(capsys, *base, "-o", "yaml")[1] == as_yaml


def test_table_is_one_line_per_resource(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "translate", str(EXAMPLE), "-s", "mesh-gateway", "-o", "table")
    assert code == 0
    code, as_json, _ = run(capsys, "translate", str(EXAMPLE), "-s", "mesh-gateway")
    result = json.loads(as_json)
    lines = out.splitlines()
    assert lines[0].split() == ["TYPE", "NAME", "FACTS"]
    assert len(lines) - 1 == sum(len(v) for v in result.values())
    wan = next(line for line in lines if line.startswith("listener") and "wan:" in line)
    assert "198.18.1.5:443" in wan and "chains" in wan
    dc2 = next(line for line in lines if line.startswith("endpoint") and " dc2." in line)
    assert "198.18.2.5:443" in dc2 and "198.18.2.6:443" in dc2


def test_type_and_name_select(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "translate", str(EXAMPLE), "-s", "mesh-gateway", "-t", "listener", "--name", "wan:*"
    )
    assert code == 0
    assert [listener["name"] for listener in json.loads(out)["listeners"]] == ["wan:198.18.1.5:443"]
    assert list(json.loads(out)) == ["listeners"]
    code, out, _ = run(
        capsys, "translate", str(EXAMPLE), "-s", "mesh-gateway", "-t", "cluster", "-t", "endpoint"
    )
    assert sorted(json.loads(out)) == ["clusters", "endpoints"]


def test_output_files(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    target = tmp_path / "gw.yaml"
    code, out, _ = run(capsys, "translate", str(EXAMPLE), "-s", "mesh-gateway", "-o", str(target))
    assert code == 0 and out == ""
    assert sorted(yaml.safe_load(target.read_text())) == ["clusters", "endpoints", "listeners"]
    assert [p.name for p in tmp_path.iterdir()] == ["gw.yaml"]  # no temporary left behind

    code, _, err = run(
        capsys,
        "translate",
        str(EXAMPLE),
        "-s",
        "mesh-gateway",
        "-o",
        str(tmp_path / "no" / "x.json"),
    )
    assert code == 1 and "does not exist" in err and "Traceback" not in err
    code, _, err = run(capsys, "translate", str(EXAMPLE), "-s", "mesh-gateway", "-o", str(tmp_path))
    assert code == 1 and "is a directory" in err


def test_bad_flag_shows_the_subcommand_usage(capsys: pytest.CaptureFixture[str]) -> None:
    err = usage_error(capsys, "translate", str(EXAMPLE), "--nope")
    assert err.startswith("usage: meshgw translate")
    assert "unrecognized arguments: --nope" in err


@pytest.mark.parametrize(
    ("admin", "message"),
    [
        ("localhost:19000", "'localhost' is not an IP address"),
        ("127.0.0.1:99999", "port 99999 is out of range"),
        ("127.0.0.1", "expected IP:PORT"),
    ],
)
def test_admin_is_validated(capsys: pytest.CaptureFixture[str], admin: str, message: str) -> None:
    err = usage_error(capsys, "bootstrap", str(EXAMPLE), "-s", "mesh-gateway", "--admin", admin)
    assert message in err


def test_admin_accepts_ipv6_and_port_zero(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(
        capsys, "bootstrap", str(EXAMPLE), "-s", "mesh-gateway", "--admin", "[::1]:0"
    )
    assert code == 0, err
    sock = json.loads(out)["admin"]["address"]["socket_address"]
    assert sock == {"address": "::1", "port_value": 0}


def test_missing_warn_and_warnings_before_errors(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "mesh.hcl").write_text(
        'datacenter = "dc1"\n'
        'service {\n  name = "web"\n  port = 8080\n'
        "  connect { sidecar_service { proxy {\n"
        '    config = { protocoll = "tcp" }\n'
        '    upstreams = [{ destination_name = "api", datacenter = "dc2",\n'
        '                   mesh_gateway = { mode = "local" }, local_bind_port = 9191 }]\n'
        "  } } }\n}\n"
    )
    base = ("translate", str(tmp_path), "-s", "web-sidecar-proxy", "--config-typos", "warn")
    code, _, err = run(capsys, *base)
    assert code == 1
    # the typo warning is printed although the translation then fails
    assert "warning:" in err and "protocoll" in err
    code, out, err = run(capsys, *base, "--missing", "warn")
    assert code == 0, err
    assert "warning:" in err and json.loads(out)["clusters"]


def test_explain_on_a_typical_service_points_to_its_sidecar(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, err = run(capsys, "explain", str(EXAMPLE), "-s", "web")
    assert code == 1
    assert "no service registration 'web'; did you mean its sidecar proxy" in err
    assert "'web-sidecar-proxy'" in err
    code, _, err = run(capsys, "explain", str(EXAMPLE), "-s", "web-sidecar-prxy")
    assert "did you mean 'web-sidecar-proxy'?" in err


@pytest.mark.parametrize("command", ["translate", "explain", "bootstrap", "check"])
def test_help_has_a_description_examples_and_exit_codes(
    capsys: pytest.CaptureFixture[str], command: str
) -> None:
    with pytest.raises(SystemExit):
        main([command, "--help"])
    out = capsys.readouterr().out
    assert "examples:\n  meshgw " + command in out
    assert "exit status:" in out and "2  usage error" in out
