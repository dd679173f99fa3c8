"""GGUF (llama.cpp) metadata: every length bounded, chat templates checked.

GGUF loaders written in C have had heap overflows from unchecked counts and string lengths
(CVE-2024-25664 and siblings); we read the header, every key/value and every tensor info with
bounds against the file size and against sane caps, and report implausible values as
``PAIT-GGUF-100``. Chat templates (``tokenizer.chat_template*``) go to the Jinja checks
(``PAIT-GGUF-101``). Tensor data is never read.
"""

from __future__ import annotations

import struct

from modelsec.scanner.jinja import describe_key, report_template
from modelsec.scanner.report import FileContext, printable
from modelsec.scanner.source import ByteSource

__all__ = ["scan_gguf"]

_FIXED = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
_STRING, _ARRAY = 8, 9
_MAX_COUNT = 1 << 24  # tensors or keys: far above any real model, far below overflow
_MAX_STRING = 1 << 30
_MAX_DIMS = 4  # GGML_MAX_DIMS
_MAX_TEMPLATE = 1 << 20
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")


class _Bad(Exception):
    pass


def scan_gguf(ctx: FileContext, src: ByteSource, location: str) -> None:
    """Validate a GGUF header and metadata; check chat templates.

    Example:
        >>> import struct
        >>> from modelsec.scanner.limits import ScanLimits
        >>> blob = b"GGUF" + struct.pack("<IQQ", 3, 0, 0)
        >>> ctx = FileContext("m.gguf", ScanLimits())
        >>> scan_gguf(ctx, ByteSource.from_bytes(blob), "m.gguf")
        >>> ctx.scanned, ctx.issues
        (True, [])
    """
    ctx.add_format("gguf")
    size = src.size

    def remaining() -> int:
        return (size - src.pos) if size is not None else _MAX_STRING

    def u32() -> int:
        return int(_U32.unpack(src.read_exact(4))[0])

    def u64() -> int:
        return int(_U64.unpack(src.read_exact(8))[0])

    def string(keep: int) -> str | None:
        n = u64()
        if n > _MAX_STRING or n > remaining():
            raise _Bad(f"string length {n} exceeds the file")
        if n <= keep:
            return src.read_exact(n).decode("utf-8", "replace")
        src.skip(n)
        return None

    def value(vtype: int, keep: int, depth: int = 0) -> object:
        if vtype in _FIXED:
            return src.read_exact(_FIXED[vtype])
        if vtype == _STRING:
            return string(keep)
        if vtype == _ARRAY:
            if depth > 4:
                raise _Bad("arrays nested too deep")
            etype = u32()
            n = u64()
            if etype in _FIXED:
                total = n * _FIXED[etype]
                if total > remaining():
                    raise _Bad(f"array of {n} elements exceeds the file")
                src.skip(total)
                return None
            if n > remaining() // 8 + 1:
                raise _Bad(f"array of {n} elements exceeds the file")
            for _ in range(n):
                value(etype, 0, depth + 1)
            return None
        raise _Bad(f"unknown value type {vtype}")

    src.read_exact(4)
    version = u32()
    if version not in (2, 3):
        ctx.add_error(f"{location}: unsupported GGUF version {version}")
        return
    n_tensors, n_kv = u64(), u64()
    ctx.scanned = True
    try:
        if n_tensors > _MAX_COUNT or n_kv > _MAX_COUNT:
            raise _Bad(f"implausible counts: {n_tensors} tensors, {n_kv} keys")
        alignment = 32
        for _ in range(n_kv):
            key = string(1 << 16)
            if key is None:
                raise _Bad("metadata key longer than 64 KiB")
            vtype = u32()
            keep = _MAX_TEMPLATE if key.startswith("tokenizer.chat_template") else 64
            val = value(vtype, keep)
            if key == "general.alignment" and isinstance(val, bytes) and len(val) == 4:
                alignment = int.from_bytes(val, "little")
                if alignment == 0 or alignment & (alignment - 1):
                    raise _Bad(f"general.alignment {alignment} is not a power of two")
            if key.startswith("tokenizer.chat_template"):
                if isinstance(val, str):
                    # tokenizer.chat_template and the named tokenizer.chat_template.<name>
                    report_template(
                        ctx, val, f"{location}:{printable(key, 200)}", describe_key(key)
                    )
                elif vtype == _STRING:
                    ctx.add_issue(
                        f"chat template {printable(key)} larger than 1 MiB",
                        location,
                        "PAIT-GGUF-101",
                    )
        infos: list[tuple[int, int]] = []
        for _ in range(n_tensors):
            name = string(1 << 16)
            if name is None:
                raise _Bad("tensor name longer than 64 KiB")
            n_dims = u32()
            if n_dims > _MAX_DIMS:
                raise _Bad(f"tensor {printable(name)!r} has {n_dims} dimensions")
            count = 1
            for _d in range(n_dims):
                dim = u64()
                if dim >= 1 << 62:
                    raise _Bad(f"tensor {printable(name)!r} has dimension {dim}")
                count *= max(dim, 1)
            if count >= 1 << 62:
                raise _Bad(f"tensor {printable(name)!r} element count overflows")
            ttype = u32()
            if ttype > 64:
                raise _Bad(f"tensor {printable(name)!r} has unknown type {ttype}")
            offset = u64()
            if offset % alignment:
                raise _Bad(f"tensor {printable(name)!r} offset {offset} is not aligned")
            infos.append((offset, count))
        if size is not None:
            data_start = -(-src.pos // alignment) * alignment
            for offset, _count in infos:
                if data_start + offset > size:
                    raise _Bad(f"tensor data offset {offset} lies beyond the end of the file")
    except _Bad as exc:
        ctx.add_issue(
            f"GGUF metadata a loader may mishandle (memory corruption at load): {exc}",
            location,
            "PAIT-GGUF-100",
        )
