"""meshgw.lab.compare: a real connection against a trace's prediction (no Envoy)."""

from __future__ import annotations

from types import SimpleNamespace

import attrs

from meshgw.lab import Answer, Connection, Hop, compare

SNI = "api.default.dc2.internal.td.consul"
REAL = (
    Hop("web-sidecar-proxy", "dc1", "connect-proxy", SNI, SNI),
    Hop("mesh-gateway", "dc2", "mesh-gateway", SNI, SNI),
    Hop("api-sidecar-proxy", "dc2", "connect-proxy", "local_app", SNI),
)


def _conn(ok: bool = True, hops: tuple[Hop, ...] = REAL) -> Connection:
    answer = Answer("api", "dc2", "n1") if ok else None
    return Connection("web-sidecar-proxy", "api?dc=dc2", ok, answer, hops, error="" if ok else "x")


def _hop(proxy: str, dc: str, kind: str, cluster: str) -> SimpleNamespace:
    return SimpleNamespace(proxy=proxy, datacenter=dc, kind=kind, cluster=cluster, sni=SNI)


PREDICTED = (
    _hop("web-sidecar-proxy", "dc1", "connect-proxy", SNI),
    _hop("mesh-gateway", "dc2", "mesh-gateway", SNI),
    _hop("api-sidecar-proxy", "dc2", "connect-proxy", "local_app"),
)


def test_same_hops_agree() -> None:
    other = (PREDICTED[0], _hop("mesh-gateway", "dc1", "mesh-gateway", "dc2"), *PREDICTED[1:])
    trace = SimpleNamespace(ok=True, paths=(other, PREDICTED), problems=())
    result = compare(_conn(), trace)
    assert result.agrees and result.reason == ""
    assert result.expected == (
        "web-sidecar-proxy@dc1 → mesh-gateway@dc1 → mesh-gateway@dc2 → api-sidecar-proxy@dc2",
        "web-sidecar-proxy@dc1 → mesh-gateway@dc2 → api-sidecar-proxy@dc2",
    )
    assert result.real == "web-sidecar-proxy@dc1 → mesh-gateway@dc2 → api-sidecar-proxy@dc2"


def test_another_path_or_outcome_disagrees() -> None:
    wrong = (PREDICTED[0], _hop("mesh-gateway", "dc1", "mesh-gateway", SNI), PREDICTED[2])
    result = compare(_conn(), SimpleNamespace(ok=True, paths=(wrong,), problems=()))
    assert not result.agrees
    assert result.reason == "the bytes took a path the trace did not predict"

    failing = SimpleNamespace(ok=False, paths=(), problems=("MGW001 no endpoint",))
    result = compare(_conn(), failing)
    assert not result.agrees and result.expected == ("MGW001 no endpoint",)
    assert result.reason == "trace says it fails; the connection worked"


def test_the_same_failure_agrees() -> None:
    failing = SimpleNamespace(ok=False, paths=(), problems=("MGW001 no endpoint",))
    assert compare(_conn(ok=False, hops=REAL[:1]), failing).agrees


def test_a_refusal_agrees_only_where_the_trace_puts_it() -> None:
    refused_at_api = (
        *PREDICTED[:2],
        SimpleNamespace(**{**vars(PREDICTED[2]), "refused": "MGW100"}),
    )
    denied = SimpleNamespace(ok=False, paths=(refused_at_api,), problems=("MGW100 denied",))
    result = compare(_conn(ok=False), denied)
    assert result.agrees and not result.expected_ok
    assert result.expected == (
        "MGW100 denied",
        "web-sidecar-proxy@dc1 → mesh-gateway@dc2 → api-sidecar-proxy@dc2",
    )
    # refused, but the real bytes stopped at the source: not the failure predicted
    result = compare(_conn(ok=False, hops=REAL[:1]), denied)
    assert not result.agrees
    assert result.reason == "the bytes took a path the trace did not predict"


def test_an_http_request_refused_per_request_agrees_with_an_l7_prediction() -> None:
    l7 = SimpleNamespace(code="MGW101")
    works = SimpleNamespace(ok=True, paths=(PREDICTED,), problems=(l7,))
    refused = attrs.evolve(_conn(ok=False), status=403, error="HTTP 403 Forbidden")
    assert compare(refused, works).agrees
    # ... but only where the trace put it, and only for a 403 under an L7 intention
    assert not compare(attrs.evolve(refused, hops=REAL[:1]), works).agrees
    assert not compare(attrs.evolve(refused, status=503), works).agrees
    plain = SimpleNamespace(ok=True, paths=(PREDICTED,), problems=())
    assert not compare(refused, plain).agrees
