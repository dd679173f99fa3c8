"""``client.security_groups``: scan policies and their rule instances (management plane)."""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from modelsec.config import Timeouts
from modelsec.core.pagination import AsyncCursorPaginator, AsyncPaginator
from modelsec.core.polling import poll_until
from modelsec.core.transport import encode_path
from modelsec.errors import PayloadError, WaitTimeoutError
from modelsec.resources._base import AsyncResource
from modelsec.resources._validate import (
    check_choice,
    check_limit,
    check_skip,
    check_strings,
    check_text,
    check_uuid,
    check_uuids,
)
from modelsec.resources.security_rules import _versions_paginator
from modelsec.types import (
    RuleConfiguration,
    RuleInstance,
    RuleInstanceList,
    RuleState,
    SecurityGroup,
    SecurityGroupList,
    SnapshotVersion,
    SnapshotVersionList,
    SortByDateField,
    SortDirection,
    SourceType,
)

__all__ = ["AsyncSecurityGroups", "FieldValues"]

FieldValues = Mapping[str, Sequence[str]]
"""Rule field values, e.g. ``{"approved_formats": ["safetensors", "onnx"]}``."""

_STATES = [s.value for s in RuleState]


def _check_field_values(name: str, values: FieldValues | None) -> dict[str, list[str]] | None:
    if values is None:
        return None
    if not isinstance(values, Mapping):
        raise PayloadError(f"{name} must be a mapping of field name to a list of strings")
    out: dict[str, list[str]] = {}
    for key, items in values.items():
        key = getattr(key, "value", key)
        if not isinstance(key, str) or not key:
            raise PayloadError(f"{name} keys must be non-empty strings")
        checked = check_strings(f"{name}[{key!r}]", items)
        assert checked is not None
        out[key] = checked
    return out


