"""A destination's intentions as one Envoy RBAC policy, as Consul's ``rbac.go`` builds it.

Consul's intentions are an ordered list (first match decides) with a default; Envoy's
RBAC is one unordered set of rules that either all allow (the rest is denied) or all
deny (the rest is allowed). The translation removes precedence:

1. The action is the opposite of the default: default deny → ``ALLOW`` rules, default
   allow → ``DENY`` rules.
2. Walking the intentions from lowest to highest precedence, each intention's source is
   subtracted (``AND NOT``) from every lower-precedence intention whose source is wider
   (``web`` from ``*``); an intention with the default's own action is then dropped, the
   default covers it.
3. L4 intentions become principals of one ``consul-intentions-layer4`` rule (any
   permission); each L7 intention (HTTP services only) becomes a
   ``consul-intentions-layer7-<i>`` rule whose permissions get the same treatment among
   themselves (a permission with the default's action is subtracted from the following
   ones and dropped). On a TCP service an L7 intention counts as a deny.

Principals are SPIFFE URI regexes on the peer certificate: any datacenter, the source's
partition (``/ap/`` outside ``default``), namespace and service (``[^/]+`` for ``*``) and
trust domain (the local one, or for a peer's services the peer's, with the partition the
peer exports from).
"""

from __future__ import annotations

import attrs

from meshgw._envoy.rbac import HeaderMatch, Permission, Principal, RbacPolicy, RbacRule
from meshgw._resolve.intentions import InboundPolicy, RbacSource
from meshgw.model.entries import IntentionPermission
from meshgw.naming import spiffe_id

__all__ = ["inbound_rbac"]

_ANY_PATH = "[^/]+"
_WILD = "*"
_ALLOW, _DENY, _L7 = "allow", "deny", "l7"
_ANY = Permission("any")


@attrs.define
class _Perm:
    action: str
    perm: Permission
    not_perms: list[Permission] = attrs.field(factory=list)
    skip: bool = False


@attrs.define
class _Ixn:
    source: RbacSource
    action: str
    perms: list[_Perm]
    not_sources: list[RbacSource] = attrs.field(factory=list)
    skip: bool = False


def inbound_rbac(policy: InboundPolicy, *, http: bool) -> RbacPolicy:
    """The RBAC policy enforcing ``policy`` on a public listener (``http``: in an HTTP
    connection manager, where L7 permissions apply)."""
    default = _ALLOW if policy.default_allow else _DENY
    ixns = [_intermediate(r.source, r.action, r.permissions, http) for r in policy.rules]
    ixns = _remove_source_precedence(ixns, default)
    rules: list[RbacRule] = []
    principals_l4: list[Principal] = []
    for i, ixn in enumerate(ixns):
        principal = _flatten_principal(ixn)
        if ixn.action == _L7:
            perms = _remove_permission_precedence(ixn.perms, default)
            if perms:  # else every permission had the default's action
                rules.append(RbacRule(f"consul-intentions-layer7-{i}", (principal,), perms))
        else:
            principals_l4.append(principal)
    if principals_l4:
        rules.insert(0, RbacRule("consul-intentions-layer4", tuple(principals_l4), (_ANY,)))
    return RbacPolicy("DENY" if policy.default_allow else "ALLOW", tuple(rules))


def _intermediate(
    source: RbacSource, action: str, permissions: tuple[IntentionPermission, ...], http: bool
) -> _Ixn:
    if not permissions:
        return _Ixn(source, action, [])
    if not http:
        # An L7 intention on a TCP service: Consul treats it as a deny.
        return _Ixn(source, _DENY, [])
    return _Ixn(source, _L7, [_Perm(p.action, _permission(p)) for p in permissions])


def _remove_source_precedence(ixns: list[_Ixn], default: str) -> list[_Ixn]:
    # Consul's walk compares every pair; only a wider source (a wildcard) can take in
    # another, so only those are visited: linear in the intentions per wildcard.
    wild = [_wild_count(ixn.source) for ixn in ixns]
    wide = [j for j, count in enumerate(wild) if count]
    for i in range(len(ixns) - 1, -1, -1):
        for j in wide:
            wider = j > i and not ixns[j].skip and wild[j] > wild[i]
            if wider and _covers(ixns[j].source, ixns[i].source):
                ixns[j].not_sources.append(ixns[i].source)
        if ixns[i].action == default:
            ixns[i].skip = True  # the default covers it
    return [ixn for ixn in ixns if not ixn.skip]


