"""zip and tar archives, scanned member by member in memory, never extracted to disk.

zip members are read from their local headers with our own small reader rather than
``ZipFile.open``: ``torch.load`` (miniz) accepts members with broken CRCs or odd flag bits that
``zipfile`` refuses, and an attacker can rely on exactly that to hide a pickle from scanners built
on ``zipfile``. Every member name is checked for archive slip (``../``, absolute paths, drive
letters, symlinks leaving the tree) and every layer is charged to the bomb budget.
"""

from __future__ import annotations

import io
import itertools
import posixpath
import re
import stat
import struct
import tarfile
import zipfile
from typing import BinaryIO, cast

from modelsec.scanner.dispatch import scan_source
from modelsec.scanner.pickles import Family
from modelsec.scanner.report import FileContext, ScanAbort, printable
from modelsec.scanner.source import ByteSource, TruncatedError, decompressing_source

__all__ = ["escapes", "member_source", "scan_tar", "scan_zip"]

_ARV = "PAIT-ARV-100"
_DRIVE = re.compile(r"^[A-Za-z]:")
_LOCAL = struct.Struct("<4sHHHHHIIIHH")


def escapes(name: str, *, link_from: str | None = None) -> bool:
    """Whether extracting ``name`` (or a link at ``link_from`` pointing to ``name``) leaves
    the extraction directory.

    Example:
        >>> escapes("../etc/passwd"), escapes("/abs"), escapes("a/../b"), escapes("C:\\\\x")
        (True, True, False, True)
        >>> escapes("../x", link_from="a/b/link"), escapes("../../x", link_from="a/link")
        (False, True)
    """
    norm = name.replace("\\", "/")
    if norm.startswith("/") or _DRIVE.match(norm):
        return True
    base = posixpath.dirname(link_from.replace("\\", "/")) if link_from else ""
    depth = len([p for p in base.split("/") if p not in ("", ".")])
    for part in norm.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            depth -= 1
            if depth < 0:
                return True
        else:
            depth += 1
    return False


def _check_name(ctx: FileContext, name: str, location: str) -> None:
    if escapes(name):
        ctx.add_issue(
            f"archive member {printable(name)!r} is written outside the target directory "
            "at extraction (archive slip)",
            location,
            _ARV,
        )


class _RangeReader:
    """Reads ``length`` bytes of ``fp`` from ``start`` (shared fp: seek before each read)."""

    def __init__(self, fp: BinaryIO, start: int, length: int) -> None:
        self.fp = fp
        self.start = start
        self.length = length
        self.pos = 0

    def read(self, n: int) -> bytes:
        n = min(n, self.length - self.pos)
        if n <= 0:
            return b""
        self.fp.seek(self.start + self.pos)
        data = self.fp.read(n)
        self.pos += len(data)
        return data

    def seek(self, pos: int) -> None:
        self.pos = max(0, min(pos, self.length))


def member_source(
    ctx: FileContext, fp: BinaryIO, info: zipfile.ZipInfo, label: str
) -> ByteSource | None:
    """A :class:`ByteSource` of a zip member's content, read past CRC and flag checks.

    Returns ``None`` for compression methods we cannot read (the caller records an error).
    """
    fp.seek(info.header_offset)
    raw = fp.read(_LOCAL.size)
    if len(raw) < _LOCAL.size or raw[:4] != b"PK\x03\x04":
        raise zipfile.BadZipFile(f"bad local header for {info.filename!r}")
    fields = _LOCAL.unpack(raw)
    start = info.header_offset + _LOCAL.size + fields[9] + fields[10]
    rng = _RangeReader(fp, start, info.compress_size)
    raw_src = ByteSource(rng.read, size=info.compress_size, seek=rng.seek)
    if info.compress_type == zipfile.ZIP_STORED:
        return raw_src
    if info.compress_type == zipfile.ZIP_DEFLATED:
        return decompressing_source(
            raw_src,
            "deflate",
            ctx,
            label,
            compressed_size=info.compress_size,
            size=info.file_size,
        )
    codec = {zipfile.ZIP_BZIP2: "bzip2", zipfile.ZIP_LZMA: "zip_lzma"}.get(info.compress_type)
    if codec is None:
        return None  # unknown method: the caller fails closed
    return decompressing_source(
        raw_src,
        codec,
        ctx,
        label,
        compressed_size=info.compress_size,
        size=info.file_size,
    )


