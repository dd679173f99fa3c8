"""Waiting until a resource settles: backoff with jitter, an overall deadline, no lost state.

The first poll happens at once; then the delay starts at ``poll_interval`` (default 1 s) and
grows x1.5 up to 15 s, each sleep drawn in ``[0.8, 1.0] x`` the delay so that a fleet of
waiters spreads out. The deadline is checked before every sleep and no sleep overshoots it;
on expiry :class:`~modelsec.errors.WaitTimeoutError` (or a subclass) carries the last state seen.
Cancellation is never caught: cancelling a wait cancels its sleep or request and nothing else.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from modelsec.errors import APITimeoutError, WaitTimeoutError

__all__ = ["DEFAULT_MAX_INTERVAL", "poll_until"]

log = logging.getLogger("modelsec.polling")

T = TypeVar("T")

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
        except APITimeoutError:
            if deadline is None or clock() < deadline or last is None:
                raise
            raise error(f"gave up after {timeout:g}s: {describe(last)}", last=last) from None
        last = current
        if settled(current):
            return current
        if deadline is not None:
            left = deadline - clock()
            if left <= 0:
                raise error(f"gave up after {timeout:g}s: {describe(current)}", last=current)
        pause = delay * (0.8 + 0.2 * rand())
        if deadline is not None:
            pause = min(pause, max(0.0, deadline - clock()))
        await sleep(pause)
        if poll_interval is None:
            delay = min(DEFAULT_MAX_INTERVAL, delay * GROWTH)
