"""Failover across datacenters, live: a ``service-resolver`` sends api to dc3 when dc2 fails.

Three simulated datacenters on loopback (dc1: web; dc2 and dc3: api behind its sidecar,
an echo backend tagged ``api-dc2:`` / ``api-dc3:``; a mesh gateway in each). Every
datacenter's files carry the resolver ::

    Kind = "service-resolver"
    Name = "api"
    Failover = { "*" = { Datacenters = ["dc3"] } }

so meshgw gives web's upstream an aggregate cluster over ``failover-target~0~<api in
dc2>`` and ``failover-target~1~<api in dc3>``, each with its own endpoints chosen by the
upstream's mode (dc1's gateway, the target's gateways, or the target's sidecars). Envoy's
aggregate cluster uses the first child that has a healthy host. Two ways to make dc2's
child lose its hosts, both tested:

(a) **Health-triggered**, as Consul does it: dc2's api sidecar goes down, its health check
    turns critical, dc1's catalog view says so; meshgw marks every endpoint of dc2's
    target ``UNHEALTHY`` (gateway endpoints take the target's health), and web's Envoy,
    started from the regenerated bootstrap, sends to dc3 from the first connection. A
    static bootstrap has no control plane to push the change, so web's Envoy is
    restarted with it (what ``consul connect envoy`` would receive over xDS).

(b) **A real outage, no new configuration**: dc2 becomes unreachable (its gateway stops;
    in mode ``none``, its api sidecar) while every catalog still says passing. Only
    passive health checking can notice: each connection web's Envoy cannot establish
    (refused, or closed before the TLS handshake completes) counts as a consecutive
    error, and at ``consecutive_5xx`` errors the host is ejected and the aggregate moves
    on. **With meshgw's (and Consul's) default ``outlier_detection: {}`` that never
    happens on Envoy 1.40**: each child cluster has one host (the gateway, or the one
    sidecar), the default ``max_ejection_percent`` is 10 %, and Envoy now counts the
    host being ejected in that percentage (100 % > 10 %: ``ejections_overflow``; only
    the opt-in ``always_eject_one_host`` changes it). So (b) configures the upstream the
    Consul way, ``config { passive_health_check { max_failures = 3,
    max_ejection_percent = 100 } }``, which meshgw turns into ``outlier_detection {
    consecutive_5xx: 3, max_ejection_percent: 100 }`` on every target cluster; exactly 3
    connections then fail before traffic reaches dc3. The default's behaviour is pinned
    by :func:`test_outage_without_passive_health_check_does_not_fail_over`.

Every failed connection is a clean close without a byte (tcp_proxy has no retries across
clusters), so the tests count them exactly.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from .harness import Stack
from .meshes import (
    GATEWAY_LOCAL_STAT,
    MODES,
    PUBLIC_LISTENER_STAT,
    EnvoySpec,
    Running,
    assert_path_taken,
    bootstrap,
    bring_up,
    gateway_remote_stat,
    predicted,
    sni,
    traffic,
    write_mesh_files,
)

N = 3
FAILOVER = {"api": ["dc3"]}
BACKENDS = {"dc2": ["api"], "dc3": ["api"]}
AGGREGATE = "envoy.clusters.aggregate"


def _clusters(config: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in config["static_resources"]["clusters"]}


def _children(mesh: Running) -> tuple[str, str]:
    """web's aggregate cluster for api and its two children, dc2's then dc3's."""
    aggregate = mesh.upstream_cluster("api")
    cluster = _clusters(mesh.client.bootstrap)[aggregate]
    assert cluster["cluster_type"]["name"] == AGGREGATE
    primary, secondary = cluster["cluster_type"]["typed_config"]["clusters"]
    assert primary == f"failover-target~0~{aggregate}"
    assert secondary == f"failover-target~1~{aggregate}"
    assert aggregate.endswith(sni("api", "dc2"))
    return primary, secondary


def _health(config: Mapping[str, Any], cluster: str) -> list[str]:
    cla = _clusters(config)[cluster]["load_assignment"]
    return [lb["health_status"] for group in cla["endpoints"] for lb in group["lb_endpoints"]]


