"""Token cache: single flight, refresh ahead of expiry, 401 replay, token endpoint errors."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import pytest
from aioresponses import CallbackResult

from modelsec import AsyncModelSecurityClient, AuthenticationError, OAuthError
from modelsec.errors import ErrorType
from tests.core import samples as s
from tests.core.conftest import DATA, MGMT, SECRET, TOKEN_URL, ClientFactory, FakeAPI

SCAN_URL = f"{DATA}/v1/scans/{s.U1}"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_token_request_shape(client: AsyncModelSecurityClient, fake_api: FakeAPI) -> None:
    fake_api.route("GET", SCAN_URL, payload=s.scan())
    await client.scans.get(s.U1)
    (call,) = fake_api.token_calls
    assert call["data"] == {"grant_type": "client_credentials", "scope": "tsg_id:1234567890"}
    expected = "Basic " + base64.b64encode(f"cid:{SECRET}".encode()).decode()
    assert call["headers"]["Authorization"] == expected


async def test_single_flight_under_50_concurrent_first_calls(
    client: AsyncModelSecurityClient, fake_api: FakeAPI
) -> None:
    fake_api.route("GET", SCAN_URL, payload=s.scan(), repeat=True)
    results = await asyncio.gather(*(client.scans.get(s.U1) for _ in range(50)))
    assert len(results) == 50
    assert len(fake_api.token_calls) == 1
    assert client.token_info().fetch_count == 1


async def test_one_token_serves_both_planes(
    client: AsyncModelSecurityClient, fake_api: FakeAPI
) -> None:
    fake_api.route("GET", SCAN_URL, payload=s.scan())
    fake_api.route("GET", f"{MGMT}/v1/security-groups/{s.U1}", payload=s.group())
    await client.scans.get(s.U1)
    await client.security_groups.get(s.U1)
    assert len(fake_api.token_calls) == 1
    assert {c.headers["Authorization"] for c in fake_api.calls} == {"Bearer tok-1"}


async def test_refresh_ahead_of_expiry_with_fake_clock(
    client: AsyncModelSecurityClient, fake_api: FakeAPI
) -> None:
    clock = FakeClock()
    client._transport.tokens._clock = clock
    fake_api.route("GET", SCAN_URL, payload=s.scan(), repeat=True)
    await client.scans.get(s.U1)
    assert len(fake_api.token_calls) == 1
    info = client.token_info()
    assert info.has_token
    assert info.expires_in == pytest.approx(900)
    clock.now += 839  # 61 s left: still fresh
    await client.scans.get(s.U1)
    assert len(fake_api.token_calls) == 1
    clock.now += 2  # 59 s left: inside the 60 s margin, refreshed before use
    await client.scans.get(s.U1)
    assert len(fake_api.token_calls) == 2


async def test_short_tokens_refresh_at_half_life(
    client_factory: ClientFactory, fake_api: FakeAPI
) -> None:
    fake_api.mock._matches.clear()
    fake_api.token(payload={"access_token": "short", "expires_in": 20})
    client = client_factory()
    clock = FakeClock()
    client._transport.tokens._clock = clock
    fake_api.route("GET", SCAN_URL, payload=s.scan(), repeat=True)
    await client.scans.get(s.U1)
    clock.now += 9
    await client.scans.get(s.U1)
    assert len(fake_api.token_calls) == 1
    clock.now += 2  # past half of 20 s
    await client.scans.get(s.U1)
    assert len(fake_api.token_calls) == 2


async def test_401_invalidates_and_replays_once(
    client: AsyncModelSecurityClient, fake_api: FakeAPI
) -> None:
    tokens = iter(["old-token", "new-token"])
    fake_api.mock._matches.clear()

    def token_cb(url: Any, **kwargs: Any) -> CallbackResult:
        fake_api.token_calls.append(kwargs)
        return CallbackResult(payload={"access_token": next(tokens), "expires_in": 900})

    fake_api.mock.post(TOKEN_URL, callback=token_cb, repeat=True)
    fake_api.route("GET", SCAN_URL, status=401, payload={"detail": "token expired"})
    fake_api.route("GET", SCAN_URL, payload=s.scan())
    scan = await client.scans.get(s.U1)
    assert scan.uuid == s.U1
    assert [c.headers["Authorization"] for c in fake_api.calls] == [
        "Bearer old-token",
        "Bearer new-token",
    ]
    assert fake_api.sleeps == []  # a replay, not a retry


async def test_second_401_raises_authentication_error(
    client: AsyncModelSecurityClient, fake_api: FakeAPI
) -> None:
    fake_api.route("GET", SCAN_URL, status=401, payload={"detail": "forbidden tenant"}, repeat=True)
    with pytest.raises(AuthenticationError, match="forbidden tenant"):
        await client.scans.get(s.U1)
    assert len(fake_api.calls) == 2
    assert len(fake_api.token_calls) == 2


async def test_invalidate_only_the_token_that_failed(
    client: AsyncModelSecurityClient, fake_api: FakeAPI
) -> None:
    fake_api.route("GET", SCAN_URL, payload=s.scan())
    await client.scans.get(s.U1)
    cache = client._transport.tokens
    assert not cache.invalidate("some-older-token")
    assert cache.token_info().has_token
    assert cache.invalidate("tok-1")
    assert not cache.token_info().has_token


@pytest.mark.parametrize(
    ("status", "body", "needle"),
    [
        (
            401,
            {"error": "invalid_client", "error_description": "Client authentication failed"},
            "Client authentication failed",
        ),
        (
            400,
            {"error": "invalid_request", "error_description": "scope is malformed"},
            "scope is malformed",
        ),
        (400, "<html><body>Bad Request</body></html>", "Bad Request"),
    ],
)
async def test_token_errors_raise_oauth_error_at_once(
    client_factory: ClientFactory, fake_api: FakeAPI, status: int, body: Any, needle: str
) -> None:
    fake_api.mock._matches.clear()
    if isinstance(body, str):
        fake_api.mock.post(
            TOKEN_URL, status=status, body=body, content_type="text/html", repeat=True
        )
    else:
        fake_api.token(status=status, payload=body)
    client = client_factory()
    with pytest.raises(OAuthError, match=needle) as info:
        await client.scans.get(s.U1)
    assert info.value.error_type is ErrorType.OAUTH_ERROR
    assert info.value.status_code == status
    assert fake_api.sleeps == []
    assert SECRET not in str(info.value)


async def test_token_5xx_retried_with_backoff(
    client_factory: ClientFactory, fake_api: FakeAPI
) -> None:
    fake_api.mock._matches.clear()
    fake_api.mock.post(TOKEN_URL, status=503, payload={"message": "down"})
    fake_api.token()
    client = client_factory()
    fake_api.route("GET", SCAN_URL, payload=s.scan())
    await client.scans.get(s.U1)
    assert len(fake_api.sleeps) == 1
    assert client.token_info().fetch_count == 2


async def test_token_info_never_holds_the_token(
    client: AsyncModelSecurityClient, fake_api: FakeAPI
) -> None:
    fake_api.route("GET", SCAN_URL, payload=s.scan())
    await client.scans.get(s.U1)
    assert "tok-1" not in repr(client.token_info())
    assert "tok-1" not in repr(client._transport.tokens)


async def test_refresh_under_load_is_single_flight(
    client: AsyncModelSecurityClient, fake_api: FakeAPI
) -> None:
    clock = FakeClock()
    client._transport.tokens._clock = clock
    fake_api.route("GET", SCAN_URL, payload=s.scan(), repeat=True)
    await client.scans.get(s.U1)
    clock.now += 890  # inside the refresh margin: the next callers all need a new token
    await asyncio.gather(*(client.scans.get(s.U1) for _ in range(50)))
    assert len(fake_api.token_calls) == 2
