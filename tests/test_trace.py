"""meshgw.trace: paths through the generated Envoy configuration, and what stops them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import meshgw

ROOT = Path(__file__).resolve().parents[1]
TD = "7d6c6a53-2b5e-4f8e-9f1d-2a9f1c3b4e5d.consul"

GATEWAY_DC1 = """
service {
  kind = "mesh-gateway"
  name = "mesh-gateway"
  port = 8443
  address = "10.1.0.5"
  tagged_addresses {
    lan { address = "10.1.0.5" port = 8443 }
    wan { address = "198.18.1.5" port = 443 }
  }
}
"""

HEAD = f"""
datacenter = "dc1"
primary_datacenter = "dc1"
trust_domain = "{TD}"
advertise_addr = "10.1.0.9"
"""


def web(*upstreams: str, extra: str = "") -> str:
    return f"""
service {{
  name = "web-sidecar-proxy"
  kind = "connect-proxy"
  port = 8181
  proxy {{
    destination_service_name = "web"
    local_service_port = 9090
    {extra}
    upstreams = [{", ".join(upstreams)}]
  }}
}}
"""


def up(name: str, port: int, mode: str = "", dc: str = "dc2", extra: str = "") -> str:
    mgw = f'mesh_gateway {{ mode = "{mode}" }}' if mode else ""
    where = f'datacenter = "{dc}", ' if dc else ""
    return f'{{ destination_name = "{name}", {where}local_bind_port = {port}, {mgw} {extra} }}'


def gw(dc: str, n: int, address: str, wan: str, status: str = "passing") -> str:
    return f"""{{ datacenter = "{dc}", node = "{dc}-gw-{n}", address = "{address}",
    service = {{ kind = "mesh-gateway", service = "mesh-gateway", port = 8443,
                tagged_addresses = {{ wan = {{ address = "{wan}", port = 443 }} }} }},
    checks = [{{ check_id = "alive", status = "{status}" }}] }}"""


def sidecar(dc: str, svc: str, address: str, port: int = 21000, status: str = "passing") -> str:
    return f"""{{ datacenter = "{dc}", node = "{dc}-{svc}-{address}", address = "{address}",
    service = {{ kind = "connect-proxy", service = "{svc}-sidecar-proxy", port = {port},
                proxy = {{ destination_service_name = "{svc}", local_service_port = 8080 }} }},
    checks = [{{ check_id = "alive", status = "{status}" }}] }}"""


DC2_GATEWAYS = [gw("dc2", 1, "10.2.0.5", "198.18.2.5"), gw("dc2", 2, "10.2.0.6", "198.18.2.6")]
DC3_GATEWAYS = [gw("dc3", 1, "10.3.0.5", "198.18.3.5")]


def mesh(*parts: str, catalog: list[str] | tuple[str, ...] = (), extra: str = "") -> meshgw.Mesh:
    text = HEAD + "".join(parts) + extra + f"\ncatalog = [{', '.join(catalog)}]\n"
    return meshgw.loads(text, format="hcl", name="mesh.hcl")


def codes(t: meshgw.Trace) -> list[str]:
    return [p.code for p in t.problems]


def route(path: tuple[meshgw.Hop, ...]) -> list[tuple[str, str, str]]:
    return [(h.datacenter, h.proxy, h.address) for h in path]


def sni(service: str, dc: str) -> str:
    return f"{service}.default.{dc}.internal.{TD}"


# --------------------------------------------------------------------------- paths


@pytest.mark.parametrize("mode", ["local", "remote", "none"])
def test_each_mode_takes_its_path(mode: str) -> None:
    m = mesh(
        GATEWAY_DC1,
        web(up("api", 10000, mode)),
        catalog=[*DC2_GATEWAYS, sidecar("dc2", "api", "10.2.1.10")],
    )
    t = meshgw.trace(m, "web-sidecar-proxy", "api")
    assert t.ok and not t.problems, t.render()
    expected = {
        "local": [
            [
                ("dc1", "web-sidecar-proxy", ""),
                ("dc1", "mesh-gateway", "10.1.0.5:8443"),
                ("dc2", "mesh-gateway", f"198.18.2.{n}:443"),
                ("dc2", "api-sidecar-proxy", "10.2.1.10:21000"),
            ]
            for n in (5, 6)
        ],
        "remote": [
            [
                ("dc1", "web-sidecar-proxy", ""),
                ("dc2", "mesh-gateway", f"198.18.2.{n}:443"),
                ("dc2", "api-sidecar-proxy", "10.2.1.10:21000"),
            ]
            for n in (5, 6)
        ],
        "none": [
            [("dc1", "web-sidecar-proxy", ""), ("dc2", "api-sidecar-proxy", "10.2.1.10:21000")]
        ],
    }[mode]
    assert [route(p) for p in t.paths] == expected
    for path in t.paths:
        assert {h.sni for h in path} == {sni("api", "dc2")}
        assert path[-1].kind == "connect-proxy" and path[-1].cluster == "local_app"
        assert path[-1].listener.startswith("public_listener:")
    if mode == "local":
        assert t.paths[0][1].cluster == f"dc2.internal.{TD}"
        assert t.paths[0][2].cluster == sni("api", "dc2")
    assert "web-sidecar-proxy -> api?dc=dc2: ok" in t.render()


def test_example_two_dc_every_upstream_reaches_dc2() -> None:
    m = meshgw.load(ROOT / "examples" / "two-dc")
    for name, hops in (("api", 4), ("db", 3), ("redis", 2)):
        t = meshgw.trace(m, "web", name)
        assert t.ok, t.render()
        assert {len(p) for p in t.paths} == {hops}
        assert {p[-1].proxy for p in t.paths} == {f"{name}-sidecar-proxy"}


def test_unhealthy_endpoints_are_not_explored() -> None:
    m = mesh(
        GATEWAY_DC1,
        web(up("api", 10000, "remote")),
        catalog=[
            gw("dc2", 2, "10.2.0.6", "198.18.2.6"),
            sidecar("dc2", "api", "10.2.1.10"),
            sidecar("dc2", "api", "10.2.1.11", status="critical"),
        ],
    )
    t = meshgw.trace(m, "web", "api")
    assert t.ok
    assert [route(p)[1:] for p in t.paths] == [
        [("dc2", "mesh-gateway", "198.18.2.6:443"), ("dc2", "api-sidecar-proxy", "10.2.1.10:21000")]
    ]


FAILOVER = """
config_entries {
  bootstrap = [
    { kind = "service-resolver", name = "api", connect_timeout = "2s",
      failover = { "*" = { datacenters = ["dc3"] } } },
  ]
}
"""


def test_failover_children_in_priority_order() -> None:
    m = mesh(
        GATEWAY_DC1,
        web(up("api", 10000, "remote")),
        extra=FAILOVER,
        catalog=[
            *DC2_GATEWAYS,
            *DC3_GATEWAYS,
            sidecar("dc2", "api", "10.2.1.10"),
            sidecar("dc3", "api", "10.3.1.10"),
        ],
    )
    t = meshgw.trace(m, "web", "api")
    assert t.ok, t.render()
    assert [c.split("~")[0] for c in t.targets] == ["failover-target", "failover-target"]
    assert [{p[-1].datacenter for p in level} for level in t.levels] == [{"dc2"}, {"dc3"}]
    assert {p[-1].datacenter for p in t.active} == {"dc2"}
    # single host of dc3's one gateway: default outlier detection never ejects... only
    # the last target may have one host without a warning; dc2 has two gateways.
    assert codes(t) == []
    assert "target 1" in t.render()


def test_failed_over_primary_is_a_warning_and_traffic_goes_to_the_next_target() -> None:
    m = mesh(
        GATEWAY_DC1,
        web(up("api", 10000, "none")),
        extra=FAILOVER,
        catalog=[
            *DC2_GATEWAYS,
            *DC3_GATEWAYS,
            sidecar("dc2", "api", "10.2.1.10", status="critical"),
            sidecar("dc2", "api", "10.2.1.11", status="critical"),
            sidecar("dc3", "api", "10.3.1.10"),
        ],
    )
    t = meshgw.trace(m, "web", "api")
    assert t.ok
    assert codes(t) == ["MGW013"]
    assert "unhealthy" in t.problems[0].message
    assert {p[-1].datacenter for p in t.active} == {"dc3"}


PASSIVE = "config { passive_health_check { max_failures = 3, max_ejection_percent = 100 } }"


def test_single_host_failover_target_never_ejected() -> None:
    m = mesh(
        GATEWAY_DC1,
        web(up("api", 10000, "none")),
        extra=FAILOVER,
        catalog=[
            *DC3_GATEWAYS,
            sidecar("dc2", "api", "10.2.1.10"),
            sidecar("dc3", "api", "10.3.1.10"),
        ],
    )
    t = meshgw.trace(m, "web", "api")
    assert t.ok and codes(t) == ["MGW061"]
    assert "passive_health_check" in t.problems[0].suggestion
    fixed = mesh(
        GATEWAY_DC1,
        web(
            up(
                "api",
                10000,
                "none",
                extra=PASSIVE,
            )
        ),
        extra=FAILOVER,
        catalog=[
            *DC3_GATEWAYS,
            sidecar("dc2", "api", "10.2.1.10"),
            sidecar("dc3", "api", "10.3.1.10"),
        ],
    )
    assert codes(meshgw.trace(fixed, "web", "api")) == []


# --------------------------------------------------------------------------- named problems


def test_unknown_datacenter_service_and_failover_datacenter() -> None:
    m = mesh(
        GATEWAY_DC1,
        web(
            up("api", 10000, "remote", dc="dc9"),
            up("reddis", 10001, "none"),
            up("api", 10002, "none"),
        ),
        extra=FAILOVER.replace('"dc3"', '"dc33"'),
        catalog=[
            *DC2_GATEWAYS,
            sidecar("dc2", "api", "10.2.1.10"),
            sidecar("dc2", "redis", "10.2.1.11"),
        ],
    )
    t = meshgw.trace(m, "web", "api", datacenter="dc9")
    assert not t.ok and "MGW002" in codes(t)
    dc9 = next(p for p in t.problems if p.code == "MGW002")
    assert dc9.suggestion == "did you mean 'dc2'?"
    assert dc9.source is not None and dc9.source.file == "mesh.hcl" and dc9.source.line
    t = meshgw.trace(m, "web", "reddis")
    assert codes(t) == ["MGW001"] and t.problems[0].suggestion == "did you mean 'redis'?"
    t = meshgw.trace(m, "web", "api", datacenter="dc2")
    assert "MGW005" in codes(t) and "'dc33'" in t.problems[0].message


def test_unknown_peer_and_service_not_exported() -> None:
    peers = """
