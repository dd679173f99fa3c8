"""Compiled structuring of wire models: the fast path in front of the cattrs converter.

cattrs' generated code is general (any Mapping, lenient coercion, detailed errors) and builds
frozen attrs instances through ``__init__``, which sets each slot with ``object.__setattr__``.
That costs about 8 µs per ``Scan``, which is most of a list call's client-side time. The
service's JSON is almost always exactly what the spec says, so this module compiles, per wire
class, a straight-line function that handles only that case:

- a plain ``dict`` whose values already have their exact Python types (``str`` for ``str``,
  ``int`` for ``int``, ...), date-time strings, known or unknown enum strings, nested objects and
  lists of them;
- the instance is built without ``__init__``, by writing each slot through its descriptor (the
  same writes attrs' frozen ``__init__`` does, minus the per-field indirection).

Anything else (a missing required field, a ``null`` where none is allowed, an ``int`` where a
``str`` is expected, a mapping that is not a ``dict``, ...) raises :class:`Slow`, and
:func:`modelsec.types._base.structure` redoes the whole value with the cattrs converter. So the
result is always exactly the converter's (the tests compare both on generated data), and the
converter alone still decides what is an error and how it is reported.

Classes with validators, converters or ``__attrs_post_init__`` are left to cattrs.
"""

from __future__ import annotations

import datetime as _dt
import enum
import inspect
import threading
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any, Union

import attrs

__all__ = ["FastStructurer", "Slow"]

Convert = Callable[[Any], Any]

# attrs' default-factory wrapper (typed as a function in attrs' stubs, a class at runtime).
_FACTORY: type[Any] = type(attrs.Factory(list))


class Slow(Exception):
    """The value is not on the fast path; structure it with the cattrs converter instead."""


class FastStructurer:
    """The compiled functions of every wire class, built on first use and kept.

    ``converter`` supplies the hooks of field types this module does not compile itself (tagged
    unions, literals, ...); their failures also raise :class:`Slow`. ``parse_datetime`` is the
    converter's date-time parser, so both paths read date-times the same way, and
    ``open_enum`` the base class of the enums the converter reads leniently (``E | str``).
    """

    def __init__(
        self,
        converter: Any,
        parse_datetime: Callable[[str], _dt.datetime],
        is_wire_class: Callable[[Any], bool],
        open_enum: type[enum.Enum],
    ) -> None:
        self._compiler = _Compiler(converter, parse_datetime, open_enum)
        self._is_wire_class = is_wire_class
        self._lock = threading.Lock()
        self._done: dict[Any, Convert | None] = {}

    def get(self, tp: Any) -> Convert | None:
        """The compiled function of ``tp`` when it is a wire class, else None (cattrs does it)."""
        try:
            return self._done[tp]
        except KeyError:
            pass
        with self._lock:  # compiling twice is harmless, half-compiled recursion is not
            function = self._compiler.model(tp) if self._is_wire_class(tp) else None
            self._done[tp] = function
            return function


def _union_args(tp: Any) -> tuple[Any, ...] | None:
    origin = typing.get_origin(tp)
    if origin is Union or origin is types.UnionType:
        return typing.get_args(tp)
    return None


