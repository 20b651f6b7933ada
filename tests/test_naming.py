"""Tests for meshgw.naming: every format, checked against names in Consul's goldens."""

from __future__ import annotations

import re
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meshgw import naming
from meshgw.errors import TranslationError
from meshgw.naming import (
    EXPORTED_PREFIX,
    customization_hash,
    customized_cluster_name,
    exported_cluster_name,
    failover_target_name,
    gateway_key,
    gateway_sni,
    listener_name,
    mesh_gateway_local_peered_stat_prefix,
    mesh_gateway_local_peering_server_stat_prefix,
    mesh_gateway_local_server_stat_prefix,
    mesh_gateway_local_stat_prefix,
    mesh_gateway_remote_peering_servers_stat_prefix,
    mesh_gateway_remote_stat_prefix,
    ms_duration,
    ns_duration,
    peered_cluster_name,
    peered_service_sni,
    peering_server_sni,
    query_sni,
    server_sni,
    service_sni,
    socket_listener_name,
    spiffe_id,
    stat_prefix,
    upstream_envoy_id,
    upstream_peered_stat_prefix,
    upstream_prepared_query_stat_prefix,
    upstream_stat_prefix,
)

# The trust domain of every Consul golden.
TD = "11111111-2222-3333-4444-555555555555.consul"


class TestSNI:
    def test_service_default_partition(self) -> None:
        # golden clusters-mesh-gateway: local service clusters
        assert service_sni("bar", "", "", "dc1", TD) == f"bar.default.dc1.internal.{TD}"
        assert service_sni("db", "default", "default", "dc2", TD) == f"db.default.dc2.internal.{TD}"

    def test_service_subset(self) -> None:
        # golden clusters-mesh-gateway-service-subsets
        assert (
            service_sni("bar", "", "", "dc1", TD, subset="v1")
            == f"v1.bar.default.dc1.internal.{TD}"
        )

    def test_service_non_default_partition(self) -> None:
        assert service_sni("db", "ns1", "ap1", "dc2", TD) == f"db.ns1.ap1.dc2.internal-v1.{TD}"
        assert (
            service_sni("db", "", "ap1", "dc2", TD, subset="v2")
            == f"v2.db.default.ap1.dc2.internal-v1.{TD}"
        )

    def test_service_namespace(self) -> None:
        assert service_sni("db", "team", "", "dc1", TD) == f"db.team.dc1.internal.{TD}"

    def test_gateway(self) -> None:
        # golden clusters-mesh-gateway: remote DC clusters; listener server names "*.<this>"
        assert gateway_sni("dc2", "", TD) == f"dc2.internal.{TD}"
        assert gateway_sni("dc2", "default", TD) == f"dc2.internal.{TD}"
        assert gateway_sni("dc2", "ap1", TD) == f"ap1.dc2.internal-v1.{TD}"

    def test_peered_service_always_has_partition(self) -> None:
        # golden listeners-mesh-gateway-with-exported-peered-services: server names
        assert (
            peered_service_sni("bar", "", "", "peer-a", TD)
            == f"bar.default.default.peer-a.external.{TD}"
        )
        assert (
            peered_service_sni("db", "ns", "ap1", "peer-b", TD) == f"db.ns.ap1.peer-b.external.{TD}"
        )

    def test_peered_cluster_name_has_no_partition(self) -> None:
        peer_td = "1c053652-8512-4373-90cf-5a7f6263a994.consul"
        assert peered_cluster_name("payments", "", "cloud", peer_td) == (
            f"payments.default.cloud.external.{peer_td}"
        )

    def test_query(self) -> None:
        # golden clusters-connect-proxy-with-tcp-chain-failover-through-remote-gateway
        assert query_sni("geo-cache", "dc1", TD) == f"geo-cache.default.dc1.query.{TD}"

    @pytest.mark.parametrize(
        ("node", "domain", "expected"),
        [
            ("", "consul", "server.dc2.consul"),
            ("*", "consul", "server.dc2.consul"),
            ("node1", "consul", "node1.server.dc2.consul"),
            ("", "consul.", "server.dc2.consul"),
            ("", "example.com.", "server.dc2.example.com"),
            ("", "", "server.dc2.consul"),
        ],
    )
    def test_server(self, node: str, domain: str, expected: str) -> None:
        assert server_sni("dc2", domain, node) == expected

    def test_peering_server(self) -> None:
        # golden clusters-mesh-gateway-peering-control-plane
        assert peering_server_sni("dc1", TD) == f"server.dc1.peering.{TD}"

    def test_trust_domain_is_lowercased_and_fixed(self) -> None:
        assert naming.cluster_trust_domain("ABCDEF-1234") == "abcdef-1234.consul"

    @pytest.mark.parametrize(
        "call",
        [
            lambda: service_sni("", "", "", "dc1", TD),
            lambda: service_sni("db", "", "", "", TD),
            lambda: service_sni("db", "", "", "dc1", ""),
            lambda: gateway_sni("", "", TD),
            lambda: peered_service_sni("db", "", "", "", TD),
            lambda: peered_cluster_name("db", "", "", TD),
            lambda: query_sni("q", "", TD),
            lambda: server_sni("", "consul"),
            lambda: spiffe_id("db", "", "", "dc1", ""),
            lambda: naming.cluster_trust_domain(""),
        ],
    )
    def test_empty_required_part_is_an_error(self, call: object) -> None:
        assert callable(call)
        with pytest.raises(TranslationError, match="is empty"):
            call()


