"""Hand-written bases of the generated sync facades: pages, sub-clients and the client.

Example:
    >>> from modelsec.sync import ModelSecurityClient
    >>> with ModelSecurityClient() as client:  # doctest: +SKIP
    ...     page = client.scans.list(limit=50)   # the first page (one request)
    ...     print(page.pagination.total_items)   # attributes of the page object
    ...     for scan in page:                    # every scan, one request per page
    ...         print(scan.uuid)
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Any, Generic, ParamSpec, TypeVar

from modelsec.core.pagination import AsyncCursorPaginator, AsyncPaginator
from modelsec.sync import _portal
from modelsec.sync._portal import AsyncHandle

__all__ = ["SyncClient", "SyncCursorPage", "SyncPage", "SyncResource"]

PageT = TypeVar("PageT")
ItemT = TypeVar("ItemT")
A = TypeVar("A")
C = TypeVar("C", bound="SyncClient[Any]")
P = ParamSpec("P")
T = TypeVar("T")


S = TypeVar("S")


class _PaginatorSource(Generic[S]):
    """A paginator, made again when the loop it was made on is gone (in a forked child)."""

    __slots__ = ("_generation", "_make", "_value")

    def __init__(self, source: S | Callable[[], S]) -> None:
        if isinstance(source, (AsyncPaginator, AsyncCursorPaginator)):
            value: Any = source
            self._make: Callable[[], S] | None = None
        else:
            self._make = source  # type: ignore[assignment]
            value = source()  # type: ignore[operator]
        self._value: S = value
        self._generation = _portal.generation()

    def get(self) -> S:
        if self._make is not None and self._generation != _portal.generation():
            self._value = self._make()
            self._generation = _portal.generation()
        return self._value

    def factory(self) -> S | Callable[[], S]:
        """What a following page is built from (the same recipe, or this paginator)."""
        return self._make if self._make is not None else self._value


class SyncPage(Generic[PageT, ItemT]):
    """The first page of a list call; iterating it walks every item of every page.

    Fetched when the list method is called (one portal crossing); each further page costs one
    more crossing while iterating. Attributes of the page object (``.scans``, ``.pagination``)
    are readable on the ``SyncPage`` itself; ``.page`` is the typed page object.

    Example:
        >>> page = client.scans.list(limit=10)  # doctest: +SKIP
        >>> len(page.items) <= 10  # doctest: +SKIP
        True
        >>> every = page.to_list()  # doctest: +SKIP
    """

    __slots__ = ("_paginator", "_source", "page", "skip")

    def __init__(
        self,
        source: AsyncPaginator[PageT, ItemT] | Callable[[], AsyncPaginator[PageT, ItemT]],
        *,
        skip: int | None = None,
    ) -> None:
        # ``source`` is the paginator, or (from the generated facades) a function that makes it
        # from the sync client's current async client: called again in a forked child, where
        # the parent's client and its loop are gone.
        self._source = _PaginatorSource(source)
        paginator = self._paginator = self._source.get()
        self.skip: int = paginator.skip if skip is None else skip
        self.page: PageT = _portal.run(paginator.fetch_page, self.skip)

    @property
    def items(self) -> Sequence[ItemT]:
        """The items of this page only."""
        return self._paginator.page_items(self.page)

    def has_next_page(self) -> bool:
        """Whether another page may follow (a full page was returned)."""
        return self._paginator.next_skip(self.skip, self.page) is not None

    def next_page(self) -> SyncPage[PageT, ItemT] | None:
        """Fetch the page after this one (None at the end)."""
        nxt = self._paginator.next_skip(self.skip, self.page)
        return None if nxt is None else SyncPage(self._source.factory(), skip=nxt)

    def iter_pages(self) -> Iterator[PageT]:
        """This page, then every following page (one portal crossing each)."""
        page, skip = self.page, self.skip
        while True:
            yield page
            nxt = self._paginator.next_skip(skip, page)
            if nxt is None:
                return
            page = _portal.run(self._source.get().fetch_page, nxt)
            skip = nxt

    def __iter__(self) -> Iterator[ItemT]:
        limit = self._paginator.max_items
        seen = 0
        for page in self.iter_pages():
            for item in self._paginator.page_items(page):
                if limit is not None and seen >= limit:
                    return
                seen += 1
                yield item

    def to_list(self) -> list[ItemT]:
        """Every item of every page in one list (mind large result sets)."""
        return list(self)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name in SyncPage.__slots__:
            raise AttributeError(name)
        return getattr(self.page, name)

    def __repr__(self) -> str:
        return f"<SyncPage skip={self.skip} items={len(self.items)} of {type(self.page).__name__}>"


class SyncCursorPage(Generic[PageT, ItemT]):
    """The first page of a cursor-paged list; iterating it walks every item of every page.

    Example:
        >>> for version in client.custom_rules.list_versions():  # doctest: +SKIP
        ...     print(version.generation)
    """

    __slots__ = ("_paginator", "_source", "page", "token")

    def __init__(
        self,
        source: AsyncCursorPaginator[PageT, ItemT]
        | Callable[[], AsyncCursorPaginator[PageT, ItemT]],
        *,
        token: str | None = None,
    ) -> None:
        self._source = _PaginatorSource(source)  # rebuilt in a forked child, as for SyncPage
        paginator = self._paginator = self._source.get()
        self.token: str | None = paginator.start_token if token is None else token
        self.page: PageT = _portal.run(paginator.fetch_page, self.token)

    @property
    def items(self) -> Sequence[ItemT]:
        """The items of this page only."""
        return self._paginator.page_items(self.page)

    def has_next_page(self) -> bool:
        """Whether a next cursor was returned."""
        return self._paginator.next_cursor(self.token, self.page) is not None

    def next_page(self) -> SyncCursorPage[PageT, ItemT] | None:
        """Fetch the page after this one (None at the end)."""
        nxt = self._paginator.next_cursor(self.token, self.page)
        return None if nxt is None else SyncCursorPage(self._source.factory(), token=nxt)

    def iter_pages(self) -> Iterator[PageT]:
        """This page, then every following page (one portal crossing each)."""
        page, token = self.page, self.token
        while True:
            yield page
            nxt = self._paginator.next_cursor(token, page)
            if nxt is None:
                return
            page = _portal.run(self._source.get().fetch_page, nxt)
            token = nxt

    def __iter__(self) -> Iterator[ItemT]:
        for page in self.iter_pages():
            yield from self._paginator.page_items(page)

    def to_list(self) -> list[ItemT]:
        """Every item of every page in one list."""
        return list(self)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name in SyncCursorPage.__slots__:
            raise AttributeError(name)
        return getattr(self.page, name)

    def __repr__(self) -> str:
        return f"<SyncCursorPage items={len(self.items)} of {type(self.page).__name__}>"


class SyncResource(Generic[A]):
    """Base of the generated sync sub-clients: a path to the async twin inside a client handle.

    The async twin is looked up per call, so that a client rebuilt in a forked child is used.
    """

    _handle: AsyncHandle[Any]
    _path: tuple[str, ...]

    def __init__(self, handle: AsyncHandle[Any], path: tuple[str, ...]) -> None:
        self._bind(handle, path)

    def _bind(self, handle: AsyncHandle[Any], path: tuple[str, ...]) -> None:
        self._handle = handle
        self._path = path

    @property
    def _async(self) -> A:
        target: Any = self._handle.get()
        for name in self._path:
            target = getattr(target, name)
        return target  # type: ignore[no-any-return]

    def __repr__(self) -> str:
        return f"<{type(self).__name__} (sync)>"


class SyncClient(SyncResource[A]):
    """Base of the generated sync client: owns its async client through an ``AsyncHandle``."""

    @classmethod
    def _root(cls, build: Callable[[], A]) -> AsyncHandle[A]:
        # The async client is constructed on the portal loop; its session is created there
        # lazily and never crosses to another loop.
        def build_adopted() -> A:
            client = build()
            _portal.adopt(client)  # closed on that loop if its owner never closes it
            return client

        return AsyncHandle(functools.partial(_portal.call, build_adopted), owner=True)

    def _derive(self: C, fn: Callable[[Any], Any]) -> C:
        # A sync copy around ``fn(async client)`` (e.g. ``with_options``), rebuilt after a fork.
        copy = object.__new__(type(self))
        copy._bind(self._handle.derive(fn), ())
        return copy

    def _closing(self, fn: Callable[P, Awaitable[T]], /, *args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return _portal.run(fn, *args, **kwargs)
        finally:
            self._handle.closed = True

    def __repr__(self) -> str:
        inner = repr(self._handle.get())
        return inner[5:] if inner.startswith("Async") else inner
