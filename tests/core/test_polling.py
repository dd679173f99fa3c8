"""poll_until: backoff, deadline, transient poll failures, errors that end the wait."""

from __future__ import annotations

import random
from typing import Any

import pytest

from modelsec.core.polling import poll_until
from modelsec.errors import (
    APIConnectionError,
    InternalServerError,
    NotFoundError,
    WaitTimeoutError,
)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def _server_error() -> InternalServerError:
    return InternalServerError("GET /x -> 503: busy", status_code=503)


async def test_transient_poll_failures_do_not_end_the_wait() -> None:
    clock = Clock()
    outcomes: list[Any] = [_server_error(), APIConnectionError("reset"), "PENDING", "ALLOWED"]

    async def fetch(_: float | None) -> str:
        item = outcomes.pop(0)
        if isinstance(item, Exception):
            raise item
        return str(item)

    result = await poll_until(
        fetch,
        lambda s: s != "PENDING",
        timeout=60,
        sleep=clock.sleep,
        rand=random.random,
        clock=clock,
    )
    assert result == "ALLOWED"
    assert outcomes == []
    assert len(clock.sleeps) == 3


async def test_backoff_grows_and_is_capped() -> None:
    clock = Clock()

    async def fetch(_: float | None) -> str:
        return "PENDING"

    with pytest.raises(WaitTimeoutError) as info:
        await poll_until(
            fetch,
            lambda s: s != "PENDING",
            timeout=100,
            sleep=clock.sleep,
            rand=lambda: 1.0,
            clock=clock,
        )
    assert info.value.last == "PENDING"
    assert clock.sleeps[:4] == [1.0, 1.5, 2.25, 3.375]
    assert max(clock.sleeps) <= 15.0
    assert sum(clock.sleeps) == pytest.approx(100)  # no sleep overshoots the deadline


async def test_failures_until_the_deadline_keep_the_last_state() -> None:
    clock = Clock()
    calls = 0

    async def fetch(_: float | None) -> str:
        nonlocal calls
        calls += 1
        if calls == 1:
            return "PENDING"
        raise _server_error()

    with pytest.raises(WaitTimeoutError, match="last poll failed") as info:
        await poll_until(
            fetch,
            lambda s: s != "PENDING",
            timeout=10,
            sleep=clock.sleep,
            rand=random.random,
            clock=clock,
        )
    assert info.value.last == "PENDING"
    assert isinstance(info.value.__cause__, InternalServerError)


async def test_no_state_ever_read_reraises_the_transient_error() -> None:
    clock = Clock()

    async def fetch(_: float | None) -> str:
        raise APIConnectionError("down")

    with pytest.raises(APIConnectionError, match="down"):
        await poll_until(
            fetch,
            lambda s: s != "PENDING",
            timeout=5,
            sleep=clock.sleep,
            rand=random.random,
            clock=clock,
        )


async def test_non_transient_errors_end_the_wait_at_once() -> None:
    clock = Clock()

    async def fetch(_: float | None) -> str:
        raise NotFoundError("GET /x -> 404: no such scan", status_code=404)

    with pytest.raises(NotFoundError):
        await poll_until(
            fetch,
            lambda s: s != "PENDING",
            timeout=60,
            sleep=clock.sleep,
            rand=random.random,
            clock=clock,
        )
    assert clock.sleeps == []