def _read_capped(src: ByteSource, cap: int) -> bytearray | None:
    """All of ``src`` in one growing buffer (no joined copies), or None past ``cap`` bytes."""
    buf = bytearray()
    while True:
        chunk = src.read_chunk()
        if not chunk:
            return buf
        if len(buf) + len(chunk) > cap:
            return None
        buf += chunk


class _SeekableView(io.RawIOBase):
    """A seekable file over a :class:`ByteSource` that can seek (zipfile reads it in place)."""

    def __init__(self, src: ByteSource) -> None:
        self.src = src
        self.size = src.size or 0
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self._pos, 2: self.size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def read(self, n: int | None = -1) -> bytes:
        if n is None or n < 0:
            n = self.size - self._pos
        if self.src.pos != self._pos:
            self.src.seek_to(min(self._pos, self.size))
        data = self.src.read(max(0, min(n, self.size - self._pos)))
        self._pos += len(data)
        return data

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)


def _classify_zip(names: list[str]) -> str:
    lower = [n.lower().replace("\\", "/") for n in names]
    base = {posixpath.basename(n) for n in lower}
    if "data.pkl" in base or any(n.endswith(".data/version") for n in lower):
        return "torch"
    if "config.json" in lower and ("metadata.json" in lower or "model.weights.h5" in lower):
        return "keras"
    if lower and all(n.endswith((".npy", "/")) for n in lower):
        return "npz"
    return "zip"


def scan_zip(
    ctx: FileContext,
    src: ByteSource,
    name: str,
    location: str,
    depth: int,
    fp: BinaryIO | None,
) -> None:
    """Scan a zip archive (PyTorch, Keras v3, npz or a plain zip) member by member."""
    limits = ctx.limits
    if depth >= limits.max_archive_depth:
        raise ScanAbort(f"{location}: archives nested deeper than {limits.max_archive_depth}")
    if fp is None and src.size is not None and src.seek_to(0):
        # A stored member or a tar member of a file: zipfile seeks in place, nothing buffered.
        fp = cast(BinaryIO, _SeekableView(src))
    if fp is None:
        # zipfile needs to seek: buffer the (nested, compressed) archive within the cap.
        data = _read_capped(src, limits.max_in_memory_bytes)
        if data is None:
            ctx.add_format("zip")
            ctx.add_error(
                f"{location}: nested zip larger than {limits.max_in_memory_bytes} bytes "
                "was not inspected"
            )
            return
        fp = io.BytesIO(data)
    try:
        zf = zipfile.ZipFile(fp)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        ctx.add_format("zip")
        ctx.add_error(f"{location}: malformed zip ({exc})")
        return
    infos = zf.infolist()
    kind = _classify_zip([i.filename for i in infos])
    family: str | None = None
    if kind == "torch":
        from modelsec.scanner.pytorch import torch_zip_format

        ctx.add_format(torch_zip_format([i.filename for i in infos]))
        family = Family.PYTORCH
    elif kind == "keras":
        ctx.add_format("keras3")
    elif kind == "npz":
        ctx.add_format("numpy_zip")
    else:
        ctx.add_format("zip")
    ctx.scanned = True
    _zip_structure(ctx, infos, location)
    for info in infos:
        ctx.archive_members += 1
        if ctx.archive_members > limits.max_archive_members:
            raise ScanAbort(
                f"{location}: more than {limits.max_archive_members} archive members "
                "(archive bomb); scan stopped"
            )
        mloc = f"{location}!{info.filename}"
        _check_name(ctx, info.filename, mloc)
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            try:
                _zip_symlink(ctx, fp, info, mloc)
            except (zipfile.BadZipFile, OSError) as exc:
                ctx.add_error(f"{mloc}: unreadable zip member ({exc})")
            continue
        if info.is_dir():
            continue
        if (
            info.file_size > limits.ratio_floor_bytes
            and info.file_size > limits.max_compression_ratio * max(info.compress_size, 1)
        ):
            raise ScanAbort(
                f"{mloc}: declared compression ratio {info.file_size}/{info.compress_size} "
                "is a zip bomb; scan stopped"
            )
        try:
            msrc = member_source(ctx, fp, info, mloc)
        except (zipfile.BadZipFile, OSError) as exc:
            ctx.add_error(f"{mloc}: unreadable zip member ({exc})")
            continue
        if msrc is None:
            ctx.add_error(f"{mloc}: unsupported zip compression method {info.compress_type}")
            continue
        _scan_member(ctx, msrc, info.filename, mloc, depth, kind, family)


