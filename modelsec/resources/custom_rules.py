"""``client.custom_rules``: tenant-defined rules and their group assignments (management plane)."""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from modelsec.config import Timeouts
from modelsec.core.pagination import AsyncCursorPaginator, AsyncPaginator
from modelsec.core.transport import encode_path
from modelsec.errors import PayloadError, ResponseValidationError
from modelsec.resources._base import AsyncResource
from modelsec.resources._validate import (
    check_choice,
    check_limit,
    check_skip,
    check_strings,
    check_text,
    check_uuid,
)
from modelsec.resources.security_rules import _versions_paginator
from modelsec.types import (
    CompoundCondition,
    CustomRule,
    CustomRuleAssignment,
    CustomRuleAssignResponse,
    CustomRuleCondition,
    CustomRuleList,
    CustomRuleSecurityGroup,
    CustomRuleSecurityGroupList,
    LabelCondition,
    RuleResultCondition,
    RuleState,
    SnapshotVersion,
    SnapshotVersionList,
    SourceType,
)
from modelsec.types._base import converter

__all__ = ["AsyncCustomRules"]

_ACTIONS = ["FAIL", "PASS"]


def _check_condition(
    condition: CustomRuleCondition | Mapping[str, Any], depth: int = 0
) -> dict[str, Any]:
    """Validate a condition tree and return its wire form."""
    if isinstance(condition, Mapping):
        try:
            condition = converter.structure(dict(condition), CustomRuleCondition)  # type: ignore[arg-type]
        except Exception as exc:
            raise PayloadError(f"invalid custom-rule condition: {exc}") from None
    if depth > 16:
        raise PayloadError("custom-rule condition nested too deeply")
    if isinstance(condition, LabelCondition):
        check_text("condition key", condition.key, min_len=1, max_len=255)
        check_choice(
            "condition operator",
            condition.operator,
            ["equals", "not_equals", "exists", "not_exists"],
        )
        if condition.operator in ("equals", "not_equals") and condition.value is None:
            raise PayloadError(
                f"a label condition with operator {condition.operator!r} needs a value"
            )
        check_text("condition value", condition.value, max_len=1024)
        return condition.to_dict(exclude_none=True)
    if isinstance(condition, RuleResultCondition):
        check_uuid("condition rule_uuid", condition.rule_uuid)
        check_choice("condition value", condition.value, ["PASSED", "FAILED"])
        check_choice("condition operator", condition.operator, ["equals"])
        return condition.to_dict(exclude_none=True)
    if isinstance(condition, CompoundCondition):
        check_choice("condition operator", condition.operator, ["and", "or"])
        if len(condition.conditions) < 2:
            raise PayloadError("an and/or condition needs at least two conditions")
        return {
            "operator": condition.operator,
            "conditions": [_check_condition(c, depth + 1) for c in condition.conditions],
        }
    raise PayloadError(f"unsupported condition type {type(condition).__name__}")


