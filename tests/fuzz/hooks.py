"""Schemathesis hooks for the emulator's fuzz run (loaded in the fuzzer's process through
``SCHEMATHESIS_HOOKS=tests.fuzz.hooks``).

Two built-in checks are replaced by wrappers that let through exactly one kind of answer each,
where the vendor's specs say less than the service does (see ``tests/fuzz/spec_gaps.py`` for the
gaps closed by amending the specs instead). Everything else the built-in check reports still fails
the run. Each exception cites the line of ``CONTRACT.md`` ("Facts the specs do not make obvious")
that states the rule the specs leave to prose.
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
    return False


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
