"""Pieces every ``meshgw`` subcommand shares: arguments, loading, picking, writing."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from meshgw._load.documents import load, loads
from meshgw._resolve.placement import find_proxy, proxies_named
from meshgw.errors import LookupFailed, MeshgwError, TranslationError, UsageError
from meshgw.model import Mesh, Service, ServiceKind

if TYPE_CHECKING:
    from meshgw._mesh.meshset import MeshSet

_TRANSLATABLE = (ServiceKind.MESH_GATEWAY, ServiceKind.CONNECT_PROXY)


def add_files(p: argparse.ArgumentParser) -> None:
    """The mesh files (or directories) a command reads, and the typo policy."""
    p.add_argument(
        "files",
        nargs="+",
        metavar="FILE",
        help="HCL/JSON files or directories; - reads one document from standard input",
    )
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


def add_missing(p: argparse.ArgumentParser) -> None:
    """``--missing``: an upstream without endpoints fails (default) or warns."""
    p.add_argument(
        "--missing",
        choices=("error", "warn"),
        default="error",
        help="an upstream that cannot get endpoints: fail (default) or warn and emit an "
        "empty assignment",
    )


def load_mesh(args: argparse.Namespace) -> Mesh:
    """The mesh named by the command's FILE arguments (``-``: standard input)."""
    if "-" in args.files:
        if len(args.files) > 1:
            raise UsageError("FILE: - (standard input) must be the only FILE")
        return loads(sys.stdin.read(), name="<stdin>", config_typos=args.config_typos)
    if len(args.files) == 1 and Path(args.files[0]).is_dir():
        # A directory of mesh files, or of one cluster's datacenter subdirectories.
        from meshgw._mesh.meshset import load_directory

        found = load_directory(args.files[0], config_typos=args.config_typos)
        if isinstance(found, Mesh):
            return found
        raise UsageError(
            f"{args.files[0]}: a set of meshes ({', '.join(found)}); name one of their "
            "directories (translate --all reads the whole set)"
        )
    return load(*args.files, config_typos=args.config_typos)


def load_target(args: argparse.Namespace) -> Mesh | MeshSet:
    """Like :func:`load_mesh`, except that a single directory holding no mesh files but
    subdirectories of them that are not one cluster's datacenters is a
    :class:`~meshgw.MeshSet` (one mesh per cluster)."""
    from meshgw._mesh.meshset import load_directory

    if len(args.files) == 1 and args.files[0] != "-" and Path(args.files[0]).is_dir():
        return load_directory(args.files[0], config_typos=args.config_typos)
    return load_mesh(args)


def pick(mesh: Mesh, wanted: str | None) -> Service:
    """The registration ``--service`` names, or the only translatable one."""
    if wanted:
        try:
            service = mesh.service(wanted)
        except LookupFailed:
            # Not the local agent's: a proxy in the catalog, of any datacenter.
            if not proxies_named(mesh, wanted):
                raise
            return find_proxy(mesh, wanted).service
        if service.kind not in _TRANSLATABLE:
            sidecars = [
                s.id
                for s in mesh.services
                if s.kind == ServiceKind.CONNECT_PROXY
                and s.proxy is not None
                and s.proxy.destination_service_name == service.name
            ]
            hint = f"; its sidecar is {sidecars[0]!r}" if sidecars else ""
            raise UsageError(
                f"--service {wanted}: a typical service, not a proxy{hint} "
                f"(use --service {sidecars[0]})"
                if sidecars
                else f"--service {wanted}: a typical service without a sidecar proxy{hint}"
            )
        return service
    candidates = [s for s in mesh.services if s.kind in _TRANSLATABLE]
    if len(candidates) == 1:
        return candidates[0]
    listed = ", ".join(s.id for s in candidates) or "none"
    raise MeshgwError(
        f"choose a registration with --service (mesh gateways and connect-proxies: {listed})"
    )


def dump(value: Any) -> str:
    """Deterministic, indented JSON."""
    return json.dumps(value, indent=2, sort_keys=True) + "\n"


@contextlib.contextmanager
def located(service: Service) -> Iterator[None]:
    """Prefix a :class:`TranslationError` with the registration's ``file:line`` and id,
    so that a message about one of its upstreams says where to look."""
    try:
        yield
    except TranslationError as exc:
        where = f"{service.source}: " if service.source is not None else ""
        raise TranslationError(f"{where}{service.id or service.name}: {exc}") from None
