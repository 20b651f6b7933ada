"""Named problems: stable ``MGW`` codes, their severity, and the findings that carry them.

Every problem :func:`meshgw.trace` and :func:`meshgw.check` report is a :class:`Finding`
with a code registered here. A code never changes meaning once released; each is
documented on ``docs/findings.md`` (an example and its fix). Codes are allotted in
blocks so whole-mesh tools can add their own without touching this module:

* ``MGW001`` to ``MGW099``: routing (trace, check);
* ``MGW100`` to ``MGW119``: intentions.

A tool registers its codes at import time with :func:`register`.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from enum import Enum
from typing import Any

import attrs

from meshgw.model.common import Source

__all__ = [
    "Code",
    "Finding",
    "Severity",
    "codes",
    "did_you_mean",
    "lookup",
    "register",
]


class Severity(str, Enum):
    """How bad a finding is: ``error`` (traffic fails), ``warning`` (traffic flows now
    but not as the configuration intends, or fails under some condition), ``info``."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"

    def __str__(self) -> str:
        return self.value

    @property
    def rank(self) -> int:
        """Larger is worse: info 0, warning 1, error 2."""
        return _RANKS[self]


_RANKS = {Severity.INFO: 0, Severity.WARNING: 1, Severity.ERROR: 2}


@attrs.frozen
class Code:
    """A registered problem: ``code`` (``MGW`` + three digits), a short kebab-case
    ``name``, its ``severity`` and a one-line ``title``."""

    code: str
    name: str
    severity: Severity
    title: str


_CODE_RE = re.compile(r"MGW\d{3}")
_REGISTRY: dict[str, Code] = {}


def register(code: str, name: str, severity: Severity | str, title: str) -> Code:
    """Register a code (once; registering the same code again with other values is an
    error) and return it."""
    if not _CODE_RE.fullmatch(code):
        raise ValueError(f"finding codes are MGW and three digits, not {code!r}")
    entry = Code(code, name, Severity(severity), title)
    existing = _REGISTRY.get(code)
    if existing is not None and existing != entry:
        raise ValueError(f"{code} is already registered as {existing.name!r}")
    for other in _REGISTRY.values():
        if other.name == name and other.code != code:
            raise ValueError(f"{name!r} is already the name of {other.code}")
    _REGISTRY[code] = entry
    return entry


def lookup(code: str) -> Code:
    """The registered :class:`Code` (``KeyError`` for an unknown one)."""
    return _REGISTRY[code]


def codes() -> tuple[Code, ...]:
    """Every registered code, in code order."""
    return tuple(sorted(_REGISTRY.values(), key=lambda c: c.code))


