"""Client lifecycle, options, logging and redaction."""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
import warnings

import aiohttp
import attrs
import pytest

from modelsec import APITimeoutError, AsyncModelSecurityClient, InternalServerError
from tests.core import samples as s
from tests.core.conftest import DATA, SECRET, TOKEN_URL, ClientFactory, FakeAPI

SCAN_URL = f"{DATA}/v1/scans/{s.U1}"


async def test_with_options_shares_session_and_token(
    client: AsyncModelSecurityClient, fake_api: FakeAPI
) -> None:
    fake_api.route("GET", SCAN_URL, payload=s.scan(), repeat=True)
    await client.scans.get(s.U1)
    copy = client.with_options(extra_headers={"X-Team": "ml"}, timeout=5)
    await copy.scans.get(s.U1)
    assert len(fake_api.token_calls) == 1
    assert copy._transport is client._transport
    assert fake_api.calls[1].headers["X-Team"] == "ml"
    assert "X-Team" not in fake_api.calls[0].headers


async def test_per_call_extra_headers(client: AsyncModelSecurityClient, fake_api: FakeAPI) -> None:
    fake_api.route("GET", SCAN_URL, payload=s.scan())
    await client.scans.get(s.U1, extra_headers={"X-Trace": "t1"})
    assert fake_api.calls[0].headers["X-Trace"] == "t1"


async def test_overall_deadline_raises_timeout(
    client_factory: ClientFactory, fake_api: FakeAPI
) -> None:
    client = client_factory(max_retries=1000)
    client._transport.sleep = asyncio.sleep  # real, short backoff sleeps
    client._transport.retry = attrs.evolve(client._transport.retry, max_delay=0.05)
    fake_api.route("GET", SCAN_URL, status=503, payload={}, repeat=True)
    with pytest.raises(
        APITimeoutError, match=r"did not complete within 0.3s \(last failure: HTTP 503\)"
    ):
        await client.scans.get(s.U1, timeout=0.3)
    assert 1 < len(fake_api.calls) < 1000


async def test_backoff_longer_than_deadline_is_not_slept(
    client_factory: ClientFactory, fake_api: FakeAPI
) -> None:
    client = client_factory()
    fake_api.route(
        "GET", SCAN_URL, status=503, payload={}, headers={"Retry-After": "30"}, repeat=True
    )
    # A 30 s wait cannot fit in a 5 s deadline: fail at once, with the service's answer
    # (issue 13: the 503 and its Retry-After, not a timeout that loses them).
    with pytest.raises(InternalServerError) as info:
        await client.scans.get(s.U1, timeout=5)
    assert not isinstance(info.value, APITimeoutError)
    assert info.value.status_code == 503 and info.value.retry_after == 30
    assert fake_api.sleeps == []
    assert len(fake_api.calls) == 1


async def test_injected_session_is_not_closed(fake_api: FakeAPI) -> None:
    async with aiohttp.ClientSession() as session:
        client = AsyncModelSecurityClient(
            client_id="c",
            client_secret="s",
            tsg_id="1",
            data_endpoint=DATA,
            mgmt_endpoint=DATA.replace("data", "mgmt"),
            token_endpoint=TOKEN_URL,
            session=session,
        )
        fake_api.route("GET", SCAN_URL, payload=s.scan())
        await client.scans.get(s.U1)
        await client.close()
        assert not session.closed


async def test_async_context_manager_closes_session(fake_api: FakeAPI) -> None:
    async with AsyncModelSecurityClient(
        client_id="c",
        client_secret="s",
        tsg_id="1",
        data_endpoint=DATA,
        mgmt_endpoint=DATA.replace("data", "mgmt"),
        token_endpoint=TOKEN_URL,
    ) as client:
        fake_api.route("GET", SCAN_URL, payload=s.scan())
        await client.scans.get(s.U1)
        session = client._transport._session
    assert session is not None and session.closed
    with pytest.raises(RuntimeError, match="closed"):
        await client.scans.get(s.U1)


async def test_client_bound_to_its_loop(
    client: AsyncModelSecurityClient, fake_api: FakeAPI
) -> None:
    fake_api.route("GET", SCAN_URL, payload=s.scan())
    await client.scans.get(s.U1)
    errors: list[BaseException] = []

    def other_thread() -> None:
        try:
            asyncio.run(client.scans.get(s.U1))
        except BaseException as exc:
            errors.append(exc)

    t = threading.Thread(target=other_thread)
    t.start()
    t.join()
    assert len(errors) == 1
    assert "bound to another event loop" in str(errors[0])


async def test_unclosed_client_warns(fake_api: FakeAPI) -> None:
    client = AsyncModelSecurityClient(
        client_id="c",
        client_secret="s",
        tsg_id="1",
        data_endpoint=DATA,
        mgmt_endpoint=DATA.replace("data", "mgmt"),
        token_endpoint=TOKEN_URL,
    )
    fake_api.route("GET", SCAN_URL, payload=s.scan())
    await client.scans.get(s.U1)
    session = client._transport._session
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        del client
        gc.collect()
    assert any("unclosed AsyncModelSecurityClient" in str(w.message) for w in caught)
    assert session is not None
    await session.close()


async def test_logging_redacts_secrets(
    client: AsyncModelSecurityClient, fake_api: FakeAPI, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="modelsec")
    fake_api.route(
        "GET",
        f"{DATA.replace('data', 'mgmt')}/v1/pypi/authenticate",
        payload={
            "url": "https://oauth2accesstoken:ya29.PYPISECRET@pypi.test/simple/",
            "expires_at": s.TS,
        },
    )
    fake_api.route("GET", SCAN_URL, status=503, payload={"detail": "x"})
    fake_api.route("GET", SCAN_URL, payload=s.scan())
    await client.get_pypi_auth()
    await client.scans.get(s.U1)
    text = caplog.text
    assert "GET /v1/scans/" in text and "-> 200" in text and "retries=1" in text
    assert "tok-1" not in text
    assert SECRET not in text
    assert "PYPISECRET" not in text
    assert "Bearer" not in text


async def test_info_log_is_one_line_per_request(
    client: AsyncModelSecurityClient, fake_api: FakeAPI, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="modelsec")
    fake_api.route("GET", SCAN_URL, payload=s.scan())
    await client.scans.get(s.U1)
    lines = [r for r in caplog.records if r.name == "modelsec"]
    assert len(lines) == 1
    assert "ms (retries=0)" in lines[0].getMessage()


async def test_user_agent_suffix(client_factory: ClientFactory, fake_api: FakeAPI) -> None:
    client = client_factory(user_agent="my-pipeline/2")
    fake_api.route("GET", SCAN_URL, payload=s.scan())
    await client.scans.get(s.U1)
    ua = fake_api.calls[0].headers["User-Agent"]
    assert ua.startswith("modelsec-python/0.1.0 python/")
    assert " aiohttp/" in ua and ua.endswith(" my-pipeline/2")
