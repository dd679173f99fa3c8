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
import os
import signal
import sys
import threading
from types import TracebackType
from typing import Any, TextIO

__all__ = ["EXIT_INTERRUPTED", "Interrupt"]

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
