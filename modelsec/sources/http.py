"""Blocking HTTP for the sources read over aiohttp (Artifactory, GitLab, the GCS JSON API).

The scanner is synchronous and runs in worker threads (or other processes), so each source owns
a small event loop thread and one aiohttp session; calls cross to it and block. Transient
failures (connection errors, timeouts, 408/429/5xx) are retried with backoff; 401/403 become a
:class:`~modelsec.sources.base.SourceError` naming the variables to check, never echoing them.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Iterator, Mapping
from typing import Any, TypeVar
from urllib.parse import urlsplit

import aiohttp

from modelsec.sources.base import SourceError, log

__all__ = ["HttpClient", "TransientHTTPError"]

T = TypeVar("T")

_LOOPBACK = {"127.0.0.1", "localhost", "::1"}
_RETRY_STATUS = {408, 429, 500, 502, 503, 504}
_CHUNK = 1 << 20


class TransientHTTPError(Exception):
    """A failure worth retrying (the reader reopens the stream)."""


class HttpClient:
    """A blocking facade over one aiohttp session on a private loop thread.

    Example:
        >>> c = HttpClient("https://h.example", {}, display="x", credential_vars="none")
        >>> c.close()
    """

    def __init__(
        self,
        base_url: str,
        headers: Mapping[str, str],
        *,
        display: str,
        credential_vars: str,
        retries: int = 4,
        backoff: float = 0.5,
    ) -> None:
        u = urlsplit(base_url)
        if headers and u.scheme == "http" and (u.hostname or "").lower() not in _LOOPBACK:
            raise SourceError(f"{display}: refusing to send credentials over plain http")
        self.base_url = base_url.rstrip("/")
        self.display = display
        self.credential_vars = credential_vars
        self._headers = dict(headers)
        self._retries = retries
        self._backoff = backoff
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="modelsec-source-http", daemon=True
        )
        self._thread.start()
        self._session: aiohttp.ClientSession | None = None

    def __repr__(self) -> str:  # never the headers: they hold credentials
        return f"HttpClient({self.base_url!r})"

    def _run(self, coro: Awaitable[T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()  # type: ignore[arg-type]

    async def _sess(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                headers=self._headers,
                trust_env=True,
                timeout=aiohttp.ClientTimeout(total=None, connect=15, sock_read=120),
            )
        return self._session

    def close(self) -> None:
        """Close the session and stop the loop thread."""

        async def shut() -> None:
            if self._session is not None:
                await self._session.close()

        if self._loop.is_running():
            self._run(shut())
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)
        self._loop.close()

    def _check(self, status: int, what: str) -> None:
        if status in (401, 403):
            raise SourceError(
                f"{self.display}: access denied ({status}) {what}; check {self.credential_vars}"
            )
        if status in _RETRY_STATUS:
            raise TransientHTTPError(f"HTTP {status}")
        if status >= 400 and status != 404:
            raise SourceError(f"{self.display}: HTTP {status} {what}")

    def get_json(
        self, url: str, params: Mapping[str, str] | None = None, *, what: str = "listing"
    ) -> tuple[Any, Mapping[str, str]] | None:
        """GET JSON with retries; ``None`` on 404. Returns the body and the headers."""

        async def once() -> tuple[int, Any, Mapping[str, str]]:
            sess = await self._sess()
            async with sess.get(url, params=params) as resp:
                if resp.status != 200:
                    return resp.status, None, dict(resp.headers)
                try:
                    body = await resp.json(content_type=None)
                except ValueError:
                    raise SourceError(f"{self.display}: the server's {what} is not JSON") from None
                return resp.status, body, dict(resp.headers)

        failures = 0
        while True:
            try:
                status, body, headers = self._run(once())
                if status == 404:
                    return None
                self._check(status, what)
                return body, headers
            except (TransientHTTPError, aiohttp.ClientError, asyncio.TimeoutError) as exc:
                failures += 1
                if failures > self._retries:
                    raise SourceError(f"{self.display}: {what} failed: {_describe(exc)}") from None
                log.info("%s: %s failed (%s); retrying", self.display, what, _describe(exc))
                time.sleep(min(8.0, self._backoff * 2 ** (failures - 1)))

    def stream(
        self, url: str, offset: int, end: int | None = None, *, what: str
    ) -> Iterator[bytes]:
        """The body of ``url`` from ``offset`` to ``end`` (exclusive; a ``Range`` request).

        Transient failures raise :class:`TransientHTTPError` (the reader retries).
        """
        headers = {}
        if offset or end is not None:
            headers["Range"] = f"bytes={offset}-{'' if end is None else end - 1}"

        async def open_() -> aiohttp.ClientResponse:
            sess = await self._sess()
            resp = await sess.get(url, headers=headers)
            if resp.status not in (200, 206):
                resp.release()
                if resp.status == 404:
                    raise SourceError(f"{self.display}: {what}: not found")
                self._check(resp.status, what)
            if "Range" in headers and resp.status != 206:
                resp.release()
                raise SourceError(f"{self.display}: {what}: the server ignored a ranged read")
            return resp

        try:
            resp = self._run(open_())
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise TransientHTTPError(_describe(exc)) from None
        try:
            while True:
                try:
                    chunk = self._run(resp.content.read(_CHUNK))
                except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                    raise TransientHTTPError(_describe(exc)) from None
                if not chunk:
                    return
                yield chunk
        finally:
            self._loop.call_soon_threadsafe(resp.release)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, asyncio.TimeoutError):
        return "timed out"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return "cannot connect"
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text.split("?", 1)[0][:200]
