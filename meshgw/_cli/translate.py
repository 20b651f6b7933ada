"""``meshgw translate``: the Envoy clusters, listeners and endpoints of one proxy."""

from __future__ import annotations

import argparse
from typing import TextIO

from meshgw._cli._common import add_files, add_missing, add_service, load_mesh, pick
from meshgw._cli._output import (
    add_output_control,
    destination,
    emit,
    render,
    resource_table,
    select,
)

NAME = "translate"
HELP = "print the Envoy clusters, listeners and endpoints of a proxy"
DESCRIPTION = (
    "Translate one mesh gateway or connect-proxy registration into the Envoy v3 clusters, "
    "listeners and endpoints Consul would send it."
)
EXAMPLES = """\
examples:
  meshgw translate examples/two-dc --service mesh-gateway
  meshgw translate examples/two-dc -s web-sidecar-proxy -t cluster -o table
  meshgw translate examples/two-dc -s web-sidecar-proxy --name 'api*' -o yaml
  meshgw translate examples/two-dc -s mesh-gateway --static -o gateway.json
"""


def register(p: argparse.ArgumentParser) -> None:
    add_files(p)
    add_service(p)
    add_output_control(p)
    add_missing(p)
    p.add_argument(
        "--static",
        action="store_true",
        help="inline endpoints in clusters (runs in an Envoy without a control plane)",
    )


def run(args: argparse.Namespace, out: TextIO) -> int:
    from meshgw._translation import translate

    fmt, path = destination(args)
    mesh = load_mesh(args)
    svc = pick(mesh, args.service)
    result = translate(
        svc, mesh, endpoints="static" if args.static else "eds", missing=args.missing
    )
    chosen = select(result, args.type, args.name)
    emit(render(chosen, fmt, resource_table), path, out)
    return 0
