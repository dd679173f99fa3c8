"""A live progress line for ``modelsec scan`` on a terminal, silence in CI logs.

``rich`` is used when it is installed (a spinner with counters); otherwise a plain line is
rewritten in place with ``\\r``. Nothing is drawn when stderr is not a terminal, when ``CI`` is
set, or with ``--quiet``/``--no-progress``: CI logs get only the final report.

Example:
    >>> import io
    >>> p = Progress(total=2, stream=io.StringIO(), enabled=False)
    >>> p.update(completed=1, failed=0, in_flight=1)
    >>> p.status()
    'scanning 1/2 done, 1 in flight'
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import os
import sys
import time
from types import TracebackType
from typing import Any, TextIO

__all__ = ["Progress", "progress_wanted"]

_SPINNER = "|/-\\"


def progress_wanted(stream: TextIO | None = None) -> bool:
    """True when a live display fits: ``stream`` (stderr) is a terminal and not under CI.

    Example:
        >>> import io
        >>> progress_wanted(io.StringIO())
        False
    """
    stream = stream if stream is not None else sys.stderr
    if os.environ.get("CI") or os.environ.get("MODELSEC_NO_PROGRESS"):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def _rich_console(stream: TextIO) -> Any | None:
    try:
        console_mod = importlib.import_module("rich.console")
    except ImportError:
        return None
    return console_mod.Console(file=stream)


class Progress:
    """Counts of a batch of scans, drawn as one refreshing line while enabled.

    Use as an async context manager around the work; call :meth:`update` from
    ``scan_many``'s ``on_progress`` and :meth:`set_total` when more targets join.
    """

    def __init__(
        self,
        total: int,
        *,
        stream: TextIO | None = None,
        enabled: bool | None = None,
        label: str = "scanning",
    ) -> None:
        self.stream: TextIO = stream if stream is not None else sys.stderr
        self.enabled = progress_wanted(self.stream) if enabled is None else enabled
        self.total = total
        self.completed = 0
        self.failed = 0
        self.in_flight = 0
        self.label = label
        self._started = time.monotonic()
        self._task: asyncio.Task[None] | None = None
        self._rich_status: Any | None = None
        self._frame = 0
        self._width = 0

    def set_total(self, total: int) -> None:
        """Change the number of targets."""
        self.total = total

    def update(self, *, completed: int, failed: int, in_flight: int) -> None:
        """New counters (``failed`` counts within ``completed``)."""
        self.completed, self.failed, self.in_flight = completed, failed, in_flight
        self._draw()

    def status(self) -> str:
        """The text of the progress line."""
        parts = [f"{self.label} {self.completed}/{self.total} done"]
        if self.failed:
            parts.append(f"{self.failed} failed")
        if self.in_flight:
            parts.append(f"{self.in_flight} in flight")
        return ", ".join(parts)

    def _draw(self) -> None:
        if not self.enabled:
            return
        elapsed = time.monotonic() - self._started
        text = f"{self.status()} ({elapsed:.1f}s)"
        if self._rich_status is not None:
            self._rich_status.update(text)
            return
        self._frame = (self._frame + 1) % len(_SPINNER)
        line = f"{_SPINNER[self._frame]} {text}"
        pad = max(0, self._width - len(line))
        self._width = len(line)
        self.stream.write("\r" + line + " " * pad)
        self.stream.flush()

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(0.1)
            self._draw()

    async def __aenter__(self) -> Progress:
        self._started = time.monotonic()
        if self.enabled:
            console = _rich_console(self.stream)
            if console is not None:
                self._rich_status = console.status(self.status())
                self._rich_status.__enter__()
            self._draw()
            self._task = asyncio.create_task(self._tick())
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._rich_status is not None:
            self._rich_status.__exit__(None, None, None)
            self._rich_status = None
        elif self.enabled and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()
