"""Value helpers every layer may use: Consul's key spelling, Go durations, HCL block
unwrapping, IP address checks, plain copies and value descriptions for messages.

A leaf module: it imports only the standard library, so the model, the loader, the
resolvers, the planners and the Envoy builders all share one copy of each rule.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import socket
from collections.abc import Mapping
from typing import Any

__all__ = [
    "MAX_DURATION_NS",
    "by_norm_key",
    "describe",
    "duration_ns",
    "find_key",
    "ip_version",
    "is_ip",
    "norm_key",
    "parse_go_duration",
    "plain_copy",
    "unwrap_block",
]

# --- keys -----------------------------------------------------------------------------

_NORM_CACHE: dict[str, str] = {}


def norm_key(key: str) -> str:
    """Consul's key matching: case-insensitive, underscores ignored.

    Consul decodes agent files and config entries with mapstructure after
    ``lib.TranslateKeys`` / ``lib.PatchSliceOfMaps``; its field matching ignores case and
    the JSON/HCL spellings ``DestinationName``, ``destinationName`` and
    ``destination_name`` all name one field.
    """
    # Documents repeat the same few hundred keys; the cache is bounded for safety.
    found = _NORM_CACHE.get(key)
    if found is None:
        found = key.lower().replace("_", "")
        if len(_NORM_CACHE) < 4096:
            _NORM_CACHE[key] = found
    return found


def by_norm_key(mapping: Mapping[Any, Any]) -> dict[str, Any]:
    """A mapping's string keys normalised (:func:`norm_key`), to look up by meaning
    rather than spelling."""
    return {norm_key(k): v for k, v in mapping.items() if isinstance(k, str)}


def find_key(mapping: Mapping[Any, Any], key: str) -> Any:
    """The key of ``mapping`` that means ``key`` (an exact match first, then by
    :func:`norm_key`); ``None`` when there is none."""
    if key in mapping:
        return key
    want = norm_key(key)
    for candidate in mapping:
        if isinstance(candidate, str) and norm_key(candidate) == want:
            return candidate
    return None


def unwrap_block(value: Any) -> Any:
    """An HCL block (a list of one mapping) as that mapping; anything else unchanged."""
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], Mapping):
        return value[0]
    return value


# --- values ---------------------------------------------------------------------------


def describe(value: Any) -> str:
    """A short description of a value for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, int):
        if not -(10**40) < value < 10**40:
            # str() of a 4,301-digit int raises ValueError; say how big it is instead.
            return f"a number of about {int(value.bit_length() * 0.30103) + 1} digits"
        return f"number {value}"
    if isinstance(value, float):
        return f"number {value!r}"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f'string "{shown}"'
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list | tuple):
        return "a list"
    return type(value).__name__


def plain_copy(value: Any) -> Any:
    """A deep copy with every mapping as a dict and every list or tuple as a list
    (position data of raw documents and read-only views dropped)."""
    if isinstance(value, (dict, Mapping)):
        return {k: plain_copy(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain_copy(v) for v in value]
    return value


# --- durations ------------------------------------------------------------------------

_DURATION_RE = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNIT_NS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 10**9, "m": 60 * 10**9}
_UNIT_NS["h"] = 3600 * 10**9


#: Go's ``time.Duration`` is int64 nanoseconds; Consul can hold no longer duration.
MAX_DURATION_NS = 2**63 - 1


def parse_go_duration(text: str) -> int:
    """Go's ``time.ParseDuration`` (non-negative) → nanoseconds; ValueError when invalid."""
    if text in ("0", ""):
        return 0
    pos, total = 0, 0.0
    for m in _DURATION_RE.finditer(text):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNIT_NS[m.group(2)]
        pos = m.end()
    if pos != len(text) or pos == 0:
        raise ValueError(text)
    if not total <= MAX_DURATION_NS:
        # Go's ParseDuration refuses a duration past int64 nanoseconds (~292 years); a
        # 309-digit one is infinite as a float and was an OverflowError here.
        raise ValueError(text)
    return round(total)


def duration_ns(value: Any) -> int:
    """A duration as Consul accepts one — a Go duration string or non-negative integer
    nanoseconds — in nanoseconds; ValueError saying what was expected otherwise."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise ValueError(f"expected a non-negative duration, got {describe(value)}")
        if value > MAX_DURATION_NS:
            raise ValueError(
                f"duration out of range: at most {MAX_DURATION_NS} ns (about 292 years, "
                f"Go's limit), got {describe(value)}"
            )
        return value
    if isinstance(value, str):
        try:
            return parse_go_duration(value)
        except ValueError:
            pass
    raise ValueError(
        f'expected a duration such as "5s" or "250ms" (at most about 292 years), '
        f"got {describe(value)}"
    )


# --- addresses ------------------------------------------------------------------------


@functools.lru_cache(maxsize=4096)
def is_ip(address: str) -> bool:
    """Whether ``address`` is an IPv4 or IPv6 address (else it is taken as a DNS name,
    as Consul's ``net.ParseIP`` check does). An IPv6 scope id (``fe80::1%eth0``) counts."""
    try:
        socket.inet_pton(socket.AF_INET, address)  # the common case, without parsing
        return True
    except OSError:
        pass
    if ":" not in address:
        return False
    try:
        ipaddress.ip_address(address)
        return True
    except ValueError:
        return False


def ip_version(address: str) -> int | None:
    """4 or 6 for an IP address, ``None`` for anything else (a host name, garbage)."""
    try:
        return ipaddress.ip_address(address).version
    except ValueError:
        return None
