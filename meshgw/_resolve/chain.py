"""Discovery chains: the targets a sidecar upstream reaches, from ``service-resolver`` entries.

meshgw compiles the part of Consul's discovery chain that TCP upstreams use
(``agent/consul/discoverychain/compile.go``): starting from the upstream's service,
namespace, partition and datacenter, a ``service-resolver``

* ``Redirect`` replaces the target (another service, subset, namespace, partition,
  datacenter or peer; the new service's own resolver applies in turn);
* ``DefaultSubset`` makes the target that subset when none is named;
* ``Failover[<subset> or "*"]`` adds failover targets, in order, from ``Datacenters``,
  ``Targets``, or ``Service`` / ``ServiceSubset`` / ``Namespace``. Each failover target
  follows its own service's redirect and default subset; a failover target equal to the
  primary is dropped, as in Consul.

Routers and splitters (HTTP routing) are not modelled. A peer target has no resolver:
config entries are not shared across peerings. Mesh gateway modes are not decided here
(see :mod:`meshgw.modes`); names are not built here (see :mod:`meshgw.naming`).
"""

from __future__ import annotations

import attrs

from meshgw.errors import TranslationError
from meshgw.model.entries import FailoverTarget, ResolverRedirect, ServiceResolver
from meshgw.model.mesh import Mesh

__all__ = [
    "DEFAULT_CONNECT_TIMEOUT_NS",
    "ChainTarget",
    "DiscoveryChain",
    "chain_protocol",
    "compile_chain",
]

#: Connect timeout of a chain whose resolver sets none (Consul's default, 5 s).
DEFAULT_CONNECT_TIMEOUT_NS = 5_000_000_000

_DEFAULT = "default"
_WILDCARD = "*"


@attrs.frozen
class ChainTarget:
    """One target of a discovery chain.

    A peer target has ``peer`` set and no ``datacenter``. ``subset`` names a resolver
    subset; ``subset_filter`` and ``only_passing`` are its definition (from the
    resolver of ``service``). ``namespace`` and ``partition`` are never empty.
    """

    service: str
    namespace: str = _DEFAULT
    partition: str = _DEFAULT
    datacenter: str = ""
    peer: str = ""
    subset: str = ""
    subset_filter: str = ""
    only_passing: bool = False

    @property
    def id(self) -> str:
        """Consul's target ID: ``[<subset>.]<svc>.<ns>.<partition>.<dc>``, or
        ``<svc>.<ns>.<partition>.external.<peer>`` for a peer target."""
        head = f"{self.subset}." if self.subset else ""
        if self.peer:
            return f"{head}{self.service}.{self.namespace}.{self.partition}.external.{self.peer}"
        return f"{head}{self.service}.{self.namespace}.{self.partition}.{self.datacenter}"

    def __str__(self) -> str:
        name = f"{self.service} subset {self.subset}" if self.subset else self.service
        where = [f"peer {self.peer}" if self.peer else self.datacenter]
        if self.partition != _DEFAULT and not self.peer:
            where.append(f"partition {self.partition}")
        if self.namespace != _DEFAULT:
            where.append(f"namespace {self.namespace}")
        return f"{name} ({', '.join(where)})"


@attrs.frozen
class DiscoveryChain:
    """A compiled chain: where it starts, its primary target and its failover targets.

    ``service`` / ``namespace`` / ``partition`` / ``datacenter`` are the chain's start
    (they name the upstream's stat prefix). ``connect_timeout_ns`` is the primary
    target's resolver ``ConnectTimeout`` (5 s when unset). ``default`` is true when no
    ``service-resolver`` exists for the start service: only then do Consul's
    ``envoy_listener_json`` / ``envoy_cluster_json`` escape hatches apply.
    """

    service: str
    namespace: str
    partition: str
    datacenter: str
    primary: ChainTarget
    failover: tuple[ChainTarget, ...] = ()
    connect_timeout_ns: int = DEFAULT_CONNECT_TIMEOUT_NS
    default: bool = True

    @property
    def targets(self) -> tuple[ChainTarget, ...]:
        """The primary target, then the failover targets in order."""
        return (self.primary, *self.failover)


