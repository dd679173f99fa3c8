"""The route table of the emulator, built from the vendored OpenAPI specs.

Both planes' operations come from ``modelsec/_spec/openapi-*.json``; the newer custom-rules and
snapshot-version operations (which the May specs predate) are declared here in the same shape,
with their bodies validated against ``modelsec/_spec/custom-rules/*.json``.

Example:
    >>> table = load_routes()
    >>> r, params = table.match("mgmt", "GET", "/v1/security-groups/"
    ...     "550e8400-e29b-41d4-a716-446655440000")
    >>> r.operation_id, params
    ('get_security_group', {'uuid': '550e8400-e29b-41d4-a716-446655440000'})
    >>> sorted(table.methods("mgmt", "/v1/security-groups"))
    ['GET', 'POST']
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from modelsec.emulator.validation import SchemaValidator

__all__ = [
    "MethodNotAllowed",
    "Route",
    "RouteTable",
    "custom_rule_schema",
    "load_routes",
    "load_spec",
]

#: Bytes one character of a parameter can take in a URL: 4 UTF-8 bytes, each as ``%XX``.
ENCODED_CHAR_BYTES = 12
#: Characters assumed for a string parameter the specs leave unbounded (``query_path``).
UNBOUNDED_CHARS = 128
#: Items assumed for an array parameter the specs leave unbounded (free strings or UUIDs).
UNBOUNDED_ITEMS = 16
#: Longest date-time text accepted, percent-encoded (``2026-01-01T00:00:00.000000+00:00``).
DATETIME_BYTES = 32 * 3


@functools.cache
def load_spec(name: str) -> Mapping[str, Any]:
    """Load a vendored spec: ``data``, ``mgmt`` or ``custom-rules/<Name>``."""
    files = resources.files("modelsec._spec")
    if name in ("data", "mgmt"):
        path = files / f"openapi-{name}-plane.json"
    else:
        path = files / f"{name}.json"
    with path.open("r", encoding="utf-8") as fh:
        data: Mapping[str, Any] = json.load(fh)
    return data


def custom_rule_schema(name: str) -> tuple[SchemaValidator, Mapping[str, Any]]:
    """Validator and root schema of ``custom-rules/<name>.json``."""
    doc = load_spec(f"custom-rules/{name}")
    return SchemaValidator(doc), doc


@dataclass
class Route:
    """One operation: plane, method, path template and its parameters/body schemas."""

    plane: str
    method: str
    template: str
    operation_id: str
    parameters: Sequence[Mapping[str, Any]]
    body_schema: Mapping[str, Any] | None
    body_required: bool
    validator: SchemaValidator
    success: int
    regex: re.Pattern[str] = field(init=False)
    literal_score: int = field(init=False)

    def __post_init__(self) -> None:
        parts = []
        for seg in self.template.strip("/").split("/"):
            m = re.fullmatch(r"\{(\w+)\}", seg)
            parts.append(f"(?P<{m.group(1)}>[^/]+)" if m else re.escape(seg))
        # used with fullmatch: "$" would also match before a trailing newline ("%0A")
        self.regex = re.compile("/" + "/".join(parts) + "/?")
        self.literal_score = sum(1 for s in self.template.split("/") if s and "{" not in s)

    def max_request_line(self) -> int:
        """Bytes of the longest request line the specs allow for this operation: every
        parameter at its longest, each character as 4 percent-encoded UTF-8 bytes.

        Example:
            >>> load_routes().by_operation("get_security_group").max_request_line()
            80
        """
        path = f"/aims/{self.plane}{self.template}"
        query = 0
        for p in self.parameters:
            cost = _param_bytes(self.validator, p)
            if p["in"] == "path":
                path = path.replace("{" + p["name"] + "}", "x" * cost)
            elif p["in"] == "query":
                query += cost
        return len(self.method) + 1 + len(path) + 1 + query + len(" HTTP/1.1")


def _short_op(op_id: str) -> str:
    # "get_security_group_v1_security_groups__uuid__get" -> "get_security_group"
    return op_id.split("_v1_", 1)[0]


_Q_UUID = {"type": "string", "format": "uuid"}


def _q(name: str, schema: Mapping[str, Any], required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "schema": dict(schema)}


def _p(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": dict(_Q_UUID)}


_SKIP = _q("skip", {"type": "integer", "minimum": 0, "default": 0})
_LIMIT = _q("limit", {"type": "integer", "minimum": 1, "maximum": 100, "default": 10})
_CURSOR = [
    _q("limit", {"type": "integer", "minimum": 1, "maximum": 100, "default": 10}),
    _q("next_token", {"anyOf": [{"type": "string", "maxLength": 1024}, {"type": "null"}]}),
]

# (method, path, operation id, parameters, body schema file or None, success status)
_NEWER: list[tuple[str, str, str, list[dict[str, Any]], str | None, int]] = [
    (
        "get",
        "/v1/custom-rules",
        "list_custom_rules",
        [
            _SKIP,
            _LIMIT,
            _q(
                "search_query", {"anyOf": [{"type": "string", "maxLength": 1000}, {"type": "null"}]}
            ),
            _q("is_archived", {"anyOf": [{"type": "boolean"}, {"type": "null"}]}),
            _q(
                "source_type",
                {"anyOf": [{"$ref": "#/components/schemas/SourceType"}, {"type": "null"}]},
            ),
        ],
        None,
        200,
    ),
    ("post", "/v1/custom-rules", "create_custom_rule", [], "CustomRuleCreateRequest", 201),
    ("get", "/v1/custom-rules/versions", "list_custom_rule_versions", _CURSOR, None, 200),
    ("get", "/v1/custom-rules/{uuid}", "get_custom_rule", [_p("uuid")], None, 200),
    (
        "put",
        "/v1/custom-rules/{uuid}",
        "update_custom_rule",
        [_p("uuid")],
        "CustomRuleUpdateRequest",
        200,
    ),
    ("post", "/v1/custom-rules/{uuid}/archive", "archive_custom_rule", [_p("uuid")], None, 200),
    ("post", "/v1/custom-rules/{uuid}/unarchive", "unarchive_custom_rule", [_p("uuid")], None, 200),
    (
        "get",
        "/v1/custom-rules/{uuid}/security-groups",
        "list_custom_rule_security_groups",
        [_p("uuid"), _SKIP, _LIMIT],
        None,
        200,
    ),
    (
        "post",
        "/v1/custom-rules/{uuid}/security-groups",
        "assign_custom_rule_security_groups",
        [_p("uuid")],
        "BatchAssignCustomRuleRequest",
        207,
    ),
    (
        "delete",
        "/v1/custom-rules/{uuid}/security-groups/{security_group_uuid}",
        "remove_custom_rule_assignment",
        [_p("uuid"), _p("security_group_uuid")],
        None,
        204,
    ),
    ("get", "/v1/security-rules/versions", "list_security_rule_versions", _CURSOR, None, 200),
    (
        "get",
        "/v1/security-groups/{security_group_uuid}/rule-instances/versions",
        "list_rule_instance_versions",
        [_p("security_group_uuid"), *_CURSOR],
        None,
        200,
    ),
]


_UNRESERVED_ONLY = re.compile(r"\^\[(?:a-z|A-Z|0-9|_|-)+\][+*]\$")


def _value_bytes(v: SchemaValidator, schema: Mapping[str, Any]) -> int:
    schema = v.resolve(schema)
    if "anyOf" in schema:
        return max(_value_bytes(v, b) for b in schema["anyOf"])
    if "enum" in schema:
        return max(len(str(e)) for e in schema["enum"]) * 3
    kind = schema.get("type")
    if kind == "string":
        if schema.get("format") == "uuid":
            return 36
        if schema.get("format") == "date-time":
            return DATETIME_BYTES
        per_char = ENCODED_CHAR_BYTES
        if _UNRESERVED_ONLY.fullmatch(schema.get("pattern", "")):
            per_char = 1  # e.g. label keys "^[a-zA-Z0-9_-]+$": never percent-encoded
        return int(schema.get("maxLength", UNBOUNDED_CHARS)) * per_char
    if kind == "integer":
        return 20
    if kind == "boolean":
        return 5
    return 0


def _param_bytes(v: SchemaValidator, p: Mapping[str, Any]) -> int:
    """Bytes of one parameter at its longest (``name=value`` per item for queries)."""
    schema = v.resolve(p.get("schema", {}))
    arrays = [b for b in [schema, *schema.get("anyOf", [])] if v.resolve(b).get("type") == "array"]
    if p["in"] != "query":
        return _value_bytes(v, schema)
    pair = len(p["name"]) + 2  # "&name="
    if not arrays:
        return pair + _value_bytes(v, schema)
    arr = v.resolve(arrays[0])
    items = v.resolve(arr.get("items", {}))
    count = arr.get("maxItems") or (len(items["enum"]) if "enum" in items else UNBOUNDED_ITEMS)
    return int(count) * (pair + _value_bytes(v, items))


class MethodNotAllowed(LookupError):
    """The path exists but not with this method; ``allowed`` lists its methods."""

    def __init__(self, allowed: Sequence[str]) -> None:
        super().__init__("405")
        self.allowed = tuple(allowed)


class RouteTable:
    """Routes per plane, matched most-literal first (``/v1/scans/label-keys`` before
    ``/v1/scans/{uuid}``)."""

    def __init__(self, routes: list[Route]) -> None:
        self.routes = sorted(routes, key=lambda r: (-r.literal_score, r.template))

    def match(self, plane: str, method: str, path: str) -> tuple[Route, dict[str, str]]:
        """The route and raw path parameters; :class:`MethodNotAllowed` (``"405"``) or
        ``LookupError("404")`` otherwise."""
        method = method.lower()
        allowed: list[str] = []
        for r in self.routes:
            if r.plane != plane:
                continue
            m = r.regex.fullmatch(path)
            if not m:
                continue
            if r.method == method:
                return r, dict(m.groupdict())
            allowed.append(r.method.upper())
        if allowed:
            raise MethodNotAllowed(sorted(set(allowed)))
        raise LookupError("404")

    def route_for_path(self, plane: str, path: str) -> Route | None:
        """The first route (by priority) whose template matches ``path``, whatever the method.

        Example:
            >>> load_routes().route_for_path("data", "/v1/scans/x").template
            '/v1/scans/{uuid}'
        """
        for r in self.routes:
            if r.plane == plane and r.regex.fullmatch(path):
                return r
        return None

    def methods(self, plane: str, path: str) -> set[str]:
        """The methods a concrete path answers (empty when no route has it)."""
        try:
            self.match(plane, "\x00", path)
        except MethodNotAllowed as exc:
            return set(exc.allowed)
        except LookupError:
            pass
        return set()

    def max_request_line(self) -> int:
        """The longest request line any operation allows (see :meth:`Route.max_request_line`).

        Example:
            >>> load_routes().max_request_line() > 9000
            True
        """
        return max(r.max_request_line() for r in self.routes)

    def by_operation(self, op: str) -> Route:
        """The route of an operation id."""
        for r in self.routes:
            if r.operation_id == op:
                return r
        raise KeyError(op)


@functools.lru_cache(maxsize=1)
def load_routes() -> RouteTable:
    """Every operation of both planes plus the newer management operations."""
    routes: list[Route] = []
    for plane in ("data", "mgmt"):
        spec = load_spec(plane)
        validator = SchemaValidator(spec)
        for template, ops in spec["paths"].items():
            shared = list(ops.get("parameters", []))
            for method, op in ops.items():
                if method == "parameters":
                    continue
                body = op.get("requestBody")
                schema = None
                if body:
                    schema = body["content"]["application/json"]["schema"]
                codes = sorted(int(c) for c in op.get("responses", {}) if c.isdigit())
                success = next((c for c in codes if 200 <= c < 300), 200)
                routes.append(
                    Route(
                        plane=plane,
                        method=method,
                        template=template,
                        operation_id=_short_op(op["operationId"]),
                        parameters=shared + list(op.get("parameters", [])),
                        body_schema=schema,
                        body_required=bool(body and body.get("required")),
                        validator=validator,
                        success=success,
                    )
                )
    mgmt_validator = SchemaValidator(load_spec("mgmt"))
    for method, template, op_id, params, body_name, success in _NEWER:
        if body_name:
            _, doc = custom_rule_schema(body_name)
            # parameters use mgmt refs; bodies the custom-rules document: wrap in one root
            root = {**doc, "components": load_spec("mgmt")["components"]}
            validator = SchemaValidator(root)
            body_schema: Mapping[str, Any] | None = {"$ref": doc["$ref"]}
        else:
            validator, body_schema = mgmt_validator, None
        routes.append(
            Route(
                plane="mgmt",
                method=method,
                template=template,
                operation_id=op_id,
                parameters=list(params),
                body_schema=body_schema,
                body_required=body_name is not None,
                validator=validator,
                success=success,
            )
        )
    return RouteTable(routes)
