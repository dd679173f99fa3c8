"""Streaming pickle opcode walker: finds every callable a pickle imports, never unpickling.

Why our own walker instead of :func:`pickletools.genops`: ``genops`` materialises every
argument (a 2 GiB ``BINBYTES`` becomes a 2 GiB ``bytes``) and knows nothing of the stack, so it
cannot resolve ``STACK_GLOBAL`` names that come from the memo. This walker:

* reads the stream in 1 MiB chunks and *skips* large payloads (seek on files), so memory is
  flat whatever the size;
* simulates just enough of the unpickler (stack, marks, a bounded memo of strings and import
  references) to resolve ``GLOBAL``, ``STACK_GLOBAL`` (names from the stack or the memo),
  ``INST`` and ``OBJ`` exactly as :mod:`pickle` would, including the Python 2 name mapping of
  protocols 0-2 (``__builtin__`` -> ``builtins``);
* continues after ``STOP`` (several pickles in one stream, as ``torch`` legacy files, joblib and
  hand-rolled loaders read them) and treats undecodable bytes after a ``STOP`` as a tail, while
  reporting everything imported before the junk or the truncation;
* follows joblib's raw array bytes that sit *between* opcodes (``NumpyArrayWrapper``).

Anything it cannot resolve (a computed module name, an evicted memo entry, an extension code)
is reported as unresolved, which the caller treats as unsafe: fail closed.
"""

from __future__ import annotations

import codecs
import re
import struct
from collections.abc import Iterable

from modelsec.scanner.source import ByteSource

__all__ = ["OPCODE_ARGS", "PickleImport", "PickleResult", "scan_tail", "walk_pickle"]

_SMALL = 4096  # strings longer than this are never module/attribute names: skip them
_LINE_MAX = 1 << 16  # protocol 0 line arguments longer than this are skipped, not stored
_MEMO_MAX_VALUES = 100_000  # memo values kept (strings, imports); beyond, GETs are unknown
_MEMO_BITMAP_MAX = 1 << 27  # memo indexes tracked exactly (bitmap of 16 MiB at most)
_STACK_MAX = 10_000_000  # deeper than this no real pickle goes; stop rather than grow
_IMPORTS_MAX = 10_000

# Argument layout per opcode: >=0 fixed size, -1 newline-terminated line, -2 two lines,
# -10/-11/-14/-18 length prefix of 1/2(unused)/4/8 bytes followed by that many bytes.
# Checked against pickletools' metadata in the tests.
OPCODE_ARGS: dict[int, int] = {
    0x28: 0,  # MARK
    0x2E: 0,  # STOP
    0x30: 0,  # POP
    0x31: 0,  # POP_MARK
    0x32: 0,  # DUP
    0x46: -1,  # FLOAT
    0x49: -1,  # INT
    0x4A: 4,  # BININT
    0x4B: 1,  # BININT1
    0x4C: -1,  # LONG
    0x4D: 2,  # BININT2
    0x4E: 0,  # NONE
    0x50: -1,  # PERSID
    0x51: 0,  # BINPERSID
    0x52: 0,  # REDUCE
    0x53: -1,  # STRING
    0x54: -14,  # BINSTRING
    0x55: -11,  # SHORT_BINSTRING
    0x56: -1,  # UNICODE
    0x58: -14,  # BINUNICODE
    0x61: 0,  # APPEND
    0x62: 0,  # BUILD
    0x63: -2,  # GLOBAL
    0x64: 0,  # DICT
    0x7D: 0,  # EMPTY_DICT
    0x65: 0,  # APPENDS
    0x67: -1,  # GET
    0x68: 1,  # BINGET
    0x69: -2,  # INST
    0x6A: 4,  # LONG_BINGET
    0x6C: 0,  # LIST
    0x5D: 0,  # EMPTY_LIST
    0x6F: 0,  # OBJ
    0x70: -1,  # PUT
    0x71: 1,  # BINPUT
    0x72: 4,  # LONG_BINPUT
    0x73: 0,  # SETITEM
    0x74: 0,  # TUPLE
    0x29: 0,  # EMPTY_TUPLE
    0x75: 0,  # SETITEMS
    0x47: 8,  # BINFLOAT
    0x80: 1,  # PROTO
    0x81: 0,  # NEWOBJ
    0x82: 1,  # EXT1
    0x83: 2,  # EXT2
    0x84: 4,  # EXT4
    0x85: 0,  # TUPLE1
    0x86: 0,  # TUPLE2
    0x87: 0,  # TUPLE3
    0x88: 0,  # NEWTRUE
    0x89: 0,  # NEWFALSE
    0x8A: -11,  # LONG1
    0x8B: -14,  # LONG4
    0x42: -14,  # BINBYTES
    0x43: -11,  # SHORT_BINBYTES
    0x8C: -11,  # SHORT_BINUNICODE
    0x8D: -18,  # BINUNICODE8
    0x8E: -18,  # BINBYTES8
    0x8F: 0,  # EMPTY_SET
    0x90: 0,  # ADDITEMS
    0x91: 0,  # FROZENSET
    0x92: 0,  # NEWOBJ_EX
    0x93: 0,  # STACK_GLOBAL
    0x94: 0,  # MEMOIZE
    0x95: 8,  # FRAME
    0x96: -18,  # BYTEARRAY8
    0x97: 0,  # NEXT_BUFFER
    0x98: 0,  # READONLY_BUFFER
}