def _scan_member(
    ctx: FileContext,
    msrc: ByteSource,
    mname: str,
    mloc: str,
    depth: int,
    kind: str,
    family: str | None,
) -> None:
    lower = mname.lower()
    if kind == "torch" and lower.endswith(".py") and "code/" in lower.replace("\\", "/"):
        from modelsec.scanner.pytorch import scan_torchscript_code

        scan_torchscript_code(ctx, msrc, mloc)
        return
    if kind == "keras" and lower == "config.json":
        from modelsec.scanner.keras import scan_keras_config

        scan_keras_config(ctx, msrc, mloc)
        return
    if kind == "torch" and lower.endswith("pkl"):
        # torch.load unpickles these whatever their first byte: never just probe them.
        from modelsec.scanner.pickles import scan_pickle

        scan_pickle(ctx, msrc, mloc, Family.PYTORCH)
        return
    if kind == "keras" and lower.endswith((".pkl", ".pickle")):
        family = Family.KERAS
    scan_source(ctx, msrc, mname, mloc, depth + 1, family=family)


def _zip_structure(ctx: FileContext, infos: list[zipfile.ZipInfo], location: str) -> None:
    """Duplicate names and overlapping members: both let loaders and scanners disagree."""
    seen: set[str] = set()
    for info in infos:
        if info.filename in seen:
            ctx.add_issue(
                f"duplicate zip member name {printable(info.filename)!r}: loaders may read a "
                "different copy than the one inspected (all copies were scanned)",
                f"{location}!{info.filename}",
            )
        seen.add(info.filename)
    spans = sorted((i.header_offset, i.header_offset + 30 + i.compress_size) for i in infos)
    overlaps = sum(1 for a, b in itertools.pairwise(spans) if b[0] < a[1])
    if overlaps > 10:
        raise ScanAbort(
            f"{location}: {overlaps} zip members share their data (overlapping-entry bomb); "
            "scan stopped"
        )


def _zip_symlink(ctx: FileContext, fp: BinaryIO, info: zipfile.ZipInfo, mloc: str) -> None:
    msrc = member_source(ctx, fp, info, mloc)
    target = msrc.read(4096).decode("utf-8", "replace") if msrc is not None else ""
    if escapes(target, link_from=info.filename):
        ctx.add_issue(
            f"archive symlink {printable(info.filename)!r} points outside the extraction "
            f"directory ({printable(target)!r})",
            mloc,
            _ARV,
        )


_TORCH_TAR = {"sys_info", "pickle", "storages", "tensors"}
_PAX_RECORD = re.compile(rb"(\d{1,20}) ([^=]{1,256})=")
_BLOCK = 512


class _TarStop(Exception):
    """The archive cannot be followed further (the message becomes an error)."""


