"""An index over a mesh's service instances, built once per mesh (:func:`catalog_view`).

:func:`build_view` walks the catalog and the local agent's registrations once (linear in
the size of the mesh) and groups what a mesh gateway needs:

* mesh gateway instances by ``(datacenter, partition)``;
* connect instances (``connect-proxy`` sidecars, grouped under the service they front,
  and connect-native services) by ``(datacenter, partition)`` and then
  ``(namespace, service)``.

:func:`consul_servers` lists the Consul servers of a datacenter (the catalog's ``consul``
service), read on demand: only WAN federation and peering through mesh gateways need them.

Each :class:`Instance` carries its node registration, its Consul health and weight
(:func:`endpoint_health`) and can describe itself as a filter context
(:meth:`Instance.filter_view`).

The local agent's registrations (``Mesh.services``) are instances of the local
datacenter and partition too: they live on node ``Mesh.node_name`` (default ``local``)
whose address is ``Mesh.advertise_addr`` (default ``127.0.0.1``), so a registration
without an address is reached there, as Consul's agent would advertise it. A catalog
entry for the same node and service id takes precedence over the agent's copy.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from enum import Enum
from typing import Any, NamedTuple

from meshgw._resolve.memo import per_mesh
from meshgw.model.catalog import CatalogEntry, Health, instance_checks
from meshgw.model.common import ProxyMode, ServiceAddress, ServiceKind
from meshgw.model.mesh import Mesh
from meshgw.model.registration import Service, Weights

__all__ = [
    "CONSUL_SERVICE",
    "DEFAULT_ADVERTISE_ADDR",
    "DEFAULT_NODE_NAME",
    "HEALTHY",
    "UNHEALTHY",
    "CatalogView",
    "Instance",
    "LocationKey",
    "ServiceKey",
    "agent_entries",
    "build_view",
    "catalog_view",
    "consul_servers",
    "endpoint_health",
    "instance_health",
]

#: Envoy health status names, as meshgw emits them.
HEALTHY = "HEALTHY"
UNHEALTHY = "UNHEALTHY"

#: The service every Consul server registers for itself in the catalog.
CONSUL_SERVICE = "consul"

#: Node of the local agent's own registrations when the mesh names none.
DEFAULT_NODE_NAME = "local"
#: Address of that node when the mesh gives no ``advertise_addr``.
DEFAULT_ADVERTISE_ADDR = "127.0.0.1"

_DEFAULT = "default"
_CRITICAL = Health.CRITICAL_LIKE
_PASSING = Health.PASSING_LIKE
_MIN_WEIGHT = 1
_MAX_WEIGHT = 128


def endpoint_health(
    statuses: Iterable[str], weights: Weights | None, *, only_passing: bool = False
) -> tuple[str, int]:
    """Consul's ``calculateEndpointHealthAndWeight``: ``(health status, weight)``.

    HEALTHY with the passing weight (1 without weights); any critical (or maintenance)
    check makes it UNHEALTHY, and with ``only_passing`` so does any check that is not
    passing; a warning check with weights set uses the warning weight. A weight below 1
    is UNHEALTHY with weight 1; above 128 it is capped at 128. An empty status counts as
    passing.
    """
    health, passing_health, weight = instance_health(statuses, weights)
    return (passing_health if only_passing else health), weight


def instance_health(statuses: Iterable[str], weights: Weights | None) -> tuple[str, str, int]:
    """``(health, health with OnlyPassing, weight)`` of one instance from the statuses of
    its checks, in one pass: the rule of :func:`endpoint_health`."""
    critical = not_passing = warning = False
    for status in statuses:
        if status in _PASSING:
            continue
        not_passing = True
        if status in _CRITICAL:
            critical = True
        elif status == Health.WARNING:
            warning = True
    if weights is None:
        weight = 1
    else:
        weight = weights.warning if warning else weights.passing
        if weight < _MIN_WEIGHT:
            return UNHEALTHY, UNHEALTHY, _MIN_WEIGHT
        weight = min(weight, _MAX_WEIGHT)
    health = UNHEALTHY if critical else HEALTHY
    return health, UNHEALTHY if not_passing else health, weight


class Instance(NamedTuple):
    """One service instance on one node, with its health.

    ``service_name`` / ``namespace`` name the service the instance serves: for a
    sidecar, the service it fronts. ``health`` and ``weight`` are Consul's endpoint
    health; ``passing_health`` is the health when a resolver subset sets
    ``OnlyPassing``. (A named tuple: there are tens of thousands of these per large
    translation, and construction cost matters.)
    """

    entry: CatalogEntry
    service: Service
    datacenter: str
    partition: str
    namespace: str
    service_name: str
    health: str
    passing_health: str
    weight: int

    @property
    def node(self) -> str:
        return self.entry.node

    def address(self, wan: bool) -> ServiceAddress:
        """Consul's ``BestAddress(wan)`` for this instance."""
        return self.entry.best_address(wan)

    def health_and_weight(self, only_passing: bool = False) -> tuple[str, int]:
        """``(health, weight)``, with a subset's ``OnlyPassing`` applied when asked."""
        return (self.passing_health if only_passing else self.health), self.weight

    def filter_view(self) -> Mapping[str, Any]:
        """The same context as a mapping whose parts are built when first read: a filter
        usually reads one or two fields, and a large gateway evaluates tens of thousands
        of instances. (Treat it as read-only.)"""
        return _LazyMapping(_CONTEXT_FIELDS, self)


