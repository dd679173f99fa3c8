"""pytest plugin of modelsec: fixtures wired to the local emulator.

Registered as the ``modelsec`` ``pytest11`` entry point, so installing modelsec makes these
fixtures available everywhere. Import-light on purpose: nothing heavy is imported until a
fixture is used.

Fixtures:

* ``modelsec_emulator`` (async): a running :class:`modelsec.emulator.Emulator`;
* ``modelsec_emulator_thread`` (sync): a running :class:`modelsec.emulator.EmulatorThread`;
* ``modelsec_async_client``: ``modelsec.AsyncModelSecurityClient`` wired to
  ``modelsec_emulator``;
* ``modelsec_client``: ``modelsec.ModelSecurityClient`` wired to ``modelsec_emulator_thread``.

Options come from the ``modelsec_emulator_options`` fixture (override it in a conftest), e.g.::

    @pytest.fixture
    def modelsec_emulator_options():
        return {"settle_delay": 0.01, "hub": "tests/hub"}

Example (a user's test)::

    async def test_scan(modelsec_async_client):
        page = await modelsec_async_client.security_groups.list()
        assert page.security_groups
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from modelsec.emulator import Emulator, EmulatorThread

__all__ = [
    "modelsec_async_client",
    "modelsec_client",
    "modelsec_emulator",
    "modelsec_emulator_options",
    "modelsec_emulator_thread",
]

_DEFAULTS: dict[str, Any] = {"port": 0, "settle_delay": 0.05, "activation_delay": 0.05}


def _make_client(name: str, kwargs: dict[str, str]) -> Any:
    # looked up by name: the clients are imported only when a client fixture is used
    import modelsec

    cls: Any = getattr(modelsec, name)
    return cls(**kwargs)


@pytest.fixture
def modelsec_emulator_options() -> dict[str, Any]:
    """Keyword arguments for the emulator fixtures (override to customise)."""
    return {}


@pytest.fixture
async def modelsec_emulator(modelsec_emulator_options: dict[str, Any]) -> AsyncIterator[Emulator]:
    """A running emulator on a free loopback port (needs an async test)."""
    from modelsec.emulator import Emulator

    async with Emulator(**{**_DEFAULTS, **modelsec_emulator_options}) as emu:
        yield emu


@pytest.fixture
def modelsec_emulator_thread(
    modelsec_emulator_options: dict[str, Any],
) -> Iterator[EmulatorThread]:
    """A running emulator served from a background thread (for sync tests)."""
    from modelsec.emulator import EmulatorThread

    with EmulatorThread(**{**_DEFAULTS, **modelsec_emulator_options}) as emu:
        yield emu


@pytest.fixture
async def modelsec_async_client(modelsec_emulator: Emulator) -> AsyncIterator[Any]:
    """``modelsec.AsyncModelSecurityClient`` connected to ``modelsec_emulator``."""
    client = _make_client("AsyncModelSecurityClient", modelsec_emulator.client_kwargs())
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
def modelsec_client(modelsec_emulator_thread: EmulatorThread) -> Iterator[Any]:
    """``modelsec.ModelSecurityClient`` (sync) connected to ``modelsec_emulator_thread``."""
    client = _make_client("ModelSecurityClient", modelsec_emulator_thread.client_kwargs())
    try:
        yield client
    finally:
        client.close()
