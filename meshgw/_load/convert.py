"""meshgw's one cattrs converter: raw mappings → frozen models, strictly.

Key spelling follows Consul: keys match the snake_case field names case-insensitively and
with or without underscores (``DestinationName``, ``destinationName`` and
``destination_name`` are one key), plus a few per-class aliases. HCL blocks arrive as
one-element lists and are unwrapped where the field is not a list, as Consul's
``HookWeakDecodeFromSlice`` does. Unlike cattrs' defaults nothing is coerced: ``"false"``
is not a bool and ``1.0`` is not a port.

Structuring runs a fast converter first; only when it fails does a detailed converter run
again to collect every problem of the document with its field path.
"""

from __future__ import annotations

import contextvars
import difflib
import enum
import types
import typing
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

import attrs
import cattrs
from cattrs.errors import (
    AttributeValidationNote,
    ClassValidationError,
    IterableValidationError,
    IterableValidationNote,
)
from cattrs.gen import make_dict_structure_fn

from meshgw._values import describe, duration_ns, norm_key, plain_copy, unwrap_block
from meshgw.model import catalog, common, entries, mesh, registration
from meshgw.model.common import Source
from meshgw.model.entries import Nanoseconds

__all__ = [
    "Invalid",
    "PathElem",
    "StructureFailed",
    "current_file",
    "register_suggestions",
    "structure",
]

T = TypeVar("T")
PathElem = str | int

#: The file currently being structured, for Source objects of plain (JSON) mappings.
current_file: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "meshgw_current_file", default=None
)


