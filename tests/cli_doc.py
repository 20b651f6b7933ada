"""Run the ``console`` examples of docs/cli.md: each ``$ meshgw ...`` line and the output
that follows it (stdout and stderr, as a terminal shows them; ``[exit N]`` for a non-zero
status). Used by tests/test_cli_doc.py, and with ``--write`` to refresh the page after a
deliberate change of output: ``python tests/cli_doc.py --write``."""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "cli.md"
_BLOCK = re.compile(r"```console\n(.*?)```", re.S)


def examples(text: str) -> Iterator[tuple[str, str]]:
    """(command line, expected output) for every ``$ `` line of every console block."""
    for block in _BLOCK.findall(text):
        lines = block.splitlines(keepends=True)
        i = 0
        while i < len(lines):
            if not lines[i].startswith("$ "):
                i += 1
                continue
            command = lines[i][2:].rstrip("\n")
            j = i + 1
            while j < len(lines) and not lines[j].startswith("$ "):
                j += 1
            yield command, "".join(lines[i + 1 : j])
            i = j


def run(command: str) -> str:
    """What the command prints (stdout then stderr) and ``[exit N]`` when N is not 0."""
    from meshgw._cli import main

    argv = shlex.split(command)
    assert argv[0] == "meshgw", command
    out, err = io.StringIO(), io.StringIO()
    cwd = os.getcwd()
    columns = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "100"  # argparse wraps usage to the terminal's width
    os.chdir(ROOT)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(argv[1:])
            except SystemExit as exc:
                code = int(exc.code or 0)
    finally:
        os.chdir(cwd)
        if columns is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = columns
    text = out.getvalue() + err.getvalue()
    return text + (f"[exit {code}]\n" if code else "")


def refresh() -> None:
    text = PAGE.read_text(encoding="utf-8")

    def block(match: re.Match[str]) -> str:
        body = "".join(f"$ {cmd}\n{run(cmd)}" for cmd, _ in examples(match.group(0)))
        return f"```console\n{body}```"

    PAGE.write_text(_BLOCK.sub(block, text), encoding="utf-8")


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        refresh()