_NAMES = {
    0x63: "GLOBAL",
    0x93: "STACK_GLOBAL",
    0x69: "INST",
    0x6F: "OBJ",
    0x82: "EXT1",
    0x83: "EXT2",
    0x84: "EXT4",
}


class PickleImport:
    """One callable or class a pickle imports (``find_class(module, name)``).

    Example:
        >>> PickleImport("os", "system", 2, "GLOBAL")
        PickleImport('os', 'system', offset=2, opcode='GLOBAL')
    """

    __slots__ = ("module", "name", "offset", "opcode")

    def __init__(self, module: str, name: str, offset: int, opcode: str) -> None:
        self.module = module
        self.name = name
        self.offset = offset
        self.opcode = opcode

    def __repr__(self) -> str:
        return (
            f"PickleImport({self.module!r}, {self.name!r}, offset={self.offset}, "
            f"opcode={self.opcode!r})"
        )


class PickleResult:
    """What :func:`walk_pickle` saw.

    ``error`` is set when the first pickle is malformed or truncated before its ``STOP``
    (everything imported before that point is still in ``imports``); ``tail`` describes bytes
    after the last complete pickle that are not a pickle.
    """

    def __init__(self) -> None:
        self.imports: list[PickleImport] = []
        self.unresolved: list[tuple[int, str, str]] = []
        self.pickles = 0
        #: Bytes walked (opcodes and their arguments, skipped payloads included).
        self.ops = 0
        self.protocol = 0
        self.error: str | None = None
        self.tail: str | None = None
        self.start = 0
        self.end = 0
        self.first_value: object = None
        self.persistent_ids = 0
        #: Bytes read from the source but not consumed when the walk stopped on junk.
        self.leftover = b""

    @property
    def looks_like_pickle(self) -> bool:
        """Something parsed and either a full pickle or an import was seen."""
        return self.ops > 0 and (self.pickles > 0 or bool(self.imports) or bool(self.unresolved))


class _Global:
    __slots__ = ("module", "name")

    def __init__(self, module: str, name: str) -> None:
        self.module = module
        self.name = name


class _Obj:
    __slots__ = ("args", "cls")

    def __init__(self, cls: object, args: object) -> None:
        self.cls = cls
        self.args = args


class _Bad(Exception):
    pass


_U = object()  # a value we do not track
_KEEP = (str, _Global, _Obj)  # memo values worth keeping (names, imports, objects)
_MARKV = object()
_JOBLIB_WRAPPERS = frozenset(["NumpyArrayWrapper"])
_I4 = struct.Struct("<i")
_U4 = struct.Struct("<I")
_U8 = struct.Struct("<Q")
_F8 = struct.Struct("<d")


