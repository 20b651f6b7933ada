# PYTHON_ARGCOMPLETE_OK  (lets argcomplete's global activation complete `meshgw`)
"""The ``meshgw`` command: a thin layer over the library.

Each subcommand is a module of this package with ``NAME``, ``HELP``, ``DESCRIPTION``,
``EXAMPLES``, ``register(parser)`` and ``run(args, out) -> exit status``; add a command by
adding a module and listing it in ``_COMMANDS``.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Sequence
from types import ModuleType
from typing import NoReturn

from meshgw._cli import bootstrap, check, diff, explain, lab, trace, translate
from meshgw._cli._terminal import colour_enabled, paint
from meshgw.errors import MeshgwError, MeshgwWarning

__all__ = ["main"]

_COMMANDS: tuple[ModuleType, ...] = (translate, explain, bootstrap, check, diff, lab, trace)

EXIT_CODES = """\
exit status:
  0  success
  1  meshgw found a problem in the input (for check: findings at or above --fail-on;
     for trace: a trace that is not ok)
  2  usage error (unknown option, bad option value)
"""


class _Parser(argparse.ArgumentParser):
    """Reports unknown arguments with the usage of the subcommand they were given to."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")


def _version() -> str:
    from meshgw import __version__

    return f"meshgw {__version__}"


def _parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    parser = _Parser(
        prog="meshgw",
        description="Consul mesh gateway and sidecar registrations to Envoy configuration.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    parsers: dict[str, argparse.ArgumentParser] = {}
    for command in _COMMANDS:
        p = sub.add_parser(
            command.NAME,
            help=command.HELP,
            description=command.DESCRIPTION,
            epilog=command.EXAMPLES + "\n" + EXIT_CODES,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        command.register(p)
        p.set_defaults(run=command.run)
        parsers[command.NAME] = p
    return parser, parsers


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser, parsers = _parser()
    if "_ARGCOMPLETE" in os.environ:
        _complete(parser)
    args, extra = parser.parse_known_args(argv)
    if extra:
        parsers[args.command].error(f"unrecognized arguments: {' '.join(extra)}")
    caught: list[warnings.WarningMessage] = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", MeshgwWarning)
            status = args.run(args, sys.stdout)
    except MeshgwError as exc:
        _print_warnings(caught)
        sys.stderr.write(f"{_label('meshgw:', 'red')} {exc}\n")
        return 1
    except BrokenPipeError:  # pragma: no cover - e.g. `meshgw translate ... | head`
        return 0
    _print_warnings(caught)
    return int(status or 0)


def _complete(parser: argparse.ArgumentParser) -> None:
    """Answer the shell's completion request (argcomplete prints and exits), when the
    optional ``argcomplete`` package is installed (``meshgw[completion]``)."""
    try:
        import argcomplete
    except ImportError:
        return
    argcomplete.autocomplete(parser)


def _print_warnings(caught: list[warnings.WarningMessage]) -> None:
    # Printed even when an error follows: a typo warned about is often the error's cause.
    for warning in caught:
        sys.stderr.write(f"meshgw: {_label('warning:', 'yellow')} {warning.message}\n")


def _label(text: str, style: str) -> str:
    return paint(text, style) if colour_enabled(sys.stderr) else text