class TestSpiffe:
    def test_default_partition(self) -> None:
        # golden connect-proxy-with-tcp-chain-failover-through-remote-gateway (SAN matcher)
        assert spiffe_id("db", "", "", "dc2", TD) == (
            "spiffe://11111111-2222-3333-4444-555555555555.consul/ns/default/dc/dc2/svc/db"
        )
        assert spiffe_id("geo-cache-target", "default", "default", "dc1", TD) == (
            f"spiffe://{TD}/ns/default/dc/dc1/svc/geo-cache-target"
        )

    def test_partition_prefix(self) -> None:
        assert (
            spiffe_id("db", "ns1", "ap1", "dc1", TD) == f"spiffe://{TD}/ap/ap1/ns/ns1/dc/dc1/svc/db"
        )


class TestGatewayKey:
    def test_forms(self) -> None:
        assert gateway_key("dc2") == "dc2"
        assert gateway_key("dc2", "default") == "dc2"
        assert gateway_key("dc2", "ap1") == "ap1.dc2"


class TestCustomizationHash:
    @pytest.mark.parametrize(
        ("kwargs", "expected"),
        [
            # Consul integration tests case-gateways-local / case-gateways-remote
            ({"mode": "local"}, "c225dc1c"),
            ({"mode": "remote"}, "dd412229"),
            # golden connect-proxy-with-chain-and-overrides
            ({"mode": "local", "protocol": "grpc", "connect_timeout_ns": 66 * 10**9}, "78ebd528"),
            # same algorithm; no Consul golden shows it
            ({"mode": "none"}, "fc9afadf"),
        ],
    )
    def test_golden_values(self, kwargs: dict[str, object], expected: str) -> None:
        assert customization_hash(**kwargs) == expected  # type: ignore[arg-type]

    def test_accepts_str_enums(self) -> None:
        from meshgw.model.common import GatewayMode

        assert customization_hash(GatewayMode.LOCAL) == "c225dc1c"

    def test_reference_algorithm(self) -> None:
        # An independent transcription of the algorithm in consul-output.md section 1.4.
        mask = (1 << 64) - 1

        def fnv64(data: bytes) -> int:
            h = 0xCBF29CE484222325
            for c in data:
                h = ((h * 0x100000001B3) & mask) ^ c
            return h

        def s(x: str) -> int:
            return fnv64(x.encode())

        def pair(a: int, b: int) -> int:
            return fnv64(struct.pack("<QQ", a, b))

        mgw = s("MeshGatewayConfig") ^ pair(s("Mode"), s("remote"))
        top = (
            s("")
            ^ pair(s("OverrideMeshGateway"), mgw)
            ^ pair(s("OverrideProtocol"), s("http"))
            ^ pair(s("OverrideConnectTimeout"), fnv64(struct.pack("<q", 1_000_000_000)))
        )
        assert customization_hash("remote", "http", 1_000_000_000) == f"{top:x}"[:8]

    @given(
        mode=st.sampled_from(["", "none", "local", "remote"]) | st.text(max_size=20),
        protocol=st.sampled_from(["", "tcp", "http", "http2", "grpc"]) | st.text(max_size=20),
        timeout=st.integers(min_value=-(2**63), max_value=2**63 - 1),
    )
    def test_always_8_lowercase_hex(self, mode: str, protocol: str, timeout: int) -> None:
        # "First 8 characters of the unpadded %x": only a 64-bit hash below 16**7 (odds
        # 2**-36) has fewer than 8 hex digits, and then the whole shorter string comes
        # back. Hypothesis will not find one, so every drawn case has exactly 8.
        assert re.fullmatch(r"[0-9a-f]{8}", customization_hash(mode, protocol, timeout))

    def test_short_hex_is_not_padded(self, monkeypatch: pytest.MonkeyPatch) -> None:
        # Force a hash whose hex is shorter than 8 digits: the unpadded hex is returned
        # whole (Go would panic slicing it), never zero-padded.
        monkeypatch.setattr(naming, "_hash_struct", lambda name, fields: 0xABC)
        assert customization_hash("local") == "abc"
        # and a hash whose hex has 9..15 digits keeps its first 8 (no padding to 16).
        monkeypatch.setattr(naming, "_hash_struct", lambda name, fields: 0x123456789)
        assert customization_hash("local") == "12345678"

    def test_timeout_out_of_int64(self) -> None:
        with pytest.raises(TranslationError, match="int64"):
            customization_hash("local", "", 2**63)


