"""meshgw.check and the `check` / `trace` commands: every proxy translated, every
upstream traced, findings with codes, file:line and suggestions."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

import meshgw
from meshgw._cli import main
from meshgw._mesh.findings import codes as registered_codes
from meshgw._mesh.findings import register

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "two-dc"


def broken_example(tmp_path: Path) -> Path:
    """examples/two-dc with dc2's gateways gone, an upstream in dc9 and `reddis`."""
    root = tmp_path / "two-dc"
    shutil.copytree(EXAMPLE, root)
    dc1 = root / "dc1.hcl"
    text = dc1.read_text()
    text = re.sub(
        r'  \{\n    datacenter = "dc2"\n    node       = "dc2-gw-\d"(?:.|\n)*?\n  \},\n', "", text
    )
    assert "dc2-gw" not in text
    dc1.write_text(text)
    web = root / "web.hcl"
    text = web.read_text()
    text = text.replace('destination_name = "redis"', 'destination_name = "reddis"')
    text = text.replace(
        'destination_name = "db"\n        datacenter       = "dc2"',
        'destination_name = "db"\n        datacenter       = "dc9"',
    )
    web.write_text(text)
    return root


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_the_example_checks_clean() -> None:
    assert meshgw.check(meshgw.load(EXAMPLE)) == ()


def test_check_finds_every_problem_of_the_broken_example(tmp_path: Path) -> None:
    root = broken_example(tmp_path)
    found = meshgw.check(meshgw.load(root))
    assert [(f.code, f.upstream) for f in found] == [
        ("MGW031", "api?dc=dc2"),
        ("MGW002", "db?dc=dc9"),
        ("MGW001", "reddis?dc=dc2"),
    ]
    web = str(root / "web.hcl")
    assert all(f.source is not None and f.source.file == web for f in found)
    assert [f.source.line for f in found if f.source] == [13, 21, 29]
    assert all(f.severity is meshgw.Severity.ERROR and f.suggestion for f in found)
    assert found[1].suggestion == "did you mean 'dc2'?"
    assert found[2].suggestion == "did you mean 'redis'?"


