"""The errors of a failed request: URLs named without credentials, known secrets scrubbed.

Example:
    >>> from modelsec.core.redact import Secrets
    >>> err = status_error("GET", "/v1/scans/x", 404, {"detail": "no scan tok-12345"}, None,
    ...     None, 0, Secrets(["tok-12345"]))
    >>> str(err), err.body
    ('GET /v1/scans/x -> 404: no scan ***', {'detail': 'no scan ***'})
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from modelsec.core.redact import Secrets, safe_url
from modelsec.errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    RateLimitError,
    error_message_from_body,
    status_error_class,
)

__all__ = ["connection_error", "status_error"]


def connection_error(
    method: str,
    url: str,
    exc: BaseException,
    retries: int,
    proxy: str | None,
    secrets: Secrets,
) -> APIConnectionError:
    """The error after a connection failure, naming the URL tried (and the proxy, if any).

    Example:
        >>> str(connection_error("GET", "https://api.example/aims/data/v1/scans?skip=0",
        ...     ConnectionResetError("reset by peer"), 2, None, Secrets()))
        'GET https://api.example:443/aims/data/v1/scans failed: ConnectionResetError after 2 \
retries (reset by peer)'
    """
    where = f"{method} {safe_url(url)}"
    if proxy:
        where += f" (via proxy {safe_url(proxy)})"
    suffix = f" after {retries} retries" if retries else ""
    text = " ".join(str(exc).split())[:200]
    detail = secrets.scrub(f" ({text})") if text else ""
    if isinstance(exc, (asyncio.TimeoutError, aiohttp.ServerTimeoutError)):
        return APITimeoutError(f"{where} timed out{suffix}{detail}")
    return APIConnectionError(f"{where} failed: {type(exc).__name__}{suffix}{detail}")


def status_error(
    method: str,
    path: str,
    status: int,
    body: Any,
    request_id: str | None,
    retry_after: float | None,
    retries: int,
    secrets: Secrets,
    *,
    note: str | None = None,
) -> APIStatusError:
    """The error for an error status: its class by status, the body and message scrubbed.

    The body is scrubbed before the message is drawn from it, so that a secret cannot survive
    half-cut by the message's length limit.
    """
    body = secrets.scrub_json(body)
    cls = status_error_class(status)
    message = error_message_from_body(body) or f"HTTP {status}"
    text = f"{method} {path} -> {status}: {message}"
    if retries:
        text += f" (after {retries} retries)"
    if cls is RateLimitError and retry_after is not None:
        text += f"; retry after {retry_after:g}s"
    if note:
        text += f"; {note}"
    return cls(
        secrets.scrub(text),
        status_code=status,
        body=body,
        request_id=request_id,
        retry_after=retry_after,
        method=method,
        url=path,
    )
