"""Fixtures of the fleet suite: an emulator in the test's loop and CPU-heavy model sets.

The Dask and Ray clusters are created per module (Ray's startup is slow), and a missing
package FAILS the suite with the extra to install: ``-m fleet`` means these engines are wanted.
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType

import pytest

from modelsec import AsyncModelSecurityClient
from modelsec.emulator import Emulator
from modelsec.workflows import ScanResult
from tests.fleet.models import model_set


def require(module: str, extra: str) -> ModuleType:
    """Import ``module`` or fail (never skip) naming the extra that provides it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        pytest.fail(f"{module} is missing: pip install '.[{extra}]' ({exc})", pytrace=False)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """12 models, 8 of them with about 0.7 MB of dense pickle opcodes (see ``model_set``)."""
    return model_set(tmp_path_factory.mktemp("fleet-models"), 12, pairs=120_000)


@pytest.fixture
async def emulator(tmp_path: Path) -> AsyncIterator[Emulator]:
    async with Emulator(port=0, settle_delay=0.02, activation_delay=0.0, hub=tmp_path) as emu:
        yield emu


@pytest.fixture
async def client(emulator: Emulator) -> AsyncIterator[AsyncModelSecurityClient]:
    async with AsyncModelSecurityClient(**emulator.client_kwargs()) as c:
        yield c


async def local_group(client: AsyncModelSecurityClient) -> str:
    page = await client.security_groups.list(search_query="Default LOCAL")
    return next(g.uuid for g in page.security_groups if g.name == "Default LOCAL")


def check_batch(results: list[ScanResult], expected: dict[str, str], emulator: Emulator) -> None:
    """Exactly one result per target, each with its verdict, and one scan each on the service."""
    assert sorted(r.target for r in results) == sorted(expected)
    assert sorted(r.index for r in results) == list(range(len(expected)))
    for r in results:
        assert r.error is None, (r.target, r.error)
        kind = expected[r.target]
        assert r.outcome == ("ALLOWED" if kind == "ALLOWED" else "BLOCKED"), (r.target, r.outcome)
        assert r.scan_details is not None
        code_execution = any(v.threat == "PAIT-PKL-100" for v in r.violations)
        assert code_execution == (kind == "MALICIOUS"), (r.target, r.violations)
    assert emulator.scan_count() == len(expected)
    assert len({r.scan.uuid for r in results if r.scan is not None}) == len(expected)
