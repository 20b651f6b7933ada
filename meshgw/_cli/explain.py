"""``meshgw explain``: which way each upstream's traffic goes, and why."""

from __future__ import annotations

import argparse
from typing import TextIO

from meshgw._cli._common import add_files, add_service, dump, load_mesh, pick
from meshgw._resolve.modes import explain

NAME = "explain"
HELP = "show which way each upstream's traffic goes, and why"
DESCRIPTION = (
    "Show, for every upstream of a sidecar proxy, the mesh gateway mode Consul would "
    "apply, the configuration layer that decided it, and the route its traffic takes."
)
EXAMPLES = """\
examples:
  meshgw explain examples/two-dc -s web-sidecar-proxy
  meshgw explain examples/two-dc -s web-sidecar-proxy --json
"""


def register(p: argparse.ArgumentParser) -> None:
    add_files(p)
    add_service(p)
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")


def run(args: argparse.Namespace, out: TextIO) -> None:
    mesh = load_mesh(args)
    explanation = explain(pick(mesh, args.service), mesh)
    out.write(dump(explanation.to_dict()) if args.json else explanation.render() + "\n")
