"""Posture fixtures: one emulator, a configured tenant ``a`` and an empty tenant ``b``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from modelsec import AsyncModelSecurityClient
from modelsec.emulator import Emulator

TENANT_B = ("posture-b", "posture-b-secret", "tsg-posture-b")


@pytest.fixture
async def emulator(tmp_path: Path) -> AsyncIterator[Emulator]:
    hub = tmp_path / "hub"
    hub.mkdir()
    async with Emulator(
        port=0,
        settle_delay=0.02,
        activation_delay=0.0,
        hub=hub,
        tenants={TENANT_B[0]: (TENANT_B[1], TENANT_B[2])},
    ) as emu:
        yield emu


@pytest.fixture
async def client(emulator: Emulator) -> AsyncIterator[AsyncModelSecurityClient]:
    async with AsyncModelSecurityClient(**emulator.client_kwargs(), max_retries=0) as c:
        yield c


@pytest.fixture
async def client_b(emulator: Emulator) -> AsyncIterator[AsyncModelSecurityClient]:
    kw = emulator.client_kwargs(client_id=TENANT_B[0], client_secret=TENANT_B[1])
    async with AsyncModelSecurityClient(**kw, max_retries=0) as c:
        yield c
