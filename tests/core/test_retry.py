"""The retry matrix: statuses, connection failures, Retry-After, creating POSTs."""

from __future__ import annotations

import datetime as dt

import aiohttp
import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelsec import (
    APIConnectionError,
    InternalServerError,
    NotFoundError,
    RateLimitError,
)
from modelsec.core.retry import RetryPolicy, backoff_delay, parse_retry_after
from tests.core import samples as s
from tests.core.conftest import DATA, ClientFactory, FakeAPI

SCAN_URL = f"{DATA}/v1/scans/{s.U1}"


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
@pytest.mark.parametrize("failures", [0, 1, 2])
async def test_retryable_status_then_success(
    client_factory: ClientFactory, fake_api: FakeAPI, status: int, failures: int
) -> None:
    client = client_factory(max_retries=2)
    for _ in range(failures):
        fake_api.route("GET", SCAN_URL, payload={"detail": "busy"}, status=status)
    fake_api.route("GET", SCAN_URL, payload=s.scan())
    scan = await client.scans.get(s.U1)
    assert scan.uuid == s.U1
    assert len(fake_api.calls) == failures + 1
    assert len(fake_api.sleeps) == failures
    # The retry count header tells the server which attempt this is.
    assert [c.headers["x-modelsec-retry-count"] for c in fake_api.calls] == [
        str(i) for i in range(failures + 1)
    ]


@pytest.mark.parametrize("max_retries", [0, 1, 3])
async def test_retries_exhausted_raise_with_exact_attempts(
    client_factory: ClientFactory, fake_api: FakeAPI, max_retries: int
) -> None:
    client = client_factory(max_retries=max_retries)
    fake_api.route("GET", SCAN_URL, payload={"detail": "down"}, status=503, repeat=True)
    with pytest.raises(InternalServerError) as info:
        await client.scans.get(s.U1)
    assert len(fake_api.calls) == max_retries + 1
    assert info.value.status_code == 503
    assert "down" in str(info.value)


@pytest.mark.parametrize("status", [400, 403, 404, 409, 422, 501])
async def test_non_retryable_statuses_fail_at_once(
    client: object, fake_api: FakeAPI, status: int
) -> None:
    fake_api.route("GET", SCAN_URL, payload={"detail": "no"}, status=status, repeat=True)
    with pytest.raises(Exception) as info:
        await client.scans.get(s.U1)  # type: ignore[attr-defined]
    assert getattr(info.value, "status_code", None) == status
    assert len(fake_api.calls) == 1
    assert fake_api.sleeps == []


@pytest.mark.parametrize(
    "exc",
    [
        aiohttp.ServerDisconnectedError(),
        aiohttp.ClientOSError(104, "Connection reset by peer"),
        aiohttp.ClientPayloadError("truncated"),
    ],
)
async def test_connection_failures_retried_for_replayable(
    client_factory: ClientFactory, fake_api: FakeAPI, exc: BaseException
) -> None:
    client = client_factory(max_retries=2)
    fake_api.route("GET", SCAN_URL, exception=exc)
    fake_api.route("GET", SCAN_URL, exception=exc)
    fake_api.route("GET", SCAN_URL, payload=s.scan())
    assert (await client.scans.get(s.U1)).uuid == s.U1
    assert len(fake_api.calls) == 3


async def test_connection_failures_exhausted(
    client_factory: ClientFactory, fake_api: FakeAPI
) -> None:
    client = client_factory(max_retries=1)
    fake_api.route("GET", SCAN_URL, exception=aiohttp.ServerDisconnectedError(), repeat=True)
    with pytest.raises(APIConnectionError, match="ServerDisconnectedError after 1 retries"):
        await client.scans.get(s.U1)
    assert len(fake_api.calls) == 2


async def test_creating_post_not_retried_after_502(
    client_factory: ClientFactory, fake_api: FakeAPI
) -> None:
    client = client_factory(max_retries=3)
    fake_api.route(
        "POST", f"{DATA}/v1/scans", payload={"detail": "bad gateway"}, status=502, repeat=True
    )
    with pytest.raises(InternalServerError):
        await client.scans.create(model_uri="hf://a/b", security_group_uuid=s.U2)
    assert len(fake_api.calls) == 1
    assert fake_api.sleeps == []


async def test_creating_post_not_retried_after_reset(
    client_factory: ClientFactory, fake_api: FakeAPI
) -> None:
    client = client_factory(max_retries=3)
    fake_api.route(
        "POST", f"{DATA}/v1/scans", exception=aiohttp.ServerDisconnectedError(), repeat=True
    )
    with pytest.raises(APIConnectionError):
        await client.scans.create(model_uri="hf://a/b", security_group_uuid=s.U2)
    assert len(fake_api.calls) == 1


async def test_creating_post_retried_after_429(
    client_factory: ClientFactory, fake_api: FakeAPI
) -> None:
    client = client_factory(max_retries=2)
    fake_api.route(
        "POST",
        f"{DATA}/v1/scans",
        payload={"detail": "slow down"},
        status=429,
        headers={"Retry-After": "2"},
    )
    fake_api.route("POST", f"{DATA}/v1/scans", payload=s.scan(outcome="PENDING"), status=201)
    scan = await client.scans.create(model_uri="hf://a/b", security_group_uuid=s.U2)
    assert scan.eval_outcome == "PENDING"
    assert fake_api.sleeps == [pytest.approx(2.0, abs=0.05)]


