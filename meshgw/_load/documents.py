"""Documents → Mesh: shape detection, structuring, sidecar expansion, validation, merging.

A document is one file (or mapping). It may be a mesh file / agent configuration file, a
bare config entry (``Kind = ...`` as for ``consul config write``), an HTTP API
registration payload (``PUT /v1/agent/service/register``), a catalog registration
(``PUT /v1/catalog/register``), or what ``GET /v1/agent/service/:id``,
``/v1/catalog/service/:name`` and ``/v1/health/service/:name`` return.
"""

from __future__ import annotations

import difflib
import os
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

import attrs

from meshgw._gcpause import gc_paused
from meshgw._load import convert, validate
from meshgw._load.convert import PathElem, StructureFailed
from meshgw._load.parts import Document, Parts
from meshgw._load.raw import nesting, too_deep
from meshgw._values import by_norm_key, describe, norm_key, plain_copy, unwrap_block
from meshgw.errors import MeshgwError, MeshgwWarning, ParseError, UsageError, ValidationError
from meshgw.model.catalog import CatalogEntry
from meshgw.model.common import ServiceKind, Source
from meshgw.model.entries import (
    ConfigEntry,
    ExportedServices,
    MeshConfigEntry,
    OtherConfigEntry,
    ProxyDefaults,
    ServiceDefaults,
    ServiceIntentions,
    ServiceResolver,
)
from meshgw.model.mesh import (
    DEFAULT_DATACENTER,
    DEFAULT_TRUST_DOMAIN,
    AclSettings,
    AgentConnect,
    Mesh,
    Peer,
    TlsSettings,
    install_loader,
)
from meshgw.model.registration import Check, CheckDefinition, Proxy, Service

__all__ = ["ConfigTypos", "load", "loads", "mesh_from_documents"]

CONFIG_ENTRY_CLASSES: dict[str, type] = {
    "proxy-defaults": ProxyDefaults,
    "service-defaults": ServiceDefaults,
    "service-resolver": ServiceResolver,
    "exported-services": ExportedServices,
    "service-intentions": ServiceIntentions,
    "mesh": MeshConfigEntry,
}
#: Consul kinds meshgw keeps without interpreting them.
OTHER_CONFIG_KINDS = frozenset(
    {
        "service-router",
        "service-splitter",
        "ingress-gateway",
        "terminating-gateway",
        "sameness-group",
        "api-gateway",
        "bound-api-gateway",
        "inline-certificate",
        "file-system-certificate",
        "http-route",
        "tcp-route",
        "jwt-provider",
        "control-plane-request-limit",
        "rate-limit-ip-config",
    }
)

#: Agent configuration keys that do not bear on meshgw: accepted and ignored so that a
#: real agent configuration file loads. Anything else unknown is an error.
_AGENT_KEY_WORDS = tuple(
    """
    acl addresses advertise_addr_ipv4 advertise_addr_ipv6 advertise_addr_wan
    advertise_addr_wan_ipv4 advertise_addr_wan_ipv6 audit auto_config auto_encrypt
    auto_reload_config autopilot bind_addr bootstrap bootstrap_expect ca_file ca_path
    cert_file check checks check_update_interval client_addr cloud
    config_entries_bootstrap data_dir default_query_time disable_anonymous_signature
    disable_host_node_id disable_remote_exec disable_update_check discard_check_output
    discovery_max_stale dns_config enable_acl_replication enable_agent_tls_for_checks
    enable_central_service_config enable_debug enable_local_script_checks
    enable_script_checks enable_syslog encrypt encrypt_verify_incoming
    encrypt_verify_outgoing experiments http_config key_file leave_on_terminate
    license_path limits locality log_file log_json log_level log_rotate_bytes
    log_rotate_duration log_rotate_max_files max_query_time node_id node_meta peering
    performance pid_file ports primary_gateways_interval protocol raft_boltdb
    raft_logstore raft_protocol raft_snapshot_interval raft_snapshot_threshold
    raft_trailing_logs read_replica reconnect_timeout reconnect_timeout_wan recursors
    rejoin_after_leave reporting retry_interval retry_interval_wan retry_join
    retry_join_wan retry_max retry_max_wan rpc segment segments serf_lan
    serf_lan_allowed_cidrs serf_wan serf_wan_allowed_cidrs server server_name
    session_ttl_min skip_leave_on_interrupt start_join start_join_wan syslog_facility
    telemetry tls translate_wan_addrs ui ui_config ui_content_path unix_sockets
    use_streaming_backend verify_incoming verify_incoming_https verify_incoming_rpc
    verify_outgoing verify_server_hostname watches xds
    """.split()
)
AGENT_KEYS_IGNORED = frozenset(norm_key(k) for k in _AGENT_KEY_WORDS)

