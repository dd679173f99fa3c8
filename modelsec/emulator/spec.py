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

__all__ = ["Route", "RouteTable", "custom_rule_schema", "load_routes", "load_spec"]


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
        self.regex = re.compile("^/" + "/".join(parts) + "/?$")
        self.literal_score = sum(1 for s in self.template.split("/") if s and "{" not in s)


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


class RouteTable:
    """Routes per plane, matched most-literal first (``/v1/scans/label-keys`` before
    ``/v1/scans/{uuid}``)."""

    def __init__(self, routes: list[Route]) -> None:
        self.routes = sorted(routes, key=lambda r: (-r.literal_score, r.template))

    def match(self, plane: str, method: str, path: str) -> tuple[Route, dict[str, str]]:
        """The route and raw path parameters; ``LookupError("404"|"405")`` otherwise."""
        method = method.lower()
        path_matched = False
        for r in self.routes:
            if r.plane != plane:
                continue
            m = r.regex.match(path)
            if not m:
                continue
            path_matched = True
            if r.method == method:
                return r, dict(m.groupdict())
        raise LookupError("405" if path_matched else "404")

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
