"""Deprecated: gateway plans are internal; use :func:`meshgw.translate`."""

from meshgw._compat import moved

__getattr__ = moved(
    __name__,
    {
        "plan_gateway": (
            "meshgw._plan.gateway:plan_gateway",
            "use meshgw.translate(service, mesh); plans are internal",
        )
    },
)