def _itemsize(descr: object) -> int | None:
    """Bytes per element of a numpy dtype string such as ``'<f8'``; ``None`` if unknown/object."""
    if not isinstance(descr, str):
        return None
    s = descr.lstrip("<>|=")
    if not s:
        return None
    kind, num = s[0], s[1:]
    if kind == "?":
        return 1
    if kind == "O" or not num.isdigit():
        return None
    n = int(num)
    if kind == "U":
        return 4 * n
    if kind in "biufcmMVSa":
        return n
    return None


def walk_pickle(
    src: ByteSource,
    *,
    max_pickles: int | None = None,
    probe: bool = False,
) -> PickleResult:
    """Walk the pickle opcodes of ``src`` from its current position.

    ``max_pickles`` stops after that many complete pickles (``None``: until the stream ends or
    stops looking like a pickle). ``probe`` is for content of unknown type: it gives up at the
    first oddity instead of reporting it.

    Example:
        >>> res = walk_pickle(ByteSource.from_bytes(b"cos\\nsystem\\n(S'id'\\ntR."))
        >>> [(i.module, i.name) for i in res.imports], res.pickles
        ([('os', 'system')], 1)
    """
    res = PickleResult()
    res.start = src.pos
    base = src.pos  # absolute offset of buf[0]
    buf = b""
    i = 0
    blen = 0
    eof = False
    stack: list[object] = []
    marks: list[int] = []
    saved: list[tuple[list[object], list[int]]] = []  # outer stacks around joblib object arrays
    memo: dict[int, object] = {}
    bitmap = bytearray()
    memo_count = 0
    memo_exact = True
    dense = True  # no explicit PUT seen: the memo is exactly MEMOIZE's 0..memo_count-1
    proto = 0
    seg_start = src.pos  # absolute offset where the current pickle began
    in_tail = False
    imports = res.imports
    seen: set[tuple[str, str]] = set()
    op_base = 0  # base and index of the current opcode: offset = op_base + op_i, computed
    op_i = 0  # only when reported (no integer arithmetic per opcode on the hot path)

    def refill(need: int) -> bool:
        """Make ``need`` bytes available at ``buf[i:]``; False at end of stream."""
        nonlocal buf, i, blen, base, eof
        while blen - i < need:
            chunk = src.read_chunk()
            if not chunk:
                eof = True
                return False
            base += i
            buf = buf[i:] + chunk
            i = 0
            blen = len(buf)
        return True

    def take(n: int) -> bytes:
        nonlocal i
        if blen - i < n and not refill(n):
            raise _Bad("truncated argument")
        out = buf[i : i + n]
        i += n
        return out

    def skip(n: int) -> None:
        nonlocal buf, i, blen, base
        avail = blen - i
        if n <= avail:
            i += n
            return
        rest = n - avail
        buf, i, blen = b"", 0, 0
        got = src.skip(rest)
        base = src.pos
        if got != rest:
            raise _Bad("truncated payload")

    def line() -> bytes | None:
        """A newline-terminated argument; ``None`` if longer than we keep (then skipped)."""
        nonlocal i
        j = buf.find(b"\n", i)
        while j < 0:
            if blen - i > _LINE_MAX:
                # Too long to be a name: discard it in a streaming way.
                while True:
                    k = buf.find(b"\n", i)
                    if k >= 0:
                        i = k + 1
                        return None
                    i = blen
                    if not refill(1):
                        raise _Bad("unterminated line")
            start_len = blen - i
            if not refill(start_len + 1):
                raise _Bad("unterminated line")
            j = buf.find(b"\n", i + start_len)
        out = buf[i:j]
        i = j + 1
        return out

    def pop_mark() -> list[object]:
        if not marks:
            raise _Bad("no MARK on the stack")
        k = marks.pop()
        items = stack[k:]
        del stack[k:]
        return items

    def record(module: object, name: object, opname: str) -> None:
        if isinstance(module, str) and isinstance(name, str):
            key = (module, name)
            if key not in seen and len(imports) < _IMPORTS_MAX:
                seen.add(key)
                imports.append(PickleImport(module, name, op_base + op_i, opname))
        else:
            res.unresolved.append((op_base + op_i, opname, "module or name not a known string"))

    def memo_set(idx: int, value: object) -> None:
        nonlocal memo_count, memo_exact, dense
        if dense:
            # First explicit PUT: from now on track which indexes exist (len(memo) semantics).
            dense = False
            full, rest = divmod(memo_count, 8)
            bitmap.extend(b"\xff" * full + (bytes([(1 << rest) - 1]) if rest else b""))
        if idx < 0:
            raise _Bad("negative memo index")
        if idx >= _MEMO_BITMAP_MAX:
            memo_exact = False
            return
        byte = idx >> 3
        if byte >= len(bitmap):
            bitmap.extend(bytes(max(byte + 1 - len(bitmap), len(bitmap))))
        bit = 1 << (idx & 7)
        if not bitmap[byte] & bit:
            bitmap[byte] |= bit
            memo_count += 1
        if value is _U or len(memo) >= _MEMO_MAX_VALUES:
            # Not kept: a later GET of it yields "unknown", so a STACK_GLOBAL built from it is
            # reported unresolved (fail closed) instead of being resolved to a stale value.
            memo.pop(idx, None)
        else:
            memo[idx] = value

    def memo_get(idx: int) -> object:
        if not memo_exact:
            return _U
        return memo.get(idx, _U)

    def decode_line(raw: bytes | None, what: str) -> str | None:
        if raw is None:
            return None
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            if probe or in_tail:
                raise _Bad(f"{what} is not UTF-8") from None
            return raw.decode("latin-1")

    def is_name(s: str | None) -> bool:
        return s is not None and 0 < len(s) <= 512 and s.replace(".", "_").strip().isidentifier()

    while True:
        # One comparison per opcode while the buffer holds 16+ bytes; the rest only near the
        # end of a chunk.
        if blen - i < 16:
            if not eof:
                refill(16)
                # Checked once per chunk: at most one push per input byte in between.
                if len(stack) > _STACK_MAX or len(marks) > _STACK_MAX:
                    res.error = res.error or f"stack deeper than any real pickle at {base + i}"
                    break
            if i >= blen:
                if base + i > seg_start and res.pickles == 0:
                    res.error = f"truncated: stream ended before STOP at offset {base + i}"
                elif base + i > seg_start:
                    res.tail = (
                        f"truncated pickle at offset {base + i} after {res.pickles} pickle(s)"
                    )
                break
        op = buf[i]
        op_base = base
        op_i = i
        i += 1
        try:
            # Ordered roughly by frequency in real pickles.
            if op == 0x94:  # MEMOIZE
                if not stack:
                    raise _Bad("MEMOIZE on empty stack")
                top = stack[-1]
                if dense:
                    # Only MEMOIZE so far: indexes are exactly 0..memo_count-1, no bitmap needed.
                    if top.__class__ in _KEEP and len(memo) < _MEMO_MAX_VALUES:
                        memo[memo_count] = top
                    memo_count += 1
                else:
                    memo_set(memo_count, top if top.__class__ in _KEEP else _U)
            elif op == 0x8C and i < blen and i + 1 + buf[i] <= blen:
                # SHORT_BINUNICODE entirely in the buffer (the common case): no helper calls.
                n = buf[i]
                raw = buf[i + 1 : i + 1 + n]
                i += 1 + n
                try:
                    stack.append(raw.decode("utf-8", "surrogatepass"))
                except UnicodeDecodeError:
                    raise _Bad("invalid UTF-8 in a string") from None
            elif op == 0x71:  # BINPUT
                if not stack:
                    raise _Bad("PUT on empty stack")
                if i < blen:
                    idx = buf[i]
                    i += 1
                else:
                    idx = take(1)[0]
                top = stack[-1]
                memo_set(idx, top if top.__class__ in _KEEP else _U)
            elif op == 0x68:  # BINGET
                idx = take(1)[0]
                stack.append(memo_get(idx))
            elif op == 0x4B:  # BININT1
                if i < blen:  # fast path: the byte is in the buffer
                    stack.append(buf[i])
                    i += 1
                else:
                    stack.append(take(1)[0])
            elif op == 0x85:  # TUPLE1
                if not stack:
                    raise _Bad("stack underflow")
                stack[-1] = (stack[-1],)
            elif op == 0x86:  # TUPLE2
                if len(stack) < 2:
                    raise _Bad("stack underflow")
                b = stack.pop()
                stack[-1] = (stack[-1], b)
            elif op == 0x87:  # TUPLE3
                if len(stack) < 3:
                    raise _Bad("stack underflow")
                c = stack.pop()
                b = stack.pop()
                stack[-1] = (stack[-1], b, c)
            elif op == 0x4A:  # BININT
                stack.append(_I4.unpack(take(4))[0])
            elif op == 0x4D:  # BININT2
                stack.append(int.from_bytes(take(2), "little"))
            elif op == 0x47:  # BINFLOAT
                take(8)
                stack.append(_U)
            elif op == 0x8C or op == 0x58 or op == 0x8D:  # SHORT_BINUNICODE/BINUNICODE/8
                if op == 0x8C:
                    n = take(1)[0]
                elif op == 0x58:
                    n = _U4.unpack(take(4))[0]
                else:
                    n = _U8.unpack(take(8))[0]
                if n <= _SMALL:
                    raw = take(n)
                    try:
                        stack.append(raw.decode("utf-8", "surrogatepass"))
                    except UnicodeDecodeError:
                        raise _Bad("invalid UTF-8 in a string") from None
                else:
                    skip(n)
                    stack.append(_U)
            elif op == 0x28:  # MARK
                marks.append(len(stack))
            elif op == 0x65 or op == 0x75 or op == 0x90:  # APPENDS / SETITEMS / ADDITEMS
                items = pop_mark()
                if not stack:
                    raise _Bad("no container under MARK")
                if op == 0x75:
                    d = stack[-1]
                    if isinstance(d, dict) and len(d) < 64:
                        for k in range(0, len(items) - 1, 2):
                            key = items[k]
                            if isinstance(key, str):
                                d[key] = items[k + 1]
            elif op == 0x61:  # APPEND
                if len(stack) < 2:
                    raise _Bad("stack underflow")
                stack.pop()
            elif op == 0x73:  # SETITEM
                if len(stack) < 3:
                    raise _Bad("stack underflow")
                v = stack.pop()
                key = stack.pop()
                d = stack[-1]
                if isinstance(d, dict) and isinstance(key, str) and len(d) < 64:
                    d[key] = v
            elif op == 0x74:  # TUPLE
                stack.append(tuple(pop_mark()))
            elif op == 0x5D or op == 0x8F:  # EMPTY_LIST / EMPTY_SET
                stack.append(_U)
            elif op == 0x7D:  # EMPTY_DICT
                stack.append({})
            elif op == 0x29:  # EMPTY_TUPLE
                stack.append(())
            elif op == 0x4E:  # NONE
                stack.append(None)
            elif op == 0x88 or op == 0x89:
                stack.append(op == 0x88)
            elif op == 0x95:  # FRAME: framing is transparent to the opcode stream
                take(8)
            elif op == 0x80:  # PROTO
                proto = take(1)[0]
                if proto > 5 and (probe or in_tail):
                    raise _Bad(f"unsupported protocol {proto}")
                res.protocol = max(res.protocol, proto)
            elif op == 0x93:  # STACK_GLOBAL
                if len(stack) < 2:
                    raise _Bad("stack underflow")
                name = stack.pop()
                module = stack.pop()
                record(module, name, "STACK_GLOBAL")
                stack.append(
                    _Global(module, name)
                    if isinstance(module, str) and isinstance(name, str)
                    else _U
                )
            elif op == 0x63 or op == 0x69:  # GLOBAL / INST
                module_s = decode_line(line(), "module")
                name_s = decode_line(line(), "name")
                if (probe or in_tail) and not (is_name(module_s) and is_name(name_s)):
                    raise _Bad("not an import")
                opname = "GLOBAL" if op == 0x63 else "INST"
                record(module_s, name_s, opname)
                g: object = (
                    _Global(module_s, name_s) if module_s is not None and name_s is not None else _U
                )
                if op == 0x63:
                    stack.append(g)
                else:
                    stack.append(_Obj(g, tuple(pop_mark())))
            elif op == 0x52 or op == 0x81:  # REDUCE / NEWOBJ
                if len(stack) < 2:
                    raise _Bad("stack underflow")
                args = stack.pop()
                stack[-1] = _Obj(stack[-1], args)
            elif op == 0x92:  # NEWOBJ_EX
                if len(stack) < 3:
                    raise _Bad("stack underflow")
                stack.pop()
                args = stack.pop()
                stack[-1] = _Obj(stack[-1], args)
            elif op == 0x6F:  # OBJ
                items = pop_mark()
                if not items:
                    raise _Bad("OBJ without class")
                stack.append(_Obj(items[0], tuple(items[1:])))
            elif op == 0x62:  # BUILD
                if len(stack) < 2:
                    raise _Bad("stack underflow")
                state = stack.pop()
                target = stack[-1]
                if (
                    isinstance(target, _Obj)
                    and isinstance(target.cls, _Global)
                    and target.cls.name in _JOBLIB_WRAPPERS
                    and target.cls.module.startswith("joblib")
                    and isinstance(state, dict)
                ):
                    # joblib writes the array's raw bytes right after this BUILD.
                    dtype = state.get("dtype")
                    descr = (
                        dtype.args[0]
                        if isinstance(dtype, _Obj) and isinstance(dtype.args, tuple) and dtype.args
                        else None
                    )
                    size = _itemsize(descr)
                    shape = state.get("shape")
                    if descr == "O" or (isinstance(descr, str) and descr.lstrip("<>|=") == "O"):
                        # Object arrays are a nested pickle in the same stream.
                        stack.pop()
                        saved.append((stack, marks))
                        stack, marks = [], []
                        continue
                    if size is not None and isinstance(shape, tuple):
                        count = 1
                        for dim in shape:
                            if not isinstance(dim, int) or dim < 0:
                                count = -1
                                break
                            count *= dim
                        if count >= 0:
                            if "numpy_array_alignment_bytes" in state:
                                pad = take(1)[0]
                                skip(pad)
                            skip(count * size)
            elif op == 0x2E:  # STOP
                if len(stack) < 1 and not saved:
                    raise _Bad("STOP on empty stack")
                if saved:
                    stack, marks = saved.pop()
                    stack.append(_U)
                    continue
                if res.pickles == 0:
                    res.first_value = stack[-1] if stack and isinstance(stack[-1], int) else None
                res.pickles += 1
                res.end = base + i
                stack = []
                marks = []
                seg_start = base + i
                in_tail = True
                if max_pickles is not None and res.pickles >= max_pickles:
                    break
            elif op == 0x6A:  # LONG_BINGET
                stack.append(memo_get(_U4.unpack(take(4))[0]))
            elif op == 0x72:  # LONG_BINPUT
                if not stack:
                    raise _Bad("PUT on empty stack")
                top = stack[-1]
                memo_set(
                    _U4.unpack(take(4))[0],
                    top if top.__class__ in _KEEP else _U,
                )
            elif op == 0x70 or op == 0x67:  # PUT / GET (protocol 0, decimal index)
                raw_idx = line()
                try:
                    idx = int(raw_idx or b"")
                except ValueError:
                    raise _Bad("bad memo index") from None
                if op == 0x67:
                    stack.append(memo_get(idx))
                else:
                    if not stack:
                        raise _Bad("PUT on empty stack")
                    top = stack[-1]
                    memo_set(idx, top if top.__class__ in _KEEP else _U)
            elif op == 0x30:  # POP
                if stack and (not marks or marks[-1] < len(stack)):
                    stack.pop()
                elif marks:
                    marks.pop()
                else:
                    raise _Bad("POP on empty stack")
            elif op == 0x31:  # POP_MARK
                pop_mark()
            elif op == 0x32:  # DUP
                if not stack:
                    raise _Bad("DUP on empty stack")
                stack.append(stack[-1])
            elif op == 0x6C:  # LIST
                pop_mark()
                stack.append(_U)
            elif op == 0x64:  # DICT
                items = pop_mark()
                dd: dict[str, object] = {}
                for k in range(0, len(items) - 1, 2):
                    key = items[k]
                    if isinstance(key, str) and len(dd) < 64:
                        dd[key] = items[k + 1]
                stack.append(dd)
            elif op == 0x91:  # FROZENSET
                pop_mark()
                stack.append(_U)
            elif op == 0x53 or op == 0x56:  # STRING / UNICODE (protocol 0)
                raw_line = line()
                if raw_line is None:
                    stack.append(_U)
                elif op == 0x53:
                    stripped = raw_line.rstrip()
                    if (
                        len(stripped) < 2
                        or stripped[:1] not in (b"'", b'"')
                        or (stripped[-1:] != stripped[:1])
                    ):
                        raise _Bad("STRING argument not quoted")
                    try:
                        data = codecs.escape_decode(stripped[1:-1])[0]
                    except ValueError:
                        raise _Bad("bad escape in STRING") from None
                    # Python 3 decodes protocol 0-2 strings to str (encoding="ASCII" default).
                    stack.append(data.decode("latin-1"))
                else:
                    try:
                        stack.append(raw_line.decode("raw-unicode-escape"))
                    except UnicodeDecodeError:
                        raise _Bad("bad UNICODE argument") from None
            elif op == 0x54 or op == 0x55:  # BINSTRING / SHORT_BINSTRING
                n = take(1)[0] if op == 0x55 else _I4.unpack(take(4))[0]
                if n < 0:
                    raise _Bad("negative length")
                if n <= _SMALL:
                    stack.append(take(n).decode("latin-1"))
                else:
                    skip(n)
                    stack.append(_U)
            elif op == 0x42 or op == 0x43 or op == 0x8E or op == 0x96:  # bytes payloads
                if op == 0x43:
                    n = take(1)[0]
                elif op == 0x42:
                    n = _U4.unpack(take(4))[0]
                else:
                    n = _U8.unpack(take(8))[0]
                skip(n)
                stack.append(_U)
            elif op == 0x8A or op == 0x8B:  # LONG1 / LONG4
                n = take(1)[0] if op == 0x8A else _I4.unpack(take(4))[0]
                if n < 0:
                    raise _Bad("negative length")
                if n <= 64:
                    stack.append(int.from_bytes(take(n), "little", signed=True))
                else:
                    skip(n)
                    stack.append(_U)
            elif op == 0x49 or op == 0x4C or op == 0x46:  # INT / LONG / FLOAT (text)
                raw_line = line()
                try:
                    if raw_line is None:
                        val: object = _U
                    elif op == 0x46:
                        float(raw_line)
                        val = _U
                    else:
                        txt = raw_line.rstrip(b"L")
                        val = int(txt) if len(txt) < 64 else _U
                except ValueError:
                    raise _Bad("bad number") from None
                stack.append(val)
            elif op == 0x50:  # PERSID
                line()
                stack.append(_U)
                res.persistent_ids += 1
            elif op == 0x51:  # BINPERSID
                if not stack:
                    raise _Bad("stack underflow")
                stack[-1] = _U
                res.persistent_ids += 1
            elif op == 0x82 or op == 0x83 or op == 0x84:  # EXT1/2/4: copyreg registry
                take({0x82: 1, 0x83: 2, 0x84: 4}[op])
                res.unresolved.append(
                    (
                        op_base + op_i,
                        _NAMES[op],
                        "extension registry code (copyreg) resolves an import",
                    )
                )
                stack.append(_U)
            elif op == 0x97:  # NEXT_BUFFER
                stack.append(_U)
            elif op == 0x98:  # READONLY_BUFFER
                if not stack:
                    raise _Bad("stack underflow")
            else:
                raise _Bad(f"invalid opcode 0x{op:02x}")
        except _Bad as exc:
            op_offset = op_base + op_i
            if res.pickles > 0:
                res.tail = f"{exc} at offset {op_offset} after {res.pickles} pickle(s)"
            else:
                res.error = f"{exc} at offset {op_offset}"
            break
    res.ops = base + i - res.start
    if res.tail is not None:
        res.leftover = buf[i:]
    if res.end == 0:
        res.end = base + i
    return res


