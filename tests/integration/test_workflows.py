"""wait, create_and_wait, scan and scan_many against the emulator over real sockets."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from modelsec import AsyncModelSecurityClient, ScanProgress, ScanTimeoutError
from modelsec.emulator import Emulator
from modelsec.emulator.faults import Faults
from modelsec.types import EvalOutcome, SecurityGroupState
from modelsec.workflows import IDEMPOTENCY_LABEL
from tests.integration.conftest import default_group
from tests.integration.models import benign_model, malicious_model


async def test_scan_local_benign_is_allowed(
    client: AsyncModelSecurityClient, tmp_path: Path
) -> None:
    group = await default_group(client, "LOCAL")
    result = await client.scan(
        benign_model(tmp_path / "ok"), security_group_uuid=group, poll_interval=0.02
    )
    assert result.error is None
    assert result.is_allowed, result
    assert result.violations == []
    assert result.scan_details is not None
    assert result.scan is not None and result.scan.source_type == "LOCAL"


async def test_scan_local_malicious_is_blocked_with_violations(
    client: AsyncModelSecurityClient, tmp_path: Path
) -> None:
    group = await default_group(client, "LOCAL")
    result = await client.scan(
        malicious_model(tmp_path / "bad"), security_group_uuid=group, poll_interval=0.02
    )
    assert result.is_blocked, result
    assert result.violations
    assert any(v.threat == "PAIT-PKL-100" for v in result.violations)
    assert any((v.operator or "") == "system" for v in result.violations)


async def test_scan_hub_uri(client: AsyncModelSecurityClient) -> None:
    group = await default_group(client, "HUGGING_FACE")
    good = await client.scan(
        "hf://good-org/good-model", security_group_uuid=group, poll_interval=0.02
    )
    assert good.is_allowed, good
    bad = await client.scan(
        "https://huggingface.co/bad-org/bad-model", security_group_uuid=group, poll_interval=0.02
    )
    assert bad.is_blocked, bad
    missing = await client.scan(
        "hf://nobody/nothing", security_group_uuid=group, poll_interval=0.02
    )
    assert missing.outcome == EvalOutcome.ERROR
    assert missing.scan is not None and missing.scan.error_code == "MISSING_ARTIFACTS"


async def test_wait_times_out_with_last_state(
    client: AsyncModelSecurityClient, emulator: Emulator
) -> None:
    emulator.settle_delay = 30
    group = await default_group(client, "HUGGING_FACE")
    scan = await client.scans.create(
        model_uri="hf://good-org/good-model", security_group_uuid=group
    )
    with pytest.raises(ScanTimeoutError) as info:
        await client.scans.wait(scan.uuid, timeout=0.3, poll_interval=0.05)
    assert info.value.last is not None
    assert info.value.last.uuid == scan.uuid
    assert info.value.last.eval_outcome == EvalOutcome.PENDING


async def test_wait_is_cancellation_safe(
    client: AsyncModelSecurityClient, emulator: Emulator
) -> None:
    emulator.settle_delay = 30
    group = await default_group(client, "HUGGING_FACE")
    scan = await client.scans.create(
        model_uri="hf://good-org/good-model", security_group_uuid=group
    )
    task = asyncio.ensure_future(client.scans.wait(scan.uuid, poll_interval=0.05))
    await asyncio.sleep(0.2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # The client is still healthy after the cancelled wait.
    assert (await client.scans.get(scan.uuid)).uuid == scan.uuid


async def test_create_and_wait(client: AsyncModelSecurityClient) -> None:
    group = await default_group(client, "HUGGING_FACE")
    scan = await client.scans.create_and_wait(
        model_uri="hf://good-org/good-model", security_group_uuid=group, poll_interval=0.02
    )
    assert scan.eval_outcome == EvalOutcome.ALLOWED


async def test_wait_active(client: AsyncModelSecurityClient) -> None:
    group = await client.security_groups.create(name="fresh", source_type="LOCAL")
    assert group.state == SecurityGroupState.PENDING
    active = await client.security_groups.wait_active(group.uuid, poll_interval=0.02)
    assert active.is_active


async def test_scan_many_in_completion_order_with_progress(
    client: AsyncModelSecurityClient, tmp_path: Path
) -> None:
    group = await default_group(client, "LOCAL")
    targets = [benign_model(tmp_path / f"ok{i}") for i in range(4)] + [
        malicious_model(tmp_path / "bad")
    ]
    seen: list[ScanProgress] = []
    results = [
        r
        async for r in client.scan_many(
            targets,
            security_group_uuid=group,
            concurrency=3,
            poll_interval=0.02,
            on_progress=seen.append,
        )
    ]
    assert sorted(r.index for r in results) == list(range(5))
    assert sum(r.is_blocked for r in results) == 1
    assert sum(r.is_allowed for r in results) == 4
    assert seen[-1].completed == 5 and seen[-1].total == 5 and seen[-1].in_flight == 0
    for r in results:
        assert r.scan is not None
        assert any(lb.key == IDEMPOTENCY_LABEL for lb in r.scan.labels)


async def test_scan_many_errors_are_results_not_exceptions(
    client: AsyncModelSecurityClient, tmp_path: Path
) -> None:
    group = await default_group(client, "LOCAL")
    results = [
        r
        async for r in client.scan_many(
            [tmp_path / "missing", benign_model(tmp_path / "ok")],
            security_group_uuid=group,
            poll_interval=0.02,
        )
    ]
    assert len(results) == 2
    by_index = {r.index: r for r in results}
    assert by_index[0].is_error and "no such file" in str(by_index[0].error)
    assert by_index[1].is_allowed


async def test_scan_many_stops_cleanly_when_consumer_breaks(
    client: AsyncModelSecurityClient, emulator: Emulator
) -> None:
    group = await default_group(client, "HUGGING_FACE")
    gen = client.scan_many(
        ["hf://good-org/good-model"] * 20,
        security_group_uuid=group,
        concurrency=2,
        poll_interval=0.02,
    )
    async for _ in gen:  # type: ignore[attr-defined]
        break
    await gen.aclose()  # type: ignore[attr-defined]
    await asyncio.sleep(0.05)
    leftovers = [
        t
        for t in asyncio.all_tasks()
        if t.get_coro().__qualname__.split(".")[-1] in {"worker", "run_workers"}  # type: ignore[union-attr]
    ]
    assert leftovers == []
    # Only the scans that had been started exist: no new work after the break.
    assert emulator.scan_count() <= 4


@pytest.mark.slow
async def test_scan_many_exactly_once_under_faults(
    client: AsyncModelSecurityClient, emulator: Emulator, tmp_path: Path
) -> None:
    """A few hundred scans with 5xx, 429, resets after sending and token expiry all on."""
    emulator.settle_delay = 0.02
    group = await default_group(client, "HUGGING_FACE")
    n = 240
    targets = ["hf://good-org/good-model" if i % 3 else "hf://bad-org/bad-model" for i in range(n)]
    emulator.faults = Faults(
        error_rates={500: 0.04, 502: 0.03, 503: 0.04},
        rate_limit=0.04,
        retry_after=0.01,
        reset_after=0.05,
        reset_before=0.02,
        token_expiry=0.005,
        seed=7,
    )
    fast = client.with_options(max_retries=6)
    fast._transport.sleep = _short_sleep  # keep backoff real but brief
    results = [
        r
        async for r in fast.scan_many(
            targets,
            security_group_uuid=group,
            concurrency=16,
            poll_interval=0.02,
            # The emulator acts at once or never: a short reconcile window keeps this quick
            # (the window itself is tested with a gateway that delivers late).
            reconcile_window=0.3,
        )
    ]
    emulator.faults = None
    assert len(results) == n
    assert sorted(r.index for r in results) == list(range(n))
    errors = [r for r in results if r.error is not None]
    assert not errors, [(r.index, type(r.error).__name__, str(r.error)) for r in errors]
    for r in results:
        expected = EvalOutcome.BLOCKED if r.index % 3 == 0 else EvalOutcome.ALLOWED
        assert r.outcome == expected, (r.index, r.outcome)
    # Exactly one scan per input on the service, however many creates were retried.
    assert emulator.scan_count() == n
    request_ids = {
        next(lb.value for lb in r.scan.labels if lb.key == IDEMPOTENCY_LABEL)
        for r in results
        if r.scan
    }
    assert len(request_ids) == n


async def _short_sleep(seconds: float) -> None:
    await asyncio.sleep(min(seconds, 0.01))


async def test_allowed_scan_reports_allowing_violations(
    client: AsyncModelSecurityClient, tmp_path: Path
) -> None:
    import pickle

    rules = await client.security_rules.list(search_query="Approved File Format")
    rule = next(r for r in rules.rules if r.name == "Stored In Approved File Format")
    group = await client.security_groups.create(
        name="formats-warn-only",
        source_type="LOCAL",
        rule_configurations={rule.uuid: {"state": "ALLOWING"}},
    )
    await client.security_groups.wait_active(group.uuid, poll_interval=0.02)
    model = tmp_path / "data-pickle"
    model.mkdir()
    (model / "weights.pkl").write_bytes(pickle.dumps({"w": [1.0, 2.0]}, protocol=2))  # data only
    result = await client.scan(model, security_group_uuid=group.uuid, poll_interval=0.02)
    assert result.is_allowed, result
    assert [v.threat for v in result.violations] == ["UNAPPROVED_FORMATS"]
    assert result.violations[0].rule_instance_state == "ALLOWING"


async def test_remote_scan_honours_allow_and_ignore_patterns(
    client: AsyncModelSecurityClient, hub: Path
) -> None:
    from tests.integration.models import malicious_pickle_bytes

    mixed = hub / "huggingface" / "good-org" / "mixed"
    benign_model(mixed)
    (mixed / "README.md").write_text("---\nlicense: apache-2.0\n---\n")
    (mixed / "extras").mkdir()
    (mixed / "extras" / "helper.pkl").write_bytes(malicious_pickle_bytes())
    group = await default_group(client, "HUGGING_FACE")
    uri = "hf://good-org/mixed"
    whole = await client.scan(uri, security_group_uuid=group, poll_interval=0.02)
    assert whole.is_blocked
    ignored = await client.scan(
        uri, security_group_uuid=group, poll_interval=0.02, ignore_patterns=["*.pkl"]
    )
    assert ignored.is_allowed, ignored
    allowed = await client.scan(
        uri,
        security_group_uuid=group,
        poll_interval=0.02,
        allow_patterns=["*.safetensors", "*.json", "*.md"],
    )
    assert allowed.is_allowed, allowed
    assert allowed.scan is not None and allowed.scan.total_files_scanned is not None


async def test_scan_many_timeout_keeps_the_created_scan(
    client: AsyncModelSecurityClient, emulator: Emulator
) -> None:
    emulator.settle_delay = 30
    group = await default_group(client, "HUGGING_FACE")
    (result,) = [
        r
        async for r in client.scan_many(
            ["hf://good-org/good-model"], security_group_uuid=group, timeout=0.2, poll_interval=0.05
        )
    ]
    assert isinstance(result.error, ScanTimeoutError)
    assert result.is_error
    assert result.scan is not None  # the scan exists on the service: its uuid is not lost
    assert result.scan.eval_outcome == EvalOutcome.PENDING
    assert emulator.scan_count() == 1
