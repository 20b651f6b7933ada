"""Cross-field rules: what Consul rejects (and what it only warns about) becomes a Problem.

Each rule reports through the document it came from, so every problem carries its file,
line and field path. All problems of all documents are raised together.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from meshgw import _names, naming
from meshgw._load.convert import PathElem
from meshgw._load.intentions import validate_intentions
from meshgw._load.parts import Document, Parts
from meshgw._values import by_norm_key, ip_version, is_ip, norm_key, unwrap_block
from meshgw.errors import MeshgwError, ParseError
from meshgw.model import _options as proxyconfig
from meshgw.model.catalog import CatalogEntry, Health
from meshgw.model.common import ServiceKind
from meshgw.model.entries import (
    ExportedServices,
    LoadBalancer,
    ProxyDefaults,
    ResolverFailover,
    ResolverRedirect,
    ServiceDefaults,
    ServiceIntentions,
    ServiceResolver,
    UpstreamConfig,
)
from meshgw.model.mesh import (
    DEFAULT_DATACENTER,
    DEFAULT_TRUST_DOMAIN,
    TLS_PLACEHOLDER_PATTERN,
    TLS_PLACEHOLDERS,
    Peer,
    TlsSettings,
)
from meshgw.model.registration import Service, Upstream

__all__ = ["raw_service_options", "settings_names", "validate_parts"]

_META_KEY = re.compile(r"^[a-zA-Z0-9_-]+$")
_PORT_TEXT = re.compile(r"[0-9]{1,5}")
_DNS_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")
_CHECK_STATUSES = ("", *Health.ALL)
_PROTOCOLS = ("", "tcp", "http", "http2", "grpc")
_LB_POLICIES = ("", "random", "round_robin", "least_request", "ring_hash", "maglev")
Path = tuple[PathElem, ...]


def validate_parts(parts: Parts, settings: Mapping[str, Any]) -> None:
    """Run every rule over what the documents contributed."""
    names = _Names(
        settings.get("datacenter") or DEFAULT_DATACENTER,
        settings.get("trust_domain") or DEFAULT_TRUST_DOMAIN,
    )
    seen_ids: dict[str, Path] = {}
    for svc, doc, path in parts.services:
        _service(svc, doc, path, local=True)
        names.service(svc, doc, path)
        if svc.id in seen_ids:
            doc.report((*path, "id"), f'duplicate service id "{svc.id}" (ids must be unique)')
        seen_ids.setdefault(svc.id, path)
    for node, doc, path in parts.catalog:
        if not node.node:
            doc.report((*path, "node"), "node is required")
        if not node.address:
            doc.report((*path, "address"), "address is required")
        names.catalog(node, doc, path)
        if node.service is not None:
            _service(node.service, doc, (*path, "service"), local=False)
            names.service(node.service, doc, (*path, "service"), node.datacenter)
        for i, check in enumerate(node.checks):
            _check_status(check.status, doc, (*path, "checks", i, "status"))
    seen_entries: dict[tuple[str, str, str], Path] = {}
    for entry, doc, path in parts.entries:
        key = (entry.kind, getattr(entry, "partition", "") or "default", entry.name)
        if key in seen_entries:
            doc.report(path, f'duplicate {entry.kind} config entry "{entry.name}"')
        seen_entries.setdefault(key, path)
        names.entry(entry, doc, path)
        if isinstance(entry, ProxyDefaults):
            _proxy_defaults(entry, doc, path)
        elif isinstance(entry, ServiceDefaults):
            _service_defaults(entry, doc, path)
        elif isinstance(entry, ServiceResolver):
            _resolver(entry, doc, path)
        elif isinstance(entry, ExportedServices):
            _exported(entry, doc, path)
        elif isinstance(entry, ServiceIntentions):
            validate_intentions(entry, doc, path)
            _meta(entry.meta, doc, (*path, "meta"))
    seen_peers: set[tuple[str, str]] = set()
    for peer, doc, path in parts.peers:
        if not peer.name:
            doc.report((*path, "name"), "peer name is required")
        if (peer.partition, peer.name) in seen_peers:
            doc.report((*path, "name"), f'duplicate peer "{peer.name}"')
        seen_peers.add((peer.partition, peer.name))
        names.peer(peer, doc, path)
        for i, gw in enumerate(peer.gateways):
            _port(gw.port, doc, (*path, "gateways", i, "port"), required=True)
            if not gw.address:
                doc.report((*path, "gateways", i, "address"), "address is required")
        for i, addr in enumerate(peer.server_addresses):
            host, _, port = addr.rpartition(":")
            # [0-9], not isdigit(): "²" is a digit to Python but not to int().
            if not host or not _PORT_TEXT.fullmatch(port) or not 0 < int(port) < 65536:
                doc.report((*path, "server_addresses", i), f'expected "host:port", got "{addr}"')


# --- names ------------------------------------------------------------------------------


def _report(doc: Document, path: Path, problem: str | None) -> bool:
    if problem is not None:
        doc.report(path, problem)
        return False
    return True


def settings_names(values: Mapping[str, Any], doc: Document) -> None:
    """Names among a mesh file's top-level settings, and ``mesh_tls`` paths."""
    tls = values.get("mesh_tls")
    if tls is not None:
        _tls_paths(tls, doc)
    for key in ("datacenter", "primary_datacenter"):
        if values.get(key):
            _report(doc, (key,), _names.datacenter_problem(values[key]))
    if values.get("partition"):
        _report(doc, ("partition",), _names.label_problem("partition", values["partition"]))
    if values.get("trust_domain"):
        _report(
            doc,
            ("trust_domain",),
            _names.dns_name_problem("trust_domain", values["trust_domain"]),
        )
    if values.get("domain"):
        _report(
            doc,
            ("domain",),
            _names.dns_name_problem("domain", values["domain"], trailing_dot=True),
        )


