"""SDS over ADS with a DNS-typed upstream cluster is refused (issue 14).

Envoy segfaults initialising a LOGICAL_DNS / STRICT_DNS cluster whose secrets come over
ADS (envoyproxy/envoy#15517); meshgw says so instead of emitting it.
"""

from __future__ import annotations

from typing import Any

import pytest

import meshgw
from meshgw import TranslationError


def _mesh(gateway_address: str) -> meshgw.Mesh:
    doc: dict[str, Any] = {
        "datacenter": "dc1",
        "mesh_tls": {"sds_cluster": "ads"},
        "services": [
            {
                "name": "web",
                "port": 8080,
                "connect": {
                    "sidecar_service": {
                        "proxy": {
                            "upstreams": [
                                {
                                    "destination_name": "api",
                                    "datacenter": "dc2",
                                    "local_bind_port": 9191,
                                    "mesh_gateway": {"mode": "remote"},
                                }
                            ]
                        }
                    }
                },
            }
        ],
        "catalog": [
            {
                "datacenter": "dc2",
                "node": "dc2-gw",
                "address": "10.2.0.5",
                "service": {
                    "kind": "mesh-gateway",
                    "service": "mesh-gateway",
                    "port": 8443,
                    "tagged_addresses": {"wan": {"address": gateway_address, "port": 443}},
                },
            },
            {
                "datacenter": "dc2",
                "node": "dc2-api",
                "address": "10.2.0.9",
                "service": {
                    "kind": "connect-proxy",
                    "service": "api-sidecar-proxy",
                    "port": 21000,
                    "proxy": {"destination_service_name": "api"},
                },
            },
        ],
    }
    return meshgw.Mesh.from_dict(doc)


def test_dns_cluster_with_secrets_over_ads_is_refused() -> None:
    mesh = _mesh("gw.dc2.example.com")
    with pytest.raises(TranslationError) as info:
        meshgw.translate(mesh.service("web-sidecar-proxy"), mesh)
    message = str(info.value)
    assert message.startswith("proxy.upstreams[0]: ")
    assert "'gw.dc2.example.com' is a host name" in message
    assert "LOGICAL_DNS" in message and "15517" in message


def test_eds_cluster_with_secrets_over_ads_translates() -> None:
    mesh = _mesh("198.18.2.1")
    out = meshgw.translate(mesh.service("web-sidecar-proxy"), mesh)
    (api,) = [c for c in out["clusters"] if "api.default.dc2" in c["name"]]
    assert api["type"] == "EDS"
    common = api["transport_socket"]["typed_config"]["common_tls_context"]
    assert common["tls_certificate_sds_secret_configs"][0]["sds_config"]["ads"] == {}
