"""Each platform end to end against a real server: SDK (async, sync), CLI online and offline."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from modelsec import AsyncModelSecurityClient, ModelSecurityClient
from modelsec.emulator import EmulatorThread
from modelsec.sources import SourceError, scan_uri
from tests.storage.conftest import SOURCE_VARS, Backend

pytestmark = pytest.mark.storage

ROOT = Path(__file__).resolve().parents[2]


def cli(
    emulator: EmulatorThread | None, env: dict[str, str], *args: str
) -> subprocess.CompletedProcess[str]:
    full = {
        k: v
        for k, v in os.environ.items()
        if k not in SOURCE_VARS and not k.startswith(("PANW_", "MODEL_SECURITY_"))
    }
    full.update(env)
    full.update({"CI": "1", "NO_COLOR": "1", "PYTHONPATH": str(ROOT)})
    if emulator is not None:
        kw = emulator.client_kwargs()
        full.update(
            {
                "PANW_MODEL_SEC_CLIENT_ID": kw["client_id"],
                "PANW_MODEL_SEC_CLIENT_SECRET": kw["client_secret"],
                "PANW_MODEL_SEC_TSG_ID": kw["tsg_id"],
                "PANW_MODEL_SEC_DATA_ENDPOINT": kw["data_endpoint"],
                "PANW_MODEL_SEC_MGMT_ENDPOINT": kw["mgmt_endpoint"],
                "PANW_MODEL_SEC_TOKEN_ENDPOINT": kw["token_endpoint"],
            }
        )
    return subprocess.run(
        [sys.executable, "-m", "modelsec.cli", "scan", *args],
        env=full,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def threats(result: Any) -> set[str]:
    return {str(getattr(v.threat, "value", v.threat)) for v in result.violations if v.threat}


async def test_sdk_async_allows_benign_and_blocks_malicious(
    backend: Backend, emulator: EmulatorThread
) -> None:
    async with AsyncModelSecurityClient(**emulator.client_kwargs()) as client:
        good = await client.scan(backend.benign)  # no group: Default <SOURCE_TYPE>
        bad = await client.scan(backend.malicious)
    assert good.is_allowed, good
    assert good.scan is not None and good.scan.model_uri == backend.benign
    assert (
        str(getattr(good.scan.source_type, "value", good.scan.source_type)) == backend.source_type
    )
    assert good.scan.security_group_name == f"Default {backend.source_type}"
    assert good.scan_details is not None
    assert {f.file_path for f in good.scan_details.files} == {"config.json", "model.safetensors"}
    assert bad.is_blocked, bad
    assert "PAIT-PKL-100" in threats(bad)
    assert bad.scan is not None and bad.scan.model_uri == backend.malicious


def test_sdk_sync_scan_many(backend: Backend, emulator: EmulatorThread) -> None:
    with ModelSecurityClient(**emulator.client_kwargs()) as client:
        results = sorted(
            client.scan_many([backend.benign, backend.malicious, backend.missing_prefix]),
            key=lambda r: r.index,
        )
    assert [r.is_allowed for r in results] == [True, False, False]
    assert results[1].is_blocked and "PAIT-PKL-100" in threats(results[1])
    assert isinstance(results[2].error, SourceError)
    assert results[2].scan is None  # nothing was submitted for a model that could not be read


def test_cli_online_and_offline_verdicts(backend: Backend, emulator: EmulatorThread) -> None:
    for offline in (False, True):
        flags = ["--offline"] if offline else []
        emu = None if offline else emulator
        good = cli(emu, backend.env, *flags, backend.benign, "--format", "json")
        assert good.returncode == 0, good.stdout + good.stderr
        doc = json.loads(good.stdout)
        (model,) = doc["models"] if "models" in doc else doc["results"]
        assert model["outcome"] == "ALLOWED"
        assert model["source_type"] == backend.source_type
        bad = cli(emu, backend.env, *flags, backend.malicious)
        assert bad.returncode == 1, bad.stdout + bad.stderr
        assert "PAIT-PKL-100" in bad.stdout


def check_one_line_errors(backend: Backend, env: dict[str, str], uris: list[str]) -> None:
    """The CLI exits 2 with one error line per model; the SDK raises a one-line SourceError."""
    run = cli(None, env, "--offline", *uris)
    assert run.returncode == 2, run.stdout + run.stderr
    text = run.stdout + run.stderr
    assert "ALLOWED" not in text
    for uri in uris:
        (at,) = [i for i, ln in enumerate(text.splitlines()) if ln.startswith(f"ERROR    {uri} ")]
        assert text.splitlines()[at + 1].strip().startswith("error: SourceError: "), text
    for secret in [v for k, v in env.items() if "TOKEN" in k or "SECRET" in k or "STRING" in k]:
        assert secret not in text
    for k in SOURCE_VARS:
        os.environ.pop(k, None)
    os.environ.update(env)
    for uri in uris:
        with pytest.raises(SourceError) as info:
            scan_uri(uri)
        assert "\n" not in str(info.value)
        assert len(str(info.value)) < 300


def test_missing_or_empty_model_is_a_one_line_error(backend: Backend) -> None:
    check_one_line_errors(
        backend, backend.env, [backend.missing_bucket, backend.missing_prefix, backend.empty]
    )


# gcp-storage-emulator does not authenticate: GCS has no wrong-credentials case here.
@pytest.mark.parametrize("backend", ["s3", "azure", "artifactory", "gitlab"], indirect=True)
def test_wrong_credentials_are_a_one_line_error(backend: Backend) -> None:
    assert backend.bad_env is not None
    check_one_line_errors(backend, backend.bad_env, [backend.benign])


def test_patterns_apply_before_any_byte_is_read(
    artifactory_backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    for k in SOURCE_VARS:
        monkeypatch.delenv(k, raising=False)
    for k, v in artifactory_backend.env.items():
        monkeypatch.setenv(k, v)
    fake = artifactory_backend.extra["fake"]
    fake.requests.clear()
    details = scan_uri(artifactory_backend.malicious, ignore_patterns=["*.pkl"])
    assert [f.file_path for f in details.files] == ["config.json"]
    assert not [r for r in fake.requests if r.endswith("model.pkl")]
    assert any(r.endswith("config.json") for r in fake.requests)


def test_download_dir_keeps_a_copy(
    s3_backend: Backend, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for k in SOURCE_VARS:
        monkeypatch.delenv(k, raising=False)
    for k, v in s3_backend.env.items():
        monkeypatch.setenv(k, v)
    details = scan_uri(s3_backend.malicious, download_dir=tmp_path)
    copy = tmp_path / "s3" / "models" / "team" / "malicious"
    assert sorted(p.name for p in copy.iterdir()) == ["config.json", "model.pkl"]
    (pkl,) = [f for f in details.files if f.file_path == "model.pkl"]
    assert pkl.issues_detected[0].threat == "PAIT-PKL-100"
    streamed = scan_uri(s3_backend.malicious)
    assert [f.sha256 for f in streamed.files] == [f.sha256 for f in details.files]


def test_cli_download_dir(s3_backend: Backend, tmp_path: Path) -> None:
    run = cli(None, s3_backend.env, "--offline", "--download-dir", str(tmp_path), s3_backend.benign)
    assert run.returncode == 0, run.stdout + run.stderr
    assert (tmp_path / "s3" / "models" / "team" / "benign" / "model.safetensors").is_file()


def test_example_scan_bucket(s3_backend: Backend, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in SOURCE_VARS}
    env.update(s3_backend.env)
    env["PYTHONPATH"] = str(ROOT)
    report = tmp_path / "report.json"
    run = subprocess.run(
        [
            sys.executable,
            "examples/scan_bucket.py",
            "s3://models/team/",
            "--emulator",
            "--report",
            str(report),
        ],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 2, run.stdout + run.stderr  # the empty folder cannot be scanned
    entries = {e["model"]: e["outcome"] for e in json.loads(report.read_text())}
    assert entries == {
        "s3://models/team/benign": "ALLOWED",
        "s3://models/team/empty": "ERROR",
        "s3://models/team/malicious": "BLOCKED",
    }
