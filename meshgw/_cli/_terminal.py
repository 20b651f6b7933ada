"""What the ``meshgw`` command does only on a terminal: colour and progress.

Both are for a person watching; piped or redirected output stays plain text, so scripts
and files never see escape sequences. Colour follows https://no-color.org: a non-empty
``NO_COLOR`` turns it off, as does ``TERM=dumb``.
"""

from __future__ import annotations

import os
import re
import time
from typing import TextIO

__all__ = ["Progress", "colour_enabled", "paint", "painted"]

_STYLES = {
    "red": "31",
    "green": "32",
    "yellow": "33",
    "cyan": "36",
    "bold": "1",
}

_SEVERITY = re.compile(r"\b(error|warning|info)(?= MGW\d{3}\b)")
_SEVERITY_STYLE = {"error": "red", "warning": "yellow", "info": "cyan"}
_STATUS = re.compile(r"(: ok$|: FAILS$|^ok(?=:)|^FAILED(?=:))")
_DIFF_MARK = re.compile(r"^(\s*)([+\-~!]) ")
_DIFF_STYLE = {"+": "green", "-": "red", "~": "yellow", "!": "red"}

#: Seconds a run goes before progress is drawn, and between redraws.
PROGRESS_DELAY = 0.5
PROGRESS_EVERY = 0.1


def _is_terminal(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False


def colour_enabled(stream: TextIO) -> bool:
    """Whether text written to ``stream`` may carry colour."""
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    return _is_terminal(stream)


def paint(text: str, style: str) -> str:
    """``text`` in ``style`` (one of red, green, yellow, cyan, bold)."""
    return f"\x1b[{_STYLES[style]}m{text}\x1b[0m"


def painted(text: str, stream: TextIO) -> str:
    """``text`` (the output of check, trace, diff or lab) with its severities, statuses
    and diff marks coloured when ``stream`` is a terminal; unchanged otherwise."""
    if not colour_enabled(stream):
        return text
    return "\n".join(_paint_line(line) for line in text.split("\n"))


def _paint_line(line: str) -> str:
    line = _SEVERITY.sub(lambda m: paint(m.group(1), _SEVERITY_STYLE[m.group(1)]), line)
    line = _STATUS.sub(lambda m: paint(m.group(1), "green" if "ok" in m.group(1) else "red"), line)
    return _DIFF_MARK.sub(
        lambda m: m.group(1) + paint(m.group(2), _DIFF_STYLE[m.group(2)]) + " ", line
    )


class Progress:
    """``meshgw: what done/total`` on one line of ``stream``, redrawn in place, for runs long
    enough to wonder about (nothing is drawn in the first ``PROGRESS_DELAY`` seconds, nor at
    all when ``stream`` is not a terminal); :meth:`close` clears the line."""

    def __init__(self, what: str, stream: TextIO) -> None:
        self.what = what
        self.stream = stream
        self.enabled = _is_terminal(stream)
        self._start = time.monotonic()
        self._delay = PROGRESS_DELAY
        self._every = PROGRESS_EVERY
        self._last = 0.0
        self._width = 0

    def update(self, done: int, total: int) -> None:
        """Record that ``done`` of ``total`` are finished."""
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._start < self._delay or now - self._last < self._every:
            return
        self._last = now
        text = f"meshgw: {self.what} {done}/{total}"
        self.stream.write("\r" + text.ljust(self._width))
        self.stream.flush()
        self._width = len(text)

    def close(self) -> None:
        """Clear the progress line (if one was drawn)."""
        if self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()
            self._width = 0
