"""Shared plumbing of the async sub-clients."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar, overload

from modelsec.config import Timeouts
from modelsec.core.pagination import AsyncPaginator
from modelsec.core.transport import Plane, RequestOptions, Transport
from modelsec.types._base import structure

__all__ = ["AsyncResource"]

T = TypeVar("T")
PageT = TypeVar("PageT")
ItemT = TypeVar("ItemT")


class AsyncResource:
    """Base of the async sub-clients: a transport plus the client's default options."""

    _plane: Plane = "data"

    def __init__(self, transport: Transport, options: RequestOptions) -> None:
        self._transport = transport
        self._options = options

    def __repr__(self) -> str:
        return f"<{type(self).__name__} plane={self._plane}>"

    @overload
    async def _call(
        self,
        method: str,
        path: str,
        cast_to: type[T],
        *,
        params: Mapping[str, Any] | None = ...,
        body: Any = ...,
        replayable: bool | None = ...,
        timeout: float | Timeouts | None = ...,
        extra_headers: Mapping[str, str] | None = ...,
        plane: Plane | None = ...,
    ) -> T: ...

    @overload
    async def _call(
        self,
        method: str,
        path: str,
        cast_to: None,
        *,
        params: Mapping[str, Any] | None = ...,
        body: Any = ...,
        replayable: bool | None = ...,
        timeout: float | Timeouts | None = ...,
        extra_headers: Mapping[str, str] | None = ...,
        plane: Plane | None = ...,
    ) -> Any: ...

    async def _call(
        self,
        method: str,
        path: str,
        cast_to: type[T] | None,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        replayable: bool | None = None,
        timeout: float | Timeouts | None = None,
        extra_headers: Mapping[str, str] | None = None,
        plane: Plane | None = None,
    ) -> Any:
        options = self._options.for_call(timeout, extra_headers)
        data = await self._transport.request(
            method,
            plane or self._plane,
            path,
            params=params,
            json_body=body,
            replayable=replayable,
            options=options,
        )
        if cast_to is None:
            return data
        return structure({} if data is None else data, cast_to)

    def _paginate(
        self,
        path: str,
        page_type: type[PageT],
        items: Callable[[PageT], Sequence[ItemT]],
        params: Mapping[str, Any] | None,
        *,
        skip: int,
        limit: int,
        max_items: int | None,
        timeout: float | Timeouts | None,
        extra_headers: Mapping[str, str] | None,
    ) -> AsyncPaginator[PageT, ItemT]:
        """A lazy skip/limit paginator over ``GET path`` (filters in ``params``)."""
        filters = dict(params or {})

        async def fetch(page_skip: int, page_limit: int) -> PageT:
            query = {**filters, "skip": page_skip, "limit": page_limit}
            return await self._call(
                "GET", path, page_type, params=query, timeout=timeout, extra_headers=extra_headers
            )

        return AsyncPaginator(fetch, items, skip=skip, limit=limit, max_items=max_items)
