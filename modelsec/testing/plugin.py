"""pytest plugin of modelsec: fixtures wired to the local emulator.

Registered as the ``modelsec`` ``pytest11`` entry point, so installing modelsec makes these
fixtures available everywhere (or load it with ``-p modelsec.testing.plugin``). Import-light on
purpose: nothing heavy is imported until a fixture is used.

The fixtures work whatever runs your async tests: pytest-asyncio in strict mode
(``@pytest.mark.asyncio``) or auto mode, anyio's pytest plugin (``@pytest.mark.anyio``), and
plain sync tests. Each public fixture is a plain one that looks at the requesting test and
hands over to the implementation for its runner, so the emulator and the client always live
on the test's own event loop:

* ``modelsec_emulator``: a running :class:`modelsec.emulator.Emulator` on the test's loop
  (in a sync test, an :class:`modelsec.emulator.EmulatorThread`, which has the same API);
* ``modelsec_emulator_thread``: a running :class:`modelsec.emulator.EmulatorThread`;
* ``modelsec_async_client``: ``modelsec.AsyncModelSecurityClient`` wired to
  ``modelsec_emulator`` (async tests only);
* ``modelsec_client``: ``modelsec.ModelSecurityClient`` wired to ``modelsec_emulator_thread``.

Options come from the ``modelsec_emulator_options`` fixture (override it in a conftest), e.g.::

    @pytest.fixture
    def modelsec_emulator_options():
        return {"settle_delay": 0.01, "hub": "tests/hub"}

Example (a user's test)::

    @pytest.mark.asyncio          # or @pytest.mark.anyio, or nothing in asyncio auto mode
    async def test_scan(modelsec_async_client):
        page = await modelsec_async_client.security_groups.list()
        assert page.security_groups
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

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

_F = TypeVar("_F", bound=Callable[..., Any])

try:  # pytest-asyncio's strict mode runs only the async fixtures it was told about
    import pytest_asyncio

    _HAVE_PYTEST_ASYNCIO = True
except ImportError:  # pragma: no cover - exercised by the throwaway projects without it
    _HAVE_PYTEST_ASYNCIO = False


def _asyncio_fixture(func: _F) -> _F:
    """``pytest_asyncio.fixture`` when pytest-asyncio is installed, else ``pytest.fixture``."""
    decorate: Any = pytest_asyncio.fixture if _HAVE_PYTEST_ASYNCIO else pytest.fixture
    fixture: _F = decorate(func)
    return fixture


def _make_client(name: str, kwargs: dict[str, str]) -> Any:
    # looked up by name: the clients are imported only when a client fixture is used
    import modelsec

    cls: Any = getattr(modelsec, name)
    return cls(**kwargs)


def _runner_of(request: pytest.FixtureRequest) -> str:
    """``"anyio"``, ``"asyncio"`` or ``"sync"``: what runs the test that asked."""
    if "anyio_backend" in request.fixturenames:
        return "anyio"
    function = getattr(request, "function", None)
    if function is not None and (
        inspect.iscoroutinefunction(function) or inspect.isasyncgenfunction(function)
    ):
        if not _HAVE_PYTEST_ASYNCIO:
            pytest.fail(
                f"{request.node.nodeid} is an async test but neither pytest-asyncio nor "
                "anyio runs it: install pytest-asyncio, or mark it @pytest.mark.anyio",
                pytrace=False,
            )
        return "asyncio"
    return "sync"


async def _serve(options: dict[str, Any]) -> AsyncIterator[Emulator]:
    from modelsec.emulator import Emulator

    async with Emulator(**{**_DEFAULTS, **options}) as emu:
        yield emu


async def _connect(emulator: Emulator) -> AsyncIterator[Any]:
    client = _make_client("AsyncModelSecurityClient", emulator.client_kwargs())
    try:
        yield client
    finally:
        await client.close()


# The implementations, one per runner. The anyio ones are plain async fixtures (anyio's plugin
# runs those for tests that use its ``anyio_backend``); the asyncio ones are marked for
# pytest-asyncio, which in strict mode ignores unmarked async fixtures.


@pytest.fixture
async def _modelsec_emulator_anyio(
    modelsec_emulator_options: dict[str, Any],
) -> AsyncIterator[Emulator]:
    async for emu in _serve(modelsec_emulator_options):
        yield emu


@_asyncio_fixture
async def _modelsec_emulator_asyncio(
    modelsec_emulator_options: dict[str, Any],
) -> AsyncIterator[Emulator]:
    async for emu in _serve(modelsec_emulator_options):
        yield emu


@pytest.fixture
async def _modelsec_async_client_anyio(modelsec_emulator: Emulator) -> AsyncIterator[Any]:
    async for client in _connect(modelsec_emulator):
        yield client


@_asyncio_fixture
async def _modelsec_async_client_asyncio(modelsec_emulator: Emulator) -> AsyncIterator[Any]:
    async for client in _connect(modelsec_emulator):
        yield client


# ----------------------------------------------------------------------------- public fixtures


@pytest.fixture
def modelsec_emulator_options() -> dict[str, Any]:
    """Keyword arguments for the emulator fixtures (override to customise)."""
    return {}


@pytest.fixture
def modelsec_emulator(request: pytest.FixtureRequest) -> Emulator | EmulatorThread:
    """A running emulator on a free loopback port, on the test's event loop.

    In a sync test it is the same emulator served from a background thread.
    """
    runner = _runner_of(request)
    if runner == "sync":
        thread: EmulatorThread = request.getfixturevalue("modelsec_emulator_thread")
        return thread
    emu: Emulator = request.getfixturevalue(f"_modelsec_emulator_{runner}")
    return emu


@pytest.fixture
def modelsec_emulator_thread(
    modelsec_emulator_options: dict[str, Any],
) -> Iterator[EmulatorThread]:
    """A running emulator served from a background thread (for sync tests)."""
    from modelsec.emulator import EmulatorThread

    with EmulatorThread(**{**_DEFAULTS, **modelsec_emulator_options}) as emu:
        yield emu


@pytest.fixture
def modelsec_async_client(request: pytest.FixtureRequest) -> Any:
    """``modelsec.AsyncModelSecurityClient`` connected to ``modelsec_emulator`` (async tests)."""
    runner = _runner_of(request)
    if runner == "sync":
        pytest.fail(
            f"{request.node.nodeid}: modelsec_async_client needs an async test "
            "(pytest-asyncio or anyio); sync tests use modelsec_client",
            pytrace=False,
        )
    return request.getfixturevalue(f"_modelsec_async_client_{runner}")


@pytest.fixture
def modelsec_client(modelsec_emulator_thread: EmulatorThread) -> Iterator[Any]:
    """``modelsec.ModelSecurityClient`` (sync) connected to ``modelsec_emulator_thread``."""
    client = _make_client("ModelSecurityClient", modelsec_emulator_thread.client_kwargs())
    try:
        yield client
    finally:
        client.close()