class AsyncSecurityGroups(AsyncResource):
    """Security groups: a policy per source type, made of rule instances.

    Example:
        >>> async def example(client):
        ...     group = await client.security_groups.create(name="hf-strict",
        ...         source_type="HUGGING_FACE", description="Block unsafe Hugging Face models")
    """

    _plane = "mgmt"

    async def create(
        self,
        *,
        name: str,
        source_type: SourceType | str,
        description: str | None = None,
        rule_configurations: Mapping[str, RuleConfiguration | Mapping[str, Any]] | None = None,
        timeout: float | Timeouts | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> SecurityGroup:
        """Create a group (``POST /v1/security-groups``); it is ``PENDING`` until active.

        ``rule_configurations`` maps security-rule UUIDs to ``{state, field_values}``.
        Never retried where the service may have acted (it would create a duplicate).

        Example:
            >>> async def example(client):
            ...     group = await client.security_groups.create(
            ...         name="local-strict", source_type="LOCAL",
            ...         rule_configurations={rule_uuid: {"state": "BLOCKING"}})
        """
        body: dict[str, Any] = {
            "name": check_text("name", name, min_len=1, max_len=255),
            "source_type": check_choice("source_type", source_type, [s.value for s in SourceType]),
        }
        if description is not None:
            body["description"] = check_text("description", description, max_len=1000)
        if rule_configurations is not None:
            configs: dict[str, Any] = {}
            for rule_uuid, config in rule_configurations.items():
                key = check_uuid("rule_configurations key", rule_uuid)
                if isinstance(config, RuleConfiguration):
                    raw: Mapping[str, Any] = config.to_dict(exclude_none=True)
                elif isinstance(config, Mapping):
                    raw = config
                else:
                    raise PayloadError(
                        "rule_configurations values must be RuleConfiguration or mappings"
                    )
                unknown = set(raw) - {"state", "field_values"}
                if unknown:
                    raise PayloadError(f"unknown rule configuration fields: {sorted(unknown)}")
                entry: dict[str, Any] = {}
                if raw.get("state") is not None:
                    entry["state"] = check_choice("state", raw["state"], _STATES)
                fv = _check_field_values("field_values", raw.get("field_values"))
                if fv is not None:
                    entry["field_values"] = fv
                configs[key] = entry
            body["rule_configurations"] = configs
        return await self._call(
            "POST",
            "/v1/security-groups",
            SecurityGroup,
            body=body,
            replayable=False,
            timeout=timeout,
            extra_headers=extra_headers,
        )

    async def wait_active(
        self,
        uuid: str,
        *,
        timeout: float | None = 120.0,
        poll_interval: float | None = None,
    ) -> SecurityGroup:
        """Poll a new group until it is ``ACTIVE`` and return it.

        Raises:
            WaitTimeoutError: the group was still not active after ``timeout`` seconds
                (``err.last`` is the last state seen).

        Example:
            >>> async def example(client):
            ...     group = await client.security_groups.create(name="g", source_type="LOCAL")
            ...     group = await client.security_groups.wait_active(group.uuid)
        """
        group_uuid = check_uuid("uuid", uuid)
        if timeout is not None and timeout <= 0:
            raise PayloadError(f"timeout must be > 0 seconds (or None), got {timeout!r}")
        if poll_interval is not None and poll_interval <= 0:
            raise PayloadError(f"poll_interval must be > 0 seconds, got {poll_interval!r}")

        async def fetch(remaining: float | None) -> SecurityGroup:
            return await self.get(group_uuid, timeout=remaining)

        return await poll_until(
            fetch,
            _group_active,
            timeout=timeout,
            poll_interval=poll_interval,
            sleep=self._transport.sleep,
            rand=self._transport.rand,
            describe=lambda g: f"security group {g.uuid} is still {g.state}",
            error=WaitTimeoutError,
        )

    def list(
        self,
        *,
        skip: int = 0,
        limit: int = 100,
        sort_field: SortByDateField | str | None = None,
        sort_dir: SortDirection | str | None = None,
        source_types: Iterable[SourceType | str] | None = None,
        search_query: str | None = None,
        enabled_rules: Iterable[str] | None = None,
        max_items: int | None = None,
        timeout: float | Timeouts | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> AsyncPaginator[SecurityGroupList, SecurityGroup]:
        """List groups (``GET /v1/security-groups``); deleted groups are not listed.

        Example:
            >>> async def example(client):
            ...     page = await client.security_groups.list(source_types=["HUGGING_FACE"])
        """
        check_skip(skip)
        check_limit(limit)
        params: dict[str, Any] = {
            "sort_field": check_choice(
                "sort_field", sort_field, [f.value for f in SortByDateField]
            ),
            "sort_dir": check_choice("sort_dir", sort_dir, [d.value for d in SortDirection]),
            "source_types": check_strings("source_types", source_types),
            "search_query": check_text("search_query", search_query, min_len=3, max_len=1000),
            "enabled_rules": check_uuids("enabled_rules", enabled_rules),
        }

        return self._paginate(
            "/v1/security-groups",
            SecurityGroupList,
            _groups_of,
            params,
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
    ) -> SecurityGroup:
        """One group by UUID; a deleted group is still readable (``is_tombstone``).

        Example:
            >>> async def example(client):
            ...     group = await client.security_groups.get(group_uuid)
        """
        path = encode_path("/v1/security-groups/{uuid}", uuid=check_uuid("uuid", uuid))
        return await self._call(
            "GET", path, SecurityGroup, timeout=timeout, extra_headers=extra_headers
        )

    async def update(
        self,
        uuid: str,
        *,
        name: str | None = None,
        description: str | None = None,
        timeout: float | Timeouts | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> SecurityGroup:
        """Rename or re-describe a group (``PUT /v1/security-groups/{uuid}``).

        Example:
            >>> async def example(client):
            ...     await client.security_groups.update(group_uuid, name="prod-v2")
        """
        path = encode_path("/v1/security-groups/{uuid}", uuid=check_uuid("uuid", uuid))
        body: dict[str, Any] = {}
        if name is not None:
            body["name"] = check_text("name", name, min_len=1, max_len=255)
        if description is not None:
            body["description"] = check_text("description", description, max_len=1000)
        if not body:
            raise PayloadError("give name= or description= to update")
        return await self._call(
            "PUT", path, SecurityGroup, body=body, timeout=timeout, extra_headers=extra_headers
        )

    async def delete(
        self,
        uuid: str,
        *,
        timeout: float | Timeouts | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> None:
        """Soft-delete a group: it leaves lists but stays readable.

        Example:
            >>> async def example(client):
            ...     await client.security_groups.delete(group_uuid)
        """
        path = encode_path("/v1/security-groups/{uuid}", uuid=check_uuid("uuid", uuid))
        await self._call("DELETE", path, None, timeout=timeout, extra_headers=extra_headers)

    def list_rule_instances(
        self,
        security_group_uuid: str,
        *,
        skip: int = 0,
        limit: int = 100,
        security_rule_uuid: str | None = None,
        state: RuleState | str | None = None,
        max_items: int | None = None,
        timeout: float | Timeouts | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> AsyncPaginator[RuleInstanceList, RuleInstance]:
        """The group's rule instances (``GET .../rule-instances``).

        Example:
            >>> async def example(client):
            ...     async for ri in client.security_groups.list_rule_instances(group_uuid):
            ...         print(ri.rule.name, ri.state)
        """
        path = encode_path(
            "/v1/security-groups/{sg}/rule-instances",
            sg=check_uuid("security_group_uuid", security_group_uuid),
        )
        check_skip(skip)
        check_limit(limit)
        params: dict[str, Any] = {
            "security_rule_uuid": None
            if security_rule_uuid is None
            else check_uuid("security_rule_uuid", security_rule_uuid),
            "state": check_choice("state", state, _STATES),
        }

        return self._paginate(
            path,
            RuleInstanceList,
            _instances_of,
            params,
            skip=skip,
            limit=limit,
            max_items=max_items,
            timeout=timeout,
            extra_headers=extra_headers,
        )

    async def get_rule_instance(
        self,
        security_group_uuid: str,
        rule_instance_uuid: str,
        *,
        timeout: float | Timeouts | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> RuleInstance:
        """One rule instance of a group.

        Example:
            >>> async def example(client):
            ...     ri = await client.security_groups.get_rule_instance(group_uuid, ri_uuid)
        """
        path = encode_path(
            "/v1/security-groups/{sg}/rule-instances/{ri}",
            sg=check_uuid("security_group_uuid", security_group_uuid),
            ri=check_uuid("rule_instance_uuid", rule_instance_uuid),
        )
        return await self._call(
            "GET", path, RuleInstance, timeout=timeout, extra_headers=extra_headers
        )

    async def update_rule_instance(
        self,
        security_group_uuid: str,
        rule_instance_uuid: str,
        *,
        state: RuleState | str | None = None,
        field_values: FieldValues | None = None,
        timeout: float | Timeouts | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> RuleInstance:
        """Change a rule instance's state or field values.

        The service wants the group UUID repeated in the body; this method adds it.

        Example:
            >>> async def example(client):
            ...     await client.security_groups.update_rule_instance(
            ...         group_uuid, ri_uuid, state="BLOCKING")
        """
        sg = check_uuid("security_group_uuid", security_group_uuid)
        path = encode_path(
            "/v1/security-groups/{sg}/rule-instances/{ri}",
            sg=sg,
            ri=check_uuid("rule_instance_uuid", rule_instance_uuid),
        )
        body: dict[str, Any] = {"security_group_uuid": sg}
        if state is not None:
            body["state"] = check_choice("state", state, _STATES)
        fv = _check_field_values("field_values", field_values)
        if fv is not None:
            body["field_values"] = fv
        if len(body) == 1:
            raise PayloadError("give state= or field_values= to update")
        return await self._call(
            "PUT", path, RuleInstance, body=body, timeout=timeout, extra_headers=extra_headers
        )

    def list_rule_instance_versions(
        self,
        security_group_uuid: str,
        *,
        next_token: str | None = None,
        limit: int | None = None,
        timeout: float | Timeouts | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> AsyncCursorPaginator[SnapshotVersionList, SnapshotVersion]:
        """Snapshot generations of a group's rule instances (cursor paged).

        Example:
            >>> async def example(client):
            ...     page = await client.security_groups.list_rule_instance_versions(group_uuid)
        """
        path = encode_path(
            "/v1/security-groups/{sg}/rule-instances/versions",
            sg=check_uuid("security_group_uuid", security_group_uuid),
        )
        if limit is not None:
            check_limit(limit)
        return _versions_paginator(self, path, next_token, limit, timeout, extra_headers)


def _group_active(group: SecurityGroup) -> bool:
    return group.is_active


def _groups_of(page: SecurityGroupList) -> builtins.list[SecurityGroup]:
    return page.security_groups


def _instances_of(page: RuleInstanceList) -> builtins.list[RuleInstance]:
    return page.rule_instances
