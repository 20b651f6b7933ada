"""Deprecated: use :func:`meshgw.translate`, which translates any proxy kind."""

from meshgw._compat import moved

__getattr__ = moved(
    __name__,
    {
        "translate_sidecar": (
            "meshgw._translation:translate",
            "use meshgw.translate(service, mesh, endpoints=..., missing=...)",
        )
    },
)
