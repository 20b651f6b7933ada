"""Processes of a lab: Envoys and echo backends on loopback, and the ports they use.

Everything here binds to loopback addresses only (``127.0.0.0/8``), every wait is
bounded in time, and everything started is stopped again:

* :class:`PortReservations`: free TCP ports, held from planning until teardown;
* :class:`EchoServer`: a threaded TCP echo backend that prefixes what it sends back with
  a tag, so a client can tell which backend answered;
* :class:`EnvoyProcess`: one Envoy started from a bootstrap (dict or file), with readiness
  polling, stats and log access through its admin endpoint;
* :func:`tcp_roundtrip`: a plain-TCP client (the sidecars do the mTLS);
* :class:`Stack`: owns everything started through it and tears it all down, in
  reverse order, on exit — also on exceptions. An :mod:`atexit` hook stops whatever a
  crashed program left behind, and a watchdog process the Envoys of a program that was
  killed outright.

Several Envoys run side by side: each gets ``--disable-hot-restart`` (no shared memory,
no hot-restart domain socket, so no ``--base-id`` clash with any other Envoy on the
machine), its own working directory (bootstrap, log, admin address file) and an admin
listener on an ephemeral port that Envoy itself picks and reports through
``--admin-address-path`` (so there is no port to race for).
"""

from __future__ import annotations

import atexit
import contextlib
import ipaddress
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

import attrs

from meshgw.errors import MeshgwError
from meshgw.lab._binary import find_envoy

__all__ = [
    "EchoServer",
    "EnvoyError",
    "EnvoyProcess",
    "EnvoyStartError",
    "HttpReply",
    "PortReservations",
    "Stack",
    "http_roundtrip",
    "loopback",
    "tcp_roundtrip",
]

#: Default deadline for an Envoy to answer ``GET /ready`` with 200.
READY_TIMEOUT = 15.0
#: Default time an Envoy gets to exit after SIGTERM before it is killed.
STOP_GRACE = 5.0

_LOOPBACK = ipaddress.ip_network("127.0.0.0/8")
_ADMIN_HTTP_TIMEOUT = 2.0
_POLL_INTERVAL = 0.05


class EnvoyError(MeshgwError):
    """An Envoy process misbehaved (exited, never became ready, admin unreachable)."""


class EnvoyStartError(EnvoyError):
    """An Envoy did not become ready; the message ends with the tail of its log."""


def loopback(host: str) -> str:
    """Return ``host`` when it is an IPv4 loopback address; raise ``ValueError`` if not."""
    if ipaddress.ip_address(host) not in _LOOPBACK:
        raise ValueError(f"{host!r} is not a loopback address (127.0.0.0/8)")
    return host


# --------------------------------------------------------------------------- ports


class PortReservations:
    """Free TCP ports, held for as long as the lab lives: :meth:`reserve` returns a port
    on a loopback address that nobody else can take meanwhile.

    A port found by binding port 0 and closing the socket again is free only at that
    moment: an outgoing connection may get it as its source port, or another program
    may bind it, before the Envoy meant to listen there starts. So on Linux each port
    stays bound (never listening) with ``SO_REUSEPORT``: the kernel hands it to no other
    ``bind(0)`` and no socket without ``SO_REUSEPORT``, while an Envoy listener (which
    sets ``SO_REUSEPORT`` on Linux) and the lab's echo backends bind it alongside. The
    hold lasts until :meth:`release_all` (the lab's teardown), so a proxy taken
    ``down`` and brought ``up`` again finds its ports still free, and a connection to a
    proxy that is down is refused, as it would be. Elsewhere ports are only picked.
    """

    def __init__(self) -> None:
        self._held: dict[tuple[str, int], socket.socket | None] = {}
        self._lock = threading.Lock()
        self.holding = sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")

    def reserve(self, host: str) -> int:
        """A free port on ``host`` never handed out before, held until released."""
        with self._lock:
            while True:
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                try:
                    if self.holding:
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
                    sock.bind((loopback(host), 0))
                    port: int = sock.getsockname()[1]
                except BaseException:
                    sock.close()
                    raise
                if (host, port) in self._held:  # handed out before (and since released)
                    sock.close()
                    continue
                if not self.holding:
                    sock.close()
                self._held[host, port] = sock if self.holding else None
                return port

    __call__ = reserve  # usable wherever a ``port(host)`` function is expected

    def release(self, host: str, port: int) -> None:
        """Let go of one port (idempotent), just before something that does not set
        ``SO_REUSEPORT`` binds it; it is not handed out again."""
        with self._lock:
            sock = self._held.get((host, port))
            if sock is not None:
                sock.close()
                self._held[host, port] = None

    def release_all(self) -> None:
        """Let go of every port (idempotent)."""
        with self._lock:
            for sock in self._held.values():
                if sock is not None:
                    sock.close()
            self._held.clear()

    stop = release_all


