"""Intentions: which sources may reach a destination service, as Consul decides it.

Consul turns every ``service-intentions`` source into one intention and orders the
intentions of a destination by precedence (exact names before wildcards, the
destination counting before the source)::

    9  ns/name  → ns/name          6  ns/name  → ns/*          3  ns/name  → */*
    8  ns/*     → ns/name          5  ns/*     → ns/*          2  ns/*     → */*
    7  */*      → ns/name          4  */*      → ns/*          1  */*      → */*

The first intention whose source matches a caller decides (``allow``, ``deny`` or, with
L7 ``permissions``, per request); when none does, the default decides: the agent's
``default_intention_policy`` when set, else the ACL default policy (``acl {
default_policy }``, ``allow`` unless set), and ``allow`` when ACLs are disabled.

Everything here is pure: :func:`decide` answers one source/destination question with the
intention (and its file:line) that decides it; :func:`inbound_policy` is the data the
Envoy RBAC builder renders for a destination's public listener.
"""

from __future__ import annotations

import difflib
from typing import Any, Literal

import attrs

from meshgw._resolve.chain import chain_protocol
from meshgw._resolve.memo import per_mesh
from meshgw.model.common import Source
from meshgw.model.entries import IntentionPermission, ServiceIntentions, SourceIntention
from meshgw.model.mesh import Mesh

__all__ = [
    "FINDING_CODES",
    "DefaultPolicy",
    "Identity",
    "InboundPolicy",
    "Intention",
    "IntentionDecision",
    "IntentionProblem",
    "RbacRule",
    "RbacSource",
    "Verdict",
    "decide",
    "decide_upstream",
    "default_policy",
    "inbound_policy",
    "intention_problems",
    "intentions_for",
    "known_services",
    "resolve_intention",
    "source_matches",
]

_DEFAULT = "default"
_WILD = "*"

#: ``allow``/``deny``: the connection's fate; ``l7``: it depends on the request (an L7
#: intention); ``unknown``: meshgw cannot know (the destination is in a peer cluster).
Verdict = Literal["allow", "deny", "l7", "unknown"]


@attrs.frozen
class Identity:
    """Who calls: a service name in a namespace and partition, or imported from a peer."""

    service: str
    namespace: str = _DEFAULT
    partition: str = _DEFAULT
    peer: str = ""

    def __str__(self) -> str:
        where = f"peer {self.peer}" if self.peer else f"partition {self.partition}"
        return f"{self.namespace}/{self.service} ({where})"


@attrs.frozen
class Intention:
    """One source of a ``service-intentions`` entry, normalised as Consul does (an empty
    source namespace/partition is the destination's; a peer source's namespace is
    ``default``) and with its precedence."""

    destination: str
    destination_namespace: str
    destination_partition: str
    source_name: str
    source_namespace: str
    source_partition: str
    source_peer: str
    action: str  # "allow" | "deny" | "" (L7: see permissions)
    permissions: tuple[IntentionPermission, ...]
    precedence: int
    where: Source | None = attrs.field(default=None, eq=False)

    @property
    def is_l7(self) -> bool:
        return bool(self.permissions)

    def describe(self) -> str:
        """``allow default/web → default/api`` (``L7`` for permissions); peers named."""
        action = "L7" if self.is_l7 else self.action
        src = f"{self.source_namespace}/{self.source_name}"
        if self.source_peer:
            src = f"peer {self.source_peer} {src}"
        elif self.source_partition != self.destination_partition:
            src = f"partition {self.source_partition} {src}"
        return f"{action} {src} → {self.destination_namespace}/{self.destination}"

    def __str__(self) -> str:
        located = f" ({self.where})" if self.where is not None else ""
        return self.describe() + located


@attrs.frozen
class DefaultPolicy:
    """What happens to a caller no intention matches, and which setting says so."""

    allow: bool
    reason: str
    where: Source | None = attrs.field(default=None, eq=False)

    def __str__(self) -> str:
        verdict = "allow" if self.allow else "deny"
        return f"default {verdict} ({self.reason})"