class AsyncCustomRules(AsyncResource):
    """Custom rules: conditions on labels and other rules' results, assigned to groups.

    Example:
        >>> async def example(client):
        ...     rule = await client.custom_rules.create(
        ...         name="prod needs owner", compatible_sources=["LOCAL"],
        ...         condition=LabelCondition(key="owner", operator="exists"),
        ...         violation_message="production models need an owner label")
    """

    _plane = "mgmt"

    async def create(
        self,
        *,
        name: str,
        compatible_sources: Iterable[SourceType | str],
        condition: CustomRuleCondition | Mapping[str, Any],
        violation_message: str,
        description: str | None = None,
        remediation_message: str | None = None,
        rule_action: str | None = None,
        timeout: float | Timeouts | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> CustomRule:
        """Create a custom rule (``POST /v1/custom-rules``); never retried after it may have acted.

        Example:
            >>> async def example(client):
            ...     await client.custom_rules.create(name="x", compatible_sources=["LOCAL"],
            ...         condition={"type": "label", "key": "env", "operator": "exists"},
            ...         violation_message="env label required")
        """
        sources = check_strings("compatible_sources", compatible_sources) or []
        if not sources:
            raise PayloadError("compatible_sources must name at least one source type")
        for s in sources:
            check_choice("compatible_sources entry", s, [t.value for t in SourceType])
        body: dict[str, Any] = {
            "name": check_text("name", name, min_len=1, max_len=255),
            "compatible_sources": sources,
            "condition": _check_condition(condition),
            "violation_message": check_text(
                "violation_message", violation_message, min_len=1, max_len=4096
            ),
        }
        if description is not None:
            body["description"] = check_text("description", description, max_len=1000)
        if remediation_message is not None:
            body["remediation_message"] = check_text(
                "remediation_message", remediation_message, max_len=4096
            )
        if rule_action is not None:
            body["rule_action"] = check_choice("rule_action", rule_action, _ACTIONS)
        return await self._call(
            "POST",
            "/v1/custom-rules",
            CustomRule,
            body=body,
            replayable=False,
            timeout=timeout,
            extra_headers=extra_headers,
        )

    def list(
        self,
        *,
        skip: int = 0,
        limit: int = 100,
        max_items: int | None = None,
        timeout: float | Timeouts | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> AsyncPaginator[CustomRuleList, CustomRule]:
        """List custom rules (``GET /v1/custom-rules``).

        Example:
            >>> async def example(client):
            ...     rules = [r async for r in client.custom_rules.list()]
        """
        check_skip(skip)
        check_limit(limit)

        return self._paginate(
            "/v1/custom-rules",
            CustomRuleList,
            _rules_of,
            None,
            skip=skip,
            limit=limit,
            max_items=max_items,
            timeout=timeout,
            extra_headers=extra_headers,
        )

    async def get(
        self,
        uuid: str,
        *,
        timeout: float | Timeouts | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> CustomRule:
        """One custom rule by UUID.

        Example:
            >>> async def example(client):
            ...     rule = await client.custom_rules.get(rule_uuid)
        """
        path = encode_path("/v1/custom-rules/{uuid}", uuid=check_uuid("uuid", uuid))
        return await self._call(
            "GET", path, CustomRule, timeout=timeout, extra_headers=extra_headers
        )

    async def update(
        self,
        uuid: str,
        *,
        name: str | None = None,
        description: str | None = None,
        condition: CustomRuleCondition | Mapping[str, Any] | None = None,
        violation_message: str | None = None,
        remediation_message: str | None = None,
        rule_action: str | None = None,
        timeout: float | Timeouts | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> CustomRule:
        """Change the given fields of a custom rule (``PUT /v1/custom-rules/{uuid}``).

        Example:
            >>> async def example(client):
            ...     await client.custom_rules.update(rule_uuid, rule_action="PASS")
        """
        path = encode_path("/v1/custom-rules/{uuid}", uuid=check_uuid("uuid", uuid))
        body: dict[str, Any] = {}
        if name is not None:
            body["name"] = check_text("name", name, min_len=1, max_len=255)
        if description is not None:
            body["description"] = check_text("description", description, max_len=1000)
        if condition is not None:
            body["condition"] = _check_condition(condition)
        if violation_message is not None:
            body["violation_message"] = check_text(
                "violation_message", violation_message, min_len=1, max_len=4096
            )
        if remediation_message is not None:
            body["remediation_message"] = check_text(
                "remediation_message", remediation_message, max_len=4096
            )
        if rule_action is not None:
            body["rule_action"] = check_choice("rule_action", rule_action, _ACTIONS)
        if not body:
            raise PayloadError("give at least one field to update")
        return await self._call(
            "PUT", path, CustomRule, body=body, timeout=timeout, extra_headers=extra_headers
        )

    async def archive(
        self,
        uuid: str,
        *,
        timeout: float | Timeouts | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> CustomRule | None:
        """Archive a custom rule (it stops applying; ``POST .../archive``).

        Example:
            >>> async def example(client):
            ...     await client.custom_rules.archive(rule_uuid)
        """
        return await self._toggle(uuid, "archive", timeout, extra_headers)

    async def unarchive(
        self,
        uuid: str,
        *,
        timeout: float | Timeouts | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> CustomRule | None:
        """Bring an archived custom rule back (``POST .../unarchive``).

        Example:
            >>> async def example(client):
            ...     await client.custom_rules.unarchive(rule_uuid)
        """
        return await self._toggle(uuid, "unarchive", timeout, extra_headers)

    async def _toggle(
        self,
        uuid: str,
        action: str,
        timeout: float | Timeouts | None,
        extra_headers: Mapping[str, str] | None,
    ) -> CustomRule | None:
        path = encode_path("/v1/custom-rules/{uuid}/" + action, uuid=check_uuid("uuid", uuid))
        # Archiving twice leaves the same state: safe to retry.
        data = await self._call(
            "POST", path, None, replayable=True, timeout=timeout, extra_headers=extra_headers
        )
        if not data:
            return None
        try:
            return CustomRule.from_dict(data)
        except ResponseValidationError:
            if isinstance(data, Mapping) and isinstance(data.get("custom_rule"), Mapping):
                return CustomRule.from_dict(data["custom_rule"])
            raise

    def list_security_groups(
        self,
        uuid: str,
        *,
        skip: int = 0,
        limit: int = 100,
        max_items: int | None = None,
        timeout: float | Timeouts | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> AsyncPaginator[CustomRuleSecurityGroupList, CustomRuleSecurityGroup]:
        """Groups the custom rule is assigned to, with its state in each.

        Example:
            >>> async def example(client):
            ...     groups = await client.custom_rules.list_security_groups(rule_uuid)
        """
        path = encode_path("/v1/custom-rules/{uuid}/security-groups", uuid=check_uuid("uuid", uuid))
        check_skip(skip)
        check_limit(limit)

        return self._paginate(
            path,
            CustomRuleSecurityGroupList,
            _groups_of,
            None,
            skip=skip,
            limit=limit,
            max_items=max_items,
            timeout=timeout,
            extra_headers=extra_headers,
        )

    async def assign_security_groups(
        self,
        uuid: str,
        assignments: Sequence[CustomRuleAssignment | Mapping[str, Any]]
        | Mapping[str, RuleState | str],
        *,
        timeout: float | Timeouts | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> CustomRuleAssignResponse:
        """Assign the rule to 1..50 groups at once, each with a state.

        ``assignments`` is ``{group_uuid: "BLOCKING", ...}`` or a list of
        ``CustomRuleAssignment``/``{security_group_uuid, state}``.

        Example:
            >>> async def example(client):
            ...     await client.custom_rules.assign_security_groups(
            ...         rule_uuid, {group_uuid: "BLOCKING"})
        """
        path = encode_path("/v1/custom-rules/{uuid}/security-groups", uuid=check_uuid("uuid", uuid))
        items: list[dict[str, Any]] = []
        if isinstance(assignments, Mapping):
            pairs: list[tuple[Any, Any]] = list(assignments.items())
        else:
            pairs = []
            for a in assignments:
                if isinstance(a, CustomRuleAssignment):
                    pairs.append((a.security_group_uuid, a.state))
                elif isinstance(a, Mapping):
                    pairs.append((a.get("security_group_uuid"), a.get("state")))
                else:
                    raise PayloadError(
                        "assignments entries must be CustomRuleAssignment or mappings"
                    )
        for group, state in pairs:
            items.append(
                {
                    "security_group_uuid": check_uuid("security_group_uuid", group),
                    "state": check_choice("state", state, [s.value for s in RuleState]),
                }
            )
        if not 1 <= len(items) <= 50:
            raise PayloadError(f"assign 1..50 security groups at once, got {len(items)}")
        return await self._call(
            "POST",
            path,
            CustomRuleAssignResponse,
            body={"assignments": items},
            replayable=True,
            timeout=timeout,
            extra_headers=extra_headers,
        )

    async def remove_assignment(
        self,
        uuid: str,
        security_group_uuid: str,
        *,
        timeout: float | Timeouts | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> None:
        """Unassign the rule from one group.

        Example:
            >>> async def example(client):
            ...     await client.custom_rules.remove_assignment(rule_uuid, group_uuid)
        """
        path = encode_path(
            "/v1/custom-rules/{uuid}/security-groups/{sg}",
            uuid=check_uuid("uuid", uuid),
            sg=check_uuid("security_group_uuid", security_group_uuid),
        )
        await self._call("DELETE", path, None, timeout=timeout, extra_headers=extra_headers)

    def list_versions(
        self,
        *,
        next_token: str | None = None,
        limit: int | None = None,
        timeout: float | Timeouts | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> AsyncCursorPaginator[SnapshotVersionList, SnapshotVersion]:
        """Snapshot generations of the tenant's custom rules (cursor paged).

        Example:
            >>> async def example(client):
            ...     async for v in client.custom_rules.list_versions():
            ...         print(v.generation, v.timestamp)
        """
        if limit is not None:
            check_limit(limit)
        return _versions_paginator(
            self, "/v1/custom-rules/versions", next_token, limit, timeout, extra_headers
        )


def _rules_of(page: CustomRuleList) -> builtins.list[CustomRule]:
    return page.custom_rules


def _groups_of(page: CustomRuleSecurityGroupList) -> builtins.list[CustomRuleSecurityGroup]:
    return page.security_groups
