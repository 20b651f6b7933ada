"""Typed reading of the opaque ``proxy.config`` / ``upstreams[].config`` options.

Consul keeps these maps opaque (other proxies read them too), decodes them weakly and,
on a typo or a bad value, logs a warning and falls back to defaults. meshgw keeps keys it
does not know, but reports as errors:

* a known option with a value of the wrong type or range;
* a key that looks like a misspelling of a known option (a close match, or an
  ``envoy_*`` / ``connect_timeout*`` key meshgw does not know).

Like Consul, ``"5000"`` is accepted for a number and ``"true"``/``"false"`` for a
boolean; nothing else is coerced. HCL blocks inside these opaque maps stay lists of one
mapping until an option is read, as in Consul, so every nested reader unwraps them.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import attrs

from meshgw._values import by_norm_key, describe, duration_ns, ip_version, norm_key, unwrap_block
from meshgw.model.common import GatewayMode, ServiceAddress
from meshgw.model.entries import Limits, PassiveHealthCheck

__all__ = [
    "GatewayOptions",
    "OptionProblem",
    "ProxyOptions",
    "UpstreamOptions",
    "check_options",
    "gateway_options",
    "mesh_gateway_mode",
    "proxy_options",
    "upstream_options",
]

#: A problem as (path below the config map, message).
OptionProblem = tuple[tuple[str | int, ...], str]


def _as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise ValueError(f"expected true or false, got {describe(value)}")


#: Envoy's bounds for the protobuf fields options end up in. A ``UInt32Value``
#: (keepalive probes/time/interval, circuit-breaker limits, outlier counts) holds at most
#: UINT32; a Go ``int`` (what Consul decodes other numbers into) at most INT64.
UINT32 = 2**32 - 1
INT64 = 2**63 - 1
#: A timeout in milliseconds becomes a Go ``time.Duration`` (int64 nanoseconds) in
#: Consul and an Envoy ``Duration``: at most about 292 years.
MAX_MS = INT64 // 1_000_000
_WHOLE = re.compile(r"-?[0-9]{1,25}")


def _as_int(value: Any, minimum: int = 0, maximum: int = INT64) -> int:
    if isinstance(value, bool):
        raise ValueError(f"expected a whole number, got {describe(value)}")
    if isinstance(value, float) and value.is_integer():
        # JSON decoders of other tools write 5000.0; Consul's weak decode accepts it.
        value = int(value)
    if isinstance(value, str) and _WHOLE.fullmatch(value.strip()):
        value = int(value.strip())
    if not isinstance(value, int):
        raise ValueError(f"expected a whole number, got {describe(value)}")
    if value < minimum or value > maximum:
        raise ValueError(f"must be between {minimum} and {maximum}, got {describe(value)}")
    return value


def _ms(value: Any) -> int:
    return _as_int(value, 0, MAX_MS)


def _u32(value: Any) -> int:
    return _as_int(value, 0, UINT32)


def _ip(value: Any) -> str:
    text = _as_str(value)
    if text and ip_version(text) is None:
        # Envoy's socket addresses of listeners and STATIC clusters take IP literals
        # only; "localhost" is rejected when Envoy loads the configuration.
        raise ValueError(f"expected an IP address, got {describe(text)}")
    return text


def _as_str(value: Any) -> str:
    if isinstance(value, str):
        return value
    raise ValueError(f"expected a string, got {describe(value)}")


#: How deep an escape-hatch JSON may nest: protobuf's own default recursion limit,
#: far beyond any real Envoy resource, far below Python's recursion limit.
MAX_JSON_DEPTH = 100


def _json_depth(text: str) -> int:
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON (Envoy refuses it)")


def _as_json_text(value: Any) -> str:
    text = _as_str(value)
    if _json_depth(text) > MAX_JSON_DEPTH:
        raise ValueError(f"not valid JSON: nested more than {MAX_JSON_DEPTH} deep")
    try:
        json.loads(text, parse_constant=_no_constant)
    except ValueError as exc:
        raise ValueError(f"not valid JSON: {exc}") from None
    return text


def _choice(*allowed: str, lower: bool = True) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        text = _as_str(value)
        key = text.lower() if lower else text
        if key not in allowed:
            shown = ", ".join(repr(a) for a in allowed if a)
            raise ValueError(f"invalid value {text!r} (expected {shown})")
        return key

    return parse


def _bind_addresses(value: Any) -> dict[str, ServiceAddress]:
    value = unwrap_block(value)
    if not isinstance(value, Mapping):
        raise ValueError(f"expected an object of name = {{ address, port }}, got {describe(value)}")
    out: dict[str, ServiceAddress] = {}
    problems: list[str] = []
    for name, spec in value.items():
        spec = unwrap_block(spec)
        if not isinstance(spec, Mapping):
            problems.append(f"{name}: expected {{ address, port }}, got {describe(spec)}")
            continue
        fields = by_norm_key(spec)
        extra = sorted(set(fields) - {"address", "port"})
        if extra:
            problems.append(f"{name}: unknown key {extra[0]!r} (expected address and port)")
            continue
        try:
            address = _as_str(fields.get("address", ""))
            port = _as_int(fields.get("port", 0), 1, 65535)
        except ValueError as exc:
            problems.append(f"{name}: {exc}")
            continue
        if not address:
            problems.append(f"{name}: address is required")
            continue
        out[str(name)] = ServiceAddress(address, port)
    if problems:
        raise ValueError("; ".join(problems))
    return out


def mesh_gateway_mode(value: Any) -> GatewayMode:
    """An opaque ``mesh_gateway`` option (``{ mode = "local" }``, an HCL block too) as the
    mode it sets; ValueError saying what was expected otherwise. Consul honours it in
    ``proxy-defaults.Config`` as the lowest layer of the mode precedence."""
    value = unwrap_block(value)
    if not isinstance(value, Mapping):
        raise ValueError(
            f'expected {{ mode = "none" | "local" | "remote" }}, got {describe(value)}'
        )
    mode = by_norm_key(value).get("mode", "")
    if isinstance(mode, str):
        try:
            return GatewayMode(mode)
        except ValueError:
            pass
    raise ValueError(f'invalid mode {describe(mode)} (expected "none", "local" or "remote")')


_PROTOCOLS = ("tcp", "http", "http2", "grpc")

#: option → parser. Options valid on every proxy kind (bootstrap-level ones).
BOOTSTRAP_OPTIONS: dict[str, Callable[[Any], Any]] = {
    "envoy_bootstrap_json_tpl": _as_str,
    "envoy_extra_static_clusters_json": _as_str,
    "envoy_extra_static_listeners_json": _as_str,
    "envoy_extra_stats_sinks_json": _as_str,
    "envoy_stats_config_json": _as_str,
    "envoy_tracing_json": _as_str,
    "envoy_statsd_url": _as_str,
    "envoy_dogstatsd_url": _as_str,
    "envoy_prometheus_bind_addr": _as_str,
    "envoy_stats_bind_addr": _as_str,
    "envoy_stats_tags": lambda v: [_as_str(x) for x in (v if isinstance(v, list) else [v])],
    "envoy_stats_flush_interval": _as_str,
    "envoy_telemetry_collector_bind_socket_dir": _as_str,
    "envoy_hcp_metrics_bind_socket_dir": _as_str,
}

#: Options a ``proxy-defaults`` entry's ``config`` may set for every proxy kind, beyond
#: the gateway and sidecar ones.
DEFAULTS_OPTIONS: dict[str, Callable[[Any], Any]] = {"mesh_gateway": mesh_gateway_mode}

GATEWAY_OPTIONS: dict[str, Callable[[Any], Any]] = {
    "connect_timeout_ms": _ms,
    "envoy_gateway_bind_tagged_addresses": _as_bool,
    "envoy_gateway_bind_addresses": _bind_addresses,
    "envoy_gateway_no_default_bind": _as_bool,
    "envoy_mesh_gateway_bind_tagged_addresses": _as_bool,
    "envoy_mesh_gateway_bind_addresses": _bind_addresses,
    "envoy_mesh_gateway_no_default_bind": _as_bool,
    "envoy_dns_discovery_type": _choice("logical_dns", "strict_dns"),
    "envoy_gateway_remote_tcp_enable_keepalive": _as_bool,
    "envoy_gateway_remote_tcp_keepalive_time": _u32,
    "envoy_gateway_remote_tcp_keepalive_interval": _u32,
    "envoy_gateway_remote_tcp_keepalive_probes": _u32,
}

SIDECAR_OPTIONS: dict[str, Callable[[Any], Any]] = {
    "protocol": _choice(*_PROTOCOLS),
    "bind_address": _ip,
    "bind_port": lambda v: _as_int(v, 1, 65535),
    "local_connect_timeout_ms": _ms,
    "local_request_timeout_ms": _ms,
    "local_idle_timeout_ms": _ms,
    "max_inbound_connections": _u32,
    "balance_inbound_connections": _choice("", "exact_balance"),
    "envoy_public_listener_json": _as_json_text,
    "envoy_listener_tracing_json": _as_json_text,
    "envoy_local_cluster_json": _as_json_text,
}


def _positive_duration(value: Any) -> int:
    ns = duration_ns(value)
    if ns == 0:
        # Envoy's outlier detection requires base_ejection_time > 0 when it is set.
        raise ValueError("must be greater than zero (Envoy refuses 0s)")
    return ns


def _limits(value: Any) -> Limits:
    if isinstance(value, Limits):  # a service-defaults entry's, already typed
        return value
    keys = ("max_connections", "max_pending_requests", "max_concurrent_requests")
    return Limits(**_int_map(value, keys))


def _passive(value: Any) -> PassiveHealthCheck:
    if isinstance(value, PassiveHealthCheck):  # a service-defaults entry's, already typed
        return value
    value = unwrap_block(value)
    if not isinstance(value, Mapping):
        raise ValueError(f"expected an object, got {describe(value)}")
    allowed = {
        "interval": duration_ns,
        "max_failures": _u32,
        "enforcing_consecutive_5xx": lambda v: _as_int(v, 0, 100),
        "max_ejection_percent": lambda v: _as_int(v, 0, 100),
        "base_ejection_time": _positive_duration,
    }
    out: dict[str, Any] = {}
    for key, item in value.items():
        canon = _canon(str(key), allowed)
        if canon is None:
            raise ValueError(f"unknown key {key!r} (expected {', '.join(allowed)})")
        out[canon] = allowed[canon](item)
    return PassiveHealthCheck(**out)


def _int_map(value: Any, keys: tuple[str, ...]) -> dict[str, int]:
    value = unwrap_block(value)
    if not isinstance(value, Mapping):
        raise ValueError(f"expected an object, got {describe(value)}")
    table = dict.fromkeys(keys, _as_int)
    out: dict[str, int] = {}
    for key, item in value.items():
        canon = _canon(str(key), table)
        if canon is None:
            raise ValueError(f"unknown key {key!r} (expected {', '.join(keys)})")
        out[canon] = _u32(item)
    return out


def _canon(key: str, table: Mapping[str, Any]) -> str | None:
    if key in table:
        return key
    wanted = norm_key(key)
    for known in table:
        if norm_key(known) == wanted:
            return known
    return None


UPSTREAM_OPTIONS: dict[str, Callable[[Any], Any]] = {
    "protocol": _choice(*_PROTOCOLS),
    "connect_timeout_ms": _ms,
    "limits": _limits,
    "passive_health_check": _passive,
    "balance_outbound_connections": _choice("", "exact_balance"),
    "envoy_listener_json": _as_json_text,
    "envoy_cluster_json": _as_json_text,
    "mesh_gateway": lambda v: unwrap_block(v),
}

_ALL_KNOWN = {**BOOTSTRAP_OPTIONS, **GATEWAY_OPTIONS, **SIDECAR_OPTIONS, **UPSTREAM_OPTIONS}
_SUSPICIOUS_PREFIXES = ("envoy_", "connect_timeout")


def check_options(
    config: Mapping[str, Any], options: Mapping[str, Callable[[Any], Any]], what: str
) -> Iterator[OptionProblem]:
    """Problems in ``config`` against the known ``options`` of a proxy kind (``what``
    names it in messages). Unknown keys pass unless they look like a misspelling."""
    for key, value in config.items():
        parser = options.get(key)
        if parser is not None:
            try:
                parser(value)
            except ValueError as exc:
                yield (key,), str(exc)
            continue
        if key in _ALL_KNOWN:
            yield (key,), f"{key} does not apply to {what}"
            continue
        close = difflib.get_close_matches(key.lower(), list(options), n=1, cutoff=0.8)
        other = difflib.get_close_matches(key.lower(), list(_ALL_KNOWN), n=1, cutoff=0.8)
        if close:
            yield (key,), f"unknown option {key!r} (did you mean {close[0]!r}?)"
        elif other:
            yield (
                (key,),
                f"unknown option {key!r} (did you mean {other[0]!r}? it does not apply to "
                f"{what} either)",
            )
        elif key.lower().startswith(_SUSPICIOUS_PREFIXES):
            near = difflib.get_close_matches(key.lower(), list(options), n=1, cutoff=0.6)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            yield (key,), f"unknown option {key!r}{hint}"


def _parsed(
    config: Mapping[str, Any], options: Mapping[str, Callable[[Any], Any]]
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, parser in options.items():
        if key in config:
            try:
                out[key] = parser(config[key])
            except ValueError:
                continue
    return out


@attrs.frozen
class GatewayOptions:
    """A gateway's options, registration values over proxy-defaults values."""

    connect_timeout_ms: int = 5000
    bind_tagged_addresses: bool = False
    bind_addresses: Mapping[str, ServiceAddress] = attrs.field(factory=dict)
    no_default_bind: bool = False
    dns_discovery_type: str = "LOGICAL_DNS"
    tcp_keepalive: bool = False
    tcp_keepalive_time: int = 0
    tcp_keepalive_interval: int = 0
    tcp_keepalive_probes: int = 0


