"""The SDK's import stays light: scanner, policy, emulator and CLI load only when used."""

from __future__ import annotations

import subprocess
import sys


def test_sdk_import_does_not_load_tools() -> None:
    code = (
        "import sys, modelsec; "
        "print(','.join(sorted(m for m in sys.modules if m.startswith('modelsec.'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(out.stdout.strip().split(","))
    assert "modelsec.client" in loaded
    assert "modelsec.sync.client" in loaded
    heavy = {
        m for m in loaded if m.split(".")[1] in {"scanner", "policy", "emulator", "cli", "testing"}
    }
    assert heavy == set()
