"""Every proxy of a mesh (or of a set of peered meshes), translated at once.

The catalog is indexed once per mesh object and kept while that mesh lives
(:mod:`meshgw._resolve.memo`), so :func:`translate_all` costs the size of its output,
and a later :func:`meshgw.translate` of one proxy of the same mesh only the size of that
proxy's upstreams and clusters.
"""

from __future__ import annotations

from typing import Any

from meshgw._gcpause import gc_paused
from meshgw._mesh.meshset import MeshSet
from meshgw._resolve.placement import MeshProxy, datacenter_mesh, datacenters, proxies
from meshgw._translation import EndpointsMode, MissingPolicy, translate
from meshgw.errors import LookupFailed, TranslationError, UsageError
from meshgw.model.mesh import Mesh

__all__ = ["all_proxies", "datacenter_view", "translate_all", "translate_proxy"]

Resources = dict[str, list[dict[str, Any]]]


def all_proxies(target: Mesh | MeshSet) -> tuple[MeshProxy, ...]:
    """Every mesh gateway and connect-proxy of ``target``, in every datacenter (and, for
    a :class:`~meshgw.MeshSet`, every mesh), sorted by :attr:`~meshgw.MeshProxy.key`."""
    if isinstance(target, MeshSet):
        return target.proxies()
    return proxies(_mesh(target))


def datacenter_view(mesh: Mesh, datacenter: str) -> Mesh:
    """``mesh`` as ``datacenter``'s Consul sees it: that datacenter local, the same config
    entries (replicated from the primary) and catalog (the local agent's registrations
    become catalog entries of their own datacenter), that datacenter's own peerings and
    ACL settings (:meth:`~meshgw.model.Mesh.settings_of`), no agent registrations or
    ``primary_gateways`` of its own. ``mesh`` itself for its own datacenter; the same
    object on every call. :class:`~meshgw.errors.LookupFailed` for a datacenter that the
    mesh does not know."""
    known = datacenters(_mesh(mesh))
    if datacenter not in known:
        raise LookupFailed(
            f"no datacenter {datacenter!r} in the mesh (datacenters: {', '.join(known)})"
        )
    return datacenter_mesh(mesh, datacenter)


def translate_proxy(
    target: Mesh | MeshSet,
    proxy: MeshProxy,
    *,
    endpoints: EndpointsMode = "eds",
    missing: MissingPolicy = "error",
) -> Resources:
    """:func:`meshgw.translate` of one proxy of ``target`` in its own datacenter; a
    :class:`~meshgw.errors.TranslationError` starts with the registration's
    ``file:line`` and the proxy's key."""
    mesh = target.mesh_of(proxy) if isinstance(target, MeshSet) else _mesh(target)
    try:
        return translate(
            proxy.service,
            datacenter_mesh(mesh, proxy.datacenter),
            endpoints=endpoints,
            missing=missing,
        )
    except TranslationError as exc:
        where = f"{proxy.source}: " if proxy.source is not None else ""
        raise TranslationError(f"{where}{proxy.key}: {exc}") from None


def translate_all(
    target: Mesh | MeshSet,
    *,
    endpoints: EndpointsMode = "eds",
    missing: MissingPolicy = "error",
) -> dict[MeshProxy, Resources]:
    """Every proxy of ``target`` (see :func:`all_proxies`) to its Envoy resources, as
    :func:`meshgw.translate` gives them, in key order.

    The first proxy that cannot be translated raises
    :class:`~meshgw.errors.TranslationError` (with ``missing="warn"``, missing endpoints
    are warnings instead, as for :func:`meshgw.translate`); its message starts with the
    registration's ``file:line`` and the proxy's key.
    """
    with gc_paused():
        return {
            p: translate_proxy(target, p, endpoints=endpoints, missing=missing)
            for p in all_proxies(target)
        }


def _mesh(value: object) -> Mesh:
    if not isinstance(value, Mesh):
        raise UsageError(f"expected a meshgw.Mesh or meshgw.MeshSet, not {type(value).__name__}")
    return value
