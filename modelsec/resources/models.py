"""``client.models``: the model inventory built from scans (data plane)."""

from __future__ import annotations

import builtins
import datetime as _dt
from collections.abc import Iterable, Mapping
from typing import Any

from modelsec.config import Timeouts
from modelsec.core.pagination import AsyncPaginator
from modelsec.core.transport import encode_path
from modelsec.resources._base import AsyncResource
from modelsec.resources._validate import (
    check_choice,
    check_limit,
    check_skip,
    check_strings,
    check_text,
    check_uuid,
)
from modelsec.types import (
    EvalOutcome,
    File,
    FileList,
    Model,
    ModelList,
    ModelVersion,
    ModelVersionList,
    SortByDateField,
    SortDirection,
    SourceType,
)

__all__ = ["AsyncModels"]

_DIRECTIONS = [d.value for d in SortDirection]


class AsyncModels(AsyncResource):
    """Models, their versions and files, as the service inventoried them from scans.

    Example:
        >>> async def example(client):
        ...     async for model in client.models.list(search_query="bert"):
        ...         print(model.name, model.latest_version_outcome)
    """

    _plane = "data"

    def list(
        self,
        *,
        skip: int = 0,
        limit: int = 100,
        search_query: str | None = None,
        sort_field: SortByDateField | str | None = None,
        sort_order: SortDirection | str | None = None,
        latest_version_outcomes: Iterable[EvalOutcome | str] | None = None,
        latest_version_formats: Iterable[str] | None = None,
        latest_version_source_types: Iterable[SourceType | str] | None = None,
        latest_version_scan_time_before: _dt.datetime | None = None,
        start_time: _dt.datetime | None = None,
        end_time: _dt.datetime | None = None,
        max_items: int | None = None,
        timeout: float | Timeouts | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> AsyncPaginator[ModelList, Model]:
        """List models (``GET /v1/models``).

        Example:
            >>> async def example(client):
            ...     page = await client.models.list(latest_version_outcomes=["BLOCKED"])
        """
        check_skip(skip)
        check_limit(limit)
        params: dict[str, Any] = {
            "search_query": check_text("search_query", search_query, max_len=256),
            "sort_field": check_choice(
                "sort_field", sort_field, [f.value for f in SortByDateField]
            ),
            "sort_order": check_choice("sort_order", sort_order, _DIRECTIONS),
            "latest_version_outcomes": check_strings(
                "latest_version_outcomes", latest_version_outcomes
            ),
            "latest_version_formats": check_strings(
                "latest_version_formats", latest_version_formats
            ),
            "latest_version_source_types": check_strings(
                "latest_version_source_types", latest_version_source_types
            ),
            "latest_version_scan_time_before": latest_version_scan_time_before,
            "start_time": start_time,
            "end_time": end_time,
        }

        return self._paginate(
            "/v1/models",
            ModelList,
            _models_of,
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
    ) -> Model:
        """One model by UUID (``GET /v1/models/{uuid}``).

        Example:
            >>> async def example(client):
            ...     model = await client.models.get(model_uuid)
        """
        path = encode_path("/v1/models/{uuid}", uuid=check_uuid("uuid", uuid))
        return await self._call("GET", path, Model, timeout=timeout, extra_headers=extra_headers)

    def list_versions(
        self,
        model_uuid: str,
        *,
        skip: int = 0,
        limit: int = 100,
        sort_order: SortDirection | str | None = None,
        max_items: int | None = None,
        timeout: float | Timeouts | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> AsyncPaginator[ModelVersionList, ModelVersion]:
        """Versions of a model (``GET /v1/models/{uuid}/model-versions``).

        Example:
            >>> async def example(client):
            ...     versions = await client.models.list_versions(model_uuid)
        """
        path = encode_path(
            "/v1/models/{uuid}/model-versions", uuid=check_uuid("model_uuid", model_uuid)
        )
        check_skip(skip)
        check_limit(limit)
        order = check_choice("sort_order", sort_order, _DIRECTIONS)

        return self._paginate(
            path,
            ModelVersionList,
            _versions_of,
            {"sort_order": order},
            skip=skip,
            limit=limit,
            max_items=max_items,
            timeout=timeout,
            extra_headers=extra_headers,
        )

    async def get_version(
        self,
        uuid: str,
        *,
        timeout: float | Timeouts | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> ModelVersion:
        """One model version by UUID (``GET /v1/model-versions/{uuid}``).

        Example:
            >>> async def example(client):
            ...     version = await client.models.get_version(version_uuid)
        """
        path = encode_path("/v1/model-versions/{uuid}", uuid=check_uuid("uuid", uuid))
        return await self._call(
            "GET", path, ModelVersion, timeout=timeout, extra_headers=extra_headers
        )

    def list_version_files(
        self,
        version_uuid: str,
        *,
        skip: int = 0,
        limit: int = 100,
        max_items: int | None = None,
        timeout: float | Timeouts | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> AsyncPaginator[FileList, File]:
        """Files of a model version with their latest results.

        Example:
            >>> async def example(client):
            ...     async for f in client.models.list_version_files(version_uuid):
            ...         print(f.path, f.result)
        """
        path = encode_path(
            "/v1/model-versions/{uuid}/files", uuid=check_uuid("version_uuid", version_uuid)
        )
        check_skip(skip)
        check_limit(limit)

        return self._paginate(
            path,
            FileList,
            _files_of,
            None,
            skip=skip,
            limit=limit,
            max_items=max_items,
            timeout=timeout,
            extra_headers=extra_headers,
        )


def _models_of(page: ModelList) -> builtins.list[Model]:
    return page.models


def _versions_of(page: ModelVersionList) -> builtins.list[ModelVersion]:
    return page.model_versions


def _files_of(page: FileList) -> builtins.list[File]:
    return page.files
