"""Request validation driven by the vendored JSON schemas, answering like FastAPI/pydantic v2.

Errors are ``{"type", "loc", "msg", "input", "ctx"?}`` entries as FastAPI puts them in its 422
body. Only the subset of JSON Schema the specs use is supported: ``type``, ``enum``, ``const``,
``anyOf``, ``$ref``, ``properties``/``required``/``additionalProperties``, ``items``,
``minItems``/``maxItems``, ``minLength``/``maxLength``/``pattern``, ``minimum``/``maximum``,
``format: uuid|date-time``, ``default``.

Example:
    >>> v = SchemaValidator({})
    >>> v.validate({"type": "integer", "minimum": 1}, 0, ("query", "limit"))[1][0]["msg"]
    'Input should be greater than or equal to 1'
"""

from __future__ import annotations

import datetime as _dt
import re
import uuid as _uuid
from collections.abc import Mapping
from typing import Any

__all__ = [
    "MAX_JSON_DEPTH",
    "ErrorList",
    "SchemaValidator",
    "json_too_deep",
    "parse_datetime",
    "uuid_error",
]

#: Deepest JSON body accepted (pydantic-core's JSON parser stops at 200 levels too). The
#: validator and the policy evaluator recurse once or more per level: bounding the depth here
#: keeps a hostile body from exhausting Python's recursion limit anywhere behind.
MAX_JSON_DEPTH = 200

ErrorList = list[dict[str, Any]]
_MISSING: Any = object()
_UUID_CHARS = re.compile(r"[0-9a-fA-F-]")


