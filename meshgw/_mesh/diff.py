"""Differences between two sets of Envoy resources: two meshes' translations, or meshgw's
prediction and a live Envoy's ``/config_dump``.

A difference names the proxy, the resource (type and name) and, for a changed resource,
every differing leaf as a JSON path with both values. Resources are keyed by name
(``cluster_name`` for ClusterLoadAssignments), so order never counts.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

import attrs

from meshgw.errors import MeshgwError, UsageError
from meshgw.model.common import ServiceKind
from meshgw.model.mesh import Mesh

__all__ = [
    "Change",
    "ProxyDiff",
    "ResourceDiff",
    "diff_config_dump",
    "diff_meshes",
    "diff_resources",
    "render",
]

#: translate result key → singular type name, in output order.
TYPES = {"clusters": "cluster", "listeners": "listener", "endpoints": "endpoint"}
_TRANSLATABLE = (ServiceKind.MESH_GATEWAY, ServiceKind.CONNECT_PROXY)
#: What Envoy's admin prints instead of a sensitive value (private key paths and data):
#: never a difference.
_REDACTED = "[redacted]"
#: Leaves listed per changed resource before the rest is counted.
MAX_CHANGES = 20


@attrs.frozen
class Change:
    """One differing leaf: its JSON path, the old value and the new (``None``: absent)."""

    path: str
    old: Any
    new: Any


@attrs.frozen
class ResourceDiff:
    """A resource that is only on one side (``status`` ``"added"``/``"removed"``) or
    differs (``"changed"``, with its ``changes``)."""

    type: str
    name: str
    status: str
    changes: tuple[Change, ...] = ()
    more: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "name": self.name,
            "status": self.status,
            "changes": [{"path": c.path, "old": c.old, "new": c.new} for c in self.changes],
            "more_changes": self.more,
        }


@attrs.frozen
class ProxyDiff:
    """Everything that differs for one proxy. ``status`` is ``"added"``/``"removed"``
    for a proxy on one side only, ``"failed"`` when one side could not be translated
    (``error`` says why), else ``"changed"``. ``unmodelled`` lists resources of a
    config dump that meshgw does not generate (not differences)."""

    proxy: str
    status: str
    resources: tuple[ResourceDiff, ...] = ()
    error: str = ""
    unmodelled: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "proxy": self.proxy,
            "status": self.status,
            "error": self.error,
            "resources": [r.to_dict() for r in self.resources],
            "unmodelled": list(self.unmodelled),
        }


def diff_resources(old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[ResourceDiff, ...]:
    """Per-resource differences between two translate results."""
    out: list[ResourceDiff] = []
    for key, kind in TYPES.items():
        a = _by_name(old.get(key, []))
        b = _by_name(new.get(key, []))
        for name in sorted(a.keys() | b.keys()):
            if name not in b:
                out.append(ResourceDiff(kind, name, "removed"))
            elif name not in a:
                out.append(ResourceDiff(kind, name, "added"))
            elif a[name] != b[name] and (changes := list(_leaves(a[name], b[name], ""))):
                out.append(
                    ResourceDiff(
                        kind,
                        name,
                        "changed",
                        tuple(changes[:MAX_CHANGES]),
                        max(0, len(changes) - MAX_CHANGES),
                    )
                )
    return tuple(out)


def diff_meshes(old: Mesh, new: Mesh) -> tuple[ProxyDiff, ...]:
    """Translate every mesh gateway and connect-proxy of both meshes; what differs."""
    a, b = _translate_all(old), _translate_all(new)
    out: list[ProxyDiff] = []
    for proxy in sorted(a.keys() | b.keys()):
        if proxy not in b:
            out.append(ProxyDiff(proxy, "removed"))
        elif proxy not in a:
            out.append(ProxyDiff(proxy, "added"))
        elif isinstance(a[proxy], str) or isinstance(b[proxy], str):
            if a[proxy] != b[proxy]:
                sides = (("old", a[proxy]), ("new", b[proxy]))
                error = "; ".join(f"{side}: {v}" for side, v in sides if isinstance(v, str))
                out.append(ProxyDiff(proxy, "failed", error=error))
        else:
            resources = diff_resources(a[proxy], b[proxy])
            if resources:
                out.append(ProxyDiff(proxy, "changed", resources))
    return tuple(out)


def diff_config_dump(
    predicted: Mapping[str, Any], dump: Mapping[str, Any], proxy: str
) -> ProxyDiff:
    """meshgw's ``predicted`` translate result against a live Envoy's ``/config_dump``
    (``?include_eds`` adds endpoints). Resources the dump holds that meshgw does not
    generate are listed in ``unmodelled``, not reported as differences; endpoints are
    compared only when both sides have them; values Envoy redacts (``[redacted]``) are
    not compared."""
    live = _from_config_dump(dump)
    compared = {key: predicted.get(key, []) for key in TYPES}
    if not compared["endpoints"]:
        # The static form carries its assignments inside the clusters (compared there);
        # Envoy still dumps them as endpoint configs.
        live["endpoints"] = []
    elif not live["endpoints"]:
        compared["endpoints"] = []  # dumped without ?include_eds
    predicted_names = {
        key: {str(r.get("name", r.get("cluster_name", ""))) for r in compared[key]} for key in TYPES
    }
    unmodelled = []
    for key, kind in TYPES.items():
        keep = []
        for resource in live[key]:
            name = str(resource.get("name", resource.get("cluster_name", "")))
            if name in predicted_names[key]:
                keep.append(resource)
            else:
                unmodelled.append(f"{kind} {name}")
        live[key] = keep
    resources = diff_resources(compared, live)
    return ProxyDiff(
        proxy,
        "changed" if resources else "same",
        resources,
        unmodelled=tuple(sorted(unmodelled)),
    )


def render(diffs: tuple[ProxyDiff, ...] | list[ProxyDiff]) -> str:
    """A readable report: one block per proxy, one line per resource and changed leaf."""
    if not any(d.status != "same" or d.unmodelled for d in diffs):
        return "no differences\n"
    lines: list[str] = []
    marks = {"added": "+", "removed": "-", "changed": "~"}
    for d in diffs:
        if d.status in ("added", "removed"):
            lines.append(f"{marks[d.status]} proxy {d.proxy} ({d.status})")
            continue
        lines.append(f"{d.proxy}:" + (" no differences" if d.status == "same" else ""))
        if d.error:
            lines.append(f"  ! translation failed: {d.error}")
        for r in d.resources:
            lines.append(f"  {marks[r.status]} {r.type} {r.name}")
            for c in r.changes:
                lines.append(f"      {c.path}: {_short(c.old)} → {_short(c.new)}")
            if r.more:
                lines.append(f"      … and {r.more} more")
        if d.unmodelled:
            lines.append(f"  not modelled by meshgw (not compared): {', '.join(d.unmodelled)}")
    return "\n".join(lines) + "\n"


def _translate_all(mesh: Mesh) -> dict[str, Any]:
    from meshgw._translation import translate

    out: dict[str, Any] = {}
    for service in mesh.services:
        if service.kind not in _TRANSLATABLE:
            continue
        try:
            out[service.id] = translate(service, mesh)
        except MeshgwError as exc:
            out[service.id] = str(exc)
    return out


def _by_name(resources: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for resource in resources or []:
        if isinstance(resource, Mapping):
            out[str(resource.get("name", resource.get("cluster_name", "")))] = resource
    return out


def _leaves(a: Any, b: Any, path: str) -> Iterator[Change]:
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        for key in sorted(a.keys() | b.keys(), key=str):
            yield from _leaves(a.get(key), b.get(key), f"{path}.{key}" if path else str(key))
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            yield from _leaves(x, y, f"{path}[{i}]")
    elif a != b and b != _REDACTED:
        yield Change(path or "(resource)", a, b)


def _short(value: Any) -> str:
    if value is None:
        return "(absent)"
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= 80 else text[:77] + "..."


def _from_config_dump(dump: Mapping[str, Any]) -> dict[str, list[Any]]:
    """The clusters, listeners and ClusterLoadAssignments of an Envoy ``/config_dump``."""
    configs = dump.get("configs") if isinstance(dump, Mapping) else None
    if not isinstance(configs, list):
        raise UsageError("not an Envoy /config_dump: no 'configs' list at the top level")
    out: dict[str, list[Any]] = {"clusters": [], "listeners": [], "endpoints": []}
    for config in configs:
        if not isinstance(config, Mapping):
            continue
        kind = str(config.get("@type", "")).rsplit(".", 1)[-1]
        if kind == "ClustersConfigDump":
            for entry in [
                *config.get("static_clusters", []),
                *config.get("dynamic_active_clusters", []),
            ]:
                out["clusters"].append(_strip_type(entry.get("cluster", {})))
        elif kind == "ListenersConfigDump":
            for entry in config.get("static_listeners", []):
                out["listeners"].append(_strip_type(entry.get("listener", {})))
            for entry in config.get("dynamic_listeners", []):
                active = entry.get("active_state", {})
                if "listener" in active:
                    out["listeners"].append(_strip_type(active["listener"]))
        elif kind == "EndpointsConfigDump":
            for entry in [
                *config.get("static_endpoint_configs", []),
                *config.get("dynamic_endpoint_configs", []),
            ]:
                out["endpoints"].append(_strip_type(entry.get("endpoint_config", {})))
    return out


def _strip_type(resource: Mapping[str, Any]) -> dict[str, Any]:
    # The dump wraps each resource in an Any; meshgw's resources carry no top-level @type.
    return {k: v for k, v in resource.items() if k != "@type"}
