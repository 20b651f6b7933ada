"""``meshgw translate``: the Envoy clusters, listeners and endpoints of one proxy, or of
every proxy of a mesh (``--all``, one file per proxy)."""

from __future__ import annotations

import argparse
import re
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from meshgw._cli._common import (
    add_files,
    add_missing,
    add_service,
    load_mesh,
    load_target,
    located,
    pick,
)
from meshgw._cli._output import (
    add_output_control,
    destination,
    dump_json,
    emit,
    render,
    resource_table,
    select,
)
from meshgw._cli._terminal import Progress
from meshgw.errors import MeshgwError, MeshgwWarning, UsageError

if TYPE_CHECKING:
    from meshgw._translation import EndpointsMode

NAME = "translate"
HELP = "print the Envoy clusters, listeners and endpoints of a proxy"
DESCRIPTION = (
    "Translate one mesh gateway or connect-proxy registration into the Envoy v3 clusters, "
    "listeners and endpoints Consul would send it; with --all, every proxy of every "
    "datacenter, one JSON file each."
)
EXAMPLES = """\
examples:
  meshgw translate examples/two-dc --service mesh-gateway
  meshgw translate examples/two-dc -s web-sidecar-proxy -t cluster -o table
  meshgw translate examples/two-dc -s web-sidecar-proxy --name 'api*' -o yaml
  meshgw translate examples/two-dc -s mesh-gateway --static -o gateway.json
  meshgw translate --all examples/two-dc -o out/         # out/<dc>/<node>/<id>.json
  meshgw translate --all examples/federation -o out/     # out/<mesh>/<dc>/<node>/<id>.json
"""

# Characters kept in file names; anything else in a datacenter, node or id becomes "_".
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


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
    p.add_argument(
        "--all",
        action="store_true",
        help="translate every mesh gateway and connect-proxy of every datacenter into "
        "OUT/<datacenter>/<node>/<id>.json (-o OUT, a directory, is required); a single "
        "directory whose subdirectories hold mesh files is a set of peered meshes: "
        "OUT/<mesh>/<datacenter>/<node>/<id>.json",
    )
    p.add_argument(
        "--prune",
        action="store_true",
        help="with --all: delete the .json files under OUT that this run did not write "
        "(proxies of an earlier run that are gone); without it they are listed as a warning",
    )


def run(args: argparse.Namespace, out: TextIO) -> int:
    if args.all:
        return _run_all(args, out)
    if args.prune:
        raise UsageError("--prune goes with --all (it tidies the output directory)")
    from meshgw._translation import translate

    fmt, path = destination(args)
    mesh = load_mesh(args)
    svc = pick(mesh, args.service)
    with located(svc):
        result = translate(
            svc, mesh, endpoints="static" if args.static else "eds", missing=args.missing
        )
    chosen = select(result, args.type, args.name)
    emit(render(chosen, fmt, resource_table), path, out)
    return 0


def _run_all(args: argparse.Namespace, out: TextIO) -> int:
    from meshgw._mesh.translator import all_proxies, translate_proxy

    if args.service:
        raise UsageError("--all translates every proxy; it does not take --service")
    if not args.output or args.output == "-" or args.output in ("json", "yaml", "table"):
        raise UsageError("--all writes one JSON file per proxy: name a directory with -o OUT")
    outdir = Path(args.output)
    if outdir.exists() and not outdir.is_dir():
        raise UsageError(f"-o {outdir}: not a directory")
    target = load_target(args)
    endpoints: EndpointsMode = "static" if args.static else "eds"
    written: dict[Path, str] = {}
    failures: list[str] = []
    proxies = all_proxies(target)
    meter = Progress("translating proxies", sys.stderr)
    try:
        for done, proxy in enumerate(proxies):
            meter.update(done, len(proxies))
            path = outdir.joinpath(*(_file_part(part) for part in proxy.key.split("/")))
            path = path.with_name(path.name + ".json")
            if path in written:
                failures.append(f"{proxy.key}: its file name {path} is also {written[path]}'s")
                continue
            try:
                result = translate_proxy(target, proxy, endpoints=endpoints, missing=args.missing)
            except MeshgwError as exc:
                failures.append(str(exc))
                continue
            written[path] = proxy.key
            path.parent.mkdir(parents=True, exist_ok=True)
            emit(dump_json(select(result, args.type, args.name)), path, out)
    finally:
        meter.close()
    out.write(f"wrote {len(written)} of {len(proxies)} proxies to {outdir}\n")
    _stale(outdir, written, failures, prune=args.prune, out=out)
    if failures:
        listed = "\n".join(f"  {f}" for f in failures)
        raise MeshgwError(f"{len(failures)} proxies could not be translated:\n{listed}")
    return 0


def _stale(
    outdir: Path, written: dict[Path, str], failures: list[str], *, prune: bool, out: TextIO
) -> None:
    """Files an earlier run left under ``outdir`` that no proxy of this mesh writes any
    more: a reader of the directory would take them for current output. Kept when a
    proxy failed (its old file may be all the user has)."""
    stale = sorted(p for p in outdir.rglob("*.json") if p not in written)
    if not stale:
        return
    if prune and not failures:
        for path in stale:
            path.unlink()
        out.write(f"removed {len(stale)} files of proxies no longer in the mesh\n")
        return
    shown = ", ".join(str(p) for p in stale[:5]) + (", ..." if len(stale) > 5 else "")
    why = "kept because a proxy failed" if prune else "--prune removes them"
    warnings.warn(
        f"{len(stale)} files under {outdir} are not of this mesh's proxies ({why}): {shown}",
        MeshgwWarning,
        stacklevel=1,
    )


def _file_part(part: str) -> str:
    """A datacenter, node or id as one path component: never empty, ``.`` or ``..``."""
    safe = _UNSAFE.sub("_", part)
    return safe if safe.strip(".") else safe.replace(".", "_") + "_"
