"""The generated sync twins of the workflow methods, against the emulator on its own thread."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from modelsec import ModelSecurityClient, ScanProgress, ScanTimeoutError
from modelsec.emulator import EmulatorThread
from modelsec.types import EvalOutcome
from tests.integration.models import benign_model, malicious_model


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


def _group(client: ModelSecurityClient, source_type: str) -> str:
    page = client.security_groups.list(search_query=f"Default {source_type}")
    return next(g.uuid for g in page if g.name == f"Default {source_type}")


def test_sync_scan_local_and_remote(client: ModelSecurityClient, tmp_path: Path) -> None:
    local = _group(client, "LOCAL")
    ok = client.scan(benign_model(tmp_path / "ok"), security_group_uuid=local, poll_interval=0.02)
    assert ok.is_allowed, ok
    bad = client.scan(
        malicious_model(tmp_path / "bad"), security_group_uuid=local, poll_interval=0.02
    )
    assert bad.is_blocked
    assert any(v.threat == "PAIT-PKL-100" for v in bad.violations)
    remote = client.scan(
        "hf://good-org/good-model",
        security_group_uuid=_group(client, "HUGGING_FACE"),
        poll_interval=0.02,
    )
    assert remote.outcome == EvalOutcome.ALLOWED


def test_sync_scan_many_yields_every_input(client: ModelSecurityClient, tmp_path: Path) -> None:
    local = _group(client, "LOCAL")
    targets = [benign_model(tmp_path / f"m{i}") for i in range(3)] + [
        malicious_model(tmp_path / "bad")
    ]
    progress: list[ScanProgress] = []
    results = list(
        client.scan_many(
            targets,
            security_group_uuid=local,
            concurrency=2,
            poll_interval=0.02,
            on_progress=progress.append,
        )
    )
    assert sorted(r.index for r in results) == [0, 1, 2, 3]
    assert [r.is_blocked for r in sorted(results, key=lambda r: r.index)] == [
        False,
        False,
        False,
        True,
    ]
    assert progress[-1].completed == 4


def test_sync_wait_timeout_carries_last_state(
    client: ModelSecurityClient, emu: EmulatorThread
) -> None:
    emu.settle_delay = 30
    scan = client.scans.create(
        model_uri="hf://good-org/good-model", security_group_uuid=_group(client, "HUGGING_FACE")
    )
    with pytest.raises(ScanTimeoutError) as info:
        client.scans.wait(scan.uuid, timeout=0.2, poll_interval=0.05)
    assert info.value.last is not None and info.value.last.uuid == scan.uuid


def test_sync_wait_active(client: ModelSecurityClient) -> None:
    group = client.security_groups.create(name="sync-fresh", source_type="LOCAL")
    assert client.security_groups.wait_active(group.uuid, poll_interval=0.02).is_active
