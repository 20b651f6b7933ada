"""``meshgw diff``: what changes between two meshes, or between meshgw's prediction and a
live Envoy's ``/config_dump``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TextIO

from meshgw._cli._common import add_service, dump, pick
from meshgw._cli._terminal import painted
from meshgw._load.documents import load
from meshgw._mesh.diff import ProxyDiff, diff_config_dump, diff_meshes, render
from meshgw.errors import MeshgwError, UsageError

NAME = "diff"
HELP = "compare two meshes' Envoy configuration, or a prediction with a live Envoy"
DESCRIPTION = (
    "Translate every mesh gateway and sidecar proxy of two meshes (two files or "
    "directories, e.g. two checkouts of a config repository) and list what differs, per "
    "proxy and per resource. With --config-dump, compare meshgw's prediction for one "
    "proxy with a live Envoy's /config_dump (resources meshgw does not generate are "
    "listed, not reported as differences). Exit status 1 when anything differs."
)
EXAMPLES = """\
examples:
  meshgw diff old/ new/
  meshgw diff old/ new/ --json
  curl -s localhost:19000/config_dump > dump.json
  meshgw diff --config-dump dump.json examples/two-dc -s web-sidecar-proxy
"""


def register(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "paths",
        nargs="+",
        metavar="PATH",
        help="OLD NEW (a file or directory each); with --config-dump, the mesh's files",
    )
    p.add_argument("--config-dump", metavar="FILE", help="a live Envoy's /config_dump JSON")
    add_service(p)
    p.add_argument("--static", action="store_true", help="predict the static form (bootstraps)")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")


def run(args: argparse.Namespace, out: TextIO) -> int:
    if args.config_dump:
        diffs = [_against_dump(args)]
    else:
        if len(args.paths) != 2:
            raise UsageError(f"diff takes OLD NEW, two paths (got {len(args.paths)})")
        diffs = list(diff_meshes(load(args.paths[0]), load(args.paths[1])))
    out.write(dump([d.to_dict() for d in diffs]) if args.json else painted(render(diffs), out))
    return 1 if any(d.status != "same" for d in diffs) else 0


def _against_dump(args: argparse.Namespace) -> ProxyDiff:
    from meshgw._translation import translate

    path = Path(args.config_dump)
    try:
        live = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise MeshgwError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise MeshgwError(f"{path}: not JSON ({exc})") from None
    mesh = load(*args.paths)
    service = pick(mesh, args.service)
    predicted = translate(service, mesh, endpoints="static" if args.static else "eds")
    return diff_config_dump(predicted, live, service.id)
