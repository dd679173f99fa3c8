"""Management plane: custom rules, their archive state and their group assignments.

Example:
    >>> sorted(HANDLERS)[:3]
    ['archive_custom_rule', 'assign_custom_rule_security_groups', 'create_custom_rule']
"""

from __future__ import annotations

import uuid as _uuid
from collections.abc import Mapping
from typing import Any

from modelsec.emulator.handlers.common import (
    Ctx,
    Handler,
    by_time,
    custom_rule,
    not_found,
    page,
    pagination,
    value_error,
    versions_page,
)
from modelsec.emulator.store import CustomRule, new_uuid, utcnow
from modelsec.policy.catalog import rule_by_uuid

__all__ = ["HANDLERS"]


def _check_condition(ctx: Ctx, cond: Any) -> None:
    # A rule_result condition must name a rule that exists (built-in or the tenant's own).
    if not isinstance(cond, Mapping):
        return
    if cond.get("type") == "rule_result":
        ref = str(cond.get("rule_uuid", "")).lower()
        if rule_by_uuid(ref) is None and ref not in ctx.tenant.custom_rules:
            raise value_error(["body", "condition"], f"unknown rule_uuid {ref}", cond)
    for sub in cond.get("conditions") or []:
        _check_condition(ctx, sub)


def _who(ctx: Ctx) -> str:
    return str(_uuid.uuid5(_uuid.NAMESPACE_URL, f"client:{ctx.client_id}"))


async def list_custom_rules(ctx: Ctx) -> tuple[int, Any]:
    """``GET /v1/custom-rules``."""
    p = ctx.params
    rules = list(ctx.tenant.custom_rules.values())
    if p.get("is_archived") is not None:
        rules = [r for r in rules if r.is_archived == p["is_archived"]]
    if p.get("search_query"):
        q = p["search_query"].lower()
        rules = [r for r in rules if q in r.data["name"].lower() or q in r.uuid]
    if p.get("source_type"):
        st = p["source_type"]
        rules = [
            r
            for r in rules
            if st == "ALL"
            or "ALL" in r.data["compatible_sources"]
            or st in r.data["compatible_sources"]
        ]
    rules = by_time(rules)
    return 200, {
        "pagination": pagination(len(rules)),
        "custom_rules": [r.wire(list_item=True) for r in page(rules, p["skip"], p["limit"])],
    }


async def create_custom_rule(ctx: Ctx) -> tuple[int, Any]:
    """``POST /v1/custom-rules``."""
    _check_condition(ctx, ctx.body.get("condition"))
    data = dict(ctx.body)
    data.setdefault("rule_action", "FAIL")
    who = _who(ctx)
    rule = CustomRule(uuid=new_uuid(), tsg_id=ctx.tsg_id, data=data, created_by=who, updated_by=who)
    ctx.tenant.custom_rules[rule.uuid] = rule
    ctx.tenant.bump_custom_rules()
    return 201, rule.wire()


async def get_custom_rule(ctx: Ctx) -> tuple[int, Any]:
    """``GET /v1/custom-rules/{uuid}``."""
    return 200, custom_rule(ctx, ctx.params["uuid"]).wire()


async def update_custom_rule(ctx: Ctx) -> tuple[int, Any]:
    """``PUT /v1/custom-rules/{uuid}``: the fields given (not null) replace the stored ones."""
    rule = custom_rule(ctx, ctx.params["uuid"])
    _check_condition(ctx, ctx.body.get("condition"))
    for k, v in ctx.body.items():
        if v is not None:
            rule.data[k] = v
    rule.updated_at = utcnow()
    rule.updated_by = _who(ctx)
    ctx.tenant.bump_custom_rules()
    return 200, rule.wire()


def _set_archived(ctx: Ctx, value: bool) -> tuple[int, Any]:
    rule = custom_rule(ctx, ctx.params["uuid"])
    rule.is_archived = value
    rule.updated_at = utcnow()
    ctx.tenant.bump_custom_rules()
    return 200, rule.wire()


