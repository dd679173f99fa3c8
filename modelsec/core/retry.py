"""Retry policy: which failures are retried, how long to wait, and ``Retry-After`` parsing.

Pure functions and a small frozen policy object, so the maths can be property-tested.
"""

from __future__ import annotations

import datetime as _dt
import email.utils
import random
from collections.abc import Callable

import attrs

__all__ = [
    "RETRYABLE_STATUSES",
    "RetryPolicy",
    "backoff_delay",
    "parse_retry_after",
]

# 408 timeout, 429 rate limit, and the transient 5xx. 501/505 mean "never works"; 409 is a
# real conflict on this API (names, states), not a transient lock.
RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})

# Statuses after which the server provably did not act on a creating POST: it refused the
# request before doing anything.
NOT_ACTED_STATUSES = frozenset({429})


def backoff_delay(
    attempt: int,
    *,
    base: float = 0.5,
    cap: float = 8.0,
    rand: Callable[[], float] = random.random,
) -> float:
    """Full-jitter exponential backoff: a uniform draw in ``[0, min(cap, base * 2**attempt)]``.

    Full jitter spreads a fleet of clients that failed together, so they do not retry in
    lock-step (AWS architecture blog, "Exponential Backoff and Jitter").

    Example:
        >>> backoff_delay(0, rand=lambda: 1.0)
        0.5
        >>> backoff_delay(10, rand=lambda: 1.0)
        8.0
    """
    ceiling = min(cap, base * (2 ** max(0, attempt)))
    return float(ceiling * rand())


def parse_retry_after(
    value: str | None,
    *,
    now: Callable[[], _dt.datetime] = lambda: _dt.datetime.now(_dt.timezone.utc),
) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delay-seconds or HTTP-date), or None.

    Negative or unparseable values give None; a date in the past gives 0.

    Example:
        >>> parse_retry_after("3")
        3.0
        >>> import datetime as dt
        >>> t0 = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
        >>> parse_retry_after("Thu, 01 Jan 2026 00:00:10 GMT", now=lambda: t0)
        10.0
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        if seconds != seconds or seconds < 0 or seconds == float("inf"):  # NaN, negative, inf
            return None
        return seconds
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=_dt.timezone.utc)
    return max(0.0, (when - now()).total_seconds())


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """When and how long to retry.

    Attributes:
        max_retries: retries after the first attempt (2 means up to 3 attempts).
        base_delay, max_delay: full-jitter backoff parameters, seconds.
        retry_after_cap: the longest ``Retry-After`` honoured; a longer one is not waited for
            and the error (``RateLimitError`` with ``retry_after``) goes to the caller.

    Example:
        >>> policy = RetryPolicy(max_retries=2)
        >>> policy.should_retry_status(503, attempt=0, replayable=True)
        True
        >>> policy.should_retry_status(502, attempt=0, replayable=False)
        False
        >>> policy.should_retry_status(429, attempt=0, replayable=False)
        True
    """

    max_retries: int = 2
    base_delay: float = 0.5
    max_delay: float = 8.0
    retry_after_cap: float = 60.0

    def should_retry_status(self, status: int, *, attempt: int, replayable: bool) -> bool:
        """Whether a response with ``status`` on attempt ``attempt`` (0-based) is retried.

        A non-replayable request (a creating POST) is retried only on statuses where the
        server provably did not act.
        """
        if attempt >= self.max_retries or status not in RETRYABLE_STATUSES:
            return False
        return replayable or status in NOT_ACTED_STATUSES

    def should_retry_connection(self, *, attempt: int, replayable: bool, sent: bool) -> bool:
        """Whether a connection failure is retried.

        ``sent`` is False when the connection was never established, so the server cannot
        have seen the request; then even a creating POST is safe to send again.
        """
        if attempt >= self.max_retries:
            return False
        return replayable or not sent

    def delay(
        self,
        attempt: int,
        retry_after: float | None = None,
        *,
        rand: Callable[[], float] = random.random,
    ) -> float:
        """Seconds to sleep before retry number ``attempt + 1``.

        The server's ``Retry-After`` wins when given (callers check the cap first).
        """
        if retry_after is not None:
            return retry_after
        return backoff_delay(attempt, base=self.base_delay, cap=self.max_delay, rand=rand)
