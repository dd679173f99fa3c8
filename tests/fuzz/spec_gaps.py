"""The vendor's specs, amended where they are silent, for the fuzz run.

The specs declare only each operation's success status and FastAPI's 422. The service (and the
emulator) also answer, per ``CONTRACT.md`` ("Errors ... Clients also meet 401/403, 404 (unknown
uuid or wrong plane), 429 and 5xx"):

* 404 ``{"detail": str}`` from an operation that looks a resource up by a UUID in its path, and
  from ``POST /v1/scans``, whose body names a security group that may not exist;
* 409 ``{"detail": str}`` from creating or renaming a security group to a name already taken.

Exactly these responses are added, to exactly these operations, with a schema, so the fuzzer
still checks their bodies; any other undeclared status still fails. 401 is not added (the fuzzer
sends a valid token), nor 429/5xx (the emulator injects them only when asked to).

Seeded resources are given to the fuzzer as OpenAPI examples of the path parameters and bodies,
so that the examples phase and the coverage phase reach success answers too.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

#: Built-in checks that ``tests/fuzz/hooks.py`` replaces by wrappers with one narrow exception
#: each (``positive_data_acceptance``: rules stated only in prose; ``use_after_free``: the soft
#: delete of security groups; ``ensure_resource_availability``: rows a 207 batch refused;
#: ``unsupported_method`` and ``allow_header_conformance``: the two literal ``versions`` paths
#: that a ``{uuid}`` path also matches). Kept here so that the test never imports schemathesis.
REPLACED_CHECKS = (
    "positive_data_acceptance",
    "use_after_free",
    "ensure_resource_availability",
    "unsupported_method",
    "allow_header_conformance",
)

HTTP_ERROR = {
    "title": "HTTPError",
    "type": "object",
    "required": ["detail"],
    "properties": {"detail": {"type": "string"}},
}


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/HTTPError"}}},
    }


def _params(spec: Mapping[str, Any], path: str, op: Mapping[str, Any]) -> list[Any]:
    return [*spec["paths"][path].get("parameters", []), *op.get("parameters", [])]


def amend(spec: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``spec`` with the 404 and 409 answers the service gives but does not declare.

    Example:
        >>> s = {"paths": {"/v1/x/{uuid}": {"get": {"parameters": [{"name": "uuid",
        ...     "in": "path", "schema": {"type": "string", "format": "uuid"}}],
        ...     "responses": {"200": {}}}}}, "components": {"schemas": {}}}
        >>> sorted(amend(s)["paths"]["/v1/x/{uuid}"]["get"]["responses"])
        ['200', '404']
    """
    out = copy.deepcopy(dict(spec))
    out["components"]["schemas"]["HTTPError"] = HTTP_ERROR
    for path, ops in out["paths"].items():
        for method, op in ops.items():
            if method == "parameters":
                continue
            responses = op["responses"]
            by_uuid = any(
                p.get("in") == "path" and p.get("schema", {}).get("format") == "uuid"
                for p in _params(out, path, op)
            )
            if by_uuid or (method, path) == ("post", "/v1/scans"):
                responses.setdefault("404", _error("The resource named by a UUID does not exist"))
            if (method, path) in (
                ("post", "/v1/security-groups"),
                ("put", "/v1/security-groups/{uuid}"),
            ):
                responses.setdefault("409", _error("A security group with this name exists"))
    return out


# The newer management operations (custom rules, snapshot versions) have no OpenAPI document
# from the vendor, only JSON schemas of their bodies (modelsec/_spec/custom-rules/): success
# status and response schema of each, as CONTRACT.md lists them.
NEWER_RESPONSES = {
    "list_custom_rules": (200, "ListCustomRulesResponse"),
    "create_custom_rule": (201, "CustomRuleResponse"),
    "list_custom_rule_versions": (200, "SnapshotVersionListResponse"),
    "get_custom_rule": (200, "CustomRuleResponse"),
    "update_custom_rule": (200, "CustomRuleResponse"),
    "archive_custom_rule": (200, "CustomRuleResponse"),
    "unarchive_custom_rule": (200, "CustomRuleResponse"),
    "list_custom_rule_security_groups": (200, "ListCustomRuleSecurityGroupsResponse"),
    "assign_custom_rule_security_groups": (207, "BatchAssignCustomRuleResponse"),
    "remove_custom_rule_assignment": (204, None),
    "list_security_rule_versions": (200, "SnapshotVersionListResponse"),
    "list_rule_instance_versions": (200, "SnapshotVersionListResponse"),
}


def _components_refs(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            k: (
                v.replace("#/definitions/", "#/components/schemas/")
                if k == "$ref" and isinstance(v, str)
                else _components_refs(v)
            )
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_components_refs(v) for v in node]
    return node


def newer_spec(mgmt: Mapping[str, Any], routes: Sequence[Any], load: Any) -> dict[str, Any]:
    """An OpenAPI document of the newer management operations, in the vendor specs' style
    (success + 422), built from the emulator's route table and the vendored JSON schemas.

    ``routes``: :func:`modelsec.emulator.spec.load_routes` routes; ``load``:
    :func:`modelsec.emulator.spec.load_spec`.
    """
    schemas = dict(copy.deepcopy(mgmt["components"]["schemas"]))
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        if route.operation_id not in NEWER_RESPONSES:
            continue
        status, name = NEWER_RESPONSES[route.operation_id]
        op: dict[str, Any] = {
            "operationId": route.operation_id,
            "parameters": copy.deepcopy(list(route.parameters)),
            "responses": {
                "422": {
                    "description": "Validation Error",
                    "content": {
                        "application/json": {
                            "schema": {"$ref": "#/components/schemas/HTTPValidationError"}
                        }
                    },
                }
            },
        }
        if name is None:
            op["responses"][str(status)] = {"description": "Success"}
        else:
            doc = load(f"custom-rules/{name}")
            schemas.update(_components_refs(doc["definitions"]))
            op["responses"][str(status)] = {
                "description": "Success",
                "content": {
                    "application/json": {"schema": _components_refs({"$ref": doc["$ref"]})}
                },
            }
        if route.body_schema is not None:
            body_name = route.body_schema["$ref"].rsplit("/", 1)[-1]
            doc = load(f"custom-rules/{body_name}")
            schemas.update(_components_refs(doc["definitions"]))
            op["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": _components_refs(route.body_schema)}},
            }
        paths.setdefault(route.template, {})[route.method] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "Newer management operations", "version": "emulated"},
        "paths": paths,
        "components": {"schemas": schemas},
    }


def add_examples(
    spec: dict[str, Any],
    params: Mapping[tuple[str, str], Sequence[Any]],
    bodies: Mapping[tuple[str, str], Sequence[Any]],
) -> None:
    """Attach seeded values: ``params[(path, name)]`` to that path parameter of every operation
    of ``path``; ``bodies[(method, path)]`` as request-body examples."""
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            if method == "parameters":
                continue
            for p in op.get("parameters", []):
                values = params.get((path, p["name"]))
                if values:
                    p["examples"] = {f"seeded{i}": {"value": v} for i, v in enumerate(values)}
            values = bodies.get((method, path))
            if values and "requestBody" in op:
                media = op["requestBody"]["content"]["application/json"]
                media["examples"] = {f"seeded{i}": {"value": v} for i, v in enumerate(values)}
