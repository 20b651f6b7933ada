"""Config entries that shape mesh gateway traffic.

``proxy-defaults``, ``service-defaults``, ``service-resolver``, ``exported-services``,
``service-intentions`` and ``mesh`` are modelled in full; other Consul kinds load as
:class:`OtherConfigEntry` (kept, not interpreted).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NewType

import attrs

from meshgw._values import by_norm_key, describe
from meshgw.model.common import MeshGatewayConfig, ProxyMode, Source
from meshgw.model.registration import Expose, TransparentProxy

__all__ = [
    "ConfigEntry",
    "ExportedService",
    "ExportedServices",
    "FailoverTarget",
    "IntentionHTTPHeader",
    "IntentionHTTPPermission",
    "IntentionPermission",
    "Limits",
    "LoadBalancer",
    "MeshConfigEntry",
    "MeshPeering",
    "Nanoseconds",
    "OtherConfigEntry",
    "PassiveHealthCheck",
    "ProxyDefaults",
    "ResolverFailover",
    "ResolverRedirect",
    "ResolverSubset",
    "ServiceConsumer",
    "ServiceDefaults",
    "ServiceIntentions",
    "ServiceResolver",
    "SourceIntention",
    "UpstreamConfig",
    "UpstreamConfiguration",
]

#: A duration in nanoseconds. Loaders accept Go duration strings (``"5s"``, ``"1m30s"``,
#: ``"250ms"``) and integers (nanoseconds, as Consul's JSON API returns them).
Nanoseconds = NewType("Nanoseconds", int)


def _source() -> Any:
    return attrs.field(default=None, eq=False, repr=False)


@attrs.frozen
class Limits:
    """Circuit-breaker limits of an upstream cluster."""

    max_connections: int | None = None
    max_pending_requests: int | None = None
    max_concurrent_requests: int | None = None


@attrs.frozen
class PassiveHealthCheck:
    """Outlier detection of an upstream cluster."""

    interval: Nanoseconds | None = None
    max_failures: int | None = None
    enforcing_consecutive_5xx: int | None = None
    max_ejection_percent: int | None = None
    base_ejection_time: Nanoseconds | None = None


@attrs.frozen
class UpstreamConfig:
    """``UpstreamConfig.Defaults`` or one ``UpstreamConfig.Overrides`` entry."""

    name: str = ""
    namespace: str = ""
    partition: str = ""
    peer: str = ""
    envoy_listener_json: str = ""
    envoy_cluster_json: str = ""
    protocol: str = ""
    connect_timeout_ms: int = 0
    limits: Limits | None = None
    passive_health_check: PassiveHealthCheck | None = None
    mesh_gateway: MeshGatewayConfig = MeshGatewayConfig()
    balance_outbound_connections: str = ""
    source: Source | None = _source()


@attrs.frozen
class UpstreamConfiguration:
    """``service-defaults.UpstreamConfig``."""

    overrides: tuple[UpstreamConfig, ...] = ()
    defaults: UpstreamConfig | None = None


@attrs.frozen
class ProxyDefaults:
    """``Kind = "proxy-defaults"`` (always named ``global``)."""

    kind: str = "proxy-defaults"
    name: str = "global"
    config: Mapping[str, Any] = attrs.field(factory=dict)
    mesh_gateway: MeshGatewayConfig = MeshGatewayConfig()
    mode: ProxyMode = ProxyMode.DEFAULT
    transparent_proxy: TransparentProxy | None = None
    mutual_tls_mode: str = ""
    expose: Expose = Expose()
    access_logs: Mapping[str, Any] = attrs.field(factory=dict)
    envoy_extensions: tuple[Mapping[str, Any], ...] = ()
    failover_policy: Mapping[str, Any] = attrs.field(factory=dict)
    prioritize_by_locality: Mapping[str, Any] = attrs.field(factory=dict)
    meta: Mapping[str, str] = attrs.field(factory=dict)
    namespace: str = ""
    partition: str = ""
    source: Source | None = _source()


@attrs.frozen
class ServiceDefaults:
    """``Kind = "service-defaults"``."""

    kind: str = "service-defaults"
    name: str = ""
    protocol: str = ""
    mesh_gateway: MeshGatewayConfig = MeshGatewayConfig()
    upstream_config: UpstreamConfiguration | None = None
    mode: ProxyMode = ProxyMode.DEFAULT
    transparent_proxy: TransparentProxy | None = None
    mutual_tls_mode: str = ""
    expose: Expose = Expose()
    external_sni: str = ""
    destination: Mapping[str, Any] = attrs.field(factory=dict)
    max_inbound_connections: int = 0
    local_connect_timeout_ms: int = 0
    local_request_timeout_ms: int = 0
    balance_inbound_connections: str = ""
    rate_limits: Mapping[str, Any] = attrs.field(factory=dict)
    envoy_extensions: tuple[Mapping[str, Any], ...] = ()
    meta: Mapping[str, str] = attrs.field(factory=dict)
    namespace: str = ""
    partition: str = ""
    source: Source | None = _source()

    def upstream_override(
        self, service: str, namespace: str, partition: str, peer: str = ""
    ) -> tuple[int, UpstreamConfig] | None:
        """The ``UpstreamConfig.Overrides`` entry (with its index) for an upstream to
        ``service`` in ``namespace`` and ``partition`` (written out, never empty) or of
        ``peer``; an override's empty namespace or partition is this entry's own.

        Consul keys the overrides by (name, namespace, partition, peer) in a map, so when
        several entries match the last one wins -- even one that sets nothing, which then
        hides an earlier one. Nameless entries are skipped (Consul warns). Current Consul
        (>= 1.16) matches on the full peered name: a peer-less override does not match a
        peered upstream.
        """
        uc = self.upstream_config
        if uc is None:
            return None
        own_ns = self.namespace or "default"
        own_ap = self.partition or "default"
        found: tuple[int, UpstreamConfig] | None = None
        for i, ov in enumerate(uc.overrides):
            if (
                ov.name
                and ov.name == service
                and (ov.namespace or own_ns) == namespace
                and (ov.partition or own_ap) == partition
                and ov.peer == peer
            ):
                found = (i, ov)
        return found


@attrs.frozen
class ResolverSubset:
    """One named subset of a service-resolver."""

    filter: str = ""
    only_passing: bool = False


@attrs.frozen
class ResolverRedirect:
    """``service-resolver.Redirect``."""

    service: str = ""
    service_subset: str = ""
    namespace: str = ""
    partition: str = ""
    datacenter: str = ""
    peer: str = ""
    sameness_group: str = ""


@attrs.frozen
class FailoverTarget:
    """One entry of ``Failover[...].Targets``."""

    service: str = ""
    service_subset: str = ""
    namespace: str = ""
    partition: str = ""
    datacenter: str = ""
    peer: str = ""


@attrs.frozen
class ResolverFailover:
    """``service-resolver.Failover[<subset or *>]``."""

    service: str = ""
    service_subset: str = ""
    namespace: str = ""
    datacenters: tuple[str, ...] = ()
    targets: tuple[FailoverTarget, ...] = ()
    policy: Mapping[str, Any] = attrs.field(factory=dict)
    sameness_group: str = ""


@attrs.frozen
class LoadBalancer:
    """``service-resolver.LoadBalancer``."""

    policy: str = ""
    least_request_config: Mapping[str, Any] = attrs.field(factory=dict)
    ring_hash_config: Mapping[str, Any] = attrs.field(factory=dict)
    hash_policies: tuple[Mapping[str, Any], ...] = ()

    def least_request_choice_count(self) -> int:
        """``LeastRequestConfig.ChoiceCount``: 0 when unset (Envoy's default of 2), else
        a whole number >= 2 (Envoy rejects 1); ValueError saying so otherwise."""
        raw = by_norm_key(self.least_request_config).get("choicecount", 0)
        if isinstance(raw, int) and not isinstance(raw, bool) and not -(2**32) < raw < 2**32:
            # Envoy's choice_count is a UInt32Value (and repr() of a huge int raises).
            raise ValueError(f"ChoiceCount must be at most {2**32 - 1}, got {describe(raw)}")
        if isinstance(raw, bool) or not isinstance(raw, int) or raw < 0 or raw == 1:
            raise ValueError(f"ChoiceCount must be a whole number >= 2, got {raw!r}")
        return raw


@attrs.frozen
class ServiceResolver:
    """``Kind = "service-resolver"``."""

    kind: str = "service-resolver"
    name: str = ""
    default_subset: str = ""
    subsets: Mapping[str, ResolverSubset] = attrs.field(factory=dict)
    redirect: ResolverRedirect | None = None
    failover: Mapping[str, ResolverFailover] = attrs.field(factory=dict)
    connect_timeout: Nanoseconds | None = None
    request_timeout: Nanoseconds | None = None
    load_balancer: LoadBalancer | None = None
    prioritize_by_locality: Mapping[str, Any] = attrs.field(factory=dict)
    meta: Mapping[str, str] = attrs.field(factory=dict)
    namespace: str = ""
    partition: str = ""
    source: Source | None = _source()


@attrs.frozen
class ServiceConsumer:
    """Who an exported service is exported to: a peer, a partition or a sameness group."""

    peer: str = ""
    partition: str = ""
    sameness_group: str = ""


@attrs.frozen
class ExportedService:
    """One service of an exported-services entry."""

    name: str = ""
    namespace: str = ""
    consumers: tuple[ServiceConsumer, ...] = ()


@attrs.frozen
class ExportedServices:
    """``Kind = "exported-services"``; ``name`` is the exporting partition."""

    kind: str = "exported-services"
    name: str = "default"
    services: tuple[ExportedService, ...] = ()
    meta: Mapping[str, str] = attrs.field(factory=dict)
    partition: str = ""
    source: Source | None = _source()


@attrs.frozen
class MeshPeering:
    """``mesh.Peering``."""

    peer_through_mesh_gateways: bool = False


@attrs.frozen
class MeshConfigEntry:
    """``Kind = "mesh"`` (one per partition, implicitly named ``mesh``)."""

    kind: str = "mesh"
    name: str = "mesh"
    peering: MeshPeering | None = None
    transparent_proxy: Mapping[str, Any] = attrs.field(factory=dict)
    allow_enabling_permissive_mutual_tls: bool = False
    validate_clusters: bool = False
    tls: Mapping[str, Any] = attrs.field(factory=dict)
    http: Mapping[str, Any] = attrs.field(factory=dict)
    meta: Mapping[str, str] = attrs.field(factory=dict)
    partition: str = ""
    source: Source | None = _source()


@attrs.frozen
class IntentionHTTPHeader:
    """One ``Permissions[].HTTP.Header`` matcher: exactly one of ``present``, ``exact``,
    ``prefix``, ``suffix`` or ``regex`` (RE2); ``invert`` negates it."""

    name: str = ""
    present: bool = False
    exact: str = ""
    prefix: str = ""
    suffix: str = ""
    regex: str = ""
    invert: bool = False


@attrs.frozen
class IntentionHTTPPermission:
    """``Permissions[].HTTP``: at most one path matcher, header matchers and methods (all
    of them must match)."""

    path_exact: str = ""
    path_prefix: str = ""
    path_regex: str = ""
    header: tuple[IntentionHTTPHeader, ...] = ()
    methods: tuple[str, ...] = ()


@attrs.frozen
class IntentionPermission:
    """One L7 permission of a source: ``action`` (``allow``/``deny``) for requests its
    ``http`` matchers match. ``jwt`` is kept so that it can be refused by name."""

    action: str = ""
    http: IntentionHTTPPermission | None = None
    jwt: Mapping[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class SourceIntention:
    """One ``Sources[]`` entry: who (``name`` may be ``*``; ``namespace``, ``partition``,
    ``peer`` or ``sameness_group``) and either an ``action`` or L7 ``permissions``.

    ``precedence`` and the ``legacy_*`` fields are what Consul's API returns (intentions
    migrated from the pre-1.9 API carry them); meshgw accepts them and recomputes the
    precedence itself.
    """

    name: str = ""
    namespace: str = ""
    partition: str = ""
    peer: str = ""
    sameness_group: str = ""
    action: str = ""
    permissions: tuple[IntentionPermission, ...] = ()
    type: str = ""
    description: str = ""
    precedence: int = 0
    legacy_id: str = ""
    legacy_meta: Mapping[str, str] = attrs.field(factory=dict)
    legacy_create_time: str = ""
    legacy_update_time: str = ""
    source: Source | None = _source()


@attrs.frozen
class ServiceIntentions:
    """``Kind = "service-intentions"``: who may reach the destination ``name`` (``*``
    for every service of the namespace)."""

    kind: str = "service-intentions"
    name: str = ""
    sources: tuple[SourceIntention, ...] = ()
    jwt: Mapping[str, Any] = attrs.field(factory=dict)
    meta: Mapping[str, str] = attrs.field(factory=dict)
    namespace: str = ""
    partition: str = ""
    source: Source | None = _source()


@attrs.frozen
class OtherConfigEntry:
    """A Consul config entry kind meshgw does not interpret (kept verbatim)."""

    kind: str
    name: str = ""
    body: Mapping[str, Any] = attrs.field(factory=dict)
    source: Source | None = _source()


ConfigEntry = (
    ProxyDefaults
    | ServiceDefaults
    | ServiceResolver
    | ExportedServices
    | MeshConfigEntry
    | ServiceIntentions
    | OtherConfigEntry
)
