"""Every name meshgw emits: SNIs, SPIFFE IDs, cluster, listener and upstream names, stat
prefixes, Consul's cluster-name customization hash and Envoy duration strings.

The formats follow Consul (``agent/connect/sni.go``, ``uri_service.go``, ``agent/xds``
naming and listener code, ``agent/proxycfg/naming.go``) so that meshgw's output can be
addressed by, and can address, Consul-managed proxies. Functions are pure; an empty
namespace or partition means ``default``. A component that cannot be empty (a service,
datacenter, trust domain, peer) raises :class:`~meshgw.errors.TranslationError` rather
than producing a name with an empty label that nothing would ever match.
"""

from __future__ import annotations

import struct

from meshgw.errors import TranslationError

# The public naming API: what a user needs to address meshgw's (and Consul's) output —
# SNIs, SPIFFE IDs, cluster and listener names. Stat-prefix and duration helpers stay
# importable for meshgw's own builders but are not part of the contract.
__all__ = [
    "LOCAL_APP_CLUSTER",
    "PUBLIC_LISTENER",
    "customization_hash",
    "customized_cluster_name",
    "exported_cluster_name",
    "failover_target_name",
    "gateway_sni",
    "listener_name",
    "peered_cluster_name",
    "peered_service_sni",
    "peering_server_sni",
    "query_sni",
    "server_sni",
    "service_sni",
    "spiffe_id",
    "upstream_envoy_id",
]

DEFAULT_NAMESPACE = "default"
DEFAULT_PARTITION = "default"

#: Prefix of the clusters a mesh gateway builds for services exported to peers
#: (Consul's ``meshGatewayExportedClusterNamePrefix``).
EXPORTED_PREFIX = "exported~"
#: Prefix of the per-target clusters behind a failover aggregate cluster
#: (Consul's ``FailoverClusterNamePrefix``).
FAILOVER_TARGET_PREFIX = "failover-target~"
#: The sidecar's cluster for the local application.
LOCAL_APP_CLUSTER = "local_app"
#: Name (and stat prefix) of a sidecar's inbound listener.
PUBLIC_LISTENER = "public_listener"
#: Stat prefix of the RBAC filter on a sidecar's inbound listener.
CONNECT_AUTHZ_STAT_PREFIX = "connect_authz"

_INTERNAL = "internal"
_INTERNAL_V1 = "internal-v1"
_EXTERNAL = "external"


def _require(what: str, **parts: str) -> None:
    for field, value in parts.items():
        if not value:
            raise TranslationError(f"cannot build {what}: {field} is empty")


def _ns(namespace: str) -> str:
    return namespace or DEFAULT_NAMESPACE


def _ap(partition: str) -> str:
    return partition or DEFAULT_PARTITION


def _is_default_partition(partition: str) -> bool:
    # Consul compares the literal "default" after defaulting the empty string.
    return _ap(partition) == DEFAULT_PARTITION


# --------------------------------------------------------------------------------------
# Trust domain, SNI, SPIFFE
# --------------------------------------------------------------------------------------


def cluster_trust_domain(cluster_id: str) -> str:
    """The trust domain of a Consul cluster: ``<cluster id>.consul``, lower-cased.

    The ``.consul`` suffix is fixed; it does not follow the agent's DNS ``domain``.
    """
    _require("a trust domain", cluster_id=cluster_id)
    return f"{cluster_id.lower()}.consul"


def service_sni(
    service: str,
    namespace: str,
    partition: str,
    datacenter: str,
    trust_domain: str,
    subset: str = "",
) -> str:
    """SNI (and cluster name) of a service, or of one resolver subset of it.

    ``[<subset>.]<svc>.<ns>.<dc>.internal.<td>`` in the default partition,
    ``[<subset>.]<svc>.<ns>.<ap>.<dc>.internal-v1.<td>`` in any other.
    """
    _require("a service SNI", service=service, datacenter=datacenter, trust_domain=trust_domain)
    head = [subset] if subset else []
    if _is_default_partition(partition):
        parts = [*head, service, _ns(namespace), datacenter, _INTERNAL, trust_domain]
    else:
        parts = [*head, service, _ns(namespace), partition, datacenter, _INTERNAL_V1, trust_domain]
    return ".".join(parts)


def gateway_sni(datacenter: str, partition: str, trust_domain: str) -> str:
    """SNI suffix (and cluster name) of a datacenter's mesh gateways.

    ``<dc>.internal.<td>``, or ``<ap>.<dc>.internal-v1.<td>`` for a non-default partition.
    """
    _require("a gateway SNI", datacenter=datacenter, trust_domain=trust_domain)
    if _is_default_partition(partition):
        return f"{datacenter}.{_INTERNAL}.{trust_domain}"
    return f"{partition}.{datacenter}.{_INTERNAL_V1}.{trust_domain}"


