"""Integration fixtures: a real emulator on loopback and SDK clients wired to it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from modelsec import AsyncModelSecurityClient
from modelsec.emulator import Emulator
from tests.integration.models import benign_model, malicious_model


@pytest.fixture
def hub(tmp_path: Path) -> Path:
    root = tmp_path / "hub"
    benign_model(root / "huggingface" / "good-org" / "good-model")
    (root / "huggingface" / "good-org" / "good-model" / "README.md").write_text(
        "---\nlicense: apache-2.0\n---\n# good model\n"
    )
    (root / "huggingface" / "good-org" / ".verified").write_text("")
    malicious_model(root / "huggingface" / "bad-org" / "bad-model")
    return root


@pytest.fixture
async def emulator(hub: Path) -> AsyncIterator[Emulator]:
    async with Emulator(port=0, settle_delay=0.05, activation_delay=0.05, hub=hub) as emu:
        yield emu


@pytest.fixture
async def client(emulator: Emulator) -> AsyncIterator[AsyncModelSecurityClient]:
    async with AsyncModelSecurityClient(**emulator.client_kwargs()) as c:
        yield c


async def default_group(client: AsyncModelSecurityClient, source_type: str) -> str:
    page = await client.security_groups.list(search_query=f"Default {source_type}")
    for group in page.security_groups:
        if group.name == f"Default {source_type}":
            return group.uuid
    raise AssertionError(f"no default group for {source_type}")
