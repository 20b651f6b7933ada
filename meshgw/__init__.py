"""meshgw: Consul mesh gateway and sidecar registrations to Envoy v3 configuration, offline."""

from __future__ import annotations

__version__ = "0.1.0.dev0"