_Factory = Callable[[Instance], Any]


class _LazyMapping(Mapping[str, Any]):
    """A read-only mapping of fixed keys whose values are computed on first access."""

    __slots__ = ("_factories", "_instance", "_values")

    def __init__(self, factories: Mapping[str, _Factory], instance: Instance) -> None:
        self._factories = factories
        self._instance = instance
        self._values: dict[str, Any] = {}

    def __getitem__(self, key: str) -> Any:
        values = self._values
        if key in values:
            return values[key]
        value = values[key] = self._factories[key](self._instance)
        return value

    def get(self, key: str, default: Any = None) -> Any:
        # Mapping.get goes through try/except; filters call this in their inner loop.
        values = self._values
        if key in values:
            return values[key]
        factory = self._factories.get(key)
        if factory is None:
            return default
        value = values[key] = factory(self._instance)
        return value

    def __iter__(self) -> Iterator[str]:
        return iter(self._factories)

    def __len__(self) -> int:
        return len(self._factories)


def _proxy_field(name: str, empty: Any) -> _Factory:
    def get(inst: Instance) -> Any:
        proxy = inst.service.proxy
        if proxy is None:
            return empty
        value = getattr(proxy, name)
        return _ENUM_TEXT.get(value, value) if isinstance(value, Enum) else value

    return get


def _weights(inst: Instance) -> Mapping[str, int] | None:
    # Consul's Weights is a pointer: absent when the registration has none.
    w = inst.service.weights
    return None if w is None else {"Passing": w.passing, "Warning": w.warning}


_NODE_FIELDS: dict[str, _Factory] = {
    "ID": lambda i: i.entry.id,
    "Node": lambda i: i.entry.node,
    "Address": lambda i: i.entry.address,
    "Datacenter": lambda i: i.datacenter,
    # Copies, not MappingProxyType views: isinstance(view, Mapping), which every filter
    # step does, is several times slower for a mappingproxy than for a dict.
    "TaggedAddresses": lambda i: dict(i.entry.tagged_addresses),
    "Meta": lambda i: dict(i.entry.node_meta),
}
_PROXY_FIELDS: dict[str, _Factory] = {
    "DestinationServiceName": _proxy_field("destination_service_name", ""),
    "DestinationServiceID": _proxy_field("destination_service_id", ""),
    "LocalServiceAddress": _proxy_field("local_service_address", ""),
    "LocalServicePort": _proxy_field("local_service_port", 0),
    "Mode": _proxy_field("mode", ""),
}
_SERVICE_FIELDS: dict[str, _Factory] = {
    "Kind": lambda i: _ENUM_TEXT.get(i.service.kind, i.service.kind),
    "ID": lambda i: i.service.id or i.service.name,
    "Service": lambda i: i.service.name,
    "Tags": lambda i: tuple(i.service.tags),
    "Address": lambda i: i.service.address,
    "TaggedAddresses": lambda i: {
        name: {"Address": addr.address, "Port": addr.port}
        for name, addr in i.service.tagged_addresses.items()
    },
    "Meta": lambda i: dict(i.service.meta),
    "Port": lambda i: i.service.port,
    "Weights": _weights,
    "EnableTagOverride": lambda i: i.service.enable_tag_override,
    "Proxy": lambda i: _LazyMapping(_PROXY_FIELDS, i),
    "Connect": lambda i: {
        "Native": bool(i.service.connect is not None and i.service.connect.native)
    },
    "Namespace": lambda i: i.namespace,
    "Partition": lambda i: i.partition,
}
_CONTEXT_FIELDS: dict[str, _Factory] = {
    "Node": lambda i: _LazyMapping(_NODE_FIELDS, i),
    "Service": lambda i: _LazyMapping(_SERVICE_FIELDS, i),
    "Checks": lambda i: [
        {"CheckID": c.id, "Name": c.name, "Status": c.status, "ServiceID": c.service_id}
        for c in instance_checks(i.entry.checks, i.service.id or i.service.name)
    ],
}
_ENUM_TEXT: dict[Enum, str] = {
    **{member: member.value for member in ServiceKind},
    **{member: member.value for member in ProxyMode},
}


