"""Management plane: security groups and their rule instances.

Example:
    >>> sorted(HANDLERS)[:3]
    ['create_security_group', 'delete_security_group', 'get_rule_instance']
"""

from __future__ import annotations

import datetime as _dt
import uuid as _uuid
from typing import Any

from modelsec.emulator.handlers.common import (
    Ctx,
    Handler,
    HttpError,
    by_time,
    check_field_values,
    group,
    is_uuid,
    not_found,
    page,
    pagination,
    value_error,
    versions_page,
)
from modelsec.emulator.store import Group, RuleInst, utcnow
from modelsec.policy.catalog import rule_by_uuid

__all__ = ["HANDLERS"]


async def list_security_groups(ctx: Ctx) -> tuple[int, Any]:
    """``GET /v1/security-groups`` (live groups only)."""
    p = ctx.params
    groups = [g for g in ctx.tenant.groups.values() if not g.is_tombstone]
    if p.get("source_types"):
        groups = [g for g in groups if g.source_type in p["source_types"]]
    if p.get("search_query"):
        q = p["search_query"].lower()
        groups = [g for g in groups if q in g.name.lower() or q in g.uuid]
    if p.get("enabled_rules"):
        want = set(p["enabled_rules"])

        def enabled(g: Group) -> bool:
            on = {
                ri.rule.uuid
                for ri in ctx.tenant.group_rule_instances(g.uuid)
                if ri.state != "DISABLED"
            }
            on |= {
                c.uuid
                for c in ctx.tenant.custom_rules.values()
                if g.uuid in c.assignments and c.assignments[g.uuid][1] != "DISABLED"
            }
            return want <= on

        groups = [g for g in groups if enabled(g)]
    groups = by_time(groups, p.get("sort_field") or "created_at", p.get("sort_dir") != "asc")
    return 200, {
        "pagination": pagination(len(groups)),
        "security_groups": [g.wire() for g in page(groups, p["skip"], p["limit"])],
    }


async def create_security_group(ctx: Ctx) -> tuple[int, Any]:
    """``POST /v1/security-groups``: PENDING for ``activation_delay``, then ACTIVE."""
    body = ctx.body
    source = body["source_type"]
    confs: dict[str, Any] = {}
    for key, conf in (body.get("rule_configurations") or {}).items():
        loc = ["body", "rule_configurations", key]
        rule = rule_by_uuid(key) if is_uuid(key) else None
        if rule is None:
            raise value_error(loc, f"unknown security rule {key}", key)
        if not rule.applies_to(source):
            raise value_error(loc, f"rule '{rule.name}' does not apply to {source}", key)
        check_field_values(rule, conf.get("field_values"), [*loc, "field_values"])
        confs[rule.uuid] = conf
    for g in ctx.tenant.groups.values():
        if not g.is_tombstone and g.name == body["name"]:
            raise HttpError(409, f"A security group named '{body['name']}' already exists")
    created = ctx.tenant.add_group(
        body["name"],
        source,
        body.get("description") or "",
        active_at=utcnow() + _dt.timedelta(seconds=ctx.service.config.activation_delay),
        rule_configurations=confs,
    )
    return 201, created.wire()


async def get_security_group(ctx: Ctx) -> tuple[int, Any]:
    """``GET /v1/security-groups/{uuid}`` (deleted groups too, with ``is_tombstone``)."""
    return 200, group(ctx, ctx.params["uuid"]).wire()


async def update_security_group(ctx: Ctx) -> tuple[int, Any]:
    """``PUT /v1/security-groups/{uuid}``: name and description."""
    g = group(ctx, ctx.params["uuid"], live=True)
    if ctx.body.get("name") is not None:
        name = ctx.body["name"]
        for other in ctx.tenant.groups.values():
            if other is not g and not other.is_tombstone and other.name == name:
                raise HttpError(409, f"A security group named '{name}' already exists")
        g.name = name
    if ctx.body.get("description") is not None:
        g.description = ctx.body["description"]
    g.updated_at = utcnow()
    return 200, g.wire()


async def delete_security_group(ctx: Ctx) -> tuple[int, Any]:
    """``DELETE /v1/security-groups/{uuid}``: a soft delete (``is_tombstone``)."""
    g = group(ctx, ctx.params["uuid"], live=True)
    g.is_tombstone = True
    g.updated_at = utcnow()
    return 204, None


async def list_rule_instances(ctx: Ctx) -> tuple[int, Any]:
    """``GET /v1/security-groups/{security_group_uuid}/rule-instances``."""
    p = ctx.params
    g = group(ctx, p["security_group_uuid"])
    ris = ctx.tenant.group_rule_instances(g.uuid)
    if p.get("security_rule_uuid"):
        ris = [ri for ri in ris if ri.rule.uuid == p["security_rule_uuid"]]
    if p.get("state"):
        ris = [ri for ri in ris if ri.state == p["state"]]
    return 200, {
        "pagination": pagination(len(ris)),
        "rule_instances": [ri.wire() for ri in page(ris, p["skip"], p["limit"])],
    }


def _rule_instance(ctx: Ctx) -> tuple[Group, RuleInst]:
    p = ctx.params
    g = group(ctx, p["security_group_uuid"])
    ri = ctx.tenant.rule_instances.get(p["rule_instance_uuid"])
    if ri is None or ri.group_uuid != g.uuid:
        raise not_found("Rule instance")
    return g, ri


async def get_rule_instance(ctx: Ctx) -> tuple[int, Any]:
    """``GET .../rule-instances/{rule_instance_uuid}``."""
    return 200, _rule_instance(ctx)[1].wire()


async def update_rule_instance(ctx: Ctx) -> tuple[int, Any]:
    """``PUT .../rule-instances/{rule_instance_uuid}``: state and field values."""
    g, ri = _rule_instance(ctx)
    if g.is_tombstone:
        raise not_found("Security group")
    body = ctx.body
    if str(_uuid.UUID(body["security_group_uuid"])) != g.uuid:
        raise value_error(
            ["body", "security_group_uuid"],
            "security_group_uuid must match the security group in the path",
            body["security_group_uuid"],
        )
    fv = body.get("field_values")
    check_field_values(ri.rule, fv, ["body", "field_values"])
    if body.get("state") is not None:
        ri.state = body["state"]
    if fv:
        for k, v in fv.items():
            ri.field_values[k] = [str(x) for x in v]
    ri.updated_at = utcnow()
    g.bump()
    return 200, ri.wire()


async def list_rule_instance_versions(ctx: Ctx) -> tuple[int, Any]:
    """``GET .../rule-instances/versions``: the group's snapshot generations."""
    g = group(ctx, ctx.params["security_group_uuid"])
    return versions_page(ctx, g.versions)


HANDLERS: dict[str, Handler] = {
    "list_security_groups": list_security_groups,
    "create_security_group": create_security_group,
    "get_security_group": get_security_group,
    "update_security_group": update_security_group,
    "delete_security_group": delete_security_group,
    "list_rule_instances": list_rule_instances,
    "get_rule_instance": get_rule_instance,
    "update_rule_instance": update_rule_instance,
    "list_rule_instance_versions": list_rule_instance_versions,
}