# --------------------------------------------------------------------------- echo backend


class EchoServer:
    """A threaded TCP echo backend on one loopback address.

    Each connection gets back ``tag`` followed by every byte it sends (the tag once,
    before the first echoed byte), so a client that sent ``b"hello"`` reads
    ``b"dc2:hello"``. ``connections`` counts accepted connections and
    ``bytes_received`` the bytes read from all of them.

    With ``http=True`` it is an HTTP/1.1 backend instead: every request gets ``200 OK``
    with ``tag`` followed by the request's body, so an HTTP client reads the same
    ``tag + payload`` in the response body (for services whose protocol is ``http``,
    ``http2`` or ``grpc``, which their sidecars speak HTTP to).

    ``port=0`` binds an ephemeral port; :attr:`port` is the one bound. ``reuse_port``
    binds with ``SO_REUSEPORT``, alongside a :class:`PortReservations` hold. ``stop()`` closes
    the listener and every open connection and joins all threads (bounded).
    """

    _TICK = 0.1

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        tag: bytes = b"",
        *,
        reuse_port: bool = False,
        http: bool = False,
    ) -> None:
        self.host = loopback(host)
        self.reuse_port = reuse_port
        self.tag = tag
        self.http = http
        self._requested_port = port
        self._listener: socket.socket | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._conns: set[socket.socket] = set()
        self._connections = 0
        self._bytes = 0
        self.port = port
        self.errors: list[BaseException] = []

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> EchoServer:
        """Bind, listen and start the accept thread. Returns ``self``."""
        if self._listener is not None:
            raise RuntimeError("EchoServer already started")
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if self.reuse_port:  # bind alongside the lab's hold on this port
                listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            listener.bind((self.host, self._requested_port))
            listener.listen(64)
            listener.settimeout(self._TICK)
        except BaseException:
            listener.close()
            raise
        self._listener = listener
        self.port = listener.getsockname()[1]
        _LIVE.add(self)
        self._spawn(self._accept_loop, f"echo-accept-{self.port}")
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop accepting, close every connection, join the threads (idempotent)."""
        self._stop.set()
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + timeout
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        _LIVE.discard(self)
        alive = [t.name for t in threads if t.is_alive()]
        if alive:
            raise RuntimeError(f"EchoServer threads did not stop: {alive}")

    def __enter__(self) -> EchoServer:
        return self.start() if self._listener is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ state

    @property
    def address(self) -> tuple[str, int]:
        """``(host, port)`` as bound."""
        return self.host, self.port

    @property
    def connections(self) -> int:
        """Connections accepted so far."""
        with self._lock:
            return self._connections

    @property
    def bytes_received(self) -> int:
        """Bytes read from all connections so far."""
        with self._lock:
            return self._bytes

    def __repr__(self) -> str:
        kind = ", http" if self.http else ""
        return f"EchoServer({self.host}:{self.port}, tag={self.tag!r}{kind})"

    # ------------------------------------------------------------------ threads

    def _spawn(self, target: Callable[..., None], name: str, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        with self._lock:
            self._threads.append(thread)
        thread.start()

    def _accept_loop(self) -> None:
        listener = self._listener
        assert listener is not None
        while not self._stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                break  # closed by stop()
            with self._lock:
                if self._stop.is_set():
                    conn.close()
                    break
                self._connections += 1
                self._conns.add(conn)
            self._spawn(self._serve, f"echo-conn-{self.port}", conn)

    def _serve(self, conn: socket.socket) -> None:
        try:
            conn.settimeout(self._TICK)
            if self.http:
                self._serve_http(conn)
                return
            tagged = False
            while not self._stop.is_set():
                data = self._recv(conn)
                if data is None:
                    continue
                if not data:
                    break
                if not tagged:
                    data, tagged = self.tag + data, True
                conn.sendall(data)
        except OSError as exc:  # reset by the peer, or shut down by stop()
            if not self._stop.is_set() and not isinstance(exc, ConnectionError):
                self.errors.append(exc)
        finally:
            with self._lock:
                self._conns.discard(conn)
            conn.close()

    def _recv(self, conn: socket.socket) -> bytes | None:
        """The next bytes (``b""`` at end of stream), or ``None`` after a quiet tick."""
        try:
            data = conn.recv(65536)
        except TimeoutError:
            return None
        with self._lock:
            self._bytes += len(data)
        return data

    def _serve_http(self, conn: socket.socket) -> None:
        buffer = b""
        while not self._stop.is_set():
            head_end = buffer.find(b"\r\n\r\n")
            if head_end < 0:
                data = self._recv(conn)
                if data is None:
                    continue
                if not data:
                    return
                buffer += data
                continue
            head, rest = buffer[:head_end].decode("latin-1"), buffer[head_end + 4 :]
            headers = _header_fields(head)
            if "chunked" in headers.get("transfer-encoding", ""):
                conn.sendall(_http_response(400, b"the lab's backend takes Content-Length\n"))
                return
            length = int(headers.get("content-length", "0") or 0)
            while len(rest) < length and not self._stop.is_set():
                data = self._recv(conn)
                if data == b"":
                    return
                rest += data or b""
            body, buffer = rest[:length], rest[length:]
            conn.sendall(_http_response(200, self.tag + body))
            if headers.get("connection", "").lower() == "close":
                return


def _header_fields(head: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for line in head.split("\r\n")[1:]:
        name, sep, value = line.partition(":")
        if sep:
            fields[name.strip().lower()] = value.strip()
    return fields


def _http_response(status: int, body: bytes) -> bytes:
    reason = {200: "OK", 400: "Bad Request"}[status]
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: text/plain\r\n"
        f"content-length: {len(body)}\r\n\r\n"
    )
    return head.encode("latin-1") + body


# --------------------------------------------------------------------------- HTTP client


@attrs.frozen
class HttpReply:
    """An HTTP response as :func:`http_roundtrip` read it (``status`` 0: none came)."""

    status: int
    reason: str = ""
    headers: Mapping[str, str] = attrs.field(factory=dict)
    body: bytes = b""


def http_roundtrip(
    host: str,
    port: int,
    payload: bytes,
    timeout: float = 5.0,
    *,
    method: str = "GET",
    path: str = "/",
    authority: str = "meshgw-lab",
    connect_attempts: int = 20,
) -> HttpReply:
    """Send one HTTP/1.1 request carrying ``payload`` as its body and read the response
    (the connection is closed after it). A connection closed before a complete response
    gives ``status`` 0 with what arrived in ``body``; :class:`TimeoutError` when nothing
    completes within ``timeout`` seconds. A refused connection is retried as in
    :func:`tcp_roundtrip`."""
    deadline = time.monotonic() + timeout
    sock = _connect(loopback(host), port, deadline, connect_attempts, "http_roundtrip")
    request = (
        f"{method} {path} HTTP/1.1\r\nhost: {authority}\r\ncontent-length: {len(payload)}\r\n"
        "connection: close\r\n\r\n"
    ).encode("latin-1") + payload
    received = bytearray()
    with sock:
        try:
            sock.sendall(request)
            while True:
                reply = _parse_response(bytes(received))
                if reply is not None:
                    return reply
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(
                        f"http_roundtrip {host}:{port}: no complete response within "
                        f"{timeout:g} s; received {bytes(received)!r}"
                    )
                sock.settimeout(remaining)
                try:
                    chunk = sock.recv(65536)
                except TimeoutError:
                    continue
                if not chunk:
                    break
                received += chunk
        except ConnectionError:
            pass  # reset: the proxy dropped the connection
    return _parse_response(bytes(received), complete=True) or HttpReply(0, body=bytes(received))


def _parse_response(data: bytes, *, complete: bool = False) -> HttpReply | None:
    """The response in ``data`` once whole (by Content-Length, or at the end of the
    stream when ``complete``), else ``None``."""
    head_end = data.find(b"\r\n\r\n")
    if head_end < 0:
        return None
    head = data[:head_end].decode("latin-1")
    status_line = head.split("\r\n", 1)[0].split(" ", 2)
    if len(status_line) < 2 or not status_line[1].isdigit():
        return HttpReply(0, body=data) if complete else None
    headers = _header_fields(head)
    body = data[head_end + 4 :]
    length = headers.get("content-length")
    if length is not None and length.isdigit():
        if len(body) < int(length):
            return HttpReply(int(status_line[1]), body=body) if complete else None
        body = body[: int(length)]
    elif not complete:
        return None
    reason = status_line[2] if len(status_line) > 2 else ""
    return HttpReply(int(status_line[1]), reason, headers, body)


# --------------------------------------------------------------------------- TCP client


def tcp_roundtrip(
    host: str,
    port: int,
    payload: bytes,
    timeout: float = 5.0,
    *,
    connect_attempts: int = 20,
) -> bytes:
    """Send ``payload`` over plain TCP and return what comes back.

    Reads until the received bytes end with ``payload`` (what an :class:`EchoServer`
    sends back, after its tag) or the peer closes the connection; returns what was
    received, so ``b""`` means the connection was closed (or reset) without an answer.
    Raises :class:`TimeoutError` (with what was received so far) when neither happens
    within ``timeout`` seconds.

    A refused connection is retried, ``connect_attempts`` times at most and within
    ``timeout``, because a listener may still be coming up. An accepted connection is
    never retried, so a close by a proxy is reported as such.
    """
    if not payload:
        raise ValueError("tcp_roundtrip needs a non-empty payload")
    deadline = time.monotonic() + timeout
    sock = _connect(loopback(host), port, deadline, connect_attempts, "tcp_roundtrip")
    received = bytearray()
    with sock:
        try:
            sock.sendall(payload)
            while not received.endswith(payload):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(
                        f"tcp_roundtrip {host}:{port}: no complete echo within {timeout:g} s; "
                        f"received {bytes(received)!r}"
                    )
                sock.settimeout(remaining)
                try:
                    chunk = sock.recv(65536)
                except TimeoutError:
                    continue  # the deadline check above reports it
                if not chunk:
                    break
                received += chunk
        except ConnectionError:
            pass  # reset / broken pipe: the proxy dropped the connection
    return bytes(received)


def _connect(host: str, port: int, deadline: float, attempts: int, who: str) -> socket.socket:
    last: OSError | None = None
    for attempt in range(max(1, attempts)):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        try:
            return socket.create_connection((host, port), timeout=remaining)
        except ConnectionRefusedError as exc:
            last = exc
            time.sleep(min(0.05 * (attempt + 1), 0.25, max(0.0, deadline - time.monotonic())))
    raise ConnectionRefusedError(f"{who}: cannot connect to {host}:{port}: {last}")


# --------------------------------------------------------------------------- Envoy


class EnvoyProcess:
    """One Envoy process started from a bootstrap, driven through its admin endpoint.

    ``config`` is a complete bootstrap (as :func:`meshgw.bootstrap` returns). Without an
    ``admin`` block, one is added on ``admin_host`` with an ephemeral port; the actual
    address is read from ``--admin-address-path`` either way. ``config`` may instead be
    the path of a bootstrap file (JSON or YAML, e.g. written by ``meshgw bootstrap``):
    Envoy then runs that file as it is, which must have its ``admin`` block.

    Files live in ``workdir`` (a fresh temporary directory by default, kept on
    :meth:`stop` when given by the caller): ``bootstrap.json`` (unless ``config`` is a
    file), ``envoy.log`` (Envoy's stdout and stderr) and ``admin-address.txt``.

    The command line is::

        envoy -c bootstrap.json --disable-hot-restart --concurrency N
              --log-level LEVEL --admin-address-path admin-address.txt
    """

    def __init__(
        self,
        config: Mapping[str, Any] | str | os.PathLike[str],
        *,
        name: str = "envoy",
        envoy: str | None = None,
        workdir: str | os.PathLike[str] | None = None,
        admin_host: str = "127.0.0.1",
        log_level: str = "warn",
        concurrency: int = 1,
        extra_args: Sequence[str] = (),
    ) -> None:
        binary = envoy if envoy is not None else find_envoy()
        if binary is None:
            raise EnvoyError("no Envoy binary found (see meshgw.testing.find_envoy)")
        self.binary = binary
        self.name = name
        self._own_workdir = workdir is None
        if workdir is None:
            self.workdir = Path(tempfile.mkdtemp(prefix=f"meshgw-lab-{_safe(name)}-"))
        else:
            self.workdir = Path(workdir)
            self.workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.workdir / "envoy.log"
        self.admin_path = self.workdir / "admin-address.txt"
        self._write = not isinstance(config, str | os.PathLike)
        if isinstance(config, str | os.PathLike):
            self.bootstrap_path = Path(config).absolute()
            self.bootstrap = _bootstrap_file(self.bootstrap_path, name=name)
        else:
            self.bootstrap_path = self.workdir / "bootstrap.json"
            self.bootstrap = _bootstrap(config, name=name, admin_host=loopback(admin_host))
        self.command: tuple[str, ...] = (
            binary,
            "-c",
            str(self.bootstrap_path),
            "--disable-hot-restart",
            "--concurrency",
            str(concurrency),
            "--log-level",
            log_level,
            "--admin-address-path",
            str(self.admin_path),
            *extra_args,
        )
        self._proc: subprocess.Popen[bytes] | None = None
        self._admin: tuple[str, int] | None = None

    # ------------------------------------------------------------------ lifecycle

    def launch(self) -> EnvoyProcess:
        """Write the bootstrap (unless it is the caller's file) and start Envoy without
        waiting (see :meth:`wait_ready`)."""
        if self._proc is not None:
            raise RuntimeError(f"{self.name}: already started")
        if self._write:
            text = json.dumps(self.bootstrap, indent=1)
            self.bootstrap_path.write_text(text, encoding="utf-8")
        with contextlib.suppress(FileNotFoundError):
            self.admin_path.unlink()
        with open(self.log_path, "ab") as log:
            self._proc = subprocess.Popen(
                self.command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
                # own process group: a wrapper script's children die with it
                start_new_session=os.name == "posix",
            )
        _LIVE.add(self)
        _WATCHDOG.watch(self._proc.pid)
        return self

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> EnvoyProcess:
        """Poll ``GET /ready`` until it answers 200, within ``timeout`` seconds.

        Raises :class:`EnvoyStartError` (with the log tail) when Envoy exits or is not
        ready in time; in the latter case the process is stopped first.
        """
        proc = self._require_proc()
        deadline = time.monotonic() + timeout
        last = "no admin address yet"
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                message = self._describe(f"exited with status {proc.returncode} before ready")
                self.stop()
                raise EnvoyStartError(message)
            if self._admin is None:
                self._admin = _read_admin_address(self.admin_path)
            if self._admin is not None:
                try:
                    status, body = self._http("/ready")
                except (OSError, urllib.error.URLError) as exc:
                    last = f"GET /ready: {exc}"
                else:
                    if status == 200:
                        return self
                    last = f"GET /ready: {status} {body.strip()}"
            time.sleep(_POLL_INTERVAL)
        message = self._describe(f"not ready within {timeout:g} s ({last})")
        self.stop()
        raise EnvoyStartError(message)

    def start(self, timeout: float = READY_TIMEOUT) -> EnvoyProcess:
        """:meth:`launch`, then :meth:`wait_ready`. Returns ``self``."""
        return self.launch().wait_ready(timeout)

    def stop(self, grace: float = STOP_GRACE) -> int | None:
        """SIGTERM, then SIGKILL after ``grace`` seconds; reap. Returns the exit status.

        Idempotent; returns ``None`` when the process was never started. A working
        directory the instance created itself is removed (with the log in it); one
        given by the caller is kept.
        """
        proc = self._proc
        if proc is None:
            return None
        try:
            if proc.poll() is None:
                _signal(proc, signal.SIGTERM)
                try:
                    proc.wait(grace)
                except subprocess.TimeoutExpired:
                    _signal(proc, signal.SIGKILL)
                    proc.wait(grace)
        finally:
            if proc.returncode is not None:
                _LIVE.discard(self)
                _WATCHDOG.forget(proc.pid)
                if self._own_workdir:
                    shutil.rmtree(self.workdir, ignore_errors=True)
        return proc.returncode

    def __enter__(self) -> EnvoyProcess:
        return self.start() if self._proc is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ state

    @property
    def pid(self) -> int | None:
        """The process id, once launched."""
        return None if self._proc is None else self._proc.pid

    @property
    def returncode(self) -> int | None:
        """The exit status once the process has exited (negative: killed by a signal)."""
        return None if self._proc is None else self._proc.poll()

    @property
    def running(self) -> bool:
        """Whether the process has been launched and has not exited."""
        return self._proc is not None and self._proc.poll() is None

    @property
    def admin_address(self) -> tuple[str, int]:
        """``(host, port)`` of the admin listener (known once ready)."""
        if self._admin is None:
            self._admin = _read_admin_address(self.admin_path)
        if self._admin is None:
            raise EnvoyError(f"{self.name}: admin address not known yet")
        return self._admin

    def __repr__(self) -> str:
        return f"EnvoyProcess({self.name!r}, pid={self.pid}, workdir={str(self.workdir)!r})"

    # ------------------------------------------------------------------ admin

    def admin_get(self, path: str) -> str:
        """``GET path`` on the admin endpoint; the body as text. Non-200 raises EnvoyError."""
        status, body = self._http(path)
        if status != 200:
            raise EnvoyError(f"{self.name}: GET {path}: HTTP {status}: {body[:500]}")
        return body

    def stats(self, filter: str | None = None) -> dict[str, int]:
        """Counters and gauges, name → value (``GET /stats?format=json``).

        ``filter`` is Envoy's regular expression filter on stat names. Histograms and
        text readouts are left out.
        """
        path = "/stats?format=json"
        if filter is not None:
            path += "&filter=" + urllib.parse.quote(filter, safe="")
        document = json.loads(self.admin_get(path))
        out: dict[str, int] = {}
        for entry in document.get("stats", []):
            value = entry.get("value")
            if isinstance(value, int) and not isinstance(value, bool):
                out[entry["name"]] = value
        return out

    def counter(self, name: str, default: int | None = None) -> int:
        """The value of stat ``name``.

        A stat Envoy has not created raises :class:`KeyError` listing similar names,
        unless ``default`` is given.
        """
        stats = self.stats()
        if name in stats:
            return stats[name]
        if default is not None:
            return default
        raise KeyError(_missing_stat(name, stats, self.name))

    def wait_for_counter(
        self,
        name: str,
        predicate: Callable[[int], bool],
        timeout: float = 5.0,
        *,
        default: int | None = 0,
    ) -> int:
        """Poll stat ``name`` until ``predicate(value)`` holds; return that value.

        A stat not (yet) created counts as ``default`` (0; ``None`` makes it an
        error). Raises :class:`TimeoutError` with the last value and the log tail.
        """
        deadline = time.monotonic() + timeout
        value: int | None = None
        while True:
            value = self.counter(name, default)
            if predicate(value):
                return value
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    self._describe(
                        f"stat {name} = {value} did not satisfy the predicate within {timeout:g} s"
                    )
                )
            time.sleep(_POLL_INTERVAL)

    def clusters_text(self) -> str:
        """``GET /clusters``: every cluster and host with its counters (debugging)."""
        return self.admin_get("/clusters")

    def listeners(self) -> dict[str, tuple[str, int]]:
        """Listener name → bound ``(address, port)`` (``GET /listeners?format=json``)."""
        document = json.loads(self.admin_get("/listeners?format=json"))
        out: dict[str, tuple[str, int]] = {}
        for entry in document.get("listener_statuses", []):
            sock = entry.get("local_address", {}).get("socket_address", {})
            out[entry["name"]] = (sock.get("address", ""), int(sock.get("port_value", 0)))
        return out

    def config_dump(self) -> dict[str, Any]:
        """``GET /config_dump`` as parsed JSON (debugging)."""
        result: dict[str, Any] = json.loads(self.admin_get("/config_dump"))
        return result

    def log_tail(self, lines: int = 40) -> str:
        """The last ``lines`` lines of ``envoy.log`` (Envoy's stdout and stderr)."""
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as fh:
                return "".join(deque(fh, maxlen=lines)).rstrip("\n")
        except FileNotFoundError:
            return "(no log file)"

    # ------------------------------------------------------------------ internals

    def _require_proc(self) -> subprocess.Popen[bytes]:
        if self._proc is None:
            raise RuntimeError(f"{self.name}: not started")
        return self._proc

    def _http(self, path: str) -> tuple[int, str]:
        host, port = self.admin_address
        url = f"http://{host}:{port}{path}"
        try:
            with _NO_PROXY.open(url, timeout=_ADMIN_HTTP_TIMEOUT) as resp:
                return int(resp.status), resp.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as exc:
            with exc:
                return int(exc.code), exc.read().decode("utf-8", "replace")

    def _describe(self, what: str) -> str:
        return (
            f"envoy {self.name!r} (pid {self.pid}, workdir {self.workdir}) {what}\n"
            f"command: {' '.join(self.command)}\n"
            f"--- log tail ({self.log_path}) ---\n{self.log_tail()}"
        )


# Admin requests go straight to loopback, never through an http_proxy from the env.
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _bootstrap(config: Mapping[str, Any], *, name: str, admin_host: str) -> dict[str, Any]:
    if "static_resources" not in config and "node" not in config:
        raise EnvoyError(f"{name}: expected an Envoy bootstrap (static_resources, node)")
    document: dict[str, Any] = json.loads(json.dumps(config))
    document.setdefault("node", {"id": name, "cluster": name})
    if "admin" not in document:
        document["admin"] = {
            "address": {"socket_address": {"address": admin_host, "port_value": 0}}
        }
    return document


def _bootstrap_file(path: Path, *, name: str) -> dict[str, Any]:
    """The bootstrap file ``path`` as Envoy will read it, checked for what the process
    needs (an ``admin`` block: readiness and stats go through it)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise EnvoyError(f"{name}: cannot read bootstrap {path}: {exc.strerror or exc}") from None
    try:
        document = _parse_bootstrap(path, text)
    except ValueError as exc:
        raise EnvoyError(f"{name}: {path} is not a bootstrap ({exc})") from None
    if not isinstance(document, dict) or not ("static_resources" in document or "node" in document):
        raise EnvoyError(f"{name}: {path}: expected an Envoy bootstrap (static_resources, node)")
    if "admin" not in document:
        raise EnvoyError(
            f"{name}: {path} has no admin block (meshgw bootstrap --admin HOST:0 writes one)"
        )
    return document


def _parse_bootstrap(path: Path, text: str) -> Any:
    if path.suffix not in (".yaml", ".yml"):
        return json.loads(text)
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(str(exc)) from None


def _read_admin_address(path: Path) -> tuple[str, int] | None:
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        return None  # not completely written yet
    return host.strip("[]"), int(port)


def _missing_stat(name: str, stats: Mapping[str, int], who: str) -> str:
    parts = [p for p in re.split(r"[._]", name) if len(p) > 2]
    near = sorted(s for s in stats if parts and all(p in s for p in parts[-2:]))[:15]
    hint = ("; similar: " + ", ".join(near)) if near else ""
    return f"{who}: no stat named {name!r}{hint}"


def _signal(proc: subprocess.Popen[bytes], sig: int) -> None:
    # Only while the process is not yet reaped: its pid (and process group id, as it
    # leads its own session) cannot have been reused by then.
    if proc.poll() is not None:
        return
    if os.name == "posix":
        try:
            os.killpg(proc.pid, sig)
            return
        except (ProcessLookupError, PermissionError):
            pass
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(sig)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:40] or "envoy"


# --------------------------------------------------------------------------- stack


class _Stoppable(Protocol):
    def stop(self) -> Any: ...


class Stack:
    """Owns every Envoy and echo server started through it; tears all down on exit.

    Use as a context manager (``with Stack(tmp_path) as stack: ...``; the e2e
    ``stack`` fixture does this). Things are stopped in reverse order of starting,
    each one even when an earlier stop failed, also when the body raised. An error
    while stopping is raised only when the body itself succeeded.

    ``workdir`` holds one sub-directory per Envoy (named after it); without it, a
    temporary directory is used and removed on exit. ``ports`` is the stack's
    :class:`PortReservations` (released on close). ``process_class`` is what
    :meth:`launch` starts (a subclass may take other configuration forms).
    """

    process_class: type[EnvoyProcess] = EnvoyProcess

    def __init__(
        self,
        workdir: str | os.PathLike[str] | None = None,
        *,
        envoy: str | None = None,
        ports: PortReservations | None = None,
    ) -> None:
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if workdir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="meshgw-lab-")
            workdir = self._tmp.name
        self.workdir = Path(workdir)
        self.envoy_binary = envoy
        self.ports = ports if ports is not None else PortReservations()
        self.envoys: dict[str, EnvoyProcess] = {}
        self.echo_servers: list[EchoServer] = []
        self._owned: list[_Stoppable] = []
        self._closed = False

    def __enter__(self) -> Stack:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close(raise_errors=exc is None)

    # ------------------------------------------------------------------ starting

    def echo(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        tag: bytes = b"",
        *,
        reuse_port: bool = False,
        http: bool = False,
    ) -> EchoServer:
        """Start an :class:`EchoServer` owned by the stack (``http``: an HTTP/1.1 one)."""
        self._check_open()
        server = EchoServer(host, port, tag, reuse_port=reuse_port, http=http)
        self._owned.append(server)
        self.echo_servers.append(server)
        return server.start()

    def launch(
        self, name: str, config: Mapping[str, Any] | str | os.PathLike[str], **kwargs: Any
    ) -> EnvoyProcess:
        """Start an :class:`EnvoyProcess` owned by the stack, without waiting.

        ``name`` must be unique in the stack; ``kwargs`` go to :class:`EnvoyProcess`.
        """
        self._check_open()
        if name in self.envoys:
            raise ValueError(f"Stack: an Envoy named {name!r} exists already")
        kwargs.setdefault("envoy", self.envoy_binary)
        kwargs.setdefault("workdir", self.workdir / _safe(name))
        proc = self.process_class(config, name=name, **kwargs)
        self.envoys[name] = proc
        self._owned.append(proc)
        return proc.launch()

    def envoy(
        self,
        name: str,
        config: Mapping[str, Any] | str | os.PathLike[str],
        *,
        timeout: float = READY_TIMEOUT,
        **kwargs: Any,
    ) -> EnvoyProcess:
        """Start an Envoy owned by the stack and wait until it is ready."""
        return self.launch(name, config, **kwargs).wait_ready(timeout)

    def start_envoys(
        self, configs: Mapping[str, Mapping[str, Any]], *, timeout: float = READY_TIMEOUT
    ) -> dict[str, EnvoyProcess]:
        """Launch several Envoys at once, then wait (one shared deadline) for all."""
        procs = {name: self.launch(name, config) for name, config in configs.items()}
        deadline = time.monotonic() + timeout
        for proc in procs.values():
            proc.wait_ready(max(0.1, deadline - time.monotonic()))
        return procs

    def add(self, thing: _Stoppable) -> None:
        """Own anything else with a ``stop()`` method (stopped in reverse order)."""
        self._check_open()
        self._owned.append(thing)

    # ------------------------------------------------------------------ stopping

    def close(self, *, raise_errors: bool = True) -> None:
        """Stop everything (reverse order, each one regardless of earlier failures)."""
        if self._closed:
            return
        self._closed = True
        errors: list[BaseException] = []
        while self._owned:
            thing = self._owned.pop()
            try:
                thing.stop()
            except Exception as exc:  # keep stopping the rest
                errors.append(exc)
        self.ports.release_all()
        if self._tmp is not None:
            with contextlib.suppress(OSError):
                self._tmp.cleanup()
        if errors and raise_errors:
            raise errors[0]

    def log_tails(self, lines: int = 30) -> str:
        """Every Envoy's log tail, for a failure report."""
        parts = []
        for name, proc in self.envoys.items():
            parts.append(f"===== {name} ({proc.log_path}) =====\n{proc.log_tail(lines)}")
        return "\n".join(parts)

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("Stack is closed")

    def __iter__(self) -> Iterator[EnvoyProcess]:
        return iter(self.envoys.values())


# --------------------------------------------------------------------------- safety net


class _LiveSet:
    """Everything started and not yet stopped, for the atexit hook."""

    def __init__(self) -> None:
        self._items: dict[int, _Stoppable] = {}
        self._lock = threading.Lock()

    def add(self, item: _Stoppable) -> None:
        with self._lock:
            self._items[id(item)] = item

    def discard(self, item: _Stoppable) -> None:
        with self._lock:
            self._items.pop(id(item), None)

    def stop_all(self) -> None:
        with self._lock:
            items = list(self._items.values())
        for item in reversed(items):
            with contextlib.suppress(Exception):
                if isinstance(item, EnvoyProcess):
                    item.stop(grace=1.0)
                else:
                    item.stop()


_LIVE = _LiveSet()


# What the watchdog runs: standard library only, so that it starts fast and whatever
# put meshgw on the owner's path. "+pid" / "-pid" lines name the process groups (each
# Envoy leads its own) to stop at end of input, which comes when the owner closes the
# pipe -- or dies, SIGKILL included.
_WATCHDOG_SCRIPT = """
import os, signal, sys, time
groups = set()
for line in sys.stdin:
    line = line.strip()
    if line[:1] == "+":
        groups.add(int(line[1:]))
    elif line[:1] == "-":
        groups.discard(int(line[1:]))
def alive(group):
    try:
        os.killpg(group, 0)
    except OSError:
        return False
    return True
for sig, grace in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
    for group in list(groups):
        try:
            os.killpg(group, sig)
        except OSError:
            groups.discard(group)
    deadline = time.monotonic() + grace
    while groups and time.monotonic() < deadline:
        groups = {g for g in groups if alive(g)}
        time.sleep(0.05)
"""


class _Watchdog:
    """A small process that stops the Envoys this process started if it dies without
    doing so itself (SIGKILL, a crash the atexit hook never sees): Envoys run in their
    own sessions, so nothing else would. Started with the first Envoy (POSIX only)."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()

    def watch(self, pid: int) -> None:
        self._send(f"+{pid}\n", start=True)

    def forget(self, pid: int) -> None:
        self._send(f"-{pid}\n", start=False)

    def close(self) -> None:
        """End of input: the watchdog stops what is still listed, then exits."""
        with self._lock:
            proc, self._proc = self._proc, None
        if proc is None:
            return
        with contextlib.suppress(OSError, ValueError):
            assert proc.stdin is not None
            proc.stdin.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(15)

    def _send(self, line: str, *, start: bool) -> None:
        if os.name != "posix":
            return
        with self._lock:
            if self._proc is None or self._proc.poll() is not None:
                if not start:
                    return
                self._proc = subprocess.Popen(
                    [sys.executable, "-c", _WATCHDOG_SCRIPT],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    # not in our process group: a Ctrl-C for us is not one for it
                    start_new_session=True,
                )
            stdin = self._proc.stdin
            assert stdin is not None
            # The atexit hook has stopped everything by the time the pipe closes, so a
            # lost watchdog costs only the SIGKILL safety net.
            with contextlib.suppress(OSError, ValueError):
                stdin.write(line.encode())
                stdin.flush()


_WATCHDOG = _Watchdog()


def _at_exit() -> None:
    _LIVE.stop_all()
    _WATCHDOG.close()


atexit.register(_at_exit)