ServiceKey = tuple[str, str]
"""``(namespace, service)``."""
LocationKey = tuple[str, str]
"""``(datacenter, partition)``; the partition is never empty (``default``)."""


class CatalogView:
    """Instances of a mesh grouped for gateways. Build it with :func:`build_view`."""

    __slots__ = ("_connect", "_gateways")

    def __init__(
        self,
        gateways: dict[LocationKey, list[Instance]],
        connect: dict[LocationKey, dict[ServiceKey, list[Instance]]],
    ) -> None:
        self._gateways = gateways
        self._connect = connect

    def gateway_locations(self) -> list[LocationKey]:
        """Every ``(datacenter, partition)`` with a mesh gateway instance, sorted."""
        return sorted(self._gateways)

    def gateways(self, datacenter: str, partition: str = "") -> tuple[Instance, ...]:
        """Mesh gateway instances of one datacenter and partition, in node order."""
        return tuple(self._gateways.get((datacenter, partition or _DEFAULT), ()))

    def connect_services(self, datacenter: str, partition: str = "") -> list[ServiceKey]:
        """``(namespace, service)`` of every connect service with instances there, sorted."""
        return sorted(self._connect.get((datacenter, partition or _DEFAULT), {}))

    def connect_instances(
        self, datacenter: str, partition: str, namespace: str, service: str
    ) -> tuple[Instance, ...]:
        """Connect instances of one service (sidecars and native), in node order."""
        group = self._connect.get((datacenter, partition or _DEFAULT), {})
        return tuple(group.get((namespace or _DEFAULT, service), ()))


def catalog_view(mesh: Mesh) -> CatalogView:
    """:func:`build_view` of ``mesh``, built once per mesh object (see
    :mod:`meshgw._resolve.memo`): translating every proxy of a mesh indexes it once."""
    return per_mesh(mesh, "catalog_view", build_view)


def agent_entries(mesh: Mesh) -> list[CatalogEntry]:
    """The local agent's registrations (``Mesh.services``) as catalog entries of its node
    in the local datacenter, less those the catalog already has on that node (the
    catalog's copy wins)."""
    if not mesh.services:
        return []
    local_dc = mesh.datacenter
    local_ap = mesh.partition or _DEFAULT
    node = mesh.node_name or DEFAULT_NODE_NAME
    in_catalog = {
        e.service.id or e.service.name
        for e in mesh.catalog
        if e.node == node and e.service is not None and (e.datacenter or local_dc) == local_dc
    }
    return [
        CatalogEntry(
            node=node,
            address=mesh.advertise_addr or DEFAULT_ADVERTISE_ADDR,
            datacenter=local_dc,
            partition=svc.partition or local_ap,
            service=svc,
            checks=svc.checks,
        )
        for svc in mesh.services
        if (svc.id or svc.name) not in in_catalog
    ]


