"""``meshgw bootstrap``: a complete static Envoy bootstrap for one proxy."""

from __future__ import annotations

import argparse
import ipaddress
from typing import Any, TextIO

from meshgw._cli._common import add_files, add_missing, add_service, load_mesh, located, pick
from meshgw._cli._output import (
    add_output_control,
    destination,
    emit,
    render,
    resource_table,
    select,
)

NAME = "bootstrap"
HELP = "print a complete static Envoy bootstrap for a proxy"
DESCRIPTION = (
    "Write a complete Envoy bootstrap (static resources, node id and cluster, optional "
    "admin interface) that runs the proxy without a control plane."
)
EXAMPLES = """\
examples:
  meshgw bootstrap examples/two-dc -s web-sidecar-proxy --admin 127.0.0.1:19000
  meshgw bootstrap examples/two-dc -s mesh-gateway -o envoy.yaml
  envoy -c envoy.yaml
"""


def register(p: argparse.ArgumentParser) -> None:
    add_files(p)
    add_service(p)
    add_output_control(p)
    add_missing(p)
    p.add_argument(
        "--admin",
        metavar="IP:PORT",
        type=admin_address,
        help="enable Envoy's admin interface here (an IP literal; [::1]:PORT for IPv6)",
    )


def run(args: argparse.Namespace, out: TextIO) -> int:
    from meshgw._translation import bootstrap

    fmt, path = destination(args)
    mesh = load_mesh(args)
    svc = pick(mesh, args.service)
    with located(svc):
        config = bootstrap(svc, mesh, admin=args.admin, missing=args.missing)
    if args.type or args.name:
        static = config.get("static_resources", {})
        chosen = select(static, args.type, args.name)
        config = {**config, "static_resources": {k: v for k, v in chosen.items() if v}}
    emit(render(config, fmt, _table), path, out)
    return 0


def _table(config: dict[str, Any]) -> str:
    return resource_table(config.get("static_resources", {}))


def admin_address(text: str) -> tuple[str, int]:
    """``IP:PORT`` (``[v6]:PORT``) as Envoy's admin address takes it: an IP literal, a port
    from 0 (Envoy picks one) to 65535."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected IP:PORT, got {text!r}")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{host!r} is not an IP address (Envoy's admin address takes no host name)"
        ) from None
    if int(port) > 65535:
        raise argparse.ArgumentTypeError(f"port {port} is out of range (0-65535)")
    return host, int(port)
