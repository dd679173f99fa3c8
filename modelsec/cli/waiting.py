"""A "still waiting" line on a terminal for any command that waits more than a second.

Token fetches, requests and waits (``groups create --wait``, the group lookup before a scan)
can take a while on a slow or silent network; a person at a terminal should see that the
command is alive and what it is waiting for. Nothing is drawn before ``delay`` seconds,
nothing at all when stderr is not a terminal (or under ``CI``, ``MODELSEC_NO_PROGRESS``,
``--quiet``), and the first thing the command writes (its output, a note, the scan progress
display) ends the line and erases it, so the output is the same with or without it.

It runs on a thread of its own, so it covers a whole command whatever event loops the
command runs.

Example:
    >>> import io
    >>> with Waiting("api.example.com", stream=io.StringIO(), enabled=False) as w:
    ...     w.text(2.5)
    'waiting for api.example.com (2.5s)'
"""

from __future__ import annotations

import sys
import threading
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
    """A context manager drawing ``waiting for WHAT (N.Ns)`` after ``delay`` seconds."""

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
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._halted = False
        self._width = 0
        self._started = time.monotonic()
        self._thread: threading.Thread | None = None
        self._saved: tuple[TextIO, TextIO] | None = None

    def text(self, elapsed: float) -> str:
        """The line's text after ``elapsed`` seconds."""
        return f"waiting for {self.what} ({elapsed:.1f}s)"

    def halt(self) -> None:
        """Stop drawing for good and erase the line (from any thread)."""
        with self._lock:
            self._halted = True
            self._stop.set()
            if self._width:
                self.stream.write("\r" + " " * self._width + "\r")
                self.stream.flush()
                self._width = 0

    def _run(self) -> None:
        if self._stop.wait(self.delay):
            return
        frame = 0
        while True:
            with self._lock:
                if self._halted:
                    return
                elapsed = time.monotonic() - self._started
                line = f"{_SPINNER[frame % len(_SPINNER)]} {self.text(elapsed)}"
                pad = max(0, self._width - len(line))
                self._width = len(line)
                self.stream.write("\r" + line + " " * pad)
                self.stream.flush()
            frame += 1
            if self._stop.wait(self.interval):
                return

    def __enter__(self) -> Waiting:
        self._started = time.monotonic()
        if self.enabled:
            # The command's own output must not land on the waiting line nor be erased with
            # it: the first write to stdout or stderr, from any thread, ends the line.
            self._saved = (sys.stdout, sys.stderr)
            sys.stdout = _HaltOnWrite(sys.stdout, self)
            sys.stderr = _HaltOnWrite(sys.stderr, self)
            self._thread = threading.Thread(target=self._run, name="modelsec-waiting", daemon=True)
            self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._saved is not None:
            sys.stdout, sys.stderr = self._saved
            self._saved = None
        self.halt()  # so what follows (an error message) starts on a clean line
        if self._thread is not None:
            self._thread.join()
            self._thread = None


class _HaltOnWrite:
    """A stream that ends the waiting line before a write goes through."""

    def __init__(self, stream: TextIO, waiting: Waiting) -> None:
        self._stream = stream
        self._waiting = waiting

    def write(self, text: str) -> int:
        if text:
            self._waiting.halt()
        return self._stream.write(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)
