"""Ctrl-C during ``modelsec scan``: stop promptly, keep what finished, exit 130.

The first SIGINT sets a :class:`threading.Event` that the scanner checks in its read loops
(local scans run in worker threads, which nothing else can stop) and cancels the watched task
(polls of the service); the command then reports the verdicts that finished and exits 130.
A second SIGINT exits at once (``os._exit``: no wait for threads, no traceback).

Example:
    >>> import asyncio
    >>> async def main():
    ...     with Interrupt() as intr:
    ...         return intr.interrupted, intr.event.is_set()
    >>> asyncio.run(main())
    (False, False)
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import threading
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, TextIO

__all__ = ["EXIT_INTERRUPTED", "Interrupt", "run_until_interrupted"]

#: The shell's convention for a process ended by SIGINT (128 + 2).
EXIT_INTERRUPTED = 130


class Interrupt:
    """SIGINT handling for the running event loop, as a context manager (main thread only)."""

    def __init__(self, *, stream: TextIO | None = None) -> None:
        self.stream: TextIO = stream if stream is not None else sys.stderr
        #: Set on the first Ctrl-C; give it to the scanner (``cancel=`` or ``cancel_on``).
        self.event = threading.Event()
        self.count = 0
        self._tasks: list[asyncio.Future[Any]] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def interrupted(self) -> bool:
        """Whether Ctrl-C was pressed."""
        return self.count > 0

    def watch(self, task: asyncio.Future[Any]) -> None:
        """Cancel ``task`` on the first Ctrl-C."""
        self._tasks.append(task)

    def _say(self, text: str) -> None:
        try:
            tty = bool(getattr(self.stream, "isatty", None) and self.stream.isatty())
            # On a terminal the progress line is in the way: start a fresh line.
            self.stream.write(("\r\n" if tty else "") + text + "\n")
            self.stream.flush()
        except (OSError, ValueError):
            pass

    def on_sigint(self) -> None:
        """What a SIGINT does (public so tests can call it without a signal)."""
        self.count += 1
        if self.count > 1:
            self._hard_exit(signal.SIGINT, None)
        self.event.set()
        self._say("modelsec: interrupted: stopping the scans (Ctrl-C again to quit at once)")
        for task in self._tasks:
            task.cancel()

    def __enter__(self) -> Interrupt:
        loop = asyncio.get_running_loop()
        try:
            loop.add_signal_handler(signal.SIGINT, self.on_sigint)
        except (NotImplementedError, RuntimeError, ValueError):
            return self  # not the main thread, or no signals here: KeyboardInterrupt as before
        self._loop = loop
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._loop is not None:
            self._loop.remove_signal_handler(signal.SIGINT)
            self._loop = None
            if self.interrupted:
                # The report is being written: another Ctrl-C still means "quit now", not a
                # KeyboardInterrupt somewhere in the interpreter's shutdown.
                signal.signal(signal.SIGINT, self._hard_exit)

    def _hard_exit(self, signum: int, frame: object) -> None:
        self._say("modelsec: interrupted again: exiting now")
        os._exit(EXIT_INTERRUPTED)


async def run_until_interrupted(
    start: Callable[[threading.Event], Awaitable[None]], *, scanner: bool = True
) -> bool:
    """Run ``start(event)`` as a task under :class:`Interrupt`; True when Ctrl-C stopped it.

    ``event`` is set on the first Ctrl-C; with ``scanner`` it is also the cancellation event of
    every scan started inside (:func:`modelsec.scanner.cancel_on`: threads of the SDK's
    ``scan_many`` see it too). A task stopped by Ctrl-C ends quietly; any other error is raised.

    Example:
        >>> async def work(event):
        ...     return None
        >>> asyncio.run(run_until_interrupted(work, scanner=False))
        False
    """
    stopped: tuple[type[BaseException], ...] = (asyncio.CancelledError,)
    with contextlib.ExitStack() as stack:
        intr = stack.enter_context(Interrupt())
        if scanner:
            # Imported only when local files are scanned: the scanner is not light.
            from modelsec.scanner import ScanCancelled, cancel_on

            stack.enter_context(cancel_on(intr.event))
            stopped = (asyncio.CancelledError, ScanCancelled)
        work = asyncio.ensure_future(start(intr.event))
        intr.watch(work)
        try:
            await work
        except stopped:
            if not intr.interrupted:
                raise
    return intr.interrupted
