"""Envoy TLS transport sockets for sidecar proxies, from :class:`~meshgw.model.TlsSettings`.

Consul's control plane inlines the proxy's leaf certificate, its private key and the CA
roots into every TLS context. meshgw runs offline and never sees a private key, so it
references what the user provides instead (docs/certificates.md):

* **files** -- ``ca_file``, ``cert_file`` and ``key_file`` of ``mesh_tls``, with the
  placeholders ``{service}``, ``{namespace}``, ``{partition}`` and ``{datacenter}``
  filled for the proxy's destination service;
* **SDS** -- with ``sds_cluster`` set, secrets named ``sds_cert_secret`` (default
  ``{service}``) and ``sds_ca_secret`` (default ``ROOTCA``) are fetched over ADS
  (``sds_cluster = "ads"``) or from a gRPC cluster of that name.

Without ``mesh_tls`` the files under ``/etc/meshgw/tls/`` are used: clearly marked
placeholders, documented as such. Nothing here reads a file or inlines key material.

Peer certificates are checked with ``match_typed_subject_alt_names`` (a URI SAN matcher);
Consul's goldens show ``match_subject_alt_names``, which Envoy deprecates.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Literal

import attrs

from meshgw._envoy.resources import DOWNSTREAM_TLS_TYPE, UPSTREAM_TLS_TYPE, typed
from meshgw.errors import TranslationError
from meshgw.model.mesh import TLS_PLACEHOLDER_PATTERN, TLS_PLACEHOLDERS, TlsSettings

__all__ = [
    "ADS",
    "DEFAULT_CA_FILE",
    "DEFAULT_CERT_FILE",
    "DEFAULT_KEY_FILE",
    "DEFAULT_SDS_CA_SECRET",
    "DEFAULT_SDS_CERT_SECRET",
    "PLACEHOLDERS",
    "SanMatcher",
    "TlsContexts",
    "TlsIdentity",
    "fill_placeholders",
    "uri_san_exact",
    "uri_san_prefix",
]

#: Placeholder files used when the mesh has no ``mesh_tls`` block (never real files).
DEFAULT_CA_FILE = "/etc/meshgw/tls/ca.pem"
DEFAULT_CERT_FILE = "/etc/meshgw/tls/{service}.pem"
DEFAULT_KEY_FILE = "/etc/meshgw/tls/{service}-key.pem"
#: Default SDS secret names.
DEFAULT_SDS_CA_SECRET = "ROOTCA"
DEFAULT_SDS_CERT_SECRET = "{service}"
#: ``sds_cluster`` value meaning "fetch the secrets over the ADS stream".
ADS = "ads"
#: The placeholders a path or secret name may contain (the model's list).
PLACEHOLDERS: tuple[str, ...] = TLS_PLACEHOLDERS


@attrs.frozen
class TlsIdentity:
    """Whose certificate a proxy presents: its destination service and where it lives."""

    service: str
    datacenter: str
    namespace: str = "default"
    partition: str = "default"


def fill_placeholders(template: str, identity: TlsIdentity, *, what: str = "mesh_tls") -> str:
    """``template`` with ``{service}``, ``{namespace}``, ``{partition}`` and
    ``{datacenter}`` replaced; any other ``{name}`` is a :class:`TranslationError`
    (a typo would otherwise reach Envoy as a file that never exists)."""
    values = {
        "service": identity.service,
        "namespace": identity.namespace or "default",
        "partition": identity.partition or "default",
        "datacenter": identity.datacenter,
    }

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            known = ", ".join("{" + p + "}" for p in PLACEHOLDERS)
            raise TranslationError(
                f"{what}: unknown placeholder {{{name}}} in {template!r} (known: {known})"
            )
        value = values[name]
        if "/" in value or "\\" in value or value in (".", ".."):
            # Names are validated at load; a Mesh built by hand must not walk a path
            # either (a service "../../root/x" in "/etc/meshgw/{service}.pem").
            raise TranslationError(f"{what}: {{{name}}} would be {value!r}, not a name")
        return value

    return TLS_PLACEHOLDER_PATTERN.sub(replace, template)


@attrs.frozen
class SanMatcher:
    """A typed URI SAN matcher: the peer's URI SAN must equal (``exact``) or start
    with (``prefix``) ``value``."""

    kind: Literal["exact", "prefix"]
    value: str

    def to_envoy(self) -> dict[str, Any]:
        return {"san_type": "URI", "matcher": {self.kind: self.value}}


def uri_san_exact(uri: str) -> SanMatcher:
    """The peer's URI SAN must equal ``uri`` (a SPIFFE ID)."""
    return SanMatcher("exact", uri)


