"""Exactly-once creates with a create still in flight, and a batch whose input raises.

A gateway (tests/integration/gateway.py) answers 504 to ``POST /v1/scans`` and delivers the
request to the emulator later: the client must not send the create again while it may still
land, and must report a duplicate when one lands after the reconcile window.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import AsyncIterator, Iterator

import pytest

from modelsec import AsyncModelSecurityClient, ScanResult, Timeouts
from modelsec.emulator import Emulator
from modelsec.emulator.faults import Faults
from modelsec.types import EvalOutcome
from modelsec.workflows import IDEMPOTENCY_LABEL
from tests.integration.conftest import default_group
from tests.integration.gateway import DelayingGateway

# The client gives up on an attempt after connect + read = 1.5 s: the default reconcile window
# is 1.5 + 10 s, longer than the gateway's 2 s delivery.
SHORT = Timeouts(connect=0.5, read=1.0, total=30)


def scans_by_request_id(emulator: Emulator) -> collections.Counter[str]:
    return collections.Counter(
        s.labels.get(IDEMPOTENCY_LABEL, "") for s in emulator.store.iter_scans()
    )


def worker_tasks() -> list[asyncio.Task[object]]:
    names = {"worker", "run_workers"}
    return [
        t
        for t in asyncio.all_tasks()
        if not t.done() and t.get_coro().__qualname__.split(".")[-1] in names  # type: ignore[union-attr]
    ]


def request_count(emulator: Emulator) -> int:
    return sum(emulator.stats.requests.values())


async def test_scan_waits_for_a_create_still_in_flight(emulator: Emulator) -> None:
    async with DelayingGateway(emulator.base_url, answer_after=0.5, deliver_after=2.0) as gw:
        async with AsyncModelSecurityClient(
            **gw.client_kwargs(emulator.client_kwargs()), timeout=SHORT
        ) as client:
            group = await default_group(client, "HUGGING_FACE")
            result = await client.scan(
                "hf://good-org/good-model", security_group_uuid=group, poll_interval=0.02
            )
        await gw.settle()
    assert gw.delayed == 1 and gw.delivered == [201]  # the 504'd create did reach the service
    # Exactly one scan: the late one, adopted; the create was never sent a second time.
    assert emulator.scan_count() == 1
    assert result.is_allowed, result
    assert result.duplicates == []
    (only,) = emulator.store.iter_scans()
    assert result.scan is not None and result.scan.uuid == only.uuid


async def test_a_create_landing_after_the_window_is_reported(emulator: Emulator) -> None:
    emulator.settle_delay = 3.5  # the verdict comes after the late delivery
    gw = DelayingGateway(emulator.base_url, answer_after=0.2, deliver_after=2.0)
    async with (
        gw,
        AsyncModelSecurityClient(
            **gw.client_kwargs(emulator.client_kwargs()), timeout=SHORT
        ) as client,
    ):
        group = await default_group(client, "HUGGING_FACE")
        result = await client.scan(
            "hf://good-org/good-model",
            security_group_uuid=group,
            poll_interval=0.05,
            reconcile_window=0.4,  # shorter than the gateway's delay: a duplicate appears
        )
    assert gw.delivered == [201]
    uuids = {s.uuid for s in emulator.store.iter_scans()}
    assert len(uuids) == 2
    assert result.scan is not None
    # Both scans of the one input are in the result.
    assert {result.scan.uuid, *result.duplicates} == uuids
    assert len(result.duplicates) == 1
    assert list(scans_by_request_id(emulator).values()) == [2]


async def test_scan_many_waits_for_creates_in_flight(emulator: Emulator) -> None:
    async with DelayingGateway(
        emulator.base_url, answer_after=0.5, deliver_after=2.0, times=3
    ) as gw:
        async with AsyncModelSecurityClient(
            **gw.client_kwargs(emulator.client_kwargs()), timeout=SHORT
        ) as client:
            group = await default_group(client, "HUGGING_FACE")
            results = [
                r
                async for r in client.scan_many(
                    ["hf://good-org/good-model"] * 6,
                    security_group_uuid=group,
                    concurrency=3,
                    poll_interval=0.02,
                )
            ]
        await gw.settle()
    assert gw.delayed == 3 and gw.delivered == [201, 201, 201]
    counts = scans_by_request_id(emulator)
    assert len(counts) == 6 and set(counts.values()) == {1}, counts
    assert sorted(r.index for r in results) == list(range(6))
    assert all(r.is_allowed and r.duplicates == [] for r in results), results
    assert {r.scan.uuid for r in results if r.scan} == {s.uuid for s in emulator.store.iter_scans()}


async def collect(batch: AsyncIterator[ScanResult], into: list[ScanResult]) -> None:
    async for r in batch:
        into.append(r)


def raising_after(n: int, items: list[str]) -> Iterator[str]:
    for i, item in enumerate(items):
        if i == n:
            raise ValueError("the input broke")
        yield item


async def test_scan_many_input_raises_results_first_then_the_error(
    client: AsyncModelSecurityClient, emulator: Emulator
) -> None:
    emulator.settle_delay = 0.3  # creates are in flight when the input breaks
    group = await default_group(client, "HUGGING_FACE")
    seen: list[ScanResult] = []
    batch = client.scan_many(
        raising_after(5, ["hf://good-org/good-model"] * 20),
        security_group_uuid=group,
        concurrency=3,
        poll_interval=0.02,
    )
    with pytest.raises(ValueError, match="the input broke"):
        await collect(batch, seen)
    # Every input taken before the failure has its result, delivered before the error.
    assert sorted(r.index for r in seen) == list(range(5))
    assert all(r.is_allowed for r in seen), seen
    assert emulator.scan_count() == 5
    # Nothing outlives the call: no task, no request afterwards.
    assert worker_tasks() == []
    before = request_count(emulator)
    await asyncio.sleep(0.5)
    assert request_count(emulator) == before


@pytest.mark.slow
async def test_chaos_in_flight_creates_faults_and_a_raising_input(emulator: Emulator) -> None:
    """Late-delivered creates, 5xx, 429, resets and token expiry, and an input that breaks."""
    emulator.settle_delay = 0.02
    n, broken_at = 60, 48
    targets = ["hf://good-org/good-model" if i % 3 else "hf://bad-org/bad-model" for i in range(n)]
    emulator.faults = Faults(
        error_rates={500: 0.04, 503: 0.04},
        rate_limit=0.04,
        retry_after=0.01,
        reset_after=0.05,
        reset_before=0.02,
        token_expiry=0.005,
        seed=11,
    )
    async with DelayingGateway(
        emulator.base_url, answer_after=0.3, deliver_after=1.0, times=6
    ) as gw:
        async with AsyncModelSecurityClient(
            **gw.client_kwargs(emulator.client_kwargs()),
            timeout=Timeouts(connect=0.5, read=1.0, total=30),
            max_retries=6,
        ) as client:
            client._transport.sleep = _short_sleep  # keep backoff real but brief
            group = await default_group(client, "HUGGING_FACE")
            seen: list[ScanResult] = []
            batch = client.scan_many(
                raising_after(broken_at, targets),
                security_group_uuid=group,
                concurrency=8,
                poll_interval=0.02,
                # > the gateway's delivery, 0.7 s after its 504; keeps the 5xx that the
                # emulator never acted on from waiting the default 11.5 s.
                reconcile_window=3.0,
            )
            with pytest.raises(ValueError, match="the input broke"):
                await collect(batch, seen)
            assert worker_tasks() == []
        await gw.settle()
    emulator.faults = None
    assert gw.delayed == 6
    assert sorted(r.index for r in seen) == list(range(broken_at))
    errors = [(r.index, repr(r.error)) for r in seen if r.error is not None]
    assert not errors, errors
    for r in seen:
        expected = EvalOutcome.BLOCKED if r.index % 3 == 0 else EvalOutcome.ALLOWED
        assert r.outcome == expected, (r.index, r.outcome)
        assert r.duplicates == []
    # Exactly one scan per input taken, however the creates were answered or delivered.
    counts = scans_by_request_id(emulator)
    assert len(counts) == broken_at and set(counts.values()) == {1}, counts


async def _short_sleep(seconds: float) -> None:
    await asyncio.sleep(min(seconds, 0.01))
