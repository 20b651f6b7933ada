"""Envoy RBAC filters (network and HTTP) from one :class:`RbacPolicy` value.

Pure builders; nothing here knows about Consul's intentions (``meshgw._plan.rbac`` turns
those into a policy). A policy is an action and named rules, each a list of principals
(who) and permissions (what); the same value renders as the network filter in front of a
TCP proxy or as the HTTP filter inside an HTTP connection manager.

Matchers use the forms Envoy 1.40 does not deprecate: no ``google_re2: {}`` in regex
matchers (RE2 is Envoy's only engine) and ``string_match`` in header matchers (where
Consul still writes ``exact_match``, ``prefix_match``, ``suffix_match`` and
``safe_regex_match``). The ``ALLOW`` action and an empty policy map are left out, as
proto-JSON leaves out default values.
"""

from __future__ import annotations

from typing import Any, Literal

import attrs

from meshgw._envoy.resources import HTTP_RBAC_TYPE, RBAC_TYPE, typed

__all__ = [
    "HTTP_RBAC_FILTER",
    "NETWORK_RBAC_FILTER",
    "HeaderMatch",
    "Permission",
    "Principal",
    "RbacPolicy",
    "RbacRule",
    "http_rbac_filter",
    "network_rbac_filter",
]

#: The name of Envoy's network RBAC filter.
NETWORK_RBAC_FILTER = "envoy.filters.network.rbac"
#: The name of Envoy's HTTP RBAC filter.
HTTP_RBAC_FILTER = "envoy.filters.http.rbac"


@attrs.frozen
class Principal:
    """Who a rule matches: ``any`` peer, a peer whose authenticated certificate URI SAN
    equals (``uri_exact``) or matches the RE2 regex (``uri_regex``) ``value``, all of
    (``and``) / not (``not``, exactly one child) ``children``."""

    kind: Literal["any", "uri_exact", "uri_regex", "and", "not"]
    value: str = ""
    children: tuple[Principal, ...] = ()


@attrs.frozen
class HeaderMatch:
    """A request header ``name`` that is ``present`` or whose value is ``exact``, has the
    ``prefix`` / ``suffix`` or matches the RE2 ``regex`` ``value``; ``invert`` negates."""

    name: str
    kind: Literal["present", "exact", "prefix", "suffix", "regex"]
    value: str = ""
    invert: bool = False


@attrs.frozen
class Permission:
    """What a rule allows: ``any`` action, all of (``and``) / any of (``or``) / not
    (``not``, exactly one child) ``children``, a request path equal to (``path_exact``),
    starting with (``path_prefix``) or matching the RE2 regex (``path_regex``) ``value``,
    or a ``header`` match (HTTP only for the last two groups)."""

    kind: Literal["any", "and", "or", "not", "path_exact", "path_prefix", "path_regex", "header"]
    value: str = ""
    children: tuple[Permission, ...] = ()
    header: HeaderMatch | None = None


@attrs.frozen
class RbacRule:
    """One named policy of the filter."""

    name: str
    principals: tuple[Principal, ...]
    permissions: tuple[Permission, ...] = (Permission("any"),)


@attrs.frozen
class RbacPolicy:
    """An RBAC filter's rules: ``action`` applies to connections/requests some rule
    matches; the others get the opposite.

    ``RbacPolicy("DENY")`` (no rules) matches nothing, so everything is allowed;
    ``RbacPolicy("ALLOW")`` allows nothing.
    """

    action: Literal["ALLOW", "DENY"]
    rules: tuple[RbacRule, ...] = ()


def network_rbac_filter(policy: RbacPolicy, stat_prefix: str) -> dict[str, Any]:
    """``envoy.filters.network.rbac`` enforcing ``policy``."""
    return {
        "name": NETWORK_RBAC_FILTER,
        "typed_config": typed(RBAC_TYPE, rules=_rules(policy), stat_prefix=stat_prefix),
    }


def http_rbac_filter(policy: RbacPolicy) -> dict[str, Any]:
    """``envoy.filters.http.rbac`` enforcing ``policy`` (for an HTTP connection manager's
    filter list, before the router)."""
    return {"name": HTTP_RBAC_FILTER, "typed_config": typed(HTTP_RBAC_TYPE, rules=_rules(policy))}


def _rules(policy: RbacPolicy) -> dict[str, Any]:
    rules: dict[str, Any] = {}
    if policy.action != "ALLOW":
        rules["action"] = policy.action
    if policy.rules:
        rules["policies"] = {
            rule.name: {
                "permissions": [_permission(p) for p in rule.permissions],
                "principals": [_principal(p) for p in rule.principals],
            }
            for rule in policy.rules
        }
    return rules


def _regex(value: str) -> dict[str, Any]:
    return {"regex": value}


def _principal(p: Principal) -> dict[str, Any]:
    if p.kind == "any":
        return {"any": True}
    if p.kind == "uri_exact":
        return {"authenticated": {"principal_name": {"exact": p.value}}}
    if p.kind == "uri_regex":
        return {"authenticated": {"principal_name": {"safe_regex": _regex(p.value)}}}
    if p.kind == "and":
        return {"and_ids": {"ids": [_principal(c) for c in p.children]}}
    return {"not_id": _principal(p.children[0])}


def _permission(p: Permission) -> dict[str, Any]:
    if p.kind == "any":
        return {"any": True}
    if p.kind in ("and", "or"):
        return {f"{p.kind}_rules": {"rules": [_permission(c) for c in p.children]}}
    if p.kind == "not":
        return {"not_rule": _permission(p.children[0])}
    if p.kind == "header":
        assert p.header is not None
        return {"header": _header(p.header)}
    if p.kind == "path_regex":
        return {"url_path": {"path": {"safe_regex": _regex(p.value)}}}
    key = "exact" if p.kind == "path_exact" else "prefix"
    return {"url_path": {"path": {key: p.value}}}


def _header(h: HeaderMatch) -> dict[str, Any]:
    out: dict[str, Any] = {"name": h.name}
    if h.kind == "present":
        out["present_match"] = True
    elif h.kind == "regex":
        out["string_match"] = {"safe_regex": _regex(h.value)}
    else:
        out["string_match"] = {h.kind: h.value}
    if h.invert:
        out["invert_match"] = True
    return out
