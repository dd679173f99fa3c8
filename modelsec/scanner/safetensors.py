"""safetensors header validation: the only part of the format that can lie.

safetensors holds no code, so nothing here is a code-execution threat; what we check is that
the header is exactly what the reference loader accepts (size cap, JSON object, known dtypes,
offsets inside the file, contiguous without overlap, ``shape x dtype`` = byte length), since a
loader that disagrees with the scanner is where parser bugs hide. Violations make the file
``ERROR`` with a message, and each is also listed as an issue without a threat code.
"""

from __future__ import annotations

import json

from modelsec.scanner.report import FileContext, printable
from modelsec.scanner.source import ByteSource

__all__ = ["DTYPE_BITS", "scan_safetensors"]

#: Bits per element of every dtype the reference implementation knows.
DTYPE_BITS: dict[str, int] = {
    "BOOL": 8,
    "U8": 8,
    "I8": 8,
    "F8_E5M2": 8,
    "F8_E4M3": 8,
    "F8_E8M0": 8,
    "I16": 16,
    "U16": 16,
    "F16": 16,
    "BF16": 16,
    "I32": 32,
    "U32": 32,
    "F32": 32,
    "I64": 64,
    "U64": 64,
    "F64": 64,
    "C64": 64,
    "F4": 4,
    "F6_E2M3": 6,
    "F6_E3M2": 6,
}


def scan_safetensors(ctx: FileContext, src: ByteSource, location: str) -> None:
    """Validate a safetensors header; reads the 8-byte length and the header only.

    Example:
        >>> import json, struct
        >>> from modelsec.scanner.limits import ScanLimits
        >>> hdr = json.dumps({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}})
        >>> blob = struct.pack("<Q", len(hdr)) + hdr.encode() + bytes(8)
        >>> ctx = FileContext("m.safetensors", ScanLimits())
        >>> scan_safetensors(ctx, ByteSource.from_bytes(blob), "m.safetensors")
        >>> ctx.scanned, ctx.errors
        (True, [])
    """
    ctx.add_format("safetensors")
    problems: list[str] = []
    n = int.from_bytes(src.read_exact(8), "little")
    if n > ctx.limits.max_safetensors_header_bytes:
        problems.append(f"header of {n} bytes exceeds the 100 MB limit")
    elif src.size is not None and n > src.size - 8:
        problems.append(f"header length {n} runs past the end of the file")
    if problems:
        _fail(ctx, problems, location)
        return
    raw = src.read_exact(n)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        _fail(ctx, [f"header is not valid JSON ({exc})"], location)
        return
    if not isinstance(header, dict):
        _fail(ctx, ["header is not a JSON object"], location)
        return
    data_size = None if src.size is None else src.size - 8 - n
    spans: list[tuple[int, int, str]] = []
    for name, entry in header.items():
        shown = printable(str(name), 100)
        if name == "__metadata__":
            if not isinstance(entry, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in entry.items()
            ):
                problems.append("__metadata__ must map strings to strings")
            continue
        if not isinstance(entry, dict):
            problems.append(f"tensor {shown!r} is not an object")
            continue
        dtype = entry.get("dtype")
        shape = entry.get("shape")
        offsets = entry.get("data_offsets")
        if dtype not in DTYPE_BITS:
            problems.append(f"tensor {shown!r} has unknown dtype {printable(str(dtype), 40)!r}")
            continue
        if not isinstance(shape, list) or not all(
            isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
        ):
            problems.append(f"tensor {shown!r} has an invalid shape")
            continue
        if (
            not isinstance(offsets, list)
            or len(offsets) != 2
            or not all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)
            or not 0 <= offsets[0] <= offsets[1]
        ):
            problems.append(f"tensor {shown!r} has invalid data_offsets")
            continue
        count = 1
        for d in shape:
            count *= d
        bits = count * DTYPE_BITS[str(dtype)]
        expected = (bits + 7) // 8
        if offsets[1] - offsets[0] != expected:
            problems.append(
                f"tensor {shown!r}: {offsets[1] - offsets[0]} bytes stored but shape x dtype "
                f"needs {expected}"
            )
        if data_size is not None and offsets[1] > data_size:
            problems.append(f"tensor {shown!r} ends past the end of the file")
        spans.append((offsets[0], offsets[1], shown))
    spans.sort()
    cursor = 0
    for begin, end, shown in spans:
        if begin < cursor:
            problems.append(f"tensor {shown!r} overlaps the previous tensor")
        elif begin > cursor:
            problems.append(f"gap of {begin - cursor} unindexed bytes before tensor {shown!r}")
        cursor = max(cursor, end)
    if data_size is not None and spans and cursor != data_size and not problems:
        problems.append(f"{data_size - cursor} trailing bytes after the last tensor")
    if problems:
        _fail(ctx, problems, location)
        return
    ctx.scanned = True


def _fail(ctx: FileContext, problems: list[str], location: str) -> None:
    for p in problems[:20]:
        ctx.add_issue(f"invalid safetensors header: {p}", location)
    ctx.add_error(f"{location}: invalid safetensors header: {problems[0]}")