@attrs.frozen
class Finding:
    """One problem found in a mesh.

    ``code`` and ``severity`` come from the registry; ``proxy`` is the service id of the
    registration concerned (with its ``datacenter``), ``upstream`` the upstream's id
    (``api?dc=dc2``) when it concerns one, ``source`` where that registration or upstream
    is written, ``suggestion`` how to fix it.
    """

    code: str
    severity: Severity
    message: str
    proxy: str = ""
    datacenter: str = ""
    upstream: str = ""
    source: Source | None = None
    suggestion: str = ""

    @classmethod
    def of(
        cls,
        code: str,
        message: str,
        *,
        proxy: str = "",
        datacenter: str = "",
        upstream: str = "",
        source: Source | None = None,
        suggestion: str = "",
    ) -> Finding:
        """A finding with the registered severity of ``code``."""
        return cls(
            code,
            lookup(code).severity,
            message,
            proxy,
            datacenter,
            upstream,
            source,
            suggestion,
        )

    @property
    def name(self) -> str:
        """The code's short name (``unknown-datacenter``)."""
        return lookup(self.code).name

    def __str__(self) -> str:
        where = f"{self.source}: " if self.source is not None else ""
        text = f"{where}{self.severity} {self.code} {self.name}: {self.message}"
        if self.suggestion:
            text += f" ({self.suggestion})"
        return text

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values (``file`` and ``line`` from ``source``)."""
        return {
            "code": self.code,
            "name": self.name,
            "severity": self.severity.value,
            "message": self.message,
            "proxy": self.proxy,
            "datacenter": self.datacenter,
            "upstream": self.upstream,
            "file": self.source.file if self.source is not None else None,
            "line": self.source.line if self.source is not None else None,
            "suggestion": self.suggestion,
        }


def did_you_mean(word: str, known: Iterable[str], what: str) -> str:
    """``"did you mean 'redis'?"`` for a close match among ``known``, else the list of
    known ``what`` (at most ten)."""
    names = sorted(set(known))
    close = difflib.get_close_matches(word, names, n=1, cutoff=0.6)
    if close:
        return f"did you mean {close[0]!r}?"
    if not names:
        return f"the mesh knows no {what}"
    shown = ", ".join(names[:10]) + (", ..." if len(names) > 10 else "")
    return f"known {what}: {shown}"


# --------------------------------------------------------------------------- MGW001-099

R = register
UNKNOWN_SERVICE = R(
    "MGW001",
    "unknown-service",
    Severity.ERROR,
    "an upstream names a service its datacenter or peer does not have",
)
UNKNOWN_DATACENTER = R(
    "MGW002", "unknown-datacenter", Severity.ERROR, "an upstream names an unknown datacenter"
)
UNKNOWN_PEER = R("MGW003", "unknown-peer", Severity.ERROR, "an upstream names an unknown peer")
NOT_EXPORTED = R(
    "MGW004", "not-exported", Severity.ERROR, "the peer does not export the upstream's service"
)
UNKNOWN_FAILOVER_DATACENTER = R(
    "MGW005",
    "unknown-failover-datacenter",
    Severity.ERROR,
    "a service-resolver fails over to an unknown datacenter",
)
NO_ENDPOINTS = R("MGW010", "no-endpoints", Severity.ERROR, "a cluster has no endpoints")
NO_HEALTHY_ENDPOINTS = R(
    "MGW011",
    "no-healthy-endpoints",
    Severity.ERROR,
    "every endpoint of a cluster is unhealthy",
)
FAILOVER_TARGET_UNREACHABLE = R(
    "MGW012",
    "failover-target-unreachable",
    Severity.WARNING,
    "a failover target cannot carry traffic (the others can)",
)
PRIMARY_FAILED_OVER = R(
    "MGW013",
    "failed-over",
    Severity.WARNING,
    "the primary target cannot carry traffic: it all goes to a failover target",
)
UNKNOWN_ADDRESS = R(
    "MGW020",
    "unknown-address",
    Severity.ERROR,
    "an endpoint address no proxy of the mesh listens on",
)
NOT_LISTENING = R(
    "MGW021",
    "not-listening",
    Severity.ERROR,
    "a proxy registered at an address has no listener bound there",
)
NO_FILTER_CHAIN = R(
    "MGW030",
    "no-filter-chain",
    Severity.ERROR,
    "a gateway has no filter chain for the SNI (it closes the connection)",
)
NO_CLUSTER_FOR_SNI = R(
    "MGW031",
    "no-cluster-for-sni",
    Severity.ERROR,
    "a gateway's filter chain picks a cluster it does not have",
)
SAN_MISMATCH = R(
    "MGW040",
    "san-mismatch",
    Severity.ERROR,
    "the destination's SPIFFE identity is not the SAN the client expects",
)
NOT_A_DESTINATION = R(
    "MGW041",
    "not-a-destination",
    Severity.ERROR,
    "the path ends at a proxy that neither forwards nor accepts mesh traffic",
)
NO_LOCAL_GATEWAY = R(
    "MGW050",
    "no-local-gateway",
    Severity.ERROR,
    "mode local but the local datacenter has no mesh gateway",
)
NO_REMOTE_GATEWAY = R(
    "MGW051",
    "no-remote-gateway",
    Severity.ERROR,
    "mode remote but the target datacenter has no mesh gateway",
)
DNS_SEVERAL_HOSTS = R(
    "MGW060",
    "logical-dns-several-hosts",
    Severity.WARNING,
    "a LOGICAL_DNS cluster is given several hosts (Envoy uses only the first)",
)
FAILOVER_NEVER_EJECTS = R(
    "MGW061",
    "failover-never-ejects",
    Severity.WARNING,
    "a single-host failover target that default outlier detection never ejects",
)
PORT_COLLISION = R(
    "MGW070",
    "port-collision",
    Severity.ERROR,
    "two listeners of one proxy bind the same address and port",
)
LOOP = R("MGW080", "loop", Severity.ERROR, "the path comes back to a proxy it already crossed")
TRANSLATION_FAILED = R(
    "MGW081",
    "translation-failed",
    Severity.ERROR,
    "a proxy's registration cannot be translated to Envoy configuration",
)
UNSUPPORTED_UPSTREAM = R(
    "MGW082",
    "untraceable-upstream",
    Severity.INFO,
    "an upstream trace does not follow (prepared query, unix socket)",
)
NO_LOCAL_SERVICE_PORT = R(
    "MGW083",
    "no-local-service-port",
    Severity.WARNING,
    "a catalog sidecar has no local_service_port: traced, but it cannot be translated",
)
LEAVES_MESH = R(
    "MGW090",
    "leaves-mesh",
    Severity.INFO,
    "the path leaves the loaded mesh (to a peer's gateway) and is not followed further",
)
del R
