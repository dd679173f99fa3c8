"""The pytest plugin's fixtures (registered through the ``pytest11`` entry point)."""

from __future__ import annotations

from typing import Any

import pytest

from modelsec.emulator import Emulator, EmulatorThread


async def test_async_emulator_fixture(modelsec_emulator: Emulator) -> None:
    kw = modelsec_emulator.client_kwargs()
    assert set(kw) == {
        "client_id",
        "client_secret",
        "tsg_id",
        "data_endpoint",
        "mgmt_endpoint",
        "token_endpoint",
    }
    assert kw["data_endpoint"] == modelsec_emulator.base_url + "/aims/data"
    assert kw["mgmt_endpoint"] == modelsec_emulator.base_url + "/aims/mgmt"
    assert (kw["client_id"], kw["client_secret"], kw["tsg_id"]) == (
        "modelsec-demo",
        "modelsec-demo-secret",
        "1234567890",
    )


def test_thread_emulator_fixture(modelsec_emulator_thread: EmulatorThread) -> None:
    assert modelsec_emulator_thread.base_url.startswith("http://127.0.0.1:")
    assert modelsec_emulator_thread.scan_count() == 0


class TestOverride:
    @pytest.fixture
    def modelsec_emulator_options(self) -> dict[str, Any]:
        return {"tsg_id": "777"}

    async def test_options_override(self, modelsec_emulator: Emulator) -> None:
        assert modelsec_emulator.tsg_id == "777"


async def test_async_client_fixture(modelsec_async_client: Any) -> None:
    page = await modelsec_async_client.security_groups.list()
    assert page.security_groups


def test_sync_client_fixture(request: pytest.FixtureRequest) -> None:
    import modelsec

    if not hasattr(modelsec, "ModelSecurityClient"):
        pytest.skip("the sync client is not available yet")
    client = request.getfixturevalue("modelsec_client")
    page = client.security_groups.list()
    assert page.security_groups
