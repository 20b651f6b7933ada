"""Where each proxy of a mesh is registered, and the mesh as each datacenter sees it.

A :class:`~meshgw.model.Mesh` is written from one (local) datacenter, but its catalog
holds every datacenter's registrations. Every ``mesh-gateway`` and ``connect-proxy``
among them -- the local agent's own (``Mesh.services``) and every catalog entry, in any
datacenter -- is a :class:`MeshProxy`: the registration, its datacenter, node and
partition. :func:`datacenter_mesh` gives the mesh as another datacenter's Consul
would see it, which is what such a proxy is translated in:

* that datacenter is the local one (its partition the default);
* the same config entries (WAN federation replicates them from the primary) and the
  same catalog, in which the original local agent's registrations are ordinary
  entries of their own datacenter and node;
* its own peerings and ACL settings (:meth:`~meshgw.model.Mesh.settings_of`: those its
  files declared, in a mesh joined by :func:`meshgw.combine_datacenters`; else the
  mesh's ACL settings, configured cluster-wide, and no peerings, since a peering
  belongs to the datacenter that established it);
* no agent registrations of its own and no ``primary_gateways`` (a setting of the
  local agent).

Everything here is computed once per mesh object (:mod:`meshgw._resolve.memo`); the
datacenter views share the original mesh's catalog index.
"""

from __future__ import annotations

import difflib

import attrs

from meshgw._resolve.catalog import agent_entries, catalog_view
from meshgw._resolve.memo import peek, per_mesh, seed
from meshgw.errors import LookupFailed
from meshgw.model.catalog import CatalogEntry
from meshgw.model.common import ServiceKind, Source
from meshgw.model.mesh import Mesh
from meshgw.model.registration import Service

__all__ = [
    "MeshProxy",
    "datacenter_mesh",
    "datacenters",
    "find_proxy",
    "locate",
    "placement_of",
    "proxies",
    "proxies_named",
]

_DEFAULT = "default"
_TRANSLATABLE = (ServiceKind.MESH_GATEWAY, ServiceKind.CONNECT_PROXY)
# Memo key marking a mesh made by datacenter_mesh (its value: that datacenter).
_VIEW_OF = "datacenter_view_of"


@attrs.frozen
class MeshProxy:
    """A mesh gateway or sidecar proxy of a mesh, and where it is registered.

    Two MeshProxy are equal when they name the same registration: the same mesh (its
    name in a :class:`meshgw.MeshSet`, ``""`` for a lone mesh), datacenter, node and
    service id -- what Consul keeps unique. ``service`` is the registration itself,
    ``address`` its node's address. Sorting follows :attr:`key`.
    """

    datacenter: str
    node: str
    id: str
    partition: str = _DEFAULT
    mesh_name: str = ""
    service: Service = attrs.field(factory=Service, eq=False, repr=False)
    address: str = attrs.field(default="", eq=False)

    @property
    def kind(self) -> ServiceKind:
        """``mesh-gateway`` or ``connect-proxy``."""
        return self.service.kind

    @property
    def source(self) -> Source | None:
        """Where the registration was written (file and line), when loaded from a file."""
        return self.service.source

    @property
    def key(self) -> str:
        """``[mesh/]datacenter/node/id``: unique in its mesh (or set), stable, sortable."""
        parts = (self.mesh_name, self.datacenter, self.node, self.id)
        return "/".join(p for p in parts if p) if self.mesh_name else "/".join(parts[1:])

    def __str__(self) -> str:
        return self.key

    def __lt__(self, other: MeshProxy) -> bool:
        return self._order() < other._order()

    def _order(self) -> tuple[str, str, str, str]:
        return (self.mesh_name, self.datacenter, self.node, self.id)


class _Placements:
    """Every proxy of a mesh, sorted, with the lookups translation needs."""

    __slots__ = ("all", "by_name", "by_object")

    def __init__(self, mesh: Mesh) -> None:
        local_dc = mesh.datacenter
        local_ap = mesh.partition or _DEFAULT
        found: dict[tuple[str, str, str], MeshProxy] = {}
        for entry in (*agent_entries(mesh), *mesh.catalog):
            svc = entry.service
            if svc is None or svc.kind not in _TRANSLATABLE or entry.peer_name or svc.peer_name:
                continue  # a peer's proxies are translated in the peer's own mesh
            datacenter = entry.datacenter or local_dc
            sid = svc.id or svc.name
            partition = (
                entry.partition
                or svc.partition
                or (local_ap if datacenter == local_dc else _DEFAULT)
            )
            # A second registration of the same id on the same node replaces the first,
            # as in Consul's catalog.
            found[(datacenter, entry.node, sid)] = MeshProxy(
                datacenter=datacenter,
                node=entry.node,
                id=sid,
                partition=partition,
                service=svc,
                address=entry.address,
            )
        self.all: tuple[MeshProxy, ...] = tuple(found[k] for k in sorted(found))
        self.by_object: dict[int, MeshProxy] = {id(p.service): p for p in self.all}
        self.by_name: dict[str, list[MeshProxy]] = {}
        for p in self.all:
            self.by_name.setdefault(p.id, []).append(p)
            if p.service.name != p.id:
                self.by_name.setdefault(p.service.name, []).append(p)


