"""Consul's data stays Consul's: no file of the repository is a copy of a reference file.

The project's reference (``../shared/reference/``: Consul's golden outputs, its
documentation samples and test fixtures) is read by the tests where it lies. A file under
``tests/``, ``examples/``, ``docs/`` or ``benchmarks/`` that repeats one of those files, or
holds one whole, fails here. Files are compared without whitespace and comment lines, so
reindenting or adding a comment does not make a copy ours. Reference files shorter than
``_MIN_LINES`` content lines are not looked for: a four-line ``proxy-defaults`` setting one
mode is the only way to write that setting, not something taken from Consul.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]

_CHECKED = ("tests", "examples", "docs", "benchmarks")
_SKIPPED_DIRS = {"__pycache__", ".hypothesis", ".pytest_cache", ".mypy_cache", ".ruff_cache"}
_COMMENT = re.compile(r"^\s*(#|//)")
# Reference files with fewer content lines are not looked for (see the docstring).
_MIN_LINES = 8


def _content(path: Path) -> str:
    """The file's non-comment lines, each with its whitespace collapsed."""
    try:
        text = path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError):
        return ""
    lines = (" ".join(line.split()) for line in text.splitlines() if not _COMMENT.match(line))
    return "\n".join(line for line in lines if line)


def _files(root: Path) -> Iterator[Path]:
    for path in sorted(root.rglob("*")):
        if path.is_file() and not _SKIPPED_DIRS.intersection(path.parts):
            yield path


def test_no_repository_file_is_a_copy_of_reference_data(
    shared_reference: Callable[..., Path],
) -> None:
    reference = shared_reference()
    wanted: dict[str, Path] = {}
    for path in _files(reference):
        content = _content(path)
        if content.count("\n") + 1 >= _MIN_LINES:
            wanted.setdefault(content, path)
    assert len(wanted) > 100, "the reference directory is not the expected one"
    checked = 0
    copies = []
    for top in _CHECKED:
        for path in _files(REPO_ROOT / top):
            content = _content(path)
            checked += 1
            origin = wanted.get(content)
            if origin is None:
                origin = next((ref for block, ref in wanted.items() if block in content), None)
            if content and origin is not None:
                copies.append(
                    f"{path.relative_to(REPO_ROOT)} repeats {origin.relative_to(reference)}"
                )
    assert checked > 100
    assert copies == []
