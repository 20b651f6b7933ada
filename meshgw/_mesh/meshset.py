"""Several meshes held together by their cluster peerings.

A :class:`~meshgw.model.Mesh` is one Consul cluster: its datacenters (WAN-federated,
one trust domain, config entries replicated from the primary), seen from its local
datacenter. Cluster peering links *separate* clusters, each with its own trust domain,
catalog and exports. :class:`MeshSet` names each cluster's mesh and resolves a peering
of one to the mesh on its other side, so whole-mesh tools can follow traffic across.
"""

from __future__ import annotations

import contextlib
import difflib
import os
import types
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

import attrs

from meshgw._load.documents import load
from meshgw._mesh.combine import combine_datacenters
from meshgw._resolve.placement import MeshProxy, datacenter_mesh, datacenters, proxies
from meshgw.errors import LookupFailed, MeshgwError, UsageError
from meshgw.model.mesh import Mesh, Peer

__all__ = ["MeshSet"]

_MESH_FILES = (".hcl", ".json")


class MeshSet(Mapping[str, Mesh]):
    """Named meshes, one per Consul cluster, linked by their peerings.

    A read-only mapping of name to :class:`~meshgw.Mesh` (in name order). A peering of
    one mesh (an entry of its ``peers``) leads to the mesh of the set whose
    ``trust_domain`` is the peer's ``trust_domain`` (and, when the peer names one,
    that has the peer's ``datacenter``): see :meth:`peer_mesh`.

    Build one from meshes, ``meshgw.MeshSet({"east": east, "west": west})``, or from a
    directory with one subdirectory of mesh files per cluster, :meth:`MeshSet.load`.
    """

    __slots__ = ("_meshes", "_proxies")

    def __init__(self, meshes: Mapping[str, Mesh]) -> None:
        for name, mesh in meshes.items():
            if not isinstance(name, str) or not name or "/" in name:
                raise UsageError(f"mesh names are non-empty strings without '/', not {name!r}")
            if not isinstance(mesh, Mesh):
                raise UsageError(f"mesh {name!r} is a {type(mesh).__name__}, not a meshgw.Mesh")
        self._meshes = types.MappingProxyType({n: meshes[n] for n in sorted(meshes)})
        self._proxies: tuple[MeshProxy, ...] | None = None

    @classmethod
    def load(
        cls,
        directory: str | os.PathLike[str],
        *,
        config_typos: Literal["error", "warn"] = "error",
    ) -> MeshSet:
        """One mesh per subdirectory of ``directory``, named by the subdirectory: its
        ``.hcl`` / ``.json`` files loaded with :func:`meshgw.load`, or, when it holds
        none but has subdirectories that do, one per datacenter, each loaded on its own
        and joined by :func:`meshgw.combine_datacenters`. Files at the top level are an
        error: each cluster's files go in its own subdirectory."""
        return cls(_load_meshes(Path(directory), config_typos))

    def __getitem__(self, name: str) -> Mesh:
        try:
            return self._meshes[name]
        except KeyError:
            raise LookupFailed(
                f"no mesh {name!r} in the set{_did_you_mean(name, self._meshes)}"
            ) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._meshes)

    def __len__(self) -> int:
        return len(self._meshes)

    def __repr__(self) -> str:
        inner = ", ".join(f"{n!r}: <Mesh {m.datacenter} {m.trust_domain}>" for n, m in self.items())
        return f"MeshSet({{{inner}}})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MeshSet):
            return NotImplemented
        return dict(self._meshes) == dict(other._meshes)

    __hash__ = None  # type: ignore[assignment]

    def __reduce__(self) -> tuple[Any, ...]:
        return (MeshSet, (dict(self._meshes),))

    def peer_mesh(self, name: str, peer: str, partition: str = "") -> tuple[str, Mesh]:
        """``(name, mesh)`` on the other side of mesh ``name``'s peering ``peer``;
        :class:`~meshgw.errors.LookupFailed` when the mesh has no such peer or no single
        mesh of the set matches it."""
        mesh = self[name]
        found = _any_datacenter_peer(mesh, peer, partition)
        if not found.trust_domain:
            raise LookupFailed(
                f"peer {peer!r} of mesh {name!r} has no trust_domain, so no mesh of the set "
                "can be matched to it"
            )
        matches = [
            (other_name, other)
            for other_name, other in self.items()
            if other_name != name
            and other.trust_domain == found.trust_domain
            and (not found.datacenter or found.datacenter in datacenters(other))
        ]
        if len(matches) == 1:
            return matches[0]
        where = f"trust domain {found.trust_domain!r}" + (
            f" and datacenter {found.datacenter!r}" if found.datacenter else ""
        )
        if not matches:
            raise LookupFailed(f"peer {peer!r} of mesh {name!r}: no mesh of the set has {where}")
        listed = ", ".join(repr(n) for n, _ in matches)
        raise LookupFailed(
            f"peer {peer!r} of mesh {name!r}: several meshes have {where} ({listed})"
        )

    def proxies(self) -> tuple[MeshProxy, ...]:
        """Every mesh gateway and connect-proxy of every mesh, each with its
        ``mesh_name``, sorted by :attr:`MeshProxy.key`."""
        if self._proxies is None:  # the set is immutable: computed once
            self._proxies = tuple(
                attrs.evolve(p, mesh_name=name)
                for name, mesh in self.items()
                for p in proxies(mesh)
            )
        return self._proxies

    def mesh_of(self, proxy: MeshProxy) -> Mesh:
        """The mesh ``proxy`` belongs to (by its ``mesh_name``)."""
        if not proxy.mesh_name:
            raise LookupFailed(
                f"proxy {proxy.key!r} names no mesh; take proxies from MeshSet.proxies()"
            )
        return self[proxy.mesh_name]