def _placements(mesh: Mesh) -> _Placements:
    return per_mesh(mesh, "placements", _Placements)


def proxies(mesh: Mesh) -> tuple[MeshProxy, ...]:
    """Every mesh gateway and connect-proxy of ``mesh``, in every datacenter, sorted by
    datacenter, node and id."""
    return _placements(mesh).all


def placement_of(mesh: Mesh, service: Service) -> MeshProxy | None:
    """Where ``service`` -- a registration object of ``mesh`` -- is registered; ``None``
    for a Service that is not one of the mesh's own objects."""
    return _placements(mesh).by_object.get(id(service))


def proxies_named(mesh: Mesh, name: str) -> tuple[MeshProxy, ...]:
    """Every proxy whose id or name is ``name``, sorted."""
    return tuple(_placements(mesh).by_name.get(name, ()))


def find_proxy(mesh: Mesh, name: str, *, datacenter: str = "", node: str = "") -> MeshProxy:
    """The one proxy whose id (else name) is ``name``, narrowed by ``datacenter`` and
    ``node``; :class:`~meshgw.errors.LookupFailed` when there is none or several."""
    index = _placements(mesh)
    found = [
        p
        for p in index.by_name.get(name, ())
        if (not datacenter or p.datacenter == datacenter) and (not node or p.node == node)
    ]
    if len(found) == 1:
        return found[0]
    where = "".join(
        f" {k} {v!r}" for k, v in (("in datacenter", datacenter), ("on node", node)) if v
    )
    if not found:
        close = difflib.get_close_matches(name, sorted(index.by_name), n=3)
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise LookupFailed(f"no mesh gateway or connect-proxy {name!r}{where}{hint}")
    listed = ", ".join(p.key for p in found[:5]) + (", ..." if len(found) > 5 else "")
    raise LookupFailed(
        f"{len(found)} proxies are registered as {name!r}{where} ({listed}); name the "
        "datacenter and node"
    )


def locate(registration: Service | MeshProxy, mesh: Mesh) -> tuple[Service, Mesh]:
    """The registration and the mesh to translate it in: ``mesh`` as its datacenter sees
    it when it is one of the mesh's proxies of another datacenter, else ``mesh``."""
    if isinstance(registration, MeshProxy):
        return registration.service, datacenter_mesh(mesh, registration.datacenter)
    if peek(mesh, _VIEW_OF) is not None:
        # Already a datacenter's view (what translate_all passes): indexing a view's
        # placements again, once per datacenter, would cost the whole catalog each time.
        return registration, mesh
    found = placement_of(mesh, registration)
    if found is None:
        return registration, mesh
    return registration, datacenter_mesh(mesh, found.datacenter)


def datacenters(mesh: Mesh) -> tuple[str, ...]:
    """The mesh's local datacenter and every datacenter its catalog names, sorted."""
    return per_mesh(mesh, "datacenters", _datacenters)


def _datacenters(mesh: Mesh) -> tuple[str, ...]:
    return tuple(sorted({mesh.datacenter, *(e.datacenter for e in mesh.catalog if e.datacenter)}))


def datacenter_mesh(mesh: Mesh, datacenter: str) -> Mesh:
    """``mesh`` as ``datacenter``'s Consul sees it (see the module docstring); ``mesh``
    itself for its own datacenter. The same object is returned on every call."""
    if not datacenter or datacenter == mesh.datacenter:
        return mesh
    views: dict[str, Mesh] = per_mesh(mesh, "datacenter_views", _new_dict)
    view = views.get(datacenter)
    if view is None:
        view = views[datacenter] = _datacenter_mesh(mesh, datacenter)
    return view


def _new_dict(_: Mesh) -> dict[str, Mesh]:
    return {}


def _datacenter_mesh(mesh: Mesh, datacenter: str) -> Mesh:
    local_dc = mesh.datacenter
    catalog: list[CatalogEntry] = agent_entries(mesh)
    catalog.extend(
        e if e.datacenter else attrs.evolve(e, datacenter=local_dc) for e in mesh.catalog
    )
    own = mesh.settings_of(datacenter)
    view = Mesh(
        datacenter=datacenter,
        primary_datacenter=mesh.primary_datacenter or local_dc,
        trust_domain=mesh.trust_domain,
        domain=mesh.domain,
        connect=mesh.connect,
        acl=own.acl,
        default_intention_policy=own.default_intention_policy,
        config_entries=mesh.config_entries,
        catalog=tuple(catalog),
        peers=own.peers,
        tls=mesh.tls,
        sources=mesh.sources,
    )
    seed(view, _VIEW_OF, datacenter)
    if (mesh.partition or _DEFAULT) == _DEFAULT:
        # Every entry then lands in the same (datacenter, partition) group as in the
        # original's index, so the index is shared instead of rebuilt per datacenter.
        # (With a non-default local partition the view indexes its own catalog.)
        seed(view, "catalog_view", catalog_view(mesh))
    return view
