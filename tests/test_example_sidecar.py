"""The Consul documentation example (examples/two-dc): web-sidecar-proxy in dc1 with three
upstreams in dc2, one per mesh gateway mode."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import meshgw
from meshgw.naming import customization_hash
from meshgw.testing import TestPKI, assert_envoy_accepts, make_test_pki

EXAMPLE = Path(__file__).parent.parent / "examples" / "two-dc"
TD = "7d6c6a53-2b5e-4f8e-9f1d-2a9f1c3b4e5d.consul"

# Cluster names, with the prefix Consul's chain compiler adds when the upstream's own mode
# differs from the mode the chain derives for the target. Every upstream sets its mode
# (layer 1), so that is the override; the chain's own mode comes from proxy-defaults
# (mode "local"): the registration's proxy-level "remote" is overridden by each upstream.
#   api   upstream local  == chain local  -> not customized: the plain SNI
#   db    upstream remote != chain local  -> mode-only "remote": dd412229 (Consul's
#         case-gateways-remote integration test asserts this value)
#   redis upstream none   != chain local  -> mode-only "none": fc9afadf (same algorithm;
#         no Consul test shows this value)
API = f"api.default.dc2.internal.{TD}"
DB = f"dd412229~db.default.dc2.internal.{TD}"
REDIS = f"fc9afadf~redis.default.dc2.internal.{TD}"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPKI:
    return make_test_pki(tmp_path_factory.mktemp("pki"), TD, [("web", "dc1")])


@pytest.fixture
def out(pki: TestPKI, tmp_path: Path) -> dict[str, list[dict[str, Any]]]:
    cert, key = pki.leaves["web", "dc1"]
    tls = tmp_path / "tls.hcl"
    tls.write_text(
        f'mesh_tls {{\n  ca_file = "{pki.ca_file}"\n  cert_file = "{cert}"\n'
        f'  key_file = "{key}"\n}}\n'
    )
    mesh = meshgw.load(EXAMPLE, tls)
    return meshgw.translate(mesh.service("web-sidecar-proxy"), mesh)


def _addresses(cla: dict[str, Any]) -> list[tuple[str, int]]:
    return [
        (
            lb["endpoint"]["address"]["socket_address"]["address"],
            lb["endpoint"]["address"]["socket_address"]["port_value"],
        )
        for group in cla["endpoints"]
        for lb in group["lb_endpoints"]
    ]


def test_prefixes_are_the_customization_hashes() -> None:
    assert DB.split("~")[0] == customization_hash("remote")
    assert REDIS.split("~")[0] == customization_hash("none")


def test_cluster_and_listener_names(out: dict[str, list[dict[str, Any]]]) -> None:
    assert [c["name"] for c in out["clusters"]] == [API, DB, REDIS, "local_app"]
    listeners = {
        listener["name"]: listener["filter_chains"][0]["filters"][-1]["typed_config"]["cluster"]
        for listener in out["listeners"]
    }
    assert listeners == {
        "api?dc=dc2:127.0.0.1:10000": API,
        "db?dc=dc2:127.0.0.1:10001": DB,
        "redis?dc=dc2:127.0.0.1:10002": REDIS,
        "public_listener:0.0.0.0:8181": "local_app",
    }


def test_endpoints_follow_each_mode(out: dict[str, list[dict[str, Any]]]) -> None:
    cla = {c["cluster_name"]: c for c in out["endpoints"]}
    # api, mode local: dc1's mesh gateway at its LAN address. (The example registers that
    # gateway both as the agent's service and in the catalog, which meshgw's catalog view
    # counts as two instances of one address; hence the set.)
    assert set(_addresses(cla[API])) == {("10.1.0.5", 8443)}
    # db, mode remote: dc2's gateways at their WAN addresses.
    assert _addresses(cla[DB]) == [("198.18.2.5", 443), ("198.18.2.6", 443)]
    # redis, mode none: the dc2 redis sidecar directly, WAN-preferred (no WAN address
    # given, so the node address) and the sidecar's port.
    assert _addresses(cla[REDIS]) == [("10.2.1.11", 21000)]


def test_tls_identities(out: dict[str, list[dict[str, Any]]], pki: TestPKI) -> None:
    for cluster in out["clusters"][:3]:
        context = cluster["transport_socket"]["typed_config"]
        service = context["sni"].split(".")[0]
        assert context["sni"] == f"{service}.default.dc2.internal.{TD}"
        validation = context["common_tls_context"]["validation_context"]
        assert validation["trusted_ca"] == {"filename": pki.ca_file}
        assert validation["match_typed_subject_alt_names"] == [
            {
                "san_type": "URI",
                "matcher": {"exact": f"spiffe://{TD}/ns/default/dc/dc2/svc/{service}"},
            }
        ]
    assert "PRIVATE KEY" not in json.dumps(out)


@pytest.mark.envoy
def test_envoy_accepts_the_example(out: dict[str, list[dict[str, Any]]]) -> None:
    assert_envoy_accepts(out, reject_deprecated=True)