@attrs.frozen
class _Opts:
    """A target before its resolver has been applied."""

    service: str
    subset: str
    namespace: str
    partition: str
    datacenter: str
    peer: str

    @property
    def id(self) -> str:
        return _target(self).id


def _target(opts: _Opts, subset_filter: str = "", only_passing: bool = False) -> ChainTarget:
    return ChainTarget(
        service=opts.service,
        namespace=opts.namespace,
        partition=opts.partition,
        datacenter=opts.datacenter,
        peer=opts.peer,
        subset=opts.subset,
        subset_filter=subset_filter,
        only_passing=only_passing,
    )


def _rewrite_to(t: _Opts, ref: ResolverRedirect | FailoverTarget) -> _Opts:
    """:func:`_rewrite` to a redirect's or a failover target's fields (the same six)."""
    return _rewrite(
        t,
        service=ref.service,
        subset=ref.service_subset,
        namespace=ref.namespace,
        partition=ref.partition,
        datacenter=ref.datacenter,
        peer=ref.peer,
    )


def _rewrite(
    t: _Opts,
    *,
    service: str = "",
    subset: str = "",
    namespace: str = "",
    partition: str = "",
    datacenter: str = "",
    peer: str = "",
) -> _Opts:
    """Consul's ``rewriteTarget``: the given fields replace ``t``'s; naming another
    service drops ``t``'s subset; a peer clears the datacenter and vice versa."""
    new_subset = subset if service and service != t.service else subset or t.subset
    new_service = service or t.service
    new_namespace = namespace or t.namespace
    if peer:
        # A peer target lives in the importing (local) cluster's default partition.
        return _Opts(new_service, new_subset, new_namespace, _DEFAULT, "", peer)
    if datacenter or partition or not t.peer:
        return _Opts(
            new_service,
            new_subset,
            new_namespace,
            partition or t.partition,
            datacenter or t.datacenter,
            "",
        )
    return _Opts(new_service, new_subset, new_namespace, t.partition, "", t.peer)


class _Compiler:
    __slots__ = ("mesh",)

    def __init__(self, mesh: Mesh) -> None:
        self.mesh = mesh

    def resolve(self, opts: _Opts) -> tuple[ChainTarget, ServiceResolver | None]:
        """Apply redirects and the default subset until the target is stable."""
        history: list[str] = []
        while True:
            tid = opts.id
            if tid in history:
                path = " -> ".join([*history, tid])
                raise TranslationError(f"circular service-resolver redirect: {path}")
            history.append(tid)
            if opts.peer:
                return _target(opts), None
            resolver = self.mesh.service_resolver(opts.service, opts.partition)
            if resolver is None:
                if opts.subset:
                    raise TranslationError(
                        f"subset {opts.subset!r} of service {opts.service!r} is used, but "
                        f"there is no service-resolver {opts.service!r} defining subsets"
                    )
                return _target(opts), None
            redirect = resolver.redirect
            if redirect is not None:
                if redirect.sameness_group:
                    raise TranslationError(
                        f"service-resolver {resolver.name!r}: Redirect.SamenessGroup is not "
                        "supported by meshgw"
                    )
                new = _rewrite_to(opts, redirect)
                if new.id != tid:
                    opts = new
                    continue
            if not opts.subset and resolver.default_subset:
                opts = attrs.evolve(opts, subset=resolver.default_subset)
                continue
            if opts.subset:
                subset = resolver.subsets.get(opts.subset)
                if subset is None:
                    known = ", ".join(sorted(resolver.subsets)) or "none"
                    raise TranslationError(
                        f"service {opts.service!r} has no subset named {opts.subset!r} in "
                        f"its service-resolver (subsets: {known})"
                    )
                return _target(opts, subset.filter, subset.only_passing), resolver
            return _target(opts), resolver

    def failover(self, primary: ChainTarget, resolver: ServiceResolver) -> list[ChainTarget]:
        """The failover targets of ``primary`` under ``resolver``, in order."""
        entries = resolver.failover
        if primary.subset in entries:
            entry = entries[primary.subset]
        elif _WILDCARD in entries:
            entry = entries[_WILDCARD]
        else:
            return []
        if entry.sameness_group:
            raise TranslationError(
                f"service-resolver {resolver.name!r}: Failover.SamenessGroup is not "
                "supported by meshgw"
            )
        base = _Opts(
            primary.service,
            primary.subset,
            primary.namespace,
            primary.partition,
            primary.datacenter,
            primary.peer,
        )
        if entry.datacenters:
            candidates = [
                _rewrite(
                    base,
                    service=entry.service,
                    subset=entry.service_subset,
                    namespace=entry.namespace,
                    datacenter=dc,
                )
                for dc in entry.datacenters
            ]
        elif entry.targets:
            candidates = [_rewrite_to(base, t) for t in entry.targets]
        else:
            candidates = [
                _rewrite(
                    base,
                    service=entry.service,
                    subset=entry.service_subset,
                    namespace=entry.namespace,
                )
            ]
        out: list[ChainTarget] = []
        for candidate in candidates:
            target, _ = self.resolve(candidate)
            if target.id != primary.id:  # Consul: "don't failover to yourself"
                out.append(target)
        return out


