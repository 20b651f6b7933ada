"""``meshgw trace``: the path(s) one upstream's connections take, hop by hop."""

from __future__ import annotations

import argparse
from typing import TextIO

from meshgw._cli._common import add_files, dump, load_target
from meshgw._cli._terminal import painted

NAME = "trace"
HELP = "follow one upstream's connections through every proxy's Envoy configuration"
DESCRIPTION = (
    "Follow the connections of one upstream of a sidecar through the Envoy configuration "
    "meshgw generates for every proxy they cross (gateways by SNI, up to the destination's "
    "public listener) and print each path hop by hop, and what stops them."
)
EXAMPLES = """\
examples:
  meshgw trace examples/two-dc --from web-sidecar-proxy --to api
  meshgw trace examples/two-dc --from web --to db --datacenter dc2 --json
  meshgw trace examples/federation --from web --to payments --peer west
    (a directory of one mesh directory per peered cluster: traced across them)
"""


def register(p: argparse.ArgumentParser) -> None:
    add_files(p)
    p.add_argument(
        "--from",
        dest="source",
        required=True,
        metavar="SIDECAR",
        help="the sidecar proxy (service id, or the service it fronts)",
    )
    p.add_argument("--to", dest="upstream", required=True, metavar="SERVICE", help="the upstream")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--datacenter", metavar="DC", help="the upstream in this datacenter")
    where.add_argument("--peer", metavar="NAME", help="the upstream imported from this peer")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")


def run(args: argparse.Namespace, out: TextIO) -> int:
    from meshgw._mesh.trace import trace

    mesh = load_target(args)
    result = trace(mesh, args.source, args.upstream, datacenter=args.datacenter, peer=args.peer)
    out.write(dump(result.to_dict()) if args.json else painted(result.render(), out) + "\n")
    return 0 if result.ok else 1
