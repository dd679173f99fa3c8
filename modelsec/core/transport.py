"""The HTTP layer: one aiohttp session, and one call = attempts + error mapping + logging.

Nothing here knows about resources; ``resources/`` builds paths, queries and bodies and asks
:class:`Transport` to send them. The pure parts of a request (query pairs, encoded paths,
:class:`RequestOptions`, the User-Agent) live in :mod:`modelsec.core.request`, where to send it
in :mod:`modelsec.core.endpoints`, the errors it raises in :mod:`modelsec.core.failures`; the
public names stay importable from here.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
import weakref
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Literal
from urllib.parse import urlsplit

import aiohttp
import attrs

from modelsec.config import ClientConfig, Timeouts
from modelsec.core.auth import TokenCache, basic_auth, sanitized
from modelsec.core.endpoints import ensure_secure_endpoint, env_proxies, is_loopback_url, origin
from modelsec.core.failures import connection_error, status_error
from modelsec.core.redact import Secrets, redact_headers, redact_json, redact_url, safe_url
from modelsec.core.request import QueryValue, RequestOptions, build_query, encode_path, user_agent
from modelsec.core.retry import RetryPolicy, parse_retry_after
from modelsec.errors import (
    APITimeoutError,
    ClientClosedError,
)

__all__ = ["Plane", "RequestOptions", "Transport", "build_query", "encode_path", "is_loopback_url"]

log = logging.getLogger("modelsec")

Plane = Literal["data", "mgmt"]

# Replays after a 401 per call: once per refused token, four at most (under load another
# task's refresh can hand us a token that is revoked in turn).
_MAX_401_REPLAYS = 4
_REQUEST_ID_HEADERS = ("x-request-id", "x-amzn-requestid", "x-correlation-id", "x-trace-id")

_DEFAULT_OPTIONS = RequestOptions()


class Transport:
    """Sends requests for both planes through one lazily created aiohttp session.

    The session is created inside the running event loop on first use and bound to it; using
    the transport from another loop raises ``RuntimeError``. An injected session is used as is
    and never closed by us.

    Example:
        >>> # built by AsyncModelSecurityClient; see modelsec.client
    """

    def __init__(
        self,
        config: ClientConfig,
        *,
        session: aiohttp.ClientSession | None = None,
        token_cache: TokenCache | None = None,
    ) -> None:
        for what, url in (
            ("data_endpoint", config.data_endpoint),
            ("mgmt_endpoint", config.mgmt_endpoint),
            ("token_endpoint", config.token_endpoint),
        ):
            ensure_secure_endpoint(url, what)
        self.config = config
        self.retry = RetryPolicy(
            max_retries=config.max_retries, retry_after_cap=config.retry_after_cap
        )
        self._session = session
        self._owns_session = session is None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.tokens = token_cache or TokenCache(
            client_id=config.client_id,
            client_secret=config.client_secret,
            tsg_id=config.tsg_id,
            token_endpoint=config.token_endpoint,
            retry=self.retry,
            timeouts=config.timeouts,
            secrets=Secrets(),
        )
        # What no error, log line or repr may show: the secret, the tokens held, proxy passwords.
        self.secrets = self.tokens.secrets
        # Set by the sync facade: called with our session if we are collected with it open,
        # so that it is closed on its own loop (see modelsec.sync._portal).
        self.on_abandoned: Callable[[aiohttp.ClientSession], None] | None = None
        self._abandon: weakref.finalize[Any, Any] | None = None
        self.user_agent = user_agent(config.user_agent_suffix)
        self._bases: dict[str, str] = {"data": config.data_endpoint, "mgmt": config.mgmt_endpoint}
        self.closed = False
        # origin -> (proxy URL without credentials, its Proxy-Authorization header or None)
        self._proxies: dict[str, tuple[str, Mapping[str, str] | None]] = {}
        self._client_timeouts: dict[Timeouts, aiohttp.ClientTimeout] = {}
        self._default_client_timeout: aiohttp.ClientTimeout | None = None
        # Patchable in tests: the backoff sleep and the jitter source.
        self.sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep
        self.rand: Callable[[], float] = random.random
        self.clock: Callable[[], float] = time.monotonic
        # When the service says 429, every request of this client (all tasks of a batch)
        # holds off until this moment, so a fleet slows down together instead of each task
        # hammering the service on its own schedule.
        self._paused_until = 0.0

    # -- session ---------------------------------------------------------------------------

    def _current_loop(self) -> asyncio.AbstractEventLoop:
        try:
            return asyncio.get_running_loop()
        except RuntimeError:
            raise RuntimeError("modelsec async client used outside a running event loop") from None

    async def get_session(self) -> aiohttp.ClientSession:
        """The session, created on first use inside the running loop."""
        if self.closed:
            raise ClientClosedError(
                "this modelsec client is closed; create a new one (or make calls inside its "
                "'async with' / 'with' block)"
            )
        loop = self._current_loop()
        if self._loop is None:
            self._loop = loop
        elif self._loop is not loop:
            raise RuntimeError(
                "this modelsec client is bound to another event loop; create one client per "
                "loop (or use modelsec.ModelSecurityClient from threads)"
            )
        if self._session is None:
            connector = aiohttp.TCPConnector(
                limit=self.config.max_connections,
                limit_per_host=self.config.max_connections_per_host,
                ttl_dns_cache=300,
                ssl=self.config.ssl_context if self.config.ssl_context is not None else True,
            )
            if self.config.trust_env:
                # aiohttp's own trust_env looks proxies (and netrc) up in a worker thread on
                # every request, which costs more than the request on a fast network. Our
                # hosts are fixed, so look them up once (environment reads, no I/O; done
                # inline so that concurrent first calls cannot race to build two sessions).
                cfg = self.config
                found = env_proxies([cfg.data_endpoint, cfg.mgmt_endpoint, cfg.token_endpoint])
                for where, (proxy, auth) in found.items():
                    # Credentials in HTTP(S)_PROXY are legitimate proxy auth: sent to the proxy
                    # (aiohttp has taken them out of the URL), never shown.
                    headers = None
                    if auth is not None:
                        self.secrets.add_basic(auth.login, auth.password)
                        headers = {"Proxy-Authorization": basic_auth(auth.login, auth.password)}
                        proxy_shown = proxy.replace("://", "://***@", 1)
                    else:
                        proxy_shown = redact_url(proxy)
                    self._proxies[where] = (proxy, headers)
                    log.debug("requests to %s go through proxy %s", where, proxy_shown)
                self.tokens.proxy = self._proxies.get(origin(self.config.token_endpoint))
            self._session = aiohttp.ClientSession(
                connector=connector,
                trust_env=False,
                cookie_jar=aiohttp.DummyCookieJar(),
                timeout=aiohttp.ClientTimeout(total=None),
            )
            if self.on_abandoned is not None:
                # Holds the session, not us: runs once we are unreachable with it still open.
                self._abandon = weakref.finalize(self, self.on_abandoned, self._session)
                self._abandon.atexit = False
        return self._session

    async def close(self) -> None:
        """Close the session if we created it. Safe to call twice."""
        if self.closed:
            return
        self.closed = True
        self.tokens.close()
        if self._abandon is not None:
            self._abandon.detach()
        if self._session is not None and self._owns_session and not self._session.closed:
            await self._session.close()

    @property
    def has_open_session(self) -> bool:
        """True while a session we own is open (for the unclosed-client warning)."""
        return (
            self._owns_session
            and self._session is not None
            and not self._session.closed
            and not self.closed
        )

    # -- requests --------------------------------------------------------------------------

    def url(self, plane: Plane, path: str) -> str:
        """The absolute URL of ``path`` on ``plane``."""
        return self._bases[plane] + path

    async def request(
        self,
        method: str,
        plane: Plane,
        path: str,
        *,
        params: Mapping[str, QueryValue] | None = None,
        json_body: Any = None,
        replayable: bool | None = None,
        options: RequestOptions | None = None,
    ) -> Any:
        """Send one API call with retries; return the parsed JSON (None for an empty body).

        Args:
            replayable: whether the server may safely see the request twice. Defaults to True
                for GET/PUT/DELETE and False for POST; a non-replayable request is retried only
                where the server provably did not act (connection never made, 429).

        Raises:
            APIStatusError: a subclass per status (``NotFoundError``, ``RateLimitError``, ...).
            APIConnectionError, APITimeoutError: after the retries.
        """
        opts = options or _DEFAULT_OPTIONS
        if replayable is None:
            replayable = method.upper() != "POST"
        max_retries = self.retry.max_retries if opts.max_retries is None else opts.max_retries
        policy = (
            self.retry
            if max_retries == self.retry.max_retries
            else attrs.evolve(self.retry, max_retries=max_retries)
        )
        timeouts = self._timeouts(opts.timeout)
        url = self.url(plane, path)
        query = build_query(params)
        payload = None if json_body is None else json.dumps(json_body, separators=(",", ":"))
        # The overall deadline bounds every wait of the call: the token fetch, each attempt
        # (aiohttp's ``total``, so that a body trickled a byte at a time cannot outlive it), and
        # each backoff sleep (none is started that cannot end in time).
        deadline = None if timeouts.total is None else self.clock() + timeouts.total
        return await self._send(
            method, url, path, query, payload, replayable, policy, timeouts, opts, deadline
        )

    def _timeouts(self, override: float | Timeouts | None) -> Timeouts:
        if override is None:
            return self.config.timeouts
        if isinstance(override, Timeouts):
            return override
        # A single number caps the whole call and each read.
        return Timeouts(
            connect=min(override, self.config.timeouts.connect or override),
            read=override,
            total=override,
        )

    async def _send(
        self,
        method: str,
        url: str,
        path: str,
        query: list[tuple[str, str]],
        payload: str | None,
        replayable: bool,
        policy: RetryPolicy,
        timeouts: Timeouts,
        opts: RequestOptions,
        deadline: float | None,
    ) -> Any:
        session = self._session
        if session is None or self._loop is not asyncio.get_running_loop() or self.closed:
            session = await self.get_session()  # first call, or a misuse to report
        attempt = 0  # retries taken so far
        replays_401 = 0
        refused_token: str | None = None
        client_timeout = self._client_timeout(timeouts)
        proxy, proxy_headers = (
            self._proxies.get(origin(url), (None, None)) if self._proxies else (None, None)
        )
        last_failure = "none"
        while True:
            # ``_paused_until`` stays 0 until the first 429: no clock read on the common path.
            hold = self._paused_until and self._paused_until - self.clock()
            if hold > 0:
                self._check_deadline(method, url, deadline, hold, timeouts, last_failure)
                await self.sleep(hold)
            # A cached token costs no await; a missing or stale one is fetched (single flight),
            # waited for no longer than this call's deadline.
            token = self.tokens.fresh_token() or await self.tokens.get_token(
                session, timeout=None if deadline is None else deadline - self.clock()
            )
            if deadline is not None:
                left = self._check_deadline(method, url, deadline, 0.0, timeouts, last_failure)
                # One timer per attempt (a few us of CPU): the read timeout alone is reset by
                # every byte, so only a total stops a response (or headers) that never ends.
                client_timeout = aiohttp.ClientTimeout(
                    total=left, sock_connect=timeouts.connect, sock_read=timeouts.read
                )
            headers = {
                "Authorization": f"Bearer {token}",
                "Accept": "application/json",
                "User-Agent": self.user_agent,
                "x-modelsec-retry-count": str(attempt),
            }
            if payload is not None:
                headers["Content-Type"] = "application/json"
            if proxy_headers is not None and url.startswith("http:"):
                # Plain http goes to the proxy as is: the credentials ride on the request
                # (aiohttp uses ``proxy_headers`` only for an https tunnel's CONNECT).
                headers.update(proxy_headers)
            headers.update(opts.extra_headers)
            if log.isEnabledFor(logging.DEBUG):
                log.debug(
                    "-> %s %s query=%s headers=%s body=%s",
                    method,
                    path,
                    query,
                    redact_headers(headers),
                    _redacted_body(payload, self.secrets),
                )
            started = time.perf_counter()
            try:
                async with session.request(
                    method,
                    url,
                    params=query or None,
                    data=payload,
                    headers=headers,
                    timeout=client_timeout,
                    proxy=proxy,
                    proxy_headers=proxy_headers,
                ) as resp:
                    raw = await resp.read()
                    status = resp.status
                    resp_headers = resp.headers
            except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
                # The connection was never established: the server did not see the request.
                last_failure = type(exc).__name__
                if policy.should_retry_connection(
                    attempt=attempt, replayable=replayable, sent=False
                ):
                    attempt = await self._backoff(
                        method, url, attempt, policy, None, exc, deadline, timeouts
                    )
                    continue
                failure = connection_error(method, url, exc, attempt, proxy, self.secrets)
                raise failure from sanitized(exc)
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                # Sent, then broke (reset, disconnect, read timeout): the server may have acted.
                last_failure = type(exc).__name__
                if deadline is not None:
                    self._check_deadline(method, url, deadline, 0.0, timeouts, last_failure)
                if policy.should_retry_connection(
                    attempt=attempt, replayable=replayable, sent=True
                ):
                    attempt = await self._backoff(
                        method, url, attempt, policy, None, exc, deadline, timeouts
                    )
                    continue
                failure = connection_error(method, url, exc, attempt, proxy, self.secrets)
                raise failure from sanitized(exc)
            ok = 200 <= status < 300
            # The request id is looked up only when someone will read it (a log line or an
            # error): four case-insensitive header lookups per request add up at volume.
            request_id = None
            if not ok or log.isEnabledFor(logging.INFO):
                request_id = next(
                    (resp_headers[h] for h in _REQUEST_ID_HEADERS if h in resp_headers), None
                )
                log.info(
                    "%s %s -> %d in %.1f ms (retries=%d%s)",
                    method,
                    path,
                    status,
                    (time.perf_counter() - started) * 1000,
                    attempt,
                    f", request_id={request_id}" if request_id else "",
                )
            body = _parse_body(raw, resp_headers.get("Content-Type", ""))
            if log.isEnabledFor(logging.DEBUG):
                shown = self.secrets.scrub_json(redact_json(body))  # before truncating
                log.debug("<- %d %s body=%s", status, path, _truncate(shown))
            if ok:
                return body
            if status == 401 and token != refused_token and replays_401 < _MAX_401_REPLAYS:
                # The token may have been revoked or expired early: drop that token only (other
                # tasks may already hold a newer one) and replay with a fresh one; not counted
                # as a retry. The same token refused twice means the credentials are refused.
                replays_401 += 1
                refused_token = token
                self.tokens.invalidate(token)
                continue
            retry_after = parse_retry_after(resp_headers.get("Retry-After"))
            if policy.should_retry_status(status, attempt=attempt, replayable=replayable) and (
                retry_after is None or retry_after <= policy.retry_after_cap
            ):
                last_failure = f"HTTP {status}"
                if (
                    retry_after is not None
                    and deadline is not None
                    and self.clock() + retry_after >= deadline
                ):
                    # The service said when to come back, and that is past the deadline: its
                    # answer (status, Retry-After) is worth more to the caller than a timeout.
                    left = max(deadline - self.clock(), 0.0)
                    raise status_error(
                        method,
                        path,
                        status,
                        body,
                        request_id,
                        retry_after,
                        attempt,
                        self.secrets,
                        note=f"not retried: Retry-After {retry_after:g}s is beyond the "
                        f"{left:.1f}s left of the call's {timeouts.total:g}s deadline",
                    )
                if status == 429:
                    delay = policy.delay(attempt, retry_after, rand=self.rand)
                    self._check_deadline(method, url, deadline, delay, timeouts, last_failure)
                    self.pause_all(delay)
                    log.info(
                        "%s %s rate limited; all requests pause %.2fs (retry %d)",
                        method,
                        path,
                        delay,
                        attempt + 1,
                    )
                    attempt += 1
                    continue
                attempt = await self._backoff(
                    method, url, attempt, policy, retry_after, status, deadline, timeouts
                )
                continue
            raise status_error(
                method, path, status, body, request_id, retry_after, attempt, self.secrets
            )

    def pause_all(self, seconds: float) -> None:
        """Hold every request of this client for ``seconds`` (shared rate-limit backoff)."""
        self._paused_until = max(self._paused_until, self.clock() + seconds)

    def _client_timeout(self, timeouts: Timeouts) -> aiohttp.ClientTimeout:
        """aiohttp's per-attempt timeout for ``timeouts`` (built once per distinct value)."""
        if timeouts is self.config.timeouts and self._default_client_timeout is not None:
            return self._default_client_timeout  # no hashing of the attrs value per request
        cached = self._client_timeouts.get(timeouts)
        if cached is None:
            cached = aiohttp.ClientTimeout(
                total=None, sock_connect=timeouts.connect, sock_read=timeouts.read
            )
            if len(self._client_timeouts) < 64:  # per-call timeouts could be anything
                self._client_timeouts[timeouts] = cached
            if timeouts is self.config.timeouts:
                self._default_client_timeout = cached
        return cached

    def _check_deadline(
        self,
        method: str,
        url: str,
        deadline: float | None,
        wait: float,
        timeouts: Timeouts,
        last_failure: str,
    ) -> float:
        """Seconds left after waiting ``wait``; raise APITimeoutError if none would be left."""
        if deadline is None:
            return float("inf")
        left = deadline - self.clock() - wait
        if left <= 0:
            raise APITimeoutError(
                f"{method} {safe_url(url)} did not complete within {timeouts.total:g}s "
                f"(last failure: {last_failure})"
            )
        return left

    async def _backoff(
        self,
        method: str,
        url: str,
        attempt: int,
        policy: RetryPolicy,
        retry_after: float | None,
        cause: object,
        deadline: float | None,
        timeouts: Timeouts,
    ) -> int:
        delay = policy.delay(attempt, retry_after, rand=self.rand)
        reason = f"HTTP {cause}" if isinstance(cause, int) else type(cause).__name__
        self._check_deadline(method, url, deadline, delay, timeouts, reason)
        path = urlsplit(url).path
        log.info("%s %s failed (%s); retry %d in %.2fs", method, path, reason, attempt + 1, delay)
        await self.sleep(delay)
        return attempt + 1


def _parse_body(raw: bytes, content_type: str) -> Any:
    if not raw:
        return None
    text = raw.decode("utf-8", "replace")
    if "json" in content_type or text[:1] in ("{", "["):
        try:
            return json.loads(text)
        except ValueError:
            return text
    return text


def _redacted_body(payload: str | None, secrets: Secrets) -> str:
    if payload is None:
        return "-"
    try:
        return _truncate(secrets.scrub_json(redact_json(json.loads(payload))))
    except ValueError:
        return "<non-json>"


def _truncate(value: Any, limit: int = 2000) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else value
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} chars)"