class Invalid(Exception):
    """One problem at ``subpath`` below the value being structured."""

    def __init__(self, message: str, subpath: Sequence[PathElem] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.subpath = tuple(subpath)


# --- per-class key specifications -----------------------------------------------------

#: Extra spellings per class (normalised alias → field name).
_ALIASES: dict[type, dict[str, str]] = {
    registration.Service: {"service": "name", "check": "checks"},
    registration.Check: {"checkid": "id", "serviceid": "service_id"},
    registration.CheckDefinition: {"scriptargs": "args"},
    catalog.CatalogEntry: {"check": "checks", "nodeid": "id"},
    entries.ServiceConsumer: {"peername": "peer"},
    registration.Upstream: {},
}

#: Read-only fields Consul's API returns; understood and dropped.
_READ_ONLY = frozenset(
    {
        "contenthash",
        "createindex",
        "modifyindex",
        "raftindex",
        "enterprisemeta",
        "hash",
    }
)
_READ_ONLY_BY_CLASS: dict[type, frozenset[str]] = {
    catalog.CatalogEntry: frozenset({"skipnodeupdate", "enabletagoverride"}),
    registration.Check: frozenset({"exposedport", "checktype"}),
    registration.CheckDefinition: frozenset(
        {"intervalduration", "timeoutduration", "deregistercriticalserviceafterduration"}
    ),
    registration.Service: frozenset({"sidecarservicekind"}),
}

#: Classes whose documents may also write the fields of a nested class at their own top
#: level; such keys are gathered into that field. An agent check writes ``tcp`` and
#: ``interval`` beside ``name``; the health API nests them under ``Definition``.
_FOLDED: dict[type, tuple[str, type]] = {
    registration.Check: ("definition", registration.CheckDefinition),
}

#: Fields whose value is never given by users (filled by the loader).
_INTERNAL = frozenset({"source"})


@attrs.frozen
class _Spec:
    names: dict[str, str]  # exact or normalised key → field name
    fields: tuple[str, ...]
    singular: frozenset[str]  # fields that are one value (unwrap HCL block lists)
    read_only: frozenset[str]
    has_source: bool
    fold_into: str = ""  # the nested field that gathers ``folded`` keys
    folded: dict[str, str] = attrs.field(factory=dict)  # key → nested field name


_SPECS: dict[type, _Spec] = {}


def _is_singular(tp: Any) -> bool:
    origin = typing.get_origin(tp)
    if origin is typing.Union or origin is types.UnionType:
        return any(_is_singular(a) for a in typing.get_args(tp) if a is not type(None))
    if origin in (tuple, list):
        return False
    return attrs.has(tp) or origin in (Mapping, dict) or tp in (Mapping, dict)


def _spec(cls: type) -> _Spec:
    spec = _SPECS.get(cls)
    if spec is not None:
        return spec
    fields = [f for f in attrs.fields(cls) if f.init and f.name not in _INTERNAL]
    names: dict[str, str] = {}
    for f in fields:
        names[f.name] = f.name
        names[norm_key(f.name)] = f.name
    for alias, target in _ALIASES.get(cls, {}).items():
        names[alias] = target
    hints = typing.get_type_hints(cls)
    fold_into, folded = "", {}
    if cls in _FOLDED:
        fold_into, nested = _FOLDED[cls]
        nested_spec = _spec(nested)
        folded = {k: v for k, v in nested_spec.names.items() if k not in names}
    spec = _Spec(
        names=names,
        fields=tuple(f.name for f in fields),
        singular=frozenset(f.name for f in fields if _is_singular(hints[f.name])),
        read_only=_READ_ONLY | _READ_ONLY_BY_CLASS.get(cls, frozenset()),
        has_source=any(f.name == "source" for f in attrs.fields(cls)),
        fold_into=fold_into,
        folded=folded,
    )
    _SPECS[cls] = spec
    return spec


#: Further names to suggest for unknown keys of a class (e.g. agent settings a mesh file
#: accepts and ignores), beyond its fields.
_EXTRA_NAMES: dict[type, tuple[str, ...]] = {}


def register_suggestions(cls: type, names: Iterable[str]) -> None:
    """Also suggest ``names`` for misspelt keys of ``cls``."""
    _EXTRA_NAMES[cls] = tuple(names)


def _suggest(key: str, spec: _Spec, cls: type) -> str:
    extra = (*_EXTRA_NAMES.get(cls, ()), *sorted(set(spec.folded.values())))
    candidates = {norm_key(f): f for f in (*spec.fields, *extra)}
    close = difflib.get_close_matches(norm_key(key), list(candidates), n=1)
    if close:
        return f" (did you mean {candidates[close[0]]!r}?)"
    return f" (expected one of: {', '.join(sorted(spec.fields))})"


def _normalise(value: Any, cls: type, spec: _Spec) -> tuple[dict[str, Any], list[Invalid]]:
    out: dict[str, Any] = {}
    spelled: dict[str, str] = {}
    problems: list[Invalid] = []
    folded: dict[str, Any] = {}
    for key, item in value.items():
        if not isinstance(key, str):
            problems.append(Invalid(f"keys must be strings, got {describe(key)}"))
            continue
        name = spec.names.get(key)
        if name is None:
            nkey = norm_key(key)
            name = spec.names.get(nkey)
            if name is None:
                sub = spec.folded.get(key) or spec.folded.get(nkey)
                if sub is not None:
                    if item is not None:
                        folded[key] = item
                elif nkey not in spec.read_only:
                    problems.append(
                        Invalid(f"unknown key {key!r}{_suggest(key, spec, cls)}", [key])
                    )
                continue
        if item is None:
            # Consul's API writes null for empty lists and maps; Go decodes it as the
            # zero value, so it means "not set" here too.
            continue
        if name == "checks" and norm_key(key) == "check" and isinstance(item, Mapping):
            # The single ``check`` / ``Check`` object of agent files and payloads.
            item = [item]
        if name in spelled:
            if name == "checks" and cls in (registration.Service, catalog.CatalogEntry):
                out[name] = _as_list(out[name]) + _as_list(item)
                continue
            problems.append(
                Invalid(f"{key!r} repeats {spelled[name]!r} (the same field, spelt twice)", [name])
            )
            continue
        spelled[name] = key
        if name in spec.singular and isinstance(item, list) and item:
            if len(item) == 1 and isinstance(item[0], Mapping):
                item = item[0]
            elif all(isinstance(x, Mapping) for x in item):
                problems.append(Invalid(f"given {len(item)} times, expected one object", [name]))
                continue
        out[name] = item
    if folded:
        _fold(out, spec.fold_into, folded)
    if spec.has_source:
        line = getattr(value, "line", None)
        out["source"] = Source(getattr(value, "file", None) or current_file.get(), line)
    return out, problems


def _fold(out: dict[str, Any], field: str, folded: dict[str, Any]) -> None:
    """Gather top-level keys of a nested class into its field (merged with an explicit
    nested object when both are written; the top-level keys are the agent's own)."""
    nested = unwrap_block(out.get(field))
    out[field] = {**nested, **folded} if isinstance(nested, Mapping) else folded


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


# --- primitive and container hooks ----------------------------------------------------


def _structure_str(value: Any, _: Any) -> str:
    if isinstance(value, str):
        return value
    raise Invalid(f"expected a string, got {describe(value)}")


#: Consul decodes whole numbers into Go ints (64 bits); nothing larger means anything.
_INT_MIN, _INT_MAX = -(2**63), 2**63 - 1


def _structure_int(value: Any, _: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        if _INT_MIN <= value <= _INT_MAX:
            return value
        raise Invalid(f"number out of range (expected at most 64 bits), got {describe(value)}")
    raise Invalid(f"expected a whole number, got {describe(value)}")


def _structure_bool(value: Any, _: Any) -> bool:
    if isinstance(value, bool):
        return value
    raise Invalid(f"expected true or false, got {describe(value)}")


def _structure_float(value: Any, _: Any) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    raise Invalid(f"expected a number, got {describe(value)}")


def _structure_any(value: Any, _: Any) -> Any:
    return plain_copy(value)


def _structure_source(value: Any, _: Any) -> Any:
    return value


def _structure_nanoseconds(value: Any, _: Any) -> int:
    try:
        return duration_ns(value)
    except ValueError as exc:
        raise Invalid(str(exc)) from None


def _enum_hook(enum_cls: type[enum.Enum], what: str) -> Callable[[Any, Any], Any]:
    values: list[str] = [m.value for m in enum_cls]
    expected = [v for v in values if v]
    listed = ", ".join(expected[:-1]) + f" or {expected[-1]}" if len(expected) > 1 else expected[0]
    by_value = {m.value: m for m in enum_cls}

    def hook(value: Any, _: Any) -> Any:
        if isinstance(value, str) and value in by_value:
            return by_value[value]
        if isinstance(value, str):
            return _raise(f'invalid {what} "{value}" (expected {listed})')
        return _raise(f"invalid {what}: expected a string ({listed}), got {describe(value)}")

    return hook


def _raise(message: str) -> Any:
    raise Invalid(message)


def _note(exc: Exception, note: str) -> None:
    # add_note() is Python 3.11+; cattrs reads __notes__ on 3.10 too.
    notes: list[str] = getattr(exc, "__notes__", [])
    exc.__notes__ = [*notes, note]  # type: ignore[attr-defined]


def _group(message: str, errors: list[Exception], cls: type) -> Exception:
    return IterableValidationError(message, errors, cls)


def _mapping_hook(conv: cattrs.Converter, detailed: bool) -> Callable[[Any, Any], Any]:
    def hook(value: Any, tp: Any) -> Any:
        value = unwrap_block(value)
        if not isinstance(value, Mapping):
            raise Invalid(f"expected an object, got {describe(value)}")
        args = typing.get_args(tp)
        vtype = args[1] if len(args) == 2 else Any
        if vtype is Any:
            return plain_copy(value)
        out: dict[str, Any] = {}
        errors: list[Exception] = []
        for key, item in value.items():
            try:
                out[_structure_str(key, str)] = conv.structure(item, vtype)
            except Exception as exc:
                if not detailed:
                    raise
                _note(
                    exc,
                    IterableValidationNote(f"Structuring mapping value @ key {key!r}", key, vtype),
                )
                errors.append(exc)
        if errors:
            raise _group("while structuring a mapping", errors, dict)
        return out

    return hook


def _tuple_hook(conv: cattrs.Converter, detailed: bool) -> Callable[[Any, Any], Any]:
    def hook(value: Any, tp: Any) -> Any:
        if not isinstance(value, list | tuple):
            raise Invalid(f"expected a list, got {describe(value)}")
        args = typing.get_args(tp)
        etype = args[0] if args else Any
        if etype is Any:
            return tuple(plain_copy(v) for v in value)
        if not detailed:
            return tuple([conv.structure(v, etype) for v in value])
        out: list[Any] = []
        errors: list[Exception] = []
        for i, item in enumerate(value):
            try:
                out.append(conv.structure(item, etype))
            except Exception as exc:
                _note(exc, IterableValidationNote(f"Structuring list item @ index {i}", i, etype))
                errors.append(exc)
        if errors:
            raise _group("while structuring a list", errors, tuple)
        return tuple(out)

    return hook


def _class_hook_factory(conv: cattrs.Converter, detailed: bool) -> Callable[[type], Any]:
    def factory(cls: type) -> Callable[[Any, Any], Any]:
        base: Callable[[Any, Any], Any] = make_dict_structure_fn(
            cls, conv, _cattrs_detailed_validation=detailed
        )
        spec = _spec(cls)

        def hook(value: Any, _: Any) -> Any:
            value = unwrap_block(value)
            if not isinstance(value, Mapping):
                raise Invalid(f"expected an object, got {describe(value)}")
            data, problems = _normalise(value, cls, spec)
            if problems and not detailed:
                raise problems[0]
            try:
                obj = base(data, cls)
            except ClassValidationError as exc:
                raise ClassValidationError(exc.message, [*exc.exceptions, *problems], cls) from None
            if problems:
                raise ClassValidationError(f"While structuring {cls.__name__}", problems, cls)
            return obj

        return hook

    return factory


_MODEL_MODULES = (common, registration, entries, catalog, mesh)


def _resolve_all() -> None:
    for module in _MODEL_MODULES:
        for name in getattr(module, "__all__", ()):
            obj = getattr(module, name)
            if isinstance(obj, type) and attrs.has(obj):
                attrs.resolve_types(obj)


def _is_mapping_type(tp: Any) -> bool:
    return typing.get_origin(tp) in (Mapping, dict) or tp is Mapping or tp is dict


def _is_sequence_type(tp: Any) -> bool:
    return typing.get_origin(tp) in (tuple, list)


def _build(detailed: bool) -> cattrs.Converter:
    conv = cattrs.Converter(detailed_validation=detailed, forbid_extra_keys=False)
    conv.register_structure_hook(str, _structure_str)
    conv.register_structure_hook(int, _structure_int)
    conv.register_structure_hook(bool, _structure_bool)
    conv.register_structure_hook(float, _structure_float)
    conv.register_structure_hook(Source, _structure_source)
    conv.register_structure_hook(Nanoseconds, _structure_nanoseconds)
    conv.register_structure_hook(common.GatewayMode, _enum_hook(common.GatewayMode, "mode"))
    conv.register_structure_hook(common.ServiceKind, _enum_hook(common.ServiceKind, "kind"))
    conv.register_structure_hook(common.ProxyMode, _enum_hook(common.ProxyMode, "proxy mode"))
    conv.register_structure_hook_func(lambda t: t is Any, _structure_any)
    conv.register_structure_hook_func(
        _is_mapping_type,
        _mapping_hook(conv, detailed),
    )
    conv.register_structure_hook_func(_is_sequence_type, _tuple_hook(conv, detailed))
    conv.register_structure_hook_factory(attrs.has, _class_hook_factory(conv, detailed))
    return conv


_CONVERTERS: dict[bool, cattrs.Converter] = {}


def _converter(detailed: bool) -> cattrs.Converter:
    conv = _CONVERTERS.get(detailed)
    if conv is None:
        if not _CONVERTERS:
            _resolve_all()
        conv = _CONVERTERS[detailed] = _build(detailed)
    return conv


# --- the fast path ---------------------------------------------------------------------
#
# Valid documents are the common case and large catalogs are on every user's path, so
# they are structured by small functions compiled once per class from its type hints:
# the same key matching (_normalise) and the same strictness as the cattrs hooks, but no
# per-field error bookkeeping. Anything unexpected raises _Fallback, and the document is
# structured again by the detailed cattrs converter, which collects every problem.
# It is kept because it pays: cattrs' own generated functions (make_dict_structure_fn)
# take about 2.3 times as long to structure bench_load's catalog (1.6 times for a whole
# JSON load); benchmarks/bench_fast_path.py measures it again.


def _is_map(v: Any) -> bool:
    # isinstance(v, dict) is a C-level check; the Mapping ABC check costs ten times more
    # and is only needed for the rare non-dict mapping.
    return isinstance(v, (dict, Mapping))


class _Fallback(Exception):
    """The fast path met something it does not accept; the detailed pass decides."""


_FALLBACK = _Fallback()
#: One shared Source per file for objects without positions (plain JSON mappings).
_SOURCES: dict[str | None, Source] = {}
_Conv = Callable[[Any], Any]
_FAST: dict[Any, _Conv] = {}


def _fast_str(v: Any) -> Any:
    if type(v) is str:
        return v
    raise _FALLBACK


def _fast_int(v: Any) -> Any:
    if type(v) is int and _INT_MIN <= v <= _INT_MAX:
        return v
    raise _FALLBACK


def _fast_bool(v: Any) -> Any:
    if type(v) is bool:
        return v
    raise _FALLBACK


def _fast_identity(v: Any) -> Any:
    return v


def _fast_plain(v: Any) -> Any:
    if type(v) is str or type(v) is int or type(v) is bool or v is None:
        return v
    return plain_copy(v)


def _fast_nanoseconds(v: Any) -> Any:
    try:
        return _structure_nanoseconds(v, None)
    except Invalid:
        raise _FALLBACK from None


def _fast_enum(enum_cls: type[enum.Enum]) -> _Conv:
    by_value = {m.value: m for m in enum_cls}

    def conv(v: Any) -> Any:
        if type(v) is str:
            found = by_value.get(v)
            if found is not None:
                return found
        raise _FALLBACK

    return conv


def _fast_optional(inner: _Conv) -> _Conv:
    def conv(v: Any) -> Any:
        return None if v is None else inner(v)

    return conv


def _fast_tuple(inner: _Conv) -> _Conv:
    if inner is _fast_str:
        return _fast_str_tuple

    def conv(v: Any) -> Any:
        if not isinstance(v, list | tuple):
            raise _FALLBACK
        return tuple([inner(x) for x in v])

    return conv


def _fast_str_tuple(v: Any) -> Any:
    # tags, args, ...: the commonest list, checked without a call per element.
    if not isinstance(v, list | tuple):
        raise _FALLBACK
    for x in v:
        if type(x) is not str:
            raise _FALLBACK
    return tuple(v)


def _fast_str_map(v: Any) -> Any:
    # meta and node tagged addresses: the commonest mapping.
    if type(v) is not dict:
        if isinstance(v, list) and len(v) == 1 and _is_map(v[0]):
            v = v[0]
        if not _is_map(v):
            raise _FALLBACK
    for k, x in v.items():
        if type(k) is not str or type(x) is not str:
            raise _FALLBACK
    return dict(v)


def _fast_mapping(inner: _Conv | None) -> _Conv:
    if inner is _fast_str:
        return _fast_str_map

    def conv(v: Any) -> Any:
        if isinstance(v, list) and len(v) == 1 and _is_map(v[0]):
            v = v[0]
        if not _is_map(v):
            raise _FALLBACK
        if inner is None:
            return plain_copy(v)
        out = {}
        for key, item in v.items():
            if type(key) is not str:
                raise _FALLBACK
            out[key] = inner(item)
        return out

    return conv


def _fast_class(cls: type) -> _Conv:
    spec = _spec(cls)
    hints = typing.get_type_hints(cls)
    convs: dict[str, _Conv] = {}
    # Registered before the field converters are compiled, so that recursive types
    # (Service → Connect → Service) find this function.
    _FAST[cls] = lambda v: build(v)
    names = spec.names
    singular = spec.singular
    read_only = spec.read_only
    has_source = spec.has_source
    folded_names = spec.folded
    fold_into = spec.fold_into
    merges_checks = cls in (registration.Service, catalog.CatalogEntry)
    # Key as written → (field, converter or None for a plain string, needs care): the
    # same few spellings recur in every object of a document.
    table: dict[str, tuple[str, _Conv | None, bool]] = {}

    def build(value: Any) -> Any:
        # The same key matching as _normalise, inlined: this runs for every object of
        # every document. Anything _normalise would report goes to the detailed pass.
        if type(value) is not dict:
            if isinstance(value, list) and len(value) == 1 and _is_map(value[0]):
                value = value[0]
            if not _is_map(value):
                raise _FALLBACK
        out: dict[str, Any] = {}
        folded: dict[str, Any] | None = None
        for key, item in value.items():
            entry = table.get(key)
            if entry is None:
                name = names.get(key)
                if name is None:
                    if type(key) is not str:
                        raise _FALLBACK
                    nkey = norm_key(key)
                    name = names.get(nkey)
                    if name is None:
                        if nkey in read_only:
                            continue
                        if key in folded_names or nkey in folded_names:
                            if item is not None:
                                if folded is None:
                                    folded = {}
                                folded[key] = item
                            continue
                        raise _FALLBACK
                conv = convs[name]
                special = name in singular or (merges_checks and name == "checks")
                entry = (name, None if conv is _fast_str else conv, special)
                if len(table) < 256:
                    table[key] = entry
            name, conv_or_str, special = entry
            if item is None:
                continue
            if name in out:
                raise _FALLBACK  # a field spelt twice: rare, the slow path reports it
            if special:
                if isinstance(item, list):
                    if name in singular:
                        if len(item) == 1 and _is_map(item[0]):
                            item = item[0]
                        elif item:
                            raise _FALLBACK
                elif name == "checks":
                    raise _FALLBACK  # a single `check` object: rare, slow path
            if conv_or_str is None:
                # Most fields are strings: check inline rather than pay for a call.
                if type(item) is not str:
                    raise _FALLBACK
                out[name] = item
            else:
                out[name] = conv_or_str(item)
        if folded is not None:
            raw_nested = out.pop(fold_into, None)
            if raw_nested is not None:
                raise _FALLBACK  # both forms at once: rare, let the slow path merge
            out[fold_into] = convs[fold_into](folded)
        if has_source:
            if type(value) is dict:
                file = current_file.get()
                src = _SOURCES.get(file)
                if src is None:
                    src = _SOURCES[file] = Source(file, None)
                out["source"] = src
            else:
                line = getattr(value, "line", None)
                out["source"] = Source(getattr(value, "file", None) or current_file.get(), line)
        return cls(**out)

    for name in (*spec.fields, "source") if has_source else spec.fields:
        convs[name] = _fast_conv(hints[name])
    _FAST[cls] = build
    return build


def _fast_mesh_gateway(general: _Conv) -> _Conv:
    # Every proxy and upstream carries one; the four possible values are shared.
    interned = {m.value: common.MeshGatewayConfig(m) for m in common.GatewayMode}

    def conv(v: Any) -> Any:
        if type(v) is dict and len(v) == 1:
            mode = v.get("mode", v.get("Mode"))
            if type(mode) is str:
                found = interned.get(mode)
                if found is not None:
                    return found
        return general(v)

    return conv


def _fast_conv(tp: Any) -> _Conv:
    found = _FAST.get(tp)
    if found is not None:
        return found
    conv: _Conv
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is str:
        conv = _fast_str
    elif tp is bool:
        conv = _fast_bool
    elif tp is int:
        conv = _fast_int
    elif tp is Source:
        conv = _fast_identity
    elif tp is Any:
        conv = _fast_plain
    elif tp is Nanoseconds:
        conv = _fast_nanoseconds
    elif isinstance(tp, type) and issubclass(tp, enum.Enum):
        conv = _fast_enum(tp)
    elif origin is typing.Union or origin is types.UnionType:
        others = [a for a in args if a is not type(None)]
        if len(others) != 1:
            raise TypeError(f"no fast structuring for {tp}")
        conv = _fast_optional(_fast_conv(others[0]))
    elif origin in (tuple, list):
        conv = _fast_tuple(_fast_plain if not args or args[0] is Any else _fast_conv(args[0]))
    elif _is_mapping_type(tp):
        vtype = args[1] if len(args) == 2 else Any
        conv = _fast_mapping(None if vtype is Any else _fast_conv(vtype))
    elif tp is common.MeshGatewayConfig:
        conv = _fast_mesh_gateway(_fast_class(tp))
    elif isinstance(tp, type) and attrs.has(tp):
        return _fast_class(tp)
    else:
        raise TypeError(f"no fast structuring for {tp}")
    _FAST[tp] = conv
    return conv


def structure(value: Any, cls: type[T], file: str | None = None) -> T:
    """Structure ``value`` as ``cls``; on failure raise a list of ``(path, message)``
    problems wrapped in :class:`StructureFailed`."""
    token = current_file.set(file)
    try:
        if not _CONVERTERS:
            _converter(False)
        fast = _FAST.get(cls) or _fast_conv(cls)
        try:
            return fast(value)  # type: ignore[no-any-return]
        except _Fallback:
            pass
        try:
            return _converter(True).structure(value, cls)
        except Exception as exc:
            raise StructureFailed(list(_walk(exc, ()))) from None
    finally:
        current_file.reset(token)


class StructureFailed(Exception):
    """Every ``(path, message)`` problem found while structuring one value."""

    def __init__(self, problems: list[tuple[tuple[PathElem, ...], str]]) -> None:
        super().__init__(f"{len(problems)} problems")
        self.problems = problems


def _walk(
    exc: BaseException, path: tuple[PathElem, ...]
) -> Iterator[tuple[tuple[PathElem, ...], str]]:
    if isinstance(exc, ClassValidationError | IterableValidationError):
        for sub in exc.exceptions:
            elem: PathElem | None = None
            for note in getattr(sub, "__notes__", ()):
                if isinstance(note, AttributeValidationNote):
                    elem = note.name
                elif isinstance(note, IterableValidationNote):
                    elem = note.index
            yield from _walk(sub, (*path, elem) if elem is not None else path)
    elif isinstance(exc, Invalid):
        yield (*path, *exc.subpath), exc.message
    elif isinstance(exc, KeyError):
        yield path, "required field missing"
    else:
        yield path, f"invalid value ({exc})"
