"""No internal object or secret in any message, warning, repr or output (issue 14).

A canary CA private key and ACL token go into a mesh; every message meshgw produces about
it -- conflicts between files, warnings, reprs, translations, bootstrap, CLI output --
is searched for them.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest

import meshgw
from meshgw import ValidationError
from meshgw._cli import main

KEY = "CANARY-PRIVATE-KEY-5f1e0c7a-not-a-real-key"
OTHER_KEY = "CANARY-PRIVATE-KEY-OTHER-90b2"
TOKEN = "CANARY-ACL-TOKEN-3c2d9e41"
CANARIES = (KEY, OTHER_KEY, TOKEN, "5f1e0c7a", "3c2d9e41", "90b2")


def _agent(key: str, **extra: str) -> str:
    lines = "".join(f"{k} = {v}\n" for k, v in extra.items())
    return (
        'datacenter = "dc1"\n'
        "connect {\n"
        "  enabled = true\n"
        '  ca_provider = "consul"\n'
        f'  ca_config {{ private_key = "{key}" }}\n'
        "}\n"
        f"{lines}"
    )


_WEB = f"""
service {{
  name  = "web"
  port  = 8080
  token = "{TOKEN}"
  connect {{ sidecar_service {{
    proxy {{ config {{ envoy_public_listner_json = "{{}}" }} }}
  }} }}
}}
"""


def _clean(text: str) -> None:
    for canary in CANARIES:
        assert canary not in text


def test_conflicting_connect_blocks_name_the_field_and_files_not_the_key(tmp_path: Path) -> None:
    (tmp_path / "a.hcl").write_text(_agent(KEY))
    (tmp_path / "b.hcl").write_text(_agent(OTHER_KEY))
    with pytest.raises(ValidationError) as info:
        meshgw.load(tmp_path / "a.hcl", tmp_path / "b.hcl")
    (problem,) = info.value.problems
    assert problem.path == "connect"
    assert problem.file == str(tmp_path / "b.hcl")
    assert "ca_config" in problem.message and str(tmp_path / "a.hcl") in problem.message
    assert "AgentConnect" not in problem.message  # no repr of the internal object
    _clean(str(info.value))
    _clean(repr(info.value))


def test_conflicting_mesh_tls_blocks_name_the_field(tmp_path: Path) -> None:
    (tmp_path / "a.hcl").write_text('mesh_tls { cert_file = "/a/{service}.pem" }\n')
    (tmp_path / "b.hcl").write_text('mesh_tls { cert_file = "/b/{service}.pem" }\n')
    with pytest.raises(ValidationError) as info:
        meshgw.load(tmp_path / "a.hcl", tmp_path / "b.hcl")
    (problem,) = info.value.problems
    assert problem.message.startswith("mesh_tls differs from the mesh_tls block in ")
    assert "(cert_file;" in problem.message and "TlsSettings" not in problem.message


def test_scalar_conflicts_still_show_both_values(tmp_path: Path) -> None:
    (tmp_path / "a.hcl").write_text('datacenter = "dc1"\n')
    (tmp_path / "b.hcl").write_text('datacenter = "dc2"\n')
    with pytest.raises(ValidationError, match=r'datacenter is string "dc2" here but string "dc1"'):
        meshgw.load(tmp_path / "a.hcl", tmp_path / "b.hcl")


def test_no_canary_in_warnings_reprs_outputs_or_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mesh_file = tmp_path / "mesh.hcl"
    mesh_file.write_text(_agent(KEY) + _WEB)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        mesh = meshgw.load(mesh_file, config_typos="warn")
    assert caught, "the misspelt option should warn"
    for w in caught:
        _clean(str(w.message))
    assert mesh.connect.ca_config["private_key"] == KEY  # kept, only never shown
    _clean(repr(mesh))
    _clean(str(mesh))
    proxy = mesh.service("web-sidecar-proxy")
    _clean(repr(proxy))
    _clean(repr(mesh.service("web")))
    _clean(json.dumps(meshgw.translate(proxy, mesh), sort_keys=True))
    _clean(json.dumps(meshgw.bootstrap(proxy, mesh), sort_keys=True))
    _clean(repr(meshgw.explain(proxy, mesh)))
    capsys.readouterr()
    for argv in (
        ["translate", "--config-typos", "warn", str(mesh_file), "--service", "web-sidecar-proxy"],
        ["bootstrap", "--config-typos", "warn", str(mesh_file), "--service", "web-sidecar-proxy"],
    ):
        main(argv)
        out, err = capsys.readouterr()
        assert out
        _clean(out)
        _clean(err)


def test_errors_about_the_token_field_do_not_show_it() -> None:
    with pytest.raises(ValidationError) as info:
        meshgw.Mesh.from_dict({"service": {"name": "web", "port": "x", "token": TOKEN}})
    _clean(str(info.value))
