"""The lab's address map: every address and port of the mesh, moved onto loopback.

A mesh written for real machines (``10.x`` addresses, WAN tagged addresses, hostname
gateways, well-known ports) cannot listen on one laptop. The lab gives every node of
the mesh its own loopback address (``127.100.<datacenter>.<node>``) and every socket a
proxy listens on a free port there, then rewrites meshgw's generated bootstraps — the
user's files and Mesh objects are never changed:

* a listener's address moves to its proxy's node; a wildcard bind (``0.0.0.0``) stands
  for the proxy's own address, a loopback bind (an upstream's ``local_bind_address``)
  is private to the proxy;
* every other address the proxy is known by (its service and node address, its tagged
  ``lan``/``wan`` addresses, a hostname) that none of its listeners binds is an alias
  of its main listener, as a NAT or load balancer in front of a gateway would be;
* an endpoint in a cluster goes where that address now lives; an address no running
  proxy listens on goes to a reserved port nothing listens on (``127.100.0.1``), so the
  connection is refused, as it would be;
* a sidecar's local application (its ``local_app`` cluster) is the lab's echo backend
  for that instance.
"""

from __future__ import annotations

import copy
import ipaddress
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import attrs

from meshgw._values import is_ip
from meshgw.errors import MeshgwError
from meshgw.lab._proxies import LabProxy
from meshgw.model import ServiceKind

__all__ = ["AddressMap", "AddressRow", "Mapper"]

_BASE = "127.100"
_NOWHERE = f"{_BASE}.0.1"
# Consul's names for a sidecar's clusters to its own application.
_LOCAL_CLUSTERS = ("local_app", "exposed_cluster_")
_WILDCARDS = frozenset({"0.0.0.0", "::", ""})

#: What a row of the address map is.
LISTENER = "listener"
ALIAS = "alias"
APP = "app"
UNREACHABLE = "unreachable"


@attrs.frozen
class AddressRow:
    """One socket of the mesh and where it lives in the lab.

    ``mesh``: ``address:port`` as the mesh writes it (for a loopback bind of a proxy,
    prefixed with the proxy: ``web-sidecar-proxy 127.0.0.1:10000``); ``lab``:
    ``127.x.y.z:port``; ``role``: ``"listener"`` (a proxy listens there), ``"alias"``
    (another address of a proxy, reaching its main listener), ``"app"`` (a sidecar's
    local application: the lab's echo backend) or ``"unreachable"`` (nothing listens:
    connections are refused); ``proxy``: the proxy's label (``dc2/dc2-gw-1/mesh-gateway``),
    for an unreachable address the proxy registered there that the lab does not run, or
    ``""``.
    """

    mesh: str
    lab: str
    role: str
    proxy: str = ""


@attrs.frozen
class AddressMap:
    """Where everything of the mesh lives on loopback (``print(lab.addresses)``).

    ``nodes``: node label (``[peer/]datacenter/node``) → its loopback address;
    ``rows``: every socket, sorted by lab address.
    """

    nodes: Mapping[str, str]
    rows: tuple[AddressRow, ...]

    def lab_address(self, mesh_address: str) -> str:
        """The lab's ``ip:port`` for a mesh ``address:port`` (as in :attr:`rows`)."""
        for row in self.rows:
            if row.mesh == mesh_address:
                return row.lab
        raise MeshgwError(f"the lab has no address for {mesh_address!r}")

    def row_at(self, lab_address: str) -> AddressRow | None:
        """The row of a lab ``ip:port`` (``None`` when the lab did not assign it)."""
        for row in self.rows:
            if row.lab == lab_address:
                return row
        return None

    def as_dict(self) -> dict[str, Any]:
        """The map as plain data: ``{"nodes": {...}, "sockets": [{mesh, lab, role, proxy}]}``."""
        return {
            "nodes": dict(self.nodes),
            "sockets": [attrs.asdict(row) for row in self.rows],
        }

    def __str__(self) -> str:
        header = ("mesh", "lab", "role", "proxy")
        lines = [(row.mesh, row.lab, row.role, row.proxy) for row in self.rows]
        widths = [max(len(r[i]) for r in [header, *lines]) for i in range(3)]
        out = []
        for r in [header, *lines]:
            out.append("  ".join(r[i].ljust(widths[i]) for i in range(3)) + "  " + r[3])
        return "\n".join(line.rstrip() for line in out)


