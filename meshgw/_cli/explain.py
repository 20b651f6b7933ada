"""``meshgw explain``: which way each upstream's traffic goes, and why."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, TextIO

from meshgw._cli._common import add_files, dump, load_mesh, pick
from meshgw._resolve.modes import Explanation, explain
from meshgw.model import Service, ServiceKind

if TYPE_CHECKING:
    from meshgw._mesh.findings import Finding
    from meshgw._mesh.fleet import Fleet

NAME = "explain"
HELP = "show which way each upstream's traffic goes, and why"
DESCRIPTION = (
    "Show, for every upstream of a sidecar proxy, the mesh gateway mode Consul would "
    "apply, the configuration layer that decided it, and the route its traffic takes. "
    "With -v, every layer and each discovery-chain target (redirects, failover)."
)
EXAMPLES = """\
examples:
  meshgw explain examples/two-dc -s web-sidecar-proxy
  meshgw explain examples/two-dc -s web-sidecar-proxy --upstream api -v
  meshgw explain examples/two-dc --all --json
"""


def register(p: argparse.ArgumentParser) -> None:
    add_files(p)
    which = p.add_mutually_exclusive_group()
    which.add_argument(
        "--service",
        "-s",
        metavar="ID",
        help="the sidecar proxy (id or name); optional when the files hold only one proxy",
    )
    which.add_argument("--all", action="store_true", help="every sidecar proxy of the mesh")
    p.add_argument("--upstream", "-u", metavar="NAME", help="only this upstream (id or name)")
    p.add_argument(
        "-v", "--verbose", action="store_true", help="every layer and discovery-chain target"
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")


def run(args: argparse.Namespace, out: TextIO) -> int:
    from meshgw._mesh.fleet import Fleet

    mesh = load_mesh(args)
    if args.all:
        proxies = [s for s in mesh.services if s.kind == ServiceKind.CONNECT_PROXY]
    else:
        proxies = [pick(mesh, args.service)]
    explanations = [explain(proxy, mesh) for proxy in proxies]
    if args.upstream:
        explanations = [e.only(args.upstream) for e in explanations]
    fleet = Fleet(mesh)
    problems = [_problems(fleet, p, e) for p, e in zip(proxies, explanations, strict=True)]
    if args.json:
        payload = [
            {**e.to_dict(), "problems": [f.to_dict() for f in found]}
            for e, found in zip(explanations, problems, strict=True)
        ]
        out.write(dump(payload if args.all else payload[0]))
    else:
        out.write(
            "\n".join(
                e.render(verbose=args.verbose) + _render_problems(found)
                for e, found in zip(explanations, problems, strict=True)
            )
        )
    return 0


def _problems(fleet: Fleet, proxy: Service, explanation: Explanation) -> list[Finding]:
    """What stops the explained upstreams' connections: the mode says which way traffic
    is meant to go, the trace whether the mesh can carry it there."""
    from meshgw._mesh.trace import source_member, trace_upstream

    if proxy.kind != ServiceKind.CONNECT_PROXY:
        return []
    member = source_member(fleet, proxy)  # once: a scan of the fleet
    wanted = {r.upstream for r in explanation.resolutions}
    found: list[Finding] = []
    for up in proxy.upstreams:
        result = trace_upstream(fleet, member, up)
        if result.upstream in wanted:
            found.extend(result.problems)
    return found


def _render_problems(found: list[Finding]) -> str:
    if not found:
        return ""
    lines = ["what stops these connections (meshgw trace; codes in docs/findings.md):"]
    lines.extend(f"  {f.upstream}: {f.severity} {f.code} {f.name}: {f.message}" for f in found)
    return "\n".join(lines) + "\n"
