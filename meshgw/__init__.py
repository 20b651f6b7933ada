"""meshgw: Consul mesh gateway and sidecar registrations to Envoy v3 configuration, offline.

The public API is what this module exports (``__all__``) plus the documented public
submodules ``meshgw.model``, ``meshgw.errors``, ``meshgw.naming`` and ``meshgw.testing``.
Everything under a leading underscore (``meshgw._load``, ``meshgw._plan``, ...) is
implementation and may change without notice; docs/architecture.md maps it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from meshgw._load.documents import load, loads
from meshgw._resolve.intentions import IntentionDecision, resolve_intention
from meshgw._resolve.modes import (
    Explanation,
    LayerValue,
    ModeResolution,
    ModeTarget,
    Route,
    TargetResolution,
    explain,
    resolve_mode,
    resolve_target_mode,
)
from meshgw._resolve.placement import MeshProxy
from meshgw.errors import (
    LookupFailed,
    MeshgwError,
    MeshgwWarning,
    ParseError,
    Problem,
    TranslationError,
    UsageError,
    ValidationError,
)
from meshgw.model import (
    CatalogEntry,
    Check,
    ConfigEntry,
    ExportedServices,
    GatewayMode,
    Mesh,
    MeshConfigEntry,
    MeshGatewayConfig,
    Peer,
    Proxy,
    ProxyDefaults,
    ProxyMode,
    Service,
    ServiceAddress,
    ServiceDefaults,
    ServiceKind,
    ServiceResolver,
    Upstream,
)

if TYPE_CHECKING:
    from meshgw._mesh.check import check
    from meshgw._mesh.combine import combine_datacenters
    from meshgw._mesh.findings import Finding, Severity
    from meshgw._mesh.meshset import MeshSet
    from meshgw._mesh.trace import Hop, Trace, trace
    from meshgw._mesh.translator import all_proxies as proxies
    from meshgw._mesh.translator import datacenter_view, translate_all
    from meshgw._translation import bootstrap, translate

__version__ = "0.1.0.dev0"

__all__ = [
    "CatalogEntry",
    "Check",
    "ConfigEntry",
    "Explanation",
    "ExportedServices",
    "Finding",
    "GatewayMode",
    "Hop",
    "IntentionDecision",
    "LayerValue",
    "LookupFailed",
    "Mesh",
    "MeshConfigEntry",
    "MeshGatewayConfig",
    "MeshProxy",
    "MeshSet",
    "MeshgwError",
    "MeshgwWarning",
    "ModeResolution",
    "ModeTarget",
    "ParseError",
    "Peer",
    "Problem",
    "Proxy",
    "ProxyDefaults",
    "ProxyMode",
    "Route",
    "Service",
    "ServiceAddress",
    "ServiceDefaults",
    "ServiceKind",
    "ServiceResolver",
    "Severity",
    "TargetResolution",
    "Trace",
    "TranslationError",
    "Upstream",
    "UsageError",
    "ValidationError",
    "__version__",
    "bootstrap",
    "check",
    "combine_datacenters",
    "datacenter_view",
    "explain",
    "load",
    "loads",
    "proxies",
    "resolve_intention",
    "resolve_mode",
    "resolve_target_mode",
    "trace",
    "translate",
    "translate_all",
]

# Errors show as ``meshgw.ValidationError`` in tracebacks. (Models keep their defining
# module: their string annotations are resolved against it.)
for _cls in (
    LookupFailed,
    MeshgwError,
    ParseError,
    Problem,
    TranslationError,
    UsageError,
    ValidationError,
):
    _cls.__module__ = __name__
del _cls


# Names whose modules pull in every Envoy builder: loaded on first use, which keeps
# ``import meshgw`` fast for tools that only load and explain. name -> (module, attribute)
_LAZY = {
    "translate": ("_translation", "translate"),
    "bootstrap": ("_translation", "bootstrap"),
    "translate_all": ("_mesh.translator", "translate_all"),
    "proxies": ("_mesh.translator", "all_proxies"),
    "datacenter_view": ("_mesh.translator", "datacenter_view"),
    "MeshSet": ("_mesh.meshset", "MeshSet"),
    "combine_datacenters": ("_mesh.combine", "combine_datacenters"),
    "trace": ("_mesh.trace", "trace"),
    "Trace": ("_mesh.trace", "Trace"),
    "Hop": ("_mesh.trace", "Hop"),
    "check": ("_mesh.check", "check"),
    "Finding": ("_mesh.findings", "Finding"),
    "Severity": ("_mesh.findings", "Severity"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module_name, attribute = _LAZY[name]
        module = importlib.import_module(f"{__name__}.{module_name}")
        value = getattr(module, attribute)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
