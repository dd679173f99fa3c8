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
from typing import BinaryIO, Protocol, runtime_checkable

from modelsec.scanner.report import FileContext, ScanAbort

__all__ = [
    "ByteSource",
    "Decompressor",
    "MissingExtraError",
    "Rewinder",
    "TruncatedError",
    "decompressing_source",
]

_CHUNK = 1 << 20


class Meter(Protocol):
    """Byte counters of a decompressing reader."""

    consumed: int
    produced: int


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

    __slots__ = ("_buf", "_off", "_read", "_reopen", "_seek", "meter", "pos", "size")

    def __init__(
        self,
        read: Callable[[int], bytes],
        *,
        size: int | None = None,
        seek: Callable[[int], object] | None = None,
        reopen: Callable[[], ByteSource] | None = None,
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
        #: A fresh source of the same content from its start (scanning a polyglot twice).
        self._reopen = reopen
        #: For decompressed content: the reader, whose ``consumed``/``produced`` counters let
        #: containers check the expansion of each member and header (not only totals).
        self.meter: Meter | None = None

    @classmethod
    def from_file(cls, fp: BinaryIO, size: int | None = None) -> ByteSource:
        """Wrap a binary file object positioned at its start."""
        seekable = False
        try:
            seekable = fp.seekable()
        except (AttributeError, OSError):
            pass
        if not seekable:
            return cls(fp.read, size=size)

        def reopen() -> ByteSource:
            fp.seek(0)
            return cls.from_file(fp, size)

        return cls(fp.read, size=size, seek=fp.seek, reopen=reopen)

    @classmethod
    def from_bytes(cls, data: bytes) -> ByteSource:
        """Wrap bytes already in memory."""
        src = cls(lambda n: b"", size=len(data), reopen=lambda: cls.from_bytes(data))
        src._buf = data
        return src

    def reopen(self) -> ByteSource | None:
        """A new source over the same content from its start, or ``None`` when impossible.

        Possible for files, bytes, zip members and what decompresses from those; not for a
        stream (a tar member inside a ``.gz``): see :class:`Rewinder`. This source must not be
        read any more once reopened (they may share a file position).

        Example:
            >>> src = ByteSource.from_bytes(b"abc")
            >>> src.read(3), src.reopen().read(3)
            (b'abc', b'abc')
        """
        if self._reopen is not None:
            return self._reopen()
        if self._seek is not None:
            self._seek(0)
            return ByteSource(self._read, size=self.size, seek=self._seek)
        return None

    @property
    def can_reopen(self) -> bool:
        """Whether :meth:`reopen` works."""
        return self._reopen is not None or self._seek is not None

    def seek_to(self, pos: int) -> bool:
        """Reposition to ``pos`` (from the start) when the source can seek; False otherwise."""
        if self._seek is None:
            return False
        self._seek(pos)
        self._buf, self._off = b"", 0
        self.pos = pos
        return True

    def slice(self, length: int) -> ByteSource:
        """A source of the next ``length`` bytes (a tar member's data), reading through this one.

        The slice can reopen and seek when this source can seek. The caller moves this source
        past the slice afterwards (:meth:`seek_to` or :meth:`skip`), whatever the slice read.

        Example:
            >>> src = ByteSource.from_bytes(b"headbodytail")
            >>> _ = src.skip(4); body = src.slice(4)
            >>> body.read(100), body.size
            (b'body', 4)
        """
        start = self.pos
        end = start + length
        parent = self

        def read(n: int) -> bytes:
            return parent.read(min(n, end - parent.pos)) if parent.pos < end else b""

        if self._seek is None:
            return ByteSource(read, size=length)

        def seek(p: int) -> None:
            parent.seek_to(start + max(0, min(p, length)))

        def reopen() -> ByteSource:
            parent.seek_to(start)
            return ByteSource(read, size=length, seek=seek, reopen=reopen)

        return ByteSource(read, size=length, seek=seek, reopen=reopen)

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


class Rewinder:
    """Hands out sources over the same content, once per format a polyglot is scanned as.

    A reopenable source is simply reopened. A stream (a tar member inside a ``.gz``) is teed:
    the bytes the passes read are kept up to ``cap``, so a later pass replays them and then
    continues from the stream. Past ``cap`` no further pass is possible (:meth:`next` returns
    ``None``; the caller fails closed), so memory stays bounded by ``cap``.

    Example:
        >>> import io
        >>> stream = ByteSource(io.BytesIO(b"0123456789").read)
        >>> rw = Rewinder(stream, cap=100)
        >>> first = rw.next(); first.read(3)
        b'012'
        >>> rw.next().read(20)
        b'0123456789'
    """

    def __init__(self, src: ByteSource, cap: int) -> None:
        self.src = src
        self.cap = cap
        self._rec = bytearray()
        self._lost = False
        self._recording = True
        self._passes = 0

    def _reader(self) -> Callable[[int], bytes]:
        off = 0

        def read(n: int) -> bytes:
            nonlocal off
            if off < len(self._rec):
                out = bytes(self._rec[off : off + n])
            else:
                out = self.src.read(n)
                if self._recording and not self._lost:
                    if len(self._rec) + len(out) > self.cap:
                        self._lost = True
                        self._rec = bytearray()
                    else:
                        self._rec += out
            off += len(out)
            return out

        return read

    def next(self, *, last: bool = False) -> ByteSource | None:
        """A source from the start of the content, or ``None`` when it can no longer be had.

        ``last``: no pass follows, so nothing more is recorded (a single pass costs nothing).
        """
        self._passes += 1
        if self.src.can_reopen:
            return self.src if self._passes == 1 else self.src.reopen()
        if self._lost:
            return None
        if last:
            self._recording = False
            if self._passes == 1:
                return self.src
        return ByteSource(self._reader(), size=self.src.size)


class MissingExtraError(Exception):
    """Content needs an optional dependency that is not installed (the scan fails closed)."""


@runtime_checkable
class _Streaming(Protocol):
    """bz2/lzma/lz4 decompressor objects: ``decompress(data, max_length)`` with input flags."""

    @property
    def needs_input(self) -> bool: ...

    @property
    def eof(self) -> bool: ...

    @property
    def unused_data(self) -> bytes: ...

    def decompress(self, data: bytes, max_length: int = -1) -> bytes: ...


class Decompressor(Protocol):
    """The part of zlib/bz2/lzma decompressor objects we use."""

    @property
    def eof(self) -> bool: ...

    @property
    def unused_data(self) -> bytes: ...


class _ZipLzma:
    """zip method 14: a 4-byte header, the LZMA properties, then a raw LZMA1 stream."""

    def __init__(self) -> None:
        self._head = b""
        self._dec: lzma.LZMADecompressor | None = None

    @property
    def needs_input(self) -> bool:
        return self._dec is None or self._dec.needs_input

    @property
    def eof(self) -> bool:
        return self._dec is not None and self._dec.eof

    @property
    def unused_data(self) -> bytes:
        return b"" if self._dec is None else self._dec.unused_data

    def decompress(self, data: bytes, max_length: int = -1) -> bytes:
        if self._dec is None:
            self._head += data
            if len(self._head) < 4:
                return b""
            psize = int.from_bytes(self._head[2:4], "little")
            if psize != 5:
                raise lzma.LZMAError(f"zip LZMA properties of {psize} bytes (expected 5)")
            if len(self._head) < 4 + psize:
                return b""
            props = self._head[4:9]
            b = props[0]
            if b >= 225:
                raise lzma.LZMAError("invalid LZMA properties")
            filt = {
                "id": lzma.FILTER_LZMA1,
                "lc": b % 9,
                "lp": (b // 9) % 5,
                "pb": b // 45,
                "dict_size": int.from_bytes(props[1:5], "little"),
            }
            self._dec = lzma.LZMADecompressor(lzma.FORMAT_RAW, filters=[filt])
            data, self._head = self._head[9:], b""
        return self._dec.decompress(data, max_length)


def _lz4_decompressor() -> object:
    try:
        import lz4.frame  # type: ignore[import-untyped,import-not-found,unused-ignore]
    except ImportError:
        raise MissingExtraError(
            "lz4 content needs the optional extra: pip install 'modelsec[lz4]'"
        ) from None
    return lz4.frame.LZ4FrameDecompressor()


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
    if kind == "zip_lzma":
        return _ZipLzma
    if kind == "lz4":
        return _lz4_decompressor
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
                    if not dec.eof:
                        raise EOFError(f"{self.kind} stream is truncated")
                else:
                    chunk = dec.decompress(dec.unconsumed_tail + data, n - got)
                if dec.eof:
                    rest = dec.unused_data or b""  # lz4 gives None
                    if self.kind == "gzip" and rest.strip(b"\x00"):
                        # Multi-member gzip: a new member starts after the old one.
                        self.dec = self.factory()
                        self.pending = rest
                    else:
                        self.done = True
            else:
                assert isinstance(dec, _Streaming)
                if dec.needs_input:
                    data = self.pending or self._feed()
                    self.pending = b""
                    if not data:
                        self.done = True
                        if self.kind != "zip_lzma":  # zip's LZMA may omit the end marker
                            raise EOFError(f"{self.kind} stream is truncated")
                        break
                else:
                    data = b""
                chunk = dec.decompress(data, n - got)
                if dec.eof:
                    rest = dec.unused_data or b""  # lz4 gives None
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
    reopen = None
    if src.can_reopen:

        def reopen() -> ByteSource:
            inner = src.reopen()
            assert inner is not None
            return decompressing_source(
                inner, kind, ctx, label, compressed_size=compressed_size, size=size
            )

    out = ByteSource(reader.read, size=size, reopen=reopen)
    out.meter = reader
    return out