def _tls_paths(tls: TlsSettings, doc: Document) -> None:
    """``mesh_tls`` templates: known placeholders only, and no ``..`` segment. The values
    filled in are names validated like every other, so no ``{service}`` can add a ``/``
    or a ``..``: a path stays under the directory its template names."""
    for field in ("ca_file", "cert_file", "key_file", "sds_ca_secret", "sds_cert_secret"):
        template = getattr(tls, field)
        if not template:
            continue
        path = ("mesh_tls", field)
        unknown = sorted(set(TLS_PLACEHOLDER_PATTERN.findall(template)) - set(TLS_PLACEHOLDERS))
        if unknown:
            doc.report(
                path,
                f"unknown placeholder {{{unknown[0]}}} (expected {{service}}, {{namespace}}, "
                "{partition} or {datacenter})",
            )
        if field.endswith("_file") and ".." in template.replace("\\", "/").split("/"):
            doc.report(path, "a certificate path cannot contain '..' segments")


class _Names:
    """Every name that reaches an SNI, ``server_names`` or a SPIFFE ID, checked where it
    is written; and the SNIs they build, checked for length."""

    def __init__(self, datacenter: str, trust_domain: str) -> None:
        self.datacenter = datacenter
        self.trust_domain = trust_domain

    def _sni(self, doc: Document, path: Path, *args: str) -> None:
        # Labels and the "internal(-v1)" / "default" words take at most 40 more bytes:
        # only names this long together can make an SNI too long (checked per entry of
        # a large catalog, so the SNI is only built then).
        if sum(map(len, args)) + 40 <= _names.MAX_SNI_BYTES:
            return
        try:
            sni = naming.service_sni(*args)
        except MeshgwError:  # an empty component, reported elsewhere
            return
        _report(doc, path, _names.sni_problem(sni))

    def service(self, svc: Service, doc: Document, path: Path, datacenter: str = "") -> None:
        ok = not svc.name or _report(doc, (*path, "name"), _names.service_problem(svc.name))
        ok &= self.tenancy(doc, path, svc.namespace, svc.partition)
        if svc.datacenter:
            ok &= _report(doc, (*path, "datacenter"), _names.datacenter_problem(svc.datacenter))
        if svc.peer_name:
            _report(doc, (*path, "peer_name"), _names.peer_problem(svc.peer_name))
        dc = datacenter or svc.datacenter or self.datacenter
        if ok and svc.name:
            self._sni(
                doc, (*path, "name"), svc.name, svc.namespace, svc.partition, dc, self.trust_domain
            )
        proxy = svc.proxy
        if proxy is None:
            return
        dest = proxy.destination_service_name
        if dest and dest.strip() != "*":
            _report(
                doc,
                (*path, "proxy", "destination_service_name"),
                _names.service_problem(dest),
            )
        for i, up in enumerate(proxy.upstreams):
            self.upstream(up, doc, (*path, "proxy", "upstreams", i))

    def upstream(self, up: Upstream, doc: Document, path: Path) -> None:
        ok = True
        if up.destination_name and not (up.destination_name == "*" and up.centrally_configured):
            ok = _report(
                doc, (*path, "destination_name"), _names.service_problem(up.destination_name)
            )
        ok &= self.tenancy(
            doc, path, up.destination_namespace, up.destination_partition, "destination_"
        )
        if up.destination_peer:
            ok &= _report(
                doc, (*path, "destination_peer"), _names.peer_problem(up.destination_peer)
            )
        if up.datacenter:
            ok &= _report(doc, (*path, "datacenter"), _names.datacenter_problem(up.datacenter))
        if ok and up.destination_name and not up.destination_peer:
            self._sni(
                doc,
                (*path, "destination_name"),
                up.destination_name,
                up.destination_namespace,
                up.destination_partition,
                up.datacenter or self.datacenter,
                self.trust_domain,
            )

    def tenancy(
        self, doc: Document, path: Path, namespace: str, partition: str, prefix: str = ""
    ) -> bool:
        ok = True
        if namespace:
            ok &= _report(
                doc, (*path, f"{prefix}namespace"), _names.label_problem("namespace", namespace)
            )
        if partition:
            ok &= _report(
                doc, (*path, f"{prefix}partition"), _names.label_problem("partition", partition)
            )
        return ok

    def catalog(self, entry: CatalogEntry, doc: Document, path: Path) -> None:
        if entry.datacenter:
            _report(doc, (*path, "datacenter"), _names.datacenter_problem(entry.datacenter))
        if entry.partition:
            _report(doc, (*path, "partition"), _names.label_problem("partition", entry.partition))
        if entry.peer_name:
            _report(doc, (*path, "peer_name"), _names.peer_problem(entry.peer_name))
        svc = entry.service
        if entry.node and svc is not None and svc.name == "consul":
            # A Consul server's node name is a label of its WAN federation server SNI.
            _report(doc, (*path, "node"), _names.node_problem(entry.node))

    def peer(self, peer: Peer, doc: Document, path: Path) -> None:
        if peer.name:
            _report(doc, (*path, "name"), _names.peer_problem(peer.name))
        if peer.remote_name:
            _report(doc, (*path, "remote_name"), _names.peer_problem(peer.remote_name))
        if peer.partition:
            _report(doc, (*path, "partition"), _names.label_problem("partition", peer.partition))
        if peer.remote_partition:
            _report(
                doc,
                (*path, "remote_partition"),
                _names.label_problem("partition", peer.remote_partition),
            )
        if peer.datacenter:
            _report(doc, (*path, "datacenter"), _names.datacenter_problem(peer.datacenter))
        if peer.trust_domain:
            _report(
                doc,
                (*path, "trust_domain"),
                _names.dns_name_problem("trust_domain", peer.trust_domain),
            )
        if peer.server_name:
            _report(
                doc,
                (*path, "server_name"),
                _names.dns_name_problem("server_name", peer.server_name),
            )
        for i, ps in enumerate(peer.services):
            sp = (*path, "services", i)
            if ps.name:
                _report(doc, (*sp, "name"), _names.service_problem(ps.name))
            self.tenancy(doc, sp, ps.namespace, ps.partition)

    def entry(self, entry: Any, doc: Document, path: Path) -> None:
        self.tenancy(doc, path, getattr(entry, "namespace", ""), getattr(entry, "partition", ""))
        if (isinstance(entry, ServiceDefaults) and entry.name not in ("", "*")) or (
            isinstance(entry, ServiceResolver) and entry.name
        ):
            _report(doc, (*path, "name"), _names.service_problem(entry.name))
        if isinstance(entry, ServiceDefaults) and entry.upstream_config is not None:
            for i, override in enumerate(entry.upstream_config.overrides):
                op = (*path, "upstream_config", "overrides", i)
                if override.name not in ("", "*"):
                    _report(doc, (*op, "name"), _names.service_problem(override.name))
                if override.namespace != "*":
                    self.tenancy(doc, op, override.namespace, override.partition)
                if override.peer:
                    _report(doc, (*op, "peer"), _names.peer_problem(override.peer))
        if isinstance(entry, ServiceResolver):
            self.resolver(entry, doc, path)
        if isinstance(entry, ExportedServices):
            for i, svc in enumerate(entry.services):
                sp = (*path, "services", i)
                if svc.name not in ("", "*"):
                    _report(doc, (*sp, "name"), _names.service_problem(svc.name))
                if svc.namespace not in ("", "*"):
                    self.tenancy(doc, sp, svc.namespace, "")
                for j, c in enumerate(svc.consumers):
                    cp = (*sp, "consumers", j)
                    if c.peer and c.peer != "*":
                        _report(doc, (*cp, "peer"), _names.peer_problem(c.peer))
                    if c.partition and c.partition != "*":
                        self.tenancy(doc, cp, "", c.partition)

    def resolver(self, entry: ServiceResolver, doc: Document, path: Path) -> None:
        if entry.name and entry.name != "*":
            for subset in sorted(entry.subsets):
                self._sni(
                    doc,
                    (*path, "subsets", subset),
                    entry.name,
                    entry.namespace,
                    entry.partition,
                    self.datacenter,
                    self.trust_domain,
                    subset,
                )
        targets: list[tuple[Path, Any]] = []
        if entry.redirect is not None:
            targets.append(((*path, "redirect"), entry.redirect))
        for key, fo in sorted(entry.failover.items()):
            fp = (*path, "failover", key)
            targets.append((fp, fo))
            for i, dc in enumerate(fo.datacenters):
                if dc:
                    _report(doc, (*fp, "datacenters", i), _names.datacenter_problem(dc))
            for i, t in enumerate(fo.targets):
                targets.append(((*fp, "targets", i), t))
        for tp, t in targets:
            if t.service:
                _report(doc, (*tp, "service"), _names.service_problem(t.service))
            self.tenancy(doc, tp, t.namespace, getattr(t, "partition", ""))
            if getattr(t, "datacenter", ""):
                _report(doc, (*tp, "datacenter"), _names.datacenter_problem(t.datacenter))
            if getattr(t, "peer", ""):
                _report(doc, (*tp, "peer"), _names.peer_problem(t.peer))


