"""``meshgw lab``: bring a mesh up with real Envoys, send bytes through every upstream.

Each argument is one mesh (a directory or a file); several are several datacenters'
views of one cluster, or peered clusters. The lab connects once through every upstream
of the chosen sidecars and prints a table: the upstream, the path the offline trace
expects (where this meshgw has one), the path the bytes took, and the result. Then it
tears everything down — or, with ``--keep``, prints where everything listens and runs
until Ctrl-C. Exit status 1 when an upstream did not answer or took another path than
predicted.
"""

from __future__ import annotations

import argparse
import signal
import threading
from collections.abc import Sequence
from types import FrameType
from typing import TYPE_CHECKING, TextIO

from meshgw.errors import MeshgwError

if TYPE_CHECKING:
    from meshgw.lab import Comparison, Connection, Lab

NAME = "lab"
HELP = "run the mesh with real Envoys on loopback and connect through every upstream"
DESCRIPTION = (
    "Bring the mesh up with real Envoys on loopback (every address mapped onto\n"
    "127.100.x.y), connect once through every upstream of the chosen sidecars and print\n"
    "the upstream, the path the offline trace expects, the path the bytes took and the\n"
    "result; then tear down. Each MESH is one mesh: several are datacenter views of one\n"
    "cluster or peered clusters. Needs Envoy: pip install 'meshgw[lab]'."
)
EXAMPLES = """\
examples:
  meshgw lab examples/two-dc
  meshgw lab dc1/ dc2/ --source web
  meshgw lab importer.hcl exporter.hcl --keep     # until Ctrl-C; prints admin ports
"""


def register(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "meshes",
        nargs="+",
        metavar="MESH",
        help="a directory or file per mesh (datacenter views, peered clusters)",
    )
    p.add_argument(
        "--source",
        "-s",
        action="append",
        metavar="NAME",
        help="sidecar to connect from (id or the service it fronts; repeatable); default: "
        "every sidecar with upstreams registered in the meshes' own files",
    )
    p.add_argument(
        "--keep",
        action="store_true",
        help="leave the lab running until Ctrl-C and print its admin and listener ports",
    )
    p.add_argument(
        "--method", default="GET", help="HTTP method of the request sent to HTTP upstreams"
    )
    p.add_argument("--path", default="/", help="HTTP path of the request sent to HTTP upstreams")
    p.add_argument("--workdir", metavar="DIR", help="keep certificates, bootstraps, logs here")
    p.add_argument(
        "--timeout", type=float, default=30.0, metavar="S", help="seconds for Envoys to start"
    )


def run(args: argparse.Namespace, out: TextIO) -> int:
    import meshgw.lab

    lab = meshgw.lab.start(
        args.meshes, sources=args.source, workdir=args.workdir, timeout=args.timeout
    )
    with lab:
        rows, tally = _connect_all(lab, args.method, args.path)
        out.write(_table(["upstream", "expected (trace)", "real path", "result"], rows))
        if args.keep:
            out.write("\n" + _ports(lab))
            out.write("\nrunning; press Ctrl-C to stop\n")
            out.flush()
            _wait_for_interrupt()
    if tally.problem():
        raise MeshgwError(tally.problem())
    return 0


class _Tally:
    """How the connections went: failed ones (those the trace predicted among them)
    and ones that did not go as the trace predicted."""

    def __init__(self) -> None:
        self.total = self.failed = self.predicted = self.differing = 0

    def record(self, conn: Connection, comparison: Comparison) -> None:
        self.total += 1
        self.failed += not conn.ok
        self.predicted += not conn.ok and comparison.agrees
        self.differing += not comparison.agrees

    def problem(self) -> str:
        """Why the command fails (``""``: every connection worked as predicted)."""
        parts = []
        if self.failed:
            parts.append(
                f"{self.failed} of {self.total} upstreams failed"
                + (f" ({self.predicted} as the trace predicted)" if self.predicted else "")
            )
        if self.differing:
            parts.append(f"{self.differing} did not go the way the trace predicted")
        return "; ".join(parts)


def _connect_all(lab: Lab, method: str, path: str) -> tuple[list[list[str]], _Tally]:
    rows: list[list[str]] = []
    tally = _Tally()
    for source in lab.sources:
        for up in source.service.upstreams:
            conn, comparison = lab.verify(
                source.label,
                up.destination_name,
                datacenter=up.datacenter or None,
                peer=up.destination_peer or None,
                method=method,
                path=path,
            )
            expected = " | ".join(comparison.expected)
            if not comparison.expected_ok:
                expected = "fails: " + expected
            tally.record(conn, comparison)
            rows.append(
                [
                    f"{source.id} → {conn.upstream}",
                    expected,
                    _route(conn),
                    _result(conn, comparison),
                ]
            )
    return rows, tally


def _route(conn: Connection) -> str:
    parts = []
    for hop in conn.hops:
        where = f"{hop.peer}/{hop.datacenter}" if hop.peer else hop.datacenter
        parts.append(f"{hop.proxy}@{where}")
    return " → ".join(parts) or "(none)"


def _result(conn: Connection, comparison: Comparison) -> str:
    if conn.ok and conn.answer is not None:
        a = conn.answer
        text = f"ok: {a.service} in {a.peer + '/' if a.peer else ''}{a.datacenter} on {a.node}"
    elif comparison.agrees:
        text = f"failed, as predicted: {conn.error}"
    else:
        text = f"FAILED: {conn.error}"
    if not comparison.agrees:
        text += f"; differs from trace: {comparison.reason}"
    return text


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
        for r in [header, *rows]
    ]
    return "\n".join(lines) + "\n"


def _ports(lab: Lab) -> str:
    rows = []
    for label, proc in sorted(lab.envoys.items()):
        host, port = proc.admin_address
        rows.append([label, f"http://{host}:{port}", str(proc.log_path)])
    text = _table(["proxy", "admin", "log"], rows) + "\n"
    listeners = []
    for source in lab.sources:
        for up in source.service.upstreams:
            host, port = lab.listener(
                source.label,
                up.destination_name,
                datacenter=up.datacenter or None,
                peer=up.destination_peer or None,
            )
            listeners.append([source.id, up.destination_name, f"{host}:{port}"])
    text += _table(["source", "upstream", "listener (connect here)"], listeners) + "\n"
    return text + str(lab.addresses) + "\n"


def _wait_for_interrupt() -> None:
    """Block until SIGINT (Ctrl-C) or SIGTERM; the caller's ``with`` tears down."""
    stop = threading.Event()

    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not stop.wait(0.5):
            pass
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
