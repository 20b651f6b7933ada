"""Builders for a multi-datacenter Consul mesh on one laptop, configured only by meshgw.

Every datacenter is a loopback address (``dc1`` → ``127.0.0.1``, ``dc2`` → ``127.0.0.2``,
``dc3`` → ``127.0.0.3``); every process listens on a free port of its datacenter's address.
Per datacenter there is

* a **mesh gateway** (``mesh-gateway``), its LAN and WAN addresses both the loopback one;
* in dc1 the client ``web`` and its sidecar ``web-sidecar-proxy``, with one upstream per
  destination (each with its own mesh gateway mode);
* in the other datacenters the destination services (``api``, ...), each a TCP echo
  backend that answers with a tag such as ``b"api-dc2:"`` behind its sidecar.

What this module writes is what a Consul user writes: per datacenter a directory of HCL
files (``mesh.hcl``: the datacenter, the trust domain, where the certificates are and
what the catalog knows about the *other* datacenters; one agent service definition per
registration; bare config entries), plus a throw-away CA and SPIFFE leaf certificates
(:func:`meshgw.testing.make_test_pki`). Envoy bootstraps come from
``meshgw.bootstrap`` (or ``meshgw bootstrap ...``) of the datacenter's own directory.

This file is shared by ``examples/demo/two-dc.py`` and the end-to-end tests
(``tests/e2e/meshes.py`` loads it by path), so the demo runs exactly what the tests
prove. It needs meshgw and ``cryptography``; nothing here starts a process except
through the ``stack`` object given to :func:`start`.
"""

from __future__ import annotations

import dataclasses
import json
import re
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import meshgw
import meshgw.lab
from meshgw.testing import TestPKI, make_test_pki

__all__ = [
    "GATEWAY",
    "GATEWAY_LOCAL_STAT",
    "MODES",
    "TRUST_DOMAIN",
    "Backend",
    "Client",
    "EnvoySpec",
    "Gateway",
    "PortReservations",
    "StackLike",
    "Topology",
    "Upstream",
    "bootstrap",
    "cli_command",
    "dc_ip",
    "envoy_specs",
    "gateway_remote_stat",
    "load_mesh",
    "plan",
    "render_hcl",
    "sni",
    "spiffe_id",
    "start",
    "write_mesh_files",
    "write_pki",
]

#: The trust domain of the demo mesh (Consul's form: ``<cluster id>.consul``).
TRUST_DOMAIN = "11111111-2222-3333-4444-555555555555.consul"
#: The mesh gateway's service name and id in every datacenter.
GATEWAY = "mesh-gateway"
#: Mesh gateway modes an upstream can have.
MODES = ("local", "remote", "none")
#: The gateway's catch-all chain (SNI → local service): connections it accepted.
GATEWAY_LOCAL_STAT = "tcp.mesh_gateway_local.default.downstream_cx_total"


def gateway_remote_stat(datacenter: str) -> str:
    """The gateway stat counting connections it forwarded to ``datacenter``'s gateways."""
    return f"tcp.mesh_gateway_remote.default.{datacenter}.downstream_cx_total"


def dc_ip(datacenter: str) -> str:
    """``dcN`` → ``127.0.0.N``: each simulated datacenter is one loopback address."""
    match = re.fullmatch(r"dc(\d+)", datacenter)
    if not match or not 1 <= int(match.group(1)) <= 254:
        raise ValueError(f"datacenter names are dc1 ... dc254, not {datacenter!r}")
    return f"127.0.0.{int(match.group(1))}"


def sni(service: str, datacenter: str, trust_domain: str = TRUST_DOMAIN) -> str:
    """A service's SNI (and cluster name) in the default namespace and partition."""
    return f"{service}.default.{datacenter}.internal.{trust_domain}"


def spiffe_id(service: str, datacenter: str, trust_domain: str = TRUST_DOMAIN) -> str:
    """A service's SPIFFE ID (the URI SAN of its leaf certificate)."""
    return f"spiffe://{trust_domain}/ns/default/dc/{datacenter}/svc/{service}"


# --------------------------------------------------------------------------- ports


# Free TCP ports held from planning until the processes bind them (release one just
# before something without SO_REUSEPORT binds it, the rest once the Envoys listen):
# meshgw.lab.PortReservations, the class the lab itself uses against port races.
PortReservations = meshgw.lab.PortReservations


# --------------------------------------------------------------------------- topology