def _is_loopback(text: str) -> bool:
    return is_ip(text) and ipaddress.ip_address(text).is_loopback


_Key = tuple[str, str, int]  # (private owner or "", address, port)


class Mapper:
    """Builds the map while the lab plans (not thread-safe; one lab, one mapper).

    ``reserve(ip)`` returns a port on ``ip`` held for the lab's lifetime.
    """

    def __init__(self, reserve: Callable[[str], int], everything: list[LabProxy]) -> None:
        self._reserve = reserve
        self._node_ips: dict[tuple[str, str, str], str] = {}
        self._dc_index: dict[tuple[str, str], int] = {}
        self._nodes_in_dc: dict[tuple[str, str], int] = {}
        self._sockets: dict[_Key, tuple[str, int]] = {}
        self._rows: dict[_Key, AddressRow] = {}
        self._owner: dict[_Key, str] = {}
        #: (proxy label, cluster, lab "ip:port") -> the mesh "address:port" it dials there.
        self.dialed: dict[tuple[str, str, str], str] = {}
        # Who registered an address the lab does not run, for the map's reader.
        self._registered: dict[tuple[str, int], str] = {}
        for proxy in everything:
            for address, port in _advertised(proxy):
                self._registered.setdefault((address, port), proxy.label)

    # ------------------------------------------------------------------ nodes

    def node_ip(self, proxy: LabProxy) -> str:
        """The loopback address of ``proxy``'s node (one per node, stable)."""
        node = (proxy.cluster, proxy.datacenter, proxy.node)
        ip = self._node_ips.get(node)
        if ip is None:
            dc = (proxy.cluster, proxy.datacenter)
            if dc not in self._dc_index:
                self._dc_index[dc] = len(self._dc_index) + 1
                if self._dc_index[dc] > 255:
                    raise MeshgwError("a lab runs at most 255 datacenters")
            n = self._nodes_in_dc.get(dc, 0) + 1
            if n > 254:
                raise MeshgwError(f"a lab runs at most 254 nodes in datacenter {dc[1]!r}")
            self._nodes_in_dc[dc] = n
            ip = f"{_BASE}.{self._dc_index[dc]}.{n}"
            self._node_ips[node] = ip
        return ip

    # ------------------------------------------------------------------ sockets

    def _assign(self, key: _Key, ip: str, role: str, proxy: str, shown: str) -> tuple[str, int]:
        found = self._sockets.get(key)
        if found is not None:
            if self._owner.get(key) != proxy:
                raise MeshgwError(
                    f"{shown} is claimed by two proxies: {self._owner.get(key)} and {proxy}"
                )
            return found
        port = self._reserve(ip)
        self._sockets[key] = (ip, port)
        self._owner[key] = proxy
        self._rows[key] = AddressRow(shown, f"{ip}:{port}", role, proxy)
        return ip, port

    def listen(self, proxy: LabProxy, address: str, port: int) -> tuple[str, int]:
        """Where a listener of ``proxy`` bound to ``address:port`` listens in the lab."""
        ip = self.node_ip(proxy)
        if address in _WILDCARDS:
            address = proxy.address or address
        if _is_loopback(address) and (address, port) not in set(_advertised(proxy)):
            key: _Key = (proxy.label, address, port)
            return self._assign(key, ip, LISTENER, proxy.label, f"{proxy.id} {address}:{port}")
        return self._assign(("", address, port), ip, LISTENER, proxy.label, f"{address}:{port}")

    def alias_addresses(self, proxy: LabProxy) -> None:
        """Point every address ``proxy`` is known by, that none of its listeners binds,
        at its main listener."""
        main = self._main_socket(proxy)
        if main is None:
            return
        for address, port in _advertised(proxy):
            key: _Key = ("", address, port)
            if key not in self._sockets:
                self._sockets[key] = main
                self._owner[key] = proxy.label
                lab = f"{main[0]}:{main[1]}"
                self._rows[key] = AddressRow(f"{address}:{port}", lab, ALIAS, proxy.label)

    def _main_socket(self, proxy: LabProxy) -> tuple[str, int] | None:
        own = [k for k, owner in self._owner.items() if owner == proxy.label and not k[0]]
        port = proxy.service.port
        for key in own:
            if key[1:] == (proxy.address, port):
                return self._sockets[key]
        for key in own:
            if key[2] == port:
                return self._sockets[key]
        return self._sockets[own[0]] if own else None

    def app(self, proxy: LabProxy) -> tuple[str, int]:
        """The echo backend's socket for a sidecar's local application."""
        key: _Key = (proxy.label, "local_app", 0)
        return self._assign(key, self.node_ip(proxy), APP, proxy.label, f"{proxy.id} local app")

    def endpoint(self, address: str, port: int) -> tuple[str, int]:
        """Where a connection to ``address:port`` goes in the lab."""
        key: _Key = ("", address, port)
        found = self._sockets.get(key)
        if found is not None:
            return found
        who = self._registered.get((address, port), "")
        label = f"{who} (not running)" if who else ""
        return self._assign(key, _NOWHERE, UNREACHABLE, label, f"{address}:{port}")

    def address_map(self) -> AddressMap:
        nodes = {"/".join(part for part in node if part): ip for node, ip in self._node_ips.items()}
        rows = sorted(self._rows.values(), key=lambda r: (_ip_sort(r.lab), r.mesh))
        return AddressMap(nodes=dict(sorted(nodes.items())), rows=tuple(rows))

    # ------------------------------------------------------------------ bootstraps

    def claim_listeners(self, proxy: LabProxy, bootstrap: Mapping[str, Any]) -> None:
        """Pass 1: assign every listener of ``proxy`` (before any endpoint is mapped)."""
        for listener in bootstrap.get("static_resources", {}).get("listeners", []):
            for sock in _listener_sockets(listener):
                self.listen(proxy, str(sock.get("address", "")), int(sock.get("port_value", 0)))

    def rewrite(self, proxy: LabProxy, bootstrap: Mapping[str, Any]) -> dict[str, Any]:
        """Pass 2: a copy of ``bootstrap`` with every address moved into the lab."""
        document: dict[str, Any] = copy.deepcopy(dict(bootstrap))
        resources = document.get("static_resources", {})
        for listener in resources.get("listeners", []):
            for sock in _listener_sockets(listener):
                ip, port = self.listen(
                    proxy, str(sock.get("address", "")), int(sock.get("port_value", 0))
                )
                sock["address"], sock["port_value"] = ip, port
        sidecar = proxy.service.kind is ServiceKind.CONNECT_PROXY
        for cluster in resources.get("clusters", []):
            local = sidecar and str(cluster.get("name", "")).startswith(_LOCAL_CLUSTERS)
            for sock in _endpoint_sockets(cluster):
                address = str(sock.get("address", ""))
                original = int(sock.get("port_value", 0))
                if local:
                    ip, port = self.app(proxy)
                else:
                    ip, port = self.endpoint(address, original)
                name = str(cluster.get("name", ""))
                self.dialed[proxy.label, name, f"{ip}:{port}"] = f"{address}:{original}"
                sock["address"], sock["port_value"] = ip, port
        return document


def _advertised(proxy: LabProxy) -> Iterator[tuple[str, int]]:
    service = proxy.service
    port = service.port
    if proxy.address:
        yield proxy.address, port
    for tagged in service.tagged_addresses.values():
        if tagged.address:
            yield tagged.address, tagged.port or port


def _listener_sockets(listener: dict[str, Any]) -> Iterator[dict[str, Any]]:
    sock = listener.get("address", {}).get("socket_address")
    if isinstance(sock, dict):
        yield sock
    for extra in listener.get("additional_addresses", []):
        sock = extra.get("address", {}).get("socket_address")
        if isinstance(sock, dict):
            yield sock


def _endpoint_sockets(cluster: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for locality in cluster.get("load_assignment", {}).get("endpoints", []):
        for lb in locality.get("lb_endpoints", []):
            sock = lb.get("endpoint", {}).get("address", {}).get("socket_address")
            if isinstance(sock, dict):
                yield sock


def _ip_sort(lab: str) -> tuple[int, ...]:
    ip, _, port = lab.rpartition(":")
    return (*(int(part) for part in ip.split(".")), int(port))