# --- services ---------------------------------------------------------------------------


def _port(value: int, doc: Document, path: Path, required: bool = False) -> None:
    if value < 0 or value > 65535:
        doc.report(path, f"port {value} is out of range (expected 1 to 65535)")
    elif required and value == 0:
        doc.report(path, "port is required")


def _check_status(status: str, doc: Document, path: Path) -> None:
    if status not in _CHECK_STATUSES:
        doc.report(path, f'invalid check status "{status}" (expected passing, warning or critical)')


def _service(svc: Service, doc: Document, path: Path, *, local: bool) -> None:
    # Runs for every catalog entry: paths are only built when something is wrong.
    kind = svc.kind
    if not svc.name:
        doc.report((*path, "name"), "service name is required")
    if not 0 <= svc.port <= 65535:
        _port(svc.port, doc, (*path, "port"))
    if svc.socket_path and (svc.address or svc.port):
        doc.report(path, f"service {svc.name} cannot have both socket_path and address/port")
    for name, addr in svc.tagged_addresses.items():
        if not 0 <= addr.port <= 65535:
            _port(addr.port, doc, (*path, "tagged_addresses", name, "port"))
        if name in _FAMILY_TAGS:
            _tagged_family(name, addr.address, doc, (*path, "tagged_addresses", name, "address"))
    if svc.meta:
        _meta(svc.meta, doc, (*path, "meta"), allow_wan_fed=kind is ServiceKind.MESH_GATEWAY)
    if svc.weights is not None:
        if not 1 <= svc.weights.passing <= 65535:
            doc.report((*path, "weights", "passing"), "passing weight must be between 1 and 65535")
        if not 0 <= svc.weights.warning <= 65535:
            doc.report((*path, "weights", "warning"), "warning weight must be between 0 and 65535")
    for i, check in enumerate(svc.checks):
        if check.status not in _CHECK_STATUSES:
            _check_status(check.status, doc, (*path, "checks", i, "status"))
    proxy = svc.proxy
    if kind in (ServiceKind.MESH_GATEWAY, ServiceKind.TERMINATING_GATEWAY) and svc.port == 0:
        doc.report((*path, "port"), f"port is required for a {kind}")
    if kind.is_gateway and proxy is not None:
        for field in (
            "destination_service_name",
            "destination_service_id",
            "local_service_address",
            "local_service_port",
            "local_service_socket_path",
        ):
            if getattr(proxy, field):
                doc.report((*path, "proxy", field), f"{field} is not valid for a {kind}")
        if proxy.upstreams:
            doc.report((*path, "proxy", "upstreams"), f"a {kind} cannot have upstreams")
    if kind.is_gateway and svc.connect is not None and svc.connect.sidecar_service is not None:
        doc.report((*path, "connect", "sidecar_service"), f"a {kind} cannot have a sidecar service")
    if kind is ServiceKind.CONNECT_PROXY:
        dest = proxy.destination_service_name.strip() if proxy is not None else ""
        if not dest:
            doc.report(
                (*path, "proxy", "destination_service_name"),
                "destination_service_name is required for a connect-proxy",
            )
        elif dest == "*":
            doc.report(
                (*path, "proxy", "destination_service_name"),
                "destination_service_name must not be a wildcard",
            )
        if local and not svc.port and not svc.socket_path:
            doc.report((*path, "port"), "port or socket_path is required for a connect-proxy")
        if svc.connect is not None and svc.connect.native:
            doc.report((*path, "connect", "native"), "a proxy cannot also be Connect native")
    if proxy is not None:
        if proxy.local_service_address and not is_ip(proxy.local_service_address):
            # The local_app cluster is STATIC: Envoy takes IP literals only there.
            doc.report(
                (*path, "proxy", "local_service_address"),
                f'"{proxy.local_service_address[:60]}" is not an IP address (Envoy\'s static '
                "local_app cluster needs one; use 127.0.0.1 rather than localhost)",
            )
        if not 0 <= proxy.local_service_port <= 65535:
            _port(proxy.local_service_port, doc, (*path, "proxy", "local_service_port"))
        if proxy.config:
            _proxy_config(svc, doc, (*path, "proxy", "config"))
        if proxy.upstreams:
            _upstreams(svc, doc, (*path, "proxy", "upstreams"))
        if proxy.expose.paths:
            _expose(proxy.expose.paths, doc, (*path, "proxy", "expose", "paths"))


