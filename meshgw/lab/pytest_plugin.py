"""pytest plugin: bring your mesh up with real Envoys from your own tests.

Installed with meshgw (a ``pytest11`` entry point), so the fixture is there in any
project that has meshgw::

    def test_web_reaches_api_in_dc2(meshgw_lab):
        lab = meshgw_lab("mesh/dc1", sources="web")
        conn = lab.connect("web", "api", datacenter="dc2")
        assert conn.ok, conn.error
        assert conn.answer.datacenter == "dc2"

``meshgw_lab(mesh, **options)`` takes what :func:`meshgw.lab.start` takes (mesh files,
directories or :class:`meshgw.Mesh` objects; ``sources=``, ``proxies=``, ...), starts
the lab in the test's temporary directory and stops it when the test ends, pass or
fail. Without an Envoy binary the test is skipped, naming what to install. When the
test fails, the tail of every Envoy's log is added to the report.

Nothing heavy is imported until a test asks for the fixture.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from meshgw.lab import Lab

__all__ = ["meshgw_lab"]

_LABS = pytest.StashKey[list["Lab"]]()


@pytest.fixture
def meshgw_lab(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Generator[Callable[..., Lab], None, None]:
    """Factory: ``meshgw_lab(mesh, **options)`` → a running :class:`meshgw.lab.Lab`,
    torn down after the test; skips the test when Envoy is not installed."""
    labs: list[Lab] = []
    request.node.stash[_LABS] = labs

    def start(mesh: Any, **options: Any) -> Lab:
        from meshgw.lab import EnvoyMissing
        from meshgw.lab import start as start_lab

        options.setdefault("workdir", tmp_path / f"meshgw-lab-{len(labs)}")
        try:
            lab = start_lab(mesh, **options)
        except EnvoyMissing as exc:
            pytest.skip(str(exc))
        labs.append(lab)
        return lab

    try:
        yield start
    finally:
        errors: list[BaseException] = []
        for lab in reversed(labs):
            try:
                lab.close()
            except Exception as exc:  # keep closing the others
                errors.append(exc)
        if errors:
            raise errors[0]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    labs = item.stash.get(_LABS, None)
    if report.failed and labs:
        for i, lab in enumerate(labs):
            report.sections.append((f"meshgw lab {i}: envoy logs", lab.log_tails()))
    return report
