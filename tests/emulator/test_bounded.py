"""Nothing an unauthenticated client sends makes the emulator's state grow without bound."""

from __future__ import annotations

import asyncio
import gc
import uuid

import aiohttp

from modelsec.emulator import Emulator

METHODS = ["GET", "POST", "DELETE", "PURGE", "PROPFIND", "OPTIONS", "MKCOL"]


def _footprint(emu: Emulator) -> tuple[int, int, int]:
    gc.collect()
    svc = emu.service
    return len(svc.stats.requests), len(svc.stats.faults), svc.tracked_connections


async def _hammer(emu: Emulator, n: int, offset: int) -> None:
    # new connections too (force_close): per-connection bookkeeping must not accumulate
    conn = aiohttp.TCPConnector(force_close=True, limit=8)
    async with aiohttp.ClientSession(connector=conn) as http:

        async def one(i: int) -> None:
            uid = uuid.uuid4()
            method = METHODS[i % len(METHODS)]
            for url in (
                f"{emu.base_url}/random/{uid}/{i}",
                f"{emu.data_endpoint}/v1/scans/{uid}",
                f"{emu.mgmt_endpoint}/v1/nothing-{i}/{uid}",
                f"{emu.base_url}/oauth2/access_token/{i}",
            ):
                async with http.request(method, url) as r:
                    await r.read()
                    assert r.status in (401, 404, 405), (method, url, r.status)

        await asyncio.gather(*(one(offset + i) for i in range(n)))


async def test_distinct_unauthenticated_paths_leave_state_bounded() -> None:
    async with Emulator(port=0) as emu:
        await _hammer(emu, 150, 0)
        after_warmup = _footprint(emu)
        await _hammer(emu, 600, 150)
        after_more = _footprint(emu)
        # the counters hold the same keys after 4x more distinct paths and methods
        assert after_more[:2] == after_warmup[:2], (after_warmup, after_more)
        stats_keys, _, connections = after_more
        assert stats_keys <= 64
        assert connections <= 16  # closed connections are forgotten (a few may still close)
        # and the counts are still there, by route template
        assert emu.stats.count(path="/aims/data/v1/scans/{uuid}") == 750 * 1
        assert emu.stats.count(status=401) >= 750


async def test_stats_count_by_route_template(http: aiohttp.ClientSession) -> None:
    async with Emulator(port=0) as emu:
        for _ in range(3):
            async with http.get(f"{emu.data_endpoint}/v1/scans/{uuid.uuid4()}") as r:
                assert r.status == 401
        assert emu.stats.count("GET", "/aims/data/v1/scans/{uuid}", 401) == 3


def test_expired_tokens_are_swept() -> None:
    from modelsec.emulator.config import Credential, EmulatorConfig
    from modelsec.emulator.handlers.auth import Tokens
    from modelsec.emulator.stats import Stats

    tokens = Tokens(
        EmulatorConfig({"id": Credential("id", "s", ("1",))}, token_lifetime=0), Stats()
    )
    for _ in range(5000):
        tokens.issue("1", "id")
    assert len(tokens.tokens) <= 1024
