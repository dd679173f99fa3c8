"""Schemathesis hooks for the emulator's fuzz run (loaded in the fuzzer's process through
``SCHEMATHESIS_HOOKS=tests.fuzz.hooks``).

Five built-in checks are replaced by wrappers (``spec_gaps.REPLACED_CHECKS``) that call the
built-in and let through only a failure matching one of the exceptions below, where the vendor's
specs say less than the service does (``tests/fuzz/spec_gaps.py`` closes the other gaps by
amending the specs: undeclared 404/409). Anything else a built-in check reports still fails the
run. Rules quoted below are from ``CONTRACT.md`` ("Facts the specs do not make obvious").

* ``positive_data_acceptance``: a 422 every error of which enforces a rule the schema cannot
  express (labels_query grammar, rule-configuration keys, field_values keys, the group of a
  rule-instance update, the 50-label cap, opaque ``next_token`` cursors, references of
  ``rule_result`` conditions);
* ``use_after_free``: a deleted security group read back with ``is_tombstone: true``;
* ``ensure_resource_availability``: an assignment a 207 batch answered with ``status: error``;
* ``unsupported_method``/``allow_header_conformance``: the literal ``.../versions`` paths that a
  ``{uuid}`` path of another operation also matches.
"""

from __future__ import annotations

import json
import os
from typing import Any

import schemathesis
from schemathesis.specs.openapi import checks as builtin

# The built-ins replaced below are excluded by the test (spec_gaps.REPLACED_CHECKS).