def _err(
    type_: str, loc: tuple[Any, ...], msg: str, input_: Any, ctx: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    e: dict[str, Any] = {"type": type_, "loc": list(loc), "msg": msg, "input": input_}
    if ctx is not None:
        e["ctx"] = dict(ctx)
    return e


def uuid_error(value: str) -> str | None:
    """Why ``value`` is not a UUID (pydantic's wording), or ``None`` if it is one.

    Example:
        >>> uuid_error("abc")
        'invalid length: expected length 32 for simple format, found 3'
    """
    try:
        _uuid.UUID(value)
        return None
    except (ValueError, AttributeError, TypeError):
        pass
    s = value[9:] if value.lower().startswith("urn:uuid:") else value
    for i, ch in enumerate(s):
        if not _UUID_CHARS.match(ch):
            return (
                "invalid character: expected an optional prefix of `urn:uuid:` followed by "
                f"[0-9a-fA-F-], found `{ch}` at {i + 1}"
            )
    if "-" in s:
        return f"invalid group count: expected 5, found {len(s.split('-'))}"
    return f"invalid length: expected length 32 for simple format, found {len(s)}"


def json_too_deep(value: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether parsed JSON nests arrays/objects more than ``limit`` levels (walked without
    recursion).

    Example:
        >>> json_too_deep([[[]]], limit=3), json_too_deep([[[[]]]], limit=3)
        (False, True)
    """
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > limit:
            return True
        stack.extend((c, depth + 1) for c in children if isinstance(c, (dict, list)))
    return False


def parse_datetime(value: str) -> _dt.datetime | None:
    """Parse an ISO-8601 date-time (``Z`` accepted); naive values are taken as UTC.

    Example:
        >>> parse_datetime("2026-05-04T10:00:00Z").isoformat()
        '2026-05-04T10:00:00+00:00'
    """
    s = value.strip()
    if s.endswith(("Z", "z")):
        s = s[:-1] + "+00:00"
    try:
        d = _dt.datetime.fromisoformat(s)
    except ValueError:
        return None
    if d.tzinfo is None:
        d = d.replace(tzinfo=_dt.timezone.utc)
    return d


def _expected(values: list[Any]) -> str:
    parts = [repr(v) if isinstance(v, str) else str(v) for v in values]
    if len(parts) == 1:
        return parts[0]
    return ", ".join(parts[:-1]) + " or " + parts[-1]


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


class SchemaValidator:
    """Validate values against schemas of one document (``$ref`` resolved against ``root``).

    ``validate(schema, value, loc, from_query=...)`` returns ``(coerced_value, errors)``;
    with ``from_query`` the value is a string (or list of strings for arrays) and is coerced
    like FastAPI does for query and path parameters.
    """

    def __init__(self, root: Mapping[str, Any]) -> None:
        self.root = root

    def resolve(self, schema: Mapping[str, Any]) -> Mapping[str, Any]:
        """Follow ``$ref`` chains (local JSON pointers only)."""
        seen = 0
        while "$ref" in schema and seen < 32:
            ref = str(schema["$ref"])
            node: Any = self.root
            for part in ref.lstrip("#/").split("/"):
                if part:
                    key = part.replace("~1", "/").replace("~0", "~")
                    node = node[int(key)] if isinstance(node, list) else node[key]
            merged = dict(node)
            for k, v in schema.items():
                if k != "$ref":
                    merged.setdefault(k, v)
            schema = merged
            seen += 1
        return schema

    def non_null(self, schema: Mapping[str, Any]) -> tuple[list[Mapping[str, Any]], bool]:
        """The non-null branches of a schema and whether null is allowed."""
        schema = self.resolve(schema)
        if "anyOf" in schema:
            branches: list[Mapping[str, Any]] = []
            nullable = False
            for b in schema["anyOf"]:
                sub, n = self.non_null(b)
                branches.extend(sub)
                nullable = nullable or n
            return branches, nullable
        t = schema.get("type")
        if t == "null":
            return [], True
        if isinstance(t, list):
            others = [x for x in t if x != "null"]
            s = dict(schema)
            if len(others) == 1:
                s["type"] = others[0]
            else:
                s["type"] = others
            return [s], "null" in t
        return [schema], False

    def is_array(self, schema: Mapping[str, Any]) -> bool:
        """True when the (non-null) schema is an array (query parameter with repeated keys)."""
        branches, _ = self.non_null(schema)
        return any(b.get("type") == "array" for b in branches)

    def validate(
        self,
        schema: Mapping[str, Any],
        value: Any,
        loc: tuple[Any, ...],
        *,
        from_query: bool = False,
    ) -> tuple[Any, ErrorList]:
        """Validate ``value``; return the (coerced) value and the errors."""
        branches, nullable = self.non_null(schema)
        if value is None and (nullable or not branches):
            return None, []
        if not branches:
            return value, [_err("none_required", loc, "Input should be None", value)]
        if len(branches) == 1:
            return self._one(branches[0], value, loc, from_query)
        best: ErrorList | None = None
        for b in branches:
            v, errs = self._one(b, value, loc, from_query)
            if not errs:
                return v, []
            # prefer the branch whose discriminating constants match the input
            if best is None or len(errs) < len(best):
                best = errs
        return value, best or []

    def _one(
        self, schema: Mapping[str, Any], value: Any, loc: tuple[Any, ...], q: bool
    ) -> tuple[Any, ErrorList]:
        schema = self.resolve(schema)
        if "anyOf" in schema:
            return self.validate(schema, value, loc, from_query=q)
        if "const" in schema:
            c = schema["const"]
            if value != c:
                ex = _expected([c])
                return value, [
                    _err("literal_error", loc, f"Input should be {ex}", value, {"expected": ex})
                ]
            return value, []
        if "enum" in schema:
            allowed = list(schema["enum"])
            if value not in allowed:
                ex = _expected(allowed)
                return value, [_err("enum", loc, f"Input should be {ex}", value, {"expected": ex})]
            return value, []
        t = schema.get("type")
        if isinstance(t, list):
            for tt in t:
                v, errs = self._one({**schema, "type": tt}, value, loc, q)
                if not errs:
                    return v, []
            return self._one({**schema, "type": t[0]}, value, loc, q)
        if t == "string":
            return self._string(schema, value, loc)
        if t == "integer":
            return self._integer(schema, value, loc, q)
        if t == "number":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                if q and isinstance(value, str):
                    try:
                        return float(value), []
                    except ValueError:
                        pass
                return value, [_err("float_parsing", loc, "Input should be a valid number", value)]
            return value, []
        if t == "boolean":
            if isinstance(value, bool):
                return value, []
            if q and isinstance(value, str):
                low = value.lower()
                if low in ("true", "1", "yes", "on", "t", "y"):
                    return True, []
                if low in ("false", "0", "no", "off", "f", "n"):
                    return False, []
                return value, [
                    _err(
                        "bool_parsing",
                        loc,
                        "Input should be a valid boolean, unable to interpret input",
                        value,
                    )
                ]
            return value, [_err("bool_type", loc, "Input should be a valid boolean", value)]
        if t == "array":
            return self._array(schema, value, loc, q)
        if t == "object" or "properties" in schema:
            return self._object(schema, value, loc)
        return value, []

    def _string(
        self, schema: Mapping[str, Any], value: Any, loc: tuple[Any, ...]
    ) -> tuple[Any, ErrorList]:
        fmt = schema.get("format")
        if not isinstance(value, str):
            if fmt == "uuid":
                return value, [
                    _err(
                        "uuid_type",
                        loc,
                        "UUID input should be a string, bytes or UUID object",
                        value,
                    )
                ]
            return value, [_err("string_type", loc, "Input should be a valid string", value)]
        if fmt == "uuid":
            why = uuid_error(value)
            if why:
                return value, [
                    _err(
                        "uuid_parsing",
                        loc,
                        f"Input should be a valid UUID, {why}",
                        value,
                        {"error": why},
                    )
                ]
            return str(_uuid.UUID(value)), []
        if fmt == "date-time":
            d = parse_datetime(value)
            if d is None:
                why = "input is too short" if len(value) < 10 else "invalid datetime format"
                return value, [
                    _err(
                        "datetime_from_date_parsing",
                        loc,
                        f"Input should be a valid datetime or date, {why}",
                        value,
                        {"error": why},
                    )
                ]
            return value, []
        n = len(value)
        if "minLength" in schema and n < schema["minLength"]:
            m = schema["minLength"]
            return value, [
                _err(
                    "string_too_short",
                    loc,
                    f"String should have at least {_plural(m, 'character')}",
                    value,
                    {"min_length": m},
                )
            ]
        if "maxLength" in schema and n > schema["maxLength"]:
            m = schema["maxLength"]
            return value, [
                _err(
                    "string_too_long",
                    loc,
                    f"String should have at most {_plural(m, 'character')}",
                    value,
                    {"max_length": m},
                )
            ]
        pat = schema.get("pattern")
        if pat and not re.search(pat, value):
            return value, [
                _err(
                    "string_pattern_mismatch",
                    loc,
                    f"String should match pattern '{pat}'",
                    value,
                    {"pattern": pat},
                )
            ]
        return value, []

    def _integer(
        self, schema: Mapping[str, Any], value: Any, loc: tuple[Any, ...], q: bool
    ) -> tuple[Any, ErrorList]:
        v = value
        if q and isinstance(value, str):
            try:
                v = int(value.strip())
            except ValueError:
                return value, [
                    _err(
                        "int_parsing",
                        loc,
                        "Input should be a valid integer, unable to parse string as an integer",
                        value,
                    )
                ]
        elif isinstance(value, float) and value.is_integer():
            v = int(value)
        elif isinstance(value, bool) or not isinstance(value, int):
            return value, [_err("int_type", loc, "Input should be a valid integer", value)]
        if "minimum" in schema and v < schema["minimum"]:
            m = schema["minimum"]
            return value, [
                _err(
                    "greater_than_equal",
                    loc,
                    f"Input should be greater than or equal to {m}",
                    value,
                    {"ge": m},
                )
            ]
        if "maximum" in schema and v > schema["maximum"]:
            m = schema["maximum"]
            return value, [
                _err(
                    "less_than_equal",
                    loc,
                    f"Input should be less than or equal to {m}",
                    value,
                    {"le": m},
                )
            ]
        return v, []

    def _array(
        self, schema: Mapping[str, Any], value: Any, loc: tuple[Any, ...], q: bool
    ) -> tuple[Any, ErrorList]:
        if not isinstance(value, list):
            return value, [_err("list_type", loc, "Input should be a valid list", value)]
        out: list[Any] = []
        errs: ErrorList = []
        item_schema = schema.get("items", {})
        for i, item in enumerate(value):
            v, e = self.validate(item_schema, item, (*loc, i), from_query=q)
            out.append(v)
            errs.extend(e)
        n = len(value)
        if "minItems" in schema and n < schema["minItems"]:
            m = schema["minItems"]
            errs.insert(
                0,
                _err(
                    "too_short",
                    loc,
                    f"List should have at least {_plural(m, 'item')} after validation, not {n}",
                    value,
                    {"field_type": "List", "min_length": m, "actual_length": n},
                ),
            )
        if "maxItems" in schema and n > schema["maxItems"]:
            m = schema["maxItems"]
            errs.insert(
                0,
                _err(
                    "too_long",
                    loc,
                    f"List should have at most {_plural(m, 'item')} after validation, not {n}",
                    value,
                    {"field_type": "List", "max_length": m, "actual_length": n},
                ),
            )
        return out, errs

    def _object(
        self, schema: Mapping[str, Any], value: Any, loc: tuple[Any, ...]
    ) -> tuple[Any, ErrorList]:
        props: Mapping[str, Any] = schema.get("properties", {})
        if not isinstance(value, dict):
            if props:
                return value, [
                    _err(
                        "model_attributes_type",
                        loc,
                        "Input should be a valid dictionary or object to extract fields from",
                        value,
                    )
                ]
            return value, [_err("dict_type", loc, "Input should be a valid dictionary", value)]
        errs: ErrorList = []
        out: dict[str, Any] = {}
        required = set(schema.get("required", ()))
        for name, sub in props.items():
            if name in value:
                v, e = self.validate(sub, value[name], (*loc, name))
                out[name] = v
                errs.extend(e)
            elif name in required:
                errs.append(_err("missing", (*loc, name), "Field required", value))
        addl = schema.get("additionalProperties", True)
        pn = schema.get("propertyNames")
        for name, v in value.items():
            if name in props:
                continue
            if pn is not None:
                _, e = self.validate(pn, name, (*loc, name, "[key]"))
                errs.extend(e)
            if addl is False:
                errs.append(
                    _err("extra_forbidden", (*loc, name), "Extra inputs are not permitted", v)
                )
            elif isinstance(addl, Mapping):
                vv, e = self.validate(addl, v, (*loc, name))
                out[name] = vv
                errs.extend(e)
            else:
                out[name] = v
        return out, errs
