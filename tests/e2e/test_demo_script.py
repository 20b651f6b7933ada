"""``examples/demo/two-dc.py`` works as docs/try-it.md says, and cleans up after itself.

The script runs as a user runs it (a subprocess, with this checkout on ``PYTHONPATH``):
once with ``--once``, which must report every mode's route as expected and exit 0, and
once left running and stopped with Ctrl-C (SIGINT), which must stop every Envoy it
started and remove its temporary directory.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Generator
from pathlib import Path

import pytest

from .harness import HANG_TIMEOUT, wait_until

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "examples" / "demo" / "two-dc.py"
# Waits are for a condition; their bound only guards against hangs.
TIMEOUT = HANG_TIMEOUT


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONWARNINGS"] = "error"  # as pytest's filterwarnings = error
    return env


def _pids(output: str) -> dict[str, int]:
    return {m[1]: int(m[2]) for m in re.finditer(r"^  (\S+)\s+pid (\d+)\s", output, re.M)}


def _envoy_alive(pid: int, root: str) -> bool:
    """Whether ``pid`` is still an Envoy of the demo in ``root`` (not a reused pid)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return False
    except OSError:  # no /proc: ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    cwd = ""
    with contextlib.suppress(OSError):
        cwd = os.readlink(f"/proc/{pid}/cwd")
    # meshgw.lab runs each Envoy in its own directory below the demo's
    return b"envoy" in cmdline and (cwd == root or cwd.startswith(root + os.sep))


@pytest.fixture
def leftovers() -> Generator[list[tuple[int, str]], None, None]:
    """(pid, root) of Envoys a demo run reported: any still alive after the test (the
    script failed to stop them) are killed here, and the test fails for it."""
    found: list[tuple[int, str]] = []
    yield found
    for pid, root in found:
        if _envoy_alive(pid, root):
            os.kill(pid, signal.SIGKILL)


def _check_routes(out: str) -> None:
    assert "all three modes ok" in out, out
    assert re.search(r"ok  api   mode local .* -> b'api-dc2:hello api'", out), out
    assert re.search(r"ok  db    mode remote .* -> b'db-dc2:hello db'", out), out
    assert re.search(r"ok  cache mode none .* -> b'cache-dc2:hello cache'", out), out
    assert "tcp.mesh_gateway_remote.default.dc2.downstream_cx_total +1" in out
    assert "none (straight to the sidecar)" in out
    assert out.count("python -m meshgw bootstrap ") == 6
    assert out.count('$ "$ENVOY" -c envoy/') == 6


def test_demo_once(tmp_path: Path, leftovers: list[tuple[int, str]]) -> None:
    root = tmp_path / "demo"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--once", "--dir", str(root)],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        cwd=tmp_path,
    )
    pids = _pids(proc.stdout)
    leftovers.extend((pid, str(root.resolve())) for pid in pids.values())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stderr == ""
    _check_routes(proc.stdout)
    assert sorted(pids) == [
        "dc1-gateway",
        "dc1-web",
        "dc2-api",
        "dc2-cache",
        "dc2-db",
        "dc2-gateway",
    ]
    assert proc.stdout.rstrip().endswith("stopped everything")
    assert not [p for p, r in leftovers if _envoy_alive(p, r)]
    # --dir keeps what the doc shows: mesh files, certificates, bootstraps, logs.
    for name in ("dc1/mesh.hcl", "dc1/web.hcl", "dc2/api.hcl", "certs/ca.pem"):
        assert (root / name).is_file(), name
    assert (root / "envoy" / "dc2-gateway.json").is_file()


def test_demo_stops_on_ctrl_c(tmp_path: Path, leftovers: list[tuple[int, str]]) -> None:
    lines: list[str] = []
    up = threading.Event()
    with subprocess.Popen(
        [sys.executable, str(SCRIPT)],
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=tmp_path,
    ) as proc:

        def read() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                lines.append(line)
                if "press Ctrl-C" in line:
                    up.set()

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        try:
            assert up.wait(TIMEOUT), "".join(lines)
            out = "".join(lines)
            root = re.search(r"^working directory: (.+)$", out, re.M)
            assert root, out
            leftovers.extend((pid, root[1]) for pid in _pids(out).values())
            assert len(leftovers) == 6
            assert all(_envoy_alive(p, r) for p, r in leftovers)
            _check_routes(out)

            proc.send_signal(signal.SIGINT)
            assert proc.wait(TIMEOUT) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(5)
            reader.join(5)
    out = "".join(lines)
    assert "interrupted" in out
    assert out.rstrip().endswith("stopped everything")
    wait_until(
        lambda: not any(_envoy_alive(p, r) for p, r in leftovers),
        "every Envoy the demo started has exited",
    )
    assert not Path(root[1]).exists()  # the temporary directory is gone
