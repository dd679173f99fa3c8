"""Forward-only byte streams with a peekable head, and bounded decompressing readers.

Every parser reads through :class:`ByteSource`, so the same code scans a file on disk, a zip
member or the inside of a ``.gz`` without ever extracting anything to disk. Decompression is
incremental with an output cap per call, and every produced byte is charged to the file's
budget, which is how bombs are stopped after a bounded amount of work.
"""

from __future__ import annotations

import bz2
import lzma
import zlib
from collections.abc import Callable
from typing import BinaryIO, Protocol

from modelsec.scanner.report import FileContext, ScanAbort

__all__ = ["ByteSource", "Decompressor", "TruncatedError", "decompressing_source"]

_CHUNK = 1 << 20


class TruncatedError(Exception):
    """The stream ended before a structure it announced."""


class ByteSource:
    """A forward-only reader with ``peek``; ``skip`` seeks when the underlying file can.

    Example:
        >>> import io
        >>> src = ByteSource.from_file(io.BytesIO(b"hello world"))
        >>> src.peek(5), src.read(6), src.read(5), src.pos
        (b'hello', b'hello ', b'world', 11)
    """

    __slots__ = ("_buf", "_off", "_read", "_seek", "pos", "size")

    def __init__(
        self,
        read: Callable[[int], bytes],
        *,
        size: int | None = None,
        seek: Callable[[int], object] | None = None,
    ) -> None:
        self._read = read
        self._buf = b""
        self._off = 0
        #: Bytes consumed so far (the offset of the next byte returned).
        self.pos = 0
        #: Total length when known (files, stored members), else ``None``.
        self.size = size
        #: Absolute repositioning (offsets relative to the start of this source), if possible.
        self._seek = seek

    @classmethod
    def from_file(cls, fp: BinaryIO, size: int | None = None) -> ByteSource:
        """Wrap a binary file object positioned at its start."""
        seekable = False
        try:
            seekable = fp.seekable()
        except (AttributeError, OSError):
            pass
        return cls(fp.read, size=size, seek=fp.seek if seekable else None)

    @classmethod
    def from_bytes(cls, data: bytes) -> ByteSource:
        """Wrap bytes already in memory."""
        src = cls(lambda n: b"", size=len(data))
        src._buf = data
        return src

    def peek(self, n: int) -> bytes:
        """Up to ``n`` next bytes without consuming them (fewer only at end of stream)."""
        have = len(self._buf) - self._off
        while have < n:
            chunk = self._read(max(n - have, 65536))
            if not chunk:
                break
            self._buf = self._buf[self._off :] + chunk
            self._off = 0
            have = len(self._buf)
        return self._buf[self._off : self._off + n]

    def read(self, n: int) -> bytes:
        """Up to ``n`` bytes (fewer only at end of stream)."""
        have = len(self._buf) - self._off
        if have >= n:
            out = self._buf[self._off : self._off + n]
            self._off += n
        else:
            parts = [self._buf[self._off :]]
            self._buf, self._off = b"", 0
            need = n - have
            while need > 0:
                chunk = self._read(need)
                if not chunk:
                    break
                parts.append(chunk)
                need -= len(chunk)
            out = b"".join(parts)
        self.pos += len(out)
        return out

    def read_exact(self, n: int) -> bytes:
        """Exactly ``n`` bytes or :class:`TruncatedError`."""
        out = self.read(n)
        if len(out) != n:
            raise TruncatedError(f"expected {n} bytes at offset {self.pos - len(out)}")
        return out

    def read_chunk(self) -> bytes:
        """The next buffered chunk (at most ~1 MiB), ``b''`` at end; for streaming parsers."""
        if self._off < len(self._buf):
            out = self._buf[self._off :]
            self._buf, self._off = b"", 0
        else:
            out = self._read(_CHUNK)
        self.pos += len(out)
        return out

    def skip(self, n: int) -> int:
        """Discard ``n`` bytes without keeping them; returns how many were skipped."""
        have = len(self._buf) - self._off
        if n <= have:
            self._off += n
            self.pos += n
            return n
        self._buf, self._off = b"", 0
        done = have
        rest = n - have
        if self._seek is not None and self.size is not None:
            # A real file: seek instead of reading what we do not need.
            target = min(self.pos + n, self.size)
            self._seek(target)
            done = target - self.pos
            self.pos = target
            return done
        while rest > 0:
            chunk = self._read(min(rest, _CHUNK))
            if not chunk:
                break
            rest -= len(chunk)
            done += len(chunk)
        self.pos += done
        return done

    def remaining(self) -> int | None:
        """Bytes left when the size is known."""
        return None if self.size is None else max(0, self.size - self.pos)


