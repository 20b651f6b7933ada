"""Fixtures shared by the whole suite.

Consul's own data (its golden Envoy outputs, its documentation samples) is HashiCorp's,
not this project's, and never goes into the repository: tests read it from the project's
reference directory, ``../shared/reference/`` beside the checkout (CI and every
development machine have it), and skip with the reason when it is absent.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

#: The repository root.
REPO_ROOT = Path(__file__).resolve().parents[1]
#: The project's reference data, beside the checkout: ``../shared/reference``.
SHARED_REFERENCE = REPO_ROOT.parent / "shared" / "reference"


@pytest.fixture(scope="session")
def shared_reference() -> Callable[..., Path]:
    """``shared_reference("consul-goldens", "x.json")``: the path of that reference file
    or directory; the calling test is skipped, saying why, when it is absent."""

    def locate(*parts: str) -> Path:
        path = SHARED_REFERENCE.joinpath(*parts)
        if not path.exists():
            pytest.skip(
                f"reference data not found at {path}: Consul's files are not kept in the "
                "repository; tests read them from ../shared/reference/ beside the checkout"
            )
        return path

    return locate


@pytest.fixture(scope="session")
def consul_goldens(shared_reference: Callable[..., Path]) -> Path:
    """Consul's golden Envoy outputs (``<type>-<case>.json``, see tests/golden/README.md)."""
    return shared_reference("consul-goldens")


@pytest.fixture(scope="session")
def consul_rbac_goldens(shared_reference: Callable[..., Path]) -> Path:
    """Consul's golden RBAC filters for sidecar intentions (``<case>.json``)."""
    return shared_reference("consul-rbac-goldens")
