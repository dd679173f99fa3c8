"""``modelsec scan --journal FILE``: a rerun reports the journal's results without new scans."""

from __future__ import annotations

import json
from pathlib import Path

from modelsec.emulator import EmulatorThread
from tests.cli.conftest import run_cli


def test_scan_journal_rerun_makes_no_new_scan(
    emulator: EmulatorThread, cli_env: dict[str, str], models: dict[str, Path], tmp_path: Path
) -> None:
    journal = tmp_path / "batch.jsonl"
    targets = [str(models["benign"]), str(models["malicious"])]
    args = ["scan", "--poll-interval", "0.05", "--journal", str(journal), "--format", "json"]
    first = run_cli(*args, "-o", str(tmp_path / "1.json"), *targets, env=cli_env)
    assert first.code == 1, first.err  # the malicious model is blocked
    count = emulator.scan_count()
    second = run_cli(*args, "-o", str(tmp_path / "2.json"), *targets, env=cli_env)
    assert second.code == 1, second.err
    assert emulator.scan_count() == count  # reported from the journal
    one, two = (json.loads((tmp_path / f"{i}.json").read_text()) for i in (1, 2))
    assert [r["scan_uuid"] for r in one["results"]] == [r["scan_uuid"] for r in two["results"]]
    assert [r["outcome"] for r in two["results"]] == ["ALLOWED", "BLOCKED"]
    # Another batch on the same journal is refused with a clear error.
    other = run_cli(*args, str(models["benign"]), env=cli_env)
    assert other.code == 2
    assert "belongs to another batch" in other.err


def test_scan_journal_needs_one_group(
    cli_env: dict[str, str], models: dict[str, Path], tmp_path: Path
) -> None:
    journal = str(tmp_path / "j.jsonl")
    mixed = run_cli(
        "scan", "--journal", journal, str(models["benign"]), "hf://org/model", env=cli_env
    )
    assert mixed.code == 2 and "--journal records one batch" in mixed.err
    offline = run_cli("scan", "--offline", "--journal", journal, str(models["benign"]), env=cli_env)
    assert offline.code == 2 and "--offline makes none" in offline.err
