"""A raw HTTP/1.1 server on 127.0.0.1:0 for faults aiohttp.web cannot stage.

It hands each request to an async handler that writes whatever bytes it likes to the socket:
nothing at all (a server that accepts and never answers), a body one byte at a time, or an
ordinary answer. Runs on the test's own event loop; leaving the ``async with`` cancels every
connection task and closes every socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any

import attrs


@attrs.define
class Request:
    method: str
    target: str  # as sent: a path, or an absolute URL when we are used as a proxy
    headers: dict[str, str]  # lower-cased names
    body: bytes

    @property
    def path(self) -> str:
        target = self.target
        if "://" in target:
            target = "/" + target.split("://", 1)[1].split("/", 1)[-1]
        return target.split("?", 1)[0]


Handler = Callable[[Request, asyncio.StreamWriter], Awaitable[None]]


def response_bytes(
    status: int, body: bytes, content_type: str = "application/json", **headers: str
) -> bytes:
    lines = [f"HTTP/1.1 {status} X", f"Content-Type: {content_type}"]
    lines += [f"Content-Length: {len(body)}"]
    lines += [f"{k.replace('_', '-')}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def send_json(
    writer: asyncio.StreamWriter, status: int, payload: Any, **headers: str
) -> None:
    writer.write(response_bytes(status, json.dumps(payload).encode(), **headers))
    await writer.drain()


async def send_token(writer: asyncio.StreamWriter, token: str = "tok-loopback-0001") -> None:
    await send_json(writer, 200, {"access_token": token, "expires_in": 900})


async def never_answer(request: Request, writer: asyncio.StreamWriter) -> None:
    await asyncio.sleep(3600)


class RawServer:
    """``async with RawServer(handler) as srv:`` then ``srv.base`` is ``http://127.0.0.1:port``."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[Request] = []
        self.base = ""
        self.port = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._writers: list[asyncio.StreamWriter] = []

    async def __aenter__(self) -> RawServer:
        self._server = await asyncio.start_server(self._connection, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        self.base = f"http://127.0.0.1:{self.port}"
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task
        for writer in self._writers:
            writer.close()
        await self._server.wait_closed()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.append(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        name, value = line.split(":", 1)
                        headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                request = Request(method=method, target=target, headers=headers, body=body)
                self.requests.append(request)
                await self.handler(request, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        except asyncio.CancelledError:
            # Stopped by __aexit__: end quietly (asyncio logs a connection task that ends
            # cancelled as an error of its own callback).
            pass
        finally:
            self._tasks.discard(task)
            writer.close()
