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


def test_batch_scanner_report_and_exit_code() -> None:
    import json

    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "batch_scanner.py"), "--emulator"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 1, proc.stderr[-2000:]  # one of the three models is blocked
    report = json.loads(proc.stdout)
    outcomes = {Path(r["target"]).name: r["outcome"] for r in report["results"]}
    assert outcomes == {"alpha": "ALLOWED", "beta": "ALLOWED", "gamma": "BLOCKED"}
    gamma = next(r for r in report["results"] if r["target"].endswith("gamma"))
    assert any(v["threat"] == "PAIT-PKL-100" for v in gamma["violations"])


def test_sync_script() -> None:
    out = run_example("sync_script.py", "--emulator")
    assert ": ALLOWED" in out


def test_fastapi_app_scans_an_upload(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from modelsec.emulator import EmulatorThread

    sys.path.insert(0, str(ROOT / "examples"))
    try:
        import fastapi_app
    finally:
        sys.path.pop(0)
    with EmulatorThread(port=0, settle_delay=0.05) as emu:
        fastapi_app.app.state.modelsec_options = emu.client_kwargs()
        with TestClient(fastapi_app.app) as http:
            bad = b"\x80\x02cos\nsystem\nX\x02\x00\x00\x00ls\x85R."
            resp = http.post("/scan/upload", files={"file": ("model.pkl", bad)})
            assert resp.status_code == 200, resp.text
            body = resp.json()
            assert body["outcome"] == "BLOCKED"
            assert any(v["threat"] == "PAIT-PKL-100" for v in body["violations"])
            got = http.get(f"/scans/{body['scan_uuid']}")
            assert got.status_code == 200
            assert got.json()["eval_outcome"] == "BLOCKED"
            assert http.get("/scans/not-a-uuid").status_code == 422
            missing = http.post("/scan", json={"model_uri": "hf://nobody/nothing"})
            assert missing.json()["outcome"] == "ERROR"
