"""The mesh: one local datacenter's view of registrations, config entries, catalog and peers."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from typing import Any, Literal, Protocol

import attrs

from meshgw.errors import LookupFailed
from meshgw.model.catalog import CatalogEntry
from meshgw.model.common import ServiceAddress, Source
from meshgw.model.entries import (
    ConfigEntry,
    ExportedServices,
    MeshConfigEntry,
    ProxyDefaults,
    ServiceDefaults,
    ServiceResolver,
)
from meshgw.model.registration import Service

__all__ = [
    "DEFAULT_DATACENTER",
    "DEFAULT_TRUST_DOMAIN",
    "TLS_PLACEHOLDERS",
    "TLS_PLACEHOLDER_PATTERN",
    "AclSettings",
    "AgentConnect",
    "Mesh",
    "Peer",
    "PeerService",
    "TlsSettings",
]

#: Used when a mesh names no datacenter (Consul's own default).
DEFAULT_DATACENTER = "dc1"
#: Placeholder trust domain used when a mesh names none: the one in Consul's own test
#: fixtures. A real cluster's trust domain is ``<cluster id>.consul``
#: (``consul connect ca get-config`` / ``/v1/connect/ca/roots`` → ``TrustDomain``).
DEFAULT_TRUST_DOMAIN = "11111111-2222-3333-4444-555555555555.consul"


def _source() -> Any:
    return attrs.field(default=None, eq=False, repr=False)


@attrs.frozen
class PeerService:
    """A service a cluster peer exports to this cluster."""

    name: str = ""
    namespace: str = ""
    partition: str = ""
    protocol: str = ""


@attrs.frozen
class Peer:
    """An established cluster peering, seen from this cluster.

    ``name`` is this cluster's name for the peer; ``remote_name`` the name the peer gives
    this cluster (it appears in the SNI of services the peer exports to us);
    ``gateways`` are the peer's mesh gateways (their WAN addresses), which carry the
    traffic of every imported service; ``server_name`` / ``server_addresses`` locate the
    peer's servers for peering control-plane traffic through mesh gateways.
    """

    name: str = ""
    partition: str = ""
    trust_domain: str = ""
    datacenter: str = ""
    remote_name: str = ""
    remote_partition: str = ""
    server_name: str = ""
    server_addresses: tuple[str, ...] = ()
    gateways: tuple[ServiceAddress, ...] = ()
    services: tuple[PeerService, ...] = ()
    source: Source | None = _source()


@attrs.frozen
class AgentConnect:
    """The agent's ``connect`` block (only what bears on mesh gateways)."""

    enabled: bool = True
    enable_mesh_gateway_wan_federation: bool = False
    ca_provider: str = ""
    #: Kept out of reprs: a Consul CA configuration holds the CA's private key (or a
    #: Vault token).
    ca_config: Mapping[str, Any] = attrs.field(factory=dict, repr=False)


#: The placeholders a ``mesh_tls`` path or secret name may contain.
TLS_PLACEHOLDERS: tuple[str, ...] = ("service", "namespace", "partition", "datacenter")
#: How a placeholder is written in a template: ``{name}``.
TLS_PLACEHOLDER_PATTERN = re.compile(r"\{([^{}]*)\}")


@attrs.frozen
class AclSettings:
    """The two keys of the agent's ``acl`` block that decide intentions' default:
    ``enabled`` and ``default_policy`` (``allow`` unless set). Tokens and the other ACL
    settings are not read (or kept)."""

    enabled: bool = False
    default_policy: str = ""
    source: Source | None = _source()


@attrs.frozen
class DatacenterSettings:
    """What one datacenter of a WAN-federated cluster says of itself, beside the mesh's
    own datacenter: its peerings (``peers``, as in a mesh file) and the ACL settings
    that decide its intentions' default. :func:`meshgw.combine_datacenters` fills
    :attr:`Mesh.datacenter_settings` from each datacenter's files;
    :func:`meshgw.datacenter_view` hands a datacenter its own."""

    datacenter: str
    peers: tuple[Peer, ...] = ()
    acl: AclSettings = AclSettings()
    default_intention_policy: str = ""


@attrs.frozen
class TlsSettings:
    """Where sidecars find their certificates (see docs/certificates.md).

    File paths may contain ``{service}``, ``{namespace}``, ``{partition}`` and
    ``{datacenter}``, filled per proxy. With ``sds_cluster`` set, secrets are fetched
    over SDS by the names ``sds_ca_secret`` and ``sds_cert_secret`` instead.
    """

    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    sds_cluster: str = ""
    sds_ca_secret: str = ""
    sds_cert_secret: str = ""