def iter_dotted(res: PickleResult) -> Iterable[tuple[str, str]]:
    """``(module, name)`` pairs of the imports of ``res`` (a convenience for callers)."""
    for imp in res.imports:
        yield imp.module, imp.name


_TAIL_GLOBAL = re.compile(rb"[ci]([A-Za-z_][\w. ]{0,200})\n([A-Za-z_][\w. ]{0,200})\n")


def _stack_global_pairs(window: bytes) -> list[tuple[str, str, int]]:
    """``SHORT_BINUNICODE m, [MEMOIZE], SHORT_BINUNICODE n, [MEMOIZE], STACK_GLOBAL`` runs."""
    out: list[tuple[str, str, int]] = []
    pos = window.find(b"\x93")
    while pos >= 0:
        j = pos
        strings: list[str] = []
        while len(strings) < 2 and j > 2:
            if window[j - 1] == 0x94 or window[j - 2] == 0x71:  # MEMOIZE / BINPUT n
                j -= 1 if window[j - 1] == 0x94 else 2
            found = False
            for n in range(1, min(256, j - 1)):
                k = j - n - 2
                if k >= 0 and window[k] == 0x8C and window[k + 1] == n:
                    try:
                        strings.append(window[k + 2 : j].decode("utf-8"))
                    except UnicodeDecodeError:
                        break
                    j = k
                    found = True
                    break
            if not found:
                break
        if len(strings) == 2 and all(s.replace(".", "_").isidentifier() for s in strings):
            out.append((strings[1], strings[0], pos))
        pos = window.find(b"\x93", pos + 1)
    return out


