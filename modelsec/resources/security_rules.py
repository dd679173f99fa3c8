"""``client.security_rules``: the platform's built-in rules, read-only (management plane)."""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from typing import Any

from modelsec.config import Timeouts
from modelsec.core.pagination import AsyncCursorPaginator, AsyncPaginator
from modelsec.core.transport import encode_path
from modelsec.resources._base import AsyncResource
from modelsec.resources._validate import (
    check_choice,
    check_limit,
    check_skip,
    check_text,
    check_uuid,
)
from modelsec.types import (
    SecurityRule,
    SecurityRuleList,
    SnapshotVersion,
    SnapshotVersionList,
    SourceType,
)

__all__ = ["AsyncSecurityRules"]


class AsyncSecurityRules(AsyncResource):
    """Built-in security rules (discovery only: rules are configured through groups).

    Example:
        >>> async def example(client):
        ...     async for rule in client.security_rules.list(search_query="pickle"):
        ...         print(rule.name, rule.default_state)
    """

    _plane = "mgmt"

    def list(
        self,
        *,
        skip: int = 0,
        limit: int = 100,
        source_type: SourceType | str | None = None,
        search_query: str | None = None,
        max_items: int | None = None,
        timeout: float | Timeouts | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> AsyncPaginator[SecurityRuleList, SecurityRule]:
        """List rules (``GET /v1/security-rules``), optionally for one source type.

        Example:
            >>> async def example(client):
            ...     rules = await client.security_rules.list(source_type="HUGGING_FACE")
        """
        check_skip(skip)
        check_limit(limit)
        params: dict[str, Any] = {
            "source_type": check_choice("source_type", source_type, [s.value for s in SourceType]),
            "search_query": check_text("search_query", search_query, min_len=3, max_len=1000),
        }

        return self._paginate(
            "/v1/security-rules",
            SecurityRuleList,
            _rules_of,
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
    ) -> SecurityRule:
        """One rule by UUID (``GET /v1/security-rules/{uuid}``).

        Example:
            >>> async def example(client):
            ...     rule = await client.security_rules.get(rule_uuid)
        """
        path = encode_path("/v1/security-rules/{uuid}", uuid=check_uuid("uuid", uuid))
        return await self._call(
            "GET", path, SecurityRule, timeout=timeout, extra_headers=extra_headers
        )

    def list_versions(
        self,
        *,
        next_token: str | None = None,
        limit: int | None = None,
        timeout: float | Timeouts | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> AsyncCursorPaginator[SnapshotVersionList, SnapshotVersion]:
        """Snapshot generations of the rule catalog (``GET /v1/security-rules/versions``).

        Example:
            >>> async def example(client):
            ...     async for v in client.security_rules.list_versions():
            ...         print(v.generation)
        """
        if limit is not None:
            check_limit(limit)
        return _versions_paginator(
            self, "/v1/security-rules/versions", next_token, limit, timeout, extra_headers
        )


def _versions_paginator(
    resource: AsyncResource,
    path: str,
    next_token: str | None,
    limit: int | None,
    timeout: float | Timeouts | None,
    extra_headers: Mapping[str, str] | None,
) -> AsyncCursorPaginator[SnapshotVersionList, SnapshotVersion]:
    async def fetch(token: str | None) -> SnapshotVersionList:
        query = {"next_token": token, "limit": limit}
        page: SnapshotVersionList = await resource._call(
            "GET",
            path,
            SnapshotVersionList,
            params=query,
            timeout=timeout,
            extra_headers=extra_headers,
        )
        return page

    return AsyncCursorPaginator(fetch, _versions_of, _next_token_of, start_token=next_token)


def _rules_of(page: SecurityRuleList) -> builtins.list[SecurityRule]:
    return page.rules


def _versions_of(page: SnapshotVersionList) -> builtins.list[SnapshotVersion]:
    return page.versions


def _next_token_of(page: SnapshotVersionList) -> str | None:
    return page.pagination.next_token
