"""The base of every wire shape: attrs classes, open enums and the one cattrs converter.

Responses are read leniently: unknown fields are kept in ``extra`` (and sent back by
``to_dict()``), unknown enum values stay plain strings, and date-times become aware UTC
``datetime`` objects. Requests are built strictly: their classes take keyword arguments only and
``to_dict(exclude_none=True)`` gives exactly the JSON body the API expects.
"""

from __future__ import annotations

import datetime as _dt
import enum
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, TypeVar, Union

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn

from modelsec.types._fast import FastStructurer, Slow

__all__ = [
    "OpenEnum",
    "WireModel",
    "converter",
    "format_datetime",
    "parse_datetime",
    "structure",
]

T = TypeVar("T")


class OpenEnum(str, enum.Enum):
    """A string enum whose members compare equal to their wire values.

    Fields typed ``SomeEnum | str`` hold the member when the value is known and the raw
    string otherwise, so a value the service adds later never breaks parsing.

    Example:
        >>> from modelsec.types import EvalOutcome
        >>> EvalOutcome.BLOCKED == "BLOCKED"
        True
        >>> str(EvalOutcome.BLOCKED)
        'BLOCKED'
    """

    def __str__(self) -> str:
        return str(self.value)


@attrs.frozen(kw_only=True)
class WireModel:
    """Base of every attrs wire shape.

    ``extra`` keeps the fields this SDK does not know yet; ``to_dict()`` gives the wire JSON,
    extras included, so an object read from the API can be sent back without loss.

    Example:
        >>> from modelsec.types import Label
        >>> Label(key="team", value="ml").to_dict()
        {'key': 'team', 'value': 'ml'}
    """

    extra: Mapping[str, Any] = attrs.field(factory=dict, repr=False, kw_only=True)

    # Field names the service spells differently from Python (none today); kept for symmetry.
    _wire_names: ClassVar[Mapping[str, str]] = {}

    def to_dict(self, *, exclude_none: bool = False) -> dict[str, Any]:
        """Return the wire JSON of this object (a plain ``dict``), unknown fields included.

        Args:
            exclude_none: leave out fields whose value is ``None`` (how request bodies are sent).
        """
        data: dict[str, Any] = converter.unstructure(self)
        if exclude_none:
            data = _drop_none(data)
        return data

    @classmethod
    def from_dict(cls: type[T], data: Mapping[str, Any]) -> T:
        """Build an instance from wire JSON, keeping unknown fields in ``extra``.

        Raises:
            modelsec.errors.ResponseValidationError: when a field has the wrong shape.
        """
        return structure(data, cls)


def _drop_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_none(v) for v in value]
    return value


# ---------------------------------------------------------------------------------------------
# date-times


def parse_datetime(value: str | _dt.datetime) -> _dt.datetime:
    """Parse an ISO 8601 date-time into an aware UTC ``datetime``.

    Accepts a ``Z`` suffix, any fractional precision and naive values (read as UTC), which
    ``datetime.fromisoformat`` refuses before Python 3.11.

    Example:
        >>> parse_datetime("2026-05-04T10:00:00.123456789Z").isoformat()
        '2026-05-04T10:00:00.123456+00:00'
    """
    if isinstance(value, _dt.datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            # Fast path (C code): Python 3.11+ reads "Z" and up to 6 fractional digits.
            parsed = _dt.datetime.fromisoformat(value)
        except ValueError:
            parsed = _parse_datetime_slow(value)
    else:
        raise TypeError(f"expected an ISO 8601 string, got {type(value).__name__}")
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=_dt.timezone.utc)
    if parsed.tzinfo is _dt.timezone.utc:
        return parsed
    return parsed.astimezone(_dt.timezone.utc)


def _parse_datetime_slow(value: str) -> _dt.datetime:
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    # Trim fractional seconds to microseconds: the service may send nanoseconds.
    dot = text.find(".")
    if dot != -1:
        end = dot + 1
        while end < len(text) and text[end].isdigit():
            end += 1
        frac = text[dot + 1 : end][:6].ljust(6, "0")
        text = text[: dot + 1] + frac + text[end:]
    if len(text) >= 10 and text[10:11] == " ":
        text = text[:10] + "T" + text[11:]
    try:
        return _dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"invalid date-time: {value!r}") from None


def format_datetime(value: _dt.datetime) -> str:
    """Format a ``datetime`` as the API writes it: ISO 8601 in UTC with a ``Z`` suffix.

    Example:
        >>> import datetime as dt
        >>> format_datetime(dt.datetime(2026, 5, 4, 10, tzinfo=dt.timezone.utc))
        '2026-05-04T10:00:00Z'
    """
    if value.tzinfo is None:
        value = value.replace(tzinfo=_dt.timezone.utc)
    text = value.astimezone(_dt.timezone.utc).isoformat()
    return text.replace("+00:00", "Z")


# ---------------------------------------------------------------------------------------------
# the converter

converter = cattrs.Converter(detailed_validation=True)

converter.register_structure_hook(_dt.datetime, lambda v, _: parse_datetime(v))
converter.register_unstructure_hook(_dt.datetime, format_datetime)


def _is_union(tp: Any) -> bool:
    origin = typing.get_origin(tp)
    return origin is Union or origin is types.UnionType


