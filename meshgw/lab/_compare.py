"""A real connection against ``meshgw.trace``'s prediction.

``meshgw.trace(mesh, source, upstream)`` follows the generated Envoy configuration
offline and returns a ``Trace`` (``ok``, ``paths``: lists of hops, ``problems``). The lab
compares what it predicted with what real Envoys did: the same hops (proxy, datacenter,
kind and the cluster each proxy sent the connection to), or the same failure.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs

from meshgw.lab._results import Connection, Hop

__all__ = ["Comparison", "compare", "hop_fields"]

# Attribute names a trace hop may use for each compared field (first found wins).
_PROXY = ("proxy", "service_id", "proxy_id", "id")
_DATACENTER = ("datacenter", "dc")
_KIND = ("kind",)
_CLUSTER = ("cluster",)


@attrs.frozen
class Comparison:
    """``agrees``: the connection did what the trace predicted (compared hop by hop:
    proxy, datacenter, kind and cluster); ``expected``: the predicted routes, one line
    each (``web-sidecar-proxy@dc1 → mesh-gateway@dc2 → ...``), or the predicted problems;
    ``real``: the route the bytes took; ``reason``: why they disagree (``""`` when they
    agree); ``expected_ok``: whether the trace predicted the connection to work."""

    agrees: bool
    expected: tuple[str, ...]
    real: str
    reason: str = ""
    expected_ok: bool = True


def _get(hop: Any, names: Sequence[str]) -> Any:
    for name in names:
        value = getattr(hop, name, None)
        if value is not None:
            return str(value)
    return None


def hop_fields(hop: Any, *, last: bool) -> tuple[Any, ...]:
    """What is compared of one hop: proxy, datacenter, kind and (except at the
    destination, where the trace ends at the public listener) the cluster."""
    return (
        _get(hop, _PROXY),
        _get(hop, _DATACENTER),
        _get(hop, _KIND),
        None if last else _get(hop, _CLUSTER),
    )


def _line(path: Sequence[Any]) -> str:
    """A path as a route: ``web-sidecar-proxy@dc1 → mesh-gateway@dc2 → ...``."""
    parts = []
    for hop in path:
        proxy, dc, _, _ = hop_fields(hop, last=True)
        peer = getattr(hop, "peer", "") or ""
        parts.append(f"{proxy}@{peer + '/' if peer else ''}{dc}")
    return " → ".join(parts) or "(no hop)"


def _same(real: Sequence[Hop], predicted: Sequence[Any]) -> bool:
    if len(real) != len(predicted):
        return False
    for i, (mine, theirs) in enumerate(zip(real, predicted, strict=True)):
        last = i == len(real) - 1
        for a, b in zip(hop_fields(mine, last=last), hop_fields(theirs, last=last), strict=True):
            # A field the trace does not give is not compared; a peer's hops are
            # named by the peer on one side and the peer's datacenter on the other.
            if a is None or b is None or (mine.peer and b in (mine.peer, mine.datacenter)):
                continue
            if a != b:
                return False
    return True


#: The trace's code for an upstream whose destination decides per HTTP request.
_PER_REQUEST = "MGW101"


def compare(connection: Connection, trace: Any) -> Comparison:
    """Compare a :class:`Connection` with a ``meshgw.trace`` result."""
    paths: list[Sequence[Any]] = [list(p) for p in getattr(trace, "paths", ()) or ()]
    problems = [str(p) for p in getattr(trace, "problems", ()) or ()]
    predicted_ok = bool(getattr(trace, "ok", False))
    # Paths that differ only in which instance of a gateway they cross read the same; a
    # predicted failure names its problems first.
    routes = tuple(dict.fromkeys(_line(p) for p in paths))
    expected = routes if predicted_ok else tuple(problems) + routes
    real = _line(connection.hops)
    codes = {getattr(p, "code", "") for p in getattr(trace, "problems", ()) or ()}
    # The trace cannot know the request: an L7 intention refusing this one is within
    # its prediction ("decided per request"), provided the bytes got there its way.
    per_request = predicted_ok and _PER_REQUEST in codes and connection.status == 403
    if per_request and any(_same(connection.hops, p) for p in paths):
        return Comparison(True, expected, real, "", predicted_ok)
    if connection.ok != predicted_ok:
        said = "works" if predicted_ok else "fails"
        did = "worked" if connection.ok else f"failed ({connection.error})"
        reason = f"trace says it {said}; the connection {did}"
        return Comparison(False, expected, real, reason, predicted_ok)
    # A connection refused where the trace says (a destination's intentions) must have
    # got there the predicted way; other failures leave no path to compare.
    refused = [p for p in paths if p and getattr(p[-1], "refused", "")]
    candidates = paths if connection.ok else refused
    if candidates and not any(_same(connection.hops, p) for p in candidates):
        reason = "the bytes took a path the trace did not predict"
        return Comparison(False, expected, real, reason, predicted_ok)
    return Comparison(True, expected, real, "", predicted_ok)
