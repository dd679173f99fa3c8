"""A scan's labels on ``client.scans``: add, replace, delete, and the tenant's label keys/values.

The methods of :class:`_ScanLabels` are inherited by :class:`AsyncScans`
(:mod:`modelsec.resources.scans`), so they are called as ``client.scans.add_labels(...)``. Kept
apart from the scan's life (create, wait, list, get) and from its results
(:mod:`modelsec.resources.scan_results`).
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence

from modelsec.config import Timeouts
from modelsec.core.pagination import AsyncPaginator
from modelsec.core.transport import encode_path
from modelsec.resources._base import AsyncResource
from modelsec.resources._validate import (
    LabelsArg,
    check_label_keys,
    check_label_part,
    check_labels,
    check_limit,
    check_skip,
    check_text,
    check_uuid,
)
from modelsec.types import (
    LabelKeyList,
    LabelsResponse,
    LabelValueList,
)

__all__: list[str] = []


class _ScanLabels(AsyncResource):
    """Labels of scans, and the label keys and values in use; a base of :class:`AsyncScans`."""

    async def add_labels(
        self,
        scan_uuid: str,
        labels: LabelsArg,
        *,
        timeout: float | Timeouts | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> LabelsResponse:
        """Merge labels into a scan's labels; a key already present takes the new value.

        Example:
            >>> async def example(client):
            ...     await client.scans.add_labels(scan_uuid, {"team": "ml", "env": "prod"})
        """
        return await self._labels("POST", scan_uuid, labels, timeout, extra_headers)

    async def set_labels(
        self,
        scan_uuid: str,
        labels: LabelsArg,
        *,
        timeout: float | Timeouts | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> LabelsResponse:
        """Replace all of a scan's labels.

        Example:
            >>> async def example(client):
            ...     await client.scans.set_labels(scan_uuid, {"team": "ml"})
        """
        return await self._labels("PUT", scan_uuid, labels, timeout, extra_headers)

    async def _labels(
        self,
        method: str,
        scan_uuid: str,
        labels: LabelsArg,
        timeout: float | Timeouts | None,
        extra_headers: Mapping[str, str] | None,
    ) -> LabelsResponse:
        path = encode_path("/v1/scans/{uuid}/labels", uuid=check_uuid("scan_uuid", scan_uuid))
        body = {"labels": [lb.to_dict() for lb in check_labels(labels)]}
        # Merging or replacing the same labels twice has the same effect: safe to retry.
        result: LabelsResponse = await self._call(
            method,
            path,
            LabelsResponse,
            body=body,
            replayable=True,
            timeout=timeout,
            extra_headers=extra_headers,
        )
        return result

    async def delete_labels(
        self,
        scan_uuid: str,
        keys: Sequence[str] | str,
        *,
        timeout: float | Timeouts | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> None:
        """Remove labels by key (1..50 keys; ``DELETE /v1/scans/{uuid}/labels``).

        Example:
            >>> async def example(client):
            ...     await client.scans.delete_labels(scan_uuid, ["team", "env"])
        """
        path = encode_path("/v1/scans/{uuid}/labels", uuid=check_uuid("scan_uuid", scan_uuid))
        await self._call(
            "DELETE",
            path,
            None,
            params={"keys": check_label_keys(keys)},
            timeout=timeout,
            extra_headers=extra_headers,
        )

    def get_label_keys(
        self,
        *,
        skip: int = 0,
        limit: int = 100,
        search: str | None = None,
        max_items: int | None = None,
        timeout: float | Timeouts | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> AsyncPaginator[LabelKeyList, str]:
        """Distinct label keys across the tenant's scans.

        Example:
            >>> async def example(client):
            ...     keys = [k async for k in client.scans.get_label_keys()]
        """
        check_skip(skip)
        check_limit(limit)
        check_text("search", search, min_len=1, max_len=128)

        return self._paginate(
            "/v1/scans/label-keys",
            LabelKeyList,
            _keys_of,
            {"search": search},
            skip=skip,
            limit=limit,
            max_items=max_items,
            timeout=timeout,
            extra_headers=extra_headers,
        )

    def get_label_values(
        self,
        key: str,
        *,
        skip: int = 0,
        limit: int = 100,
        search: str | None = None,
        max_items: int | None = None,
        timeout: float | Timeouts | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> AsyncPaginator[LabelValueList, str]:
        """Distinct values of one label key.

        Example:
            >>> async def example(client):
            ...     teams = [v async for v in client.scans.get_label_values("team")]
        """
        path = encode_path(
            "/v1/scans/label-keys/{key}/values", key=check_label_part("key", key, 128)
        )
        check_skip(skip)
        check_limit(limit)
        check_text("search", search, min_len=1, max_len=256)

        return self._paginate(
            path,
            LabelValueList,
            _values_of,
            {"search": search},
            skip=skip,
            limit=limit,
            max_items=max_items,
            timeout=timeout,
            extra_headers=extra_headers,
        )


def _keys_of(page: LabelKeyList) -> builtins.list[str]:
    return page.keys


def _values_of(page: LabelValueList) -> builtins.list[str]:
    return page.values
