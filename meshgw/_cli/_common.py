"""Pieces every ``meshgw`` subcommand shares: arguments, loading, picking, writing."""

from __future__ import annotations

import argparse
import json
from typing import Any, TextIO

from meshgw._load.documents import load
from meshgw.errors import MeshgwError
from meshgw.model import Mesh, Service, ServiceKind

_TRANSLATABLE = (ServiceKind.MESH_GATEWAY, ServiceKind.CONNECT_PROXY)


def add_files(p: argparse.ArgumentParser) -> None:
    """The mesh files (or directories) a command reads, and the typo policy."""
    p.add_argument("files", nargs="+", metavar="FILE", help="HCL/JSON files or directories")
    p.add_argument(
        "--config-typos",
        choices=("error", "warn"),
        default="error",
        help="misspelt or badly typed proxy.config options: fail (default) or, like "
        "Consul, warn and go on",
    )


def add_service(p: argparse.ArgumentParser) -> None:
    """``--service``: which registration a per-proxy command works on."""
    p.add_argument(
        "--service",
        "-s",
        metavar="ID",
        help="registration to use (id or name); optional when the files hold only one "
        "mesh gateway or connect-proxy",
    )


def add_output(p: argparse.ArgumentParser) -> None:
    """``-o``: where a command writes its result."""
    p.add_argument("-o", "--output", metavar="OUT", help="write here instead of stdout")


def load_mesh(args: argparse.Namespace) -> Mesh:
    """The mesh named by the command's FILE arguments."""
    return load(*args.files, config_typos=args.config_typos)


def pick(mesh: Mesh, wanted: str | None) -> Service:
    """The registration ``--service`` names, or the only translatable one."""
    if wanted:
        return mesh.service(wanted)
    candidates = [s for s in mesh.services if s.kind in _TRANSLATABLE]
    if len(candidates) == 1:
        return candidates[0]
    listed = ", ".join(s.id for s in candidates) or "none"
    raise MeshgwError(
        f"choose a registration with --service (mesh gateways and connect-proxies: {listed})"
    )


def write(text: str, path: str | None, out: TextIO) -> None:
    """Write to ``path`` (``-`` or none: ``out``)."""
    if path and path != "-":
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
    else:
        out.write(text)


def dump(value: Any) -> str:
    """Deterministic, indented JSON."""
    return json.dumps(value, indent=2, sort_keys=True) + "\n"
