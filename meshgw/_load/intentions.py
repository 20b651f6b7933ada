"""Consul's validation rules for ``service-intentions`` entries (its
``ServiceIntentionsConfigEntry.Validate``), reported with their location.

Parts meshgw does not translate (sameness-group sources, JWT requirements) are errors
naming the field: ignoring them would make a proxy admit or refuse other callers than
Consul's would.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from meshgw.model.entries import IntentionPermission, ServiceIntentions, SourceIntention

if TYPE_CHECKING:
    from meshgw._load.parts import Document

__all__ = ["HTTP_METHODS", "validate_intentions"]

Path = tuple[Any, ...]

#: Consul's isValidHTTPMethod (methods are upper-cased first).
HTTP_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "CONNECT", "OPTIONS", "TRACE"}
)
#: Consul's metaValueMaxLength, which also bounds a source's description.
_DESCRIPTION_MAX = 512
_WILD = "*"


def _re2_problem(pattern: str) -> str | None:
    # On first use: the filter module (and RE2) stays out of ``import meshgw``.
    from meshgw._filters import re2_problem

    return re2_problem(pattern)


def validate_intentions(entry: ServiceIntentions, doc: Document, path: Path) -> None:
    """Every rule of Consul's ``Validate``, collected rather than stopping at the first."""
    if not entry.name:
        doc.report((*path, "name"), "name is required")
    _wildcards(entry.name, entry.namespace, entry.partition, "", "", doc, path)
    dest_wild = entry.name == _WILD or entry.namespace == _WILD
    if entry.jwt:
        doc.report(
            (*path, "jwt"),
            "JWT requirements on intentions are not supported by meshgw "
            "(Consul adds a JWT authentication filter; remove jwt or translate with Consul)",
        )
    if not entry.sources:
        doc.report((*path, "sources"), "at least one source is required")
    seen: dict[tuple[str, str, str, str, str], int] = {}
    for i, src in enumerate(entry.sources):
        sp = (*path, "sources", i)
        _source(src, entry, dest_wild, doc, sp)
        key = _source_key(src, entry)
        if key in seen:
            who = f"{key[3]}/{key[4]}"
            where = f'peer "{key[0]}" ' if key[0] else ""
            doc.report(
                (*sp, "name"),
                f'source {where}"{who}" is listed more than once (first as sources[{seen[key]}])',
            )
        seen.setdefault(key, i)


def _source_key(src: SourceIntention, entry: ServiceIntentions) -> tuple[str, str, str, str, str]:
    if src.peer or src.sameness_group:
        return (src.peer, src.sameness_group, "", src.namespace or "default", src.name)
    partition = src.partition or entry.partition or "default"
    namespace = src.namespace or entry.namespace or "default"
    return ("", "", partition, namespace, src.name)


def _source(
    src: SourceIntention, entry: ServiceIntentions, dest_wild: bool, doc: Document, sp: Path
) -> None:
    if not src.name:
        doc.report((*sp, "name"), "source name is required")
    _wildcards(src.name, src.namespace, src.partition, src.peer, src.sameness_group, doc, sp)
    if src.sameness_group:
        doc.report(
            (*sp, "sameness_group"),
            "sameness-group sources are not supported by meshgw (list the group's "
            "partitions and peers as sources instead)",
        )
    if src.peer and src.partition:
        doc.report((*sp, "peer"), "cannot set peer and partition at the same time")
    if src.sameness_group and src.partition:
        doc.report((*sp, "sameness_group"), "cannot set sameness_group and partition together")
    if src.sameness_group and src.peer:
        doc.report((*sp, "sameness_group"), "cannot set sameness_group and peer together")
    if len(src.description) > _DESCRIPTION_MAX:
        doc.report(
            (*sp, "description"), f"description exceeds the maximum length {_DESCRIPTION_MAX}"
        )
    if src.type not in ("", "consul"):
        doc.report((*sp, "type"), f'invalid source type "{src.type}" (expected "consul")')
    if not src.permissions and src.action not in ("allow", "deny"):
        doc.report(
            (*sp, "action"),
            f'action must be "allow" or "deny" (got "{src.action}")'
            if src.action
            else 'action is required ("allow" or "deny") when there are no permissions',
        )
    if src.permissions and src.action:
        doc.report((*sp, "action"), "action must be omitted when permissions are given")
    if src.permissions and dest_wild:
        doc.report(
            (*sp, "permissions"),
            "permissions cannot be given on intentions with a wildcard destination",
        )
    for j, perm in enumerate(src.permissions):
        _permission(perm, doc, (*sp, "permissions", j))


def _wildcards(
    name: str, namespace: str, partition: str, peer: str, group: str, doc: Document, path: Path
) -> None:
    if namespace != _WILD and _WILD in namespace:
        doc.report((*path, "namespace"), "wildcard '*' cannot be used with partial values")
    if name != _WILD and _WILD in name:
        doc.report((*path, "name"), "wildcard '*' cannot be used with partial values")
    elif name != _WILD and name and namespace == _WILD:
        doc.report((*path, "name"), "an exact name cannot follow a wildcard namespace")
    if _WILD in partition:
        doc.report((*path, "partition"), "cannot use wildcard '*' in partition")
    if _WILD in peer:
        doc.report((*path, "peer"), "cannot use wildcard '*' in peer")
    if _WILD in group:
        doc.report((*path, "sameness_group"), "cannot use wildcard '*' in sameness group")


def _permission(perm: IntentionPermission, doc: Document, pp: Path) -> None:
    if perm.action not in ("allow", "deny"):
        doc.report((*pp, "action"), f'action must be "allow" or "deny" (got "{perm.action}")')
    if perm.jwt:
        doc.report((*pp, "jwt"), "JWT requirements on permissions are not supported by meshgw")
    http = perm.http
    hp = (*pp, "http")
    if http is None:
        doc.report(hp, "http is required")
        return
    parts = 0
    for field in ("path_exact", "path_prefix"):
        value = getattr(http, field)
        if value:
            parts += 1
            if not value.startswith("/"):
                doc.report((*hp, field), f"path doesn't start with '/': \"{value}\"")
    if http.path_regex:
        parts += 1
        problem = _re2_problem(http.path_regex)
        if problem:
            doc.report((*hp, "path_regex"), f"invalid RE2 regular expression: {problem}")
    if parts > 1:
        doc.report(hp, "give at most one of path_exact, path_prefix or path_regex")
    for k, hdr in enumerate(http.header):
        hdp = (*hp, "header", k)
        if not hdr.name:
            doc.report((*hdp, "name"), "header name is required")
        given = [hdr.present, bool(hdr.exact), bool(hdr.regex), bool(hdr.prefix), bool(hdr.suffix)]
        if sum(given) != 1:
            doc.report(hdp, "give exactly one of present, exact, prefix, suffix or regex")
        if hdr.regex:
            problem = _re2_problem(hdr.regex)
            if problem:
                doc.report((*hdp, "regex"), f"invalid RE2 regular expression: {problem}")
        parts += 1
    found: set[str] = set()
    for m, method in enumerate(http.methods):
        upper = method.upper()
        if upper not in HTTP_METHODS:
            expected = ", ".join(sorted(HTTP_METHODS))
            doc.report(
                (*hp, "methods", m), f'invalid HTTP method "{method}" (expected one of {expected})'
            )
        elif upper in found:
            doc.report((*hp, "methods", m), f'method "{method}" is listed more than once')
        found.add(upper)
    if http.methods:
        parts += 1
    if parts == 0:
        doc.report(hp, "http must match on a path, a header or a method (it is empty)")
