"""The SDK's import stays light: scanner, policy, emulator and CLI load only when used."""

from __future__ import annotations

import subprocess
import sys


def test_sdk_import_does_not_load_tools() -> None:
    code = (
        "import sys, modelsec; modelsec.AsyncModelSecurityClient; modelsec.ModelSecurityClient; "
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


def test_scanner_import_does_not_load_the_http_stack() -> None:
    # The offline scanner (and `scan --offline`) never talks HTTP: the clients load on first use.
    code = (
        "import sys; from modelsec.scanner import scan_path; "
        "print(','.join(sorted(m for m in sys.modules if m.startswith(('modelsec.', 'aiohttp')))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(out.stdout.strip().split(","))
    assert "modelsec.scanner.api" in loaded
    assert not {m for m in loaded if m.startswith("aiohttp")}
    assert "modelsec.client" not in loaded and "modelsec.sync" not in loaded
