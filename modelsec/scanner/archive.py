"""zip archives, scanned member by member in memory, never extracted to disk (tar:
:mod:`modelsec.scanner.tarscan`).

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
import zipfile
from typing import BinaryIO, cast

from modelsec.scanner.dispatch import scan_source
from modelsec.scanner.pickles import Family
from modelsec.scanner.report import FileContext, ScanAbort, printable
from modelsec.scanner.source import ByteSource, decompressing_source

__all__ = ["ARV_THREAT", "check_name", "escapes", "member_source", "scan_zip"]

ARV_THREAT = "PAIT-ARV-100"
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


def check_name(ctx: FileContext, name: str, location: str) -> None:
    if escapes(name):
        ctx.add_issue(
            f"archive member {printable(name)!r} is written outside the target directory "
            "at extraction (archive slip)",
            location,
            ARV_THREAT,
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
        check_name(ctx, info.filename, mloc)
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
        if info.flag_bits & 0x1:
            # Encrypted. torch's reader (miniz) ignores the flag and loads the bytes as they
            # are, so they are scanned as they are below; a loader given the password reads a
            # plaintext we cannot see: fail closed as well.
            ctx.add_error(f"{mloc}: encrypted zip member, its plaintext not inspected")
        try:
            msrc = member_source(ctx, fp, info, mloc)
        except (zipfile.BadZipFile, OSError) as exc:
            ctx.add_error(f"{mloc}: unreadable zip member ({exc})")
            continue
        if msrc is None:
            ctx.add_error(f"{mloc}: unsupported zip compression method {info.compress_type}")
            continue
        _scan_member(ctx, msrc, info.filename, mloc, depth, kind, family)


_TORCH_STORAGE = re.compile(r"(?:[^/]+/)?data/[^/]+")


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
    if kind == "keras" and lower in ("config.json", "metadata.json"):
        from modelsec.scanner.keras import scan_keras_config

        scan_keras_config(ctx, msrc, mloc)
        return
    if kind == "torch" and _TORCH_STORAGE.fullmatch(lower.replace("\\", "/")):
        # Storage records (``<root>/data/<key>``) are raw tensor bytes that torch reads by
        # ``persistent_load``; no loader unpickles them, so random float bytes that happen to
        # begin with a pickle opcode are not walked (that walk could only misreport).
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
            ARV_THREAT,
        )