def peered_service_sni(
    service: str, namespace: str, partition: str, peer: str, trust_domain: str
) -> str:
    """SNI of a service exported to a peer: ``<svc>.<ns>.<ap>.<peer>.external.<td>``.

    Unlike :func:`service_sni` the partition is always present. ``trust_domain`` is the
    trust domain of the exporting cluster.
    """
    _require("a peered service SNI", service=service, peer=peer, trust_domain=trust_domain)
    return ".".join((service, _ns(namespace), _ap(partition), peer, _EXTERNAL, trust_domain))


def peered_cluster_name(service: str, namespace: str, peer: str, peer_trust_domain: str) -> str:
    """Name of a sidecar's cluster for a peered upstream: ``<svc>.<ns>.<peer>.external.<td>``.

    There is no partition label (Consul's ``generatePeeredClusterName``); the TLS SNI of
    the same cluster is :func:`peered_service_sni`, which has one.
    """
    _require(
        "a peered cluster name", service=service, peer=peer, peer_trust_domain=peer_trust_domain
    )
    return ".".join((service, _ns(namespace), peer, _EXTERNAL, peer_trust_domain))


def query_sni(name: str, datacenter: str, trust_domain: str) -> str:
    """SNI (and cluster name) of a prepared query: ``<name>.default.<dc>.query.<td>``."""
    _require("a prepared query SNI", name=name, datacenter=datacenter, trust_domain=trust_domain)
    return f"{name}.default.{datacenter}.query.{trust_domain}"


def server_sni(datacenter: str, domain: str, node: str = "") -> str:
    """SNI of Consul servers for WAN federation through mesh gateways.

    ``server.<dc>.<domain>`` for any server (``node`` empty or ``*``), else
    ``<node>.server.<dc>.<domain>``. ``domain`` is the agent's DNS domain, not the trust
    domain; a trailing dot is dropped and an empty domain means Consul's default ``consul``.
    """
    _require("a server SNI", datacenter=datacenter)
    domain = domain.removesuffix(".") or "consul"
    if node in ("", "*"):
        return f"server.{datacenter}.{domain}"
    return f"{node}.server.{datacenter}.{domain}"


def peering_server_sni(datacenter: str, trust_domain: str) -> str:
    """SNI of a cluster's servers for peering control-plane traffic:
    ``server.<dc>.peering.<td>``."""
    _require("a peering server SNI", datacenter=datacenter, trust_domain=trust_domain)
    return f"server.{datacenter}.peering.{trust_domain}"


def spiffe_id(
    service: str, namespace: str, partition: str, datacenter: str, trust_domain: str
) -> str:
    """SPIFFE ID of a service: ``spiffe://<td>[/ap/<ap>]/ns/<ns>/dc/<dc>/svc/<svc>``.

    The ``/ap/<partition>`` segment appears only for a non-default partition.
    """
    _require("a SPIFFE ID", service=service, datacenter=datacenter, trust_domain=trust_domain)
    path = f"/ns/{_ns(namespace)}/dc/{datacenter}/svc/{service}"
    if not _is_default_partition(partition):
        path = f"/ap/{partition}{path}"
    return f"spiffe://{trust_domain}{path}"


def gateway_key(datacenter: str, partition: str = "") -> str:
    """Consul's ``GatewayKey`` string: ``<dc>``, or ``<partition>.<dc>`` outside the
    default partition. Used in mesh gateway stat prefixes."""
    _require("a gateway key", datacenter=datacenter)
    if _is_default_partition(partition):
        return datacenter
    return f"{partition}.{datacenter}"


# --------------------------------------------------------------------------------------
# Cluster names
# --------------------------------------------------------------------------------------

_U64 = (1 << 64) - 1
_FNV64_OFFSET = 0xCBF29CE484222325
_FNV64_PRIME = 0x100000001B3


def _fnv1_64(data: bytes) -> int:
    # FNV-1 (multiply, then xor), as Go's hash/fnv New64 -- not FNV-1a.
    h = _FNV64_OFFSET
    for byte in data:
        h = ((h * _FNV64_PRIME) & _U64) ^ byte
    return h


def _hash_str(value: str) -> int:
    return _fnv1_64(value.encode())


def _hash_struct(type_name: str, fields: tuple[tuple[str, int], ...]) -> int:
    # hashstructure v1: start from the hash of the type name, then XOR in the hash of
    # each (field-name hash, field-value hash) pair, so field order does not matter.
    h = _hash_str(type_name)
    for name, value_hash in fields:
        h ^= _fnv1_64(struct.pack("<QQ", _hash_str(name), value_hash))
    return h


