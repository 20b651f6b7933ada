"""Tests for meshgw.chain: discovery-chain targets from service-resolver entries."""

from __future__ import annotations

from typing import Any

import pytest

from meshgw._resolve.chain import DEFAULT_CONNECT_TIMEOUT_NS, ChainTarget, compile_chain
from meshgw.errors import TranslationError
from meshgw.model import Mesh


def mesh(*resolvers: dict[str, Any], datacenter: str = "dc1") -> Mesh:
    entries = [{"kind": "service-resolver", **r} for r in resolvers]
    return Mesh.from_dict({"datacenter": datacenter, "config_entries": {"bootstrap": entries}})


def ids(targets: tuple[ChainTarget, ...]) -> list[str]:
    return [t.id for t in targets]


def test_no_resolver_is_the_default_chain() -> None:
    chain = compile_chain(mesh(), "db")
    assert chain.default
    assert chain.primary == ChainTarget("db", "default", "default", "dc1")
    assert chain.failover == ()
    assert chain.connect_timeout_ns == DEFAULT_CONNECT_TIMEOUT_NS
    assert (chain.service, chain.namespace, chain.partition, chain.datacenter) == (
        "db",
        "default",
        "default",
        "dc1",
    )


def test_upstream_datacenter_starts_the_chain_there() -> None:
    chain = compile_chain(mesh(), "db", datacenter="dc2")
    assert chain.primary.datacenter == "dc2"
    assert chain.datacenter == "dc2"


def test_resolver_without_redirect_or_failover_is_not_default() -> None:
    chain = compile_chain(mesh({"name": "db", "connect_timeout": "33s"}), "db")
    assert not chain.default
    assert chain.connect_timeout_ns == 33_000_000_000
    assert chain.failover == ()


def test_default_subset_becomes_the_primary() -> None:
    m = mesh(
        {
            "name": "db",
            "default_subset": "v2",
            "subsets": {
                "v1": {"filter": "Service.Meta.version == v1"},
                "v2": {"filter": "Service.Meta.version == v2", "only_passing": True},
            },
        }
    )
    primary = compile_chain(m, "db").primary
    assert primary.subset == "v2"
    assert primary.subset_filter == "Service.Meta.version == v2"
    assert primary.only_passing
    assert primary.id == "v2.db.default.default.dc1"


def test_redirect_to_another_datacenter() -> None:
    chain = compile_chain(mesh({"name": "db", "redirect": {"datacenter": "dc2"}}), "db")
    assert chain.primary.id == "db.default.default.dc2"
    # The chain still starts where the upstream points (it names the stat prefix).
    assert chain.datacenter == "dc1"


def test_redirect_to_another_service_follows_its_resolver() -> None:
    m = mesh(
        {"name": "db", "redirect": {"service": "db-new"}},
        {
            "name": "db-new",
            "default_subset": "v1",
            "subsets": {"v1": {"filter": "Service.Meta.version == v1"}},
            "connect_timeout": "7s",
            "failover": {"v1": {"datacenters": ["dc3"]}},
        },
    )
    chain = compile_chain(m, "db")
    assert chain.primary.id == "v1.db-new.default.default.dc1"
    assert ids(chain.failover) == ["v1.db-new.default.default.dc3"]
    assert chain.connect_timeout_ns == 7_000_000_000


def test_redirect_to_a_peer() -> None:
    chain = compile_chain(mesh({"name": "db", "redirect": {"peer": "acme"}}), "db")
    assert chain.primary == ChainTarget("db", "default", "default", "", "acme")
    assert chain.primary.id == "db.default.default.external.acme"
    assert chain.connect_timeout_ns == 5_000_000_000


def test_redirect_to_a_peer_keeps_the_resolvers_connect_timeout() -> None:
    # Consul's golden: the redirecting resolver's ConnectTimeout, not the 5 s default.
    resolver = {"name": "db", "connect_timeout": "33s", "redirect": {"peer": "acme"}}
    chain = compile_chain(mesh(resolver), "db")
    assert chain.primary.peer == "acme"
    assert chain.connect_timeout_ns == 33_000_000_000
    # Redirected to another name: that name's resolver (here none) decides.
    renamed = {**resolver, "redirect": {"peer": "acme", "service": "db2"}}
    assert compile_chain(mesh(renamed), "db").connect_timeout_ns == 5_000_000_000


