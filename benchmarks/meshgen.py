"""A generated whole mesh for benchmarks: many datacenters, sidecars with upstreams.

``generate(datacenters, services)`` builds a :class:`meshgw.Mesh` seen from ``dc1``:
every datacenter has ``gateways`` mesh gateways (LAN and WAN tagged addresses, passing
checks) and ``services`` services, each one sidecar instance on its own node whose
``proxy`` block has ``upstreams`` upstreams across datacenters (the first in its own
datacenter, the others in the following ones), upstream modes cycling through the
proxy-defaults' ``local``, ``none``, ``local`` and ``remote``. Every 10th service speaks
HTTP (a ``service-defaults`` entry). Everything is catalog entries with their ``proxy``
block, so :func:`meshgw.translate_all` translates every proxy in its own datacenter.

The models are built directly (not through the loader): loading is measured by
``bench_load.py``; this module is about translation. Deterministic: the same arguments
give an equal mesh. Importable by other benchmarks::

    from meshgen import generate
    mesh = generate(datacenters=20, services=250)
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run from a checkout without installing: the repository root is importable.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from meshgw.model import (
    CatalogEntry,
    Check,
    GatewayMode,
    Mesh,
    MeshGatewayConfig,
    Proxy,
    ProxyDefaults,
    Service,
    ServiceAddress,
    ServiceDefaults,
    ServiceKind,
    Upstream,
)

__all__ = ["TRUST_DOMAIN", "generate", "service_name"]

TRUST_DOMAIN = "b3d4e5f6-0000-4000-8000-00000000bench.consul"
_MODES = (GatewayMode.DEFAULT, GatewayMode.NONE, GatewayMode.LOCAL, GatewayMode.REMOTE)
_PASSING = (Check(id="alive", status="passing"),)


def service_name(dc: int, s: int) -> str:
    """The name of service ``s`` of datacenter ``dc`` (both from 0)."""
    return f"svc{s:05d}-dc{dc + 1}"


def generate(
    datacenters: int = 20, services: int = 250, *, upstreams: int = 5, gateways: int = 2
) -> Mesh:
    """The mesh described in the module docstring."""
    catalog: list[CatalogEntry] = []
    for d in range(datacenters):
        dc = f"dc{d + 1}"
        for g in range(gateways):
            lan = ServiceAddress(f"10.{d}.0.{g + 1}", 8443)
            wan = ServiceAddress(f"198.18.{d}.{g + 1}", 443)
            catalog.append(
                CatalogEntry(
                    node=f"{dc}-gw-{g + 1}",
                    address=lan.address,
                    datacenter=dc,
                    service=Service(
                        kind=ServiceKind.MESH_GATEWAY,
                        name="mesh-gateway",
                        id="mesh-gateway",
                        address=lan.address,
                        port=8443,
                        tagged_addresses={"lan": lan, "wan": wan},
                    ),
                    checks=_PASSING,
                )
            )
        for s in range(services):
            name = service_name(d, s)
            node_address = f"10.{d}.{1 + s // 250}.{1 + s % 250}"
            ups = tuple(
                Upstream(
                    destination_name=service_name(
                        (d + k) % datacenters, (s * 7 + k * 31) % services
                    ),
                    datacenter="" if k == 0 else f"dc{(d + k) % datacenters + 1}",
                    local_bind_port=10000 + k,
                    mesh_gateway=MeshGatewayConfig(_MODES[(s + k) % len(_MODES)]),
                )
                for k in range(upstreams)
            )
            catalog.append(
                CatalogEntry(
                    node=f"{dc}-node-{s}",
                    address=node_address,
                    datacenter=dc,
                    service=Service(
                        kind=ServiceKind.CONNECT_PROXY,
                        name=f"{name}-sidecar-proxy",
                        id=f"{name}-sidecar-proxy",
                        port=21000,
                        proxy=Proxy(
                            destination_service_name=name,
                            local_service_port=8080,
                            upstreams=ups,
                        ),
                    ),
                    checks=_PASSING,
                )
            )
    entries = [
        ProxyDefaults(name="global", mesh_gateway=MeshGatewayConfig(GatewayMode.LOCAL)),
        *(
            ServiceDefaults(name=service_name(d, s), protocol="http")
            for d in range(datacenters)
            for s in range(0, services, 10)
        ),
    ]
    return Mesh(
        datacenter="dc1",
        primary_datacenter="dc1",
        trust_domain=TRUST_DOMAIN,
        config_entries=tuple(entries),
        catalog=tuple(catalog),
    )
