"""The typed user script (tests/typing/user_script.py) runs against the bundled example."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_user_script_runs() -> None:
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "tests" / "typing" / "user_script.py"),
            str(ROOT / "examples" / "two-dc"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