def _used(name: str) -> None:
    # The test reports which exceptions the run needed (one line per use).
    log = os.environ.get("MODELSEC_FUZZ_EXCEPTIONS_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as fh:
            fh.write(name + "\n")


def _body(response: Any) -> Any:
    try:
        return json.loads(response.content or b"null")
    except ValueError:
        return None


def _prose_rule(case: Any, error: Any) -> bool:
    """Whether one 422 error entry enforces a rule the specs state only in prose."""
    if not isinstance(error, dict) or error.get("type") != "value_error":
        return False
    loc = error.get("loc") or []
    msg = str(error.get("msg", ""))
    op = f"{case.operation.method.upper()} {case.operation.path}"
    if op == "GET /v1/scans" and loc == ["query", "labels_query"]:
        # "labels_query: grammar key:value or key:*, joined by AND/OR, one level of
        # parentheses" - the spec types it as any string of at most 4096 characters.
        return _rule("labels_query grammar")
    if op == "POST /v1/security-groups" and loc[:2] == ["body", "rule_configurations"]:
        # "rule_configurations maps security-rule UUID -> {state, field_values}; field_values
        # values are lists of strings" - the spec has a free-form object (any key, any value).
        return _rule("rule_configurations keys")
    if op == _RULE_INSTANCE and loc[:2] == ["body", "field_values"]:
        # The same rule-configuration keys (a rule's editable fields) on a rule-instance update.
        return _rule("field_values keys")
    if op == _RULE_INSTANCE and loc == ["body", "security_group_uuid"] and "must match" in msg:
        # "A rule-instance update must repeat security_group_uuid in the body" - the group of
        # the path, which a schema cannot relate to a path parameter.
        return _rule("security_group_uuid repeats the path")
    if op == _LABELS and loc == ["body", "labels"] and "at most 50 labels" in msg:
        # "at most 50 per scan": merging labels into a scan's existing ones can pass 50, which
        # a request schema (maxItems of one request) cannot express.
        return _rule("50-label cap")
    if op in _VERSIONS and loc == ["query", "next_token"] and msg.endswith("invalid next_token"):
        # "cursor pagination: next_token": an opaque cursor, valid only as returned by the
        # previous page; the schema can only say "a string of at most 1024 characters".
        return _rule("next_token is an opaque cursor")
    if (
        op in _CUSTOM_RULE_WRITES
        and loc == ["body", "condition"]
        and msg.startswith("Value error, unknown rule_uuid ")
    ):
        # A rule_result condition refers to an existing rule (built-in or the tenant's own) by
        # UUID: referential integrity, which a request schema cannot express.
        return _rule("rule_result names an existing rule")
    return False


_VERSIONS = {
    "GET /v1/custom-rules/versions",
    "GET /v1/security-rules/versions",
    "GET /v1/security-groups/{security_group_uuid}/rule-instances/versions",
}
_CUSTOM_RULE_WRITES = {"POST /v1/custom-rules", "PUT /v1/custom-rules/{uuid}"}
_RULE_INSTANCE = "PUT /v1/security-groups/{security_group_uuid}/rule-instances/{rule_instance_uuid}"
_LABELS = "POST /v1/scans/{scan_uuid}/labels"
_SEEN: list[str] = []


def _rule(name: str) -> bool:
    _SEEN.append(name)
    return True


@schemathesis.check
def positive_data_acceptance_but_prose_rules(ctx: Any, response: Any, case: Any) -> bool | None:
    """``positive_data_acceptance``, except a 422 whose every error enforces a prose-only rule."""
    try:
        return builtin.positive_data_acceptance(ctx, response, case)
    except AssertionError:
        body = _body(response) if response.status_code == 422 else None
        detail = body.get("detail") if isinstance(body, dict) else None
        _SEEN.clear()
        if isinstance(detail, list) and detail and all(_prose_rule(case, e) for e in detail):
            for name in sorted(set(_SEEN)):
                _used(f"prose rule: {name}")
            return None
        raise


@schemathesis.check
def use_after_free_but_soft_delete(ctx: Any, response: Any, case: Any) -> bool | None:
    """``use_after_free``, except reading a deleted security group.

    "DELETE is a soft delete: the group leaves lists but can still be read (is_tombstone: true)".
    Only a 200 whose body says ``is_tombstone: true`` passes; a deleted group read back as live
    still fails.
    """
    try:
        return builtin.use_after_free(ctx, response, case)
    except AssertionError:
        body = _body(response)
        if (
            case.operation.path == "/v1/security-groups/{uuid}"
            and case.operation.method.lower() == "get"
            and response.status_code == 200
            and isinstance(body, dict)
            and body.get("is_tombstone") is True
        ):
            _used("soft delete: deleted group read with is_tombstone")
            return None
        raise


@schemathesis.check
def ensure_resource_availability_but_batch_errors(
    ctx: Any, response: Any, case: Any
) -> bool | None:
    """``ensure_resource_availability``, except an assignment the batch refused.

    ``POST /v1/custom-rules/{uuid}/security-groups`` answers 207 with one result per group;
    a row with ``status: error`` (unknown group, incompatible source type, archived rule)
    assigned nothing, so removing that assignment is rightly 404. A row that says
    ``created``/``updated`` followed by a 404 still fails.
    """
    try:
        return builtin.ensure_resource_availability(ctx, response, case)
    except AssertionError:
        parent = ctx.internals.find_parent(case_id=case.id)
        parent_response = ctx.internals.find_response(case_id=parent.id) if parent else None
        group = str((case.path_parameters or {}).get("security_group_uuid", "")).lower()
        body = _body(parent_response) if parent_response is not None else None
        rows = body.get("results") if isinstance(body, dict) else None
        if (
            parent is not None
            and parent_response is not None
            and parent.operation.path == "/v1/custom-rules/{uuid}/security-groups"
            and parent_response.status_code == 207
            and isinstance(rows, list)
            and any(
                isinstance(r, dict)
                and str(r.get("security_group_uuid", "")).lower() == group
                and r.get("status") == "error"
                for r in rows
            )
        ):
            _used("batch assignment: a refused row assigned nothing")
            return None
        raise


# A literal path of one operation that a template path of another operation also matches
# (spec inconsistency: "versions" is a valid segment for "{uuid}" as far as routing goes). As in
# FastAPI, where a full match beats a partial one, a method only the template declares is routed
# to the template's operation, which answers 422 for the segment that is not a UUID; the path's
# Allow therefore lists both operations' methods.
_OVERLAPS = {
    "/v1/custom-rules/versions": ("uuid", {"GET", "PUT"}),
    "/v1/security-groups/{security_group_uuid}/rule-instances/versions": (
        "rule_instance_uuid",
        {"GET", "PUT"},
    ),
}


@schemathesis.check
def unsupported_method_but_overlapping_paths(ctx: Any, response: Any, case: Any) -> bool | None:
    """``unsupported_method``, except a method routed to an overlapping template path."""
    try:
        return builtin.unsupported_method(ctx, response, case)
    except AssertionError:
        overlap = _OVERLAPS.get(case.operation.path)
        body = _body(response) if response.status_code == 422 else None
        detail = body.get("detail") if isinstance(body, dict) else None
        if (
            overlap is not None
            and str(response.request.method).upper() in overlap[1]
            and isinstance(detail, list)
            and any(
                isinstance(e, dict)
                and e.get("type") == "uuid_parsing"
                and e.get("loc") == ["path", overlap[0]]
                and e.get("input") == "versions"
                for e in detail
            )
        ):
            _used("overlapping paths: method routed to the template path")
            return None
        raise


@schemathesis.check
def allow_header_conformance_but_overlapping_paths(
    ctx: Any, response: Any, case: Any
) -> bool | None:
    """``allow_header_conformance``, except ``Allow`` of an overlapping path listing exactly
    the methods of both operations."""
    try:
        return builtin.allow_header_conformance(ctx, response, case)
    except AssertionError:
        overlap = _OVERLAPS.get(case.operation.path)
        allow = ", ".join(response.headers.get("allow") or [])
        advertised = {m.strip().upper() for m in allow.split(",") if m.strip()}
        if overlap is not None and advertised == overlap[1]:
            _used("overlapping paths: Allow lists both operations' methods")
            return None
        raise