_MESH_KEYS = frozenset(
    norm_key(k)
    for k in """
    datacenter primary_datacenter trust_domain domain partition node_name advertise_addr
    primary_gateways connect service services config_entries catalog peers mesh_tls
    """.split()
)
_SERVICE_KEYS = frozenset(
    norm_key(k)
    for k in """
    name id kind port address tagged_addresses meta tags proxy connect socket_path
    weights checks check enable_tag_override contenthash
    """.split()
)

SIDECAR_MIN_PORT = 21000
SIDECAR_MAX_PORT = 21255


# --- reading text ---------------------------------------------------------------------


def _detect_format(text: str, name: str | None) -> str:
    if name:
        suffix = Path(name).suffix.lower()
        if suffix == ".json":
            return "json"
        if suffix in (".hcl", ".tf", ".conf"):
            return "hcl"
    stripped = text.lstrip()
    return "json" if stripped[:1] in ("{", "[") and not stripped.startswith("{{") else "hcl"


def _read(text: str, fmt: str, name: str | None) -> Any:
    if fmt == "json":
        from meshgw._load.jsonread import parse_json

        return parse_json(text, name=name)
    if fmt == "hcl":
        from meshgw._load.hcl import parse_hcl

        return parse_hcl(text, name=name)
    raise UsageError(f'unknown format {fmt!r} (expected "hcl" or "json")')


#: What to do with a misspelt or badly typed option in ``proxy.config`` (or an
#: upstream's ``config``): meshgw's default ``"error"``, or ``"warn"`` — Consul's own
#: habit — which issues a :class:`~meshgw.errors.MeshgwWarning` and keeps the value.
ConfigTypos = Literal["error", "warn"]


def loads(
    text: str,
    format: str | None = None,
    *,
    name: str | None = None,
    config_typos: ConfigTypos = "error",
) -> Mesh:
    """Load one document from text. ``format`` is ``"hcl"`` or ``"json"`` (guessed from
    ``name``'s suffix or the text when omitted); ``name`` is used in error messages.
    ``config_typos`` and the errors raised are those of :func:`load`."""
    _check_policy(config_typos)
    fmt = format or _detect_format(text, name)
    with gc_paused():
        try:
            raw = _read(text, fmt, name)
            return _build([Document(name, raw, text, fmt, config_typos=config_typos)], stacklevel=3)
        except RecursionError:
            raise too_deep(text, name) from None


def load(*paths: str | os.PathLike[str], config_typos: ConfigTypos = "error") -> Mesh:
    """Load and merge one or more files (``.hcl`` or ``.json``) into one Mesh.

    A directory loads every ``.hcl`` and ``.json`` file in it, in name order, like
    Consul's ``-config-dir``. ``config_typos``: a misspelt or badly typed
    ``proxy.config`` option is an error (``"error"``, default) or, as Consul treats it,
    a :class:`~meshgw.errors.MeshgwWarning` (``"warn"``).

    Raises :class:`~meshgw.errors.ParseError` for a syntax error (file, line, column),
    :class:`~meshgw.errors.ValidationError` listing every problem of the documents at
    once (each with file, line and field path), :class:`~meshgw.errors.MeshgwError`
    for an unreadable file, and :class:`~meshgw.errors.UsageError` when no file is
    given or ``config_typos`` is neither value.
    """
    _check_policy(config_typos)
    with gc_paused():
        return _load(paths, config_typos)


