"""``target_python``: the interpreter a scan judges functions pickled by value for.

A lambda written by this interpreter is inert under it and not provably so under the others
(every CPython numbers its opcodes differently): the verdict follows ``target_python``, the
option is checked before any request, and a worker elsewhere judges for the caller's
interpreter, not its own.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import cloudpickle
import pytest

import modelsec.scanner.interpreters as interpreters
from modelsec import AsyncModelSecurityClient, PayloadError
from modelsec.emulator import Emulator
from modelsec.journal import JournalError
from tests.cli.conftest import base_env, run_cli
from tests.integration.conftest import default_group

OTHER = "3.13" if interpreters.running_python() != "3.13" else "3.12"


def lambda_model(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "transform.pkl").write_bytes(cloudpickle.dumps({"f": lambda x: x * 2 + 1}))
    return root


def _code_findings(result: object) -> list[str]:
    details = result.scan_details  # type: ignore[attr-defined]
    assert details is not None
    return [
        str(i.description)
        for f in details.files
        for i in (f.issues_detected or [])
        if "not provably inert" in str(i.description)
    ]


async def test_scan_judges_for_this_interpreter_by_default_and_for_the_one_named(
    client: AsyncModelSecurityClient, tmp_path: Path
) -> None:
    group = await default_group(client, "LOCAL")
    model = lambda_model(tmp_path / "m")
    own = await client.scan(model, security_group_uuid=group, poll_interval=0.02)
    assert _code_findings(own) == []
    for target in (OTHER, "any"):
        named = await client.scan(
            model, security_group_uuid=group, poll_interval=0.02, target_python=target
        )
        assert named.is_blocked
        assert _code_findings(named), named.scan_details
        assert any(v.threat == "PAIT-PKL-100" for v in named.violations)


async def test_a_bad_target_python_is_refused_before_any_request(
    client: AsyncModelSecurityClient, emulator: Emulator, tmp_path: Path
) -> None:
    model = lambda_model(tmp_path / "m")
    before = sum(emulator.stats.requests.values())
    for bad in ("3.x", "", "python3", ["3.11", 3]):
        with pytest.raises(PayloadError, match="target_python"):
            await client.scan(model, target_python=bad)  # type: ignore[arg-type]
        with pytest.raises(PayloadError, match="target_python"):
            async for _ in client.scan_many([model], target_python=bad):  # type: ignore[arg-type]
                pass
    assert sum(emulator.stats.requests.values()) == before


async def test_a_worker_judges_for_the_caller_s_interpreter(
    client: AsyncModelSecurityClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The caller pretends to be another CPython; the spawned worker really is this one.
    monkeypatch.setattr(interpreters, "running_python", lambda: OTHER)
    group = await default_group(client, "LOCAL")
    model = lambda_model(tmp_path / "m")
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=ctx) as pool:
        results = [
            r
            async for r in client.scan_many(
                [model], security_group_uuid=group, poll_interval=0.02, executor=pool
            )
        ]
    assert len(results) == 1 and results[0].error is None, results
    findings = _code_findings(results[0])
    assert findings and f"judged for CPython {OTHER};" in findings[0], findings


async def test_a_journal_is_bound_to_its_target_python(
    client: AsyncModelSecurityClient, tmp_path: Path
) -> None:
    group = await default_group(client, "LOCAL")
    model = lambda_model(tmp_path / "m")
    journal = tmp_path / "batch.jsonl"
    async for _ in client.scan_many(
        [model], security_group_uuid=group, poll_interval=0.02, journal=journal
    ):
        pass
    with pytest.raises(JournalError):
        async for _ in client.scan_many(
            [model],
            security_group_uuid=group,
            poll_interval=0.02,
            journal=journal,
            target_python="any",
        ):
            pass


def test_cli_offline_target_python(tmp_path: Path) -> None:
    model = lambda_model(tmp_path / "m")
    env = base_env()
    default = run_cli("scan", "--offline", "-f", "json", "-q", str(model), env=env)
    assert "not provably inert" not in default.out, default.out
    strict = run_cli(
        "scan", "--offline", "--target-python", "any", "-f", "json", "-q", str(model), env=env
    )
    assert strict.code == 1, strict.err
    assert "not provably inert" in strict.out
    assert "judged for every interpreter that could load it" in strict.out
    bad = run_cli("scan", "--offline", "--target-python", "3.x", str(model), env=env)
    assert bad.code == 2
    assert "--target-python: '3.x' is not a Python version" in bad.err