_FAMILY_TAGS = {"lan_ipv4": 4, "wan_ipv4": 4, "lan_ipv6": 6, "wan_ipv6": 6}


def _tagged_family(name: str, address: str, doc: Document, path: Path) -> None:
    want = _FAMILY_TAGS.get(name)
    if want is None or not address:
        return
    if ip_version(address) != want:
        doc.report(path, f"tagged address {name} must be a valid IPv{want} address")


def _meta(meta: Mapping[str, str], doc: Document, path: Path, allow_wan_fed: bool = False) -> None:
    if len(meta) > 64:
        doc.report(path, "meta cannot contain more than 64 key/value pairs")
    for key, value in meta.items():
        if not key:
            doc.report(path, "meta key cannot be blank")
        elif not _META_KEY.match(key):
            doc.report(
                (*path, key), "meta key contains invalid characters (allowed: a-z A-Z 0-9 _ -)"
            )
        elif len(key) > 128:
            doc.report((*path, key), "meta key is too long (limit: 128 characters)")
        elif key.startswith("consul-") and not (allow_wan_fed and key == "consul-wan-federation"):
            doc.report((*path, key), "meta key prefix 'consul-' is reserved for internal use")
        if len(value) > 512:
            doc.report((*path, key), "meta value is too long (limit: 512 characters)")


