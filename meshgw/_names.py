"""The rules for names that end up in SNIs, ``server_names`` and SPIFFE IDs.

Each function returns ``None`` for an acceptable name, else a sentence saying what is
wrong and what was expected. The loader reports it at the field's location. Consul's
own rule is cited where there is one; where Consul only warns (service and node names),
meshgw refuses whatever would make an SNI invalid, match more than one name, or collide
with another name (see docs/consul-differences.md).
"""

from __future__ import annotations

import functools
import re

__all__ = [
    "MAX_SNI_BYTES",
    "datacenter_problem",
    "dns_name_problem",
    "label_problem",
    "node_problem",
    "peer_problem",
    "service_problem",
    "sni_problem",
]

#: A TLS server name is at most 255 bytes (RFC 6066 host_name, a DNS name).
MAX_SNI_BYTES = 255
_MAX_LABEL = 63

# Consul agent/config/builder.go validateBasicName (datacenter, primary_datacenter):
# ^[a-z0-9_-]+$. meshgw adds the DNS label length, since a datacenter is one SNI label.
_BASIC_NAME = re.compile(r"[a-z0-9_-]+")
# Consul agent/rpc/peering/validate.go validPeeringName: an RFC 1123 label, lower case
# only ("all lowercase is enforced to reduce potential issues relating to case-mismatch").
# The same shape is used for partitions and namespaces (Consul Enterprise names them in
# DNS as <ns>.ns / <ap>.ap) and for Consul server node names (agent/config/builder.go
# warns when a node name does not fit a DNS label).
_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
# Service names: Consul only warns about names that are not DNS-compatible
# (agent/agent.go validateService: dns.InvalidNameRe [^A-Za-z0-9\-]+, and longer than
# 63). meshgw refuses what would break or widen an SNI: dots (a service "v1.web" would
# take the SNI of subset v1 of "web"), "*" and other punctuation, spaces, control and
# non-ASCII characters, upper case (server names match case-insensitively, so "Web"
# and "web" would share one filter chain), more than 63 bytes. "_" stays allowed, as in
# datacenter names.
_SERVICE = re.compile(r"[a-z0-9_-]{1,63}")


def _shown(value: str) -> str:
    # repr() escapes NUL, control and non-ASCII characters so the message shows them.
    return ascii(value)


def _why(value: str) -> str:
    if any(c.isspace() for c in value):
        return "contains whitespace"
    if any(not c.isprintable() for c in value):
        return "contains a control character"
    if not value.isascii():
        return "contains non-ASCII characters"
    if value != value.lower():
        return "contains upper case letters"
    if "*" in value:
        return "contains a wildcard"
    if "." in value:
        return "contains a dot"
    if len(value.encode()) > _MAX_LABEL:
        return f"is longer than {_MAX_LABEL} bytes"
    return "contains characters that are not allowed"


@functools.lru_cache(maxsize=4096)
def datacenter_problem(value: str) -> str | None:
    """A datacenter name: Consul's ``^[a-z0-9_-]+$``, and one DNS label long."""
    if _BASIC_NAME.fullmatch(value) and len(value) <= _MAX_LABEL:
        return None
    return (
        f"datacenter {_shown(value)} {_why(value)} (expected lowercase letters, digits, "
        f"'-' or '_', at most {_MAX_LABEL}, as Consul requires)"
    )


@functools.lru_cache(maxsize=4096)
def label_problem(what: str, value: str) -> str | None:
    """A partition, namespace or other single lowercase DNS label."""
    if _LABEL.fullmatch(value):
        return None
    return (
        f"{what} {_shown(value)} {_why(value) if value else 'is empty'} (expected a DNS "
        "label: lowercase letters, digits and '-', starting and ending with a letter or "
        f"digit, at most {_MAX_LABEL})"
    )


def peer_problem(value: str) -> str | None:
    """A peer name, by Consul's peering rule (an RFC 1123 label, lower case)."""
    return label_problem("peer name", value)


def node_problem(value: str) -> str | None:
    """The node name of a Consul server, which becomes a label of its server SNI."""
    return label_problem("node name", value)


@functools.lru_cache(maxsize=4096)
def service_problem(value: str) -> str | None:
    """A service name that goes into SNIs, ``server_names`` and SPIFFE IDs."""
    if _SERVICE.fullmatch(value):
        return None
    reason = _why(value) if value else "is empty"
    return (
        f"service name {_shown(value)} {reason}: it becomes one label of the service's "
        "SNI and SPIFFE ID (expected lowercase letters, digits, '-' or '_', at most "
        f"{_MAX_LABEL}; Consul accepts such names with a DNS warning, meshgw refuses "
        "them because they would break or widen TLS server name matching)"
    )


@functools.lru_cache(maxsize=4096)
def dns_name_problem(what: str, value: str, *, trailing_dot: bool = False) -> str | None:
    """A DNS name without a wildcard (a trust domain, a DNS domain, a server name)."""
    name = value.removesuffix(".") if trailing_dot else value
    expected = (
        "expected a DNS name: dot-separated labels of lowercase letters, digits and '-', "
        f"each at most {_MAX_LABEL}, at most 253 in all, no wildcard"
    )
    if not name:
        return f"{what} is empty ({expected})"
    labels = name.split(".")
    bad = next((label for label in labels if not _LABEL.fullmatch(label)), None)
    if bad is None and len(name) <= 253:
        return None
    if bad is not None and bad == "":
        reason = "has an empty label"
    elif bad is not None:
        reason = _why(bad)
    else:
        reason = "is longer than 253 bytes"
    return f"{what} {_shown(value)} {reason} ({expected})"


def sni_problem(sni: str) -> str | None:
    """An SNI built from valid names may still be too long for TLS."""
    size = len(sni.encode())
    if size <= MAX_SNI_BYTES:
        return None
    return (
        f"the SNI built from these names is {size} bytes, more than TLS allows "
        f"({MAX_SNI_BYTES}): {sni[:60]}..."
    )