def gateway_options(config: Mapping[str, Any]) -> GatewayOptions:
    """Read gateway options; the ``envoy_gateway_*`` names win over their deprecated
    ``envoy_mesh_gateway_*`` aliases. Invalid values are reported at load time; here
    they are skipped."""
    p = _parsed(config, GATEWAY_OPTIONS)

    def pick(new: str, old: str, default: Any) -> Any:
        return p[new] if new in p else p.get(old, default)

    timeout = p.get("connect_timeout_ms", 5000)
    return GatewayOptions(
        connect_timeout_ms=timeout if timeout >= 1 else 5000,
        bind_tagged_addresses=pick(
            "envoy_gateway_bind_tagged_addresses", "envoy_mesh_gateway_bind_tagged_addresses", False
        ),
        bind_addresses=pick(
            "envoy_gateway_bind_addresses", "envoy_mesh_gateway_bind_addresses", {}
        ),
        no_default_bind=pick(
            "envoy_gateway_no_default_bind", "envoy_mesh_gateway_no_default_bind", False
        ),
        dns_discovery_type=(
            "STRICT_DNS" if p.get("envoy_dns_discovery_type") == "strict_dns" else "LOGICAL_DNS"
        ),
        tcp_keepalive=p.get("envoy_gateway_remote_tcp_enable_keepalive", False),
        tcp_keepalive_time=p.get("envoy_gateway_remote_tcp_keepalive_time", 0),
        tcp_keepalive_interval=p.get("envoy_gateway_remote_tcp_keepalive_interval", 0),
        tcp_keepalive_probes=p.get("envoy_gateway_remote_tcp_keepalive_probes", 0),
    )