def build_view(mesh: Mesh) -> CatalogView:
    """Index ``mesh``'s catalog and local registrations (see the module docstring)."""
    gateways: dict[LocationKey, list[Instance]] = {}
    connect: dict[LocationKey, dict[ServiceKey, list[Instance]]] = {}
    local_dc = mesh.datacenter
    local_ap = mesh.partition or _DEFAULT
    mesh_gateway = ServiceKind.MESH_GATEWAY
    for entries in (agent_entries(mesh), mesh.catalog):
        for entry in entries:
            instance = _instance(entry, local_dc, local_ap)
            if instance is None:
                continue
            location = (instance.datacenter, instance.partition)
            if instance.service.kind == mesh_gateway:
                gateways.setdefault(location, []).append(instance)
            else:
                by_service = connect.setdefault(location, {})
                key = (instance.namespace, instance.service_name)
                by_service.setdefault(key, []).append(instance)
    # Consul's catalog answers in node order (its state store indexes service instances
    # by node, then service id), never in registration order: so does this view, and the
    # output does not depend on the order of the catalog in the files.
    for group in gateways.values():
        group.sort(key=_catalog_order)
    for by_service in connect.values():
        for group in by_service.values():
            group.sort(key=_catalog_order)
    return CatalogView(gateways, connect)


def _catalog_order(instance: Instance) -> tuple[str, str]:
    return (instance.entry.node, instance.service.id or instance.service.name)


def _served_name(svc: Service) -> str:
    """The service an instance serves in the mesh: a sidecar's destination, a gateway's
    or a Connect-native service's own name; ``""`` for anything else."""
    kind = svc.kind
    if kind == ServiceKind.CONNECT_PROXY:
        proxy = svc.proxy
        return proxy.destination_service_name if proxy is not None else ""
    if kind == ServiceKind.MESH_GATEWAY or (
        kind == ServiceKind.TYPICAL and svc.connect is not None and svc.connect.native
    ):
        return svc.name
    return ""


def _instance(entry: CatalogEntry, local_dc: str, local_ap: str) -> Instance | None:
    """The mesh instance of one node registration, located and with its health; ``None``
    when it has no service that the mesh routes to. (Runs once per catalog entry.)"""
    svc = entry.service
    if svc is None:
        return None
    name = _served_name(svc)
    if not name:
        return None
    datacenter = entry.datacenter or local_dc
    # An entry without a partition is in the one the local agent's API would assume: the
    # agent's own partition locally, the default one elsewhere.
    partition = (
        entry.partition or svc.partition or (local_ap if datacenter == local_dc else _DEFAULT)
    )
    checks = entry.checks
    weights = svc.weights
    if checks or weights is not None:
        health, passing_health, weight = instance_health(
            [c.status for c in instance_checks(checks, svc.id or svc.name)], weights
        )
    else:
        health, passing_health, weight = HEALTHY, HEALTHY, 1
    namespace = svc.namespace or _DEFAULT
    return Instance(
        entry, svc, datacenter, partition, namespace, name, health, passing_health, weight
    )


def consul_servers(mesh: Mesh, datacenter: str = "") -> tuple[CatalogEntry, ...]:
    """The Consul servers of ``datacenter`` (the mesh's own by default), in catalog order.

    They are the catalog's instances of the ``consul`` service (kind typical), which every
    server registers for itself in the default partition, with meta such as
    ``grpc_tls_port`` and ``read_replica``. Only ``Mesh.catalog`` is read: an agent's
    service definitions never declare it. The catalog is scanned once per mesh, on the
    first call (not part of :func:`build_view`, so translations that do not need servers
    do not pay for it).
    """
    by_dc = per_mesh(mesh, "consul_servers", _servers_by_datacenter)
    return by_dc.get(datacenter or mesh.datacenter, ())


def _servers_by_datacenter(mesh: Mesh) -> dict[str, tuple[CatalogEntry, ...]]:
    local_dc = mesh.datacenter
    typical = ServiceKind.TYPICAL
    found: dict[str, list[CatalogEntry]] = {}
    for entry in mesh.catalog:
        svc = entry.service
        if (
            svc is not None
            and svc.name == CONSUL_SERVICE
            and svc.kind == typical
            and (entry.partition or svc.partition or _DEFAULT) == _DEFAULT
        ):
            found.setdefault(entry.datacenter or local_dc, []).append(entry)
    return {dc: tuple(entries) for dc, entries in found.items()}
