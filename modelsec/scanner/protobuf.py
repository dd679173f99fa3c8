"""A minimal protobuf wire-format reader, streaming over a :class:`ByteSource`.

ONNX models and TensorFlow graphs are protobufs; we need a handful of fields (operator names,
domains, external data paths) out of messages that may hold gigabytes of weights. Fields are
yielded one by one; length-delimited fields the caller does not consume are skipped (seeked)
so weights are never read.
"""

from __future__ import annotations

from collections.abc import Iterator

from modelsec.scanner.source import ByteSource

__all__ = ["ProtoError", "fields", "read_text", "read_varint"]

VARINT, I64, LEN, SGROUP, EGROUP, I32 = 0, 1, 2, 3, 4, 5

#: Groups (a deprecated encoding parsers still skip as unknown fields) nested deeper than this
#: are refused: no real message nests them, and the skip must stay bounded.
_MAX_GROUP_DEPTH = 32


class ProtoError(Exception):
    """Bytes that are not a well-formed protobuf message."""


def read_varint(src: ByteSource) -> int:
    """One base-128 varint (at most 10 bytes).

    Example:
        >>> read_varint(ByteSource.from_bytes(b"\\xac\\x02"))
        300
    """
    result = 0
    for shift in range(0, 70, 7):
        b = src.read(1)
        if not b:
            raise ProtoError("truncated varint")
        result |= (b[0] & 0x7F) << shift
        if not b[0] & 0x80:
            return result
    raise ProtoError("varint longer than 10 bytes")


def fields(src: ByteSource, end: int | None) -> Iterator[tuple[int, int, int]]:
    """Yield ``(field_number, wire_type, value)`` up to absolute offset ``end`` (or EOF).

    For ``LEN`` fields ``value`` is the length and the payload starts at ``src.pos``; whatever
    the caller leaves unread is skipped before the next field. Fields come in whatever order the
    bytes hold them and may repeat (protobuf semantics: the last scalar wins, repeated embedded
    messages merge), so callers collect and judge once the message is over. Groups (wire types
    3/4), which real parsers skip as unknown fields, are skipped here too.

    Example:
        >>> src = ByteSource.from_bytes(b"\\x08\\x07\\x12\\x02hi")
        >>> out = []
        >>> for f, wt, v in fields(src, None):
        ...     out.append((f, wt, src.read(v) if wt == LEN else v))
        >>> out
        [(1, 0, 7), (2, 2, b'hi')]
    """
    while end is None or src.pos < end:
        if end is None and not src.peek(1):
            return
        key = read_varint(src)
        field, wt = key >> 3, key & 7
        if field == 0:
            raise ProtoError("field number 0")
        if wt == VARINT:
            yield field, wt, read_varint(src)
        elif wt == I64:
            if len(src.read(8)) != 8:
                raise ProtoError("truncated fixed64")
            yield field, wt, 0
        elif wt == I32:
            if len(src.read(4)) != 4:
                raise ProtoError("truncated fixed32")
            yield field, wt, 0
        elif wt == SGROUP:
            _skip_group(src, field, end)
        elif wt == LEN:
            n = read_varint(src)
            stop = src.pos + n
            if end is not None and stop > end:
                raise ProtoError("field runs past its message")
            if src.size is not None and stop > src.size:
                raise ProtoError("field runs past the end of the data")
            yield field, wt, n
            if src.pos < stop:
                want = stop - src.pos
                if src.skip(want) != want:
                    raise ProtoError("truncated field")
            elif src.pos > stop:
                raise ProtoError("nested message overran its length")
        else:
            raise ProtoError(f"unsupported wire type {wt}")
    if end is not None and src.pos != end:
        raise ProtoError("message overran its length")


def _skip_group(src: ByteSource, field: int, end: int | None) -> None:
    """Skip a group body up to its END_GROUP tag with the same field number."""
    stack = [field]
    while stack:
        if len(stack) > _MAX_GROUP_DEPTH:
            raise ProtoError("groups nested too deep")
        if end is not None and src.pos >= end:
            raise ProtoError("group runs past its message")
        key = read_varint(src)
        f, wt = key >> 3, key & 7
        if f == 0:
            raise ProtoError("field number 0")
        if wt == VARINT:
            read_varint(src)
        elif wt in (I64, I32):
            want = 8 if wt == I64 else 4
            if src.skip(want) != want:
                raise ProtoError("truncated fixed field")
        elif wt == LEN:
            n = read_varint(src)
            if src.skip(n) != n:
                raise ProtoError("truncated field")
        elif wt == SGROUP:
            stack.append(f)
        elif wt == EGROUP:
            if stack.pop() != f:
                raise ProtoError("mismatched end of group")
        else:
            raise ProtoError(f"unsupported wire type {wt}")


def read_string(src: ByteSource, n: int, limit: int = 4096) -> str:
    """A LEN field as text (clipped to ``limit`` bytes, the rest left for skipping)."""
    return src.read(min(n, limit)).decode("utf-8", "replace")


def read_text(src: ByteSource, n: int, limit: int = 4096) -> str:
    """A LEN field as exact text: longer than ``limit`` bytes is an error, never a clipped
    prefix (two names sharing a prefix must not compare equal), and undecodable bytes stay
    distinct (surrogate escapes) instead of collapsing into one replacement character.

    Example:
        >>> read_text(ByteSource.from_bytes(b"ai.onnx"), 7)
        'ai.onnx'
        >>> read_text(ByteSource.from_bytes(b"x" * 10), 10, limit=4)
        Traceback (most recent call last):
        ...
        modelsec.scanner.protobuf.ProtoError: name of 10 bytes is longer than 4
    """
    if n > limit:
        raise ProtoError(f"name of {n} bytes is longer than {limit}")
    data = src.read(n)
    if len(data) != n:
        raise ProtoError("truncated string")
    return data.decode("utf-8", "surrogateescape")