def uri_san_prefix(prefix: str) -> SanMatcher:
    """The peer's URI SAN must start with ``prefix``."""
    return SanMatcher("prefix", prefix)


@attrs.frozen
class TlsContexts:
    """One proxy's TLS material, resolved (placeholders filled, defaults applied), and
    the transport sockets built from it.

    Build it with :meth:`create`. Each call of :meth:`upstream` / :meth:`downstream`
    returns fresh dicts, so callers may change one result without touching another.
    """

    _ca: str = ""
    _cert: str = ""
    _key: str = ""
    _sds_ca: str = ""
    _sds_cert: str = ""
    _sds_cluster: str = ""

    @classmethod
    def create(cls, settings: TlsSettings | None, identity: TlsIdentity) -> TlsContexts:
        """Resolve ``settings`` for ``identity``. Raises :class:`TranslationError` for
        settings that mix files and SDS, or that use an unknown placeholder."""
        tls = settings if settings is not None else TlsSettings()
        if tls.sds_cluster:
            files = [f for f in ("ca_file", "cert_file", "key_file") if getattr(tls, f)]
            if files:
                raise TranslationError(
                    f"mesh_tls sets sds_cluster and {', '.join(files)}: choose SDS or files"
                )
            return cls(
                sds_ca=fill_placeholders(tls.sds_ca_secret or DEFAULT_SDS_CA_SECRET, identity),
                sds_cert=fill_placeholders(
                    tls.sds_cert_secret or DEFAULT_SDS_CERT_SECRET, identity
                ),
                sds_cluster=tls.sds_cluster,
            )
        return cls(
            ca=fill_placeholders(tls.ca_file or DEFAULT_CA_FILE, identity),
            cert=fill_placeholders(tls.cert_file or DEFAULT_CERT_FILE, identity),
            key=fill_placeholders(tls.key_file or DEFAULT_KEY_FILE, identity),
        )

    @property
    def uses_sds(self) -> bool:
        """Whether secrets come from SDS rather than files."""
        return bool(self._sds_cluster)

    @property
    def sds_over_ads(self) -> bool:
        """Whether secrets come from SDS over the ADS stream."""
        return self._sds_cluster == ADS

    @property
    def files(self) -> tuple[str, str, str]:
        """``(ca_file, cert_file, key_file)`` as referenced (empty with SDS)."""
        return self._ca, self._cert, self._key

    def upstream(self, sni: str, san: Sequence[SanMatcher]) -> dict[str, Any]:
        """The ``tls`` transport socket of an upstream cluster: present this proxy's
        certificate, send ``sni``, and accept only a peer certificate signed by the CA
        whose URI SAN satisfies one of ``san``."""
        context = typed(UPSTREAM_TLS_TYPE, common_tls_context=self._common(san), sni=sni)
        return {"name": "tls", "typed_config": context}

    def downstream(self) -> dict[str, Any]:
        """The ``tls`` transport socket of the public listener: present this proxy's
        certificate and require a client certificate signed by the CA."""
        context = typed(
            DOWNSTREAM_TLS_TYPE,
            common_tls_context=self._common(()),
            require_client_certificate=True,
        )
        return {"name": "tls", "typed_config": context}

    def _sds_config(self) -> dict[str, Any]:
        if self._sds_cluster == ADS:
            return {"ads": {}, "resource_api_version": "V3"}
        return {
            "api_config_source": {
                "api_type": "GRPC",
                "transport_api_version": "V3",
                "grpc_services": [{"envoy_grpc": {"cluster_name": self._sds_cluster}}],
            },
            "resource_api_version": "V3",
        }

    def _common(self, san: Sequence[SanMatcher]) -> dict[str, Any]:
        matchers = [m.to_envoy() for m in san]
        if self._sds_cluster:
            ca_secret = {"name": self._sds_ca, "sds_config": self._sds_config()}
            common: dict[str, Any] = {
                "tls_params": {},
                "tls_certificate_sds_secret_configs": [
                    {"name": self._sds_cert, "sds_config": self._sds_config()}
                ],
            }
            if matchers:
                # SAN matchers cannot go into an SDS validation context: combine them.
                common["combined_validation_context"] = {
                    "default_validation_context": {"match_typed_subject_alt_names": matchers},
                    "validation_context_sds_secret_config": ca_secret,
                }
            else:
                common["validation_context_sds_secret_config"] = ca_secret
            return common
        validation: dict[str, Any] = {"trusted_ca": {"filename": self._ca}}
        if matchers:
            validation["match_typed_subject_alt_names"] = matchers
        return {
            "tls_params": {},
            "tls_certificates": [
                {
                    "certificate_chain": {"filename": self._cert},
                    "private_key": {"filename": self._key},
                }
            ],
            "validation_context": validation,
        }
