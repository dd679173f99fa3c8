"""A result says why it is an ERROR, and results and progress events print as one line."""

from __future__ import annotations

from pathlib import Path

from modelsec import AsyncModelSecurityClient
from modelsec.cli.demo import write_benign_model
from modelsec.emulator import Emulator
from modelsec.workflows import ScanProgress, ScanResult


async def test_results_and_progress_explain_themselves(tmp_path: Path) -> None:
    hub = tmp_path / "hub"
    write_benign_model(hub / "huggingface" / "org" / "good")
    events: list[ScanProgress] = []
    results: dict[str, ScanResult] = {}
    emulator = Emulator(port=0, settle_delay=0.02, hub=hub)
    async with emulator as emu, AsyncModelSecurityClient(**emu.client_kwargs()) as client:
        page = await client.security_groups.list(source_types=["HUGGING_FACE"])
        group = page.security_groups[0].uuid
        async for r in client.scan_many(
            ["hf://org/good", "hf://org/missing", str(tmp_path / "nowhere")],
            security_group_uuid=group,
            poll_interval=0.02,
            on_progress=events.append,
        ):
            results[r.target] = r
    missing = results["hf://org/missing"]
    assert missing.is_error and missing.error is None  # the service settled it ERROR
    assert missing.reason is not None
    assert missing.reason.startswith("MISSING_ARTIFACTS: ")
    assert str(missing).startswith("hf://org/missing: ERROR (MISSING_ARTIFACTS: ")
    assert str(missing).endswith(f"[scan {missing.scan.uuid}]")  # type: ignore[union-attr]
    nowhere = results[str(tmp_path / "nowhere")]
    assert nowhere.reason == f"PayloadError: no such file or directory: {tmp_path / 'nowhere'}"
    assert str(nowhere) == f"{tmp_path / 'nowhere'}: ERROR ({nowhere.reason})"
    good = results["hf://org/good"]
    assert good.reason is None
    assert str(good).startswith(f"hf://org/good: {good.outcome.value}")  # type: ignore[union-attr]
    assert len(events) == 3
    for event in events:
        line = str(event)
        assert "\n" not in line and len(line) < 300, line
    assert str(events[-1]).startswith("3/3 done, 2 failed; last: ")


def test_control_characters_stay_on_one_line() -> None:
    r = ScanResult(target="./evil\n::error ::x", error=ValueError("bad\x1b[2Jname\nhere"))
    assert str(r) == "./evil ::error ::x: ERROR (ValueError: bad\\x1b[2Jname here)"
