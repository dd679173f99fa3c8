"""One sequential download per object, spooled to a temporary file while the scanner reads it.

The scanner looks at a file's end (zip directories), at offsets where HDF5 may start, and
goes back to its start (a polyglot's second pass): random access. Served by ranged requests,
each look is a request, and some servers pay for the whole object on every ranged GET. So an
object up to the spool cap is fetched once, front to back, by a background thread that
appends it to an unnamed temporary file while a second thread hashes it; reads wait until the
bytes they need have arrived and are then served locally. Memory stays bounded (a few chunks);
the temporary file is gone as soon as the object is scanned.
"""

from __future__ import annotations

import hashlib
import io
import os
import queue
import tempfile
import threading

from modelsec.sources.base import RemoteFile, Source, StorageObject, StorageProgress

__all__ = ["SpoolFile"]

#: Chunks downloaded but not hashed yet (each about 1 MiB): the bound on the memory in flight.
_QUEUED_CHUNKS = 8


class SpoolFile(io.RawIOBase):
    """A storage object as a seekable binary file, filled by one background download.

    Example:
        >>> class Mem(Source):
        ...     display = "mem://m"
        ...     def objects(self): return [StorageObject("m", "m", 5)]
        ...     def read(self, obj, offset, end=None): yield b"hello"[offset:end]
        >>> f = SpoolFile(Mem(), StorageObject("m", "m", 5))
        >>> f.seek(3), f.read(), f.seek(0), f.read(2), f.sha256_hexdigest()[:8]
        (3, b'lo', 0, b'he', '2cf24dba')
        >>> f.close()
    """

    def __init__(
        self,
        source: Source,
        obj: StorageObject,
        progress: StorageProgress | None = None,
        *,
        directory: str | None = None,
    ) -> None:
        super().__init__()
        self._obj = obj
        self._size = obj.size
        self._file = tempfile.TemporaryFile(dir=directory)  # noqa: SIM115 - closed by close()
        self._fd = self._file.fileno()
        self._cond = threading.Condition()
        self._have = 0
        self._done = False
        self._stop = False
        self._error: BaseException | None = None
        self._hash = hashlib.sha256()
        self._chunks: queue.Queue[memoryview | bytes | None] = queue.Queue(_QUEUED_CHUNKS)
        self._pos = 0
        self._progress = progress
        self._remote = RemoteFile(source, obj, progress)
        self._hasher = threading.Thread(
            target=self._hash_chunks, name="modelsec-spool-hash", daemon=True
        )
        self._thread = threading.Thread(target=self._fill, name="modelsec-spool", daemon=True)
        self._hasher.start()
        try:
            self._thread.start()
        except BaseException:
            self._chunks.put(None)
            self._hasher.join()
            self._file.close()
            raise

    def _fill(self) -> None:
        # Two stages overlap on two cores: this thread downloads and writes, the hasher hashes
        # the same chunks behind it (sha256 and pwrite release the GIL on large buffers). The
        # queue between them is bounded: a few chunks in memory, and a slow hash holds the
        # download back instead of buffering it.
        try:
            for chunk in self._remote.chunks():
                if self._stop:
                    break
                self._chunks.put(chunk)  # a chunk is an immutable buffer: shared, not copied
                written = 0
                while written < len(chunk):
                    written += os.pwrite(self._fd, chunk[written:], self._have + written)
                with self._cond:
                    self._have += len(chunk)
                    self._cond.notify_all()
        except BaseException as exc:  # handed to the reader, raised there
            with self._cond:
                self._error = exc
        finally:
            self._chunks.put(None)
            self._hasher.join()  # every chunk hashed, in order, before the digest is read
            self._remote.close()
            with self._cond:
                self._done = True
                self._cond.notify_all()

    def _hash_chunks(self) -> None:
        failed = False
        while (chunk := self._chunks.get()) is not None:
            if failed or self._stop:
                continue  # drained to the end, so that the filling thread never blocks on put
            try:
                self._hash.update(chunk)
            except BaseException as exc:  # handed to the reader like a fill error
                failed = True
                with self._cond:
                    self._stop = True
                    if self._error is None:
                        self._error = exc

    def _wait(self, upto: int) -> int:
        with self._cond:
            while self._have < upto and not self._done:
                self._cond.wait()
            if self._error is not None:
                raise self._error
            return self._have

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_CUR:
            offset += self._pos
        elif whence == io.SEEK_END:
            offset += self._size
        if offset < 0:
            raise OSError("negative seek position")
        self._pos = offset
        return offset

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(b).cast("B")
        want = min(len(view), max(0, self._size - self._pos))
        if want <= 0:
            return 0
        have = self._wait(self._pos + want)
        want = min(want, max(0, have - self._pos))
        if want <= 0:
            return 0
        n = os.preadv(self._fd, [view[:want]], self._pos)
        self._pos += n
        return n

    def sha256_hexdigest(self) -> str:
        """The object's sha256 once it has all arrived (the scanner hashes nothing itself)."""
        have = self._wait(self._size + 1)
        if have != self._size:
            from modelsec.errors import PayloadError

            raise PayloadError(
                f"{self._obj.rel}: {have} bytes read where the listing said {self._size} "
                "(the object changed while it was read?)"
            )
        return self._hash.hexdigest()

    def close(self) -> None:
        if not self.closed:
            if self._progress is not None:
                self._progress.file_done()
            with self._cond:
                self._stop = True
                self._cond.notify_all()
            self._thread.join()
            self._file.close()
        super().close()