class _Compiler:
    def __init__(
        self,
        converter: Any,
        parse_datetime: Callable[[str], _dt.datetime],
        open_enum: type[enum.Enum],
    ) -> None:
        self._converter = converter
        self._open_enum = open_enum
        self._datetime = _datetime(parse_datetime)
        # Per class: the compiled function, None (left to cattrs), or a forwarding cell while
        # the class is being compiled (a model that contains itself, directly or not).
        self._models: dict[type[Any], Convert | None] = {}

    # -- types -------------------------------------------------------------------------------

    def convert(self, tp: Any) -> Convert:
        """A function checking and converting one JSON value to ``tp``; raises Slow."""
        if tp is Any:
            return _identity
        if tp in (str, int, bool, float):
            return _exact(tp)
        if tp is _dt.datetime:
            return self._datetime
        args = _union_args(tp)
        if args is not None:
            return self._union(args)
        origin = typing.get_origin(tp)
        if origin is list:
            (item_tp,) = typing.get_args(tp)
            return _list_of(self.convert(item_tp))
        if origin in (dict, Mapping) and typing.get_args(tp) == (str, Any):
            return _json_object
        if isinstance(tp, type) and attrs.has(tp):
            model = self.model(tp)
            if model is not None:
                return model
        return self._via_converter(tp)

    def _union(self, args: tuple[Any, ...]) -> Convert:
        non_none = tuple(a for a in args if a is not type(None))
        nullable = len(non_none) != len(args)
        rest = non_none[0] if len(non_none) == 1 else Union[non_none]
        enum_cls = self._open_enum_class(rest)
        if enum_cls is not None:
            inner = _open_enum({m.value: m for m in enum_cls})
        elif len(non_none) == 1:
            inner = self.convert(rest)
        else:
            inner = self._via_converter(rest)
        return _nullable(inner) if nullable else inner

    def _via_converter(self, tp: Any) -> Convert:
        hook = self._converter.get_structure_hook(tp)

        def convert(value: Any) -> Any:
            try:
                return hook(value, tp)
            except Exception:
                raise Slow from None

        return convert

    def _open_enum_class(self, tp: Any) -> type[enum.Enum] | None:
        """``E`` when ``tp`` is ``E | str`` for an open enum ``E`` (as the converter decides)."""
        args = _union_args(tp)
        if args is None or len(args) != 2 or str not in args:
            return None
        (other,) = [a for a in args if a is not str]
        if isinstance(other, type) and issubclass(other, self._open_enum):
            return other
        return None

    # -- models ------------------------------------------------------------------------------

    def model(self, cls: type[Any]) -> Convert | None:
        if cls in self._models:
            return self._models[cls] or None
        fields = attrs.fields(cls)
        if (
            hasattr(cls, "__attrs_post_init__")
            or hasattr(cls, "__attrs_pre_init__")
            or any(f.validator is not None or f.converter is not None for f in fields)
            or not all(f.init for f in fields)
        ):
            self._models[cls] = None
            return None
        # Registered before the fields are compiled, so that a recursive reference finds it.
        cell: list[Convert] = []

        def forward(value: Any) -> Any:
            return cell[0](value)

        self._models[cls] = forward
        hints = typing.get_type_hints(cls)
        compiled = self._model_function(cls, fields, hints)
        cell.append(compiled)
        self._models[cls] = compiled
        return compiled

    def _model_function(
        self, cls: type[Any], fields: tuple[attrs.Attribute[Any], ...], hints: Mapping[str, Any]
    ) -> Convert:
        names: dict[str, Any] = {"_new": object.__new__, "_cls": cls}
        names["Slow"] = Slow
        known = frozenset(f.name for f in fields if f.name != "extra")
        names["_known"] = known
        body = ["o = _new(_cls)"]  # the function body, indented below
        for i, field in enumerate(fields):
            names[f"_set{i}"] = _setter(cls, field.name)
            if field.name == "extra":
                # Unknown fields are kept, as the converter's hook does.
                body += [
                    "if _known.issuperset(d):",
                    f"    _set{i}(o, {{}})",
                    "else:",
                    f"    _set{i}(o, {{k: v for k, v in d.items() if k not in _known}})",
                ]
                continue
            check = self._field_check(i, hints[field.name], names)
            default = field.default
            if default is attrs.NOTHING:
                # A subscript is cheaper than a ``dict.get`` call; a missing required field
                # raises KeyError, which becomes Slow.
                body += [f"v = d[{field.name!r}]", *check]
            else:
                if isinstance(default, _FACTORY):
                    if default.takes_self:
                        return self._via_converter(cls)
                    names[f"_default{i}"] = default.factory
                    fill = f"v = _default{i}()"
                else:
                    names[f"_default{i}"] = default
                    fill = f"v = _default{i}"
                body += [f"if {field.name!r} in d:", f"    v = d[{field.name!r}]"]
                body += ["    " + line for line in check] + ["else:", "    " + fill]
            body.append(f"_set{i}(o, v)")
        source = "\n".join(
            [
                "def structure(d):",
                "    if d.__class__ is not dict:",
                "        raise Slow",
                "    try:",  # free in CPython 3.11+ unless something raises
                *("        " + line for line in body),
                "    except KeyError:",  # a required field is missing
                "        raise Slow from None",
                "    return o",
            ]
        )
        code = compile(source, f"<modelsec compiled structure {cls.__qualname__}>", "exec")
        exec(code, names)
        function: Convert = names["structure"]
        return function

    def _field_check(self, i: int, tp: Any, names: dict[str, Any]) -> list[str]:
        """Code checking and converting ``v`` to ``tp``: inline for the common field types."""
        args = _union_args(tp)
        nullable = args is not None and type(None) in args
        if nullable:
            assert args is not None
            rest = tuple(a for a in args if a is not type(None))
            tp = rest[0] if len(rest) == 1 else Union[rest]
        body = self._inline(i, tp, names)
        if nullable:
            return ["if v is not None:"] + ["    " + line for line in body]
        return body

    def _inline(self, i: int, tp: Any, names: dict[str, Any]) -> list[str]:
        exact = {str: "str", int: "int", bool: "bool"}
        if tp in exact:
            return [f"if v.__class__ is not {exact[tp]}:", "    raise Slow"]
        if tp is _dt.datetime:
            names["_datetime"] = self._datetime
            return ["v = _datetime(v)"]
        enum_cls = self._open_enum_class(tp)
        if enum_cls is not None:
            names[f"_members{i}"] = {m.value: m for m in enum_cls}
            # A value the SDK does not know yet stays the raw string.
            return [
                "if v.__class__ is not str:",
                "    raise Slow",
                f"v = _members{i}.get(v, v)",
            ]
        if typing.get_origin(tp) is list:
            (item_tp,) = typing.get_args(tp)
            names[f"_item{i}"] = self.convert(item_tp)
            return [
                "if v.__class__ is not list:",
                "    raise Slow",
                f"v = [_item{i}(e) for e in v]",
            ]
        names[f"_convert{i}"] = self.convert(tp)
        return [f"v = _convert{i}(v)"]