peers = [{ name = "east", trust_domain = "aaaa.consul", remote_name = "west", datacenter = "dc1",
           gateways = [{ address = "203.0.113.5", port = 443 }],
           services = [{ name = "billing" }] }]
"""
    m = mesh(
        GATEWAY_DC1,
        web(
            '{ destination_name = "billing", destination_peer = "eastt", local_bind_port = 10000 }',
            '{ destination_name = "api", destination_peer = "east", local_bind_port = 10001 }',
            '{ destination_name = "billing", destination_peer = "east", local_bind_port = 10002 }',
        ),
        extra=peers,
    )
    t = meshgw.trace(m, "web", "billing", peer="eastt")
    assert codes(t)[0] == "MGW003" and t.problems[0].suggestion == "did you mean 'east'?"
    t = meshgw.trace(m, "web", "api", peer="east")
    assert "MGW004" in codes(t)
    t = meshgw.trace(m, "web", "billing", peer="east")
    assert t.ok and codes(t) == ["MGW090"]
    assert t.paths[0][-1].peer == "east" and t.paths[0][-1].address == "203.0.113.5:443"


def test_mode_local_without_a_local_gateway() -> None:
    m = mesh(
        web(up("api", 10000, "local")), catalog=[*DC2_GATEWAYS, sidecar("dc2", "api", "10.2.1.10")]
    )
    t = meshgw.trace(m, "web", "api")
    assert not t.ok and codes(t) == ["MGW050"]


def test_mode_remote_without_remote_gateways() -> None:
    m = mesh(
        GATEWAY_DC1, web(up("api", 10000, "remote")), catalog=[sidecar("dc2", "api", "10.2.1.10")]
    )
    assert codes(meshgw.trace(m, "web", "api")) == ["MGW051"]


def test_gateway_without_a_route_to_the_datacenter_closes_the_connection() -> None:
    # dc1's gateway knows no dc2 gateway: its catch-all chain names a cluster it lacks.
    m = mesh(
        GATEWAY_DC1, web(up("api", 10000, "local")), catalog=[sidecar("dc2", "api", "10.2.1.10")]
    )
    t = meshgw.trace(m, "web", "api")
    assert codes(t) == ["MGW031"]
    assert "dc2's mesh gateways" in t.problems[0].suggestion


def test_every_endpoint_unhealthy() -> None:
    m = mesh(
        GATEWAY_DC1,
        web(up("api", 10000, "none")),
        catalog=[sidecar("dc2", "api", "10.2.1.10", status="critical")],
    )
    t = meshgw.trace(m, "web", "api")
    assert codes(t) == ["MGW011"] and not t.ok


def test_san_mismatch_when_two_services_share_an_address() -> None:
    m = mesh(
        GATEWAY_DC1,
        web(up("api", 10000, "none")),
        catalog=[sidecar("dc2", "api", "10.2.1.10"), sidecar("dc2", "db", "10.2.1.10")],
    )
    t = meshgw.trace(m, "web", "api")
    assert codes(t) == ["MGW040"] and not t.ok
    assert "svc/db" in t.problems[0].message and len(t.paths) == 1


def test_registered_address_without_a_listener() -> None:
    lost = sidecar("dc2", "api", "10.2.1.10").replace(
        "local_service_port = 8080", "local_service_port = 8080, config = { bind_port = 21999 }"
    )
    m = mesh(GATEWAY_DC1, web(up("api", 10000, "none")), catalog=[lost])
    assert codes(meshgw.trace(m, "web", "api")) == ["MGW021"]


def test_loop_between_gateways() -> None:
    # The catalog puts a "dc2" gateway at dc1's own gateway address.
    m = mesh(
        GATEWAY_DC1,
        web(up("api", 10000, "local")),
        catalog=[
            gw("dc2", 1, "10.1.0.5", "10.1.0.5").replace("port = 443", "port = 8443"),
            sidecar("dc2", "api", "10.2.1.10"),
        ],
    )
    t = meshgw.trace(m, "web", "api")
    assert "MGW080" in codes(t) and not t.ok


def test_upstream_bind_port_collides_with_the_public_port() -> None:
    m = mesh(
        GATEWAY_DC1, web(up("api", 8181, "none")), catalog=[sidecar("dc2", "api", "10.2.1.10")]
    )
    t = meshgw.trace(m, "web", "api")
    assert "MGW070" in codes(t)
    assert "public_listener" in next(p for p in t.problems if p.code == "MGW070").message


def test_endpoint_no_proxy_listens_on() -> None:
    cluster = {
        "@type": "type.googleapis.com/envoy.config.cluster.v3.Cluster",
        "name": "x",
        "type": "STATIC",
        "connect_timeout": "1s",
        "load_assignment": {
            "cluster_name": "x",
            "endpoints": [
                {
                    "lb_endpoints": [
                        {
                            "endpoint": {
                                "address": {
                                    "socket_address": {"address": "10.9.9.9", "port_value": 443}
                                }
                            }
                        }
                    ]
                }
            ],
        },
    }
    hatch = f"config {{ envoy_cluster_json = {json.dumps(json.dumps(cluster))} }}"
    m = mesh(
        GATEWAY_DC1,
        web(up("api", 10000, "none", extra=hatch)),
        catalog=[sidecar("dc2", "api", "10.2.1.10")],
    )
    t = meshgw.trace(m, "web", "api")
    assert codes(t) == ["MGW020"] and "10.9.9.9:443" in t.problems[0].message


# --------------------------------------------------------------------------- the API


def test_lookup_errors_name_what_is_known() -> None:
    m = mesh(
        GATEWAY_DC1,
        web(up("api", 10000, "none"), up("api", 10001, "none", dc="")),
        catalog=[sidecar("dc2", "api", "10.2.1.10")],
    )
    with pytest.raises(meshgw.LookupFailed, match="did you mean 'web-sidecar-proxy'"):
        meshgw.trace(m, "web-sidecar-prox", "api")
    with pytest.raises(meshgw.LookupFailed, match="did you mean 'api'"):
        meshgw.trace(m, "web", "apo")
    with pytest.raises(meshgw.LookupFailed, match="datacenter= or peer="):
        meshgw.trace(m, "web", "api")


def test_trace_is_deterministic_and_serialisable() -> None:
    m = meshgw.load(ROOT / "examples" / "two-dc")
    a, b = meshgw.trace(m, "web", "api"), meshgw.trace(m, "web", "api")
    assert a == b and a.to_dict() == b.to_dict()
    assert a.to_dict()["levels"][0][0][0]["proxy"] == "web-sidecar-proxy"


def test_a_set_of_peered_meshes_is_crossed_to_the_destination() -> None:
    meshes = meshgw.MeshSet.load(ROOT / "examples" / "federation")
    t = meshgw.trace(meshes, "web-sidecar-proxy", "payments")
    assert t.ok and not t.problems, t.render()
    (path,) = t.paths
    assert [(h.peer, h.datacenter, h.proxy) for h in path] == [
        ("", "dc1", "web-sidecar-proxy"),
        ("", "dc1", "mesh-gateway"),
        ("west", "dc3", "mesh-gateway"),
        ("west", "dc3", "payments-sidecar-proxy"),
    ]
    assert path[0].sni.startswith("payments.default.default.east.external.")
    # Without the peer's mesh the path ends, said so, at the peer's gateway.
    alone = meshgw.trace(meshes["east"], "web-sidecar-proxy", "payments")
    assert alone.ok and [p.code for p in alone.problems] == ["MGW090"]
    assert alone.paths[0][-1].peer == "west"
    assert meshgw.check(meshes) == ()


def test_an_upstream_to_its_own_service_ends_at_its_own_public_listener() -> None:
    m = mesh(GATEWAY_DC1, web(up("web", 10001, "none", dc="")))
    t = meshgw.trace(m, "web", "web")
    assert t.ok and not t.problems, t.render()
    assert [route(p) for p in t.paths] == [
        [("dc1", "web-sidecar-proxy", ""), ("dc1", "web-sidecar-proxy", "10.1.0.9:8181")]
    ]


def test_an_http_upstream_follows_its_route_to_the_cluster() -> None:
    http = """
