"""``meshgw check``: load the files, translate every proxy, trace every upstream, and
report every finding (code, severity, file:line, suggestion)."""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from meshgw._cli._common import add_files, dump, load_target
from meshgw._cli._terminal import Progress, painted
from meshgw._mesh.meshset import MeshSet
from meshgw.model import Mesh

NAME = "check"
HELP = "load, translate every proxy and trace every upstream; report what is wrong"
DESCRIPTION = (
    "Load and validate the files, translate every proxy (mesh gateways and sidecars of "
    "every datacenter the mesh knows) and trace every upstream; print each finding with "
    "its code, severity, file:line and a suggested fix (docs/findings.md), then a summary."
)
EXAMPLES = """\
examples:
  meshgw check examples/two-dc
  meshgw check examples/two-dc --json
  meshgw check mesh/ --fail-on warning
  cat mesh.hcl | meshgw check -
"""

#: ``--fail-on``: the least severe finding that makes the exit status 1.
_THRESHOLDS = {"error": 2, "warning": 1, "never": 3}


def register(p: argparse.ArgumentParser) -> None:
    add_files(p)
    p.add_argument("--json", action="store_true", help="print the findings as JSON")
    p.add_argument(
        "--fail-on",
        choices=tuple(_THRESHOLDS),
        default="error",
        help="exit with status 1 when a finding is at least this severe (default: error)",
    )


def run(args: argparse.Namespace, out: TextIO) -> int:
    from meshgw._mesh.check import check_report

    target = load_target(args)
    meter = Progress("checking proxies", sys.stderr)
    try:
        report = check_report(target, progress=meter.update)
    finally:
        meter.close()
    threshold = _THRESHOLDS[args.fail_on]
    failed = any(f.severity.rank >= threshold for f in report.findings)
    counts = {s: sum(1 for f in report.findings if f.severity.value == s) for s in _SEVERITIES}
    if args.json:
        out.write(
            dump(
                {
                    "ok": not failed,
                    "datacenter": target.datacenter if isinstance(target, Mesh) else None,
                    "meshes": list(target) if isinstance(target, MeshSet) else None,
                    "proxies": report.proxies,
                    "upstreams": report.upstreams,
                    "counts": counts,
                    "findings": [f.to_dict() for f in report.findings],
                }
            )
        )
        return 1 if failed else 0
    summary = _summary(target)
    lines = [str(finding) for finding in report.findings]
    head = "FAILED" if failed else "ok"
    tally = ", ".join(f"{n} {s}{'s' if n != 1 else ''}" for s, n in counts.items() if n)
    lines.append(
        f"{head}: {summary}; "
        f"{report.proxies} proxies translated, {report.upstreams} upstreams traced"
        + (f"; {tally}" if tally else "")
    )
    out.write(painted("\n".join(lines), out) + "\n")
    return 1 if failed else 0


_SEVERITIES = ("error", "warning", "info")


def _summary(target: Mesh | MeshSet) -> str:
    if isinstance(target, MeshSet):
        return "meshes " + ", ".join(target)
    kinds: dict[str, int] = {}
    for svc in target.services:
        kinds[str(svc.kind) or "service"] = kinds.get(str(svc.kind) or "service", 0) + 1
    services = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())) or "no services"
    return (
        f"datacenter {target.datacenter}; {services}; {len(target.config_entries)} config "
        f"entries; {len(target.catalog)} catalog entries; {len(target.peers)} peers"
    )
