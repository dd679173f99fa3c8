"""Waiting until a resource settles: backoff with jitter, an overall deadline, no lost state.

The first poll happens at once; then the delay starts at ``poll_interval`` (default 1 s) and
grows x1.5 up to 15 s, each sleep drawn in ``[0.8, 1.0] x`` the delay so that a fleet of
waiters spreads out. The deadline is checked before every sleep and no sleep overshoots it;
on expiry :class:`~modelsec.errors.WaitTimeoutError` (or a subclass) carries the last state seen.
A poll that fails with a transient error (connection, 5xx, 429) after the request's own
retries is not fatal: the state is read again until the deadline. Cancellation is never caught:
cancelling a wait cancels its sleep or request and nothing else.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from modelsec.errors import (
    APIConnectionError,
    InternalServerError,
    RateLimitError,
    WaitTimeoutError,
)

__all__ = ["DEFAULT_MAX_INTERVAL", "TRANSIENT_ERRORS", "poll_until"]

log = logging.getLogger("modelsec.polling")

T = TypeVar("T")

# Failures a later read may not meet again: connection trouble (timeouts included), 5xx, and
# 429 (too long a Retry-After for the request's own retries).
TRANSIENT_ERRORS: tuple[type[Exception], ...] = (
    APIConnectionError,
    InternalServerError,
    RateLimitError,
)

DEFAULT_FIRST_INTERVAL = 1.0
DEFAULT_MAX_INTERVAL = 15.0
GROWTH = 1.5


async def poll_until(
    fetch: Callable[[float | None], Awaitable[T]],
    settled: Callable[[T], bool],
    *,
    timeout: float | None,
    poll_interval: float | None = None,
    sleep: Callable[[float], Awaitable[Any]],
    rand: Callable[[], float],
    clock: Callable[[], float] = time.monotonic,
    describe: Callable[[T], str] = repr,
    error: type[WaitTimeoutError] = WaitTimeoutError,
) -> T:
    """Call ``fetch`` until ``settled(result)``; return the settled result.

    Args:
        fetch: gets the current state; it receives the seconds left (or None) so that one
            request cannot outlive the deadline.
        poll_interval: a fixed interval instead of the growing one.
        timeout: overall seconds; None waits forever.

    Raises:
        WaitTimeoutError: (or ``error``) with ``last`` set, when the deadline passes first.
        The last transient error itself, when no state was ever read before the deadline.
        Any other error of ``fetch`` at once (not found, refused credentials, ...).

    Example:
        >>> import asyncio, random
        >>> states = iter(["PENDING", "PENDING", "ALLOWED"])
        >>> async def fetch(_):
        ...     return next(states)
        >>> async def no_sleep(_):
        ...     pass
        >>> asyncio.run(poll_until(fetch, lambda s: s != "PENDING", timeout=10,
        ...     sleep=no_sleep, rand=random.random))
        'ALLOWED'
    """
    if timeout is not None and timeout <= 0:
        raise ValueError("timeout must be > 0 (or None to wait forever)")
    if poll_interval is not None and poll_interval <= 0:
        raise ValueError("poll_interval must be > 0")
    deadline = None if timeout is None else clock() + timeout
    delay = poll_interval or DEFAULT_FIRST_INTERVAL
    last: T | None = None
    while True:
        # One request may run a little past the deadline (at least 1 s), so that the last
        # look at the state is not cut off mid-flight; the wait still ends near the deadline.
        remaining = None if deadline is None else max(1.0, deadline - clock())
        try:
            current = await fetch(remaining)
        except TRANSIENT_ERRORS as exc:
            # A poll is a read: a failure that outlived the request's own retries is "no news
            # yet", not the end of the wait. Keep polling until the deadline.
            if deadline is not None and clock() >= deadline:
                if last is None:
                    raise
                raise error(
                    f"gave up after {timeout:g}s: {describe(last)} (last poll failed: {exc})",
                    last=last,
                ) from exc
            log.info("poll failed (%s); polling again", exc)
        else:
            last = current
            if settled(current):
                return current
            if deadline is not None and deadline - clock() <= 0:
                raise error(f"gave up after {timeout:g}s: {describe(current)}", last=current)
        pause = delay * (0.8 + 0.2 * rand())
        if deadline is not None:
            pause = min(pause, max(0.0, deadline - clock()))
        await sleep(pause)
        if poll_interval is None:
            delay = min(DEFAULT_MAX_INTERVAL, delay * GROWTH)
