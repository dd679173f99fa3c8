"""OAuth2 client-credentials token cache, shared by both planes and every options copy.

One token serves the data and management planes. It is refreshed ahead of expiry (60 s
early, or half its lifetime when that is shorter), fetched by one request however many
callers need it at once (single flight: later callers await the same fetch), and invalidated
only when the very token that got a 401 is still the cached one (a caller holding an old token
must not throw away a fresh one).

A fetch is bounded by the client's timeouts (connect and read per attempt, ``total`` for the
whole fetch with its retries); each caller waits for it no longer than its own call's deadline.
Every token received is remembered (a bounded number) in the client's :class:`Secrets`, so that
no error or log line can show one, nor the client secret, even when a server echoes them.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import aiohttp
import attrs

from modelsec.config import Timeouts
from modelsec.core.redact import Secrets, safe_url
from modelsec.core.retry import RetryPolicy, parse_retry_after
from modelsec.errors import APIConnectionError, APITimeoutError, OAuthError, error_message_from_body

__all__ = ["TokenCache", "TokenInfo"]

log = logging.getLogger("modelsec.auth")


@attrs.frozen(kw_only=True)
class TokenInfo:
    """What is known of the cached token, without the token itself.

    Example:
        >>> TokenInfo(has_token=False, expires_in=None, fetch_count=0, scope=None)
        TokenInfo(has_token=False, expires_in=None, fetch_count=0, scope=None)
    """

    has_token: bool
    expires_in: float | None  # seconds left, by the cache's clock
    fetch_count: int  # token requests made so far (successful or not)
    scope: str | None


@attrs.define
class _Token:
    value: str = attrs.field(repr=False)
    expires_at: float  # on the cache's monotonic clock
    refresh_at: float
    scope: str | None


class TokenCache:
    """Fetches and caches the bearer token.

    Args:
        client_id, client_secret, tsg_id: the credentials; the scope sent is ``tsg_id:<tsg>``.
        token_endpoint: the OAuth2 token URL.
        retry: retries of 5xx, 429 and connection failures of the token request.
        clock: a monotonic clock (injectable for tests).
        sleep: the backoff sleep (injectable for tests).
        timeouts: connect and read per attempt, ``total`` for a whole fetch (the client's).
        secrets: where the secret and every token received are registered for scrubbing.

    Example:
        >>> cache = TokenCache(client_id="id", client_secret="s", tsg_id="1",
        ...     token_endpoint="https://auth.example/oauth2/access_token")
        >>> cache.token_info().has_token
        False
    """

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        tsg_id: str,
        token_endpoint: str,
        retry: RetryPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        request_timeout: aiohttp.ClientTimeout | None = None,
        timeouts: Timeouts | None = None,
        secrets: Secrets | None = None,
    ) -> None:
        self._client_id = client_id
        self._client_secret = client_secret
        self._tsg_id = tsg_id
        self._endpoint = token_endpoint
        self._retry = retry or RetryPolicy()
        self._clock = clock
        self._sleep = sleep
        self._timeout = request_timeout  # an explicit per-attempt timeout wins
        self._timeouts = timeouts or Timeouts()
        self.secrets = secrets if secrets is not None else Secrets()
        self.secrets.add_basic(client_id, client_secret)
        self.url = safe_url(token_endpoint)  # for messages: no credentials, no query
        self._token: _Token | None = None
        self._inflight: asyncio.Task[_Token] | None = None
        self.fetch_count = 0
        # Set by the transport when the environment names a proxy for the token host.
        # (proxy URL, Proxy-Authorization header or None)
        self.proxy: tuple[str, Mapping[str, str] | None] | None = None

    def __repr__(self) -> str:
        return f"TokenCache(client_id={self._client_id!r}, tsg_id={self._tsg_id!r})"

    def token_info(self) -> TokenInfo:
        """Report the cached token's state (never the token itself)."""
        token = self._token
        if token is None:
            return TokenInfo(
                has_token=False, expires_in=None, fetch_count=self.fetch_count, scope=None
            )
        return TokenInfo(
            has_token=True,
            expires_in=max(0.0, token.expires_at - self._clock()),
            fetch_count=self.fetch_count,
            scope=token.scope,
        )

    def invalidate(self, token: str) -> bool:
        """Drop the cached token if it is ``token``; return whether it was dropped."""
        if self._token is not None and self._token.value == token:
            self._token = None
            return True
        return False

    def fresh_token(self) -> str | None:
        """The cached token while it is not due for refresh, else None (no I/O)."""
        token = self._token
        if token is not None and self._clock() < token.refresh_at:
            return token.value
        return None

    async def get_token(
        self, session: aiohttp.ClientSession, *, timeout: float | None = None
    ) -> str:
        """Return a valid token, fetching one if none is cached or it is due for refresh.

        Args:
            timeout: the longest this caller waits (what is left of its call's deadline); the
                fetch itself goes on for the other callers.

        Raises:
            APITimeoutError: no token within ``timeout`` (the message names the token URL).
            OAuthError, APIConnectionError: the fetch failed.
        """
        cached = self.fresh_token()
        if cached is not None:
            return cached
        task = self._inflight
        if task is None or task.done():
            # A separate task, so that a caller cancelled while waiting does not cancel the
            # fetch other callers are waiting for.
            task = asyncio.ensure_future(self._fetch(session))
            task.add_done_callback(_consume_exception)
            self._inflight = task
        try:
            if timeout is None:
                fresh = await asyncio.shield(task)
            else:
                fresh = await asyncio.wait_for(asyncio.shield(task), max(timeout, 0.0))
        except asyncio.TimeoutError:
            raise APITimeoutError(
                f"POST {self.url}: no token before the call's deadline "
                f"({max(timeout or 0.0, 0.0):.1f}s were left)"
            ) from None
        finally:
            if task.done() and self._inflight is task:
                self._inflight = None
        return fresh.value

    def close(self) -> None:
        """Cancel a fetch still running (called when the client closes)."""
        if self._inflight is not None and not self._inflight.done():
            self._inflight.cancel()
        self._inflight = None

    async def _fetch(self, session: aiohttp.ClientSession) -> _Token:
        attempt = 0
        total = self._timeouts.total
        deadline = None if total is None else self._clock() + total
        while True:
            self.fetch_count += 1
            try:
                token = await self._request_once(session, deadline)
            except _RetryableTokenError as exc:
                too_long = (
                    exc.retry_after is not None and exc.retry_after > self._retry.retry_after_cap
                )
                if attempt >= self._retry.max_retries or too_long:
                    raise exc.final from exc.__cause__
                delay = self._retry.delay(attempt, exc.retry_after)
                if deadline is not None and self._clock() + delay >= deadline:
                    raise exc.final from exc.__cause__  # the retry could not end in time
                log.info("token request failed (%s); retrying in %.2fs", exc.final.message, delay)
                await self._sleep(delay)
                attempt += 1
                continue
            self.secrets.add_token(token.value)
            self._token = token
            return token

    def _attempt_timeout(self, deadline: float | None) -> aiohttp.ClientTimeout:
        if self._timeout is not None:
            return self._timeout
        connect, read = self._timeouts.connect, self._timeouts.read
        # A token answer is small: connect + read bounds an attempt even when the answer
        # trickles in a byte at a time (each byte would reset the read timer).
        cap = None if connect is None or read is None else connect + read
        if deadline is not None:
            left = max(deadline - self._clock(), 0.001)
            cap = left if cap is None else min(cap, left)
        return aiohttp.ClientTimeout(total=cap, sock_connect=connect, sock_read=read)

    async def _request_once(self, session: aiohttp.ClientSession, deadline: float | None) -> _Token:
        data = {"grant_type": "client_credentials", "scope": f"tsg_id:{self._tsg_id}"}
        auth = basic_auth(self._client_id, self._client_secret)
        started = self._clock()
        where = f"POST {self.url}"
        headers = {"Accept": "application/json", "Authorization": auth}
        if self.proxy and self.proxy[1] and self._endpoint.startswith("http:"):
            headers.update(self.proxy[1])  # see Transport: plain http carries them itself
        try:
            async with session.post(
                self._endpoint,
                data=data,
                headers=headers,
                timeout=self._attempt_timeout(deadline),
                proxy=self.proxy[0] if self.proxy else None,
                proxy_headers=self.proxy[1] if self.proxy else None,
            ) as resp:
                raw = await resp.read()
                status = resp.status
                request_id = resp.headers.get("x-request-id")
                retry_after = parse_retry_after(resp.headers.get("Retry-After"))
        except asyncio.TimeoutError as exc:
            raise _RetryableTokenError(
                APITimeoutError(f"{where}: token request timed out")
            ) from sanitized(exc)
        except aiohttp.ClientError as exc:
            detail = self.secrets.scrub(describe_exception(exc))
            raise _RetryableTokenError(
                APIConnectionError(f"{where}: token endpoint unreachable: {detail}")
            ) from sanitized(exc)
        body = _parse_body(raw)
        if status != 200:
            # An error body may echo the credentials (an error_description quoting them):
            # nothing of it reaches a message or an attribute unscrubbed. A success body is
            # left alone: it holds the token itself.
            body = self.secrets.scrub_json(body)
        if status >= 500 or status in (408, 429):
            message = error_message_from_body(body) or f"HTTP {status}"
            raise _RetryableTokenError(
                OAuthError(
                    self.secrets.scrub(f"token endpoint answered {status}: {message}"),
                    status_code=status,
                    body=body,
                    request_id=request_id,
                ),
                retry_after=retry_after,
            )
        if status != 200:
            message = error_message_from_body(body) or f"HTTP {status}"
            if isinstance(body, dict) and isinstance(body.get("error"), str):
                desc = body.get("error_description")
                message = f"{body['error']}: {desc}" if desc else body["error"]
            raise OAuthError(
                self.secrets.scrub(f"token request refused ({status}): {message}"),
                status_code=status,
                body=body,
                request_id=request_id,
            )
        if not isinstance(body, dict) or not isinstance(body.get("access_token"), str):
            raise OAuthError("token endpoint answered without an access_token", status_code=status)
        try:
            lifetime = float(body.get("expires_in", 900))
        except (TypeError, ValueError):
            lifetime = 900.0
        lifetime = max(lifetime, 0.0)
        # Refresh 60 s early, or at half the lifetime for short-lived tokens.
        margin = min(60.0, lifetime / 2)
        scope = body.get("scope") if isinstance(body.get("scope"), str) else None
        return _Token(
            value=body["access_token"],
            expires_at=started + lifetime,
            refresh_at=started + lifetime - margin,
            scope=scope,
        )


class _RetryableTokenError(Exception):
    def __init__(self, final: OAuthError | APIConnectionError, retry_after: float | None = None):
        super().__init__(final.message)
        self.final = final
        self.retry_after = retry_after


def describe_exception(exc: BaseException, limit: int = 200) -> str:
    """``Type: text`` of an aiohttp exception, for a message (callers scrub it).

    Example:
        >>> describe_exception(ConnectionResetError("peer reset"))
        'ConnectionResetError: peer reset'
    """
    text = " ".join(str(exc).split())[:limit]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def sanitized(exc: BaseException) -> BaseException:
    """``exc`` made safe to chain as the cause of our error, and returned.

    ``ClientResponseError`` (a proxy's refusal, for one) keeps ``request_info.headers``, which
    hold the ``Authorization`` (or ``Proxy-Authorization``) sent: left as is, a credential
    would sit one attribute away from every handler. Those headers are redacted in place.
    """
    if isinstance(exc, aiohttp.ClientResponseError):
        from multidict import CIMultiDict, CIMultiDictProxy

        from modelsec.core.redact import redact_headers

        info = exc.request_info
        headers = CIMultiDictProxy(CIMultiDict(redact_headers(dict(info.headers))))
        exc.request_info = info._replace(headers=headers)
    return exc


def basic_auth(user: str, password: str) -> str:
    # aiohttp 3.14 deprecates BasicAuth objects; the header is simple to build ourselves.
    raw = f"{user}:{password}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


def _consume_exception(task: asyncio.Task[_Token]) -> None:
    # Every waiter may have been cancelled; mark the outcome as seen so asyncio does not log
    # "exception was never retrieved" for a failure nobody is left to hear about.
    if not task.cancelled():
        task.exception()


def _parse_body(raw: bytes) -> Any:
    import json

    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")
