"""What every source shares: the listing, the selection, the reader, the errors, the progress."""

from __future__ import annotations

import abc
import io
import logging
import posixpath
import threading
import time
from collections.abc import Iterator, Sequence

import attrs

from modelsec.errors import PayloadError

__all__ = [
    "MAX_FILES",
    "RemoteFile",
    "Source",
    "SourceError",
    "StorageObject",
    "StorageProgress",
    "select",
]

log = logging.getLogger("modelsec.sources")

#: The API's limit of files per scan.
MAX_FILES = 1000

# The first bytes of each object are kept: parsers go back to the start (a polyglot's second
# pass, zip's look at the head), and small files are then fetched once.
_HEAD_CACHE = 1 << 20
# A read away from the sequential position (a format probing offsets, a zip directory) asks
# for a small window first, doubling while the reads go on sequentially: probes cost little,
# long sequential reads soon become one open-ended request.
_FIRST_WINDOW = 256 << 10
_OPEN_ENDED = 64 << 20


class SourceError(PayloadError):
    """Reading a model from storage failed: credentials, a missing bucket or prefix, an empty
    prefix, a network failure that outlived the retries. One line, no credentials in it.

    Example:
        >>> str(SourceError("s3://b/m: no objects under this prefix"))
        's3://b/m: no objects under this prefix'
    """


@attrs.frozen
class StorageObject:
    """One object of a model: its key in the store, its path in the model and its size."""

    key: str
    rel: str
    size: int
    etag: str | None = None


class Source(abc.ABC):
    """A model in storage: lists its objects and streams each from an offset.

    Implementations raise :class:`SourceError` for what retrying cannot fix and anything else
    for transient failures (the reader retries those).
    """

    #: Whether :meth:`read` honours an offset other than 0 (ranged reads).
    ranged: bool = True
    #: The location as given, redacted (messages, logs).
    display: str = ""

    @abc.abstractmethod
    def objects(self) -> list[StorageObject]:
        """Every object of the model (before the patterns), with its path in the model."""

    @abc.abstractmethod
    def read(self, obj: StorageObject, offset: int, end: int | None = None) -> Iterator[bytes]:
        """The object's bytes from ``offset`` to ``end`` (exclusive; None: its end), in chunks."""

    def close(self) -> None:
        """Release connections."""

    def fail(self, exc: BaseException, what: str) -> SourceError:
        """The one-line error for a failure that outlived the retries."""
        return SourceError(f"{self.display}: {what}: {type(exc).__name__}")


def _matches(rel: str, patterns: Sequence[str]) -> bool:
    from modelsec.scanner.walk import _matches as match  # the scanner's own glob semantics

    return match(rel, patterns)


def select(
    objects: Sequence[StorageObject],
    *,
    allow_patterns: Sequence[str] | None,
    ignore_patterns: Sequence[str] | None,
    max_files: int = MAX_FILES,
    display: str = "",
) -> list[StorageObject]:
    """The objects to scan: patterns applied (as for local paths) before any byte is read,
    sorted by path, at most ``max_files``.

    Example:
        >>> objs = [StorageObject("p/a.bin", "a.bin", 1), StorageObject("p/r.md", "r.md", 1)]
        >>> [o.rel for o in select(objs, allow_patterns=None, ignore_patterns=["*.md"])]
        ['a.bin']
    """
    from modelsec.scanner.walk import TooManyFilesError

    allow = list(allow_patterns or [])
    ignore = list(ignore_patterns or [])
    out = [
        o
        for o in objects
        if (not allow or _matches(o.rel, allow)) and not (ignore and _matches(o.rel, ignore))
    ]
    out.sort(key=lambda o: o.rel)
    if len(out) > max_files:
        raise TooManyFilesError(len(out), max_files)
    if not out:
        why = "no objects under this prefix"
        if objects:
            why = f"none of its {len(objects)} objects match the allow/ignore patterns"
        raise SourceError(f"{display}: {why}")
    return out


def relative(key: str, prefix: str) -> str:
    """An object's path in the model: its key below the prefix (its base name when the prefix
    names the object itself).

    Example:
        >>> relative("team/bert/config.json", "team/bert/"), relative("m/x.pkl", "m/x.pkl")
        ('config.json', 'x.pkl')
    """
    if key == prefix.rstrip("/"):
        return posixpath.basename(key)
    return key[len(prefix) :].lstrip("/") if key.startswith(prefix) else key


class StorageProgress:
    """Counts files and bytes read and logs a progress line (``modelsec.sources``, INFO) at
    most every ``every`` seconds, so that a long read shows it is alive.

    Example:
        >>> p = StorageProgress("s3://b/m", files=2, total_bytes=2048)
        >>> p.add(1024); p.file_done()
        >>> p.line()
        's3://b/m: 1/2 files, 0.0/0.0 MiB'
    """

    def __init__(self, display: str, *, files: int, total_bytes: int, every: float = 5.0) -> None:
        self.display = display
        self.files = files
        self.total_bytes = total_bytes
        self.every = every
        self.files_done = 0
        self.bytes_read = 0
        self._lock = threading.Lock()
        self._last = time.monotonic()

    def add(self, n: int) -> None:
        """Count ``n`` bytes read; log when it is time."""
        with self._lock:
            self.bytes_read += n
            now = time.monotonic()
            due = now - self._last >= self.every
            if due:
                self._last = now
        if due:
            log.info("%s", self.line())

    def file_done(self) -> None:
        """Count a file finished."""
        with self._lock:
            self.files_done += 1

    def line(self) -> str:
        """``<uri>: <done>/<files> files, <read>/<total> MiB``."""
        mib = 1 << 20
        return (
            f"{self.display}: {self.files_done}/{self.files} files, "
            f"{self.bytes_read / mib:.1f}/{self.total_bytes / mib:.1f} MiB"
        )


