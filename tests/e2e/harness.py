"""Process harness for the end-to-end tests: meshgw.lab's processes, and what only
tests need on top of them.

The Envoy processes, echo backends, TCP client and the owning :class:`Stack` are the
library's own (``meshgw.lab``'s process module), so the project's end-to-end tests run
on the code users run with ``meshgw.lab``: ``--disable-hot-restart``, admin ports Envoy
picks itself, bounded waits with the log tail in every error, reverse-order teardown and
an :mod:`atexit` safety net. What is here is for tests only:

* :class:`EnvoyProcess` / :class:`Stack` also take a bare translate result
  (``{"clusters": [...], "listeners": [...]}``), wrapped in a static bootstrap — the
  hand-written configurations of ``test_harness.py`` use that;
* :class:`PortAllocator` / :func:`free_port`: free ports on per-datacenter loopback
  addresses (``dc2`` → ``127.0.0.2``) for hand-built topologies;
* :func:`wait_until`: a bounded wait for a condition.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from meshgw._envoy.bootstrap import static_bootstrap
from meshgw.lab import _process
from meshgw.lab._process import (
    READY_TIMEOUT,
    STOP_GRACE,
    EchoServer,
    EnvoyError,
    EnvoyStartError,
    loopback,
    tcp_roundtrip,
)

__all__ = [
    "HANG_TIMEOUT",
    "READY_TIMEOUT",
    "STOP_GRACE",
    "TEST_TRUST_DOMAIN",
    "EchoServer",
    "EnvoyError",
    "EnvoyProcess",
    "EnvoyStartError",
    "PortAllocator",
    "Stack",
    "free_port",
    "loopback",
    "tcp_roundtrip",
    "wait_until",
]

#: The trust domain of the test PKI (Consul's form: ``<cluster id>.consul``).
TEST_TRUST_DOMAIN = "11111111-2222-3333-4444-555555555555.consul"

#: Everything started and not yet stopped (the library's atexit safety net).
_LIVE = _process._LIVE

_POLL_INTERVAL = 0.05


# --------------------------------------------------------------------------- waiting

#: Bound of :func:`wait_until`: only a hang reaches it, even on a loaded machine. How fast
#: things happen is measured in benchmarks/, never asserted in a test.
HANG_TIMEOUT = 60.0


def wait_until(condition: Callable[[], bool], what: str, timeout: float = HANG_TIMEOUT) -> None:
    """Poll ``condition`` until it holds; :class:`TimeoutError` naming ``what`` if it
    still does not after ``timeout`` seconds (a guard against hangs, not a speed check)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            raise TimeoutError(f"still not true after {timeout:g} s: {what}")
        time.sleep(_POLL_INTERVAL)


# --------------------------------------------------------------------------- ports


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that is free on ``host`` right now.

    The port is found by binding port 0 and closing the socket again, so another
    process could take it before the caller binds it; hand-built test topologies use
    it, the lab and the demo mesh hold their ports instead.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((loopback(host), 0))
        port: int = sock.getsockname()[1]
        return port


class PortAllocator:
    """Free ports on per-datacenter loopback IPs, never the same ``(ip, port)`` twice.

    ``ip(name)`` gives each name (a datacenter, usually) its own loopback address:
    ``"dc<N>"`` maps to ``127.0.0.<N>`` (for 1 ≤ N ≤ 254); other names get the next
    unused address from ``127.0.0.11`` on. ``port(host)`` and ``address(name)`` hand
    out free ports that this allocator has not handed out before.
    """

    _DC = re.compile(r"dc(\d+)")
    _MAX_TRIES = 50

    def __init__(self) -> None:
        self._ips: dict[str, str] = {}
        self._next_other = 11
        self._given: set[tuple[str, int]] = set()
        self._lock = threading.Lock()

    def ip(self, name: str) -> str:
        """The loopback IP of ``name`` (stable for the allocator's lifetime)."""
        with self._lock:
            if name not in self._ips:
                match = self._DC.fullmatch(name)
                if match and 1 <= int(match.group(1)) <= 254:
                    self._ips[name] = f"127.0.0.{int(match.group(1))}"
                else:
                    used = set(self._ips.values())
                    while f"127.0.0.{self._next_other}" in used:
                        self._next_other += 1
                    if self._next_other > 254:
                        raise ValueError("PortAllocator: out of 127.0.0.x addresses")
                    self._ips[name] = f"127.0.0.{self._next_other}"
                    self._next_other += 1
            return self._ips[name]

    def port(self, host: str = "127.0.0.1") -> int:
        """A free port on ``host`` that this allocator has not handed out before."""
        with self._lock:
            for _ in range(self._MAX_TRIES):
                port = free_port(host)
                if (host, port) not in self._given:
                    self._given.add((host, port))
                    return port
        raise OSError(f"PortAllocator: no new free port on {host} after {self._MAX_TRIES} tries")

    def address(self, name: str) -> tuple[str, int]:
        """``(ip(name), a fresh free port on it)``."""
        host = self.ip(name)
        return host, self.port(host)

    def release_all(self) -> None:
        """Nothing is held (the Stack calls this on close)."""


# --------------------------------------------------------------------------- processes


class EnvoyProcess(_process.EnvoyProcess):
    """The lab's Envoy process; ``config`` may also be a bare translate result
    (``clusters`` / ``listeners`` / ``endpoints``), wrapped in a static bootstrap whose
    node is the process name."""

    def __init__(self, config: Mapping[str, Any], *, name: str = "envoy", **kwargs: Any) -> None:
        if "static_resources" not in config and "node" not in config:
            config = static_bootstrap(config, node_id=name, node_cluster=name)
        super().__init__(config, name=name, **kwargs)


class Stack(_process.Stack):
    """The lab's Stack, starting this module's :class:`EnvoyProcess`, with a
    :class:`PortAllocator` as ``ports``."""

    process_class = EnvoyProcess

    def __init__(
        self,
        workdir: Any = None,
        *,
        envoy: str | None = None,
        ports: PortAllocator | None = None,
    ) -> None:
        super().__init__(workdir, envoy=envoy)
        self.ports = ports if ports is not None else PortAllocator()  # type: ignore[assignment]