def customization_hash(mode: str = "", protocol: str = "", connect_timeout_ns: int = 0) -> str:
    """Consul's discovery-chain ``CustomizationHash``: the prefix of a sidecar upstream
    cluster name when the upstream overrides the chain's mesh gateway mode, protocol or
    connect timeout.

    Pass only the overrides that actually changed the chain; the others stay at their
    zero value (``""`` / ``0``), as in Consul. The hash is mitchellh/hashstructure v1
    (FNV-1 64) of Consul's anonymous override struct; the result is the first 8
    characters of the unpadded lowercase hex (``fmt.Sprintf("%x", v)[0:8]``). For the one
    value in 2**36 whose hex has fewer than 8 digits Go would panic; meshgw returns the
    whole, shorter hex string instead.

    >>> customization_hash("local")
    'c225dc1c'
    """
    if not -(1 << 63) <= connect_timeout_ns < (1 << 63):
        raise TranslationError(f"connect timeout {connect_timeout_ns}ns does not fit in int64")
    mesh_gateway = _hash_struct("MeshGatewayConfig", (("Mode", _hash_str(str(mode))),))
    top = _hash_struct(
        "",  # the override struct is anonymous: its type name is empty
        (
            ("OverrideMeshGateway", mesh_gateway),
            ("OverrideProtocol", _hash_str(str(protocol))),
            ("OverrideConnectTimeout", _fnv1_64(struct.pack("<q", connect_timeout_ns))),
        ),
    )
    return f"{top:x}"[:8]


def customized_cluster_name(hash_: str, name: str) -> str:
    """``<hash>~<name>`` (Consul's ``CustomizeClusterName``); ``name`` unchanged when
    ``hash_`` is empty, i.e. when nothing was customized."""
    return f"{hash_}~{name}" if hash_ else name


def exported_cluster_name(name: str) -> str:
    """Mesh gateway cluster for a service exported to peers: ``exported~<name>``."""
    return EXPORTED_PREFIX + name


def failover_target_name(index: int, base: str) -> str:
    """Cluster of failover target ``index`` (0 is the primary) behind the aggregate
    cluster ``base``: ``failover-target~<index>~<base>``."""
    if index < 0:
        raise TranslationError(f"failover target index must be >= 0, got {index}")
    return f"{FAILOVER_TARGET_PREFIX}{index}~{base}"


# --------------------------------------------------------------------------------------
# Listener and upstream names
# --------------------------------------------------------------------------------------


def listener_name(name: str, address: str, port: int) -> str:
    """``<name>:<address>:<port>``; an IPv6 address is written without brackets."""
    return f"{name}:{address}:{port}"


def socket_listener_name(name: str, path: str) -> str:
    """Listener bound to a unix socket: ``<name>:<path>``."""
    return f"{name}:{path}"


_PREPARED_QUERY = "prepared_query"


def upstream_envoy_id(
    destination_name: str,
    *,
    datacenter: str = "",
    peer: str = "",
    destination_type: str = "service",
) -> str:
    """Consul's ``UpstreamID.EnvoyID()``: the upstream part of listener names and routes.

    ``name``; ``name?peer=<peer>`` for a peered upstream, else ``name?dc=<dc>`` when the
    upstream names a datacenter; prefixed ``prepared_query:`` for prepared queries.
    """
    _require("an upstream ID", destination_name=destination_name)
    envoy_id = destination_name
    if peer:
        envoy_id += f"?peer={peer}"
    elif datacenter:
        envoy_id += f"?dc={datacenter}"
    if destination_type in ("", "service"):
        return envoy_id
    if destination_type == _PREPARED_QUERY:
        return f"{_PREPARED_QUERY}:{envoy_id}"
    raise TranslationError(
        f"unknown upstream destination_type {destination_type!r} "
        "(expected 'service' or 'prepared_query')"
    )


# --------------------------------------------------------------------------------------
# Stat prefixes
# --------------------------------------------------------------------------------------


def stat_prefix(prefix: str, filter_name: str) -> str:
    """``prefix + filter_name`` with every ``:`` of ``filter_name`` replaced by ``_``
    (Consul's ``makeStatPrefix``; ``:`` would split Envoy's stat names)."""
    return prefix + filter_name.replace(":", "_")


def mesh_gateway_local_stat_prefix(bind_name: str) -> str:
    """Catch-all ``sni_cluster`` chain of a gateway listener:
    ``mesh_gateway_local.<bind>``."""
    return stat_prefix("mesh_gateway_local.", bind_name)