def test_check_command_reports_and_fails(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    root = broken_example(tmp_path)
    code, out, _ = run(capsys, "check", str(root))
    assert code == 1
    lines = out.splitlines()
    assert lines[1] == (
        f"{root / 'web.hcl'}:21: error MGW002 unknown-datacenter: upstream db?dc=dc9 names "
        "datacenter 'dc9', which the mesh does not know (did you mean 'dc2'?)"
    )
    assert lines[-1].startswith("FAILED: datacenter dc1;") and lines[-1].endswith("3 errors")
    code, out, _ = run(capsys, "check", "--json", str(root))
    data = json.loads(out)
    assert code == 1 and data["ok"] is False and data["counts"]["error"] == 3
    assert data["findings"][2]["code"] == "MGW001"
    assert data["findings"][2]["file"] == str(root / "web.hcl")
    assert data["findings"][2]["line"] == 29
    code, _, _ = run(capsys, "check", "--fail-on", "never", str(root))
    assert code == 0


def test_fail_on_warning(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    # A single-host failover target: a warning, not an error.
    resolver = tmp_path / "resolver.hcl"
    resolver.write_text(
        'Kind = "service-resolver"\nName = "redis"\n'
        'Failover = { "*" = { Datacenters = ["dc1"] } }\n'
    )
    catalog = tmp_path / "redis-dc1.hcl"
    catalog.write_text(
        'catalog = [{ datacenter = "dc1", node = "dc1-app-2", address = "10.1.1.11",\n'
        '  service = { kind = "connect-proxy", service = "redis-sidecar-proxy", port = 21000,\n'
        '              proxy = { destination_service_name = "redis",\n'
        "                        local_service_port = 6379 } } }]\n"
    )
    files = [str(EXAMPLE), str(resolver), str(catalog)]
    code, out, _ = run(capsys, "check", *files)
    assert code == 0 and "warning MGW061 failover-never-ejects" in out
    assert out.splitlines()[-1].startswith("ok:") and out.rstrip().endswith("1 warning")
    code, _, _ = run(capsys, "check", "--fail-on", "warning", *files)
    assert code == 1


def test_trace_command(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = run(capsys, "trace", str(EXAMPLE), "--from", "web-sidecar-proxy", "--to", "api")
    assert code == 0
    assert out.startswith("web-sidecar-proxy -> api?dc=dc2: ok\n")
    assert "dc1    mesh-gateway (mesh-gateway) at 10.1.0.5:8443" in out
    assert "dc2    api-sidecar-proxy (connect-proxy) at 10.2.1.10:21000 -> local_app" in out
    code, out, _ = run(capsys, "trace", str(EXAMPLE), "--from", "web", "--to", "db", "--json")
    data = json.loads(out)
    assert code == 0 and data["ok"] and data["upstream"] == "db?dc=dc2"
    assert [h["proxy"] for h in data["levels"][0][0]] == [
        "web-sidecar-proxy",
        "mesh-gateway",
        "db-sidecar-proxy",
    ]
    root = broken_example(tmp_path)
    code, out, _ = run(
        capsys, "trace", str(root), "--from", "web", "--to", "db", "--datacenter", "dc9"
    )
    assert code == 1 and "MGW002" in out and "FAILS" in out
    code, _, err = run(
        capsys, "trace", str(root), "--from", "web", "--to", "db", "--datacenter", "dc2"
    )
    assert code == 1 and "has no upstream 'db' in dc2" in err


def test_a_catalog_sidecar_without_its_local_port_is_traced_and_reported(tmp_path: Path) -> None:
    for name in ("dc1.hcl", "mesh-gateway.hcl", "proxy-defaults.hcl", "web.hcl"):
        text = (EXAMPLE / name).read_text()
        if name == "dc1.hcl":
            text = re.sub(
                r"(destination_service_name = \"api\"), local_service_port = 8080", r"\1", text
            )
            assert text.count("local_service_port") == 3
        (tmp_path / name).write_text(text)
    mesh = meshgw.load(tmp_path)
    found = meshgw.check(mesh)
    assert [(f.code, f.proxy, f.severity.value) for f in found] == [
        ("MGW083", "api-sidecar-proxy", "warning")
    ]
    assert found[0].source is not None and found[0].source.file.endswith("dc1.hcl")
    assert meshgw.trace(mesh, "web", "api").ok  # still traced through to api's sidecar
    api = next(p for p in meshgw.proxies(mesh) if p.id == "api-sidecar-proxy")
    with pytest.raises(meshgw.TranslationError):
        meshgw.translate(api, mesh)


def test_every_code_is_documented() -> None:
    page = (ROOT / "docs" / "findings.md").read_text()
    for code in registered_codes():
        assert f"## {code.code} {code.name}" in page, code.code
        section = page.split(f"## {code.code} {code.name}", 1)[1].split("\n## ", 1)[0]
        assert "**Fix**" in section and "```" in section, code.code


def test_codes_are_stable_and_registry_refuses_clashes() -> None:
    by_code = {c.code: c.name for c in registered_codes()}
    assert by_code["MGW001"] == "unknown-service"
    assert by_code["MGW002"] == "unknown-datacenter"
    assert by_code["MGW040"] == "san-mismatch"
    assert by_code["MGW100"] == "upstream-denied-by-intention"
    # Routing codes MGW001-MGW099, intentions MGW100-MGW119.
    assert all(re.fullmatch(r"MGW0\d\d|MGW1[01]\d", c) for c in by_code)
    with pytest.raises(ValueError, match="already registered"):
        register("MGW001", "something-else", "error", "x")
    with pytest.raises(ValueError, match="MGW and three digits"):
        register("MGW1", "x", "error", "x")


def test_commands_take_a_directory_of_peered_meshes(capsys: pytest.CaptureFixture[str]) -> None:
    federation = str(ROOT / "examples" / "federation")
    code, out, _ = run(capsys, "check", federation)
    assert code == 0 and out.startswith("ok: meshes east, west;")
    code, out, _ = run(capsys, "trace", federation, "--from", "web", "--to", "payments")
    assert code == 0 and "peer west payments-sidecar-proxy (connect-proxy)" in out


def test_an_intention_source_the_peered_cluster_does_not_have(tmp_path: Path) -> None:
    meshes = tmp_path / "federation"
    shutil.copytree(ROOT / "examples" / "federation", meshes)
    (meshes / "west" / "intentions.hcl").write_text(
        'Kind = "service-intentions"\nName = "payments"\nSources = [\n'
        '  { Name = "web", Peer = "east", Action = "allow" },\n'
        '  { Name = "wbe", Peer = "east", Action = "allow" },\n'
        '  { Name = "cron", Peer = "elsewhere", Action = "allow" },\n'
        "]\n"
    )
    found = meshgw.check(meshgw.MeshSet.load(meshes))
    by_code = {f.code: f for f in found}
    assert sorted(by_code) == ["MGW103", "MGW105"]  # elsewhere: not a peer at all
    mgw105 = by_code["MGW105"]
    assert mgw105.severity.value == "warning"
    assert mgw105.message == (
        'service-intentions "payments": source "wbe" of peer "east" is not a service of '
        "that cluster (mesh 'east')"
    )
    assert mgw105.suggestion == "did you mean 'web'?"
    assert mgw105.source is not None and (mgw105.source.file, mgw105.source.line) == (
        str(meshes / "west" / "intentions.hcl"),
        5,
    )
    # A single mesh cannot know the peer's services: not judged.
    assert "MGW105" not in {f.code for f in meshgw.check(meshgw.MeshSet.load(meshes)["west"])}