@attrs.frozen
class ProxyOptions:
    """A sidecar's options, registration values over service-/proxy-defaults values."""

    protocol: str = "tcp"
    bind_address: str = ""
    bind_port: int = 0
    local_connect_timeout_ms: int = 5000
    local_request_timeout_ms: int = 0
    local_idle_timeout_ms: int = 0
    max_inbound_connections: int = 0
    balance_inbound_connections: str = ""
    envoy_public_listener_json: str = ""
    envoy_listener_tracing_json: str = ""
    envoy_local_cluster_json: str = ""


def proxy_options(config: Mapping[str, Any]) -> ProxyOptions:
    """Read sidecar options (invalid values are reported at load time)."""
    p = _parsed(config, SIDECAR_OPTIONS)
    local_timeout = p.get("local_connect_timeout_ms", 5000)
    return ProxyOptions(
        protocol=p.get("protocol", "tcp"),
        bind_address=p.get("bind_address", ""),
        bind_port=p.get("bind_port", 0),
        local_connect_timeout_ms=local_timeout if local_timeout >= 1 else 5000,
        local_request_timeout_ms=p.get("local_request_timeout_ms", 0),
        local_idle_timeout_ms=p.get("local_idle_timeout_ms", 0),
        max_inbound_connections=p.get("max_inbound_connections", 0),
        balance_inbound_connections=p.get("balance_inbound_connections", ""),
        envoy_public_listener_json=p.get("envoy_public_listener_json", ""),
        envoy_listener_tracing_json=p.get("envoy_listener_tracing_json", ""),
        envoy_local_cluster_json=p.get("envoy_local_cluster_json", ""),
    )


@attrs.frozen
class UpstreamOptions:
    """One upstream's options (``upstreams[].config`` over service-defaults)."""

    protocol: str = ""
    connect_timeout_ms: int = 0
    limits: Limits | None = None
    passive_health_check: PassiveHealthCheck | None = None
    balance_outbound_connections: str = ""
    envoy_listener_json: str = ""
    envoy_cluster_json: str = ""


def upstream_options(config: Mapping[str, Any]) -> UpstreamOptions:
    """Read one upstream's options (invalid values are reported at load time)."""
    p = _parsed(config, UPSTREAM_OPTIONS)
    return UpstreamOptions(
        protocol=p.get("protocol", ""),
        connect_timeout_ms=p.get("connect_timeout_ms", 0),
        limits=p.get("limits"),
        passive_health_check=p.get("passive_health_check"),
        balance_outbound_connections=p.get("balance_outbound_connections", ""),
        envoy_listener_json=p.get("envoy_listener_json", ""),
        envoy_cluster_json=p.get("envoy_cluster_json", ""),
    )