_GATEWAY_OPTIONS = {**proxyconfig.BOOTSTRAP_OPTIONS, **proxyconfig.GATEWAY_OPTIONS}
_SIDECAR_OPTIONS = {**proxyconfig.BOOTSTRAP_OPTIONS, **proxyconfig.SIDECAR_OPTIONS}
_DEFAULTS_OPTIONS = {
    **_GATEWAY_OPTIONS,
    **proxyconfig.SIDECAR_OPTIONS,
    **proxyconfig.DEFAULTS_OPTIONS,
}


def _proxy_config(svc: Service, doc: Document, path: Path) -> None:
    assert svc.proxy is not None
    if not svc.proxy.config:
        return
    if svc.kind.is_gateway:
        options, what = _GATEWAY_OPTIONS, f"a {svc.kind}"
    else:
        options, what = _SIDECAR_OPTIONS, "a connect-proxy"
    _report_options(proxyconfig.check_options(svc.proxy.config, options, what), doc, path)


def _report_options(found: Iterable[proxyconfig.OptionProblem], doc: Document, path: Path) -> None:
    for sub, message in found:
        doc.report_option((*path, *sub), message)


def _upstreams(svc: Service, doc: Document, path: Path) -> None:
    assert svc.proxy is not None
    seen: dict[tuple[str, ...], int] = {}
    binds: dict[str, int] = {}
    proxy_partition = svc.partition or "default"
    for i, up in enumerate(svc.proxy.upstreams):
        p = (*path, i)
        _upstream(up, doc, p, proxy_partition)
        key = (
            up.destination_type or "service",
            up.destination_name,
            up.destination_partition or "default",
            up.destination_namespace or "default",
            up.destination_peer,
            up.datacenter,
        )
        if key in seen:
            doc.report(p, f"duplicate upstream: same destination as upstreams[{seen[key]}]")
        seen.setdefault(key, i)
        bind = up.local_bind_socket_path or f"{up.bind_address}:{up.local_bind_port}"
        if up.local_bind_socket_path or up.local_bind_port:
            if bind in binds:
                doc.report(
                    p, f'duplicate local bind "{bind}" (also used by upstreams[{binds[bind]}])'
                )
            binds.setdefault(bind, i)