def mesh_gateway_remote_stat_prefix(bind_name: str, datacenter: str, partition: str = "") -> str:
    """Chain towards a remote datacenter (or its servers):
    ``mesh_gateway_remote.<bind>.<gateway key>``."""
    return stat_prefix("mesh_gateway_remote.", f"{bind_name}.{gateway_key(datacenter, partition)}")


def mesh_gateway_local_server_stat_prefix(bind_name: str, datacenter: str) -> str:
    """WAN-federation chain to a local server: ``mesh_gateway_local_server.<bind>.<dc>``."""
    return stat_prefix("mesh_gateway_local_server.", f"{bind_name}.{datacenter}")


def mesh_gateway_local_peering_server_stat_prefix(bind_name: str, datacenter: str) -> str:
    """Peering control-plane chain to the local servers:
    ``mesh_gateway_local_peering_server.<bind>.<dc>``."""
    return stat_prefix("mesh_gateway_local_peering_server.", f"{bind_name}.{datacenter}")


def mesh_gateway_remote_peering_servers_stat_prefix(peer_server_name: str) -> str:
    """Chain to a peer's servers: ``mesh_gateway_remote_peering_servers.<server name>``."""
    return stat_prefix("mesh_gateway_remote_peering_servers.", peer_server_name)


def mesh_gateway_local_peered_stat_prefix(
    service: str, namespace: str, partition: str, datacenter: str
) -> str:
    """Chain for a service exported to peers:
    ``mesh_gateway_local_peered.<svc>.<ns>.<ap>.<dc>``."""
    filter_name = f"{service}.{_ns(namespace)}.{_ap(partition)}.{datacenter}"
    return stat_prefix("mesh_gateway_local_peered.", filter_name)


def upstream_stat_prefix(service: str, namespace: str, partition: str, datacenter: str) -> str:
    """Sidecar upstream through a discovery chain: ``upstream.<svc>.<ns>.<ap>.<dc>``
    (the chain's service, namespace, partition and datacenter)."""
    filter_name = f"{service}.{_ns(namespace)}.{_ap(partition)}.{datacenter}"
    return stat_prefix("upstream.", filter_name)


def upstream_prepared_query_stat_prefix(name: str, datacenter: str = "") -> str:
    """Sidecar prepared-query upstream: ``upstream.prepared_query_<name>``
    (the upstream's Envoy ID with ``:`` made ``_``)."""
    envoy_id = upstream_envoy_id(name, datacenter=datacenter, destination_type=_PREPARED_QUERY)
    return stat_prefix("upstream.", envoy_id)


def upstream_peered_stat_prefix(service: str, namespace: str, peer: str) -> str:
    """Sidecar peered upstream: ``upstream_peered.<svc>.<ns>.<peer>``."""
    return stat_prefix("upstream_peered.", f"{service}.{_ns(namespace)}.{peer}")


# --------------------------------------------------------------------------------------
# Durations
# --------------------------------------------------------------------------------------

# google.protobuf.Duration's range: +-10,000 years.
_MAX_DURATION_SECONDS = 315_576_000_000
_NS_PER_S = 1_000_000_000


def ns_duration(nanoseconds: int) -> str:
    """A protobuf JSON ``Duration`` string: ``"5s"``, ``"1.500s"``, ``"0.000001s"``.

    Like protojson, the fraction has 0, 3, 6 or 9 digits, the fewest that are exact.
    """
    if isinstance(nanoseconds, bool) or not isinstance(nanoseconds, int):
        raise TranslationError(f"a duration must be a whole number of ns, got {nanoseconds!r}")
    sign = "-" if nanoseconds < 0 else ""
    seconds, nanos = divmod(abs(nanoseconds), _NS_PER_S)
    if seconds > _MAX_DURATION_SECONDS:
        raise TranslationError(f"duration {nanoseconds}ns is out of range for Envoy")
    if nanos == 0:
        fraction = ""
    elif nanos % 1_000_000 == 0:
        fraction = f".{nanos // 1_000_000:03d}"
    elif nanos % 1_000 == 0:
        fraction = f".{nanos // 1_000:06d}"
    else:
        fraction = f".{nanos:09d}"
    return f"{sign}{seconds}{fraction}s"


def ms_duration(milliseconds: int) -> str:
    """A protobuf JSON ``Duration`` string from milliseconds: ``5000`` gives ``"5s"``."""
    if isinstance(milliseconds, bool) or not isinstance(milliseconds, int):
        raise TranslationError(f"a duration must be a whole number of ms, got {milliseconds!r}")
    return ns_duration(milliseconds * 1_000_000)
