"""The pytest plugin in throwaway projects: pytest-asyncio strict and auto modes, anyio, sync.

Each project is a fresh directory with its own ``pytest.ini`` and test file, run by a pytest
subprocess that imports this worktree's modelsec. Warnings that reveal a fixture run on the
wrong loop or left unclosed (unraisable exceptions, ResourceWarning, pytest-asyncio's strict
mode deprecation) are errors there.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

STRICT_ERRORS = (
    "-W",
    "error::ResourceWarning",
    "-W",
    "error::pytest.PytestUnraisableExceptionWarning",
    # pytest-asyncio's warning for an unmarked async fixture in strict mode (the old plugin's
    # bug); its other deprecation warnings are about the user's own configuration.
    "-W",
    "error:asyncio test:pytest.PytestDeprecationWarning",
)

ASYNC_BODY = """
async def test_async_client(modelsec_async_client):
    page = await modelsec_async_client.security_groups.list()
    assert page.security_groups


async def test_emulator_runs_on_this_loop(modelsec_emulator):
    import asyncio

    from modelsec.emulator import Emulator

    assert isinstance(modelsec_emulator, Emulator)  # not the thread: the test's own loop
    assert asyncio.get_running_loop() is not None
    assert modelsec_emulator.scan_count() == 0


async def test_scan_local_model(modelsec_async_client, tmp_path):
    (tmp_path / "model.safetensors").write_bytes(b"not much of a model")
    groups = await modelsec_async_client.security_groups.list(source_types=["LOCAL"])
    result = await modelsec_async_client.scan(
        tmp_path, security_group_uuid=groups.security_groups[0].uuid
    )
    assert result.scan is not None
"""

SYNC_BODY = """
def test_sync_client(modelsec_client):
    assert modelsec_client.security_rules.list().rules


def test_emulator_in_a_sync_test(modelsec_emulator):
    assert modelsec_emulator.base_url.startswith("http://127.0.0.1:")
"""


def _mark(body: str, decorator: str) -> str:
    return body.replace("\nasync def ", f"\n{decorator}\nasync def ")


def run_project(
    tmp_path: Path, ini: str, tests: str, *args: str, autoload: bool = True
) -> subprocess.CompletedProcess[str]:
    (tmp_path / "pytest.ini").write_text("[pytest]\n" + textwrap.dedent(ini))
    (tmp_path / "test_user.py").write_text("import pytest\n" + textwrap.dedent(tests))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["PYTHONPATH"] = str(ROOT)
    if not autoload:
        env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *STRICT_ERRORS, *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def assert_passed(proc: subprocess.CompletedProcess[str], count: int) -> None:
    tail = (proc.stdout + proc.stderr)[-3000:]
    assert proc.returncode == 0, tail
    assert f"{count} passed" in proc.stdout, tail


def test_pytest_asyncio_strict_mode(tmp_path: Path) -> None:
    # A fresh project: no asyncio_mode set, so pytest-asyncio is in strict mode; the plugin
    # comes from the installed entry point, and so does anyio's, so anyio-marked tests share
    # the project. A misuse fails with a message that says what to do.
    tests = _mark(ASYNC_BODY, "@pytest.mark.asyncio") + SYNC_BODY
    tests += _mark(ASYNC_BODY, "@pytest.mark.anyio").replace(
        "async def test_", "async def test_anyio_"
    )
    tests += """
import pytest_asyncio


@pytest_asyncio.fixture
async def group_names(modelsec_async_client):
    page = await modelsec_async_client.security_groups.list()
    return [g.name for g in page.security_groups]


@pytest.mark.asyncio
async def test_user_fixture_on_top(group_names):
    assert "Default LOCAL" in group_names


def test_wrong(modelsec_async_client):
    pass
"""
    proc = run_project(tmp_path, "", tests)
    assert proc.returncode == 1, proc.stdout[-3000:]
    assert "9 passed" in proc.stdout and "1 error" in proc.stdout, proc.stdout[-3000:]
    assert "test_wrong: modelsec_async_client needs an async test" in proc.stdout


def test_pytest_asyncio_auto_mode(tmp_path: Path) -> None:
    assert_passed(run_project(tmp_path, "asyncio_mode = auto\n", ASYNC_BODY + SYNC_BODY), 5)


def test_anyio_plugin_without_pytest_asyncio(tmp_path: Path) -> None:
    proc = run_project(
        tmp_path,
        "",
        _mark(ASYNC_BODY, "@pytest.mark.anyio") + SYNC_BODY,
        "-p",
        "anyio.pytest_plugin",
        "-p",
        "modelsec.testing.plugin",
        autoload=False,
    )
    assert_passed(proc, 5)


def test_sync_tests_with_no_async_plugin(tmp_path: Path) -> None:
    proc = run_project(tmp_path, "", SYNC_BODY, "-p", "modelsec.testing.plugin", autoload=False)
    assert_passed(proc, 2)


@pytest.fixture(autouse=True)
def _no_user_conftest(tmp_path: Path) -> None:
    # The throwaway projects must not see this repository's conftest or ini.
    assert not (tmp_path / "conftest.py").exists()