def _upstream(up: Upstream, doc: Document, path: Path, proxy_partition: str) -> None:
    if up.destination_type not in ("service", "prepared_query", ""):
        doc.report(
            (*path, "destination_type"),
            f'unknown destination_type "{up.destination_type}" '
            "(expected service or prepared_query)",
        )
    if not up.destination_name:
        doc.report((*path, "destination_name"), "destination_name is required")
    elif up.destination_name == "*" and not up.centrally_configured:
        doc.report((*path, "destination_name"), "destination_name cannot be a wildcard")
    if up.destination_peer and up.datacenter:
        doc.report(path, "an upstream cannot set both destination_peer and datacenter")
    dest_partition = up.destination_partition or (
        proxy_partition if up.destination_peer else "default"
    )
    if (
        not up.destination_peer
        and up.datacenter
        and (dest_partition != "default" or proxy_partition != "default")
    ):
        doc.report(path, "upstreams cannot target another datacenter in a non-default partition")
    if up.destination_peer and dest_partition != proxy_partition:
        doc.report(
            (*path, "destination_partition"),
            "upstreams must target peers in the same partition as the service",
        )
    if not up.local_bind_port and not up.local_bind_socket_path:
        doc.report(
            (*path, "local_bind_port"), "local_bind_port (or local_bind_socket_path) is required"
        )
    elif up.local_bind_port and up.local_bind_socket_path:
        doc.report(path, "only one of local_bind_port and local_bind_socket_path can be set")
    _port(up.local_bind_port, doc, (*path, "local_bind_port"))
    if up.local_bind_address and not is_ip(up.local_bind_address):
        doc.report((*path, "local_bind_address"), f'"{up.local_bind_address}" is not an IP address')
    if up.local_bind_socket_mode:
        try:
            int(up.local_bind_socket_mode, 8)
        except ValueError:
            doc.report(
                (*path, "local_bind_socket_mode"),
                f"invalid mode: {up.local_bind_socket_mode} (expected octal)",
            )
    _report_options(
        proxyconfig.check_options(up.config, proxyconfig.UPSTREAM_OPTIONS, "an upstream"),
        doc,
        (*path, "config"),
    )


def _expose(paths: Iterable[Any], doc: Document, path: Path) -> None:
    ports: set[int] = set()
    for i, ep in enumerate(paths):
        if not ep.path:
            doc.report((*path, i, "path"), "empty path exposed")
        if not 1 <= ep.listener_port <= 65535:
            doc.report((*path, i, "listener_port"), f"invalid listener port: {ep.listener_port}")
        elif ep.listener_port in ports:
            doc.report((*path, i, "listener_port"), "duplicate listener ports exposed")
        ports.add(ep.listener_port)
        if ep.protocol not in ("", "http", "http2"):
            doc.report(
                (*path, i, "protocol"),
                f"protocol '{ep.protocol}' not supported (expected http or http2)",
            )


# --- config entries ---------------------------------------------------------------------


def _proxy_defaults(entry: ProxyDefaults, doc: Document, path: Path) -> None:
    if entry.name not in ("global", ""):
        doc.report((*path, "name"), f'invalid name "{entry.name}", only "global" is supported')
    _report_options(
        proxyconfig.check_options(entry.config, _DEFAULTS_OPTIONS, "proxy-defaults"),
        doc,
        (*path, "config"),
    )
    _meta(entry.meta, doc, (*path, "meta"))


def _service_defaults(entry: ServiceDefaults, doc: Document, path: Path) -> None:
    for field in ("local_connect_timeout_ms", "local_request_timeout_ms"):
        if not 0 <= getattr(entry, field) <= proxyconfig.MAX_MS:
            doc.report((*path, field), f"{field} must be between 0 and {proxyconfig.MAX_MS}")
    if not 0 <= entry.max_inbound_connections <= proxyconfig.UINT32:
        doc.report(
            (*path, "max_inbound_connections"),
            f"max_inbound_connections must be between 0 and {proxyconfig.UINT32}",
        )
    if not entry.name:
        doc.report((*path, "name"), "name is required")
    elif entry.name == "*":
        doc.report(
            (*path, "name"), "service-defaults name must be the name of a service, not a wildcard"
        )
    if entry.protocol.lower() not in _PROTOCOLS:
        doc.report(
            (*path, "protocol"),
            f'invalid protocol "{entry.protocol}" (expected tcp, http, http2 or grpc)',
        )
    _meta(entry.meta, doc, (*path, "meta"))
    uc = entry.upstream_config
    if uc is None:
        return
    if entry.destination:
        doc.report((*path, "upstream_config"), "upstream_config and destination cannot both be set")
    if uc.defaults is not None:
        dp = (*path, "upstream_config", "defaults")
        for field in ("name", "namespace", "partition", "peer"):
            if getattr(uc.defaults, field):
                doc.report((*dp, field), f"{field} must be empty in upstream defaults")
        _upstream_config(uc.defaults, doc, dp)
    for i, override in enumerate(uc.overrides):
        op = (*path, "upstream_config", "overrides", i)
        if not override.name:
            doc.report((*op, "name"), "name is required in an upstream override")
        elif override.name == "*":
            doc.report((*op, "name"), "wildcard name is not supported in an upstream override")
        if override.namespace == "*":
            doc.report(
                (*op, "namespace"), "wildcard namespace is not supported in an upstream override"
            )
        _upstream_config(override, doc, op)