def compile_chain(
    mesh: Mesh,
    service: str,
    *,
    namespace: str = "",
    partition: str = "",
    datacenter: str = "",
) -> DiscoveryChain:
    """Compile the discovery chain of ``service`` as seen from ``mesh``'s datacenter.

    Empty ``namespace`` / ``partition`` / ``datacenter`` mean ``default``, the mesh's
    partition and the mesh's datacenter. Raises :class:`TranslationError` for a
    redirect cycle, an unknown subset, or a sameness group (not supported).
    """
    if not service:
        raise TranslationError("a discovery chain needs a service name")
    start = _Opts(
        service,
        "",
        namespace or _DEFAULT,
        partition or mesh.local_partition,
        datacenter or mesh.datacenter,
        "",
    )
    compiler = _Compiler(mesh)
    primary, resolver = compiler.resolve(start)
    failover: list[ChainTarget] = []
    timeout = DEFAULT_CONNECT_TIMEOUT_NS
    if resolver is not None:
        failover = compiler.failover(primary, resolver)
    elif primary.peer:
        # Consul resolves a peer target with the local resolver of its service name --
        # the one that redirected to the peer, when the redirect keeps the name -- and
        # takes its ConnectTimeout (33 s in Consul's golden), not the 5 s default.
        resolver = mesh.service_resolver(primary.service, start.partition)
    if resolver is not None and (resolver.connect_timeout or 0) > 0:
        timeout = resolver.connect_timeout or timeout
    return DiscoveryChain(
        service=start.service,
        namespace=start.namespace,
        partition=start.partition,
        datacenter=start.datacenter,
        primary=primary,
        failover=tuple(failover),
        connect_timeout_ns=timeout,
        default=mesh.service_resolver(start.service, start.partition) is None,
    )


def chain_protocol(mesh: Mesh, service: str, partition: str) -> str:
    """The protocol of ``service``'s discovery chain (lower case): its service-defaults
    ``protocol``, else its partition's proxy-defaults ``config.protocol``, else tcp."""
    sd = mesh.service_defaults(service, partition)
    if sd is not None and sd.protocol:
        return sd.protocol.lower()
    pd = mesh.proxy_defaults(partition)
    if pd is not None:
        value = pd.config.get("protocol")
        if isinstance(value, str) and value:
            return value.lower()
    return "tcp"