class Decompressor(Protocol):
    """The part of zlib/bz2/lzma decompressor objects we use."""

    @property
    def eof(self) -> bool: ...

    @property
    def unused_data(self) -> bytes: ...


def _make(kind: str) -> Callable[[], object]:
    if kind == "gzip":
        return lambda: zlib.decompressobj(16 + zlib.MAX_WBITS)
    if kind == "zlib":
        return lambda: zlib.decompressobj()
    if kind == "deflate":
        return lambda: zlib.decompressobj(-zlib.MAX_WBITS)
    if kind == "bzip2":
        return bz2.BZ2Decompressor
    if kind in ("xz", "lzma"):
        return lambda: lzma.LZMADecompressor(lzma.FORMAT_AUTO)
    raise ValueError(kind)


class _DecompressReader:
    """``read(n)`` over a compressed source, capped and charged to the file budget."""

    def __init__(
        self,
        src: ByteSource,
        kind: str,
        ctx: FileContext,
        label: str,
        compressed_limit: int | None,
    ) -> None:
        self.src = src
        self.kind = kind
        self.factory = _make(kind)
        self.dec: object = self.factory()
        self.ctx = ctx
        self.label = label
        self.pending = b""
        self.consumed = 0
        self.produced = 0
        self.compressed_limit = compressed_limit
        self.done = False

    def _feed(self) -> bytes:
        if self.compressed_limit is not None:
            want = min(65536, self.compressed_limit - self.consumed)
            data = self.src.read(want) if want > 0 else b""
        else:
            data = self.src.read(65536)
        self.consumed += len(data)
        return data

    def read(self, n: int) -> bytes:
        out: list[bytes] = []
        got = 0
        n = max(n, 1)
        while got < n and not self.done:
            dec = self.dec
            if self.kind in ("gzip", "zlib", "deflate"):
                data = self.pending or self._feed()
                self.pending = b""
                assert isinstance(dec, type(zlib.decompressobj()))
                if not data and not dec.unconsumed_tail:
                    chunk = dec.flush()
                    self.done = True
                else:
                    chunk = dec.decompress(dec.unconsumed_tail + data, n - got)
                if dec.eof:
                    rest = dec.unused_data
                    if self.kind == "gzip" and rest.strip(b"\x00"):
                        # Multi-member gzip: a new member starts after the old one.
                        self.dec = self.factory()
                        self.pending = rest
                    else:
                        self.done = True
            else:
                assert isinstance(dec, (bz2.BZ2Decompressor, lzma.LZMADecompressor))
                if dec.needs_input:
                    data = self.pending or self._feed()
                    self.pending = b""
                    if not data:
                        self.done = True
                        break
                else:
                    data = b""
                chunk = dec.decompress(data, n - got)
                if dec.eof:
                    rest = dec.unused_data
                    if rest.strip(b"\x00"):
                        self.dec = self.factory()
                        self.pending = rest
                    else:
                        self.done = True
            if chunk:
                out.append(chunk)
                got += len(chunk)
                self._charge(len(chunk))
        return b"".join(out)

    def _charge(self, n: int) -> None:
        self.produced += n
        self.ctx.uncompressed_bytes += n
        lim = self.ctx.limits
        if self.ctx.uncompressed_bytes > lim.max_total_uncompressed_bytes:
            raise ScanAbort(
                f"decompression bomb: {self.label} expands beyond "
                f"{lim.max_total_uncompressed_bytes} bytes; scan stopped"
            )
        if (
            self.produced > lim.ratio_floor_bytes
            and self.produced > lim.max_compression_ratio * max(self.consumed, 1)
        ):
            raise ScanAbort(
                f"decompression bomb: {self.label} expands more than "
                f"{lim.max_compression_ratio:g}x ({self.consumed} -> {self.produced}+ bytes)"
            )


def decompressing_source(
    src: ByteSource,
    kind: str,
    ctx: FileContext,
    label: str,
    *,
    compressed_size: int | None = None,
    size: int | None = None,
) -> ByteSource:
    """A :class:`ByteSource` of the decompressed content of ``src``.

    ``kind`` is ``gzip``, ``zlib``, ``deflate`` (raw), ``bzip2``, ``xz`` or ``lzma``.
    Decompression errors surface as ``zlib.error``/``OSError``/``lzma.LZMAError`` from reads.

    Example:
        >>> import gzip
        >>> from modelsec.scanner.limits import ScanLimits
        >>> ctx = FileContext("x.gz", ScanLimits())
        >>> inner = decompressing_source(ByteSource.from_bytes(gzip.compress(b"hi")), "gzip",
        ...     ctx, "x.gz")
        >>> inner.read(10)
        b'hi'
    """
    reader = _DecompressReader(src, kind, ctx, label, compressed_size)
    return ByteSource(reader.read, size=size)