def _upstream_config(uc: UpstreamConfig, doc: Document, path: Path) -> None:
    if uc.protocol.lower() not in _PROTOCOLS:
        doc.report(
            (*path, "protocol"),
            f'invalid protocol "{uc.protocol}" (expected tcp, http, http2 or grpc)',
        )
    if not 0 <= uc.connect_timeout_ms <= proxyconfig.MAX_MS:
        doc.report(
            (*path, "connect_timeout_ms"),
            f"connect_timeout_ms must be between 0 and {proxyconfig.MAX_MS}",
        )
    if uc.balance_outbound_connections not in ("", "exact_balance"):
        doc.report((*path, "balance_outbound_connections"), 'expected "" or "exact_balance"')
    for field in ("envoy_listener_json", "envoy_cluster_json"):
        text = getattr(uc, field)
        if text:
            try:
                proxyconfig._as_json_text(text)
            except ValueError as exc:
                doc.report((*path, field), str(exc))
    if uc.limits is not None:
        for field in ("max_connections", "max_pending_requests", "max_concurrent_requests"):
            value = getattr(uc.limits, field)
            if value is not None and not 0 <= value <= proxyconfig.UINT32:
                # Envoy's circuit-breaker thresholds are UInt32Value.
                doc.report(
                    (*path, "limits", field),
                    f"{field} must be between 0 and {proxyconfig.UINT32}",
                )
    phc = uc.passive_health_check
    if phc is not None:
        for field in ("enforcing_consecutive_5xx", "max_ejection_percent"):
            value = getattr(phc, field)
            if value is not None and not 0 <= value <= 100:
                doc.report(
                    (*path, "passive_health_check", field), f"{field} must be between 0 and 100"
                )
        if phc.max_failures is not None and not 0 <= phc.max_failures <= proxyconfig.UINT32:
            doc.report(
                (*path, "passive_health_check", "max_failures"),
                f"max_failures must be between 0 and {proxyconfig.UINT32}",
            )
        if phc.base_ejection_time == 0:
            doc.report(
                (*path, "passive_health_check", "base_ejection_time"),
                "base_ejection_time must be greater than zero (Envoy refuses 0s)",
            )


def _resolver(entry: ServiceResolver, doc: Document, path: Path) -> None:
    if not entry.name:
        doc.report((*path, "name"), "name is required")
    for name, subset in sorted(entry.subsets.items()):
        sp = (*path, "subsets", name)
        if not _DNS_LABEL.match(name) or len(name) > 63:
            doc.report(sp, f'subset name "{name}" must be a DNS label (a-z, 0-9, -; at most 63)')
        if subset.filter:
            _filter(subset.filter, doc, (*sp, "filter"))
    if entry.default_subset and entry.default_subset not in entry.subsets:
        doc.report(
            (*path, "default_subset"),
            f'default_subset "{entry.default_subset}" is not a valid subset',
        )
    cross_dc_ok = (entry.partition or "default") == "default"
    if entry.redirect is not None:
        _redirect(entry, entry.redirect, cross_dc_ok, doc, (*path, "redirect"))
    for key, fo in sorted(entry.failover.items()):
        _failover(entry, key, fo, cross_dc_ok, doc, (*path, "failover", key))
    if entry.load_balancer is not None:
        _load_balancer(entry.load_balancer, doc, (*path, "load_balancer"))


def _redirect(
    entry: ServiceResolver, red: ResolverRedirect, cross_dc_ok: bool, doc: Document, rp: Path
) -> None:
    if entry.failover:
        doc.report(rp, "redirect and failover cannot both be set")
    if not any(
        (
            red.service,
            red.service_subset,
            red.namespace,
            red.partition,
            red.datacenter,
            red.peer,
            red.sameness_group,
        )
    ):
        doc.report(rp, "redirect is empty")
    if red.peer and red.service_subset:
        doc.report(rp, "redirect.peer cannot be set with redirect.service_subset")
    if red.peer and red.datacenter:
        doc.report(rp, "redirect.peer cannot be set with redirect.datacenter")
    if red.peer and red.partition:
        doc.report(rp, "redirect.partition cannot be set with redirect.peer")
    if red.service_subset and not red.service:
        doc.report(rp, "redirect.service_subset defined without redirect.service")
    if red.datacenter and not cross_dc_ok:
        doc.report(rp, "cross-datacenter redirect is only supported in the default partition")
    if red.datacenter and red.partition:
        doc.report(rp, "cross-datacenter and cross-partition redirect is not supported")


