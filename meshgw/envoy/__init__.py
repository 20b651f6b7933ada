"""Deprecated package: Envoy builders are internal; see ``meshgw.translate`` and
``meshgw.bootstrap``."""