def _remove_permission_precedence(perms: list[_Perm], default: str) -> tuple[Permission, ...]:
    for i in range(len(perms) - 1, -1, -1):
        for j in range(i + 1, len(perms)):
            if not perms[j].skip:
                perms[j].not_perms.append(perms[i].perm)
        if perms[i].action == default:
            perms[i].skip = True
    return tuple(
        _and([p.perm, *(Permission("not", children=(n,)) for n in p.not_perms)])
        for p in perms
        if not p.skip
    )


def _wild_count(src: RbacSource) -> int:
    if src.namespace == _WILD:
        return 2
    return 1 if src.name == _WILD else 0


def _covers(against: RbacSource, tester: RbacSource) -> bool:
    # Consul's ixnSourceMatches(tester, against) for an ``against`` known to be wider
    # (more wildcards): same partition and peer, and its namespace and name match.
    return (
        tester.partition == against.partition
        and tester.peer == against.peer
        and against.namespace in (tester.namespace, _WILD)
        and against.name in (tester.name, _WILD)
    )


def _simplify_not_sources(not_sources: list[RbacSource]) -> list[RbacSource]:
    """Drop a subtracted source already covered by a wider one."""
    ordered = sorted(not_sources, key=_wild_count)  # stable: specific ones first
    counts = [_wild_count(s) for s in ordered]
    wide = [j for j, count in enumerate(counts) if count]
    return [
        si
        for i, si in enumerate(ordered)
        if not any(counts[j] > counts[i] and _covers(ordered[j], si) for j in wide if j > i)
    ]


def _flatten_principal(ixn: _Ixn) -> Principal:
    not_sources = _simplify_not_sources(ixn.not_sources)
    if not not_sources:
        return _id_principal(ixn.source)
    nots = (Principal("not", children=(_id_principal(s),)) for s in not_sources)
    return Principal("and", children=(_id_principal(ixn.source), *nots))


def _id_principal(src: RbacSource) -> Principal:
    # The datacenter is not checked (any value); a wildcard namespace or name matches any
    # path segment. Consul does not escape the other parts, and neither does meshgw.
    name = _ANY_PATH if src.name == _WILD else src.name
    namespace = _ANY_PATH if src.namespace == _WILD else src.namespace
    uri = spiffe_id(name, namespace, src.partition, _ANY_PATH, src.trust_domain)
    return Principal("uri_regex", f"^{uri}$")


def _and(parts: list[Permission]) -> Permission:
    if not parts:
        return _ANY
    if len(parts) == 1:
        return parts[0]
    return Permission("and", children=tuple(parts))


def _permission(perm: IntentionPermission) -> Permission:
    """One L7 permission's matchers (Consul's convertPermission; its action is applied
    by the precedence removal, not here)."""
    http = perm.http
    if http is None:
        return _ANY
    parts: list[Permission] = []
    if http.path_exact:
        parts.append(Permission("path_exact", http.path_exact))
    elif http.path_prefix:
        parts.append(Permission("path_prefix", http.path_prefix))
    elif http.path_regex:
        parts.append(Permission("path_regex", http.path_regex))
    for hdr in http.header:
        if hdr.exact:
            match = HeaderMatch(hdr.name, "exact", hdr.exact, hdr.invert)
        elif hdr.regex:
            match = HeaderMatch(hdr.name, "regex", hdr.regex, hdr.invert)
        elif hdr.prefix:
            match = HeaderMatch(hdr.name, "prefix", hdr.prefix, hdr.invert)
        elif hdr.suffix:
            match = HeaderMatch(hdr.name, "suffix", hdr.suffix, hdr.invert)
        elif hdr.present:
            match = HeaderMatch(hdr.name, "present", "", hdr.invert)
        else:
            continue  # refused by the loader
        parts.append(Permission("header", header=match))
    if http.methods:
        methods = "|".join(m.upper() for m in http.methods)
        parts.append(Permission("header", header=HeaderMatch(":method", "regex", methods)))
    return _and(parts)
