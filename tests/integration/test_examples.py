"""The examples run end to end against the emulator (so they cannot rot)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_example(name: str, *args: str) -> str:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / name), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def test_quickstart_async_walkthroughs() -> None:
    out = run_example("quickstart_async.py", "--emulator")
    assert "verdict: ALLOWED" in out
    assert "Load Time Code Execution Check" in out
    assert "-> BLOCKING" in out


def test_quickstart_sync_walkthroughs() -> None:
    out = run_example("quickstart_sync.py", "--emulator")
    assert "BLOCKING" in out
