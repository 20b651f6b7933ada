"""One cluster's mesh from the files of each of its datacenters.

Each datacenter's agent files (its own ``datacenter``, registrations, catalog view) load
into a :class:`~meshgw.model.Mesh` of their own; :func:`combine_datacenters` joins them
into the cluster's mesh, written from the primary datacenter: the other datacenters'
agent registrations become catalog entries of their datacenter and node (so that
:func:`meshgw.proxies` lists them and :func:`meshgw.translate` translates them there),
their catalog entries join the primary's, config entries, which WAN federation
replicates from the primary, must agree, and each datacenter keeps its own peerings and
ACL settings (:class:`~meshgw.model.DatacenterSettings`).
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from meshgw._resolve.catalog import agent_entries
from meshgw.errors import MeshgwError
from meshgw.model.catalog import CatalogEntry
from meshgw.model.entries import ConfigEntry
from meshgw.model.mesh import DatacenterSettings, Mesh

__all__ = ["combine_datacenters"]


def combine_datacenters(meshes: Sequence[Mesh]) -> Mesh:
    """The cluster's mesh from one mesh per datacenter (see the module docstring).

    The primary is the datacenter every mesh that names one gives as
    ``primary_datacenter``. Raises :class:`~meshgw.errors.MeshgwError` when two meshes
    are of the same datacenter, their trust domains differ, no single primary is named
    or is among them, or a config entry differs between datacenters. Each datacenter's
    own peerings and ACL settings are kept for it (:attr:`Mesh.datacenter_settings`):
    a peering belongs to the datacenter whose files declare it.
    """
    if not meshes:
        raise MeshgwError("no datacenter to combine")
    by_dc: dict[str, Mesh] = {}
    for mesh in meshes:
        if mesh.datacenter in by_dc:
            raise MeshgwError(
                f"datacenter {mesh.datacenter!r} is written twice ({_where(by_dc[mesh.datacenter])}"
                f" and {_where(mesh)}); give each datacenter's files their own datacenter"
            )
        by_dc[mesh.datacenter] = mesh
    root = by_dc[_primary(by_dc)]
    for dc, mesh in by_dc.items():
        if mesh.trust_domain != root.trust_domain:
            raise MeshgwError(
                f"{dc}'s trust_domain {mesh.trust_domain!r} ({_where(mesh)}) is not the "
                f"primary {root.datacenter}'s {root.trust_domain!r}: the datacenters of one "
                "cluster share its trust domain"
            )
    others = [by_dc[dc] for dc in sorted(by_dc) if dc != root.datacenter]
    return attrs.evolve(
        root,
        primary_datacenter=root.datacenter,
        datacenter_settings=tuple(
            DatacenterSettings(m.datacenter, m.peers, m.acl, m.default_intention_policy)
            for m in others
        ),
        config_entries=_entries(root, others),
        catalog=_catalog(root, others),
        sources=tuple(s for m in (root, *others) for s in m.sources),
    )


def _primary(by_dc: dict[str, Mesh]) -> str:
    named = {m.primary_datacenter for m in by_dc.values() if m.primary_datacenter}
    if len(named) != 1:
        listed = ", ".join(sorted(named)) or "none"
        raise MeshgwError(
            "the datacenters must name one primary_datacenter, the one whose config entries "
            f"are replicated (named: {listed})"
        )
    primary = named.pop()
    if primary not in by_dc:
        raise MeshgwError(
            f"primary datacenter {primary!r} has no files (datacenters: {', '.join(sorted(by_dc))})"
        )
    return primary


def _entries(root: Mesh, others: list[Mesh]) -> tuple[ConfigEntry, ...]:
    entries = list(root.config_entries)
    seen = {_entry_key(e): (e, root) for e in entries}
    for mesh in others:
        for entry in mesh.config_entries:
            key = _entry_key(entry)
            if key not in seen:
                seen[key] = (entry, mesh)
                entries.append(entry)
            elif seen[key][0] != entry:
                raise MeshgwError(
                    f"{entry.kind} {entry.name!r} differs between {seen[key][1].datacenter} "
                    f"and {mesh.datacenter} ({_where(mesh)}): config entries are replicated "
                    "from the primary, one value for the whole cluster"
                )
    return tuple(entries)


def _entry_key(entry: ConfigEntry) -> tuple[str, str, str]:
    return (entry.kind, getattr(entry, "partition", "") or "default", entry.name)


def _catalog(root: Mesh, others: list[Mesh]) -> tuple[CatalogEntry, ...]:
    # A registration is known once: the root's agent, then each datacenter's own agent,
    # then the catalogs in the same order. A later copy of the same (datacenter, node,
    # service id) is another datacenter's view of it and is dropped.
    local_node = agent_entries(root)
    seen = {_location(e) for e in local_node}
    catalog: list[CatalogEntry] = []
    for entry in (
        *(e for m in others for e in agent_entries(m)),
        *root.catalog,
        *(e for m in others for e in m.catalog),
    ):
        key = _location(entry)
        if key[2] and key in seen:
            continue
        seen.add(key)
        catalog.append(entry)
    return tuple(catalog)


def _location(entry: CatalogEntry) -> tuple[str, str, str]:
    svc = entry.service
    return (entry.datacenter, entry.node, (svc.id or svc.name) if svc is not None else "")


def _where(mesh: Mesh) -> str:
    return ", ".join(mesh.sources) or "<input>"
