"""``meshgw.check``: translate every proxy of a mesh and trace every upstream."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import attrs

from meshgw._gcpause import gc_paused
from meshgw._mesh import findings as fc
from meshgw._mesh.findings import Finding, Severity
from meshgw._mesh.fleet import Fleet, Member, Translated
from meshgw._mesh.intentions import intention_findings, peer_source_findings
from meshgw._mesh.meshset import MeshSet
from meshgw._mesh.trace import collision_issue, trace_upstream
from meshgw.model.common import ServiceKind
from meshgw.model.mesh import Mesh

__all__ = ["CheckReport", "check", "check_report"]


@attrs.frozen
class CheckReport:
    """What :func:`check_report` did: the findings, and how many proxies it
    translated and upstreams it traced."""

    findings: tuple[Finding, ...]
    proxies: int
    upstreams: int

    def worst(self) -> Severity | None:
        """The most severe finding's severity (``None`` without findings)."""
        return max((f.severity for f in self.findings), key=lambda s: s.rank, default=None)


def check(mesh: Mesh | MeshSet | Fleet) -> tuple[Finding, ...]:
    """Every finding of ``mesh``: each proxy (mesh gateway or sidecar, in every
    datacenter the mesh knows) translated as its own datacenter would, each upstream
    of each sidecar traced (:func:`meshgw.trace`). Sorted by file, line and code.
    A :class:`~meshgw.MeshSet` is checked whole, paths followed across its peerings."""
    return check_report(mesh).findings


def check_report(
    mesh: Mesh | MeshSet | Fleet, *, progress: Callable[[int, int], None] | None = None
) -> CheckReport:
    """:func:`check`, with counts; ``progress(done, total)`` is called before each
    proxy is checked."""
    with gc_paused():  # hundreds of thousands of dicts, none in a cycle
        return _check(mesh if isinstance(mesh, Fleet) else Fleet(mesh), progress)


def _check(fleet: Fleet, progress: Callable[[int, int], None] | None) -> CheckReport:
    found: list[Finding] = []
    upstreams = 0
    total = len(fleet.members)
    for done, member in enumerate(fleet.members):
        if progress is not None:
            progress(done, total)
        out = fleet.output(member)
        if out.error:
            # Reported, and still traced upstream by upstream (see trace_upstream).
            found.append(
                Finding.of(
                    fc.TRANSLATION_FAILED.code,
                    f"{member.id}: {out.error}",
                    proxy=member.id,
                    datacenter=member.datacenter,
                    source=member.source,
                    suggestion="fix the registration",
                )
            )
        else:
            found.extend(_collisions(member, out))
        if member.kind != ServiceKind.CONNECT_PROXY:
            continue
        found.extend(_without_local_port(member))
        for up in member.service.upstreams:
            upstreams += 1
            found.extend(trace_upstream(fleet, member, up).problems)
    roots = {id(fleet.root(m)): fleet.root(m) for m in fleet.members}
    for root in roots.values():
        found.extend(intention_findings(root))
    if isinstance(fleet.target, MeshSet):
        found.extend(peer_source_findings(fleet.target))
    return CheckReport(tuple(_unique(found)), len(fleet.members), upstreams)


def _collisions(member: Member, out: Translated) -> Iterable[Finding]:
    for port, one, other in out.bound.collisions():
        code, message, suggestion = collision_issue(
            member.id, str(one.get("name", "")), str(other.get("name", "")), port
        )
        yield Finding.of(
            code,
            message,
            proxy=member.id,
            datacenter=member.datacenter,
            source=member.source,
            suggestion=suggestion,
        )


def _without_local_port(member: Member) -> Iterable[Finding]:
    if not member.lacks_app_port:
        return
    yield Finding.of(
        fc.NO_LOCAL_SERVICE_PORT.code,
        f"{member.id} ({member.datacenter}) is listed in the catalog without "
        "proxy.local_service_port: traced as if its application listened on the "
        "sidecar's own port, but meshgw translate of it fails",
        proxy=member.id,
        datacenter=member.datacenter,
        source=member.source,
        suggestion="add proxy.local_service_port (the port of the application the sidecar "
        "fronts) to the catalog listing",
    )


_PROXY_CODES = frozenset(
    {fc.PORT_COLLISION.code, fc.TRANSLATION_FAILED.code, fc.NO_LOCAL_SERVICE_PORT.code}
)


def _unique(found: Iterable[Finding]) -> list[Finding]:
    seen: set[tuple[str, str, str, str]] = set()
    out: list[Finding] = []
    for f in found:
        # A port collision or a failed translation is the proxy's, whichever upstream's
        # trace met it.
        upstream = "" if f.code in _PROXY_CODES else f.upstream
        key = (f.code, f.message, f.proxy, upstream)
        if key in seen:
            continue
        seen.add(key)
        out.append(f)
    out.sort(
        key=lambda f: (
            f.source.file or "" if f.source else "",
            f.source.line or 0 if f.source else 0,
            f.code,
            f.message,
        )
    )
    return out
