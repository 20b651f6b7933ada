"""Deprecated: mode resolution is public as ``meshgw.resolve_mode`` and friends."""

from meshgw._compat import moved

__getattr__ = moved(
    __name__,
    {
        name: (f"meshgw._resolve.modes:{name}", f"use meshgw.{name}")
        for name in (
            "explain",
            "resolve_mode",
            "resolve_target_mode",
            "Explanation",
            "LayerValue",
            "ModeResolution",
            "ModeTarget",
        )
    },
)