config_entries {
  bootstrap = [{ kind = "service-defaults", name = "api", protocol = "http" }]
}
"""
    m = mesh(
        GATEWAY_DC1,
        web(up("api", 10000, "remote")),
        extra=http,
        catalog=[*DC2_GATEWAYS, sidecar("dc2", "api", "10.2.1.10")],
    )
    listener = next(
        x
        for x in meshgw.translate("web-sidecar-proxy", m)["listeners"]
        if x["name"].startswith("api")
    )
    assert listener["filter_chains"][0]["filters"][0]["name"].endswith("http_connection_manager")
    t = meshgw.trace(m, "web", "api")
    assert t.ok and len(t.paths) == 2, t.render()
    assert {p[-1].proxy for p in t.paths} == {"api-sidecar-proxy"}


# --------------------------------------------------------------------------- meshgw.testing


@pytest.mark.parametrize(
    ("mode", "gateways"), [("local", ["dc1", "dc2"]), ("remote", "dc2"), ("none", [])]
)
def test_assert_routes_through_accepts_the_path_each_mode_takes(
    mode: str, gateways: str | list[str]
) -> None:
    from meshgw.testing import assert_routes_through

    m = mesh(
        GATEWAY_DC1,
        web(up("api", 10000, mode)),
        catalog=[*DC2_GATEWAYS, sidecar("dc2", "api", "10.2.1.10")],
    )
    t = assert_routes_through(m, "web-sidecar-proxy", "api", gateways)
    assert t.ok and t.upstream == "api?dc=dc2"
    wrong, said, actual = {
        "local": (["dc2"], "dc2", "dc1 then dc2"),
        "remote": (["dc1", "dc2"], "dc1 then dc2", "of dc2"),
        "none": (["dc2"], "dc2", "no mesh gateway (direct)"),
    }[mode]
    with pytest.raises(AssertionError) as caught:
        assert_routes_through(m, "web-sidecar-proxy", "api", wrong)
    message = str(caught.value)
    head = f"expected web-sidecar-proxy -> api?dc=dc2 through the mesh gateways of {said}, "
    assert message.startswith(head + "but its paths cross "), message
    assert actual in message.splitlines()[0], message
    assert "path 1" in message  # the trace itself, for the reader


def test_assert_routes_through_fails_when_the_connection_fails() -> None:
    from meshgw.testing import assert_routes_through

    # remote mode with no dc2 gateway in the catalog: nowhere to send the bytes
    m = mesh(
        GATEWAY_DC1, web(up("api", 10000, "remote")), catalog=[sidecar("dc2", "api", "10.2.1.10")]
    )
    with pytest.raises(AssertionError, match="but the connection fails"):
        assert_routes_through(m, "web-sidecar-proxy", "api", "dc2")


def test_assert_routes_through_names_a_peer_mesh_gateway_by_its_peer() -> None:
    from meshgw.testing import assert_routes_through

    meshes = meshgw.MeshSet.load(ROOT / "examples" / "federation")
    assert_routes_through(meshes, "web-sidecar-proxy", "payments", ["dc1", "west"])
    with pytest.raises(AssertionError):
        assert_routes_through(meshes, "web-sidecar-proxy", "payments", ["dc1", "dc3"])


def test_the_trace_page_testing_example_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    page = (ROOT / "docs" / "trace.md").read_text()
    section = page.split("## In your own tests", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict[str, object] = {"meshgw": meshgw}
    exec(compile(code, "docs/trace.md", "exec"), namespace)
    tests = [f for name, f in namespace.items() if name.startswith("test_") and callable(f)]
    assert len(tests) == 2
    monkeypatch.chdir(ROOT)
    for test in tests:
        test()


# --------------------------------------------------------------------------- intentions


def _two_callers() -> meshgw.Mesh:
    billing = web(up("api", 10000, "local")).replace("web", "billing").replace("8181", "8182")
    intentions = """