@dataclasses.dataclass(frozen=True)
class Gateway:
    """A datacenter's mesh gateway: LAN and WAN address are ``address:port``."""

    datacenter: str
    address: str
    port: int


@dataclasses.dataclass(frozen=True)
class Backend:
    """A destination service instance: an echo backend on ``port`` behind its sidecar
    (public listener on ``sidecar_port``), both on the datacenter's address."""

    service: str
    datacenter: str
    address: str
    port: int
    sidecar_port: int

    @property
    def tag(self) -> bytes:
        """What the echo backend puts before the echoed bytes: ``b"api-dc2:"``."""
        return f"{self.service}-{self.datacenter}:".encode()

    @property
    def sidecar_id(self) -> str:
        return f"{self.service}-sidecar-proxy"


@dataclasses.dataclass(frozen=True)
class Upstream:
    """One upstream of the client's sidecar: ``service`` in ``datacenter``, reached on
    ``127.0.0.1:port`` of dc1, with mesh gateway ``mode`` ("" leaves it unset)."""

    service: str
    datacenter: str
    mode: str
    port: int


@dataclasses.dataclass(frozen=True)
class Client:
    """The calling service (``web`` in dc1) and its sidecar."""

    service: str
    datacenter: str
    address: str
    port: int
    sidecar_port: int
    upstreams: tuple[Upstream, ...]

    @property
    def sidecar_id(self) -> str:
        return f"{self.service}-sidecar-proxy"

    def upstream(self, service: str) -> Upstream:
        for up in self.upstreams:
            if up.service == service:
                return up
        raise KeyError(f"{self.service} has no upstream {service!r}")


