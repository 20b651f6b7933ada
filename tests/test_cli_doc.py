"""Every example on docs/cli.md runs and prints exactly what the page shows."""

from __future__ import annotations

import pytest
from cli_doc import PAGE, examples, run

EXAMPLES = list(examples(PAGE.read_text(encoding="utf-8")))


def test_the_page_has_examples() -> None:
    assert len(EXAMPLES) >= 10


@pytest.mark.parametrize(("command", "expected"), EXAMPLES, ids=[c for c, _ in EXAMPLES])
def test_example(command: str, expected: str) -> None:
    assert run(command) == expected