def scan_tail(src: ByteSource, budget: int, prefix: bytes = b"") -> list[PickleImport]:
    """Imports spelled in the bytes after junk that ended a walk (picklescan-style fallback).

    Some loaders resynchronise or seek past junk; a pickle hidden after garbage is still a
    pickle. This looks for ``GLOBAL``/``INST`` lines and ``STACK_GLOBAL`` string runs in the
    remaining stream (at most ``budget`` bytes), without walking it.

    Example:
        >>> src = ByteSource.from_bytes(b"xx\\x80\\x02cos\\nsystem\\n")
        >>> [(i.module, i.name) for i in scan_tail(src, 99)]
        [('os', 'system')]
    """
    out: list[PickleImport] = []
    seen: set[tuple[str, str]] = set()
    tail = b""
    read = 0
    pending = prefix
    while read < budget:
        start = src.pos - len(tail) - len(pending)
        chunk = pending or src.read_chunk()
        pending = b""
        if not chunk:
            break
        read += len(chunk)
        window = tail + chunk
        for m in _TAIL_GLOBAL.finditer(window):
            key = (m.group(1).decode("ascii"), m.group(2).decode("ascii"))
            if key not in seen:
                seen.add(key)
                out.append(PickleImport(key[0], key[1], start + m.start(), "GLOBAL"))
        for mod, name, pos in _stack_global_pairs(window):
            if (mod, name) not in seen:
                seen.add((mod, name))
                out.append(PickleImport(mod, name, start + pos, "STACK_GLOBAL"))
        tail = window[-1024:]
        if len(out) > 1000:
            break
    return out
