"""A loopback gateway in front of the emulator that answers 504 and delivers the request later.

This is the fault of issue 13: a gateway gives up on ``POST /v1/scans`` after ``answer_after``
seconds (504 to the client) but still delivers the request to the service ``deliver_after``
seconds after it arrived. Every other request is passed through unchanged. The first
``times`` matching requests are delayed; the rest pass.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import aiohttp
from aiohttp import web

_HOP_HEADERS = {"host", "content-length", "transfer-encoding", "connection"}


def is_scan_create(method: str, path: str) -> bool:
    return method == "POST" and path.rstrip("/").endswith("/aims/data/v1/scans")


class DelayingGateway:
    """``async with DelayingGateway(emulator.base_url) as gw:`` then ``gw.client_kwargs(emu)``."""

    def __init__(
        self,
        upstream: str,
        *,
        answer_after: float = 0.5,
        deliver_after: float = 2.0,
        times: int = 1,
        match: Callable[[str, str], bool] = is_scan_create,
    ) -> None:
        self.upstream = upstream.rstrip("/")
        self.answer_after = answer_after
        self.deliver_after = deliver_after
        self.times = times
        self.match = match
        self.delayed = 0  # requests answered 504 and delivered late
        self.delivered: list[int] = []  # upstream statuses of the late deliveries
        self._late: set[asyncio.Task[None]] = set()
        self._session: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    async def __aenter__(self) -> DelayingGateway:
        self._session = aiohttp.ClientSession()
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.settle()
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    async def settle(self) -> None:
        """Wait for every late delivery to have reached the service."""
        while self._late:
            await asyncio.gather(*list(self._late), return_exceptions=True)

    def client_kwargs(self, kwargs: dict[str, str]) -> dict[str, str]:
        """The emulator's client kwargs with every endpoint pointing at the gateway."""
        out = dict(kwargs)
        for key in ("data_endpoint", "mgmt_endpoint", "token_endpoint"):
            out[key] = out[key].replace(self.upstream, self.base_url)
        return out

    async def _forward(self, method: str, path_qs: str, headers: dict[str, str], body: bytes):  # type: ignore[no-untyped-def]
        assert self._session is not None
        async with self._session.request(
            method, self.upstream + path_qs, headers=headers, data=body or None
        ) as resp:
            return resp.status, await resp.read(), dict(resp.headers)

    async def _late_delivery(
        self, method: str, path_qs: str, headers: dict[str, str], body: bytes
    ) -> None:
        await asyncio.sleep(self.deliver_after)
        status, _, _ = await self._forward(method, path_qs, headers, body)
        self.delivered.append(status)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_HEADERS}
        if self.delayed < self.times and self.match(request.method, request.path):
            self.delayed += 1
            task = asyncio.ensure_future(
                self._late_delivery(request.method, request.path_qs, headers, body)
            )
            self._late.add(task)
            task.add_done_callback(self._late.discard)
            await asyncio.sleep(self.answer_after)
            return web.json_response({"detail": "Gateway Timeout"}, status=504)
        status, data, up_headers = await self._forward(
            request.method, request.path_qs, headers, body
        )
        keep = {
            k: v
            for k, v in up_headers.items()
            if k.lower() in ("content-type", "retry-after", "www-authenticate")
        }
        return web.Response(status=status, body=data, headers=keep)
