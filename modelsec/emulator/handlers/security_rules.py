"""Management plane: the built-in security rule catalog.

Example:
    >>> sorted(HANDLERS)
    ['get_security_rule', 'list_security_rule_versions', 'list_security_rules']
"""

from __future__ import annotations

from typing import Any

from modelsec.emulator.handlers.common import (
    Ctx,
    Handler,
    not_found,
    page,
    pagination,
    versions_page,
)
from modelsec.policy.catalog import BUILTIN_RULES, rule_by_uuid

__all__ = ["HANDLERS"]


async def list_security_rules(ctx: Ctx) -> tuple[int, Any]:
    """``GET /v1/security-rules``."""
    p = ctx.params
    rules = list(BUILTIN_RULES)
    if p.get("source_type"):
        rules = [r for r in rules if r.applies_to(p["source_type"])]
    if p.get("search_query"):
        q = p["search_query"].lower()
        rules = [r for r in rules if q in r.name.lower() or q in r.uuid]
    return 200, {
        "pagination": pagination(len(rules)),
        "rules": [r.to_dict() for r in page(rules, p["skip"], p["limit"])],
    }


async def get_security_rule(ctx: Ctx) -> tuple[int, Any]:
    """``GET /v1/security-rules/{uuid}``."""
    r = rule_by_uuid(ctx.params["uuid"])
    if r is None:
        raise not_found("Security rule")
    return 200, r.to_dict()


async def list_security_rule_versions(ctx: Ctx) -> tuple[int, Any]:
    """``GET /v1/security-rules/versions``: one generation, from the start of the service."""
    return versions_page(ctx, [(1, ctx.service.store.started_at)])


HANDLERS: dict[str, Handler] = {
    "list_security_rules": list_security_rules,
    "get_security_rule": get_security_rule,
    "list_security_rule_versions": list_security_rule_versions,
}
