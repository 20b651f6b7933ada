"""``meshgw explain``: which way each upstream's traffic goes, and why."""

from __future__ import annotations

import argparse
from typing import TextIO

from meshgw._cli._common import add_files, dump, load_mesh, pick
from meshgw._resolve.modes import explain
from meshgw.model import ServiceKind

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
    mesh = load_mesh(args)
    if args.all:
        proxies = [s for s in mesh.services if s.kind == ServiceKind.CONNECT_PROXY]
    else:
        proxies = [pick(mesh, args.service)]
    explanations = [explain(proxy, mesh) for proxy in proxies]
    if args.upstream:
        explanations = [e.only(args.upstream) for e in explanations]
    if args.json:
        payload = [e.to_dict() for e in explanations]
        out.write(dump(payload if args.all else payload[0]))
    else:
        out.write("\n".join(e.render(verbose=args.verbose) for e in explanations))
    return 0