def _failover(
    entry: ServiceResolver,
    key: str,
    fo: ResolverFailover,
    cross_dc_ok: bool,
    doc: Document,
    fp: Path,
) -> None:
    if key != "*" and key not in entry.subsets:
        doc.report(
            fp, f'failover key "{key}" is not a valid subset (expected "*" or a subset name)'
        )
    if not any(
        (
            fo.service,
            fo.service_subset,
            fo.namespace,
            fo.targets,
            fo.datacenters,
            fo.sameness_group,
        )
    ):
        doc.report(
            fp, "one of service, service_subset, namespace, targets or datacenters is required"
        )
    if fo.targets and fo.datacenters:
        doc.report(fp, "targets cannot be set with datacenters")
    if fo.targets and fo.service_subset:
        doc.report(fp, "targets cannot be set with service_subset")
    if fo.targets and fo.service:
        doc.report(fp, "targets cannot be set with service")
    for i, dc in enumerate(fo.datacenters):
        if not dc:
            doc.report((*fp, "datacenters", i), "found empty datacenter")
    if (fo.datacenters or any(t.datacenter for t in fo.targets)) and not cross_dc_ok:
        doc.report(fp, "cross-datacenter failover is only supported in the default partition")
    for i, t in enumerate(fo.targets):
        tp = (*fp, "targets", i)
        if t.peer and t.service_subset:
            doc.report(tp, "peer cannot be set with service_subset")
        if t.peer and t.partition:
            doc.report(tp, "partition cannot be set with peer")
        if t.peer and t.datacenter:
            doc.report(tp, "peer cannot be set with datacenter")
        if t.partition and t.datacenter:
            doc.report(tp, "partition cannot be set with datacenter")


def _load_balancer(lb: LoadBalancer, doc: Document, path: Path) -> None:
    if lb.policy not in _LB_POLICIES:
        doc.report(
            (*path, "policy"),
            f'unknown policy "{lb.policy}" '
            "(expected random, round_robin, least_request, ring_hash or maglev)",
        )
    elif lb.policy == "least_request":
        try:
            lb.least_request_choice_count()
        except ValueError as exc:
            doc.report((*path, "least_request_config", "choice_count"), str(exc))


def _filter(expression: str, doc: Document, path: Path) -> None:
    # Imported on first use: the filter language is a large module most meshes never need,
    # and ``import meshgw`` stays fast.
    from meshgw._filters import compile_filter

    try:
        compile_filter(expression)
    except ParseError as exc:
        doc.report(path, f"invalid filter {expression!r}: {exc.reason}")


def _exported(entry: ExportedServices, doc: Document, path: Path) -> None:
    for i, svc in enumerate(entry.services):
        sp = (*path, "services", i)
        if not svc.name:
            doc.report((*sp, "name"), "service name cannot be empty")
        if svc.namespace == "*" and svc.name != "*":
            doc.report((*sp, "name"), "service name must be wildcard if namespace is wildcard")
        if not svc.consumers:
            doc.report((*sp, "consumers"), "must have at least one consumer")
        for j, c in enumerate(svc.consumers):
            cp = (*sp, "consumers", j)
            count = sum(bool(x) for x in (c.peer, c.partition, c.sameness_group))
            if count != 1:
                doc.report(cp, "a consumer sets exactly one of peer, partition or sameness_group")
            if c.peer == "*" or c.partition == "*":
                doc.report(cp, "wildcard peer or partition consumers are not supported")


def raw_service_options(raw: Any, doc: Document, path: Path) -> None:
    """The ``proxy.config`` and ``upstreams[].config`` checks, on the raw document of a
    service that failed to structure: its option typos are reported together with its
    other problems instead of after they are fixed."""
    raw = unwrap_block(raw)
    if not isinstance(raw, Mapping):
        return
    keys = by_norm_key(raw)
    kind = keys.get("kind")
    gateway = isinstance(kind, str) and kind.endswith("-gateway")
    proxy = unwrap_block(keys.get("proxy"))
    if isinstance(proxy, Mapping):
        pkeys = by_norm_key(proxy)
        config = unwrap_block(pkeys.get("config"))
        if isinstance(config, Mapping):
            options, what = (
                (_GATEWAY_OPTIONS, f"a {kind}")
                if gateway
                else (_SIDECAR_OPTIONS, "a connect-proxy")
            )
            found = proxyconfig.check_options(config, options, what)
            _report_options(found, doc, (*path, "proxy", "config"))
        upstreams = pkeys.get("upstreams")
        if isinstance(upstreams, list):
            for i, up in enumerate(upstreams):
                up = unwrap_block(up)
                if not isinstance(up, Mapping):
                    continue
                ukeys = by_norm_key(up)
                config = unwrap_block(ukeys.get("config"))
                if isinstance(config, Mapping):
                    found = proxyconfig.check_options(
                        config, proxyconfig.UPSTREAM_OPTIONS, "an upstream"
                    )
                    _report_options(found, doc, (*path, "proxy", "upstreams", i, "config"))
    connect = unwrap_block(keys.get("connect"))
    if isinstance(connect, Mapping):
        for key, value in connect.items():
            if isinstance(key, str) and norm_key(key) == "sidecarservice":
                raw_service_options(value, doc, (*path, "connect", "sidecar_service"))