config_entries {
  bootstrap = [{ kind = "service-intentions", name = "api",
                 sources = [{ name = "billing", action = "deny" }] }]
}
"""
    return mesh(
        GATEWAY_DC1,
        web(up("api", 10000, "local")),
        billing,
        catalog=[*DC2_GATEWAYS, sidecar("dc2", "api", "10.2.1.10")],
        extra=intentions,
    )


@pytest.mark.parametrize("order", [("web", "billing"), ("billing", "web")])
def test_a_denied_caller_does_not_decide_for_another_through_the_same_gateway(
    order: tuple[str, str],
) -> None:
    from meshgw._mesh.fleet import Fleet

    fleet = Fleet(_two_callers())  # one fleet: the gateway paths are remembered across traces
    verdicts = {s: meshgw.trace(fleet, f"{s}-sidecar-proxy", "api").ok for s in order}
    assert verdicts == {"web": True, "billing": False}
    found = meshgw.check(_two_callers())
    assert [(f.code, f.proxy) for f in found] == [("MGW100", "billing-sidecar-proxy")]


def test_a_denied_path_ends_at_the_destination_sidecar_that_refuses_it() -> None:
    t = meshgw.trace(_two_callers(), "billing-sidecar-proxy", "api")
    assert not t.ok and [p.code for p in t.problems] == ["MGW100"]
    assert [route(p) for p in t.active] == [
        [
            ("dc1", "billing-sidecar-proxy", ""),
            ("dc1", "mesh-gateway", "10.1.0.5:8443"),
            ("dc2", "mesh-gateway", f"198.18.2.{n}:443"),
            ("dc2", "api-sidecar-proxy", "10.2.1.10:21000"),
        ]
        for n in (5, 6)
    ]
    last = t.active[0][-1]
    assert (last.refused, last.cluster) == ("MGW100", "")
    assert "api-sidecar-proxy (connect-proxy) at 10.2.1.10:21000 -> refused (MGW100)" in str(t)
    assert str(last).endswith("-> refused (MGW100)")
    assert t.to_dict()["levels"][0][0][-1]["refused"] == "MGW100"
    assert all(not h.refused for h in t.active[0][:-1])
