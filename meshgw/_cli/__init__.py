"""The ``meshgw`` command: a thin layer over the library.

    meshgw translate FILE... [--service ID] [--static] [-o OUT]
    meshgw explain   FILE... [--service ID] [--json]
    meshgw bootstrap FILE... [--service ID] [--admin HOST:PORT] [-o OUT]
    meshgw check     FILE...

Each subcommand is a module of this package with ``NAME``, ``HELP``, ``register(parser)``
and ``run(args, out)``; add a command by adding a module and listing it in ``_COMMANDS``.

Exit status: 0 on success, 1 when meshgw reports a problem with the input, 2 on usage
errors.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Sequence
from types import ModuleType

from meshgw._cli import bootstrap, check, explain, translate
from meshgw.errors import MeshgwError, MeshgwWarning

__all__ = ["main"]

_COMMANDS: tuple[ModuleType, ...] = (translate, explain, bootstrap, check)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="meshgw",
        description="Consul mesh gateway and sidecar registrations to Envoy configuration.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in _COMMANDS:
        p = sub.add_parser(command.NAME, help=command.HELP)
        command.register(p)
        p.set_defaults(run=command.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", MeshgwWarning)
            args.run(args, sys.stdout)
        for warning in caught:
            sys.stderr.write(f"meshgw: warning: {warning.message}\n")
    except MeshgwError as exc:
        sys.stderr.write(f"meshgw: {exc}\n")
        return 1
    except BrokenPipeError:  # pragma: no cover - e.g. `meshgw translate ... | head`
        return 0
    return 0