@attrs.frozen
class IntentionDecision:
    """The answer to "may this source reach that destination?" with provenance:
    ``intention`` decides when set, else ``default``."""

    verdict: Verdict
    source: Identity
    destination: str
    intention: Intention | None
    default: DefaultPolicy
    reason: str = ""

    @property
    def allowed(self) -> bool | None:
        """``True``/``False`` for an L4 answer; ``None`` when it depends on the request
        or cannot be known."""
        if self.verdict in ("allow", "deny"):
            return self.verdict == "allow"
        return None

    @property
    def decided_by(self) -> str:
        """The intention (with its file:line) or the default setting that decides."""
        if self.reason:
            return self.reason
        if self.intention is not None:
            return str(self.intention)
        return str(self.default)

    @property
    def summary(self) -> str:
        """Short form for a table cell: ``deny (mesh.hcl:12)``, ``allow (default)``,
        ``L7 (mesh.hcl:14)``, ``unknown (peer acme)``; ``, not first match`` when the
        proxy's answer is not Consul's first-match one (see :func:`decide`)."""
        verdict = "L7" if self.verdict == "l7" else self.verdict
        if self.verdict == "unknown":
            return f"{verdict} ({self.reason.split(':', 1)[0]})"
        if self.intention is None:
            where = "default"
        elif self.intention.where is not None:
            where = str(self.intention.where)
        else:
            where = "intention"
        if self.reason:
            where += ", not first match"
        return f"{verdict} ({where})"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able mapping."""
        ixn = self.intention
        return {
            "verdict": self.verdict,
            "source": attrs.asdict(self.source),
            "destination": self.destination,
            "decided_by": self.decided_by,
            "intention": None
            if ixn is None
            else {
                "description": ixn.describe(),
                "precedence": ixn.precedence,
                "file": ixn.where.file if ixn.where is not None else None,
                "line": ixn.where.line if ixn.where is not None else None,
            },
            "default": str(self.default),
        }

    def __str__(self) -> str:
        return f"{self.verdict}: {self.decided_by}"


@attrs.frozen
class RbacSource:
    """A source as the RBAC filter matches it: a SPIFFE ID pattern's parts (``*`` for a
    wildcard name or namespace) and the trust domain its certificate carries."""

    name: str
    namespace: str
    partition: str
    peer: str
    trust_domain: str


@attrs.frozen
class RbacRule:
    """One intention of an :class:`InboundPolicy`, in precedence order."""

    source: RbacSource
    action: str  # "allow" | "deny" | "" (L7)
    permissions: tuple[IntentionPermission, ...]
    intention: Intention = attrs.field(eq=False)


@attrs.frozen
class InboundPolicy:
    """What a destination's public listener enforces: its intentions (highest precedence
    first, each source at most once) and the default."""

    destination: str
    default_allow: bool
    rules: tuple[RbacRule, ...] = ()
    skipped: tuple[str, ...] = ()  # why an intention was left out (a warning each)


# --------------------------------------------------------------------------------------
# The default


def default_policy(mesh: Mesh) -> DefaultPolicy:
    """Consul's default intention decision for ``mesh``'s agents."""
    if mesh.default_intention_policy:
        return DefaultPolicy(
            mesh.default_intention_policy == "allow",
            f'default_intention_policy = "{mesh.default_intention_policy}"',
        )
    acl = mesh.acl
    if not acl.enabled:
        return DefaultPolicy(True, "ACLs are disabled", acl.source)
    policy = acl.default_policy or "allow"
    written = acl.default_policy and f'acl.default_policy = "{policy}"'
    reason = written or 'acl.default_policy unset: "allow"'
    if acl.source is not None:
        reason += f" at {acl.source}"
    return DefaultPolicy(policy == "allow", reason, acl.source)


# --------------------------------------------------------------------------------------
# Intentions of a destination


def _precedence(dest_name: str, dest_ns: str, src_name: str, src_ns: str) -> int:
    # Consul's computeIntentionPrecedence.
    top = {2: 9, 1: 6, 0: 3}[_exact(dest_name, dest_ns)]
    return top - (2 - _exact(src_name, src_ns))


def _exact(name: str, namespace: str) -> int:
    if namespace == _WILD:
        return 0
    return 1 if name == _WILD else 2


def _normalise(entry: ServiceIntentions, src: SourceIntention) -> Intention:
    dest_ns = entry.namespace or _DEFAULT
    dest_ap = entry.partition or _DEFAULT
    if src.peer or src.sameness_group:
        ns, ap = src.namespace or _DEFAULT, ""
    else:
        # MergeNoWildcard: an unset source namespace/partition is the destination's.
        ns = src.namespace or (dest_ns if dest_ns != _WILD else _DEFAULT)
        ap = src.partition or dest_ap
    return Intention(
        destination=entry.name,
        destination_namespace=dest_ns,
        destination_partition=dest_ap,
        source_name=src.name,
        source_namespace=ns,
        source_partition=ap,
        source_peer=src.peer,
        action=src.action,
        permissions=src.permissions,
        precedence=_precedence(entry.name, dest_ns, src.name, ns),
        where=src.source,
    )


def _sort_key(ixn: Intention) -> tuple[int, str, str, str, str, str, str, str]:
    # Highest precedence first; ties broken on the canonical tuple, as Consul's
    # IntentionPrecedenceSorter does (the order among ties never changes a decision).
    return (
        -ixn.precedence,
        ixn.source_peer,
        ixn.source_partition,
        ixn.source_namespace,
        ixn.source_name,
        ixn.destination_partition,
        ixn.destination_namespace,
        ixn.destination,
    )


def intentions_for(
    mesh: Mesh, destination: str, namespace: str = "", partition: str = ""
) -> tuple[Intention, ...]:
    """Every intention that applies to ``destination`` (exact and wildcard entries),
    highest precedence first. Sameness-group sources are not included (the loader
    refuses them)."""
    ns = namespace or _DEFAULT
    ap = partition or mesh.local_partition
    index = per_mesh(mesh, "intentions_by_name", _index_intentions)
    # Entries in config-entry order, as a scan would meet them (the sort is stable).
    entries = sorted(
        (*index.get((ap, destination), ()), *index.get((ap, _WILD), ())), key=lambda e: e[0]
    )
    found: list[Intention] = []
    for _, entry in entries:
        if (entry.namespace or _DEFAULT) not in (ns, _WILD):
            continue
        found.extend(_normalise(entry, src) for src in entry.sources if not src.sameness_group)
    return tuple(sorted(found, key=_sort_key))


def _index_intentions(mesh: Mesh) -> dict[tuple[str, str], list[tuple[int, ServiceIntentions]]]:
    # Once per mesh: a scan of every config entry per proxy makes translating every proxy
    # of a mesh quadratic. (partition, name) -> [(position, entry)].
    index: dict[tuple[str, str], list[tuple[int, ServiceIntentions]]] = {}
    for position, entry in enumerate(mesh.config_entries):
        if isinstance(entry, ServiceIntentions):
            key = (entry.partition or _DEFAULT, entry.name)
            index.setdefault(key, []).append((position, entry))
    return index


def source_matches(ixn: Intention, source: Identity) -> bool:
    """Whether ``source`` is one of the callers ``ixn`` names."""
    if ixn.source_peer != source.peer:
        return False
    if not source.peer and ixn.source_partition != (source.partition or _DEFAULT):
        return False
    if ixn.source_namespace not in (_WILD, source.namespace or _DEFAULT):
        return False
    return ixn.source_name in (_WILD, source.service)


def decide(
    mesh: Mesh,
    source: Identity,
    destination: str,
    namespace: str = "",
    partition: str = "",
) -> IntentionDecision:
    """Whether ``source`` may open a connection to ``destination``, as the destination's
    proxy enforces it, with the intention that decides (else the default).

    That is the first matching intention by precedence -- except in one corner where
    Consul's RBAC translation (which the proxy enforces) departs from its own precedence:
    a higher-precedence intention only overrides a lower one whose source is *wider*
    (``* → api`` does not override ``web → *``). There the proxy's answer is given, and
    ``reason`` says what Consul's first-match check would answer instead.
    """
    default = default_policy(mesh)
    ixns = _unique_sources(intentions_for(mesh, destination, namespace, partition))
    first = next((ixn for ixn in ixns if source_matches(ixn, source)), None)
    enforced = _enforced(ixns, source, default.allow)
    if first is not None and _verdict(enforced, default) != _verdict(first, default):
        by = str(enforced) if enforced is not None else str(default)
        note = (
            f"{_verdict(enforced, default)}: {by}; the proxy enforces this, though Consul's "
            f"first-match check answers {_verdict(first, default)} by {first}"
        )
        return IntentionDecision(
            _verdict(enforced, default), source, destination, enforced, default, note
        )
    return IntentionDecision(_verdict(first, default), source, destination, first, default)


def _verdict(ixn: Intention | None, default: DefaultPolicy) -> Verdict:
    if ixn is None:
        return "allow" if default.allow else "deny"
    if ixn.is_l7:
        return "l7"
    return "allow" if ixn.action == "allow" else "deny"


def _unique_sources(ixns: tuple[Intention, ...]) -> list[Intention]:
    """Each source once, at its highest precedence (Consul's removeSameSourceIntentions)."""
    seen: set[tuple[str, str, str, str]] = set()
    out = []
    for ixn in ixns:
        key = (ixn.source_peer, ixn.source_partition, ixn.source_namespace, ixn.source_name)
        if key not in seen:
            seen.add(key)
            out.append(ixn)
    return out


def _wild(ixn: Intention) -> int:
    if ixn.source_namespace == _WILD:
        return 2
    return 1 if ixn.source_name == _WILD else 0


def _narrower(tester: Intention, against: Intention) -> bool:
    # Consul's ixnSourceMatches: ``against`` names every caller ``tester`` does, and more.
    return (
        _wild(tester) < _wild(against)
        and tester.source_partition == against.source_partition
        and tester.source_peer == against.source_peer
        and against.source_namespace in (tester.source_namespace, _WILD)
        and against.source_name in (tester.source_name, _WILD)
    )


def _enforced(ixns: list[Intention], source: Identity, default_allow: bool) -> Intention | None:
    """The intention whose RBAC rule decides for ``source`` (``None``: the default).

    Consul's rbac.go keeps the intentions whose action differs from the default (L7 ones
    always) and subtracts from each the narrower higher-precedence sources; a caller
    matched by a kept intention, and by none of its subtracted sources, gets that
    intention's action. (Kept intentions all share one action, so which one matches
    first does not change the verdict; the highest-precedence one is named.)
    """
    default = "allow" if default_allow else "deny"
    for i, ixn in enumerate(ixns):
        if not ixn.is_l7 and ixn.action == default:
            continue
        if not source_matches(ixn, source):
            continue
        if any(_narrower(k, ixn) and source_matches(k, source) for k in ixns[:i]):
            continue
        return ixn
    return None


def resolve_intention(
    source: str,
    destination: str,
    mesh: Mesh,
    *,
    source_namespace: str = "",
    source_partition: str = "",
    source_peer: str = "",
    namespace: str = "",
    partition: str = "",
) -> IntentionDecision:
    """May service ``source`` open a connection to service ``destination``? The answer
    (``verdict``: ``allow``, ``deny``, or ``l7`` when it depends on the request) with
    the intention that decides it (and its file:line), or the default that does.

    ``source_namespace`` / ``source_partition`` default to ``default`` and the mesh's
    partition; ``source_peer`` names a peer the source is imported from.
    """
    identity = Identity(
        source,
        source_namespace or _DEFAULT,
        source_partition or mesh.local_partition,
        source_peer,
    )
    return decide(mesh, identity, destination, namespace, partition)


def decide_upstream(
    mesh: Mesh,
    source: Identity,
    destination: str,
    namespace: str = "",
    partition: str = "",
    peer: str = "",
) -> IntentionDecision:
    """:func:`decide` for an upstream target: a peer's service is decided by the peer
    cluster's intentions, which the mesh does not hold (verdict ``unknown``)."""
    if peer:
        return IntentionDecision(
            "unknown",
            source,
            destination,
            None,
            default_policy(mesh),
            f"peer {peer}: its intentions are not in this mesh",
        )
    return decide(mesh, source, destination, namespace, partition)


# --------------------------------------------------------------------------------------
# What the destination's proxy enforces


def inbound_policy(
    mesh: Mesh, destination: str, namespace: str = "", partition: str = ""
) -> InboundPolicy:
    """The RBAC policy data for ``destination``'s public listener: its intentions in
    precedence order, each source once (a lower-precedence intention naming the same
    source is dead, as in Consul's removeSameSourceIntentions), with the SPIFFE parts of
    each source. Intentions from peers the mesh does not know are left out (no
    certificate of theirs can be validated anyway) and listed in ``skipped``."""
    rules: list[RbacRule] = []
    skipped: list[str] = []
    seen: set[tuple[str, str, str, str]] = set()
    for ixn in intentions_for(mesh, destination, namespace, partition):
        key = (ixn.source_peer, ixn.source_partition, ixn.source_namespace, ixn.source_name)
        if key in seen:
            continue
        seen.add(key)
        if ixn.source_peer:
            peer = next(
                (
                    p
                    for p in mesh.peers
                    if p.name == ixn.source_peer
                    and (p.partition or _DEFAULT) == ixn.destination_partition
                ),
                None,
            )
            if peer is None or not peer.trust_domain:
                why = "is not a known peer" if peer is None else "has no trust_domain"
                skipped.append(f"intention {ixn}: peer {ixn.source_peer!r} {why}; left out")
                continue
            rsrc = RbacSource(
                ixn.source_name,
                ixn.source_namespace,
                peer.remote_partition or _DEFAULT,
                peer.name,
                peer.trust_domain,
            )
        else:
            rsrc = RbacSource(
                ixn.source_name, ixn.source_namespace, ixn.source_partition, "", mesh.trust_domain
            )
        rules.append(RbacRule(rsrc, ixn.action, ixn.permissions, ixn))
    return InboundPolicy(destination, default_policy(mesh).allow, tuple(rules), tuple(skipped))


# --------------------------------------------------------------------------------------
# For whole-mesh checks (meshgw.check / meshgw.trace)

#: The intentions findings (codes MGW100-MGW119 are reserved for them): code, name,
#: severity, title. ``meshgw.check`` registers these; the functions here produce the
#: data each finding reports.
FINDING_CODES: tuple[tuple[str, str, str, str], ...] = (
    (
        "MGW100",
        "upstream-denied-by-intention",
        "error",
        "an upstream's destination refuses this proxy's service (an intention or the default)",
    ),
    (
        "MGW101",
        "upstream-decided-per-request",
        "info",
        "an L7 intention decides per HTTP request whether this proxy's service gets in",
    ),
    (
        "MGW102",
        "intention-unknown-service",
        "warning",
        "an intention names a service the mesh does not know",
    ),
    (
        "MGW103",
        "intention-unknown-peer",
        "warning",
        "an intention names a peer the mesh does not know",
    ),
    (
        "MGW104",
        "l7-intention-on-tcp-service",
        "warning",
        "an intention with HTTP permissions targets a TCP service (it acts as a deny)",
    ),
    (
        "MGW105",
        "intention-unknown-peer-service",
        "warning",
        "an intention names a source service the peered cluster does not have",
    ),
)


@attrs.frozen
class IntentionProblem:
    """An intention that can never match what it names: ``code`` (``MGW102`` /
    ``MGW103`` / ``MGW105``), ``message``, where it is written, and a suggestion (a close
    name)."""

    code: str
    message: str
    where: Source | None = attrs.field(default=None, eq=False)
    suggestion: str = ""

    def __str__(self) -> str:
        located = f"{self.where}: " if self.where is not None else ""
        hint = f" (did you mean {self.suggestion!r}?)" if self.suggestion else ""
        return f"{located}{self.code} {self.message}{hint}"


def known_services(mesh: Mesh) -> frozenset[str]:
    """Every service name the mesh knows: registrations (and the services their
    sidecars stand for) and catalog entries, in any datacenter."""
    names: set[str] = set()
    for svc in mesh.services:
        names.add(svc.name)
        if svc.proxy is not None and svc.proxy.destination_service_name:
            names.add(svc.proxy.destination_service_name)
    for node in mesh.catalog:
        if node.service is not None:
            names.add(node.service.name)
            proxy = node.service.proxy
            if proxy is not None and proxy.destination_service_name:
                names.add(proxy.destination_service_name)
    return frozenset(names)


def intention_problems(mesh: Mesh) -> tuple[IntentionProblem, ...]:
    """Intentions naming a destination or source service no registration or catalog
    entry has (``MGW102``; names are compared without their namespace), a source peer
    absent from ``peers`` (``MGW103``), or HTTP permissions towards a service whose
    protocol is not HTTP-like (``MGW104``), in config-entry order. A peer's services are not
    checked: the peer's catalog is not in the mesh."""
    services = known_services(mesh)
    # Intentions are replicated to every datacenter: a source peer of any of them counts.
    peers = {p.name for p in mesh.peers} | {
        p.name for settings in mesh.datacenter_settings for p in settings.peers
    }
    out: list[IntentionProblem] = []
    for entry in mesh.config_entries:
        if not isinstance(entry, ServiceIntentions):
            continue
        l7 = next((src for src in entry.sources if src.permissions), None)
        if l7 is not None and entry.name != _WILD and entry.name in services:
            protocol = _protocol(mesh, entry.name, entry.partition or mesh.local_partition)
            if protocol not in _HTTP_PROTOCOLS:
                out.append(
                    IntentionProblem(
                        "MGW104",
                        f'service-intentions "{entry.name}": source "{l7.name}" has HTTP '
                        f'permissions, but {entry.name}\'s protocol is "{protocol}": its '
                        "sidecars refuse that source",
                        l7.source,
                        'set protocol = "http" in service-defaults, or use an action',
                    )
                )
        if entry.name != _WILD and entry.name not in services:
            out.append(
                IntentionProblem(
                    "MGW102",
                    f'service-intentions "{entry.name}": no service "{entry.name}" is '
                    "registered or in the catalog",
                    entry.source,
                    _close(entry.name, services),
                )
            )
        for src in entry.sources:
            if src.peer:
                if src.peer not in peers:
                    out.append(
                        IntentionProblem(
                            "MGW103",
                            f'service-intentions "{entry.name}": source "{src.name}" names '
                            f'peer "{src.peer}", which is not in peers',
                            src.source,
                            _close(src.peer, peers),
                        )
                    )
            elif src.name != _WILD and src.name not in services:
                out.append(
                    IntentionProblem(
                        "MGW102",
                        f'service-intentions "{entry.name}": source "{src.name}" is not '
                        "registered or in the catalog",
                        src.source,
                        _close(src.name, services),
                    )
                )
    return tuple(out)


_HTTP_PROTOCOLS = frozenset({"http", "http2", "grpc"})


def _protocol(mesh: Mesh, service: str, partition: str) -> str:
    """The protocol of ``service``'s sidecars: one set in a registration's proxy config,
    else central configuration (Consul's chain protocol)."""
    for svc in mesh.services:
        proxy = svc.proxy
        if proxy is not None and proxy.destination_service_name == service:
            value = proxy.config.get("protocol")
            if isinstance(value, str) and value:
                return value.lower()
    return chain_protocol(mesh, service, partition)


def _close(name: str, known: set[str] | frozenset[str]) -> str:
    found = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.6)
    return found[0] if found else ""