@attrs.frozen
class Mesh:
    """Everything meshgw needs about a mesh, as seen from one (local) datacenter.

    Build one with :func:`meshgw.load`, :func:`meshgw.loads` or :meth:`Mesh.from_dict`.
    """

    datacenter: str = DEFAULT_DATACENTER
    primary_datacenter: str = ""
    trust_domain: str = DEFAULT_TRUST_DOMAIN
    domain: str = "consul"
    partition: str = ""
    node_name: str = ""
    advertise_addr: str = ""
    primary_gateways: tuple[str, ...] = ()
    connect: AgentConnect = AgentConnect()
    acl: AclSettings = AclSettings()
    default_intention_policy: str = ""
    services: tuple[Service, ...] = ()
    config_entries: tuple[ConfigEntry, ...] = ()
    catalog: tuple[CatalogEntry, ...] = ()
    peers: tuple[Peer, ...] = ()
    tls: TlsSettings | None = None
    #: Other datacenters' own peerings and ACL settings (a combined mesh; see
    #: :class:`DatacenterSettings`). A datacenter not listed shares this mesh's ACL
    #: settings and has no peerings.
    datacenter_settings: tuple[DatacenterSettings, ...] = ()
    sources: tuple[str, ...] = attrs.field(default=(), eq=False)
    _index: dict[tuple[str, str, str], Any] = attrs.field(
        init=False, factory=dict, eq=False, repr=False
    )

    def __attrs_post_init__(self) -> None:
        index = self._index
        for entry in self.config_entries:
            key = (entry.kind, getattr(entry, "partition", "") or "default", entry.name)
            index.setdefault(key, entry)
        for svc in self.services:
            index.setdefault(("service-id", "", svc.id), svc)
        for svc in self.services:
            index.setdefault(("service-name", "", svc.name), svc)
        for peer in self.peers:
            index.setdefault(("peer", peer.partition or "default", peer.name), peer)

    @classmethod
    def from_dict(
        cls,
        data: Mapping[str, Any],
        *,
        name: str | None = None,
        config_typos: Literal["error", "warn"] = "error",
    ) -> Mesh:
        """Build a mesh from a mapping in any shape :func:`meshgw.loads` accepts
        (``config_typos`` as there)."""
        if _loader is None:  # pragma: no cover - meshgw/__init__ imports the loader
            raise RuntimeError("meshgw's loader is not imported")
        return _loader([(data, name)], config_typos=config_typos)

    @property
    def local_partition(self) -> str:
        return self.partition or "default"

    def settings_of(self, datacenter: str) -> DatacenterSettings:
        """The peerings and ACL settings of ``datacenter``: this mesh's own for its
        datacenter, a :class:`DatacenterSettings` of :attr:`datacenter_settings`, else
        this mesh's ACL settings without peerings (ACLs are configured cluster-wide)."""
        if not datacenter or datacenter == self.datacenter:
            return DatacenterSettings(
                self.datacenter, self.peers, self.acl, self.default_intention_policy
            )
        for settings in self.datacenter_settings:
            if settings.datacenter == datacenter:
                return settings
        return DatacenterSettings(datacenter, (), self.acl, self.default_intention_policy)

    def service(self, name_or_id: str) -> Service:
        """A registration by id, else by name; :class:`LookupFailed` when absent."""
        found = self._index.get(("service-id", "", name_or_id)) or self._index.get(
            ("service-name", "", name_or_id)
        )
        if found is None:
            raise LookupFailed(f"no service registration {name_or_id!r}{self._hint(name_or_id)}")
        return found  # type: ignore[no-any-return]

    def _hint(self, wanted: str) -> str:
        # A service known only through its sidecar (sidecar_service expanded, or a
        # catalog-only destination) is what users mean most often; then close spellings.
        sidecars = sorted(
            s.id
            for s in self.services
            if s.proxy is not None and s.proxy.destination_service_name == wanted
        )
        if sidecars:
            return f"; did you mean its sidecar proxy {sidecars[0]!r}?"
        ids = sorted({s.id for s in self.services})
        close = difflib.get_close_matches(wanted, ids, n=1)
        known = ", ".join(ids) or "none"
        return (f"; did you mean {close[0]!r}?" if close else "") + f" (registered: {known})"

    def proxy_defaults(self, partition: str = "") -> ProxyDefaults | None:
        """The ``proxy-defaults`` entry of a partition (the local one by default)."""
        p = partition or self.local_partition
        return self._index.get(("proxy-defaults", p, "global"))

    def service_defaults(self, name: str, partition: str = "") -> ServiceDefaults | None:
        """The ``service-defaults`` entry of ``name`` in a partition (the local one by
        default), or ``None``."""
        p = partition or self.local_partition
        return self._index.get(("service-defaults", p, name))

    def service_resolver(self, name: str, partition: str = "") -> ServiceResolver | None:
        """The ``service-resolver`` entry of ``name`` in a partition (the local one by
        default), or ``None``."""
        p = partition or self.local_partition
        return self._index.get(("service-resolver", p, name))

    def mesh_entry(self, partition: str = "") -> MeshConfigEntry | None:
        """The ``mesh`` config entry of a partition (the local one by default), or
        ``None``."""
        p = partition or self.local_partition
        return self._index.get(("mesh", p, "mesh"))

    def exported_services(self, partition: str = "") -> ExportedServices | None:
        """The ``exported-services`` entry of a partition (the local one by default), or
        ``None``."""
        p = partition or self.local_partition
        entry = self._index.get(("exported-services", "default", p))
        if entry is None:
            entry = self._index.get(("exported-services", p, p))
        return entry

    def peer(self, name: str, partition: str = "") -> Peer:
        """The cluster peer ``name`` of a partition (the local one by default);
        :class:`~meshgw.errors.LookupFailed` when there is none."""
        p = partition or self.local_partition
        found = self._index.get(("peer", p, name))
        if found is None:
            known = ", ".join(sorted(x.name for x in self.peers)) or "none"
            raise LookupFailed(f"no peer {name!r} (known peers: {known})")
        return found  # type: ignore[no-any-return]


#: Builds a Mesh from parsed documents. The model layer does not import the loader (it
#: sits below it); the loader installs itself here when imported, which ``import
#: meshgw`` always does before any model can be used.
class MeshLoader(Protocol):
    def __call__(
        self,
        items: Iterable[tuple[Any, str | None]],
        *,
        config_typos: Literal["error", "warn"],
    ) -> Mesh: ...


_loader: MeshLoader | None = None


def install_loader(loader: MeshLoader) -> None:
    """Make :meth:`Mesh.from_dict` use ``loader`` (called once, by meshgw's loader:
    ``loader(items, config_typos=...)`` with ``items`` as ``(mapping, name)`` pairs)."""
    global _loader
    _loader = loader