@dataclasses.dataclass(frozen=True)
class Topology:
    """Everything about one simulated mesh: where each piece listens, and how it is
    configured. Build it with :func:`plan`; change health with :meth:`with_health`."""

    root: Path
    trust_domain: str
    datacenters: tuple[str, ...]
    gateways: Mapping[str, Gateway]
    backends: tuple[Backend, ...]
    client: Client
    default_mode: str = ""
    failover: Mapping[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
    upstream_config: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    critical: frozenset[tuple[str, str]] = frozenset()

    @property
    def certs(self) -> Path:
        return self.root / "certs"

    def dc_dir(self, datacenter: str) -> Path:
        """The directory of ``datacenter``'s mesh files (what ``meshgw.load`` reads)."""
        return self.root / datacenter

    @property
    def envoy_dir(self) -> Path:
        """Where bootstraps are written (never inside a datacenter's directory, which
        ``meshgw.load`` reads whole)."""
        return self.root / "envoy"

    def backend(self, service: str, datacenter: str) -> Backend:
        for b in self.backends:
            if (b.service, b.datacenter) == (service, datacenter):
                return b
        raise KeyError(f"no backend {service!r} in {datacenter}")

    def with_health(self, critical: Iterable[tuple[str, str]]) -> Topology:
        """The same mesh with the ``(service, datacenter)`` instances marked critical
        in every catalog (as Consul's health checks would); rewrite the files after."""
        return dataclasses.replace(self, critical=frozenset(critical))


def plan(
    root: str | Path,
    *,
    port: Callable[[str], int],
    backends: Mapping[str, Sequence[str]],
    upstreams: Sequence[tuple[str, str, str]],
    default_mode: str = "",
    failover: Mapping[str, Sequence[str]] | None = None,
    upstream_config: Mapping[str, Any] | None = None,
    trust_domain: str = TRUST_DOMAIN,
) -> Topology:
    """Choose addresses and free ports for a mesh.

    ``port(ip)`` returns a free TCP port on ``ip`` (a :class:`PortReservations`, to
    keep them free until :func:`start`). ``backends`` maps a datacenter to
    the services running there (``{"dc2": ["api"]}``); ``upstreams`` lists the client's
    upstreams as ``(service, datacenter, mode)``; ``default_mode`` goes into a global
    ``proxy-defaults`` entry when set; ``failover`` maps a service to the datacenters of
    its ``service-resolver`` failover (``{"api": ["dc3"]}``); ``upstream_config`` is
    every upstream's ``config`` (``passive_health_check``, ...). The client (``web``) lives
    in dc1; every datacenter mentioned gets a mesh gateway.
    """
    for _, _, mode in upstreams:
        if mode not in ("", *MODES):
            raise ValueError(f"invalid mode {mode!r}")
    names = {"dc1", *backends, *(dc for _, dc, _ in upstreams)}
    for dcs in (failover or {}).values():
        names.update(dcs)
    datacenters = tuple(sorted(names, key=lambda dc: int(dc_ip(dc).rsplit(".", 1)[1])))

    gateways = {dc: Gateway(dc, dc_ip(dc), port(dc_ip(dc))) for dc in datacenters}
    found = [
        Backend(svc, dc, dc_ip(dc), port(dc_ip(dc)), port(dc_ip(dc)))
        for dc in datacenters
        for svc in backends.get(dc, ())
    ]
    ip1 = dc_ip("dc1")
    client = Client(
        service="web",
        datacenter="dc1",
        address=ip1,
        port=port(ip1),
        sidecar_port=port(ip1),
        upstreams=tuple(Upstream(svc, dc, mode, port(ip1)) for svc, dc, mode in upstreams),
    )
    return Topology(
        root=Path(root).absolute(),
        trust_domain=trust_domain,
        datacenters=datacenters,
        gateways=gateways,
        backends=tuple(found),
        client=client,
        default_mode=default_mode,
        failover={svc: tuple(dcs) for svc, dcs in (failover or {}).items()},
        upstream_config=dict(upstream_config or {}),
    )


# --------------------------------------------------------------------------- certificates


def write_pki(topology: Topology) -> TestPKI:
    """A throw-away CA and one SPIFFE leaf per sidecar, in ``<root>/certs``.

    Leaves are named ``<service>-<dc>.pem`` / ``<service>-<dc>-key.pem``: the mesh files'
    ``mesh_tls`` finds them through the ``{service}`` and ``{datacenter}`` placeholders.
    Gateways need none: they route by SNI without terminating TLS.
    """
    identities = [(topology.client.service, topology.client.datacenter)]
    identities += [(b.service, b.datacenter) for b in topology.backends]
    return make_test_pki(topology.certs, topology.trust_domain, identities)


# --------------------------------------------------------------------------- mesh files


def write_mesh_files(topology: Topology) -> dict[str, Path]:
    """Write every datacenter's mesh files; returns datacenter → its directory.

    Per datacenter ``<root>/<dc>/``:

    * ``mesh.hcl``: ``datacenter``, ``trust_domain``, the local agent's node,
      ``mesh_tls`` and the ``catalog``: the mesh gateways (``tagged_addresses.wan``) and
      service instances of every **other** datacenter, with their health;
    * ``mesh-gateway.hcl``: this datacenter's gateway registration;
    * ``<service>.hcl``: each local service with its ``sidecar_service``;
    * ``proxy-defaults.hcl`` / ``<service>-resolver.hcl``: config entries (replicated to
      every datacenter, as Consul does).

    Calling it again (after :meth:`Topology.with_health`, say) rewrites the files.
    """
    out: dict[str, Path] = {}
    for dc in topology.datacenters:
        directory = topology.dc_dir(dc)
        directory.mkdir(parents=True, exist_ok=True)
        files = {
            "mesh.hcl": _mesh_file(topology, dc),
            "mesh-gateway.hcl": _gateway_file(topology, dc),
        }
        if topology.client.datacenter == dc:
            files[f"{topology.client.service}.hcl"] = _client_file(topology)
        for backend in topology.backends:
            if backend.datacenter == dc:
                files[f"{backend.service}.hcl"] = _backend_file(topology, backend)
        if topology.default_mode:
            files["proxy-defaults.hcl"] = render_hcl(
                {
                    "Kind": "proxy-defaults",
                    "Name": "global",
                    "MeshGateway": {"Mode": topology.default_mode},
                },
                header="Mesh gateway mode for every proxy (consul config write).",
            )
        for service, dcs in sorted(topology.failover.items()):
            files[f"{service}-resolver.hcl"] = render_hcl(
                {
                    "Kind": "service-resolver",
                    "Name": service,
                    "ConnectTimeout": "2s",
                    "Failover": {"*": {"Datacenters": list(dcs)}},
                },
                header=f"Fail {service} over to {', '.join(dcs)} (consul config write).",
            )
        for name, text in files.items():
            (directory / name).write_text(text, encoding="utf-8")
        out[dc] = directory
    return out


def _mesh_file(topology: Topology, dc: str) -> str:
    certs = topology.certs
    doc: dict[str, Any] = {
        "datacenter": dc,
        "primary_datacenter": topology.datacenters[0],
        "trust_domain": topology.trust_domain,
        "node_name": f"{dc}-node",
        "advertise_addr": dc_ip(dc),
        "mesh_tls": {
            "ca_file": str(certs / "ca.pem"),
            "cert_file": str(certs / "{service}-{datacenter}.pem"),
            "key_file": str(certs / "{service}-{datacenter}-key.pem"),
        },
        "catalog": _catalog(topology, dc),
    }
    return render_hcl(doc, header=f"The mesh as seen from {dc}.")


def _catalog(topology: Topology, local: str) -> list[dict[str, Any]]:
    """What ``local``'s catalog knows about the other datacenters."""
    entries: list[dict[str, Any]] = []
    for dc in topology.datacenters:
        if dc == local:
            continue
        gw = topology.gateways[dc]
        entries.append(
            _catalog_entry(
                dc,
                {
                    "kind": "mesh-gateway",
                    "id": GATEWAY,
                    "service": GATEWAY,
                    "address": gw.address,
                    "port": gw.port,
                    "tagged_addresses": {
                        "lan": {"address": gw.address, "port": gw.port},
                        "wan": {"address": gw.address, "port": gw.port},
                    },
                },
                "passing",
            )
        )
        for b in topology.backends:
            if b.datacenter != dc:
                continue
            status = "critical" if (b.service, dc) in topology.critical else "passing"
            entries.append(
                _catalog_entry(
                    dc,
                    {
                        "kind": "connect-proxy",
                        "id": b.sidecar_id,
                        "service": b.sidecar_id,
                        "address": b.address,
                        "port": b.sidecar_port,
                        "proxy": {"destination_service_name": b.service},
                    },
                    status,
                )
            )
    return entries


def _catalog_entry(dc: str, service: dict[str, Any], status: str) -> dict[str, Any]:
    return {
        "datacenter": dc,
        "node": f"{dc}-node",
        "address": dc_ip(dc),
        "service": service,
        "checks": [
            {
                "check_id": f"service:{service['id']}",
                "service_id": service["id"],
                "status": status,
            }
        ],
    }


def _gateway_file(topology: Topology, dc: str) -> str:
    gw = topology.gateways[dc]
    doc = {
        "service": {
            "kind": "mesh-gateway",
            "name": GATEWAY,
            "id": GATEWAY,
            "address": gw.address,
            "port": gw.port,
            "tagged_addresses": {
                "lan": {"address": gw.address, "port": gw.port},
                "wan": {"address": gw.address, "port": gw.port},
            },
        }
    }
    return render_hcl(doc, header=f"{dc}'s mesh gateway.")


def _client_file(topology: Topology) -> str:
    client = topology.client
    upstreams = []
    for up in client.upstreams:
        item: dict[str, Any] = {
            "destination_name": up.service,
            "datacenter": up.datacenter,
            "local_bind_address": client.address,
            "local_bind_port": up.port,
        }
        if up.mode:
            item["mesh_gateway"] = {"mode": up.mode}
        if topology.upstream_config:
            item["config"] = dict(topology.upstream_config)
        upstreams.append(item)
    proxy: dict[str, Any] = {}
    proxy["upstreams"] = upstreams
    doc = _registration(client.service, client.address, client.port, client.sidecar_port, proxy)
    return render_hcl(doc, header=f"The client {client.service} and its sidecar's upstreams.")


def _backend_file(topology: Topology, backend: Backend) -> str:
    # The backend listens on its datacenter's address, not on 127.0.0.1.
    proxy: dict[str, Any] = {"local_service_address": backend.address}
    doc = _registration(backend.service, backend.address, backend.port, backend.sidecar_port, proxy)
    return render_hcl(
        doc, header=f"{backend.service} (an echo server) and its sidecar in {backend.datacenter}."
    )


def _registration(
    name: str, address: str, port: int, sidecar_port: int, proxy: dict[str, Any]
) -> dict[str, Any]:
    sidecar = {"port": sidecar_port, "proxy": proxy}
    return {
        "service": {
            "name": name,
            "address": address,
            "port": port,
            "connect": {"sidecar_service": sidecar},
        }
    }


# --------------------------------------------------------------------------- HCL


def render_hcl(document: Mapping[str, Any], *, header: str = "") -> str:
    """Render a mapping as an HCL file body, formatted as a person would write it.

    A mapping value in a block body becomes a nested block (``service { ... }``) unless
    it fits on one line (``wan = { address = "127.0.0.2", port = 8443 }``); mappings in
    lists are object expressions. Strings are JSON-quoted with ``${`` and ``%{`` escaped
    (HCL templates); keys that are not identifiers are quoted (``"*"``).
    """
    lines = [f"# {header}"] if header else []
    lines += _body(document, 0)
    return "\n".join(lines) + "\n"


_WIDTH = 96


def _body(mapping: Mapping[str, Any], depth: int) -> list[str]:
    pad = "  " * depth
    rendered: list[tuple[str, str | None]] = []  # (key, inline value) or (key, None): block
    for key, value in mapping.items():
        inline = _inline(value)
        if (
            isinstance(value, Mapping)
            and value
            and (inline is None or len(pad) + len(key) + len(inline) + 3 > _WIDTH)
        ):
            rendered.append((key, None))
        else:
            rendered.append((key, inline if inline is not None else _multiline(value, depth)))
    width = max((len(_key(k)) for k, v in rendered if v is not None and "\n" not in v), default=0)
    lines: list[str] = []
    for key, text in rendered:
        if depth == 0 and lines and (text is None or "\n" in text):
            lines.append("")
        if text is None:
            lines.append(f"{pad}{_key(key)} {{")
            lines += _body(mapping[key], depth + 1)
            lines.append(f"{pad}}}")
        else:
            name = _key(key) if "\n" in text else _key(key).ljust(width)
            lines.append(f"{pad}{name} = {text}")
    return lines


def _inline(value: Any) -> str | None:
    """The one-line form of ``value``, or None when it holds a list of mappings or is
    too long for one line."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value).replace("${", "$${").replace("%{", "%%{")
    if isinstance(value, Mapping):
        parts = [(_key(k), _inline(v)) for k, v in value.items()]
        if any(text is None for _, text in parts):
            return None
        text = "{ " + ", ".join(f"{k} = {v}" for k, v in parts) + " }" if parts else "{}"
        return text if len(text) <= _WIDTH // 2 else None
    if isinstance(value, list | tuple):
        if any(isinstance(v, Mapping) for v in value):
            return None
        items = [_inline(v) for v in value]
        if any(text is None for text in items):
            return None
        return "[" + ", ".join(str(t) for t in items) + "]"
    raise TypeError(f"cannot render {type(value).__name__} as HCL")


def _multiline(value: Any, depth: int) -> str:
    pad, inner = "  " * depth, "  " * (depth + 1)
    if isinstance(value, Mapping):
        return "{\n" + "\n".join(_body(value, depth + 1)) + f"\n{pad}}}"
    items = []
    for item in value:
        text = _inline(item)
        if text is None or len(inner) + len(text) > _WIDTH:
            text = (
                _object(item, depth + 1)
                if isinstance(item, Mapping)
                else _multiline(item, depth + 1)
            )
        items.append(f"{inner}{text},")
    return "[\n" + "\n".join(items) + f"\n{pad}]"


def _object(mapping: Mapping[str, Any], depth: int) -> str:
    """A mapping as a multi-line object expression (no blocks: inside a list). One-line
    attributes are aligned on ``=``, as ``terraform fmt`` does."""
    pad, inner = "  " * depth, "  " * (depth + 1)
    texts: dict[str, str] = {}
    for key, value in mapping.items():
        text = _inline(value)
        if text is None or len(inner) + len(_key(key)) + len(text) + 3 > _WIDTH:
            text = (
                _object(value, depth + 1)
                if isinstance(value, Mapping)
                else _multiline(value, depth + 1)
            )
        texts[key] = text
    width = max((len(_key(k)) for k, t in texts.items() if "\n" not in t), default=0)
    lines = []
    for key, text in texts.items():
        name = _key(key) if "\n" in text else _key(key).ljust(width)
        lines.append(f"{inner}{name} = {text}")
    return "{\n" + "\n".join(lines) + f"\n{pad}}}"


def _key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", key) else json.dumps(key)


# --------------------------------------------------------------------------- Envoys


@dataclasses.dataclass(frozen=True)
class EnvoySpec:
    """One Envoy to run: ``name`` (``dc2-gateway``), the registration it serves (its
    id in ``datacenter``'s mesh), and the loopback address of its admin listener."""

    name: str
    datacenter: str
    service_id: str

    @property
    def admin_host(self) -> str:
        return dc_ip(self.datacenter)


def envoy_specs(topology: Topology) -> list[EnvoySpec]:
    """Every Envoy of the mesh: backends' sidecars, gateways, then the client's sidecar."""
    specs = [
        EnvoySpec(f"{b.datacenter}-{b.service}", b.datacenter, b.sidecar_id)
        for b in topology.backends
    ]
    specs += [EnvoySpec(f"{dc}-gateway", dc, GATEWAY) for dc in topology.datacenters]
    client = topology.client
    specs.append(
        EnvoySpec(f"{client.datacenter}-{client.service}", client.datacenter, client.sidecar_id)
    )
    return specs


def load_mesh(topology: Topology, datacenter: str) -> meshgw.Mesh:
    """``meshgw.load`` of the datacenter's directory."""
    return meshgw.load(topology.dc_dir(datacenter))


def bootstrap(
    topology: Topology, spec: EnvoySpec, mesh: meshgw.Mesh | None = None
) -> dict[str, Any]:
    """``meshgw.bootstrap`` of ``spec``'s registration in its datacenter's mesh, with the
    admin listener on the datacenter's address, port 0 (Envoy picks one)."""
    if mesh is None:
        mesh = load_mesh(topology, spec.datacenter)
    return meshgw.bootstrap(spec.service_id, mesh, admin=(spec.admin_host, 0))


def cli_command(
    topology: Topology,
    spec: EnvoySpec,
    output: str | Path,
    *,
    cwd: str | Path | None = None,
    python: str = sys.executable,
) -> list[str]:
    """The ``meshgw bootstrap`` command that writes ``spec``'s bootstrap to ``output``,
    as ``python -m meshgw`` (which works without the console script). With ``cwd``,
    paths are relative to it (run the command there)."""

    def path(p: str | Path) -> str:
        return str(Path(p).absolute().relative_to(Path(cwd).absolute()) if cwd else p)

    return [
        python,
        "-m",
        "meshgw",
        "bootstrap",
        path(topology.dc_dir(spec.datacenter)),
        "--service",
        spec.service_id,
        "--admin",
        f"{spec.admin_host}:0",
        "-o",
        path(output),
    ]


class StackLike(Protocol):
    """What :func:`start` needs: the e2e harness's ``Stack`` has it, so has the demo's.

    ``echo`` starts a TCP echo backend answering ``tag + bytes``; ``launch`` starts an
    Envoy from a bootstrap (whatever form that stack takes: a mapping, a file path) and
    returns an object with ``wait_ready(timeout)``.
    """

    def echo(self, host: str = ..., port: int = ..., tag: bytes = ...) -> Any: ...

    def launch(self, name: str, config: Any, **kwargs: Any) -> Any: ...


def start(
    topology: Topology,
    stack: StackLike,
    bootstraps: Mapping[str, Any] | None = None,
    *,
    timeout: float = 15.0,
    ports: PortReservations | None = None,
) -> dict[str, Any]:
    """Start every echo backend and Envoy of ``topology`` through ``stack``.

    ``bootstraps`` (Envoy name → bootstrap, as ``stack.launch`` takes it) defaults to
    :func:`bootstrap` of every :func:`envoy_specs` entry, each datacenter's mesh loaded
    once. Backends start first; the Envoys are launched together, then waited for (one
    shared deadline). ``ports``, the reservations the topology was planned with, are
    released as their owners bind them (all of them, whatever happens). Returns Envoy
    name → the stack's process object, all ready.
    """
    try:
        specs = {spec.name: spec for spec in envoy_specs(topology)}
        if bootstraps is None:
            meshes = {dc: load_mesh(topology, dc) for dc in topology.datacenters}
            bootstraps = {
                name: bootstrap(topology, spec, meshes[spec.datacenter])
                for name, spec in specs.items()
            }
        if set(bootstraps) != set(specs):
            raise ValueError(f"bootstraps for {sorted(bootstraps)}, expected {sorted(specs)}")
        for b in topology.backends:
            if ports is not None:
                ports.release(b.address, b.port)
            stack.echo(b.address, port=b.port, tag=b.tag)
        procs = {
            name: stack.launch(name, bootstraps[name], admin_host=spec.admin_host)
            for name, spec in specs.items()
        }
        deadline = time.monotonic() + timeout
        for proc in procs.values():
            proc.wait_ready(max(0.1, deadline - time.monotonic()))
        return procs
    finally:
        if ports is not None:
            ports.release_all()