async def test_creating_post_retried_when_connection_never_made(
    client_factory: ClientFactory, fake_api: FakeAPI
) -> None:
    client = client_factory(max_retries=2)
    refused = aiohttp.ClientConnectorError(
        connection_key=aiohttp.client_reqrep.ConnectionKey(
            "api.test", 443, True, True, None, None, None
        ),
        os_error=ConnectionRefusedError(111, "refused"),
    )
    fake_api.route("POST", f"{DATA}/v1/scans", exception=refused)
    fake_api.route("POST", f"{DATA}/v1/scans", payload=s.scan(outcome="PENDING"), status=201)
    await client.scans.create(model_uri="hf://a/b", security_group_uuid=s.U2)
    assert len(fake_api.calls) == 2


async def test_retry_after_seconds_honoured(client: object, fake_api: FakeAPI) -> None:
    fake_api.route("GET", SCAN_URL, status=429, payload={}, headers={"Retry-After": "7"})
    fake_api.route("GET", SCAN_URL, payload=s.scan())
    await client.scans.get(s.U1)  # type: ignore[attr-defined]
    assert fake_api.sleeps == [pytest.approx(7.0, abs=0.05)]


async def test_retry_after_http_date_honoured(client: object, fake_api: FakeAPI) -> None:
    when = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=30)
    header = when.strftime("%a, %d %b %Y %H:%M:%S GMT")
    fake_api.route("GET", SCAN_URL, status=503, payload={}, headers={"Retry-After": header})
    fake_api.route("GET", SCAN_URL, payload=s.scan())
    await client.scans.get(s.U1)  # type: ignore[attr-defined]
    assert len(fake_api.sleeps) == 1
    assert 25 <= fake_api.sleeps[0] <= 31


async def test_retry_after_over_cap_raises_rate_limit(
    client_factory: ClientFactory, fake_api: FakeAPI
) -> None:
    client = client_factory(retry_after_cap=60)
    fake_api.route(
        "GET",
        SCAN_URL,
        status=429,
        payload={"detail": "quota"},
        headers={"Retry-After": "3600"},
        repeat=True,
    )
    with pytest.raises(RateLimitError) as info:
        await client.scans.get(s.U1)
    assert info.value.retry_after == 3600.0
    assert len(fake_api.calls) == 1
    assert fake_api.sleeps == []


async def test_per_call_max_retries_via_with_options(client: object, fake_api: FakeAPI) -> None:
    fake_api.route("GET", SCAN_URL, status=500, payload={}, repeat=True)
    quick = client.with_options(max_retries=0)  # type: ignore[attr-defined]
    with pytest.raises(InternalServerError):
        await quick.scans.get(s.U1)
    assert len(fake_api.calls) == 1


async def test_not_found_carries_request_id(client: object, fake_api: FakeAPI) -> None:
    fake_api.route(
        "GET",
        SCAN_URL,
        status=404,
        payload={"detail": "Scan not found"},
        headers={"x-request-id": "req-9"},
    )
    with pytest.raises(NotFoundError) as info:
        await client.scans.get(s.U1)  # type: ignore[attr-defined]
    assert info.value.request_id == "req-9"
    assert "Scan not found" in str(info.value)


# -- pure functions ---------------------------------------------------------------------------


@given(attempt=st.integers(0, 50), r=st.floats(0, 1))
def test_backoff_is_bounded_full_jitter(attempt: int, r: float) -> None:
    delay = backoff_delay(attempt, base=0.5, cap=8.0, rand=lambda: r)
    assert 0 <= delay <= min(8.0, 0.5 * 2**attempt)


@given(st.text(max_size=40))
def test_parse_retry_after_never_raises(text: str) -> None:
    value = parse_retry_after(text)
    assert value is None or value >= 0


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("0", 0.0),
        ("1.5", 1.5),
        ("-1", None),
        ("soon", None),
        ("", None),
        (None, None),
        ("nan", None),
    ],
)
def test_parse_retry_after_table(header: str | None, expected: float | None) -> None:
    assert parse_retry_after(header) == expected


def test_parse_retry_after_past_date_is_zero() -> None:
    now = dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)
    assert parse_retry_after("Thu, 01 Jan 2026 00:00:00 GMT", now=lambda: now) == 0.0


def test_policy_matrix() -> None:
    p = RetryPolicy(max_retries=2)
    assert p.should_retry_status(500, attempt=1, replayable=True)
    assert not p.should_retry_status(500, attempt=2, replayable=True)
    assert not p.should_retry_status(500, attempt=0, replayable=False)
    assert p.should_retry_status(429, attempt=0, replayable=False)
    assert not p.should_retry_status(409, attempt=0, replayable=True)
    assert p.should_retry_connection(attempt=0, replayable=False, sent=False)
    assert not p.should_retry_connection(attempt=0, replayable=False, sent=True)
