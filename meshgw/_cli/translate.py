"""``meshgw translate``: the Envoy clusters, listeners and endpoints of one proxy."""

from __future__ import annotations

import argparse
from typing import TextIO

from meshgw._cli._common import add_files, add_output, add_service, dump, load_mesh, pick, write

NAME = "translate"
HELP = "print the Envoy clusters, listeners and endpoints"


def register(p: argparse.ArgumentParser) -> None:
    add_files(p)
    add_service(p)
    add_output(p)
    p.add_argument(
        "--static",
        action="store_true",
        help="inline endpoints in clusters (runs in an Envoy without a control plane)",
    )


def run(args: argparse.Namespace, out: TextIO) -> None:
    from meshgw._translation import translate

    mesh = load_mesh(args)
    svc = pick(mesh, args.service)
    result = translate(svc, mesh, endpoints="static" if args.static else "eds")
    write(dump(result), args.output, out)