def _setter(cls: type[Any], name: str) -> Callable[[Any, Any], None]:
    slot = inspect.getattr_static(cls, name, None)
    if isinstance(slot, types.MemberDescriptorType):
        return slot.__set__

    def set_attribute(obj: Any, value: Any) -> None:
        object.__setattr__(obj, name, value)

    return set_attribute


def _identity(value: Any) -> Any:
    return value


def _exact(tp: type[Any]) -> Convert:
    def convert(value: Any) -> Any:
        if value.__class__ is tp:
            return value
        raise Slow

    return convert


def _datetime(parse: Callable[[str], _dt.datetime]) -> Convert:
    def convert(value: Any) -> _dt.datetime:
        if value.__class__ is not str:
            raise Slow
        try:
            return parse(value)
        except ValueError:
            raise Slow from None

    return convert


def _open_enum(members: Mapping[str, Any]) -> Convert:
    get = members.get

    def convert(value: Any) -> Any:
        if value.__class__ is str:
            # A value the SDK does not know yet stays the raw string.
            return get(value, value)
        raise Slow

    return convert


def _nullable(inner: Convert) -> Convert:
    def convert(value: Any) -> Any:
        return None if value is None else inner(value)

    return convert


def _list_of(item: Convert) -> Convert:
    def convert(value: Any) -> list[Any]:
        if value.__class__ is not list:
            raise Slow
        return [item(v) for v in value]

    return convert


def _json_object(value: Any) -> dict[str, Any]:
    # A copy, as the converter makes; JSON keys are always strings, other keys go the slow way.
    if value.__class__ is not dict or not all(k.__class__ is str for k in value):
        raise Slow
    return dict(value)
