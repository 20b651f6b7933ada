"""``meshgw bootstrap``: a complete static Envoy bootstrap for one proxy."""

from __future__ import annotations

import argparse
from typing import TextIO

from meshgw._cli._common import add_files, add_output, add_service, dump, load_mesh, pick, write
from meshgw.errors import MeshgwError

NAME = "bootstrap"
HELP = "print a complete static Envoy bootstrap"


def register(p: argparse.ArgumentParser) -> None:
    add_files(p)
    add_service(p)
    add_output(p)
    p.add_argument("--admin", metavar="HOST:PORT", help="enable Envoy's admin interface here")


def run(args: argparse.Namespace, out: TextIO) -> None:
    from meshgw._translation import bootstrap

    mesh = load_mesh(args)
    svc = pick(mesh, args.service)
    admin = _address(args.admin) if args.admin else None
    write(dump(bootstrap(svc, mesh, admin=admin)), args.output, out)


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise MeshgwError(f"--admin: expected HOST:PORT, got {text!r}")
    return host.strip("[]"), int(port)
