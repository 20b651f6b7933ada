"""Deprecated: use :func:`meshgw.bootstrap` or ``meshgw.translate(..., endpoints="static")``."""

from meshgw._compat import moved

__getattr__ = moved(
    __name__,
    {
        "static_bootstrap": (
            "meshgw._envoy.bootstrap:static_bootstrap",
            "use meshgw.bootstrap(service, mesh)",
        ),
        "inline_endpoints": (
            "meshgw._envoy.bootstrap:inline_endpoints",
            'use meshgw.translate(service, mesh, endpoints="static")',
        ),
    },
)
