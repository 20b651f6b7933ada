"""Intentions, live: real Envoys configured by meshgw refuse what the destination's
intentions deny and let through what they allow, at the destination's sidecar.

One datacenter on loopback, ACLs on with a default-deny policy. ``web`` and ``cron`` call
``api`` (TCP, an echo backend) and ``docs`` (HTTP, a small HTTP backend):

* ``api``: ``web`` denied, ``cron`` allowed;
* ``docs``: ``web`` allowed for ``GET /public/...`` only (an L7 permission).

The decisions are read from each destination sidecar's RBAC statistics too, so a refusal
is known to come from the RBAC filter and not from anything else on the way.
"""

from __future__ import annotations

import http.client
import http.server
import threading
from pathlib import Path

import meshgw
from meshgw.testing import make_test_pki

from .harness import TEST_TRUST_DOMAIN, EnvoyProcess, Stack, tcp_roundtrip, wait_until

HOST = "127.0.0.1"


class _Http:
    """A threaded HTTP backend answering every GET with 200 and its path."""

    def __init__(self) -> None:
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = f"docs:{self.path}".encode()
                self.send_response(200)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer((HOST, 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _mesh_text(ports: dict[str, int], tls: str) -> str:
    def sidecar(name: str, upstreams: str = "") -> str:
        return f"""
  {{
    kind = "connect-proxy"
    name = "{name}-sidecar-proxy"
    address = "{HOST}"
    port = {ports[name + "-sidecar"]}
    proxy {{
      destination_service_name = "{name}"
      local_service_port = {ports.get(name, 1)}
      upstreams = [{upstreams}]
    }}
  }},"""

    def upstreams(caller: str) -> str:
        return (
            f'{{ destination_name = "api", local_bind_port = {ports[caller + "-api"]} }}, '
            f'{{ destination_name = "docs", local_bind_port = {ports[caller + "-docs"]} }}'
        )

    services = sidecar("api") + sidecar("docs")
    services += sidecar("web", upstreams("web")) + sidecar("cron", upstreams("cron"))
    return f"""
datacenter   = "dc1"
trust_domain = "{TEST_TRUST_DOMAIN}"
acl {{
  enabled        = true
  default_policy = "deny"
}}
{tls}
services = [{services}
]
config_entries {{
  bootstrap = [
    {{ kind = "service-defaults", name = "docs", protocol = "http" }},
    {{ Kind = "service-intentions", Name = "api", Sources = [
      {{ Name = "web", Action = "deny" }},
      {{ Name = "cron", Action = "allow" }},
    ] }},
    {{ Kind = "service-intentions", Name = "docs", Sources = [
      {{ Name = "web", Permissions = [
        {{ Action = "allow", HTTP = {{ PathPrefix = "/public/", Methods = ["GET"] }} }},
      ] }},
    ] }},
  ]
}}
"""


def _get(port: int, path: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(HOST, port, timeout=10)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_intentions_are_enforced_at_the_destination_sidecar(stack: Stack, tmp_path: Path) -> None:
    names = ("web", "cron", "api", "docs")
    pki = make_test_pki(tmp_path / "pki", TEST_TRUST_DOMAIN, [(n, "dc1") for n in names])
    echo = stack.echo(HOST, tag=b"api:")
    backend = _Http()
    stack.add(backend)
    ports = {"api": echo.address[1], "docs": backend.port}
    for key in ("api-sidecar", "docs-sidecar", "web-sidecar", "cron-sidecar"):
        ports[key] = stack.ports.port(HOST)
    for caller in ("web", "cron"):
        for dest in ("api", "docs"):
            ports[f"{caller}-{dest}"] = stack.ports.port(HOST)
    tls = (
        f'mesh_tls {{\n  ca_file = "{pki.ca_file}"\n'
        f'  cert_file = "{pki.directory}/{{service}}-{{datacenter}}.pem"\n'
        f'  key_file = "{pki.directory}/{{service}}-{{datacenter}}-key.pem"\n}}'
    )
    path = tmp_path / "mesh.hcl"
    path.write_text(_mesh_text(ports, tls))
    mesh = meshgw.load(path)
    configs = {n: meshgw.translate(f"{n}-sidecar-proxy", mesh, endpoints="static") for n in names}
    envoys = stack.start_envoys(configs)

    # TCP: cron gets through to api, web is refused by api's sidecar.
    assert tcp_roundtrip(HOST, ports["cron-api"], b"hello") == b"api:hello"
    assert tcp_roundtrip(HOST, ports["web-api"], b"hello") == b""
    api = envoys["api"]
    _wait_stat(api, "connect_authz.rbac.denied", 1)
    assert api.counter("connect_authz.rbac.allowed") == 1

    # HTTP: web may GET /public/..., nothing else; cron nothing at all.
    assert _get(ports["web-docs"], "/public/index.html") == (200, b"docs:/public/index.html")
    status, body = _get(ports["web-docs"], "/private")
    assert (status, body) == (403, b"RBAC: access denied")
    assert _get(ports["cron-docs"], "/public/index.html")[0] == 403
    docs = envoys["docs"]
    _wait_stat(docs, "http.public_listener.rbac.denied", 2)
    assert docs.counter("http.public_listener.rbac.allowed") == 1


def _wait_stat(envoy: EnvoyProcess, name: str, value: int) -> None:
    wait_until(lambda: envoy.counter(name, 0) >= value, f"{envoy.name} {name} >= {value}")
    assert envoy.counter(name) == value
