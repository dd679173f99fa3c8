"""Scanning named streams: a model's files as they come out of storage, with no copy on disk.

:func:`scan_streams` is :func:`~modelsec.scanner.scan_path` for content that is not in a local
directory (an S3 prefix, an Artifactory folder...): each :class:`NamedStream` opens its file as a
binary stream. Every byte is fetched once: the parsers read what they need and the sha256 is
taken over the bytes as they pass, the rest being read after the parsers finished. A seekable
stream (ranged reads) gives random access to the formats that need it (zip, HDF5); a
forward-only one is spooled to a temporary file when it fits ``spool_max_bytes``, and otherwise
scanned forward-only (what then needs random access fails closed).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import io
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from typing import BinaryIO

import attrs

from modelsec.errors import PayloadError
from modelsec.scanner.api import details_of, scan_content
from modelsec.scanner.limits import DEFAULT_LIMITS, ScanLimits, with_overrides
from modelsec.scanner.report import clip
from modelsec.types.data import FileScanData, ScanDetails

__all__ = ["DEFAULT_SPOOL_MAX_BYTES", "NamedStream", "scan_stream", "scan_streams"]

#: Forward-only streams up to this size are spooled so that zip and HDF5 get random access.
DEFAULT_SPOOL_MAX_BYTES = 4 << 30
_SPOOL_IN_MEMORY = 8 << 20
_CHUNK = 1 << 20


@attrs.frozen
class NamedStream:
    """One file of a model: its path in the model (``/``-separated), its size, and how to open
    it (a binary stream from its start; seekable when the storage serves ranges).

    ``path`` is a local copy of the file when one exists (the repository pass reads the
    configurations and Python files a loader acts on from there).

    Example:
        >>> import io
        >>> s = NamedStream("model.pkl", 4, lambda: io.BytesIO(b"\\x80\\x04N."))
        >>> s.open().read()
        b'\\x80\\x04N.'
    """

    rel: str
    size: int
    open: Callable[[], BinaryIO]
    path: str | None = None


class _Hashing(io.RawIOBase):
    """Hashes the contiguous prefix of what passes through, then the rest on ``finish``."""

    def __init__(self, raw: BinaryIO, size: int, rel: str) -> None:
        super().__init__()
        self._raw = raw
        self._size = size
        self._rel = rel
        self._pos = 0
        self._hashed = 0
        self._hash = hashlib.sha256()
        self._seekable = bool(raw.seekable())
        # A stream that hashes its content itself (a spooled download) spares the work here.
        digest = getattr(raw, "sha256_hexdigest", None)
        self._delegate: Callable[[], str] | None = digest if callable(digest) else None

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return self._seekable

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self._pos = self._raw.seek(offset, whence)
        return self._pos

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(b).cast("B")
        n = self._raw.readinto(view)  # type: ignore[attr-defined]
        if not n:
            return 0
        start = self._pos
        if self._delegate is None and start <= self._hashed < start + n:
            self._hash.update(view[self._hashed - start : n])
            self._hashed = start + n
        self._pos += n
        return int(n)

    def finish(self) -> str:
        """Read what the parsers skipped and return the content's sha256 (hex)."""
        if self._delegate is not None:
            return self._delegate()
        if self._hashed < self._size:
            if self._seekable:
                self._raw.seek(self._hashed)
                # A remote file may read ahead without bound from here (one request).
                hint = getattr(self._raw, "expect_sequential", None)
                if callable(hint):
                    hint()
            elif self._pos != self._hashed:  # pragma: no cover - forward-only never skips back
                raise PayloadError(f"{self._rel}: stream position lost")
            buf = bytearray(_CHUNK)
            view = memoryview(buf)
            while True:
                n = self._raw.readinto(view)  # type: ignore[attr-defined]
                if not n:
                    break
                self._hash.update(view[:n])
                self._hashed += n
                if self._hashed > self._size:
                    break
        if self._hashed != self._size:
            raise PayloadError(
                f"{clip(self._rel, 256)}: {self._hashed} bytes read where the listing said "
                f"{self._size} (the object changed while it was read?)"
            )
        return self._hash.hexdigest()


def scan_stream(
    stream: NamedStream,
    *,
    limits: ScanLimits = DEFAULT_LIMITS,
    spool_max_bytes: int = DEFAULT_SPOOL_MAX_BYTES,
) -> FileScanData:
    """Scan one named stream (see :class:`NamedStream`).

    Example:
        >>> import io
        >>> data = b"cos\\nsystem\\n(S'id'\\ntR."
        >>> r = scan_stream(NamedStream("m.pkl", len(data), lambda: io.BytesIO(data)))
        >>> r.issues_detected[0].threat, r.size_bytes
        ('PAIT-PKL-100', 21)
    """
    raw = stream.open()
    try:
        tee = _Hashing(raw, stream.size, stream.rel)
        if tee.seekable() or stream.size > spool_max_bytes:
            fp = io.BufferedReader(tee, _CHUNK)
            return scan_content(
                stream.rel,
                stream.size,
                tee.finish,
                fp=fp,
                seekable=tee.seekable(),
                limits=limits,
            )
        # Forward-only: spool (in memory while small) so zip and HDF5 get random access.
        with tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY) as spool:
            buf = bytearray(_CHUNK)
            while n := tee.readinto(buf):
                spool.write(memoryview(buf)[:n])
            digest = tee.finish()
            spool.seek(0)
            return scan_content(
                stream.rel,
                stream.size,
                lambda: digest,
                fp=spool,  # type: ignore[arg-type]
                limits=limits,
            )
    finally:
        raw.close()


def scan_streams(
    streams: Sequence[NamedStream],
    *,
    root: str | None = None,
    limits: ScanLimits | None = None,
    max_file_bytes: int | None = None,
    target_python: str | Sequence[str] | None = None,
    spool_max_bytes: int = DEFAULT_SPOOL_MAX_BYTES,
) -> ScanDetails:
    """Scan a model given as named streams and return its ``scan_details``.

    The caller chose the files (patterns, the 1,000-file limit). ``root`` is a local directory
    holding copies of the model's configurations and Python files (each stream's ``path``):
    with it, the repository pass judges which code loaders run (code it cannot read fails
    closed). ``max_file_bytes`` and ``target_python`` are as for
    :func:`~modelsec.scanner.scan_path`.

    Example:
        >>> import io
        >>> details = scan_streams([NamedStream("a.pkl", 4, lambda: io.BytesIO(b"\\x80\\x04N."))])
        >>> details.total_files_scanned, details.files[0].issues_detected
        (1, [])
    """
    started = _dt.datetime.now(_dt.timezone.utc)
    t0 = time.perf_counter()
    lim = with_overrides(limits, max_file_bytes, target_python)
    files = [scan_stream(s, limits=lim, spool_max_bytes=spool_max_bytes) for s in streams]
    if root is not None:
        from modelsec.scanner.repository import analyse_repository
        from modelsec.scanner.walk import Entry

        # Only the copies the caller made are read; a stream without one gets a path that
        # cannot exist (never one built from its name, which could lead out of ``root``).
        missing = os.path.join(root, ".modelsec-no-copy")
        entries = [
            Entry(s.rel, s.path or os.path.join(missing, str(i)), "file")
            for i, s in enumerate(streams)
        ]
        analyse_repository(root, entries, files, lim)
    return details_of(files, started, t0)