def _open_enum_parts(tp: Any) -> tuple[type[OpenEnum], bool] | None:
    """``(EnumClass, nullable)`` when ``tp`` is ``SomeOpenEnum | str [| None]``."""
    if not _is_union(tp):
        return None
    args = set(typing.get_args(tp))
    nullable = type(None) in args
    args.discard(type(None))
    if str not in args or len(args) != 2:
        return None
    args.discard(str)
    (other,) = args
    if isinstance(other, type) and issubclass(other, OpenEnum):
        return other, nullable
    return None


def _structure_open_enum_factory(tp: Any) -> Callable[[Any, Any], Any]:
    parts = _open_enum_parts(tp)
    assert parts is not None
    enum_cls, nullable = parts
    members: dict[str, Any] = {m.value: m for m in enum_cls}

    def hook(value: Any, _: Any) -> Any:
        if value is None:
            if nullable:
                return None
            raise ValueError("value may not be null")
        if isinstance(value, enum_cls):
            return value
        if not isinstance(value, str):
            raise ValueError(f"expected a string, got {type(value).__name__}")
        # A value the SDK does not know yet is kept as the raw string.
        return members.get(value, value)

    return hook


converter.register_structure_hook_factory(
    lambda tp: _open_enum_parts(tp) is not None, _structure_open_enum_factory
)


def _unstructure_open_value(value: Any) -> Any:
    return value.value if isinstance(value, enum.Enum) else value


converter.register_unstructure_hook_func(
    lambda tp: _open_enum_parts(tp) is not None, _unstructure_open_value
)


def _structure_open_enum_member(value: Any, cls: type[OpenEnum]) -> OpenEnum:
    return cls(value)


converter.register_structure_hook_func(
    lambda tp: isinstance(tp, type) and issubclass(tp, OpenEnum), _structure_open_enum_member
)
converter.register_unstructure_hook_func(
    lambda tp: isinstance(tp, type) and issubclass(tp, OpenEnum), lambda v: v.value
)


def _structure_any(value: Any, _: Any) -> Any:
    return value


# Predicates rather than types: ``Any`` and unions are not classes before Python 3.11, and
# cattrs' single dispatch only takes classes.
converter.register_structure_hook_func(lambda tp: tp is Any, _structure_any)


def _structure_str_or_int(value: Any, _: Any) -> str | int:
    # FastAPI's ``loc`` entries: field names and list indexes.
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        return value
    raise ValueError(f"expected a string or an integer, got {type(value).__name__}")


converter.register_structure_hook_func(lambda tp: tp == Union[str, int], _structure_str_or_int)


def _is_wire_model(tp: Any) -> bool:
    return isinstance(tp, type) and attrs.has(tp) and issubclass(tp, WireModel)


def _wire_structure_factory(cls: type[WireModel]) -> Callable[[Any, Any], Any]:
    # The generated function never reads ``extra`` (it takes its default); unknown fields are
    # attached after construction, which keeps the common case (no unknown field) on the fast
    # path of cattrs' generated code.
    inner = make_dict_structure_fn(cls, converter, extra=cattrs.override(omit=True))
    known = frozenset(a.name for a in attrs.fields(cls) if a.name != "extra")

    def hook(data: Any, _: Any) -> Any:
        if not isinstance(data, Mapping):
            raise ValueError(f"expected a JSON object, got {type(data).__name__}")
        if known.issuperset(data.keys()):
            return inner(data, cls)
        obj = inner({k: v for k, v in data.items() if k in known}, cls)
        # Frozen attrs instances allow this one internal write, before anyone sees the object.
        object.__setattr__(obj, "extra", {k: v for k, v in data.items() if k not in known})
        return obj

    return hook


def _wire_unstructure_factory(cls: type[WireModel]) -> Callable[[Any], dict[str, Any]]:
    inner = make_dict_unstructure_fn(cls, converter)

    def hook(obj: Any) -> dict[str, Any]:
        data: dict[str, Any] = inner(obj)
        extra = data.pop("extra", None) or {}
        for key, value in extra.items():
            data.setdefault(key, value)
        return data

    return hook


converter.register_structure_hook_factory(_is_wire_model, _wire_structure_factory)
converter.register_unstructure_hook_factory(_is_wire_model, _wire_unstructure_factory)


_fast = FastStructurer(converter, parse_datetime, _is_wire_model, OpenEnum)


def structure(data: Any, cls: type[T]) -> T:
    """Structure wire JSON into ``cls``; a mismatch raises ``ResponseValidationError``.

    The error names the path of every bad field (``$.scans[3].created_at: invalid date-time``).
    Wire classes take a compiled fast path when the JSON is exactly as the spec says
    (:mod:`modelsec.types._fast`); anything else, errors included, goes through the converter.

    Example:
        >>> from modelsec.types import Pagination
        >>> structure({"total_items": 3}, Pagination).total_items
        3
    """
    compiled = _fast.get(cls)
    if compiled is not None:
        try:
            result: T = compiled(data)
            return result
        except Slow:
            pass
    try:
        return converter.structure(data, cls)
    except Exception as exc:  # cattrs raises several exception shapes; all become one error
        from modelsec.errors import ResponseValidationError

        messages = _describe(exc)
        name = getattr(cls, "__name__", str(cls))
        raise ResponseValidationError(
            f"response does not match {name}: " + "; ".join(messages),
            errors=messages,
        ) from exc


def _describe(exc: BaseException) -> list[str]:
    if isinstance(exc, (cattrs.ClassValidationError, cattrs.IterableValidationError)):
        return cattrs.transform_error(exc, path="$")
    return [f"$: {exc}"]