class RemoteFile(io.RawIOBase):
    """A storage object as a binary file: sequential reads continue one streaming request;
    a seek elsewhere (zip directories, HDF5) opens a ranged one. A transient failure reopens
    the stream where it broke, up to ``retries`` times with backoff.

    Example:
        >>> class Mem(Source):
        ...     display = "mem://m"
        ...     def objects(self): return [StorageObject("m", "m", 5)]
        ...     def read(self, obj, offset, end=None): yield b"hello"[offset:end]
        >>> f = RemoteFile(Mem(), StorageObject("m", "m", 5))
        >>> f.read(2), f.seek(4), f.read(), f.seek(0), f.read()
        (b'he', 4, b'o', 0, b'hello')
    """

    def __init__(
        self,
        source: Source,
        obj: StorageObject,
        progress: StorageProgress | None = None,
        *,
        retries: int = 5,
        backoff: float = 0.5,
        count_file: bool = False,
    ) -> None:
        super().__init__()
        self._count_file = count_file
        self._source = source
        self._obj = obj
        self._size = obj.size
        self._progress = progress
        self._retries = retries
        self._backoff = backoff
        self._pos = 0
        self._it: Iterator[bytes] | None = None
        self._spos = 0  # offset of the next byte the open stream yields
        self._end: int | None = None  # where the open stream stops (None: the object's end)
        self._window = _FIRST_WINDOW
        self._chunk = memoryview(b"")
        self._head = bytearray()

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return self._source.ranged

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_CUR:
            offset += self._pos
        elif whence == io.SEEK_END:
            offset += self._size
        if offset < 0:
            raise OSError("negative seek position")
        if offset != self._pos and not self._source.ranged:
            raise io.UnsupportedOperation("this storage does not serve ranged reads")
        self._pos = offset
        return offset

    def close(self) -> None:
        if not self.closed and self._count_file and self._progress is not None:
            self._progress.file_done()
        self._drop()
        super().close()

    def _drop(self) -> None:
        it, self._it = self._it, None
        self._chunk = memoryview(b"")
        close = getattr(it, "close", None)
        if close is not None:
            try:
                close()
            except Exception:  # closing a half-read stream is best effort
                pass

    def _next(self) -> bool:
        """Load the next chunk of the open stream (reopening after a failure)."""
        failures = 0
        while True:
            try:
                if self._it is None:
                    self._it = iter(self._source.read(self._obj, self._spos, self._end))
                data = next(self._it, None)
            except PayloadError:
                raise
            except Exception as exc:
                failures += 1
                self._drop()
                if failures > self._retries:
                    raise self._source.fail(exc, f"reading {self._obj.rel!r} failed") from None
                log.info(
                    "%s: reading %r failed (%s); retrying",
                    self._source.display,
                    self._obj.rel,
                    type(exc).__name__,
                )
                time.sleep(min(8.0, self._backoff * 2 ** (failures - 1)))
                continue
            if data is None:
                if self._end is None or self._spos >= min(self._end, self._size):
                    if self._end is not None and self._spos < self._size:
                        self._next_window()  # the window is used up; reading goes on
                        continue
                    return False
                # A window that ended early: ask again from where it stopped.
                self._drop()
                continue
            if not data:
                continue
            self._chunk = memoryview(data).cast("B")
            return True

    def chunks(self) -> Iterator[memoryview]:
        """The whole object front to back, as the storage delivers it (no copy); retries as
        :meth:`readinto` does. For a reader that wants every byte once."""
        self.seek(0)
        self.expect_sequential()
        while self._spos < self._size:
            if not self._chunk and not self._next():
                return
            chunk, self._chunk = self._chunk, memoryview(b"")
            self._spos += len(chunk)
            self._pos = self._spos
            if self._progress is not None:
                self._progress.add(len(chunk))
            yield chunk

    def expect_sequential(self) -> None:
        """The reads from the current position on go to the end: one open-ended request."""
        if self._spos != self._pos or self._end is not None:
            self._drop()
            self._spos = self._pos
        self._end = None

    def _next_window(self) -> None:
        self._drop()
        self._window *= 2
        self._end = None if self._window >= _OPEN_ENDED else self._spos + self._window

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(b).cast("B")
        if self._pos >= self._size or not len(view):
            return 0
        if self._pos < len(self._head):
            n = min(len(view), len(self._head) - self._pos)
            view[:n] = self._head[self._pos : self._pos + n]
            self._pos += n
            return n
        if self._spos != self._pos:
            # Elsewhere: a ranged request from here. (Reading through a gap instead would fetch
            # bytes the hashing layer above reads again afterwards.)
            self._drop()
            self._spos = self._pos
            self._window = _FIRST_WINDOW
            self._end = None if self._pos == 0 else min(self._size, self._pos + _FIRST_WINDOW)
        if not self._chunk and not self._next():
            return 0
        n = min(len(view), len(self._chunk))
        view[:n] = self._chunk[:n]
        if self._spos == len(self._head) < _HEAD_CACHE:
            self._head += self._chunk[: min(n, _HEAD_CACHE - self._spos)]
        self._chunk = self._chunk[n:]
        self._spos += n
        self._pos += n
        if self._progress is not None:
            self._progress.add(n)
        return n
