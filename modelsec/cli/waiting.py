"""A "still waiting" line on a terminal for any command that waits more than a second.

Token fetches, requests and waits (``groups create --wait``) can take a while on a slow or
silent network; a person at a terminal should see that the command is alive and what it is
waiting for. Nothing is drawn before ``delay`` seconds, nothing at all when stderr is not a
terminal (or under ``CI``, ``MODELSEC_NO_PROGRESS``, ``--quiet``), and the line is erased when
the wait ends, so the command's output is the same with or without it.

Example:
    >>> import asyncio, io
    >>> async def main():
    ...     async with Waiting("api.example.com", stream=io.StringIO(), enabled=False) as w:
    ...         return w.text(2.5)
    >>> asyncio.run(main())
    'waiting for api.example.com (2.5s)'
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from types import TracebackType
from typing import Any, TextIO
from urllib.parse import urlsplit

from modelsec.cli.progress import progress_wanted

__all__ = ["Waiting", "host_of"]

_SPINNER = "|/-\\"


def host_of(url: str) -> str:
    """``host[:port]`` of a URL, never its credentials.

    Example:
        >>> host_of("https://user:pw@api.example.com:8443/aims/data")
        'api.example.com:8443'
    """
    parts = urlsplit(url)
    host = parts.hostname or url
    try:
        port = parts.port
    except ValueError:
        port = None
    return f"{host}:{port}" if port else host


class Waiting:
    """An async context manager drawing ``waiting for WHAT (N.Ns)`` after ``delay`` seconds."""

    def __init__(
        self,
        what: str,
        *,
        stream: TextIO | None = None,
        enabled: bool | None = None,
        delay: float = 1.0,
        interval: float = 0.2,
    ) -> None:
        self.what = what
        self.stream: TextIO = stream if stream is not None else sys.stderr
        self.enabled = progress_wanted(self.stream) if enabled is None else enabled
        self.delay = delay
        self.interval = interval
        self._task: asyncio.Task[None] | None = None
        self._width = 0
        self._started = time.monotonic()
        self._saved: tuple[TextIO, TextIO] | None = None

    def text(self, elapsed: float) -> str:
        """The line's text after ``elapsed`` seconds."""
        return f"waiting for {self.what} ({elapsed:.1f}s)"

    async def _run(self) -> None:
        await asyncio.sleep(self.delay)
        frame = 0
        while True:
            elapsed = time.monotonic() - self._started
            line = f"{_SPINNER[frame % len(_SPINNER)]} {self.text(elapsed)}"
            pad = max(0, self._width - len(line))
            self._width = len(line)
            self.stream.write("\r" + line + " " * pad)
            self.stream.flush()
            frame += 1
            await asyncio.sleep(self.interval)

    def halt(self) -> None:
        """Stop drawing and erase the line (at once, from the loop's thread)."""
        if self._task is not None:
            self._task.cancel()
        if self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()
            self._width = 0

    async def __aenter__(self) -> Waiting:
        self._started = time.monotonic()
        if self.enabled:
            self._task = asyncio.create_task(self._run())
            # The command's own output (a table, a note) must not land on the progress line
            # nor be erased with it: the first write anywhere ends the waiting line.
            self._saved = (sys.stdout, sys.stderr)
            sys.stdout = _HaltOnWrite(sys.stdout, self)
            sys.stderr = _HaltOnWrite(sys.stderr, self)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._saved is not None:
            sys.stdout, sys.stderr = self._saved
            self._saved = None
        # Erase the line so what follows (output, an error) starts on a clean line.
        self.halt()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


class _HaltOnWrite:
    """A stream that ends the waiting line before its first write goes through."""

    def __init__(self, stream: TextIO, waiting: Waiting) -> None:
        self._stream = stream
        self._waiting = waiting

    def write(self, text: str) -> int:
        self._waiting.halt()
        return self._stream.write(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)