async def archive_custom_rule(ctx: Ctx) -> tuple[int, Any]:
    """``POST /v1/custom-rules/{uuid}/archive``."""
    return _set_archived(ctx, True)


async def unarchive_custom_rule(ctx: Ctx) -> tuple[int, Any]:
    """``POST /v1/custom-rules/{uuid}/unarchive``."""
    return _set_archived(ctx, False)


async def list_custom_rule_versions(ctx: Ctx) -> tuple[int, Any]:
    """``GET /v1/custom-rules/versions``: the tenant's custom-rule snapshot generations."""
    return versions_page(ctx, ctx.tenant.custom_rule_versions)


async def list_custom_rule_security_groups(ctx: Ctx) -> tuple[int, Any]:
    """``GET /v1/custom-rules/{uuid}/security-groups``: live groups the rule is assigned to."""
    p = ctx.params
    rule = custom_rule(ctx, p["uuid"])
    rows = []
    for guuid, (_, state) in rule.assignments.items():
        g = ctx.tenant.groups.get(guuid)
        if g is None or g.is_tombstone:
            continue
        rows.append(
            {"uuid": g.uuid, "name": g.name, "source_type": g.source_type, "rule_state": state}
        )
    return 200, {
        "pagination": pagination(len(rows)),
        "security_groups": page(rows, p["skip"], p["limit"]),
    }


async def assign_custom_rule_security_groups(ctx: Ctx) -> tuple[int, Any]:
    """``POST /v1/custom-rules/{uuid}/security-groups``: 207 with one result per assignment."""
    rule = custom_rule(ctx, ctx.params["uuid"])
    results = []
    sources = rule.data["compatible_sources"]
    for a in ctx.body["assignments"]:
        guuid = str(_uuid.UUID(a["security_group_uuid"]))
        g = ctx.tenant.groups.get(guuid)
        row: dict[str, Any] = {"security_group_uuid": guuid}
        if g is None or g.is_tombstone:
            row.update(status="error", error="Security group not found", rule_instance_uuid=None)
        elif "ALL" not in sources and g.source_type not in sources and g.source_type != "ALL":
            row.update(
                status="error",
                error=f"Custom rule is not compatible with source type {g.source_type}",
                rule_instance_uuid=None,
            )
        elif rule.is_archived:
            row.update(status="error", error="Custom rule is archived", rule_instance_uuid=None)
        else:
            existing = rule.assignments.get(guuid)
            ri_uuid = existing[0] if existing else new_uuid()
            rule.assignments[guuid] = (ri_uuid, a["state"])
            g.bump()
            row.update(
                status="updated" if existing else "created",
                error=None,
                rule_instance_uuid=ri_uuid,
            )
        results.append(row)
    ctx.tenant.bump_custom_rules()
    return 207, {"results": results}


async def remove_custom_rule_assignment(ctx: Ctx) -> tuple[int, Any]:
    """``DELETE /v1/custom-rules/{uuid}/security-groups/{security_group_uuid}``."""
    rule = custom_rule(ctx, ctx.params["uuid"])
    guuid = ctx.params["security_group_uuid"]
    if guuid not in rule.assignments:
        raise not_found("Assignment")
    del rule.assignments[guuid]
    g = ctx.tenant.groups.get(guuid)
    if g is not None:
        g.bump()
    ctx.tenant.bump_custom_rules()
    return 204, None


HANDLERS: dict[str, Handler] = {
    "list_custom_rules": list_custom_rules,
    "create_custom_rule": create_custom_rule,
    "get_custom_rule": get_custom_rule,
    "update_custom_rule": update_custom_rule,
    "archive_custom_rule": archive_custom_rule,
    "unarchive_custom_rule": unarchive_custom_rule,
    "list_custom_rule_versions": list_custom_rule_versions,
    "list_custom_rule_security_groups": list_custom_rule_security_groups,
    "assign_custom_rule_security_groups": assign_custom_rule_security_groups,
    "remove_custom_rule_assignment": remove_custom_rule_assignment,
}
