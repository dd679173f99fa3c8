"""Fixtures of the CLI tests: one emulator per module, model directories, a CLI runner."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from modelsec.cli.demo import write_benign_model, write_malicious_model
from modelsec.emulator import EmulatorThread

CRED_VARS = (
    "PANW_MODEL_SEC_CLIENT_ID",
    "PANW_MODEL_SEC_CLIENT_SECRET",
    "PANW_MODEL_SEC_TSG_ID",
    "PANW_MODEL_SEC_DATA_ENDPOINT",
    "PANW_MODEL_SEC_MGMT_ENDPOINT",
    "PANW_MODEL_SEC_TOKEN_ENDPOINT",
    "PANW_MGMT_CLIENT_ID",
    "PANW_MGMT_CLIENT_SECRET",
    "PANW_MGMT_TSG_ID",
    "PANW_MGMT_TOKEN_ENDPOINT",
    "MODEL_SECURITY_CLIENT_ID",
    "MODEL_SECURITY_CLIENT_SECRET",
    "MODEL_SECURITY_API_ENDPOINT",
    "MODEL_SECURITY_TOKEN_ENDPOINT",
    "TSG_ID",
)


@dataclass
class Run:
    """A finished CLI process."""

    code: int
    out: str
    err: str


def base_env() -> dict[str, str]:
    """The environment without any credential, proxy or progress display."""
    env = {k: v for k, v in os.environ.items() if k not in CRED_VARS}
    for k in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        env.pop(k, None)
    env["CI"] = "1"
    env["NO_COLOR"] = "1"
    return env


def run_cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> Run:
    """``python -m modelsec.cli ARGS`` as a subprocess."""
    proc = subprocess.run(
        [sys.executable, "-m", "modelsec.cli", *args],
        env=env if env is not None else base_env(),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return Run(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorThread]:
    """One emulator per test module (scans settle after 0.1 s; an empty hub)."""
    hub = tmp_path_factory.mktemp("hub")
    with EmulatorThread(port=0, settle_delay=0.1, activation_delay=0.0, hub=hub) as emu:
        yield emu


@pytest.fixture(scope="module")
def cli_env(emulator: EmulatorThread) -> dict[str, str]:
    """Environment pointing the CLI at the emulator through the SDK's variables."""
    kw = emulator.client_kwargs()
    env = base_env()
    env.update(
        {
            "PANW_MODEL_SEC_CLIENT_ID": kw["client_id"],
            "PANW_MODEL_SEC_CLIENT_SECRET": kw["client_secret"],
            "PANW_MODEL_SEC_TSG_ID": kw["tsg_id"],
            "PANW_MODEL_SEC_DATA_ENDPOINT": kw["data_endpoint"],
            "PANW_MODEL_SEC_MGMT_ENDPOINT": kw["mgmt_endpoint"],
            "PANW_MODEL_SEC_TOKEN_ENDPOINT": kw["token_endpoint"],
        }
    )
    return env


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``benign`` (safetensors + config) and ``malicious`` (os.system pickle) directories."""
    root = tmp_path_factory.mktemp("models")
    return {
        "benign": write_benign_model(root / "benign"),
        "malicious": write_malicious_model(root / "malicious"),
    }