class TestClusterNames:
    def test_customized(self) -> None:
        base = f"db.default.dc1.internal.{TD}"
        # golden connect-proxy-with-chain-and-overrides
        assert customized_cluster_name("78ebd528", base) == f"78ebd528~{base}"
        assert customized_cluster_name("", base) == base

    def test_failover_targets(self) -> None:
        base = f"db.default.dc1.internal.{TD}"
        # golden clusters-connect-proxy-with-tcp-chain-failover-through-remote-gateway
        assert failover_target_name(0, base) == f"failover-target~0~{base}"
        assert failover_target_name(1, base) == f"failover-target~1~{base}"
        with pytest.raises(TranslationError, match=r"^failover target index must be >= 0, got -1$"):
            failover_target_name(-1, base)

    def test_exported(self) -> None:
        # golden clusters-mesh-gateway-with-exported-peered-services
        assert EXPORTED_PREFIX == "exported~"
        assert exported_cluster_name(f"bar.default.dc1.internal.{TD}") == (
            f"exported~bar.default.dc1.internal.{TD}"
        )


class TestListenerNames:
    @pytest.mark.parametrize(
        ("args", "expected"),
        [
            (("default", "1.2.3.4", 8443), "default:1.2.3.4:8443"),
            (("wan", "198.18.0.1", 443), "wan:198.18.0.1:443"),
            (("bar", "2001:db8::ff", 9999), "bar:2001:db8::ff:9999"),  # IPv6, no brackets
            (("public_listener", "0.0.0.0", 9999), "public_listener:0.0.0.0:9999"),
            (("db", "127.0.0.1", 9191), "db:127.0.0.1:9191"),
        ],
    )
    def test_listener_name(self, args: tuple[str, str, int], expected: str) -> None:
        assert listener_name(*args) == expected

    def test_socket(self) -> None:
        assert socket_listener_name("db", "/run/db.sock") == "db:/run/db.sock"

    def test_upstream_envoy_id(self) -> None:
        assert upstream_envoy_id("db") == "db"
        assert upstream_envoy_id("db", datacenter="dc2") == "db?dc=dc2"
        assert upstream_envoy_id("payments", peer="cloud") == "payments?peer=cloud"
        # peer wins over datacenter, as in Consul's EnvoyID
        assert (
            upstream_envoy_id("payments", peer="cloud", datacenter="dc2") == "payments?peer=cloud"
        )
        assert upstream_envoy_id("geo-cache", destination_type="prepared_query") == (
            "prepared_query:geo-cache"
        )
        assert upstream_envoy_id("db", destination_type="") == "db"
        # golden listener names built from them
        assert listener_name(
            upstream_envoy_id("geo-cache", destination_type="prepared_query"), "127.10.10.10", 8181
        ) == ("prepared_query:geo-cache:127.10.10.10:8181")
        assert listener_name(upstream_envoy_id("payments", peer="cloud"), "127.0.0.1", 9090) == (
            "payments?peer=cloud:127.0.0.1:9090"
        )

    def test_upstream_envoy_id_unknown_type(self) -> None:
        with pytest.raises(TranslationError, match="destination_type"):
            upstream_envoy_id("db", destination_type="query")