def _expect_gateways(mesh: Running, mode: str, *, dc2: int, dc3: int) -> None:
    """Exactly ``dc2`` connections went towards dc2 and ``dc3`` towards dc3, on the
    route ``mode`` prescribes, and nothing else crossed any gateway."""
    gw1, gw2, gw3 = (mesh.gateway(dc) for dc in ("dc1", "dc2", "dc3"))
    if mode == "local":
        expected = {gateway_remote_stat("dc2"): dc2, gateway_remote_stat("dc3"): dc3}
        assert traffic(gw1) == {k: v for k, v in expected.items() if v}
    else:
        assert traffic(gw1) == {}
    if gw2.running:
        assert traffic(gw2) == ({GATEWAY_LOCAL_STAT: dc2} if mode != "none" and dc2 else {})
    assert traffic(gw3) == ({GATEWAY_LOCAL_STAT: dc3} if mode != "none" and dc3 else {})


# --------------------------------------------------------------------------- (a)


@pytest.mark.parametrize("mode", MODES)
def test_health_triggered_failover(stack: Stack, tmp_path: Path, mode: str) -> None:
    mesh = bring_up(
        stack,
        tmp_path / "mesh",
        backends=BACKENDS,
        upstreams=[("api", "dc2", mode)],
        failover=FAILOVER,
    )
    primary, secondary = _children(mesh)
    assert _health(mesh.client.bootstrap, primary) == ["HEALTHY"]
    # meshgw.trace: both targets reachable, dc2's first.
    before = predicted(mesh.topology, "api")
    assert before.ok and before.targets == (primary, secondary), before.render()
    assert [{p[-1].datacenter for p in level} for level in before.levels] == [{"dc2"}, {"dc3"}]
    assert {p[-1].datacenter for p in before.active} == {"dc2"}

    # Healthy: dc2 answers.
    assert mesh.send("api", b"before") == b"api-dc2:before"
    dc2_api = mesh.sidecar("api", "dc2")
    dc2_api.wait_for_counter(PUBLIC_LISTENER_STAT, lambda n: n == 1)

    # dc2's api goes down and Consul's health check notices: dc1's catalog says critical.
    dc2_api.stop()
    topology = mesh.topology.with_health([("api", "dc2")])
    write_mesh_files(topology)
    config = bootstrap(topology, EnvoySpec("dc1-web", "dc1", "web-sidecar-proxy"))
    assert _health(config, primary) == ["UNHEALTHY"]
    assert _health(config, secondary) == ["HEALTHY"]
    web = mesh.restart("dc1-web", config)

    for i in range(N):
        payload = f"after {i}".encode()
        assert mesh.send("api", payload) == b"api-dc3:" + payload
    mesh.sidecar("api", "dc3").wait_for_counter(PUBLIC_LISTENER_STAT, lambda n: n == N)

    assert web.counter(f"cluster.{secondary}.upstream_cx_total") == N
    assert web.counter(f"cluster.{secondary}.ssl.handshake") == N
    assert web.counter(f"cluster.{primary}.upstream_cx_total") == 0
    assert web.counter(f"cluster.{primary}.upstream_cx_none_healthy", 0) == 0
    assert traffic(mesh.sidecar("api", "dc3")) == {PUBLIC_LISTENER_STAT: N}
    _expect_gateways(mesh, mode, dc2=1, dc3=N)

    # meshgw.trace of the new catalog: dc2's target is down (a warning: traffic has
    # failed over), and the one path it predicts through dc3 is the one taken.
    after = predicted(topology, "api")
    assert after.ok and after.levels[0] == (), after.render()
    assert "MGW013" in {p.code for p in after.problems}
    (path,) = after.active
    assert path[0].cluster == secondary and path[-1].datacenter == "dc3"
    assert_path_taken(mesh, path, N)


# --------------------------------------------------------------------------- (b)

PASSIVE = {"passive_health_check": {"max_failures": 3, "max_ejection_percent": 100}}


