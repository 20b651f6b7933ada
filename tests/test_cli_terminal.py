"""What the CLI does only on a terminal: colour (never in pipes or with NO_COLOR) and
progress on stderr for whole-mesh runs; tab completion through the optional argcomplete."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from meshgw._cli import _terminal, main
from tests.test_check import broken_example

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "two-dc"
RED, GREEN, YELLOW, RESET = "\x1b[31m", "\x1b[32m", "\x1b[33m", "\x1b[0m"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> Callable[[], tuple[Terminal, Terminal]]:
    """Call it in the test body: pytest's capture puts its own sys.stdout back between
    a fixture's setup and the test."""

    def install() -> tuple[Terminal, Terminal]:
        out, err = Terminal(), Terminal()
        monkeypatch.setattr(sys, "stdout", out)
        monkeypatch.setattr(sys, "stderr", err)
        return out, err

    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    return install


def test_check_colours_severities_and_status_on_a_terminal(
    terminal: Callable[[], tuple[Terminal, Terminal]], tmp_path: Path
) -> None:
    out, _ = terminal()
    assert main(["check", str(broken_example(tmp_path))]) == 1
    text = out.getvalue()
    assert f"{RED}error{RESET} MGW031" in text
    assert text.splitlines()[-1].startswith(f"{RED}FAILED{RESET}: ")
    out.seek(0)
    out.truncate()
    assert main(["check", str(EXAMPLE)]) == 0
    assert out.getvalue().startswith(f"{GREEN}ok{RESET}: datacenter dc1")


def test_trace_and_diff_colour_their_marks(
    terminal: Callable[[], tuple[Terminal, Terminal]],
) -> None:
    out, _ = terminal()
    assert main(["trace", str(EXAMPLE), "--from", "web", "--to", "api"]) == 0
    assert out.getvalue().splitlines()[0] == f"web-sidecar-proxy -> api?dc=dc2{GREEN}: ok{RESET}"
    painted = _terminal.painted("a:\n  + cluster x\n  - cluster y\n  ~ listener z", out)
    assert painted.splitlines()[1:] == [
        f"  {GREEN}+{RESET} cluster x",
        f"  {RED}-{RESET} cluster y",
        f"  {YELLOW}~{RESET} listener z",
    ]


@pytest.mark.parametrize(("variable", "value"), [("NO_COLOR", "1"), ("TERM", "dumb")])
def test_no_colour_with_no_color_or_a_dumb_terminal(
    terminal: Callable[[], tuple[Terminal, Terminal]],
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
    value: str,
) -> None:
    out, _ = terminal()
    monkeypatch.setenv(variable, value)
    assert main(["check", str(EXAMPLE)]) == 0
    assert out.getvalue().startswith("ok: datacenter dc1")
    assert "\x1b[" not in out.getvalue()


def test_no_colour_or_progress_in_pipes(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setattr(_terminal, "PROGRESS_DELAY", 0.0)
    monkeypatch.setattr(_terminal, "PROGRESS_EVERY", 0.0)
    assert main(["check", str(broken_example(tmp_path))]) == 1
    out, err = capsys.readouterr()
    assert "error MGW031" in out and "\x1b[" not in out + err and "\r" not in err


def test_warnings_and_errors_on_a_terminal_stderr(
    terminal: Callable[[], tuple[Terminal, Terminal]], tmp_path: Path
) -> None:
    _, err = terminal()
    assert main(["translate", str(EXAMPLE), "-s", "nope"]) == 1
    assert err.getvalue().startswith(f"{RED}meshgw:{RESET} ")


def test_whole_mesh_runs_show_progress_on_a_terminal_stderr_and_clear_it(
    terminal: Callable[[], tuple[Terminal, Terminal]],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    out, err = terminal()
    monkeypatch.setattr(_terminal, "PROGRESS_DELAY", 0.0)
    monkeypatch.setattr(_terminal, "PROGRESS_EVERY", 0.0)
    assert main(["check", str(EXAMPLE)]) == 0
    drawn = err.getvalue()
    assert "\rmeshgw: checking proxies 0/8" in drawn and "\rmeshgw: checking proxies 7/8" in drawn
    assert drawn.endswith("\r" + " " * len("meshgw: checking proxies 7/8") + "\r")
    assert "checking" not in out.getvalue()
    err.seek(0)
    err.truncate()
    assert main(["translate", "--all", str(EXAMPLE), "-o", str(tmp_path / "out")]) == 0
    assert "\rmeshgw: translating proxies 7/8" in err.getvalue()
    assert err.getvalue().endswith("\r")


def test_progress_waits_before_drawing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_terminal, "PROGRESS_DELAY", 3600.0)
    stream = Terminal()
    meter = _terminal.Progress("checking proxies", stream)
    meter.update(1, 2)
    meter.close()
    assert stream.getvalue() == ""


@pytest.mark.parametrize(
    ("line", "expected"),
    [("meshgw tr", {"translate", "trace"}), ("meshgw check --fa", {"--fail-on"})],
)
def test_shell_completion_with_argcomplete(tmp_path: Path, line: str, expected: set[str]) -> None:
    pytest.importorskip("argcomplete", reason="argcomplete is meshgw's optional completion extra")
    answer = tmp_path / "completions"
    env = {
        **os.environ,
        "_ARGCOMPLETE": "1",
        "COMP_LINE": line,
        "COMP_POINT": str(len(line)),
        "_ARGCOMPLETE_STDOUT_FILENAME": str(answer),
    }
    subprocess.run([sys.executable, "-m", "meshgw"], env=env, check=True, timeout=60)
    assert {word.strip() for word in answer.read_text().split("\v")} == expected