def _check_policy(config_typos: str) -> None:
    if config_typos not in ("error", "warn"):
        raise UsageError(f'config_typos must be "error" or "warn", not {config_typos!r}')


def _load(paths: Iterable[str | os.PathLike[str]], config_typos: ConfigTypos) -> Mesh:
    docs: list[Document] = []
    for path in _expand(paths):
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise MeshgwError(f"{path}: cannot read: {exc.strerror or exc}") from None
        except UnicodeDecodeError as exc:
            raise MeshgwError(f"{path}: not UTF-8 text ({exc.reason})") from None
        name = str(path)
        fmt = _detect_format(text, name)
        docs.append(Document(name, _read(text, fmt, name), text, fmt, config_typos=config_typos))
    if not docs:
        raise UsageError("no files given to load")
    try:
        return _build(docs, stacklevel=4)
    except RecursionError:
        deepest = max(docs, key=lambda d: nesting(d.text or "")[0])
        raise too_deep(deepest.text, deepest.name) from None


def _expand(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        path = Path(p)
        if path.is_dir():
            out.extend(
                sorted(c for c in path.iterdir() if c.suffix in (".hcl", ".json") and c.is_file())
            )
        else:
            out.append(path)
    return out


def mesh_from_documents(
    items: Iterable[tuple[Any, str | None]], *, config_typos: ConfigTypos = "error"
) -> Mesh:
    """Build a Mesh from already-parsed documents (mappings or lists)."""
    _check_policy(config_typos)
    with gc_paused():
        docs = [Document(name, data, config_typos=config_typos) for data, name in items]
        try:
            return _build(docs, stacklevel=5)
        except RecursionError:
            # A mapping has no text to point into: name the document at least.
            raise ParseError(
                "nesting too deep (meshgw follows a few hundred levels)",
                file=next((d.name for d in docs if d.name), None),
            ) from None


install_loader(mesh_from_documents)


# --- shape detection ------------------------------------------------------------------


def _collect(doc: Document, parts: Parts) -> None:
    raw = doc.raw
    if isinstance(raw, list):
        for i, item in enumerate(raw):
            _collect_item(doc, parts, item, (i,))
        return
    if not isinstance(raw, Mapping):
        doc.report((), "expected an object (a mesh file, registration or config entry)")
        return
    _collect_item(doc, parts, raw, (), top=True)


def _collect_item(
    doc: Document, parts: Parts, raw: Any, path: tuple[PathElem, ...], top: bool = False
) -> None:
    if not isinstance(raw, Mapping):
        doc.report(path, f"expected an object, got {describe(raw)}")
        return
    if not top and _is_catalog_registration(raw):
        _add_catalog(doc, parts, raw, path)
        return
    by_norm = by_norm_key(raw)
    keys = by_norm.keys()
    kind = by_norm.get("kind")
    if isinstance(kind, str) and _looks_like_entry_kind(kind):
        _add_entry(doc, parts, raw, path)
    elif "node" in keys and isinstance(by_norm["node"], Mapping):
        _add_catalog(doc, parts, _from_health(raw), path)
    elif "servicename" in keys and "node" in keys:
        _add_catalog(doc, parts, _from_catalog_service(raw), path)
    elif "node" in keys:
        _add_catalog(doc, parts, raw, path)
    elif _is_registration(by_norm):
        _add_service(doc, parts, raw, path)
    elif top:
        _collect_mesh_file(doc, parts, raw)
    else:
        doc.report(path, "cannot tell what this object is (no kind, node or service name)")


def _is_catalog_registration(raw: Mapping[str, Any]) -> bool:
    """The common case of a catalog list, recognised without normalising every key: a
    ``/v1/catalog/register`` shape written in snake_case or PascalCase."""
    node = raw.get("node", raw.get("Node"))
    return type(node) is str and not any(
        k in raw for k in ("ServiceName", "service_name", "Kind", "kind")
    )


_ENTRY_KINDS = (*CONFIG_ENTRY_CLASSES, *sorted(OTHER_CONFIG_KINDS))
_SERVICE_KIND_VALUES = frozenset(k.value for k in ServiceKind)


def _looks_like_entry_kind(kind: str) -> bool:
    """A config entry kind, or a misspelling of one (reported as such, not as a bad
    service kind)."""
    if kind in CONFIG_ENTRY_CLASSES or kind in OTHER_CONFIG_KINDS:
        return True
    if kind in _SERVICE_KIND_VALUES:
        return False
    return bool(difflib.get_close_matches(kind, _ENTRY_KINDS, n=1, cutoff=0.8))


#: Keys only a mesh file / agent configuration has (a registration never does).
_MESH_ONLY = (_MESH_KEYS | AGENT_KEYS_IGNORED) - {
    "service",
    "connect",
    "datacenter",
    "partition",
    "check",
    "checks",
}


_REGISTRATION_ONLY = _SERVICE_KEYS - {"connect", "check", "checks"}


def _is_registration(by_norm: Mapping[str, Any]) -> bool:
    """A registration payload or agent service response rather than a mesh file.

    ``Service`` is a block in a mesh file but the service's name in the API's shapes;
    ``connect``, ``datacenter``, ``partition`` and ``checks`` exist in both.
    """
    keys = by_norm.keys()
    if keys & _MESH_ONLY:
        return False
    if "service" in keys:
        # A name in the API's shapes; a block or object in a mesh file.
        return isinstance(by_norm["service"], str)
    # connect and checks alone do not make a registration: an agent file with
    # datacenter and connect { enabled = true }, or only node checks, is a mesh file.
    return bool(keys & _REGISTRATION_ONLY)


def _from_health(raw: Mapping[str, Any]) -> dict[str, Any]:
    """``/v1/health/service/:name`` element → catalog registration shape."""
    out: dict[str, Any] = {}
    for key, value in raw.items():
        nk = norm_key(key)
        if nk == "node" and isinstance(value, Mapping):
            for nkey, nval in value.items():
                out["node_meta" if norm_key(nkey) == "meta" else nkey] = nval
        else:
            out[key] = value
    return out


def _from_catalog_service(raw: Mapping[str, Any]) -> dict[str, Any]:
    """``/v1/catalog/service/:name`` element → catalog registration shape."""
    out: dict[str, Any] = {}
    service: dict[str, Any] = {}
    for key, value in raw.items():
        nk = norm_key(key)
        if nk.startswith("service") and nk != "service":
            rest = key[len("service") :].lstrip("_")
            service["name" if norm_key(rest) == "name" else rest] = value
        elif nk in ("namespace",):
            service[key] = value
        else:
            out[key] = value
    out["service"] = service
    return out


# --- structuring each part ------------------------------------------------------------


def _structure(doc: Document, raw: Any, cls: type, path: tuple[PathElem, ...]) -> Any:
    try:
        return convert.structure(raw, cls, doc.name)
    except StructureFailed as failed:
        for sub, message in failed.problems:
            doc.report((*path, *sub), message)
        return None


def _add_service(doc: Document, parts: Parts, raw: Any, path: tuple[PathElem, ...]) -> None:
    svc = _structure(doc, raw, Service, path)
    if svc is not None:
        parts.services.append((svc, doc, path))
    else:
        validate.raw_service_options(raw, doc, path)


def _add_catalog(doc: Document, parts: Parts, raw: Any, path: tuple[PathElem, ...]) -> None:
    entry = _structure(doc, raw, CatalogEntry, path)
    if entry is not None:
        parts.catalog.append((entry, doc, path))


def _add_entry(doc: Document, parts: Parts, raw: Any, path: tuple[PathElem, ...]) -> None:
    raw = unwrap_block(raw)
    if not isinstance(raw, Mapping):
        doc.report(path, f"expected a config entry object, got {describe(raw)}")
        return
    keys = by_norm_key(raw)
    if "kind" not in keys:
        doc.report(path, "config entry has no Kind")
        return
    kind = keys["kind"]
    if not isinstance(kind, str):
        doc.report((*path, "kind"), f"Kind must be a string, got {describe(kind)}")
        return
    cls = CONFIG_ENTRY_CLASSES.get(kind)
    if cls is None:
        if kind in OTHER_CONFIG_KINDS:
            name = keys.get("name")
            entry = OtherConfigEntry(
                kind=kind,
                name=name if isinstance(name, str) else "",
                body=plain_copy(raw),
            )
            parts.entries.append((entry, doc, path))
            return
        close = difflib.get_close_matches(kind, _ENTRY_KINDS, n=1, cutoff=0.6)
        if close:
            hint = f"did you mean {close[0]!r}?"
        else:
            hint = "expected one of: " + ", ".join(sorted(_ENTRY_KINDS))
        doc.report((*path, "kind"), f'invalid config entry kind "{kind}" ({hint})')
        return
    structured: ConfigEntry | None = _structure(doc, raw, cls, path)
    if structured is not None:
        if structured.kind != kind:
            structured = attrs.evolve(structured, kind=kind)
        if isinstance(structured, ServiceIntentions):
            structured = _locate_sources(structured, doc, path)
        parts.entries.append((structured, doc, path))


def _locate_sources(
    entry: ServiceIntentions, doc: Document, path: tuple[PathElem, ...]
) -> ServiceIntentions:
    """Give every intention source its line (explain and trace cite it), also when the
    entry came through a section read without positions (``config_entries``)."""
    sources = tuple(
        src
        if src.source is not None and src.source.line is not None
        else attrs.evolve(src, source=Source(doc.name, doc.line((*path, "sources", i))))
        for i, src in enumerate(entry.sources)
    )
    located = entry.source
    if located is None or located.line is None:
        located = Source(doc.name, doc.line(path))
    return attrs.evolve(entry, sources=sources, source=located)


@attrs.frozen
class _ConfigEntries:
    bootstrap: tuple[Any, ...] = ()


@attrs.frozen
class _MeshFile:
    """The top level of a mesh file / agent configuration file (``service``,
    ``services`` and ``catalog`` are read raw, see :data:`_RAW_SECTIONS`)."""

    datacenter: str = ""
    primary_datacenter: str = ""
    trust_domain: str = ""
    domain: str = ""
    partition: str = ""
    node_name: str = ""
    advertise_addr: str = ""
    primary_gateways: tuple[str, ...] = ()
    connect: AgentConnect | None = None
    default_intention_policy: str = ""
    config_entries: _ConfigEntries | None = None
    peers: tuple[Peer, ...] = ()
    mesh_tls: TlsSettings | None = None


convert.register_suggestions(_MeshFile, _AGENT_KEY_WORDS)

_MESH_SETTINGS = (
    "datacenter",
    "primary_datacenter",
    "trust_domain",
    "domain",
    "partition",
    "node_name",
    "advertise_addr",
    "primary_gateways",
    "connect",
    "default_intention_policy",
    "mesh_tls",
    "acl",
)


#: Mesh-file sections handed on raw: structuring them here would copy every catalog
#: entry once more and lose their positions.
_RAW_SECTIONS = ("service", "services", "catalog")


def _collect_mesh_file(doc: Document, parts: Parts, raw: Mapping[str, Any]) -> None:
    kept: dict[str, Any] = {}
    sections: dict[str, tuple[str, Any]] = {}
    for key, value in raw.items():
        nkey = norm_key(key) if isinstance(key, str) else ""
        if nkey in _RAW_SECTIONS:
            if nkey in sections:
                doc.report((nkey,), f"{key!r} repeats {sections[nkey][0]!r}")
                continue
            sections[nkey] = (key, value)
        elif nkey == "acl":
            acl = _acl_settings(doc, value)
            if acl is not None:
                parts.settings["acl"] = (acl, doc.name)
        elif nkey not in AGENT_KEYS_IGNORED:
            kept[key] = value
    mesh_file = _structure(doc, kept, _MeshFile, ())
    if mesh_file is None:
        return
    from meshgw._load import validate

    validate.settings_names(
        {
            name: getattr(mesh_file, name)
            for name in (
                "datacenter",
                "primary_datacenter",
                "partition",
                "trust_domain",
                "domain",
                "mesh_tls",
            )
        },
        doc,
    )
    if mesh_file.default_intention_policy not in ("", "allow", "deny"):
        doc.report(
            ("default_intention_policy",),
            f'invalid default intention policy "{mesh_file.default_intention_policy}" '
            '(expected "allow" or "deny")',
        )
    for name in _MESH_SETTINGS:
        if name == "acl":
            continue
        value = getattr(mesh_file, name)
        if value not in ("", (), None):
            parts.settings[name] = (value, doc.name)
    for key in ("service", "services"):
        if key not in sections:
            continue
        value = sections[key][1]
        if value is None:
            continue
        if key == "services" and isinstance(value, Mapping):
            doc.report((key,), "expected a list of services, got an object")
            continue
        items = value if isinstance(value, list) else [value]
        for i, item in enumerate(items):
            sub: tuple[PathElem, ...] = (
                (key, i)
                if isinstance(value, list) and (key == "services" or len(items) > 1)
                else (key,)
            )
            _add_service(doc, parts, item, sub)
    if mesh_file.config_entries is not None:
        for i, item in enumerate(mesh_file.config_entries.bootstrap):
            _add_entry(doc, parts, item, ("config_entries", "bootstrap", i))
    catalog = sections.get("catalog", ("", None))[1]
    if catalog is not None and not isinstance(catalog, list):
        doc.report(("catalog",), f"expected a list, got {describe(catalog)}")
    elif catalog is not None:
        for i, item in enumerate(catalog):
            _collect_item(doc, parts, item, ("catalog", i))
    for i, peer in enumerate(mesh_file.peers):
        parts.peers.append((peer, doc, ("peers", i)))


def _acl_settings(doc: Document, raw: Any) -> AclSettings | None:
    """``enabled`` and ``default_policy`` of the agent's ``acl`` block. The rest of the
    block (tokens among it) is neither read nor kept."""
    raw = unwrap_block(raw)
    if not isinstance(raw, Mapping):
        doc.report(("acl",), f"expected an object, got {describe(raw)}")
        return None
    keys = by_norm_key(raw)
    enabled = keys.get("enabled", False)
    policy = keys.get("defaultpolicy", "")
    ok = True
    if not isinstance(enabled, bool):
        doc.report(("acl", "enabled"), f"expected true or false, got {describe(enabled)}")
        ok = False
    if policy not in ("", "allow", "deny"):
        doc.report(
            ("acl", "default_policy"),
            f'invalid ACL default policy {describe(policy)} (expected "allow" or "deny")',
        )
        ok = False
    if not ok:
        return None
    return AclSettings(
        enabled=enabled,
        default_policy=policy,
        source=Source(doc.name, doc.line(("acl",))),
    )


# --- expansion, validation and merging ------------------------------------------------


def _expand_sidecars(parts: Parts) -> None:
    used = {svc.port for svc, _, _ in parts.services if svc.port}
    expanded: list[tuple[Service, Document, tuple[PathElem, ...]]] = []
    for svc, doc, path in parts.services:
        if not svc.id:
            svc = attrs.evolve(svc, id=svc.name)
        sidecar = svc.connect.sidecar_service if svc.connect is not None else None
        if sidecar is None:
            expanded.append((svc, doc, path))
            continue
        spath = (*path, "connect", "sidecar_service")
        assert svc.connect is not None
        parent = attrs.evolve(svc, connect=attrs.evolve(svc.connect, sidecar_service=None))
        expanded.append((parent, doc, path))
        made = _make_sidecar(parent, sidecar, doc, spath, used)
        if made is not None:
            expanded.append((made, doc, spath))
    parts.services[:] = expanded


def _make_sidecar(
    parent: Service, sidecar: Service, doc: Document, path: tuple[PathElem, ...], used: set[int]
) -> Service | None:
    """The registration Consul's agent makes of ``parent``'s ``sidecar_service``
    (``agent/sidecar_service.go``); ``None`` after reporting what makes it impossible."""
    if not _sidecar_allowed(sidecar, doc, path):
        return None
    proxy = sidecar.proxy or Proxy()
    changes = {
        "destination_service_name": parent.name,
        "destination_service_id": parent.id,
        **_local_service(parent, proxy),
    }
    port = sidecar.port if sidecar.port >= 1 else _free_sidecar_port(used, doc, path)
    if port < 1:
        return None
    used.add(port)
    listen_host = (
        sidecar.address
        or parent.address
        or changes.get("local_service_address")
        or proxy.local_service_address
        or "127.0.0.1"
    )
    return attrs.evolve(
        sidecar,
        kind=ServiceKind.CONNECT_PROXY,
        id=f"{parent.id}-sidecar-proxy",
        name=sidecar.name or f"{parent.name}-sidecar-proxy",
        address=sidecar.address or parent.address,
        tags=sidecar.tags or parent.tags,
        meta=sidecar.meta or parent.meta,
        locality=sidecar.locality or parent.locality,
        token=sidecar.token or parent.token,
        namespace=parent.namespace,
        partition=parent.partition,
        port=port,
        checks=sidecar.checks or _sidecar_checks(parent, f"{listen_host}:{port}"),
        proxy=attrs.evolve(proxy, **changes),
    )


def _sidecar_allowed(sidecar: Service, doc: Document, path: tuple[PathElem, ...]) -> bool:
    """Report what Consul refuses in a ``sidecar_service``; whether there was none."""
    ok = True
    if sidecar.id:
        doc.report(
            (*path, "id"),
            "sidecar_service can't specify an id (it is always <parent id>-sidecar-proxy)",
        )
        ok = False
    if sidecar.connect is not None and sidecar.connect.sidecar_service is not None:
        doc.report(
            (*path, "connect", "sidecar_service"),
            "sidecar_service can't have a nested sidecar_service",
        )
        ok = False
    if sidecar.kind not in (ServiceKind.TYPICAL, ServiceKind.CONNECT_PROXY):
        doc.report(
            (*path, "kind"), f'a sidecar_service must be a connect-proxy, not "{sidecar.kind}"'
        )
        ok = False
    return ok


def _local_service(parent: Service, proxy: Proxy) -> dict[str, Any]:
    """Where the sidecar reaches the parent service, when the proxy does not say: its
    socket, else the proxy's local address (127.0.0.1) and port (the parent's)."""
    if proxy.local_service_socket_path or (
        proxy.local_service_address and proxy.local_service_port >= 1
    ):
        return {}
    if parent.socket_path:
        return {"local_service_socket_path": parent.socket_path}
    return {
        "local_service_address": proxy.local_service_address or "127.0.0.1",
        "local_service_port": (
            proxy.local_service_port if proxy.local_service_port >= 1 else parent.port
        ),
    }


def _free_sidecar_port(used: set[int], doc: Document, path: tuple[PathElem, ...]) -> int:
    """The first sidecar port not yet taken (Consul's sidecar_min_port..max_port); 0
    after reporting when none is left."""
    port = next((p for p in range(SIDECAR_MIN_PORT, SIDECAR_MAX_PORT + 1) if p not in used), 0)
    if not port:
        doc.report(
            (*path, "port"),
            "no port given for sidecar_service and none left in "
            f"[{SIDECAR_MIN_PORT}, {SIDECAR_MAX_PORT}]",
        )
    return port


def _sidecar_checks(parent: Service, listen: str) -> tuple[Check, ...]:
    """The two checks Consul gives a sidecar that registers none."""
    return (
        Check(
            id=f"service:{parent.id}-sidecar-proxy:1",
            name="Connect Sidecar Listening",
            definition=CheckDefinition(tcp=listen, interval="10s"),
        ),
        Check(
            id=f"service:{parent.id}-sidecar-proxy:2",
            name=f"Connect Sidecar Aliasing {parent.id}",
            definition=CheckDefinition(alias_service=parent.id),
        ),
    )


def _complete_catalog(entry: CatalogEntry, datacenter: str) -> CatalogEntry:
    """Fill what Consul's catalog fills: the local datacenter, and ID = name."""
    changes: dict[str, Any] = {}
    if not entry.datacenter:
        changes["datacenter"] = datacenter
    if entry.service is not None and not entry.service.id:
        changes["service"] = attrs.evolve(entry.service, id=entry.service.name)
    return attrs.evolve(entry, **changes) if changes else entry


_SCALAR_DEFAULTS: dict[str, Any] = {
    "datacenter": DEFAULT_DATACENTER,
    "trust_domain": DEFAULT_TRUST_DOMAIN,
    "domain": "consul",
}


def _conflict(key: str, value: Any, other: Any, other_file: str | None) -> str:
    """Two documents disagree on a setting. Blocks (``connect``, ``mesh_tls``) are named
    by the fields that differ, never printed: ``connect.ca_config`` holds a CA's
    private key."""
    where = other_file or "<input>"
    if attrs.has(type(value)) and type(value) is type(other):
        fields = [
            f.name
            for f in attrs.fields(type(value))
            if getattr(value, f.name) != getattr(other, f.name)
        ]
        return (
            f"{key} differs from the {key} block in {where} ({', '.join(fields)}; "
            "documents that both set it must agree)"
        )
    return f"{key} is {_setting(value)} here but {_setting(other)} in {where}"


def _setting(value: Any) -> str:
    if isinstance(value, tuple) and all(isinstance(v, str) for v in value):
        shown = ", ".join(describe(v) for v in value[:5])
        return f"[{shown}{', ...' if len(value) > 5 else ''}]"
    return describe(value)


def _build(docs: list[Document], *, stacklevel: int = 2) -> Mesh:
    parts = Parts()
    settings_seen: dict[str, tuple[Any, str | None]] = {}
    for doc in docs:
        doc_parts = Parts()
        _collect(doc, doc_parts)
        for key, (value, source) in doc_parts.settings.items():
            if key in settings_seen and settings_seen[key][0] != value:
                doc.report((key,), _conflict(key, value, *settings_seen[key]))
            settings_seen.setdefault(key, (value, source))
        parts.services.extend(doc_parts.services)
        parts.entries.extend(doc_parts.entries)
        parts.catalog.extend(doc_parts.catalog)
        parts.peers.extend(doc_parts.peers)
    _expand_sidecars(parts)
    settings = {k: v for k, (v, _) in settings_seen.items()}
    datacenter = settings.get("datacenter") or DEFAULT_DATACENTER
    # Catalog entries without a datacenter are in the local one, as Consul's catalog
    # register endpoint assumes.
    parts.catalog[:] = [(_complete_catalog(e, datacenter), d, p) for e, d, p in parts.catalog]
    validate.validate_parts(parts, settings)
    problems = [p for doc in docs for p in doc.problems]
    if problems:
        raise ValidationError(problems)
    for doc in docs:
        for problem in doc.warnings:
            # Points at the caller of load/loads/from_dict.
            warnings.warn(str(problem), MeshgwWarning, stacklevel=stacklevel)
    kwargs: dict[str, Any] = {
        k: settings.get(k, _SCALAR_DEFAULTS.get(k))
        for k in _MESH_SETTINGS
        if k in settings or k in _SCALAR_DEFAULTS
    }
    tls = kwargs.pop("mesh_tls", None)
    return Mesh(
        **kwargs,
        tls=tls,
        services=tuple(s for s, _, _ in parts.services),
        config_entries=tuple(e for e, _, _ in parts.entries),
        catalog=tuple(c for c, _, _ in parts.catalog),
        peers=tuple(p for p, _, _ in parts.peers),
        sources=tuple(d.name for d in docs if d.name),
    )
