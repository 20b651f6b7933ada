"""Output control shared by the commands that print Envoy resources.

``-o`` takes a format (``json``, ``yaml``, ``table``) or a path; a path's extension picks
the format (``.yaml``/``.yml`` → YAML, else JSON). ``-t`` and ``--name`` select resources.
Files are written only when their directory exists, and through a temporary file so a
failed write never leaves half a configuration behind.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from meshgw.errors import UsageError

FORMATS = ("json", "yaml", "table")
#: ``-t`` value → the key of a translate result (and of a bootstrap's static resources).
TYPES = {"cluster": "clusters", "listener": "listeners", "endpoint": "endpoints"}


def add_output_control(p: argparse.ArgumentParser, *, select: bool = True) -> None:
    """``-o FORMAT|PATH`` and, with ``select``, ``-t TYPE`` and ``--name GLOB``."""
    p.add_argument(
        "-o",
        "--output",
        metavar="FORMAT|PATH",
        help="json (default), yaml or table; or a file to write (.yaml/.yml: YAML)",
    )
    if select:
        p.add_argument(
            "-t",
            "--type",
            choices=sorted(TYPES),
            action="append",
            help="only these resource types (repeatable)",
        )
        p.add_argument("--name", metavar="GLOB", help="only resources whose name matches")


def destination(args: argparse.Namespace) -> tuple[str, Path | None]:
    """The output format and the file to write (``None``: standard output)."""
    value = args.output
    if not value or value == "-":
        return "json", None
    if value in FORMATS:
        return value, None
    path = Path(value)
    fmt = "yaml" if path.suffix.lower() in (".yaml", ".yml") else "json"
    return fmt, path


def select(
    result: Mapping[str, Any], types: Sequence[str] | None, glob: str | None
) -> dict[str, Any]:
    """The resources of a translate result that ``-t`` / ``--name`` keep."""
    keys = [TYPES[t] for t in types] if types else list(TYPES.values())
    return {key: [r for r in result.get(key, []) if _matches(r, glob)] for key in keys}


def _matches(resource: Mapping[str, Any], glob: str | None) -> bool:
    if glob is None:
        return True
    name = resource.get("name", resource.get("cluster_name", ""))
    return fnmatch.fnmatchcase(str(name), glob)


def dump_json(value: Any) -> str:
    """Deterministic, indented JSON."""
    return json.dumps(value, indent=2, sort_keys=True) + "\n"


def dump_yaml(value: Any) -> str:
    """Deterministic YAML (keys sorted, block style), as Envoy users write bootstraps."""
    import yaml

    return str(yaml.safe_dump(value, sort_keys=True, default_flow_style=False, width=100))


def render(value: Any, fmt: str, table: Callable[[Any], str]) -> str:
    """``value`` in ``fmt``; ``table`` renders the one-line-per-resource summary."""
    if fmt == "yaml":
        return dump_yaml(value)
    if fmt == "table":
        return table(value)
    return dump_json(value)


def emit(text: str, path: Path | None, out: TextIO) -> None:
    """Write ``text`` to ``path`` atomically (or to ``out``)."""
    if path is None:
        out.write(text)
        return
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise UsageError(f"-o {path}: is a directory; name a file")
    if not parent.is_dir():
        raise UsageError(f"-o {path}: directory {parent} does not exist")
    try:
        fd, tmp = tempfile.mkstemp(dir=parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except OSError as exc:
        raise UsageError(f"-o {path}: cannot write ({exc.strerror})") from None


def resource_table(result: Mapping[str, Any]) -> str:
    """One line per resource with its key facts."""
    rows: list[tuple[str, str, str]] = []
    for cluster in result.get("clusters", []):
        rows.append(("cluster", cluster.get("name", ""), _cluster_facts(cluster)))
    for listener in result.get("listeners", []):
        rows.append(("listener", listener.get("name", ""), _listener_facts(listener)))
    for assignment in result.get("endpoints", []):
        rows.append(("endpoint", assignment.get("cluster_name", ""), _endpoint_facts(assignment)))
    if not rows:
        return "no resources\n"
    width = [max(len(r[i]) for r in rows) for i in range(2)]
    head = ("TYPE", "NAME", "FACTS")
    width = [max(width[i], len(head[i])) for i in range(2)]
    lines = [f"{head[0]:<{width[0]}}  {head[1]:<{width[1]}}  {head[2]}"]
    lines += [f"{t:<{width[0]}}  {n:<{width[1]}}  {f}".rstrip() for t, n, f in rows]
    return "\n".join(lines) + "\n"


def _cluster_facts(cluster: Mapping[str, Any]) -> str:
    kind = cluster.get("type") or ("AGGREGATE" if "cluster_type" in cluster else "EDS?")
    facts = [str(kind)]
    children = (
        cluster.get("cluster_type", {}).get("typed_config", {}).get("clusters")
        if "cluster_type" in cluster
        else None
    )
    if children:
        facts.append("children " + ",".join(children))
    hosts = _hosts(cluster.get("load_assignment", {}))
    if hosts:
        facts.append("hosts " + ",".join(hosts))
    sni = cluster.get("transport_socket", {}).get("typed_config", {}).get("sni")
    if sni:
        facts.append(f"sni {sni}")
    return "  ".join(facts)


def _listener_facts(listener: Mapping[str, Any]) -> str:
    sock = listener.get("address", {}).get("socket_address", {})
    chains = listener.get("filter_chains", [])
    facts = [f"{sock.get('address', '?')}:{sock.get('port_value', '?')}", f"{len(chains)} chains"]
    names = [n for c in chains for n in c.get("filter_chain_match", {}).get("server_names", [])]
    if names:
        facts.append("sni " + ",".join(names[:3]) + (",…" if len(names) > 3 else ""))
    return "  ".join(facts)


def _endpoint_facts(assignment: Mapping[str, Any]) -> str:
    hosts = _hosts(assignment)
    return ",".join(hosts) if hosts else "no endpoints"


def _hosts(assignment: Mapping[str, Any]) -> list[str]:
    hosts = []
    for group in assignment.get("endpoints", []):
        for lb in group.get("lb_endpoints", []):
            sock = lb.get("endpoint", {}).get("address", {}).get("socket_address", {})
            addr = f"{sock.get('address', '?')}:{sock.get('port_value', '?')}"
            health = lb.get("health_status")
            hosts.append(f"{addr}({health.lower()})" if health else addr)
    return hosts