def test_redirect_cycle_is_an_error() -> None:
    m = mesh(
        {"name": "a", "redirect": {"service": "b"}},
        {"name": "b", "redirect": {"service": "a"}},
    )
    with pytest.raises(TranslationError, match="circular service-resolver redirect"):
        compile_chain(m, "a")


def test_unknown_subset_is_an_error() -> None:
    m = mesh(
        {"name": "db", "redirect": {"service": "api", "service_subset": "v9"}}, {"name": "api"}
    )
    with pytest.raises(TranslationError, match="no subset named 'v9'"):
        compile_chain(m, "db")


def test_subset_without_resolver_is_an_error() -> None:
    m = mesh({"name": "db", "redirect": {"service": "api", "service_subset": "v1"}})
    with pytest.raises(TranslationError, match="no service-resolver 'api'"):
        compile_chain(m, "db")


def test_failover_datacenters_in_order() -> None:
    m = mesh({"name": "db", "failover": {"*": {"datacenters": ["dc2", "dc3"]}}})
    chain = compile_chain(m, "db")
    assert ids(chain.targets) == [
        "db.default.default.dc1",
        "db.default.default.dc2",
        "db.default.default.dc3",
    ]


def test_failover_to_the_primary_itself_is_dropped() -> None:
    m = mesh({"name": "db", "failover": {"*": {"datacenters": ["dc1", "dc2"]}}})
    assert ids(compile_chain(m, "db").failover) == ["db.default.default.dc2"]


def test_failover_targets_with_peer_and_service() -> None:
    m = mesh(
        {
            "name": "db",
            "failover": {
                "*": {"targets": [{"peer": "acme"}, {"service": "db-backup", "datacenter": "dc3"}]}
            },
        }
    )
    failover = compile_chain(m, "db").failover
    assert failover[0] == ChainTarget("db", "default", "default", "", "acme")
    assert failover[1].id == "db-backup.default.default.dc3"


def test_failover_by_subset_key_before_wildcard() -> None:
    m = mesh(
        {
            "name": "db",
            "default_subset": "v1",
            "subsets": {"v1": {"filter": "Service.Meta.version == v1"}, "v2": {}},
            "failover": {
                "v1": {"service_subset": "v2"},
                "*": {"datacenters": ["dc9"]},
            },
        }
    )
    chain = compile_chain(m, "db")
    assert ids(chain.targets) == ["v1.db.default.default.dc1", "v2.db.default.default.dc1"]


def test_failover_keeps_the_subset_across_datacenters() -> None:
    m = mesh(
        {
            "name": "db",
            "default_subset": "v1",
            "subsets": {"v1": {"filter": "Service.Meta.version == v1"}},
            "failover": {"*": {"datacenters": ["dc2"]}},
        }
    )
    assert ids(compile_chain(m, "db").failover) == ["v1.db.default.default.dc2"]


def test_failover_target_follows_its_own_redirect() -> None:
    m = mesh(
        {"name": "db", "failover": {"*": {"service": "db-backup"}}},
        {"name": "db-backup", "redirect": {"datacenter": "dc3"}},
    )
    assert ids(compile_chain(m, "db").failover) == ["db-backup.default.default.dc3"]


def test_sameness_groups_are_refused() -> None:
    m = mesh({"name": "db", "failover": {"*": {"sameness_group": "sg"}}})
    with pytest.raises(TranslationError, match="SamenessGroup"):
        compile_chain(m, "db")


def test_target_str_is_readable() -> None:
    assert str(ChainTarget("db", datacenter="dc2", subset="v1")) == "db subset v1 (dc2)"
    assert str(ChainTarget("db", namespace="ns1", peer="acme")) == "db (peer acme, namespace ns1)"