def _padded(size: int) -> int:
    return -(-size // _BLOCK) * _BLOCK


def _text(raw: bytes) -> str:
    """A NUL-terminated header string, decoded as ``tarfile`` does (utf-8, surrogateescape)."""
    end = raw.find(b"\0")
    return (raw if end < 0 else raw[:end]).decode("utf-8", "surrogateescape")


def _meta(src: ByteSource, size: int, cap: int) -> bytes | None:
    """The data of a long-name or pax header, or None (skipped, not buffered) over ``cap``."""
    if size > cap:
        if src.skip(_padded(size)) != _padded(size):
            raise _TarStop("truncated tar header data")
        return None
    data = src.read_exact(size)
    src.skip(_padded(size) - size)
    return data


def _pax_records(data: bytes) -> dict[str, bytes]:
    """``LEN KEY=VALUE\\n`` records, parsed with tarfile's rules (length includes itself)."""
    out: dict[str, bytes] = {}
    pos = 0
    while pos < len(data) and data[pos] != 0:
        m = _PAX_RECORD.match(data, pos)
        if m is None:
            raise _TarStop("malformed pax extended header")
        length = int(m.group(1))
        end = pos + length
        if length < len(m.group(0)) + 1 or end > len(data) or data[end - 1 : end] != b"\n":
            raise _TarStop("malformed pax extended header record")
        out[m.group(2).decode("utf-8", "surrogateescape")] = data[m.end() : end - 1]
        pos = end
    return out


class _TarMember:
    __slots__ = ("info", "link", "name", "size")

    def __init__(self, info: tarfile.TarInfo, name: str, link: str, size: int) -> None:
        self.info = info
        self.name = name
        self.link = link
        self.size = size


class _TarWalker:
    """Streams tar headers (V7, ustar, GNU, PAX) with bounded memory.

    Each 512-byte header is parsed by ``tarfile.TarInfo.frombuf`` (tarfile's own checksum and
    number rules); GNU long names/links and pax records are read here, within the limits, so a
    header declaring a 256 MiB name costs a skip, not 256 MiB of memory.
    """

    def __init__(self, ctx: FileContext, src: ByteSource, location: str) -> None:
        self.ctx = ctx
        self.src = src
        self.location = location
        self.global_pax: dict[str, bytes] = {}

    def _long(self, size: int, what: str) -> str | None:
        cap = self.ctx.limits.max_tar_name_bytes
        data = _meta(self.src, size, cap)
        if data is None:
            self.ctx.add_issue(
                f"tar GNU long {what} of {size} bytes (over {cap}): no real archive needs it "
                "(memory exhaustion attempt); skipped",
                self.location,
            )
            return None
        return _text(data)

    def _pax(self, size: int, is_global: bool, pax: dict[str, bytes]) -> None:
        cap = self.ctx.limits.max_pax_header_bytes
        data = _meta(self.src, size, cap)
        if data is None:
            self.ctx.add_issue(
                f"tar pax header of {size} bytes (over {cap}) skipped (memory exhaustion attempt)",
                self.location,
            )
            return
        records = _pax_records(data)
        if any(k.startswith("GNU.sparse") for k in records):
            raise _TarStop("GNU sparse member (pax) is not inspected")
        (self.global_pax if is_global else pax).update(records)

    def next(self) -> _TarMember | None:
        """The next member, or None at the end of the archive."""
        long_name: str | None = None
        long_link: str | None = None
        pax: dict[str, bytes] = {}
        while True:
            block = self.src.read(_BLOCK)
            if not block or block == bytes(len(block)):
                return None  # end of archive (tarfile stops at the first zero block)
            if len(block) < _BLOCK:
                raise _TarStop("truncated tar header")
            try:
                info = tarfile.TarInfo.frombuf(block, "utf-8", "surrogateescape")
            except (tarfile.TarError, ValueError) as exc:
                at = self.src.pos - _BLOCK
                raise _TarStop(f"malformed tar header at offset {at} ({exc})") from None
            if info.type in (tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK):
                what = "name" if info.type == tarfile.GNUTYPE_LONGNAME else "link name"
                value = self._long(info.size, what)
                if info.type == tarfile.GNUTYPE_LONGNAME:
                    long_name = value if value is not None else "<oversized GNU long name>"
                else:
                    long_link = value if value is not None else "<oversized GNU long link>"
                continue
            if info.type in (tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE):
                self._pax(info.size, info.type == tarfile.XGLTYPE, pax)
                continue
            if info.type == tarfile.GNUTYPE_SPARSE:
                raise _TarStop("GNU sparse member is not inspected")
            return self._member(info, long_name, long_link, {**self.global_pax, **pax})

    def _member(
        self,
        info: tarfile.TarInfo,
        long_name: str | None,
        long_link: str | None,
        pax: dict[str, bytes],
    ) -> _TarMember:
        name = long_name if long_name is not None else info.name
        link = long_link if long_link is not None else info.linkname
        size = info.size
        cap = self.ctx.limits.max_tar_name_bytes
        for key in ("path", "linkpath"):
            if key in pax:
                if len(pax[key]) > cap:
                    self.ctx.add_issue(f"tar pax {key} longer than {cap} bytes", self.location)
                value = pax[key][:cap].decode("utf-8", "surrogateescape")
                name, link = (value, link) if key == "path" else (name, value)
        if "size" in pax:
            try:
                size = int(pax["size"])
            except ValueError:
                raise _TarStop("malformed pax size") from None
            if size < 0:
                raise _TarStop("negative pax size")
        if info.isdir():
            name = name.rstrip("/")
        return _TarMember(info, name, link, size)


def scan_tar(ctx: FileContext, src: ByteSource, name: str, location: str, depth: int) -> None:
    """Scan a tar stream (V7, ustar, GNU, PAX; also the pre-1.0 ``torch.save`` tar format).

    Memory is bounded by the limits, whatever the headers declare, and each member's expansion
    is checked on its own when the tar is decompressed (not only the archive's total).
    """
    limits = ctx.limits
    if depth >= limits.max_archive_depth:
        raise ScanAbort(f"{location}: archives nested deeper than {limits.max_archive_depth}")
    ctx.add_format("tar")
    ctx.scanned = True
    walker = _TarWalker(ctx, src, location)
    try:
        while True:
            mark = _meter_mark(src)
            member = walker.next()
            if member is None:
                break
            ctx.archive_members += 1
            if ctx.archive_members > limits.max_archive_members:
                raise ScanAbort(
                    f"{location}: more than {limits.max_archive_members} archive members "
                    "(archive bomb); scan stopped"
                )
            mloc = f"{location}!{member.name}"
            _tar_member(ctx, src, member, mloc, depth)
            _check_expansion(ctx, src, mark, mloc)
    except _TarStop as exc:
        ctx.add_error(f"{location}: {exc}")
    except TruncatedError as exc:
        ctx.add_error(f"{location}: truncated tar ({exc})")


def _tar_member(
    ctx: FileContext, src: ByteSource, member: _TarMember, mloc: str, depth: int
) -> None:
    info = member.info
    _check_name(ctx, member.name, mloc)
    if info.issym() or info.islnk():
        link_from = member.name if info.issym() else None
        if escapes(member.link, link_from=link_from):
            ctx.add_issue(
                f"archive {'symlink' if info.issym() else 'hard link'} "
                f"{printable(member.name)!r} points outside the extraction directory "
                f"({printable(member.link)!r})",
                mloc,
                _ARV,
            )
    elif info.isdev():
        ctx.add_issue(f"archive member {printable(member.name)!r} is a device file", mloc, _ARV)
    # tarfile reads data after regular members and members of unknown type (extractfile
    # returns them as files); the other types have none, whatever their size field says.
    if info.type in tarfile.SUPPORTED_TYPES and not info.isreg():
        return
    start = src.pos
    end = start + _padded(member.size)
    family = None
    if posixpath.basename(member.name) in _TORCH_TAR:
        ctx.add_format("pytorch_v0_1_1")
        family = Family.PYTORCH
    scan_source(ctx, src.slice(member.size), member.name, mloc, depth + 1, family=family)
    if src.seek_to(end):
        short = src.size is not None and end > src.size
    else:
        need = end - src.pos
        short = src.skip(need) != need
    if short:
        raise TruncatedError(f"member {printable(member.name)!r} ends early")


def _meter_mark(src: ByteSource) -> tuple[int, int] | None:
    meter = src.meter
    return None if meter is None else (meter.consumed, meter.produced)


def _check_expansion(
    ctx: FileContext, src: ByteSource, mark: tuple[int, int] | None, mloc: str
) -> None:
    """One member (with its headers) may not expand past the ratio, even if the total does not."""
    meter = src.meter
    if meter is None or mark is None:
        return
    lim = ctx.limits
    produced = meter.produced - mark[1]
    consumed = max(meter.consumed - mark[0], 1)
    if produced > lim.ratio_floor_bytes and produced > lim.max_compression_ratio * consumed:
        raise ScanAbort(
            f"{mloc}: decompression bomb: this member expands more than "
            f"{lim.max_compression_ratio:g}x ({consumed} -> {produced}+ bytes); scan stopped"
        )
