"""A broken mesh, live: what ``meshgw.trace`` reports is what real Envoy does.

dc1's catalog forgets dc2's mesh gateway while web's ``api`` upstream (in dc2, mode
``local``) still goes through dc1's gateway. From dc1's files alone the trace says the
connection dies at dc1's gateway (MGW031: the catch-all chain's ``sni_cluster`` names a
cluster the gateway does not have); dc1's gateway, restarted from the same files,
closes the connection without a byte and counts it as ``downstream_cx_no_route``.
"""

from __future__ import annotations

import re
from pathlib import Path

from .harness import Stack
from .meshes import (
    GATEWAY_NO_ROUTE_STAT,
    PUBLIC_LISTENER_STAT,
    EnvoySpec,
    assert_path_taken,
    bootstrap,
    bring_up,
    predicted,
)

_ENTRY = re.compile(r"\n  \{\n.*?\n  \},", re.S)


def _forget_gateway(text: str, datacenter: str) -> str:
    """The mesh file without the catalog entry of ``datacenter``'s mesh gateway."""

    def keep(match: re.Match[str]) -> str:
        body = match.group(0)
        gone = f'datacenter = "{datacenter}"' in body and re.search(
            r'kind\s*=\s*"mesh-gateway"', body
        )
        return "" if gone else body

    out = _ENTRY.sub(keep, text)
    assert out != text, "no gateway entry found"
    return out


def test_gateway_without_a_route_closes_the_connection_trace_predicted(
    stack: Stack, tmp_path: Path
) -> None:
    mesh = bring_up(
        stack, tmp_path / "mesh", backends={"dc2": ["api"]}, upstreams=[("api", "dc2", "local")]
    )
    topology = mesh.topology
    assert mesh.send("api", b"before") == b"api-dc2:before"
    healthy = predicted(topology, "api")
    assert healthy.ok, healthy.render()
    api = mesh.sidecar("api", "dc2")
    api.wait_for_counter(PUBLIC_LISTENER_STAT, lambda n: n == 1)
    assert_path_taken(mesh, healthy.paths[0], 1)

    mesh_file = topology.dc_dir("dc1") / "mesh.hcl"
    mesh_file.write_text(_forget_gateway(mesh_file.read_text(), "dc2"))
    broken = predicted(topology, "api")
    assert not broken.ok and broken.paths == ()
    (problem,) = broken.problems
    assert problem.code == "MGW031"
    assert problem.message.startswith("dc1's mesh-gateway's listener")
    assert "dc2's mesh gateways" in problem.suggestion

    gateway = mesh.restart(
        "dc1-gateway", bootstrap(topology, EnvoySpec("dc1-gateway", "dc1", "mesh-gateway"))
    )
    assert mesh.send("api", b"after") == b""  # closed by dc1's gateway, not a byte
    gateway.wait_for_counter(GATEWAY_NO_ROUTE_STAT, lambda n: n == 1)
    assert api.counter(PUBLIC_LISTENER_STAT) == 1  # only the first connection arrived
