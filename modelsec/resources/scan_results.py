"""A scan's results on ``client.scans``: rule evaluations, violations and files (data plane).

The methods of :class:`_ScanResults` read what a settled scan found; :class:`AsyncScans`
(:mod:`modelsec.resources.scans`) inherits them, so they are called as
``client.scans.get_violations(...)``. Kept apart from the scan's life (create, wait, list, get)
and from its labels (:mod:`modelsec.resources.scan_labels`).
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from typing import Any

from modelsec.config import Timeouts
from modelsec.core.pagination import AsyncPaginator
from modelsec.core.transport import encode_path
from modelsec.resources._base import AsyncResource
from modelsec.resources._validate import (
    check_choice,
    check_limit,
    check_skip,
    check_text,
    check_uuid,
)
from modelsec.types import File as ScanFile
from modelsec.types import FileList as ScanFileList
from modelsec.types import (
    RuleEvaluation,
    RuleEvaluationList,
    RuleEvaluationResult,
    SortByDateField,
    SortByFileField,
    SortDirection,
    Violation,
    ViolationList,
)

__all__: list[str] = []

_DIRECTIONS = [d.value for d in SortDirection]
_DATE_FIELDS = [d.value for d in SortByDateField]


class _ScanResults(AsyncResource):
    """Rule evaluations, violations and files of a scan; a base of :class:`AsyncScans`."""

    def get_evaluations(
        self,
        scan_uuid: str,
        *,
        skip: int = 0,
        limit: int = 100,
        sort_field: SortByDateField | str | None = None,
        sort_order: SortDirection | str | None = None,
        result: RuleEvaluationResult | str | None = None,
        rule_instance_uuid: str | None = None,
        max_items: int | None = None,
        timeout: float | Timeouts | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> AsyncPaginator[RuleEvaluationList, RuleEvaluation]:
        """Per-rule results of a scan (``GET /v1/scans/{uuid}/evaluations``).

        Example:
            >>> async def example(client):
            ...     failed = await client.scans.get_evaluations(scan_uuid, result="FAILED")
        """
        path = encode_path("/v1/scans/{uuid}/evaluations", uuid=check_uuid("scan_uuid", scan_uuid))
        check_skip(skip)
        check_limit(limit)
        params: dict[str, Any] = {
            "sort_field": check_choice("sort_field", sort_field, _DATE_FIELDS),
            "sort_order": check_choice("sort_order", sort_order, _DIRECTIONS),
            "result": check_choice("result", result, [r.value for r in RuleEvaluationResult]),
            "rule_instance_uuid": None
            if rule_instance_uuid is None
            else check_uuid("rule_instance_uuid", rule_instance_uuid),
        }

        return self._paginate(
            path,
            RuleEvaluationList,
            _evaluations_of,
            params,
            skip=skip,
            limit=limit,
            max_items=max_items,
            timeout=timeout,
            extra_headers=extra_headers,
        )

    async def get_evaluation(
        self,
        uuid: str,
        *,
        timeout: float | Timeouts | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> RuleEvaluation:
        """One rule evaluation by UUID (``GET /v1/evaluations/{uuid}``).

        Example:
            >>> async def example(client):
            ...     evaluation = await client.scans.get_evaluation(evaluation_uuid)
        """
        path = encode_path("/v1/evaluations/{uuid}", uuid=check_uuid("uuid", uuid))
        return await self._call(
            "GET", path, RuleEvaluation, timeout=timeout, extra_headers=extra_headers
        )

    def get_violations(
        self,
        scan_uuid: str,
        *,
        skip: int = 0,
        limit: int = 100,
        max_items: int | None = None,
        timeout: float | Timeouts | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> AsyncPaginator[ViolationList, Violation]:
        """Findings of a scan, with remediation (``GET /v1/scans/{uuid}/rule-violations``).

        Example:
            >>> async def example(client):
            ...     async for v in client.scans.get_violations(scan_uuid):
            ...         print(f"{v.rule_name}: {v.description}")
        """
        path = encode_path(
            "/v1/scans/{uuid}/rule-violations", uuid=check_uuid("scan_uuid", scan_uuid)
        )
        check_skip(skip)
        check_limit(limit)

        return self._paginate(
            path,
            ViolationList,
            _violations_of,
            None,
            skip=skip,
            limit=limit,
            max_items=max_items,
            timeout=timeout,
            extra_headers=extra_headers,
        )

    async def get_violation(
        self,
        uuid: str,
        *,
        timeout: float | Timeouts | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> Violation:
        """One violation by UUID (``GET /v1/violations/{uuid}``).

        Example:
            >>> async def example(client):
            ...     violation = await client.scans.get_violation(violation_uuid)
        """
        path = encode_path("/v1/violations/{uuid}", uuid=check_uuid("uuid", uuid))
        return await self._call(
            "GET", path, Violation, timeout=timeout, extra_headers=extra_headers
        )

    def get_files(
        self,
        scan_uuid: str,
        *,
        skip: int = 0,
        limit: int = 100,
        sort_field: SortByFileField | str | None = None,
        sort_dir: SortDirection | str | None = None,
        query_path: str | None = None,
        max_items: int | None = None,
        timeout: float | Timeouts | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> AsyncPaginator[ScanFileList, ScanFile]:
        """Files and directories of a scan under ``query_path`` (``GET /v1/scans/{uuid}/files``).

        Example:
            >>> async def example(client):
            ...     files = await client.scans.get_files(scan_uuid, query_path="/")
        """
        path = encode_path("/v1/scans/{uuid}/files", uuid=check_uuid("scan_uuid", scan_uuid))
        check_skip(skip)
        check_limit(limit)
        params: dict[str, Any] = {
            "sort_field": check_choice(
                "sort_field", sort_field, [f.value for f in SortByFileField]
            ),
            "sort_dir": check_choice("sort_dir", sort_dir, _DIRECTIONS),
            "query_path": check_text("query_path", query_path),
        }

        return self._paginate(
            path,
            ScanFileList,
            _files_of,
            params,
            skip=skip,
            limit=limit,
            max_items=max_items,
            timeout=timeout,
            extra_headers=extra_headers,
        )


def _evaluations_of(page: RuleEvaluationList) -> builtins.list[RuleEvaluation]:
    return page.evaluations


def _violations_of(page: ViolationList) -> builtins.list[Violation]:
    return page.violations


def _files_of(page: ScanFileList) -> builtins.list[ScanFile]:
    return page.files
