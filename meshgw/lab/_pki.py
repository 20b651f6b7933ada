"""Throw-away certificates with Consul's SPIFFE identities (never for production).

Shared by :mod:`meshgw.testing` (which documents and re-exports these names) and the lab.
"""

from __future__ import annotations

import datetime
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

import attrs

from meshgw import naming
from meshgw.errors import MeshgwError, UsageError

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec

__all__ = ["SpiffeIdentity", "TestPKI", "make_test_pki"]


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
    _require_cryptography()
    from cryptography.hazmat.primitives import serialization

    wanted = _distinct_identities(identities, trust_domain)
    root = Path(directory).absolute()
    root.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    validity = (now - datetime.timedelta(hours=1), now + datetime.timedelta(days=1))

    ca = _make_ca(trust_domain, validity)
    ca_file = root / "ca.pem"
    ca_key_file = root / "ca-key.pem"
    _write(ca_file, ca.cert.public_bytes(serialization.Encoding.PEM), private=False)
    _write(ca_key_file, _key_pem(ca.key), private=True)

    leaves: dict[tuple[str, str], tuple[str, str]] = {}
    spiffe_ids: dict[tuple[str, str], str] = {}
    for ident in wanted:
        spiffe_id = ident.spiffe_id(trust_domain)
        key, cert = _make_leaf(ca, ident, spiffe_id, trust_domain, validity)
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


def _require_cryptography() -> None:
    try:
        import cryptography  # noqa: F401
    except ImportError as exc:
        raise MeshgwError(
            "meshgw.testing.make_test_pki needs the 'cryptography' package: "
            "pip install cryptography (or pip install 'meshgw[test]')"
        ) from exc


def _distinct_identities(
    identities: Iterable[SpiffeIdentity | tuple[str, ...]], trust_domain: str
) -> list[SpiffeIdentity]:
    wanted = [_identity(item) for item in identities]
    if not trust_domain or "/" in trust_domain:
        raise UsageError(f"make_test_pki: invalid trust domain {trust_domain!r}")
    seen: set[tuple[str, str]] = set()
    for ident in wanted:
        pair = (ident.service, ident.datacenter)
        if pair in seen:
            raise UsageError(
                f"make_test_pki: two identities for service {ident.service!r} in "
                f"datacenter {ident.datacenter!r}"
            )
        seen.add(pair)
    return wanted


_Validity = tuple[datetime.datetime, datetime.datetime]


@attrs.frozen
class _CA:
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate
    name: x509.Name
    ski: x509.SubjectKeyIdentifier


def _key_usage(*, ca: bool) -> x509.KeyUsage:
    from cryptography import x509

    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=not ca,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def _make_ca(trust_domain: str, validity: _Validity) -> _CA:
    """A self-signed EC P-256 CA like Consul's built-in one."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "meshgw test CA")])
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(validity[0])
        .not_valid_after(validity[1])
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_key_usage(ca=True), critical=True)
        .add_extension(ski, critical=False)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.UniformResourceIdentifier(f"spiffe://{trust_domain}")]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    return _CA(key, cert, name, ski)


def _make_leaf(
    ca: _CA, ident: SpiffeIdentity, spiffe_id: str, trust_domain: str, validity: _Validity
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """An EC P-256 leaf for ``ident`` signed by ``ca``, named as Consul names leaves."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    short_td = trust_domain.split(".", 1)[0][:8]
    cn = f"{ident.service}.svc.{ident.namespace or 'default'}.{short_td}.consul"
    if len(cn) > 64:  # X.509 upper bound for a common name
        cn = ident.service[:64]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
        .issuer_name(ca.name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(validity[0])
        .not_valid_after(validity[1])
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(ca=False), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca.ski),
            critical=False,
        )
        .add_extension(
            x509.SubjectAlternativeName([x509.UniformResourceIdentifier(spiffe_id)]),
            critical=False,
        )
        .sign(ca.key, hashes.SHA256())
    )
    return key, cert


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
        raise UsageError(
            "make_test_pki: an identity is a SpiffeIdentity or a tuple "
            f"(service, datacenter[, namespace[, partition]]), not {item!r}"
        )
    for field, value in (("service", ident.service), ("datacenter", ident.datacenter)):
        if not _FILE_NAME_PART.fullmatch(value):
            raise UsageError(f"make_test_pki: invalid {field} name {value!r}")
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
