"""Running the emulator: :class:`Emulator` (async) and :class:`EmulatorThread` (sync).

Example:
    >>> from modelsec.emulator import EmulatorThread
    >>> with EmulatorThread(port=0) as emu:
    ...     sorted(emu.client_kwargs())
    ['client_id', 'client_secret', 'data_endpoint', 'mgmt_endpoint', 'token_endpoint', 'tsg_id']
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from modelsec.emulator.app import Credential, EmulatorConfig, EmulatorService, Stats
from modelsec.emulator.faults import Faults
from modelsec.emulator.store import Store

__all__ = [
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "DEFAULT_TSG_ID",
    "Emulator",
    "EmulatorThread",
]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
DEFAULT_CLIENT_ID = "modelsec-demo"
DEFAULT_CLIENT_SECRET = "modelsec-demo-secret"
DEFAULT_TSG_ID = "1234567890"


class Emulator:
    """The Model Security service on loopback (aiohttp.web), as an async context manager.

    ``tenants`` adds credentials: ``{client_id: (client_secret, tsg_id)}``. ``settle_delay`` is
    how long a scan stays PENDING, ``activation_delay`` how long a new group stays PENDING,
    ``token_lifetime`` the bearer token lifetime in seconds, ``hub`` the directory remote URIs
    are resolved against (see :mod:`modelsec.emulator.hub`), ``faults`` what to inject.

    Example:
        >>> import asyncio
        >>> async def main():
        ...     async with Emulator(port=0, settle_delay=0.01) as emu:
        ...         return emu.token_endpoint.endswith("/oauth2/access_token")
        >>> asyncio.run(main())
        True
    """

    def __init__(
        self,
        *,
        host: str = DEFAULT_HOST,
        port: int = 0,
        client_id: str = DEFAULT_CLIENT_ID,
        client_secret: str = DEFAULT_CLIENT_SECRET,
        tsg_id: str = DEFAULT_TSG_ID,
        tenants: Mapping[str, tuple[str, str]] | None = None,
        token_lifetime: float = 900.0,
        settle_delay: float = 0.5,
        activation_delay: float = 0.5,
        hub: str | os.PathLike[str] | None = None,
        faults: Faults | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.client_id = client_id
        self.client_secret = client_secret
        self.tsg_id = tsg_id
        creds = {client_id: Credential(client_id, client_secret, (tsg_id,))}
        for cid, (secret, tsg) in (tenants or {}).items():
            old = creds.get(cid)
            tsgs = (*old.tsg_ids, tsg) if old and old.client_secret == secret else (tsg,)
            creds[cid] = Credential(cid, secret, tsgs)
        self.config = EmulatorConfig(
            credentials=creds,
            token_lifetime=token_lifetime,
            settle_delay=settle_delay,
            activation_delay=activation_delay,
            hub=os.fspath(hub) if hub is not None else None,
        )
        self.service = EmulatorService(self.config, faults)
        self._runner: web.AppRunner | None = None
        self._bound_port: int | None = None

    # --------------------------------------------------------------- lifecycle
    async def start(self) -> Emulator:
        """Bind and serve; ``port=0`` picks a free port."""
        app = self.service.make_app()
        limits = self.service.server_limits()
        self._runner = web.AppRunner(
            app,
            access_log=None,
            handle_signals=False,
            max_line_size=limits["max_line_size"],
            max_field_size=limits["max_field_size"],
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        await site.start()
        server = site._server
        assert server is not None
        sockets = getattr(server, "sockets", None) or []
        self._bound_port = int(sockets[0].getsockname()[1]) if sockets else self.port
        return self

    async def stop(self) -> None:
        """Stop serving and cancel pending background work."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Emulator:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # --------------------------------------------------------------- addresses
    @property
    def bound_port(self) -> int:
        """The port actually bound."""
        if self._bound_port is None:
            raise RuntimeError("the emulator is not running")
        return self._bound_port

    @property
    def base_url(self) -> str:
        """``http://host:port``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.bound_port}"

    @property
    def token_endpoint(self) -> str:
        """``base_url + "/oauth2/access_token"``."""
        return self.base_url + "/oauth2/access_token"

    @property
    def data_endpoint(self) -> str:
        """``base_url + "/aims/data"``."""
        return self.base_url + "/aims/data"

    @property
    def mgmt_endpoint(self) -> str:
        """``base_url + "/aims/mgmt"``."""
        return self.base_url + "/aims/mgmt"

    def client_kwargs(
        self,
        *,
        client_id: str | None = None,
        client_secret: str | None = None,
        tsg_id: str | None = None,
    ) -> dict[str, str]:
        """Keyword arguments for ``modelsec.AsyncModelSecurityClient`` / ``ModelSecurityClient``.

        Example:
            >>> Emulator(port=1).config.credentials["modelsec-demo"].tsg_ids
            ('1234567890',)
        """
        if client_id is not None and client_secret is None:
            client_secret = self.config.credentials[client_id].client_secret
        if client_id is not None and tsg_id is None:
            tsg_id = self.config.credentials[client_id].tsg_ids[0]
        return {
            "client_id": client_id or self.client_id,
            "client_secret": client_secret or self.client_secret,
            "tsg_id": tsg_id or self.tsg_id,
            "data_endpoint": self.data_endpoint,
            "mgmt_endpoint": self.mgmt_endpoint,
            "token_endpoint": self.token_endpoint,
        }

    def add_tenant(self, client_id: str, client_secret: str, tsg_id: str) -> None:
        """Add credentials (at run time too) allowed to ask tokens for ``tsg_id``."""
        old = self.config.credentials.get(client_id)
        tsgs = (*old.tsg_ids, tsg_id) if old else (tsg_id,)
        self.config.credentials[client_id] = Credential(client_id, client_secret, tsgs)

    # --------------------------------------------------------------- control & observation
    @property
    def faults(self) -> Faults:
        """The faults in force; assign ``Faults(...)`` (or ``None``) to change them."""
        return self.service.faults

    @faults.setter
    def faults(self, value: Faults | None) -> None:
        self.service.faults = value

    @property
    def settle_delay(self) -> float:
        """Seconds a scan stays PENDING (changeable at run time)."""
        return self.config.settle_delay

    @settle_delay.setter
    def settle_delay(self, value: float) -> None:
        self.config.settle_delay = value

    @property
    def store(self) -> Store:
        """Direct read access to the store (``emu.store.scans``, ``emu.store.tenant(tsg)``)."""
        return self.service.store

    @property
    def stats(self) -> Stats:
        """Counters: token requests, connections opened, requests by path and status."""
        return self.service.stats

    def scan_count(self, tsg_id: str | None = None) -> int:
        """Number of scans created (of one tenant, default: all)."""
        return sum(1 for _ in self.store.iter_scans(tsg_id))

    def expire_tokens(self, tsg_id: str | None = None) -> int:
        """Invalidate the issued tokens now (clients must fetch new ones)."""
        return self.service.expire_tokens(tsg_id)


class EmulatorThread:
    """An :class:`Emulator` served from a background thread's event loop, for sync code.

    Takes the same arguments; attributes are forwarded to the running emulator.

    Example:
        >>> with EmulatorThread(port=0, settle_delay=0.01) as emu:
        ...     emu.base_url.startswith("http://127.0.0.1:")
        True
    """

    def __init__(self, **kwargs: Any) -> None:
        self.emulator = Emulator(**kwargs)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._stop: asyncio.Event | None = None

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._main())
        finally:
            loop.close()

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        try:
            await self.emulator.start()
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            await self.emulator.stop()

    def start(self) -> EmulatorThread:
        """Start the thread and wait until the emulator listens."""
        self._thread = threading.Thread(target=self._run, name="modelsec-emulator", daemon=True)
        self._thread.start()
        self._ready.wait(30)
        if self._error is not None:
            raise self._error
        return self

    def stop(self) -> None:
        """Stop the emulator and join the thread."""
        if self._loop is not None and self._stop is not None and self._thread is not None:
            if self._thread.is_alive():
                self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(30)
        self._thread = None

    def call(self, fn: Any, *args: Any) -> Any:
        """Run ``fn(*args)`` on the emulator's loop thread and return its result."""
        assert self._loop is not None
        fut = asyncio.run_coroutine_threadsafe(_acall(fn, *args), self._loop)
        return fut.result(30)

    def __enter__(self) -> EmulatorThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __getattr__(self, name: str) -> Any:
        if name == "emulator":
            raise AttributeError(name)
        return getattr(self.emulator, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in ("faults", "settle_delay"):
            setattr(self.emulator, name, value)
        else:
            object.__setattr__(self, name, value)


async def _acall(fn: Any, *args: Any) -> Any:
    return fn(*args)
