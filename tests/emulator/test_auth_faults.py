"""Token endpoint, expiry, tenant isolation and every fault kind."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from modelsec.emulator import Emulator, EmulatorThread, Faults
from tests.emulator.conftest import Api, scan_details


async def test_token_errors(api: Api, http: aiohttp.ClientSession, emu: Emulator) -> None:
    r = await api.token_request(secret="wrong")
    assert r.status == 401
    assert r.body["error"] == "invalid_client"
    r = await api.token_request(client_id="nobody")
    assert r.status == 401
    r = await api.token_request(scope="profile")
    assert r.status == 400
    assert r.body["error"] == "invalid_scope"
    r = await api.token_request(scope="tsg_id:999")
    assert r.status == 400
    async with http.post(emu.token_endpoint, data={"scope": "tsg_id:1"}) as resp:
        assert resp.status == 400
        assert (await resp.json())["error"] == "invalid_request"
    async with http.post(
        emu.token_endpoint, data={"grant_type": "password", "scope": "tsg_id:1"}
    ) as resp:
        assert resp.status == 400
        assert (await resp.json())["error"] == "unsupported_grant_type"
    ok = await api.token_request()
    assert ok.status == 200
    assert ok.body["expires_in"] == 900
    assert ok.body["token_type"] == "Bearer"
    assert emu.stats.token_requests == 7


async def test_missing_invalid_and_expired_tokens(http: aiohttp.ClientSession) -> None:
    async with Emulator(port=0, token_lifetime=0.2) as emu:
        api = Api(emu, http)
        async with http.get(emu.data_endpoint + "/v1/scans") as r:
            assert r.status == 401
            assert "detail" in await r.json()
        assert (await api.get("/data/v1/scans", token="forged")).status == 401
        assert (await api.get("/data/v1/scans")).status == 200
        await asyncio.sleep(0.25)
        assert (await api.get("/data/v1/scans")).status == 401
        await api.token(refresh=True)
        assert (await api.get("/data/v1/scans")).status == 200
        assert emu.expire_tokens() == 1
        assert (await api.get("/mgmt/v1/security-groups")).status == 401


async def test_tenant_isolation(http: aiohttp.ClientSession) -> None:
    async with Emulator(port=0, settle_delay=0.01, tenants={"other": ("s3cret", "42")}) as emu:
        a = Api(emu, http)
        b = Api(emu, http, **emu.client_kwargs(client_id="other"))
        assert b.tsg_id == "42"
        ga = await a.default_group("LOCAL")
        gb = await b.default_group("LOCAL")
        assert ga != gb
        r = await a.post(
            "/data/v1/scans",
            {"model_uri": "/m", "security_group_uuid": ga, "scan_details": scan_details()},
        )
        scan = r.body["uuid"]
        assert (await b.get(f"/data/v1/scans/{scan}")).status == 404
        assert (await b.get(f"/mgmt/v1/security-groups/{ga}")).status == 404
        assert (
            await b.post("/data/v1/scans", {"model_uri": "/m", "security_group_uuid": ga})
        ).status == 404
        assert (await b.get("/data/v1/scans")).body["scans"] == []
        assert emu.scan_count("1234567890") == 1
        assert emu.scan_count("42") == 0
        assert r.body["tsg_id"] == "1234567890"
        # a client may not ask for another tenant's scope
        assert (await a.token_request(scope="tsg_id:42")).status == 400


async def test_error_rates_deterministic(api: Api, emu: Emulator) -> None:
    await api.token()

    async def run() -> list[int]:
        emu.faults = Faults(error_rates={500: 0.3, 503: 0.3}, seed=7)
        return [(await api.get("/data/v1/scans")).status for _ in range(20)]

    first = await run()
    assert set(first) == {200, 500, 503}
    assert await run() == first
    emu.faults = Faults()
    assert (await api.get("/data/v1/scans")).status == 200
    assert emu.stats.count("GET", "/aims/data/v1/scans", 500) == 2 * first.count(500)


async def test_429_retry_after_and_latency(api: Api, emu: Emulator) -> None:
    await api.token()
    emu.faults = Faults(script=["429"], retry_after=3)
    r = await api.get("/data/v1/scans")
    assert r.status == 429
    assert r.headers["Retry-After"] == "3"
    emu.faults = Faults(latency=0.15)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    assert (await api.get("/data/v1/scans")).status == 200
    assert loop.time() - t0 >= 0.15


async def test_token_endpoint_spared_unless_asked(api: Api, emu: Emulator) -> None:
    emu.faults = Faults(error_rates={503: 1.0})
    assert (await api.token_request()).status == 200
    emu.faults = Faults(error_rates={503: 1.0}, include_token_endpoint=True)
    async with api.http.post(emu.token_endpoint, data={}) as r:
        assert r.status == 503


async def test_reset_before_does_not_act(api: Api, emu: Emulator) -> None:
    group = await api.default_group("LOCAL")
    emu.faults = Faults(script=["reset_before"], methods=["POST"], paths=["/v1/scans"])
    with pytest.raises(aiohttp.ClientError):
        await api.post(
            "/data/v1/scans",
            {"model_uri": "/m", "security_group_uuid": group, "scan_details": scan_details()},
        )
    assert emu.scan_count() == 0
    assert emu.stats.faults["reset_before"] == 1


async def test_reset_after_the_server_acted(api: Api, emu: Emulator) -> None:
    group = await api.default_group("LOCAL")
    emu.faults = Faults(script=["reset_after"], methods=["POST"], paths=["/v1/scans"])
    with pytest.raises(aiohttp.ClientError):
        await api.post(
            "/data/v1/scans",
            {"model_uri": "/m", "security_group_uuid": group, "scan_details": scan_details()},
        )
    # the scan exists although the client never saw the answer
    assert emu.scan_count(emu.tsg_id) == 1
    assert (await api.get("/data/v1/scans")).body["pagination"]["total_items"] == 1


async def test_token_expiry_fault(api: Api, emu: Emulator) -> None:
    await api.token()
    emu.faults = Faults(script=["expire_token"])
    assert (await api.get("/data/v1/scans")).status == 401
    assert (await api.get("/data/v1/scans")).status == 401  # the token stays invalid
    await api.token(refresh=True)
    assert (await api.get("/data/v1/scans")).status == 200


async def test_counters(api: Api, emu: Emulator) -> None:
    for _ in range(3):
        await api.get("/mgmt/v1/security-rules")
    assert emu.stats.token_requests == 1
    assert emu.stats.count("GET", "/aims/mgmt/v1/security-rules", 200) == 3
    assert emu.stats.connections_opened >= 1


def test_thread_variant_and_sync_faults() -> None:
    import json
    import urllib.request

    with EmulatorThread(port=0, settle_delay=0.01) as emu:
        kw = emu.client_kwargs()
        assert kw["token_endpoint"] == emu.base_url + "/oauth2/access_token"
        req = urllib.request.Request(
            kw["token_endpoint"],
            data=f"grant_type=client_credentials&scope=tsg_id:{kw['tsg_id']}".encode(),
            headers={"Authorization": "Basic bW9kZWxzZWMtZGVtbzptb2RlbHNlYy1kZW1vLXNlY3JldA=="},
        )
        with urllib.request.urlopen(req) as resp:
            assert json.load(resp)["access_token"]
        emu.faults = Faults(error_rates={500: 1.0})
        assert emu.emulator.faults.error_rates == {500: 1.0}
    assert emu.stats.token_requests == 1
