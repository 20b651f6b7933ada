"""``meshgw.trace``: follow one upstream's connections through the generated Envoy
configuration of every proxy they cross.

The walk reads configuration, not Consul's rules: the source sidecar's upstream
listener → its cluster (an aggregate's children in priority order) → every healthy
endpoint → the proxy of the mesh reached at that address and port → the listener
there → at a mesh gateway, the filter chain Envoy picks for the SNI → its cluster → …
until a sidecar's public listener, where the destination's SPIFFE identity must be one
the client's cluster accepts. What stops a connection on the way is a
:class:`~meshgw._mesh.findings.Finding`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import attrs

from meshgw._mesh import envoyview as ev
from meshgw._mesh import findings as fc
from meshgw._mesh.findings import Finding, Severity, did_you_mean
from meshgw._mesh.fleet import Fleet, Member, Translated
from meshgw._mesh.meshset import MeshSet
from meshgw._resolve.placement import MeshProxy
from meshgw.errors import LookupFailed
from meshgw.model.common import ServiceKind
from meshgw.model.mesh import Mesh
from meshgw.model.registration import Service, Upstream
from meshgw.naming import spiffe_id, upstream_envoy_id

__all__ = [
    "Arrival",
    "Hop",
    "Issue",
    "Trace",
    "collision_issue",
    "register_destination_check",
    "trace",
    "trace_upstream",
]

_MAX_HOPS = 16


@attrs.frozen
class Hop:
    """One proxy a connection crosses.

    ``proxy`` is the registration's service id, ``datacenter`` (or ``peer``) where it
    runs, ``kind`` its kind; ``address`` where the connection reached it (empty for
    the source, whose ``listener`` is the upstream listener); ``sni`` the TLS server
    name the connection carries there; ``cluster`` the cluster it is sent to
    (``local_app`` at the destination). ``refused`` is the code of the finding for which
    this proxy refuses the connection (``MGW100``: an intention denies it); such a hop
    ends its path, with no ``cluster``.
    """

    proxy: str
    datacenter: str
    kind: str
    cluster: str
    sni: str
    peer: str = ""
    address: str = ""
    listener: str = ""
    refused: str = ""

    def __str__(self) -> str:
        where = f"peer {self.peer}" if self.peer else self.datacenter
        at = f" at {self.address}" if self.address else ""
        return f"{self.proxy} ({self.kind}, {where}){at} -> {_next(self)}"

    def to_dict(self) -> dict[str, str]:
        """The hop as plain JSON-ready values."""
        return attrs.asdict(self)


Path = tuple[Hop, ...]


@attrs.frozen
class Trace:
    """What happens to the connections of ``source``'s upstream ``upstream``.

    ``ok``: at least one path reaches the destination and no error was found.
    ``paths``: the distinct paths (tuples of :class:`Hop`, source first), those of the
    primary target first; ``levels`` groups them by failover target (``targets``, in
    priority order); ``problems``: the findings, worst first.
    """

    source: str
    upstream: str
    ok: bool
    paths: tuple[Path, ...]
    problems: tuple[Finding, ...]
    targets: tuple[str, ...] = ()
    levels: tuple[tuple[Path, ...], ...] = ()

    @property
    def active(self) -> tuple[Path, ...]:
        """The paths Envoy uses with the catalog's health as given: those of the first
        failover target that has any."""
        for level in self.levels:
            if level:
                return level
        return ()

    def __str__(self) -> str:
        return self.render()

    def render(self) -> str:
        """The paths hop by hop and the problems, for a person."""
        head = "ok" if self.ok else "FAILS"
        lines = [f"{self.source} -> {self.upstream}: {head}"]
        for index, level in enumerate(self.levels):
            if len(self.levels) > 1:
                lines.append(f"  target {index} ({self.targets[index]}):")
            if not level:
                lines.append("    no path")
            for n, path in enumerate(level, 1):
                sni = path[0].sni if path else ""
                lines.append(f"    path {n}" + (f" (sni {sni}):" if sni else ":"))
                for hop in path:
                    lines.append(f"      {_hop_line(hop, sni)}")
        for problem in self.problems:
            lines.append(f"  {problem.severity} {problem.code} {problem.name}: {problem.message}")
            if problem.suggestion:
                lines.append(f"      fix: {problem.suggestion}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """The trace as plain JSON-ready values (paths by level, problems)."""
        return {
            "source": self.source,
            "upstream": self.upstream,
            "ok": self.ok,
            "targets": list(self.targets),
            "levels": [[[h.to_dict() for h in p] for p in level] for level in self.levels],
            "problems": [p.to_dict() for p in self.problems],
        }


def _hop_line(hop: Hop, sni: str) -> str:
    where = f"peer {hop.peer}" if hop.peer else hop.datacenter
    at = f"at {hop.address}" if hop.address else f"listener {hop.listener}"
    changed = f" sni {hop.sni}" if hop.sni != sni else ""
    return f"{where:<6} {hop.proxy} ({hop.kind}) {at}{changed} -> {_next(hop, '(ends)')}"


def _next(hop: Hop, nothing: str = "-") -> str:
    """Where ``hop`` sends the connection on: its cluster, or that it refuses it."""
    if hop.refused:
        return f"refused ({hop.refused})"
    return hop.cluster or nothing


@attrs.frozen
class Arrival:
    """A connection that reached a destination sidecar's public listener: what a
    destination check (:func:`register_destination_check`) is given."""

    fleet: Fleet
    source: Member
    destination: Member
    listener: dict[str, Any]
    sni: str


#: ``(code, message, suggestion)``: a problem before it is attached to an upstream.
Issue = tuple[str, str, str]
DestinationCheck = Callable[[Arrival], Iterable[Issue]]
_DESTINATION_CHECKS: list[DestinationCheck] = []


def register_destination_check(check: DestinationCheck) -> None:
    """Add a check run where a path arrives at a destination's public listener (after
    the identity check). An issue of error severity ends the path there (the
    connection is refused)."""
    if check not in _DESTINATION_CHECKS:
        _DESTINATION_CHECKS.append(check)


# --------------------------------------------------------------------------- entry points


def trace(
    mesh: Mesh | MeshSet | Fleet,
    source: str | Service | MeshProxy,
    upstream: str | Upstream,
    *,
    datacenter: str | None = None,
    peer: str | None = None,
) -> Trace:
    """Follow ``source``'s upstream ``upstream`` through the mesh's Envoy configuration.

    ``source`` is a sidecar's service id (or the service it fronts, or its
    :class:`~meshgw.Service` or :class:`~meshgw.MeshProxy`); ``upstream`` the
    upstream's destination name (or the :class:`~meshgw.Upstream` itself);
    ``datacenter`` / ``peer`` pick among upstreams of the same name. Unknown names raise
    :class:`~meshgw.LookupFailed` with the known ones.

    ``mesh`` may be a :class:`~meshgw.MeshSet`: a path that reaches a peer's gateway
    then goes on into that peer's mesh (hops there name the mesh as their ``peer``).

    Returns a :class:`Trace`: ``ok``, the paths hop by hop (grouped by failover
    target), and the problems found as :class:`~meshgw.Finding` s. What stops a
    connection is a finding, not an exception.
    """
    fleet = mesh if isinstance(mesh, Fleet) else Fleet(mesh)
    member = source_member(fleet, source)
    up = upstream if isinstance(upstream, Upstream) else _select(member, upstream, datacenter, peer)
    return trace_upstream(fleet, member, up)


def source_member(fleet: Fleet, source: str | Service | MeshProxy) -> Member:
    """The sidecar ``source`` names (service id, name, or the service it fronts), or the
    member whose registration (or place in the mesh) ``source`` is."""
    if isinstance(source, MeshProxy):
        placed = [m for m in fleet.members if m.proxy == source]
        if placed:
            return placed[0]
        source = source.service
    if isinstance(source, Service):
        same = [m for m in fleet.members if m.service is source]
        if same:
            return same[0]
        source = source.id or source.name
    found = [m for m in fleet.by_id(source) if m.kind == ServiceKind.CONNECT_PROXY]
    if not found:
        known = {m.id for m in fleet.members if m.kind == ServiceKind.CONNECT_PROXY}
        raise LookupFailed(
            f"no sidecar proxy {source!r}; {did_you_mean(source, known, 'sidecars')}"
        )
    local = [m for m in found if m.local]
    return (local or found)[0]


def _select(member: Member, name: str, datacenter: str | None, peer: str | None) -> Upstream:
    ups = member.service.upstreams
    found = [u for u in ups if u.destination_name == name]
    if datacenter:
        found = [
            u
            for u in found
            if not u.destination_peer and (u.datacenter or member.datacenter) == datacenter
        ]
    if peer:
        found = [u for u in found if u.destination_peer == peer]
    if len(found) == 1:
        return found[0]
    ids = [_eid(u) for u in ups]
    if not found:
        hint = did_you_mean(name, {u.destination_name for u in ups}, "upstreams")
        raise LookupFailed(
            f"{member.id!r} has no upstream {name!r}"
            + (f" in {datacenter}" if datacenter else "")
            + (f" of peer {peer}" if peer else "")
            + f"; {hint} (upstreams: {', '.join(ids) or 'none'})"
        )
    raise LookupFailed(
        f"{member.id!r} has several upstreams {name!r} ({', '.join(_eid(u) for u in found)}); "
        "choose one with datacenter= or peer="
    )


def _eid(up: Upstream) -> str:
    return upstream_envoy_id(
        up.destination_name,
        datacenter=up.datacenter,
        peer=up.destination_peer,
        destination_type=up.destination_type or "service",
    )


def trace_upstream(fleet: Fleet, member: Member, up: Upstream) -> Trace:
    """:func:`trace` for a known member and upstream (what ``check`` calls)."""
    eid = _eid(up)
    issues: list[Issue] = list(_name_issues(fleet, member, up))
    out = fleet.output(member)

    def done(levels: Sequence[tuple[Path, ...]] = (), targets: Sequence[str] = ()) -> Trace:
        problems = _findings(issues, member, eid, up)
        paths = tuple(p for level in levels for p in level)
        ok = bool(paths) and not any(p.severity is Severity.ERROR for p in problems)
        return Trace(member.id, eid, ok, paths, problems, tuple(targets), tuple(levels))

    if out.error and len(member.service.upstreams) > 1:
        # Another upstream may be what fails: follow this one on its own.
        out = fleet.output_for(member, up)
    if out.error:
        if not any(fc.lookup(code).severity is Severity.ERROR for code, _, _ in issues):
            issues.append(
                (fc.TRANSLATION_FAILED.code, f"{member.id}: {out.error}", "fix the registration")
            )
        return done()
    if up.destination_type == "prepared_query" or up.local_bind_socket_path:
        what = "a prepared query" if up.destination_type == "prepared_query" else "a unix socket"
        issues.append(
            (
                fc.UNSUPPORTED_UPSTREAM.code,
                f"upstream {eid} is {what}; meshgw does not trace it",
                "",
            )
        )
        return done()
    listener = out.bound.for_socket(up.bind_address, up.local_bind_port, outbound=True)
    if listener is None:
        issues.append(
            (
                fc.NOT_LISTENING.code,
                f"{member.id} has no listener for upstream {eid} on "
                f"{up.bind_address}:{up.local_bind_port}",
                "give the upstream a local_bind_port",
            )
        )
        return done()
    issues.extend(_collisions(member, out, listener))
    root = ev.listener_cluster(listener)
    cluster = out.clusters.get(root)
    if cluster is None:
        issues.append((fc.NO_CLUSTER_FOR_SNI.code, f"{member.id} has no cluster {root!r}", ""))
        return done()
    children = ev.aggregate_children(cluster) or (root,)
    walk = _Walk(fleet, member, eid, out.warnings, bool(issues))
    results = [walk.source_child(out, child, str(listener.get("name", ""))) for child in children]
    levels = [tuple(sorted(set(paths), key=_path_key)) for paths, _ in results]
    reachable = [bool(level) for level in levels]
    for index, (level, (_, child_issues)) in enumerate(zip(levels, results, strict=True)):
        if level or not any(reachable):
            issues.extend(child_issues)
            continue
        why = "; ".join(dict.fromkeys(m for _, m, _ in child_issues)) or "no path"
        if index == 0 or not any(reachable[:index]):
            first = next(i for i, r in enumerate(reachable) if r)
            issues.append(
                (
                    fc.PRIMARY_FAILED_OVER.code,
                    f"target {children[index]} cannot carry traffic ({why}); connections go "
                    f"to failover target {children[first]}",
                    "fix the primary target, or accept that traffic has failed over",
                )
            )
        else:
            issues.append(
                (
                    fc.FAILOVER_TARGET_UNREACHABLE.code,
                    f"failover target {children[index]} cannot carry traffic ({why})",
                    "fix the target, or drop it from the service-resolver's Failover",
                )
            )
    if len(children) > 1:
        issues.extend(_never_ejects(out, children))
    return done(levels, children)


def _path_key(path: Path) -> tuple[tuple[str, ...], ...]:
    return tuple((h.datacenter, h.peer, h.proxy, h.address, h.cluster, h.sni) for h in path)


def _findings(
    issues: Iterable[Issue], member: Member, eid: str, up: Upstream
) -> tuple[Finding, ...]:
    seen: set[tuple[str, str]] = set()
    out: list[Finding] = []
    for code, message, suggestion in issues:
        if (code, message) in seen:
            continue
        seen.add((code, message))
        out.append(
            Finding.of(
                code,
                message,
                proxy=member.id,
                datacenter=member.datacenter,
                upstream=eid,
                source=up.source or member.source,
                suggestion=suggestion,
            )
        )
    out.sort(key=lambda f: (-f.severity.rank, f.code, f.message))
    return tuple(out)


# --------------------------------------------------------------------------- the walk


class _Walk:
    """One upstream's walk; gateway suffixes are memoised on the fleet, shared by every
    upstream traced through it from a source with the same identity (the destination
    checks, intentions among them, depend on who is calling)."""

    def __init__(
        self, fleet: Fleet, source: Member, eid: str, warnings: Sequence[str], named: bool
    ) -> None:
        self.fleet = fleet
        self.source = source
        self.eid = eid
        self.warnings = [w for w in warnings if f"upstream '{eid}'" in w]
        # A name problem already explains an empty cluster: say it once.
        self.named = named
        svc = source.service
        self.caller = (
            source.mesh_name,
            source.trust_domain,
            source.destination,
            svc.namespace,
            svc.partition,
        )

    def source_child(
        self, out: Translated, cluster_name: str, listener: str
    ) -> tuple[list[Path], list[Issue]]:
        src = self.source
        issues: list[Issue] = []
        cluster = out.clusters.get(cluster_name)
        if cluster is None:
            issues.append(
                (fc.NO_CLUSTER_FOR_SNI.code, f"{src.id} has no cluster {cluster_name!r}", "")
            )
            return [], issues
        sni = ev.upstream_sni(cluster) or ""
        sans = ev.expected_sans(cluster)
        hop = Hop(src.id, src.datacenter, str(src.kind), cluster_name, sni, "", "", listener)
        suffixes, more = self._cluster(src, out, cluster_name, cluster, sni, sans, ())
        issues.extend(more)
        return [(hop, *s) for s in suffixes], issues

    def _cluster(
        self,
        member: Member,
        out: Translated,
        name: str,
        cluster: dict[str, Any],
        sni: str,
        sans: tuple[str, ...],
        seen: tuple[str, ...],
    ) -> tuple[list[Path], list[Issue]]:
        """Paths after ``member`` sends to cluster ``name``."""
        issues: list[Issue] = []
        eps = ev.endpoints(cluster, out.assignments)
        if not eps:
            if member is self.source:
                if not self.named:
                    issues.append(self._empty(name))
            else:
                issues.append(
                    (
                        fc.NO_ENDPOINTS.code,
                        f"{_who(member)}'s cluster {name} has no endpoints",
                        "register instances of the service (or its gateways) in the catalog",
                    )
                )
            return [], issues
        healthy = [e for e in eps if e.healthy]
        if not healthy:
            issues.append(
                (
                    fc.NO_HEALTHY_ENDPOINTS.code,
                    f"every endpoint of {_who(member)}'s cluster {name} is unhealthy "
                    f"({', '.join(f'{e.address}:{e.port}' for e in eps)})",
                    "fix the failing health checks, or add a failover target",
                )
            )
            return [], issues
        if cluster.get("type") == "LOGICAL_DNS" and len({(e.address, e.port) for e in eps}) > 1:
            issues.append(
                (
                    fc.DNS_SEVERAL_HOSTS.code,
                    f"{_who(member)}'s LOGICAL_DNS cluster {name} has {len(eps)} hosts; "
                    f"Envoy resolves only the first ({eps[0].address}:{eps[0].port})",
                    "give the gateways one DNS name, or use IP addresses",
                )
            )
            healthy = healthy[:1]
        paths: list[Path] = []
        for ep in healthy:
            found, more = self._arrive(ep.address, ep.port, sni, sans, seen)
            paths.extend(found)
            issues.extend(more)
        return paths, issues

    def _peer(self, member: Member) -> str:
        """A hop in another mesh of the set names that mesh as its peer."""
        return member.mesh_name if member.mesh_name != self.source.mesh_name else ""

    def _empty(self, cluster: str) -> Issue:
        for w in self.warnings:
            if "local datacenter's mesh gateways" in w:
                return (
                    fc.NO_LOCAL_GATEWAY.code,
                    w,
                    "register a mesh gateway in the local datacenter, or set another mode",
                )
            if "through the mesh gateways of" in w:
                return (
                    fc.NO_REMOTE_GATEWAY.code,
                    w,
                    "add the target datacenter's mesh gateways to the catalog, or set another mode",
                )
        detail = f" ({self.warnings[0]})" if self.warnings else ""
        return (
            fc.NO_ENDPOINTS.code,
            f"{self.source.id}'s cluster {cluster} has no endpoints{detail}",
            "register instances of the service in the catalog",
        )

    def _arrive(
        self, address: str, port: int, sni: str, sans: tuple[str, ...], seen: tuple[str, ...]
    ) -> tuple[list[Path], list[Issue]]:
        fleet = self.fleet
        key = (address, port, sni, sans, self.caller)
        memo = fleet.memo.get(key)
        if memo is not None and not any(k in seen for k in memo[2]):
            return memo[0], memo[1]
        targets = fleet.at(address, port)
        issues: list[Issue] = []
        paths: list[Path] = []
        crossed: set[str] = set()
        if not targets:
            peer = _peer_at(fleet.mesh_of(self.source), address, port)
            if peer:
                hop = Hop(f"{peer} gateway", "", "mesh-gateway", "", sni, peer, f"{address}:{port}")
                issues.append(
                    (
                        fc.LEAVES_MESH.code,
                        f"the path leaves the mesh at peer {peer}'s gateway {address}:{port}",
                        "",
                    )
                )
                paths.append((hop,))
            else:
                issues.append(
                    (
                        fc.UNKNOWN_ADDRESS.code,
                        f"no proxy of the mesh listens on {address}:{port} (sni {sni})",
                        "register the proxy listening there, or fix the catalog address",
                    )
                )
        for target in targets:
            crossed.add(target.key)
            found, more = self._at(target, address, port, sni, sans, seen)
            paths.extend(found)
            issues.extend(more)
        if not any(code == fc.LOOP.code for code, _, _ in issues):
            fleet.memo[key] = (paths, issues, frozenset(crossed))
        return paths, issues

    def _at(
        self,
        target: Member,
        address: str,
        port: int,
        sni: str,
        sans: tuple[str, ...],
        seen: tuple[str, ...],
    ) -> tuple[list[Path], list[Issue]]:
        who = _who(target)
        at = f"{address}:{port}"
        # Only gateways forward: reaching a sidecar (even the source's own public
        # listener, for an upstream to its own service) ends the path.
        gateway = target.kind == ServiceKind.MESH_GATEWAY
        if gateway and (target.key in seen or len(seen) >= _MAX_HOPS):
            return [], [
                (
                    fc.LOOP.code,
                    f"the connection (sni {sni}) comes back to {who} at {at}",
                    "check the gateways' modes and the catalog's gateway addresses",
                )
            ]
        out = self.fleet.output(target)
        if out.error:
            return [], [(fc.TRANSLATION_FAILED.code, f"{who}: {out.error}", "fix the registration")]
        listener = out.bound.at(address, port, target.addresses)
        if listener is None:
            return [], [
                (
                    fc.NOT_LISTENING.code,
                    f"{who} is registered at {at} but its Envoy configuration binds no "
                    "listener there",
                    "make the registration's address and port match the proxy's bind",
                )
            ]
        lname = str(listener.get("name", ""))
        if target.kind == ServiceKind.MESH_GATEWAY:
            return self._gateway(target, out, listener, lname, at, sni, sans, seen)
        if not lname.startswith("public_listener"):
            return [], [
                (
                    fc.NOT_A_DESTINATION.code,
                    f"the connection (sni {sni}) reaches {who}'s listener {lname} at {at}, "
                    "not its public listener",
                    "fix the catalog address of the destination",
                )
            ]
        identity = spiffe_id(
            target.destination,
            target.service.namespace,
            target.service.partition,
            target.datacenter,
            target.trust_domain,
        )
        if sans and not any(_san_matches(s, identity) for s in sans):
            return [], [
                (
                    fc.SAN_MISMATCH.code,
                    f"{who} at {at} presents {identity}, but the client accepts only "
                    f"{', '.join(sans)}",
                    "make the destination the service the upstream names (check the "
                    "catalog's sidecar registration and the trust domain)",
                )
            ]
        arrival = Arrival(self.fleet, self.source, target, dict(listener), sni)
        issues: list[Issue] = []
        for check in _DESTINATION_CHECKS:
            issues.extend(check(arrival))
        refused = next(
            (code for code, _, _ in issues if fc.lookup(code).severity is Severity.ERROR), ""
        )
        hop = Hop(
            target.id,
            target.datacenter,
            str(target.kind),
            "" if refused else ev.listener_cluster(listener),
            sni,
            self._peer(target),
            at,
            lname,
            refused,
        )
        # A refusal still ends a path: Envoy sent the bytes here, and does not fail over
        # because a destination closed the connection.
        return [(hop,)], issues

    def _gateway(
        self,
        target: Member,
        out: Translated,
        listener: Any,
        lname: str,
        at: str,
        sni: str,
        sans: tuple[str, ...],
        seen: tuple[str, ...],
    ) -> tuple[list[Path], list[Issue]]:
        who = _who(target)
        chain = self.fleet.chain_index(listener).pick(sni)
        if chain is None:
            return [], [
                (
                    fc.NO_FILTER_CHAIN.code,
                    f"{who}'s listener {lname} at {at} has no filter chain for sni {sni}: "
                    "it closes the connection",
                    "make the gateway's datacenter know the service (catalog), or route "
                    "the upstream another way",
                )
            ]
        name = ev.chain_cluster(chain, sni)
        cluster = out.clusters.get(name) if name else None
        if cluster is None:
            hint = "register the service's instances in the gateway's datacenter"
            dc = _sni_datacenter(sni)
            if dc and dc != target.datacenter:
                hint = (
                    f"the gateway knows no mesh gateway of {dc}: add {dc}'s mesh gateways "
                    "to the catalog"
                )
            return [], [
                (
                    fc.NO_CLUSTER_FOR_SNI.code,
                    f"{who}'s listener {lname} at {at} sends sni {sni} to cluster "
                    f"{name or '(none)'}, which it does not have: it closes the connection",
                    hint,
                )
            ]
        next_sni = sni
        if ev.terminates_tls(chain):
            next_sni = ev.upstream_sni(cluster) or sni
        hop = Hop(
            target.id, target.datacenter, str(target.kind), name, sni, self._peer(target), at, lname
        )
        suffixes, issues = self._cluster(
            target, out, name, cluster, next_sni, sans, (*seen, target.key)
        )
        return [(hop, *s) for s in suffixes], issues


def _sni_datacenter(sni: str) -> str:
    """The datacenter a service SNI names (``svc.ns.dc.internal.td`` or
    ``svc.ns.ap.dc.internal-v1.td``), else ``""``."""
    parts = sni.split(".")
    for i, part in enumerate(parts):
        if part in ("internal", "internal-v1") and i >= 1:
            return parts[i - 1]
    return ""


def _who(member: Member) -> str:
    where = f"{member.mesh_name}/{member.datacenter}" if member.mesh_name else member.datacenter
    return f"{where}'s {member.id}"


def _san_matches(expected: str, identity: str) -> bool:
    if expected.endswith("*"):
        return identity.startswith(expected[:-1])
    return expected == identity


def _peer_at(mesh: Mesh, address: str, port: int) -> str:
    for peer in mesh.peers:
        for gw in peer.gateways:
            if gw.address == address and gw.port == port:
                return peer.name
    return ""


# --------------------------------------------------------------------------- checks


def _name_issues(fleet: Fleet, member: Member, up: Upstream) -> Iterable[Issue]:
    """Names the upstream uses that the mesh does not know."""
    mesh = fleet.mesh_of(member)
    name = up.destination_name
    if up.destination_type == "prepared_query":
        return
    if up.destination_peer:
        try:
            peer = mesh.peer(up.destination_peer, up.destination_partition)
        except LookupFailed:
            yield (
                fc.UNKNOWN_PEER.code,
                f"upstream {_eid(up)} names peer {up.destination_peer!r}, which the mesh "
                "does not know",
                did_you_mean(up.destination_peer, [p.name for p in mesh.peers], "peers"),
            )
            return
        exported = [s.name for s in peer.services]
        if name not in exported:
            yield (
                fc.NOT_EXPORTED.code,
                f"peer {peer.name} does not export {name!r} to this cluster",
                did_you_mean(name, exported, f"services exported by {peer.name}")
                + f"; or export {name} to this cluster in {peer.name}'s exported-services",
            )
        return
    dc = up.datacenter or member.datacenter
    known = fleet.datacenters_of(member)
    if dc not in known:
        yield (
            fc.UNKNOWN_DATACENTER.code,
            f"upstream {_eid(up)} names datacenter {dc!r}, which the mesh does not know",
            did_you_mean(dc, known, "datacenters"),
        )
    elif name not in fleet.services_in(dc, member) and mesh.service_resolver(name) is None:
        elsewhere = sorted(d for d in known if d != dc and name in fleet.services_in(d, member))
        where = f" (it runs in {', '.join(elsewhere)})" if elsewhere else ""
        hint = (
            f"point the upstream at {elsewhere[0]}, or register {name} in {dc}"
            if elsewhere
            else did_you_mean(name, fleet.services_in(dc, member), f"services in {dc}")
        )
        yield (
            fc.UNKNOWN_SERVICE.code,
            f"upstream {_eid(up)}: datacenter {dc} has no instance of {name!r}{where}",
            hint,
        )
    resolver = mesh.service_resolver(name)
    if resolver is not None:
        for failover in resolver.failover.values():
            dcs = list(failover.datacenters) + [
                t.datacenter for t in failover.targets if t.datacenter and not t.peer
            ]
            for target_dc in dcs:
                if target_dc not in known:
                    yield (
                        fc.UNKNOWN_FAILOVER_DATACENTER.code,
                        f"service-resolver {name!r} fails over to datacenter "
                        f"{target_dc!r}, which the mesh does not know",
                        did_you_mean(target_dc, known, "datacenters"),
                    )


def _collisions(member: Member, out: Translated, listener: Any) -> Iterable[Issue]:
    """Other listeners of the proxy that bind what ``listener`` binds."""
    port = ev.socket(listener)[1]
    for other in out.bound.sharing(listener):
        yield collision_issue(member.id, str(listener.get("name")), str(other.get("name")), port)


def collision_issue(proxy: str, one: str, other: str, port: int) -> Issue:
    """MGW070 for two listeners of ``proxy`` on ``port`` (the same text either way)."""
    first, second = sorted((one, other))
    return (
        fc.PORT_COLLISION.code,
        f"{proxy}'s listeners {first} and {second} both bind port {port}: Envoy "
        "rejects the configuration",
        "give one of them another port (an upstream's local_bind_port, or the proxy's port)",
    )


def _never_ejects(out: Translated, children: Sequence[str]) -> Iterable[Issue]:
    for child in children[:-1]:
        cluster = out.clusters.get(child)
        if cluster is None:
            continue
        hosts = ev.endpoints(cluster, out.assignments)
        od = cluster.get("outlier_detection")
        if len(hosts) != 1 or od is None:
            continue
        if _as_int(od.get("max_ejection_percent"), 10) >= 100:
            continue
        yield (
            fc.FAILOVER_NEVER_EJECTS.code,
            f"failover target {child} has a single host ({hosts[0].address}:{hosts[0].port}) "
            "that default outlier detection never ejects: if it stops answering (and the "
            "catalog does not know), traffic never fails over",
            "set passive_health_check { max_failures = 3, max_ejection_percent = 100 } in "
            "the upstream's config",
        )


def _as_int(value: Any, default: int) -> int:
    # proto-JSON writes a UInt32Value as a bare number; accept {"value": n} too.
    if isinstance(value, dict):
        value = value.get("value")
    return int(value) if isinstance(value, int) else default
