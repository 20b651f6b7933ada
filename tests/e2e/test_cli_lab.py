"""``meshgw lab``: the table for examples/two-dc, a failing upstream's exit status, and
``--keep`` running until Ctrl-C with nothing left behind."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from meshgw._cli import main

ROOT = Path(__file__).resolve().parents[2]
TWO_DC = ROOT / "examples" / "two-dc"


def test_table_for_the_two_dc_example(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["lab", str(TWO_DC), "--workdir", str(tmp_path / "lab")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:2] == ["upstream", "expected"]
    rows = {line.split()[2]: line for line in out[1:]}
    assert set(rows) == {"api?dc=dc2", "db?dc=dc2", "redis?dc=dc2"}
    assert (
        "web-sidecar-proxy@dc1 → mesh-gateway@dc1 → mesh-gateway@dc2 → api-sidecar-proxy@dc2"
        in rows["api?dc=dc2"]
    )
    assert rows["db?dc=dc2"].endswith("ok: db in dc2 on dc2-app-1")
    # expected (from the trace) and real path side by side, the same
    db_route = "web-sidecar-proxy@dc1 → mesh-gateway@dc2 → db-sidecar-proxy@dc2"
    assert rows["db?dc=dc2"].count(db_route) == 2
    assert "web-sidecar-proxy@dc1 → redis-sidecar-proxy@dc2" in rows["redis?dc=dc2"]


def test_an_upstream_without_a_way_fails_the_command(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # A copy of the example whose catalog lost dc2's gateways: mode local reaches dc1's
    # gateway, which has no way on to dc2.
    mesh = tmp_path / "mesh"
    shutil.copytree(TWO_DC, mesh)
    text = (mesh / "dc1.hcl").read_text()
    text = re.sub(
        r"  \{\n    datacenter = \"dc2\"\n    node       = \"dc2-gw-\d\".*?\n  \},\n",
        "",
        text,
        flags=re.DOTALL,
    )
    assert "dc2-gw" not in text
    (mesh / "dc1.hcl").write_text(text)
    assert main(["lab", str(mesh), "--workdir", str(tmp_path / "lab")]) == 1
    captured = capsys.readouterr()
    api = next(line for line in captured.out.splitlines() if "api?dc=dc2" in line)
    assert "failed, as predicted: " in api and "mesh-gateway@dc1" in api
    assert "fails: " in api  # as the trace predicted from the files
    assert "differs from trace" not in captured.out
    # db (mode remote) has no way either; redis (mode none) does not need a gateway
    assert "meshgw: 2 of 3 upstreams failed (2 as the trace predicted)\n" in captured.err


def test_keep_runs_until_ctrl_c_and_leaves_nothing(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    err = open(tmp_path / "stderr.txt", "w+")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "meshgw",
            "lab",
            str(TWO_DC),
            "--keep",
            "--workdir",
            str(tmp_path / "lab"),
        ],
        stdout=subprocess.PIPE,
        stderr=err,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    admins: list[str] = []
    with proc, err:
        try:
            assert proc.stdout is not None
            lines = []
            for line in proc.stdout:
                lines.append(line)
                if "press Ctrl-C" in line:
                    break
            text = "".join(lines)
            admins = re.findall(r"http://127\.100\.\d+\.\d+:\d+", text)
            assert len(admins) == 7, text + (tmp_path / "stderr.txt").read_text()
            assert re.search(r"web-sidecar-proxy\s+api\s+127\.100\.", text), text
            with urllib.request.urlopen(admins[0] + "/ready", timeout=5) as resp:
                assert resp.status == 200
            proc.send_signal(signal.SIGINT)
            assert proc.wait(timeout=20) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    for admin in admins:
        with pytest.raises(OSError):
            urllib.request.urlopen(admin + "/ready", timeout=2)