def load_directory(
    directory: str | os.PathLike[str], *, config_typos: Literal["error", "warn"] = "error"
) -> Mesh | MeshSet:
    """Whatever a directory holds: its own mesh files make one mesh (:func:`meshgw.load`);
    subdirectories of mesh files that are the datacenters of one cluster (one trust
    domain, distinct datacenters, a primary among them that they name) make that
    cluster's mesh (:func:`meshgw.combine_datacenters`); other subdirectories make a
    :class:`MeshSet` (:meth:`MeshSet.load`)."""
    root = Path(directory)
    if not root.is_dir() or is_mesh_directory(root):
        return load(root, config_typos=config_typos)
    meshes = _load_meshes(root, config_typos)
    if len(meshes) > 1 and _one_cluster(list(meshes.values())):
        return combine_datacenters(list(meshes.values()))
    return MeshSet(meshes)


def _load_meshes(root: Path, config_typos: Literal["error", "warn"]) -> dict[str, Mesh]:
    if not root.is_dir():
        raise MeshgwError(f"{root}: not a directory")
    stray = sorted(c.name for c in root.iterdir() if c.is_file() and c.suffix in _MESH_FILES)
    if stray:
        raise MeshgwError(
            f"{root}: mesh files at the top level ({', '.join(stray)}); a set of meshes "
            "has one subdirectory of mesh files per Consul cluster"
        )
    meshes: dict[str, Mesh] = {}
    for sub in sorted(root.iterdir()):
        if not sub.is_dir():
            continue
        if is_mesh_directory(sub):
            meshes[sub.name] = load(sub, config_typos=config_typos)
            continue
        datacenters = [d for d in sorted(sub.iterdir()) if d.is_dir() and is_mesh_directory(d)]
        if datacenters:
            meshes[sub.name] = combine_datacenters(
                [load(d, config_typos=config_typos) for d in datacenters]
            )
    if not meshes:
        raise MeshgwError(f"{root}: no subdirectory holds mesh files (.hcl, .json)")
    return meshes


def _one_cluster(meshes: list[Mesh]) -> bool:
    """Whether ``meshes`` read as the datacenters of one cluster (see load_directory)."""
    datacenters = {m.datacenter for m in meshes}
    primaries = {m.primary_datacenter for m in meshes if m.primary_datacenter}
    return (
        len({m.trust_domain for m in meshes}) == 1
        and len(datacenters) == len(meshes)
        and len(primaries) == 1
        and primaries <= datacenters
    )


def is_mesh_directory(path: Path) -> bool:
    """Whether ``path`` directly holds mesh files (``.hcl`` / ``.json``)."""
    return any(c.suffix in _MESH_FILES and c.is_file() for c in path.iterdir())


def _did_you_mean(name: str, known: Mapping[str, object]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    if close:
        return f"; did you mean {close[0]!r}?"
    return f" (meshes: {', '.join(sorted(known)) or 'none'})"


def _any_datacenter_peer(mesh: Mesh, name: str, partition: str) -> Peer:
    """The peering ``name`` of the mesh's own datacenter, else of another of its
    datacenters (looked up in that datacenter's view, as its proxies are translated)."""
    try:
        return mesh.peer(name, partition)
    except LookupFailed:
        for settings in mesh.datacenter_settings:
            with contextlib.suppress(LookupFailed):
                return datacenter_mesh(mesh, settings.datacenter).peer(name, partition)
        raise
