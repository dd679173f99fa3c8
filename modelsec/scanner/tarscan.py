"""tar archives (V7, ustar, GNU, PAX), scanned member by member with bounded memory.

Our own header loop instead of ``tarfile.open``: ``tarfile`` buffers GNU long names and pax
records whole (a 1.3 MB ``.tar.gz`` declaring a 256 MiB long name took 3.4 GB). Each 512-byte
header is still parsed by ``tarfile.TarInfo.frombuf``, so what counts as a header (checksum,
number formats, V7 without magic) is exactly what ``tarfile``-based loaders accept.
"""

from __future__ import annotations

import posixpath
import re
import tarfile

from modelsec.scanner.archive import ARV_THREAT, check_name, escapes
from modelsec.scanner.dispatch import scan_source
from modelsec.scanner.pickles import Family
from modelsec.scanner.report import FileContext, ScanAbort, printable
from modelsec.scanner.source import ByteSource, TruncatedError

__all__ = ["scan_tar"]

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

    Example:
        >>> import io, tarfile
        >>> from modelsec.scanner.limits import ScanLimits
        >>> evil = b"cos\\nsystem\\n(S'id'\\ntR."
        >>> buf = io.BytesIO()
        >>> with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tf:
        ...     info = tarfile.TarInfo("d/" * 80 + "m.pkl")  # a GNU long name
        ...     info.size = len(evil)
        ...     tf.addfile(info, io.BytesIO(evil))
        >>> ctx = FileContext("m.tar", ScanLimits())
        >>> scan_tar(ctx, ByteSource.from_bytes(buf.getvalue()), "m.tar", "m.tar", 0)
        >>> [i.threat for i in ctx.issues], ctx.errors
        (['PAIT-PKL-100'], [])
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
    check_name(ctx, member.name, mloc)
    if info.issym() or info.islnk():
        link_from = member.name if info.issym() else None
        if escapes(member.link, link_from=link_from):
            ctx.add_issue(
                f"archive {'symlink' if info.issym() else 'hard link'} "
                f"{printable(member.name)!r} points outside the extraction directory "
                f"({printable(member.link)!r})",
                mloc,
                ARV_THREAT,
            )
    elif info.isdev():
        shown = printable(member.name)
        ctx.add_issue(f"archive member {shown!r} is a device file", mloc, ARV_THREAT)
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