class TestStatPrefixes:
    def test_make_stat_prefix(self) -> None:
        assert (
            stat_prefix("upstream.", "prepared_query:geo-cache")
            == "upstream.prepared_query_geo-cache"
        )
        assert stat_prefix("p.", "a:b:c") == "p.a_b_c"
        assert stat_prefix("keep:", "x") == "keep:x"  # only the filter name is rewritten

    def test_mesh_gateway(self) -> None:
        # goldens listeners-mesh-gateway*, listeners-mesh-gateway-peering-control-plane
        assert mesh_gateway_local_stat_prefix("default") == "mesh_gateway_local.default"
        assert mesh_gateway_local_stat_prefix("wan") == "mesh_gateway_local.wan"
        assert (
            mesh_gateway_remote_stat_prefix("default", "dc2") == "mesh_gateway_remote.default.dc2"
        )
        assert mesh_gateway_remote_stat_prefix("lan", "dc6") == "mesh_gateway_remote.lan.dc6"
        assert (
            mesh_gateway_remote_stat_prefix("wan", "dc2", "ap1")
            == "mesh_gateway_remote.wan.ap1.dc2"
        )
        assert mesh_gateway_local_server_stat_prefix("default", "dc1") == (
            "mesh_gateway_local_server.default.dc1"
        )
        assert mesh_gateway_local_peering_server_stat_prefix("default", "dc1") == (
            "mesh_gateway_local_peering_server.default.dc1"
        )
        assert mesh_gateway_remote_peering_servers_stat_prefix("server.dc2.peering.x.consul") == (
            "mesh_gateway_remote_peering_servers.server.dc2.peering.x.consul"
        )
        assert mesh_gateway_local_peered_stat_prefix("bar", "", "", "dc1") == (
            "mesh_gateway_local_peered.bar.default.default.dc1"
        )

    def test_sidecar(self) -> None:
        # golden listeners-connect-proxy-with-tcp-chain-failover-through-remote-gateway
        assert upstream_stat_prefix("db", "", "", "dc1") == "upstream.db.default.default.dc1"
        assert (
            upstream_prepared_query_stat_prefix("geo-cache") == "upstream.prepared_query_geo-cache"
        )
        assert upstream_prepared_query_stat_prefix("geo-cache", "dc2") == (
            "upstream.prepared_query_geo-cache?dc=dc2"
        )
        assert upstream_peered_stat_prefix("payments", "", "cloud") == (
            "upstream_peered.payments.default.cloud"
        )
        assert naming.PUBLIC_LISTENER == "public_listener"
        assert naming.CONNECT_AUTHZ_STAT_PREFIX == "connect_authz"
        assert naming.LOCAL_APP_CLUSTER == "local_app"


class TestDurations:
    @pytest.mark.parametrize(
        ("ms", "expected"),
        [
            (5000, "5s"),
            (33000, "33s"),
            (1500, "1.500s"),
            (1, "0.001s"),
            (0, "0s"),
            (-1500, "-1.500s"),
            (66000, "66s"),
        ],
    )
    def test_ms(self, ms: int, expected: str) -> None:
        assert ms_duration(ms) == expected

    @pytest.mark.parametrize(
        ("ns", "expected"),
        [
            (5 * 10**9, "5s"),
            (1_500_000_000, "1.500s"),
            (1_000, "0.000001s"),
            (1_234_567_000, "1.234567s"),
            (1, "0.000000001s"),
            (10**9 + 10, "1.000000010s"),
            (-500_000_000, "-0.500s"),
        ],
    )
    def test_ns(self, ns: int, expected: str) -> None:
        assert ns_duration(ns) == expected

    @given(st.integers(min_value=-(10**12), max_value=10**12))
    def test_ms_round_trips(self, ms: int) -> None:
        text = ms_duration(ms)
        assert re.fullmatch(r"-?\d+(\.\d{3}|\.\d{6}|\.\d{9})?s", text)
        assert round(float(text[:-1]) * 1000) == ms

    def test_invalid(self) -> None:
        with pytest.raises(
            TranslationError, match=r"^a duration must be a whole number of ms, got 1\.5$"
        ):
            ms_duration(1.5)  # type: ignore[arg-type]
        with pytest.raises(
            TranslationError, match=r"^a duration must be a whole number of ns, got True$"
        ):
            ns_duration(True)
        with pytest.raises(TranslationError, match="out of range"):
            ms_duration(315_576_000_001_000)


def test_all_lists_documented_names_of_this_module() -> None:
    # __all__ is curated (the addressing names); the stat-prefix and duration helpers stay
    # module-level for meshgw's builders but are not exported.
    defined = {
        name
        for name, value in vars(naming).items()
        if not name.startswith("_")
        and getattr(value, "__module__", naming.__name__) == naming.__name__
        and (callable(value) or name.isupper())
    }
    assert set(naming.__all__) <= defined
    for name in naming.__all__:
        value = getattr(naming, name)
        assert name.isupper() or (value.__doc__ or "").strip(), name
