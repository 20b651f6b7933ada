"""The ``meshgw`` command: a thin layer over the library.

    meshgw translate FILE... [--service ID] [--static] [-o OUT]
    meshgw explain   FILE... [--service ID] [--json]
    meshgw bootstrap FILE... [--service ID] [--admin HOST:PORT] [-o OUT]
    meshgw check     FILE...

Exit status: 0 on success, 1 when meshgw reports a problem with the input, 2 on usage
errors.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from collections.abc import Sequence
from typing import Any, TextIO

from meshgw.errors import MeshgwError, MeshgwWarning
from meshgw.model import Mesh, Service, ServiceKind

__all__ = ["main"]

_TRANSLATABLE = (ServiceKind.MESH_GATEWAY, ServiceKind.CONNECT_PROXY)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="meshgw",
        description="Consul mesh gateway and sidecar registrations to Envoy configuration.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def files(p: argparse.ArgumentParser) -> None:
        p.add_argument("files", nargs="+", metavar="FILE", help="HCL/JSON files or directories")
        p.add_argument(
            "--config-typos",
            choices=("error", "warn"),
            default="error",
            help="misspelt or badly typed proxy.config options: fail (default) or, like "
            "Consul, warn and go on",
        )

    def service(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--service",
            "-s",
            metavar="ID",
            help="registration to use (id or name); optional when the files hold only one "
            "mesh gateway or connect-proxy",
        )

    def output(p: argparse.ArgumentParser) -> None:
        p.add_argument("-o", "--output", metavar="OUT", help="write here instead of stdout")

    t = sub.add_parser("translate", help="print the Envoy clusters, listeners and endpoints")
    files(t)
    service(t)
    output(t)
    t.add_argument(
        "--static",
        action="store_true",
        help="inline endpoints in clusters (runs in an Envoy without a control plane)",
    )

    e = sub.add_parser("explain", help="show which way each upstream's traffic goes, and why")
    files(e)
    service(e)
    e.add_argument("--json", action="store_true", help="print JSON instead of a table")

    b = sub.add_parser("bootstrap", help="print a complete static Envoy bootstrap")
    files(b)
    service(b)
    output(b)
    b.add_argument("--admin", metavar="HOST:PORT", help="enable Envoy's admin interface here")

    c = sub.add_parser("check", help="load and validate the files, print a summary")
    files(c)
    return parser


def _pick(mesh: Mesh, wanted: str | None) -> Service:
    if wanted:
        return mesh.service(wanted)
    candidates = [s for s in mesh.services if s.kind in _TRANSLATABLE]
    if len(candidates) == 1:
        return candidates[0]
    listed = ", ".join(s.id for s in candidates) or "none"
    raise MeshgwError(
        f"choose a registration with --service (mesh gateways and connect-proxies: {listed})"
    )


def _write(text: str, path: str | None, out: TextIO) -> None:
    if path and path != "-":
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
    else:
        out.write(text)


def _dump(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True) + "\n"


def _run(args: argparse.Namespace, out: TextIO) -> None:
    from meshgw._load.documents import load

    mesh = load(*args.files, config_typos=args.config_typos)
    if args.command == "check":
        kinds: dict[str, int] = {}
        for svc in mesh.services:
            kinds[str(svc.kind) or "service"] = kinds.get(str(svc.kind) or "service", 0) + 1
        summary = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())) or "no services"
        out.write(
            f"ok: datacenter {mesh.datacenter}; {summary}; {len(mesh.config_entries)} config "
            f"entries; {len(mesh.catalog)} catalog entries; {len(mesh.peers)} peers\n"
        )
        return
    svc = _pick(mesh, args.service)
    if args.command == "translate":
        from meshgw._translation import translate

        result = translate(svc, mesh, endpoints="static" if args.static else "eds")
        _write(_dump(result), args.output, out)
    elif args.command == "explain":
        from meshgw._resolve.modes import explain

        explanation = explain(svc, mesh)
        out.write(_dump(explanation.to_dict()) if args.json else explanation.render() + "\n")
    elif args.command == "bootstrap":
        from meshgw._translation import bootstrap

        admin = _address(args.admin) if args.admin else None
        _write(_dump(bootstrap(svc, mesh, admin=admin)), args.output, out)


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise MeshgwError(f"--admin: expected HOST:PORT, got {text!r}")
    return host.strip("[]"), int(port)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", MeshgwWarning)
            _run(args, sys.stdout)
        for warning in caught:
            sys.stderr.write(f"meshgw: warning: {warning.message}\n")
    except MeshgwError as exc:
        sys.stderr.write(f"meshgw: {exc}\n")
        return 1
    except BrokenPipeError:  # pragma: no cover - e.g. `meshgw translate ... | head`
        return 0
    return 0
