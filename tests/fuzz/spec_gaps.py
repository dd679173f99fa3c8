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
#: delete of security groups). Kept here so that the test never imports schemathesis itself.
REPLACED_CHECKS = ("positive_data_acceptance", "use_after_free")

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