@pytest.mark.parametrize(
    ("mode", "down"),
    [("local", "gateway"), ("remote", "gateway"), ("none", "api")],
    ids=["local-dc2-gateway-down", "remote-dc2-gateway-down", "none-dc2-api-down"],
)
def test_outage_failover_with_passive_health_checks(
    stack: Stack, tmp_path: Path, mode: str, down: str
) -> None:
    mesh = bring_up(
        stack,
        tmp_path / "mesh",
        backends=BACKENDS,
        upstreams=[("api", "dc2", mode)],
        failover=FAILOVER,
        upstream_config=PASSIVE,
    )
    primary, secondary = _children(mesh)
    clusters = _clusters(mesh.client.bootstrap)
    for child in (primary, secondary):
        assert clusters[child]["outlier_detection"] == {
            "consecutive_5xx": 3,
            "max_ejection_percent": 100,
        }
    assert mesh.send("api", b"before") == b"api-dc2:before"
    # meshgw.trace: dc2 first, and no MGW061 (passive health checks can eject its host).
    t = predicted(mesh.topology, "api")
    assert t.ok and not t.problems, t.render()
    (path,) = t.active
    assert path[-1].datacenter == "dc2"
    mesh.sidecar("api", "dc2").wait_for_counter(PUBLIC_LISTENER_STAT, lambda n: n == 1)
    assert_path_taken(mesh, path, 1)

    # dc2 becomes unreachable; nobody tells dc1 (every catalog still says passing).
    mesh.envoys[f"dc2-{down}"].stop()

    web = mesh.client
    failures, reply = 0, b""
    for _ in range(10):
        reply = mesh.send("api", b"during")
        if reply:
            break
        failures += 1
        # Ejection happens on Envoy's main thread, then reaches the worker: let it.
        time.sleep(0.05)
    assert reply == b"api-dc3:during"
    assert failures == 3
    assert web.counter(f"cluster.{primary}.upstream_cx_connect_fail") == 3
    assert web.counter(f"cluster.{primary}.outlier_detection.ejections_enforced_total") == 1
    assert web.counter(f"cluster.{primary}.outlier_detection.ejections_active") == 1

    for i in range(N):
        payload = f"after {i}".encode()
        assert mesh.send("api", payload) == b"api-dc3:" + payload
    mesh.sidecar("api", "dc3").wait_for_counter(PUBLIC_LISTENER_STAT, lambda n: n == N + 1)
    assert web.counter(f"cluster.{primary}.upstream_cx_total") == 1 + 3
    assert web.counter(f"cluster.{secondary}.upstream_cx_total") == N + 1
    assert web.counter(f"cluster.{secondary}.ssl.handshake") == N + 1
    # Through dc1's gateway (local), the 3 failed attempts did reach for dc2 too.
    _expect_gateways(mesh, mode, dc2=1 + (3 if mode == "local" else 0), dc3=N + 1)


def test_outage_without_passive_health_check_does_not_fail_over(
    stack: Stack, tmp_path: Path
) -> None:
    """Consul's default ``outlier_detection: {}`` on a one-host cluster: Envoy 1.40
    detects the errors but never ejects the only host (``max_ejection_percent`` 10 %),
    so the aggregate keeps choosing dc2. Failover on an outage needs health (a) or
    ``passive_health_check.max_ejection_percent`` (b)."""
    mesh = bring_up(
        stack,
        tmp_path / "mesh",
        backends=BACKENDS,
        upstreams=[("api", "dc2", "remote")],
        failover=FAILOVER,
    )
    primary, _ = _children(mesh)
    assert _clusters(mesh.client.bootstrap)[primary]["outlier_detection"] == {}
    # meshgw.trace warns of exactly what follows: dc2's target has one host (its
    # gateway) that default outlier detection never ejects.
    t = predicted(mesh.topology, "api")
    assert t.ok and [p.code for p in t.problems] == ["MGW061"], t.render()
    assert primary in t.problems[0].message
    mesh.gateway("dc2").stop()
    replies = [mesh.send("api", b"during") for _ in range(7)]
    assert replies == [b""] * 7
    web = mesh.client
    assert (
        web.counter(f"cluster.{primary}.outlier_detection.ejections_detected_consecutive_5xx") == 1
    )
    assert web.counter(f"cluster.{primary}.outlier_detection.ejections_overflow") >= 1
    assert web.counter(f"cluster.{primary}.outlier_detection.ejections_enforced_total", 0) == 0
    assert traffic(mesh.gateway("dc3")) == {}
