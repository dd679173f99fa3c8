"""Cooperative cancellation of a scan: a :class:`threading.Event` checked in the read loops.

A scan runs in a worker thread, which nobody can interrupt from outside; a caller that wants it
to stop (``modelsec scan`` on Ctrl-C) sets an event, and the scanner raises
:class:`ScanCancelled` at its next read (every block read from a file, every file of a
directory). The event is passed to :func:`~modelsec.scanner.scan_path` as ``cancel=`` or set
for a whole context with :func:`cancel_on`: scans started in that context, also in threads
started by ``anyio.to_thread`` (which copy the context), see it.

Example:
    >>> import threading, tempfile
    >>> from modelsec.scanner import scan_path
    >>> stop = threading.Event(); stop.set()
    >>> scan_path(tempfile.mkdtemp(), cancel=stop)
    Traceback (most recent call last):
    ...
    modelsec.scanner.cancel.ScanCancelled: scan cancelled
"""

from __future__ import annotations

import contextlib
import contextvars
import io
import os
import threading
from collections.abc import Iterator
from typing import Any, BinaryIO

__all__ = ["ScanCancelled", "cancel_on", "check", "current", "open_binary"]

_CURRENT: contextvars.ContextVar[threading.Event | None] = contextvars.ContextVar(
    "modelsec_scan_cancel", default=None
)


class ScanCancelled(BaseException):
    """The scan was cancelled; nothing is reported for the file it was reading.

    A ``BaseException`` (like ``asyncio.CancelledError``) so that no parser's
    ``except Exception`` turns it into a finding and scanning goes on.
    """


@contextlib.contextmanager
def cancel_on(event: threading.Event) -> Iterator[threading.Event]:
    """Scans started inside this block (and in threads it starts) stop once ``event`` is set.

    Example:
        >>> stop = threading.Event()
        >>> with cancel_on(stop):
        ...     current() is stop
        True
        >>> current() is None
        True
    """
    token = _CURRENT.set(event)
    try:
        yield event
    finally:
        _CURRENT.reset(token)


def current() -> threading.Event | None:
    """The event of the innermost :func:`cancel_on` block, if any."""
    return _CURRENT.get()


def check(event: threading.Event | None) -> None:
    """Raise :class:`ScanCancelled` when ``event`` is set.

    Example:
        >>> check(None); check(threading.Event())
    """
    if event is not None and event.is_set():
        raise ScanCancelled("scan cancelled")


class _CancellableFileIO(io.FileIO):
    """A raw file whose every read first checks the event (buffered reads all come here)."""

    def __init__(self, path: str | os.PathLike[str], event: threading.Event) -> None:
        super().__init__(path, "rb")
        self._cancel = event

    def readinto(self, buffer: Any, /) -> int:
        check(self._cancel)
        return super().readinto(buffer)

    def read(self, size: int | None = -1, /) -> bytes:
        check(self._cancel)
        return super().read(size)

    def readall(self) -> bytes:
        check(self._cancel)
        return super().readall()


def open_binary(path: str | os.PathLike[str], event: threading.Event | None) -> BinaryIO:
    """``open(path, "rb")``, whose reads raise :class:`ScanCancelled` once ``event`` is set.

    Example:
        >>> import tempfile
        >>> with tempfile.NamedTemporaryFile() as tmp, open_binary(tmp.name, None) as fp:
        ...     fp.read()
        b''
    """
    if event is None:
        return open(path, "rb")  # the caller closes it
    return io.BufferedReader(_CancellableFileIO(path, event))
