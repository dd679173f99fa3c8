"""Issue 13/14: the per-call deadline bounds everything a call waits for, and errors name URLs.

Loopback servers that never answer or trickle a byte at a time; each call must end within its
``total`` plus a generous margin (upper bounds only). The outer ``wait_for`` keeps a regression
from hanging the suite: it fails the test instead.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from typing import Any

import pytest

from modelsec import (
    APIConnectionError,
    APITimeoutError,
    AsyncModelSecurityClient,
    InternalServerError,
    RateLimitError,
    Timeouts,
)
from modelsec.config import ClientConfig
from tests.core import samples as s
from tests.core.conftest import DATA, ClientFactory, FakeAPI
from tests.core.loopback import RawServer, Request, never_answer, send_token

SCAN_URL = f"{DATA}/v1/scans/{s.U1}"
MARGIN = 4.0  # seconds on top of a deadline: generous on a loaded 2-core machine


def kwargs(base: str, token_base: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "client_id": "cid",
        "client_secret": "loopback-secret",
        "tsg_id": "1234567890",
        "data_endpoint": f"{base}/aims/data",
        "mgmt_endpoint": f"{base}/aims/mgmt",
        "token_endpoint": f"{token_base or base}/oauth2/access_token",
        "trust_env": False,
        **extra,
    }


async def timed(call: Awaitable[Any], bound: float) -> tuple[BaseException, float]:
    """Run ``call`` (which must fail), returning its error and how long it took."""
    started = time.monotonic()
    try:
        await asyncio.wait_for(call, bound + 30)  # a hang fails here, not the whole suite
    except asyncio.TimeoutError:
        pytest.fail(f"the call was still running {bound + 30:.0f}s later")
    except Exception as exc:
        return exc, time.monotonic() - started
    pytest.fail("the call succeeded")


async def test_token_endpoint_that_never_answers_is_bounded_by_the_call(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with RawServer(never_answer) as srv:
        timeouts = Timeouts(connect=1.0, read=20.0, total=1.5)
        async with AsyncModelSecurityClient(**kwargs(srv.base, timeout=timeouts)) as client:
            exc, took = await timed(client.scans.get(s.U1), 1.5)
    assert took < 1.5 + MARGIN
    assert isinstance(exc, APITimeoutError)
    assert f"{srv.base}/oauth2/access_token" in str(exc)  # names the URL it tried


async def test_per_call_timeout_bounds_the_token_fetch() -> None:
    async with (
        RawServer(never_answer) as srv,
        AsyncModelSecurityClient(**kwargs(srv.base)) as client,
    ):
        exc, took = await timed(client.scans.get(s.U1, timeout=1.0), 1.0)
    assert took < 1.0 + MARGIN
    assert isinstance(exc, APITimeoutError)


async def test_token_fetch_alone_is_bounded_by_connect_plus_read() -> None:
    """With no overall deadline, a trickled token answer still ends (connect + read)."""

    async def trickle_token(request: Request, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n")
        writer.write(b"Content-Length: 100000\r\n\r\n")
        while True:
            writer.write(b" ")
            await writer.drain()
            await asyncio.sleep(0.1)

    async with RawServer(trickle_token) as srv:
        timeouts = Timeouts(connect=0.5, read=1.0, total=None)
        async with AsyncModelSecurityClient(
            **kwargs(srv.base, timeout=timeouts, max_retries=0)
        ) as client:
            exc, took = await timed(client.scans.get(s.U1), 1.5)
    assert took < 1.5 + MARGIN
    assert isinstance(exc, APITimeoutError)
    assert "/oauth2/access_token" in str(exc)


async def test_body_trickled_a_byte_at_a_time_cannot_outlive_the_deadline() -> None:
    async def handler(request: Request, writer: asyncio.StreamWriter) -> None:
        if request.path.endswith("/oauth2/access_token"):
            await send_token(writer)
            return
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n")
        writer.write(b"Content-Length: 100000\r\n\r\n{")
        while True:  # each byte resets aiohttp's read timer
            writer.write(b" ")
            await writer.drain()
            await asyncio.sleep(0.1)

    async with RawServer(handler) as srv:
        timeouts = Timeouts(connect=1.0, read=0.5, total=1.5)
        async with AsyncModelSecurityClient(**kwargs(srv.base, timeout=timeouts)) as client:
            exc, took = await timed(client.scans.get(s.U1), 1.5)
    assert took < 1.5 + MARGIN
    assert isinstance(exc, APITimeoutError)
    assert f"{srv.base}/aims/data/v1/scans/{s.U1}" in str(exc)


async def test_server_that_accepts_and_never_answers_names_the_url() -> None:
    async def handler(request: Request, writer: asyncio.StreamWriter) -> None:
        if request.path.endswith("/oauth2/access_token"):
            await send_token(writer)
            return
        await asyncio.sleep(3600)

    async with RawServer(handler) as srv:
        timeouts = Timeouts(connect=1.0, read=0.3, total=10.0)
        async with AsyncModelSecurityClient(
            **kwargs(srv.base, timeout=timeouts, max_retries=0)
        ) as client:
            exc, took = await timed(client.security_groups.get(s.U1), 0.3)
    assert took < 0.3 + MARGIN
    assert isinstance(exc, APITimeoutError)
    assert f"{srv.base}/aims/mgmt/v1/security-groups/{s.U1}" in str(exc)


async def test_connection_refused_names_the_url_without_query_or_credentials() -> None:
    async with RawServer(never_answer) as srv:
        port = srv.port
    # Nothing listens on ``port`` any more: connections are refused at once.
    base = f"http://127.0.0.1:{port}"
    async with AsyncModelSecurityClient(**kwargs(base, max_retries=0)) as client:
        client._transport.tokens._token = None
        with pytest.raises(APIConnectionError) as token_error:
            await client.scans.get(s.U1)
    assert f"{base}/oauth2/access_token" in str(token_error.value)

    async def token_only(request: Request, writer: asyncio.StreamWriter) -> None:
        await send_token(writer)

    async with (
        RawServer(token_only) as auth,
        AsyncModelSecurityClient(**kwargs(base, token_base=auth.base, max_retries=1)) as client,
    ):

        async def no_sleep(seconds: float) -> None:
            return None

        client._transport.sleep = no_sleep
        with pytest.raises(APIConnectionError) as data_error:
            await client.request("GET", "/v1/scans", params={"search_query": "q-value-77"})
        with pytest.raises(APIConnectionError) as mgmt_error:
            await client.security_groups.get(s.U1)
    assert f"GET {base}/aims/data/v1/scans failed: ClientConnectorError" in str(data_error.value)
    assert "after 1 retries" in str(data_error.value)
    assert "q-value-77" not in str(data_error.value) and "?" not in str(data_error.value)
    assert f"{base}/aims/mgmt/v1/security-groups/{s.U1}" in str(mgmt_error.value)


async def test_503_retry_after_beyond_the_deadline_keeps_its_status(
    client_factory: ClientFactory, fake_api: FakeAPI
) -> None:
    client = client_factory(timeout=Timeouts(connect=2, read=3, total=6))
    fake_api.route(
        "GET", SCAN_URL, status=503, payload={"detail": "busy"}, headers={"Retry-After": "10"}
    )
    with pytest.raises(InternalServerError) as info:
        await client.scans.get(s.U1)
    assert not isinstance(info.value, APITimeoutError)
    assert info.value.status_code == 503 and info.value.retry_after == 10
    assert "busy" in str(info.value) and "Retry-After 10s" in str(info.value)
    assert fake_api.sleeps == [] and len(fake_api.calls) == 1


async def test_429_retry_after_beyond_the_deadline_is_a_rate_limit_error(
    client_factory: ClientFactory, fake_api: FakeAPI
) -> None:
    client = client_factory()
    fake_api.route("GET", SCAN_URL, status=429, payload={}, headers={"Retry-After": "20"})
    with pytest.raises(RateLimitError) as info:
        await client.scans.get(s.U1, timeout=5)
    assert info.value.status_code == 429 and info.value.retry_after == 20
    assert fake_api.sleeps == [] and len(fake_api.calls) == 1


async def test_503_retry_after_within_the_deadline_is_waited(
    client_factory: ClientFactory, fake_api: FakeAPI
) -> None:
    client = client_factory(timeout=Timeouts(connect=2, read=3, total=6))
    fake_api.route("GET", SCAN_URL, status=503, payload={}, headers={"Retry-After": "2"})
    fake_api.route("GET", SCAN_URL, payload=s.scan())
    await client.scans.get(s.U1)
    assert fake_api.sleeps == [2.0]


def test_defaults_a_person_can_live_with() -> None:
    timeouts = ClientConfig.from_env(client_id="a", client_secret="b", tsg_id="c", env={}).timeouts
    assert timeouts.connect is not None and timeouts.connect <= 5
    assert timeouts.read is not None and timeouts.read <= 30
    assert timeouts.total is not None and timeouts.total <= 120
    # A single number caps the call; connect stays at most the default.
    client = AsyncModelSecurityClient(client_id="a", client_secret="b", tsg_id="c", timeout=60)
    assert client.config.timeouts == Timeouts(connect=5.0, read=60.0, total=60.0)
