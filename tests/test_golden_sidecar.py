"""meshgw's sidecar output against Consul's own goldens.

Consul's [DC] fixtures ``failover-through-remote-gateway`` and
``failover-through-local-gateway`` are rebuilt as mesh files (tests/golden/sidecar/) and
translated; the goldens (hashicorp/consul:agent/xds/testdata, read from the project's
reference ``../shared/reference/consul-goldens/``; the tests skip without it) are
normalised -- DiscoveryResponse unwrapped,
camelCase keys made snake_case, the top-level ``@type`` dropped, TLS certificate material
replaced by a token on both sides -- and then changed by the deliberate differences listed
in ``EXPECTED_DIFFS``, each of which must apply. After that the two must be equal: any other
difference fails.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import meshgw
from meshgw.errors import MeshgwWarning
from meshgw.testing import TestPKI, assert_envoy_accepts, make_test_pki

HERE = Path(__file__).parent
FIXTURES = HERE / "golden" / "sidecar"
TRUST_DOMAIN = "11111111-2222-3333-4444-555555555555.consul"
GEO_CACHE = f"geo-cache.default.dc1.query.{TRUST_DOMAIN}"

# (fixture, golden case, resource types Consul has goldens for)
CASES = {
    "remote": (
        "failover-through-remote-gateway.hcl",
        "connect-proxy-with-tcp-chain-failover-through-remote-gateway",
        ("clusters", "listeners", "endpoints"),
    ),
    "local": (
        "failover-through-local-gateway.hcl",
        "connect-proxy-with-tcp-chain-failover-through-local-gateway",
        ("clusters", "endpoints"),
    ),
}

CERT_TOKEN = "<leaf certificate and key>"
CA_TOKEN = "<CA bundle>"

Resources = dict[str, list[dict[str, Any]]]

# --------------------------------------------------------------------------- normalising

_CAMEL = re.compile(r"(?<=[a-z0-9])([A-Z])")


def _snake_keys(value: Any) -> Any:
    """camelCase keys → snake_case (keys only). ``@type`` and map keys naming extensions
    (they contain dots) are kept."""
    if isinstance(value, dict):
        return {
            (k if k.startswith("@") or "." in k else _CAMEL.sub(r"_\1", k).lower()): _snake_keys(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_snake_keys(v) for v in value]
    return value


def load_golden(goldens: Path, kind: str, case: str) -> list[dict[str, Any]]:
    doc = json.loads((goldens / f"{kind}-{case}.json").read_text(encoding="utf-8"))
    resources = []
    for resource in doc.get("resources", []):  # absent when empty
        resource = _snake_keys(resource)
        resource.pop("@type", None)
        resources.append(resource)
    return resources


def _tls_contexts(value: Any) -> list[dict[str, Any]]:
    """Every ``common_tls_context`` under ``value``."""
    found = []
    if isinstance(value, dict):
        if isinstance(value.get("common_tls_context"), dict):
            found.append(value["common_tls_context"])
        for item in value.values():
            found.extend(_tls_contexts(item))
    elif isinstance(value, list):
        for item in value:
            found.extend(_tls_contexts(item))
    return found


def tokenise_tls(resources: list[dict[str, Any]]) -> list[tuple[Any, Any]]:
    """Replace certificate material (inline PEM in Consul's goldens, file references in
    meshgw's output) by tokens, in place; returns what was replaced."""
    replaced = []
    for context in _tls_contexts(resources):
        replaced.append((context["tls_certificates"], context["validation_context"]["trusted_ca"]))
        context["tls_certificates"] = CERT_TOKEN
        context["validation_context"]["trusted_ca"] = CA_TOKEN
    return replaced


# --------------------------------------------------------------------------- expected diffs


def _typed_san(golden: Resources) -> int:
    """Envoy 1.40 deprecates ``match_subject_alt_names`` (Consul's goldens, Envoy 1.26):
    meshgw writes the same exact URI matchers as ``match_typed_subject_alt_names``."""
    count = 0
    for context in _tls_contexts(golden):
        validation = context["validation_context"]
        if "match_subject_alt_names" in validation:
            validation["match_typed_subject_alt_names"] = [
                {"san_type": "URI", "matcher": m} for m in validation.pop("match_subject_alt_names")
            ]
            count += 1
    return count


def _query_san(golden: Resources) -> int:
    """Prepared query geo-cache: meshgw cannot evaluate it offline, so its cluster accepts
    any SPIFFE ID of the trust domain instead of those of the query's results."""
    count = 0
    for cluster in golden.get("clusters", []):
        if cluster["name"] == GEO_CACHE:
            for context in _tls_contexts(cluster):
                context["validation_context"]["match_typed_subject_alt_names"] = [
                    {"san_type": "URI", "matcher": {"prefix": f"spiffe://{TRUST_DOMAIN}/"}}
                ]
                count += 1
    return count


def _query_endpoints(golden: Resources) -> int:
    """Prepared query geo-cache: no endpoints (an empty ClusterLoadAssignment, with a
    MeshgwWarning) instead of the query's results."""
    count = 0
    for cla in golden.get("endpoints", []):
        if cla["cluster_name"] == GEO_CACHE:
            cla["endpoints"] = []
            count += 1
    return count


#: Every deliberate difference from Consul's goldens, applied to the golden side in order
#: (docs/sidecar.md lists them too).
EXPECTED_DIFFS: list[tuple[str, Callable[[Resources], int]]] = [
    ("match_typed_subject_alt_names", _typed_san),
    ("prepared query SAN", _query_san),
    ("prepared query endpoints", _query_endpoints),
]


# --------------------------------------------------------------------------- tests


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPKI:
    return make_test_pki(tmp_path_factory.mktemp("pki"), TRUST_DOMAIN, [("web", "dc1")])


def _mesh(fixture: str, pki: TestPKI, tmp_path: Path) -> meshgw.Mesh:
    tls = tmp_path / "tls.json"
    tls.write_text(
        json.dumps(
            {
                "mesh_tls": {
                    "ca_file": pki.ca_file,
                    "cert_file": f"{pki.directory}/{{service}}-{{datacenter}}.pem",
                    "key_file": f"{pki.directory}/{{service}}-{{datacenter}}-key.pem",
                }
            }
        )
    )
    return meshgw.load(FIXTURES / fixture, tls)


def _translate(mesh: meshgw.Mesh) -> Resources:
    with pytest.warns(MeshgwWarning, match="prepared query"):
        return meshgw.translate(mesh.service("web-sidecar-proxy"), mesh, missing="warn")


@pytest.mark.parametrize("flavour", sorted(CASES))
def test_matches_consul_golden(
    flavour: str, pki: TestPKI, tmp_path: Path, consul_goldens: Path
) -> None:
    fixture, case, kinds = CASES[flavour]
    ours = _translate(_mesh(fixture, pki, tmp_path))
    golden: Resources = {kind: load_golden(consul_goldens, kind, case) for kind in kinds}
    mine: Resources = {kind: copy.deepcopy(ours[kind]) for kind in kinds}

    # Certificates: Consul inlines PEM; meshgw references the files mesh_tls names.
    cert, key = pki.leaves["web", "dc1"]
    expected_refs = (
        [{"certificate_chain": {"filename": cert}, "private_key": {"filename": key}}],
        {"filename": pki.ca_file},
    )
    refs = tokenise_tls(list(mine.values()))  # type: ignore[arg-type]
    assert refs and all(ref == expected_refs for ref in refs)
    tokenise_tls(list(golden.values()))  # type: ignore[arg-type]

    for what, apply in EXPECTED_DIFFS:
        applied = apply(golden)
        expected_somewhere = what != "RBAC allows the mesh" or "listeners" in kinds
        assert applied or not expected_somewhere, f"expected diff {what!r} no longer applies"

    for kind in kinds:
        key_name = "cluster_name" if kind == "endpoints" else "name"
        assert [r[key_name] for r in mine[kind]] == [r[key_name] for r in golden[kind]], kind
        for m, g in zip(mine[kind], golden[kind], strict=True):
            assert m == g, f"{kind} {m[key_name]}"


@pytest.mark.parametrize("flavour", sorted(CASES))
def test_failover_target_endpoints_follow_the_mode(
    flavour: str, pki: TestPKI, tmp_path: Path
) -> None:
    fixture, _, _ = CASES[flavour]
    out = _translate(_mesh(fixture, pki, tmp_path))
    cla = {c["cluster_name"]: c for c in out["endpoints"]}
    child = cla[f"failover-target~1~db.default.dc1.internal.{TRUST_DOMAIN}"]
    addresses = [
        (
            e["endpoint"]["address"]["socket_address"]["address"],
            e["endpoint"]["address"]["socket_address"]["port_value"],
        )
        for e in child["endpoints"][0]["lb_endpoints"]
    ]
    if flavour == "remote":  # dc2's gateways at their WAN addresses
        assert addresses == [("198.18.1.1", 443), ("198.18.1.2", 443)]
    else:  # dc1's gateways at their service address, never the lan tag (10.0.1.x)
        assert addresses == [("10.10.1.1", 8443), ("10.10.1.2", 8443)]


@pytest.mark.envoy
@pytest.mark.parametrize("flavour", sorted(CASES))
def test_envoy_accepts_golden_topologies(flavour: str, pki: TestPKI, tmp_path: Path) -> None:
    fixture, _, _ = CASES[flavour]
    assert_envoy_accepts(_translate(_mesh(fixture, pki, tmp_path)), reject_deprecated=True)
