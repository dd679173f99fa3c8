"""The sync ``scan_many``: callbacks in the caller's thread, and an input that raises."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelsec import ModelSecurityClient, ScanProgress, ScanResult
from modelsec.emulator import EmulatorThread
from tests.integration.models import benign_model
from tests.integration.test_batch_inflight import raising_after


@pytest.fixture
def emu(tmp_path: Path) -> Iterator[EmulatorThread]:
    hub = tmp_path / "hub"
    benign_model(hub / "huggingface" / "good-org" / "good-model")
    (hub / "huggingface" / "good-org" / "good-model" / "README.md").write_text(
        "---\nlicense: mit\n---\n"
    )
    (hub / "huggingface" / "good-org" / ".verified").write_text("")
    with EmulatorThread(port=0, settle_delay=0.05, activation_delay=0.05, hub=hub) as e:
        yield e


@pytest.fixture
def client(emu: EmulatorThread) -> Iterator[ModelSecurityClient]:
    with ModelSecurityClient(**emu.client_kwargs()) as c:
        yield c


def _group(client: ModelSecurityClient) -> str:
    page = client.security_groups.list(search_query="Default HUGGING_FACE")
    return next(g.uuid for g in page if g.name == "Default HUGGING_FACE")


def test_sync_on_progress_runs_in_the_callers_thread(client: ModelSecurityClient) -> None:
    group = _group(client)
    calls: list[tuple[int, ScanProgress]] = []
    yielded: list[int] = []
    for r in client.scan_many(
        ["hf://good-org/good-model"] * 4,
        security_group_uuid=group,
        concurrency=2,
        poll_interval=0.02,
        on_progress=lambda p: calls.append((threading.get_ident(), p)),
    ):
        # The progress of this result was reported before the result was handed over.
        assert calls[-1][1].last is r
        yielded.append(r.index)
    assert {ident for ident, _ in calls} == {threading.get_ident()}
    assert [p.completed for _, p in calls] == [1, 2, 3, 4]
    assert sorted(yielded) == [0, 1, 2, 3]


def test_sync_on_progress_error_ends_the_iteration(
    client: ModelSecurityClient, emu: EmulatorThread
) -> None:
    def boom(p: ScanProgress) -> None:
        raise RuntimeError("callback failed")

    with pytest.raises(RuntimeError, match="callback failed"):
        for _ in client.scan_many(
            ["hf://good-org/good-model"] * 10,
            security_group_uuid=_group(client),
            concurrency=2,
            poll_interval=0.02,
            on_progress=boom,
        ):
            pass
    assert emu.scan_count() <= 4  # the batch stopped with the callback


def test_sync_scan_many_input_raises_after_the_results(
    client: ModelSecurityClient, emu: EmulatorThread
) -> None:
    emu.settle_delay = 0.3
    seen: list[ScanResult] = []
    batch = client.scan_many(
        raising_after(4, ["hf://good-org/good-model"] * 10),
        security_group_uuid=_group(client),
        concurrency=3,
        poll_interval=0.02,
    )
    with pytest.raises(ValueError, match="the input broke"):
        seen.extend(batch)
    assert sorted(r.index for r in seen) == [0, 1, 2, 3]
    assert all(r.is_allowed for r in seen)
    assert emu.scan_count() == 4
    before = sum(emu.stats.requests.values())
    time.sleep(0.5)
    assert sum(emu.stats.requests.values()) == before  # nothing runs after the error
