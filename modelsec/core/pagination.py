"""Lazy pagination: ``await`` a list call for its first page, ``async for`` it for every item.

The API pages with ``skip``/``limit``. ``total_items`` may be null or capped, so iteration
stops on a short (or empty) page instead of trusting it; a page that does not advance raises
instead of looping forever. Version lists page with a ``next_token`` cursor instead.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Sequence
from typing import Any, Generic, TypeVar

__all__ = ["AsyncCursorPaginator", "AsyncPaginator"]

PageT = TypeVar("PageT")
ItemT = TypeVar("ItemT")


class AsyncPaginator(Generic[PageT, ItemT]):
    """A list operation that has not run yet.

    ``await paginator`` fetches the first page (the typed list object such as ``ScanList``);
    ``async for item in paginator`` walks every item of every page; ``paginator.pages()``
    walks pages. Nothing is sent until one of these is used.

    Example:
        >>> async def show(client):
        ...     page = await client.scans.list(limit=10)      # first page
        ...     async for scan in client.scans.list():         # every scan
        ...         print(scan.uuid, scan.eval_outcome)
    """

    def __init__(
        self,
        fetch: Callable[[int, int], Awaitable[PageT]],
        items: Callable[[PageT], Sequence[ItemT]],
        *,
        skip: int,
        limit: int,
        max_items: int | None = None,
    ) -> None:
        self._fetch = fetch
        self._items = items
        self.skip = skip
        self.limit = limit
        self.max_items = max_items

    def __await__(self) -> Generator[Any, None, PageT]:
        return self._fetch(self.skip, self.limit).__await__()

    async def first_page(self) -> PageT:
        """The first page (same as awaiting the paginator)."""
        return await self._fetch(self.skip, self.limit)

    def page_items(self, page: PageT) -> Sequence[ItemT]:
        """The items of one page."""
        return self._items(page)

    async def fetch_page(self, skip: int) -> PageT:
        """The page that starts at ``skip`` (used by the sync facade, one hop per page)."""
        return await self._fetch(skip, self.limit)

    def next_skip(self, skip: int, page: PageT) -> int | None:
        """Where the page after ``page`` (fetched at ``skip``) starts, or None at the end."""
        count = len(self._items(page))
        if count == 0 or count < self.limit:
            return None
        return skip + count

    async def pages(self) -> AsyncIterator[PageT]:
        """Every page, in order."""
        skip: int | None = self.skip
        while skip is not None:
            page = await self._fetch(skip, self.limit)
            yield page
            skip = self.next_skip(skip, page)

    async def __aiter__(self) -> AsyncIterator[ItemT]:
        seen = 0
        async for page in self.pages():
            for item in self._items(page):
                if self.max_items is not None and seen >= self.max_items:
                    return
                seen += 1
                yield item

    async def to_list(self) -> list[ItemT]:
        """Every item of every page in one list (mind large result sets)."""
        return [item async for item in self]


class AsyncCursorPaginator(Generic[PageT, ItemT]):
    """A cursor-paged list (``next_token``): ``await`` for the first page, ``async for`` items.

    Example:
        >>> async def versions(client):
        ...     async for v in client.custom_rules.list_versions():
        ...         print(v.generation, v.timestamp)
    """

    def __init__(
        self,
        fetch: Callable[[str | None], Awaitable[PageT]],
        items: Callable[[PageT], Sequence[ItemT]],
        next_token: Callable[[PageT], str | None],
        *,
        start_token: str | None = None,
    ) -> None:
        self._fetch = fetch
        self._items = items
        self._next = next_token
        self.start_token = start_token

    def __await__(self) -> Generator[Any, None, PageT]:
        return self._fetch(self.start_token).__await__()

    def page_items(self, page: PageT) -> Sequence[ItemT]:
        """The items of one page."""
        return self._items(page)

    async def fetch_page(self, token: str | None) -> PageT:
        """The page at cursor ``token`` (used by the sync facade)."""
        return await self._fetch(token)

    def next_cursor(self, token: str | None, page: PageT) -> str | None:
        """The cursor of the page after ``page``; None at the end or if it did not advance."""
        nxt = self._next(page)
        if not nxt or nxt == token or not self._items(page):
            return None
        return nxt

    async def pages(self) -> AsyncIterator[PageT]:
        """Every page, in order."""
        token = self.start_token
        while True:
            page = await self._fetch(token)
            yield page
            nxt = self.next_cursor(token, page)
            if nxt is None:
                return
            token = nxt

    async def __aiter__(self) -> AsyncIterator[ItemT]:
        async for page in self.pages():
            for item in self._items(page):
                yield item
