"""``meshgw check``: load and validate the files, print a summary."""

from __future__ import annotations

import argparse
from typing import TextIO

from meshgw._cli._common import add_files, load_mesh

NAME = "check"
HELP = "load and validate the files, print a summary"
DESCRIPTION = "Load and validate the files; print a summary of what they hold."
EXAMPLES = """\
examples:
  meshgw check examples/two-dc
  cat mesh.hcl | meshgw check -
"""


def register(p: argparse.ArgumentParser) -> None:
    add_files(p)


def run(args: argparse.Namespace, out: TextIO) -> None:
    mesh = load_mesh(args)
    kinds: dict[str, int] = {}
    for svc in mesh.services:
        kinds[str(svc.kind) or "service"] = kinds.get(str(svc.kind) or "service", 0) + 1
    summary = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())) or "no services"
    out.write(
        f"ok: datacenter {mesh.datacenter}; {summary}; {len(mesh.config_entries)} config "
        f"entries; {len(mesh.catalog)} catalog entries; {len(mesh.peers)} peers\n"
    )
