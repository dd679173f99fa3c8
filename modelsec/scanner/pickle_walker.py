"""The pickle opcode walker: CPython's ``pickle._Unpickler``, minus everything it executes.

Each ``load_<name>`` method below mirrors the method of the same name in CPython's
``Lib/pickle.py`` (3.10-3.13), in the same order, with the same argument parsing, the same
stack/metastack (MARK) discipline and the same memo, so the two can be read side by side.
Where the C unpickler (``_pickle.c``) or a loader (torch, joblib, numpy) accepts more than the
pure-Python one, the walker takes the union: it goes on wherever any of them would, and a
value only one of them would compute is UNKNOWN. It only differs in what it builds: tracked
stand-ins (:mod:`modelsec.scanner.pickle_values`) instead of objects, never calling anything.

Memory is bounded by a structure budget, not by the input: the buffer is a 1 MiB window,
payloads are skipped, containers keep 64 items, the stack, the mark stack and the memo are
capped, and every 256 KiB the bytes allocated for tracked structures are checked; past the
budget every non-trivial tracked value becomes UNKNOWN (names built from it then fail closed).
"""

from __future__ import annotations

import codecs
import gc
import re
import struct
import sys

from modelsec.scanner.pickle_types import (
    UNKNOWN,
    GlobalRef,
    PickleCall,
    PickleImport,
    PickleResult,
)
from modelsec.scanner.pickle_values import (
    MEMO_KEEP as _MEMO_KEEP,
)
from modelsec.scanner.pickle_values import MISSING, Memo, Obj, TDict, TList, is_light, shallow
from modelsec.scanner.source import ByteSource

__all__ = ["Bad", "Walker"]

_U = UNKNOWN
_SMALL = 4096  # longer strings/bytes are never names: skipped, pushed as UNKNOWN
_LINE_MAX = 1 << 16  # protocol 0 lines longer than this are skipped, pushed as UNKNOWN
_STEP = 256 << 10  # budget checks every this many input bytes
_ALLOC_MAX = 96 << 20  # estimated bytes of tracked structures before they degrade
_STACK_MAX = 2_000_000  # stack items (all MARK levels) before the walk gives up (fail closed)
_MARKS_MAX = 100_000  # MARK nesting before the walk gives up (fail closed)
_IMPORTS_MAX = 10_000
_CALLS_MAX = 10_000
_UNRESOLVED_MAX = 10_000
_HIGHEST_PROTOCOL = 5  # pickle.HIGHEST_PROTOCOL for 3.8-3.13
_I4 = struct.Struct("<i")
_U2 = struct.Struct("<H")
_U4 = struct.Struct("<I")
_U8 = struct.Struct("<Q")
_D8 = struct.Struct(">d")
# C's load_int tries strtol(s, &end, 0) first: it also takes leading-zero octal ("010") and
# stops at a NUL, which Python's int(data, 0) rejects.
_C_STRTOL = re.compile(rb"[ \t\n\v\f\r]*([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)(?:\n|\x00)")
_NOT_STR = (int, float, bool, type(None), bytes, tuple, TList, TDict)


class Bad(Exception):
    """The unpicklers stop here (or the walker cannot stay in step with them).

    Example:
        >>> Walker(ByteSource.from_bytes(b"\\x80\\x09."), max_pickles=None, probe=False).run().error
        'unsupported pickle protocol: 9 at offset 0'
    """


class _Stop(Exception):
    pass


def _is_name(s: object) -> bool:
    return isinstance(s, str) and 0 < len(s) <= 512 and s.replace(".", "_").strip().isidentifier()


class Walker:
    """One walk over a pickle stream (see :func:`modelsec.scanner.pickle_scan.walk_pickle`).

    Example:
        >>> res = Walker(ByteSource.from_bytes(b"I0x10\\n."), max_pickles=None, probe=False).run()
        >>> res.int_values
        [16]
    """

    def __init__(self, src: ByteSource, *, max_pickles: int | None, probe: bool) -> None:
        self.src = src
        self.res = PickleResult()
        self.max_pickles = max_pickles
        self.probe = probe
        # Input window: buf[i:blen] is walkable now; blen stops every _STEP bytes for checks.
        self.buf = b""
        self.buflen = 0
        self.blen = 0
        self.i = 0
        self.base = src.pos  # absolute offset of buf[0]
        self.op_pos = src.pos
        self.frame_end = -1  # absolute end of the current FRAME (C reads frames transparently)
        # Unpickler state, named as in pickle.py.
        self.stack: list[object] = []
        self.append = self.stack.append
        self.metastack: list[list[object]] = []
        self.memo = Memo()
        #: Memo of a loader that reuses one Unpickler for consecutive pickles (shared memo).
        self.smemo: Memo | None = None
        self.proto = 0
        #: joblib's NumpyUnpickler semantics apply (not inside a nested object-array pickle).
        self.joblib = True
        self.wrapper_seen = False
        self.nested: list[tuple[object, ...]] = []
        self.alloc = 0
        self.seg_start = src.pos
        self.in_tail = False
        self.seen: set[tuple[str, str]] = set()
        table = [self.load_invalid] * 256
        for code, name in OPCODE_NAMES.items():
            table[code] = getattr(self, "load_" + name.lower())
        self.dispatch = table

    # --- input ------------------------------------------------------------------------------

    def _more(self) -> bool:
        """Append the next chunk of the source to the buffer; False at the end."""
        chunk = self.src.read_chunk()
        if not chunk:
            return False
        i = self.i
        self.base += i
        self.buf = self.buf[i:] + chunk
        self.i = 0
        self.blen -= i
        self.buflen = len(self.buf)
        return True

    def _fill(self, need: int) -> bool:
        """Make ``need`` bytes walkable at ``buf[i:]``; runs the budget checks on the way.

        The walkable window also stops at the end of the current FRAME, so that every read
        crossing it comes here (see :meth:`_frame_check`).
        """
        while self.blen - self.i < need:
            if self.frame_end >= 0:
                self._frame_check(need)
            if self.blen < self.buflen:
                limit = self.buflen
                if self.frame_end >= 0:
                    limit = min(limit, self.frame_end - self.base)
                self.blen = min(limit, max(self.i + need, self.blen + _STEP))
                self._checks()
            elif not self._more():
                return False
        return True

    def _frame_check(self, need: int) -> None:
        """An argument may not straddle the end of a FRAME.

        The unpicklers disagree there: Python's raises ("pickle exhausted before end of
        frame"), C's on a file with ``peek`` reads on, and C's on a file without ``peek``
        (``io.BytesIO``) drops the bytes left in the frame and reads the whole argument from
        after it. No single reading covers all three: fail closed.
        """
        end = self.frame_end - self.base
        if self.i >= end:
            self.frame_end = -1  # frame finished: reads go on in the plain stream
        elif self.i + need > end:
            self.fail("an argument straddles the end of a FRAME (unpicklers disagree)")

    def fail(self, why: str, opname: str = "FRAME") -> None:
        """Stop the walk and report an unresolved import: the walker cannot stay in step."""
        self.unresolved(opname, why)
        raise Bad(why)

    def read(self, n: int) -> bytes:
        i = self.i
        j = i + n
        if j <= self.blen:
            self.i = j
            return self.buf[i:j]
        if n > _SMALL:
            raise AssertionError("large reads are skipped, not read")
        if not self._fill(n):
            raise Bad("truncated argument")
        i = self.i
        self.i = i + n
        return self.buf[i : i + n]

    def read1(self) -> int:
        i = self.i
        if i < self.blen:
            self.i = i + 1
            return self.buf[i]
        if not self._fill(1):
            raise Bad("truncated argument")
        i = self.i
        self.i = i + 1
        return self.buf[i]

    def skip(self, n: int) -> None:
        if self.frame_end >= 0 and self.i + n > self.frame_end - self.base:
            self._frame_check(n)
        avail = self.buflen - self.i
        if n <= avail:
            self.i += n
            if self.i > self.blen:
                self.blen = self.i
            return
        rest = n - avail
        self.buf, self.i, self.buflen, self.blen = b"", 0, 0, 0
        got = self.src.skip(rest)
        self.base = self.src.pos
        if got != rest:
            raise Bad("truncated payload")

    def readline(self) -> bytes | None:
        """pickle's ``readline()``: through ``\\n`` (or to the end); ``None`` if over-long."""
        j = self.buf.find(b"\n", self.i, self.buflen)
        if self.frame_end >= 0 and (j < 0 or j >= self.frame_end - self.base):
            self._frame_check((j + 1 if j >= 0 else self.buflen + 1) - self.i)
        while j < 0:
            have = self.buflen - self.i
            if have > _LINE_MAX:
                self._skip_line()
                return None
            if not self._more():
                out = self.buf[self.i : self.buflen]
                self.i = self.blen = self.buflen
                return out
            j = self.buf.find(b"\n", self.i + have, self.buflen)
        if j - self.i > _LINE_MAX:
            self._skip_line()
            return None
        out = self.buf[self.i : j + 1]
        self.i = j + 1
        if self.i > self.blen:
            self.blen = self.i
        return out

    def _skip_line(self) -> None:
        """Consume an over-long line in a streaming way (it is pushed as UNKNOWN)."""
        while True:
            k = self.buf.find(b"\n", self.i, self.buflen)
            if k >= 0:
                self.i = k + 1
                self.blen = max(self.blen, self.i)
                return
            self.i = self.blen = self.buflen
            if not self._more():
                return

    @property
    def pos(self) -> int:
        """Absolute offset of the next unread byte."""
        return self.base + self.i

    # --- bookkeeping ------------------------------------------------------------------------

    def _checks(self) -> None:
        """Budget checks, every _STEP input bytes (not per opcode: they are not free)."""
        if len(self.metastack) > _MARKS_MAX:
            self.fail(f"MARK nesting deeper than {_MARKS_MAX} (walk stopped)", "MARK")
        depth = len(self.stack) + sum(len(s) for s in self.metastack)
        if depth > _STACK_MAX:
            self.fail(f"more than {_STACK_MAX} items on the stack (walk stopped)", "STACK")
        if self.alloc > _ALLOC_MAX:
            self.shrink()

    def shrink(self) -> None:
        """Structure budget spent: every tracked value but scalars and names becomes UNKNOWN."""
        self.res.degraded += 1
        stacks = [self.stack, *self.metastack]
        memos = [self.memo, self.smemo]
        for ctx in self.nested:
            stacks.append(ctx[0])  # type: ignore[arg-type]
            stacks.extend(ctx[1])  # type: ignore[arg-type]
            memos.extend((ctx[2], ctx[3]))  # type: ignore[arg-type]
        for lst in stacks:
            for k, v in enumerate(lst):
                if not is_light(v):
                    lst[k] = _U
        for memo in memos:
            if memo is not None:
                memo.shrink()
        self.alloc = 0
        gc.collect()  # lists appended to themselves are cycles: free them too

    def record(self, module: object, name: object, opname: str) -> None:
        """``find_class(module, name)``."""
        if isinstance(module, str) and isinstance(name, str):
            key = (module, name)
            if key not in self.seen and len(self.res.imports) < _IMPORTS_MAX:
                self.seen.add(key)
                self.res.imports.append(PickleImport(module, name, self.op_pos, opname))
            if name.rpartition(".")[2] in _WRAPPER_NAMES and _is_joblib_module(module):
                self.wrapper_seen = True
        else:
            self.unresolved(opname, "module or name not a known string")

    def unresolved(self, opname: str, why: str) -> None:
        if len(self.res.unresolved) < _UNRESOLVED_MAX:
            self.res.unresolved.append((self.op_pos, opname, why))

    def call(self, func: object, args: object, opname: str) -> None:
        """Record a call whose callable is a resolved global."""
        if func.__class__ is GlobalRef and len(self.res.calls) < _CALLS_MAX:
            a = shallow(args)
            self.res.calls.append(
                PickleCall(
                    func.module,
                    func.name,
                    a if isinstance(a, tuple) else (a,),
                    self.op_pos,
                    opname,
                )
            )

    def memo_get(self, idx: int) -> object:
        """``memo[idx]`` under both memo models (fresh per pickle, shared across pickles)."""
        v = self.memo.get(idx)
        smemo = self.smemo
        if smemo is None:
            if v is MISSING:
                # The unpicklers stop here, unless the loader pre-filled ``Unpickler.memo``:
                # whatever that value is, it is unknown to us (fail closed).
                self.unresolved("GET", f"memo index {idx} never written")
                raise Bad(f"Memo value not found at index {idx}")
            return v
        s = smemo.get(idx)
        if v is MISSING:
            return _U if s is MISSING else s
        if s is MISSING or s is v:
            return v
        return _U  # the two loaders see different values here: fail closed

    def memo_put(self, idx: int, value: object) -> None:
        self.memo.put(idx, value)
        if self.smemo is not None:
            self.smemo.put(idx, value)

    def pop_mark(self) -> list[object]:
        items = self.stack
        if not self.metastack:
            raise Bad("no MARK on the stack")
        self.stack = self.metastack.pop()
        self.append = self.stack.append
        return items

    def pop(self) -> object:
        if not self.stack:
            raise Bad("stack underflow")
        return self.stack.pop()

    def top(self) -> object:
        if not self.stack:
            raise Bad("stack underflow")
        return self.stack[-1]

    def new_obj(self, cls: object, args: object, kind: str) -> Obj:
        self.alloc += 120
        obj = Obj(cls, args, kind)
        if cls.__class__ is GlobalRef and self.wrapper_seen:
            from modelsec.scanner.pickle_joblib import init_wrapper

            init_wrapper(obj)
        return obj

    # --- the opcodes, in pickle.py's order --------------------------------------------------

    def load_proto(self) -> None:
        proto = self.read1()
        if not 0 <= proto <= _HIGHEST_PROTOCOL:
            raise Bad(f"unsupported pickle protocol: {proto}")
        self.proto = proto
        self.res.protocol = max(self.res.protocol, proto)

    def load_frame(self) -> None:
        (frame_size,) = _U8.unpack(self.read(8))
        if frame_size > sys.maxsize:
            raise Bad(f"frame size > sys.maxsize: {frame_size}")
        left = self.frame_left()
        if left:
            # Python raises; C reads the new frame out of the current one's buffer when it
            # fits (transparent), else (no peek) drops the rest and reads it from the file.
            if frame_size > left:
                self.fail("FRAME inside a FRAME that it overruns (unpicklers disagree)")
            return
        self.frame_end = self.pos + frame_size
        self.blen = min(self.blen, max(self.i, self.frame_end - self.base))

    def load_persid(self) -> None:
        raw = self.readline()
        if raw is not None:
            try:
                raw[:-1].decode("ascii")
            except UnicodeDecodeError:
                raise Bad("persistent IDs in protocol 0 must be ASCII strings") from None
        self.res.persistent_ids += 1
        self.append(_U)  # persistent_load(pid): the loader's own, result unknown

    def load_binpersid(self) -> None:
        self.pop()
        self.res.persistent_ids += 1
        self.append(_U)

    def load_none(self) -> None:
        self.append(None)

    def load_false(self) -> None:
        self.append(False)

    def load_true(self) -> None:
        self.append(True)

    def load_int(self) -> None:
        data = self.readline()
        val: object
        if data is None:
            val = _U
        elif data == b"00\n":
            val = False
        elif data == b"01\n":
            val = True
        else:
            try:
                val = int(data, 0)
            except ValueError:
                m = _C_STRTOL.match(data)
                if m is None:
                    raise Bad("invalid literal for INT") from None
                # Only the C unpickler goes on (strtol); its value, as it computes it.
                txt = m.group(2)
                base = 16 if txt[:2] in (b"0x", b"0X") else 8 if txt[:1] == b"0" else 10
                val = int(txt, base) * (-1 if m.group(1) == b"-" else 1)
                if len(data) == 3 and val in (0, 1):
                    val = bool(val)
        self.append(val)

    def load_binint(self) -> None:
        self.append(_I4.unpack(self.read(4))[0])

    def load_binint1(self) -> None:
        self.append(self.read1())

    def load_binint2(self) -> None:
        self.append(_U2.unpack(self.read(2))[0])

    def load_long(self) -> None:
        raw = self.readline()
        if raw is None:
            self.append(_U)
            return
        val = raw[:-1]
        if val and val[-1] == 0x4C:  # b"L"
            val = val[:-1]
        try:
            self.append(int(val, 0))
        except ValueError:
            raise Bad("invalid literal for LONG") from None

    def load_long1(self) -> None:
        n = self.read1()
        self.append(int.from_bytes(self.read(n), "little", signed=True))

    def load_long4(self) -> None:
        (n,) = _I4.unpack(self.read(4))
        if n < 0:
            raise Bad("LONG pickle has negative byte count")
        if n <= 64:
            self.append(int.from_bytes(self.read(n), "little", signed=True))
        else:
            self.skip(n)
            self.append(_U)

    def load_float(self) -> None:
        raw = self.readline()
        if raw is None:
            self.append(_U)
            return
        try:
            self.append(float(raw[:-1]))
        except ValueError:
            if b"\x00" not in raw:  # C's strtod stops at a NUL: only it might go on
                raise Bad("could not convert string to float") from None
            self.append(_U)

    def load_binfloat(self) -> None:
        self.append(_D8.unpack(self.read(8))[0])

    def _decode_string(self, value: bytes) -> object:
        # Loaders differ (pickle/joblib/numpy: ASCII, torch: utf-8, some latin-1 or bytes):
        # ASCII reads the same in all of them; anything else is UNKNOWN (names fail closed).
        return value.decode("ascii") if value.isascii() else _U

    def load_string(self) -> None:
        raw = self.readline()
        if raw is None:
            self.append(_U)
            return
        data = raw[:-1]
        if len(data) >= 2 and data[0] == data[-1] and data[0] in b"\"'":
            data = data[1:-1]
        else:
            raise Bad("the STRING opcode argument must be quoted")
        try:
            value = codecs.escape_decode(data)[0]
        except ValueError:
            raise Bad("bad escape in STRING") from None
        self.append(self._decode_string(value))

    def load_binstring(self) -> None:
        (n,) = _I4.unpack(self.read(4))
        if n < 0:
            raise Bad("BINSTRING pickle has negative byte count")
        self._push_bytes(n, text=True)

    def _push_bytes(self, n: int, *, text: bool = False, utf8: bool = False) -> None:
        if n > _SMALL:
            self.skip(n)
            self.append(_U)
            return
        data = self.read(n)
        if n > 64:
            self.alloc += n + 49
        if utf8:
            try:
                self.append(data.decode("utf-8", "surrogatepass"))
            except UnicodeDecodeError:
                raise Bad("invalid UTF-8 in a string") from None
        elif text:
            self.append(self._decode_string(data))
        else:
            self.append(data if n <= 256 else _U)

    def load_binbytes(self) -> None:
        self._push_bytes(_U4.unpack(self.read(4))[0])

    def load_unicode(self) -> None:
        raw = self.readline()
        if raw is None:
            self.append(_U)
            return
        try:
            self.append(str(raw[:-1], "raw-unicode-escape"))
        except UnicodeDecodeError:
            raise Bad("bad UNICODE argument") from None

    def load_binunicode(self) -> None:
        self._push_bytes(_U4.unpack(self.read(4))[0], utf8=True)

    def load_binunicode8(self) -> None:
        (n,) = _U8.unpack(self.read(8))
        if n > sys.maxsize:
            raise Bad("BINUNICODE8 exceeds system's maximum size")
        self._push_bytes(n, utf8=True)

    def load_binbytes8(self) -> None:
        (n,) = _U8.unpack(self.read(8))
        if n > sys.maxsize:
            raise Bad("BINBYTES8 exceeds system's maximum size")
        self._push_bytes(n)

    def load_bytearray8(self) -> None:
        (n,) = _U8.unpack(self.read(8))
        if n > sys.maxsize:
            raise Bad("BYTEARRAY8 exceeds system's maximum size")
        self.skip(n)
        self.append(_U)

    def load_next_buffer(self) -> None:
        # Default loaders pass no buffers (an error there); a custom one might: go on.
        self.append(_U)

    def load_readonly_buffer(self) -> None:
        self.top()

    def load_short_binstring(self) -> None:
        self._push_bytes(self.read1(), text=True)

    def load_short_binbytes(self) -> None:
        self._push_bytes(self.read1())

    def load_short_binunicode(self) -> None:
        i = self.i
        if i < self.blen:
            n = self.buf[i]
            j = i + 1 + n
            if j <= self.blen:  # the common case, in the buffer: no helper calls
                self.i = j
                if n > 64:
                    self.alloc += n + 49
                try:
                    self.append(str(self.buf[i + 1 : j], "utf-8", "surrogatepass"))
                except UnicodeDecodeError:
                    raise Bad("invalid UTF-8 in a string") from None
                return
        self._push_bytes(self.read1(), utf8=True)

    def load_tuple(self) -> None:
        items = self.pop_mark()
        self.alloc += 56 + 8 * len(items)
        self.append(tuple(items))

    def load_empty_tuple(self) -> None:
        self.append(())

    def load_tuple1(self) -> None:
        stack = self.stack
        if not stack:
            raise Bad("stack underflow")
        self.alloc += 64
        stack[-1] = (stack[-1],)

    def load_tuple2(self) -> None:
        stack = self.stack
        if len(stack) < 2:
            raise Bad("stack underflow")
        self.alloc += 72
        b = stack.pop()
        stack[-1] = (stack[-1], b)

    def load_tuple3(self) -> None:
        stack = self.stack
        if len(stack) < 3:
            raise Bad("stack underflow")
        self.alloc += 80
        c = stack.pop()
        b = stack.pop()
        stack[-1] = (stack[-1], b, c)

    def load_empty_list(self) -> None:
        self.alloc += 120
        self.append(TList())

    def load_empty_dictionary(self) -> None:
        self.alloc += 240
        self.append(TDict())

    def load_empty_set(self) -> None:
        self.append(_U)

    def load_frozenset(self) -> None:
        self.pop_mark()
        self.append(_U)

    def load_list(self) -> None:
        items = self.pop_mark()
        self.alloc += 120 + 8 * min(len(items), 64)
        self.append(TList(items))

    def load_dict(self) -> None:
        items = self.pop_mark()
        if len(items) % 2:
            raise Bad("odd number of items for DICT")
        d = TDict()
        self.alloc += 240 + 24 * min(len(items), 128)
        for k in range(0, len(items), 2):
            d.put(items[k], items[k + 1])
        self.append(d)

    def _instantiate(self, klass: object, args: list[object], opname: str) -> None:
        targs = tuple(args)
        self.call(klass, targs, opname)
        self.append(self.new_obj(klass, targs, opname))

    def load_inst(self) -> None:
        module = self._line_text("ascii")
        name = self._line_text("ascii")
        if self.probe and not (_is_name(module) and _is_name(name)):
            raise Bad("not an import")
        self.record(module, name, "INST")
        klass = GlobalRef(module, name) if type(module) is str and type(name) is str else _U
        self._instantiate(klass, self.pop_mark(), "INST")

    def load_obj(self) -> None:
        args = self.pop_mark()
        if not args:
            raise Bad("OBJ without class")
        cls = args.pop(0)
        self._instantiate(cls, args, "OBJ")

    def load_newobj(self) -> None:
        args = self.pop()
        cls = self.pop()
        self.call(cls, args, "NEWOBJ")
        self.append(self.new_obj(cls, args, "NEWOBJ"))

    def load_newobj_ex(self) -> None:
        kwargs = self.pop()
        args = self.pop()
        cls = self.pop()
        self.call(cls, (args, kwargs), "NEWOBJ_EX")
        self.append(self.new_obj(cls, args, "NEWOBJ_EX"))

    def _line_text(self, encoding: str) -> object:
        raw = self.readline()
        if raw is None:
            return _U
        try:
            return raw[:-1].decode(encoding)
        except UnicodeDecodeError:
            raise Bad(f"GLOBAL/INST name is not {encoding}") from None

    def load_global(self) -> None:
        module = self._line_text("utf-8")
        name = self._line_text("utf-8")
        if self.probe and not (_is_name(module) and _is_name(name)):
            raise Bad("not an import")
        self.record(module, name, "GLOBAL")
        self.append(GlobalRef(module, name) if type(module) is str and type(name) is str else _U)

    def load_stack_global(self) -> None:
        name = self.pop()
        module = self.pop()
        if isinstance(name, _NOT_STR) or isinstance(module, _NOT_STR):
            raise Bad("STACK_GLOBAL requires str")
        self.record(module, name, "STACK_GLOBAL")
        self.append(GlobalRef(module, name) if type(module) is str and type(name) is str else _U)

    def load_ext1(self) -> None:
        self.get_extension(self.read1())

    def load_ext2(self) -> None:
        self.get_extension(_U2.unpack(self.read(2))[0])

    def load_ext4(self) -> None:
        self.get_extension(_I4.unpack(self.read(4))[0])

    def get_extension(self, code: int) -> None:
        if code <= 0:
            raise Bad("EXT specifies code <= 0")
        self.unresolved("EXT", "extension registry code (copyreg) resolves an import")
        self.append(_U)

    def load_reduce(self) -> None:
        stack = self.stack
        if len(stack) < 2:
            raise Bad("stack underflow")
        args = stack.pop()
        func = stack[-1]
        self.call(func, args, "REDUCE")
        stack[-1] = self.new_obj(func, args, "REDUCE")

    def load_pop(self) -> None:
        if self.stack:
            del self.stack[-1]
        else:
            self.pop_mark()

    def load_pop_mark(self) -> None:
        self.pop_mark()

    def load_dup(self) -> None:
        self.append(self.top())

    def _text_index(self) -> int:
        raw = self.readline()
        try:
            return int((raw or b"")[:-1])
        except ValueError:
            raise Bad("bad memo index") from None

    def load_get(self) -> None:
        self.append(self.memo_get(self._text_index()))

    def load_binget(self) -> None:
        self.append(self.memo_get(self.read1()))

    def load_long_binget(self) -> None:
        self.append(self.memo_get(_U4.unpack(self.read(4))[0]))

    def load_put(self) -> None:
        i = self._text_index()
        if i < 0:
            raise Bad("negative PUT argument")
        self.memo_put(i, self.top())

    def load_binput(self) -> None:
        i = self.read1()
        self.memo_put(i, self.top())

    def load_long_binput(self) -> None:
        i = _U4.unpack(self.read(4))[0]
        self.memo_put(i, self.top())

    def load_memoize(self) -> None:
        stack = self.stack
        if not stack:
            raise Bad("MEMOIZE on empty stack")
        memo = self.memo
        if memo.dense and self.smemo is None:  # the common case: indexes are 0..count-1
            c = memo.count
            memo.count = c + 1
            if c < _MEMO_KEEP:
                memo.values[c] = stack[-1]
            return
        memo.memoize(stack[-1])
        if self.smemo is not None:
            self.smemo.memoize(stack[-1])

    def load_append(self) -> None:
        value = self.pop()
        lst = self.top()
        if lst.__class__ is TList:
            self.alloc += 8
            lst.add([value])

    def load_appends(self) -> None:
        items = self.pop_mark()
        lst = self.top()
        if lst.__class__ is TList:
            self.alloc += 8 * min(len(items), 64)
            lst.add(items)

    def load_setitem(self) -> None:
        value = self.pop()
        key = self.pop()
        d = self.top()
        if d.__class__ is TDict:
            self.alloc += 24
            d.put(key, value)

    def load_setitems(self) -> None:
        items = self.pop_mark()
        d = self.top()
        if d.__class__ is TDict:
            self.alloc += 24 * min(len(items), 128)
            for k in range(0, len(items) - 1, 2):
                d.put(items[k], items[k + 1])
        if len(items) % 2:
            raise Bad("odd number of items for SETITEMS")

    def load_additems(self) -> None:
        self.pop_mark()
        self.top()

    def load_build(self) -> None:
        state = self.pop()
        inst = self.top()
        if inst.__class__ is Obj:
            from modelsec.scanner.pickle_joblib import instance_class, set_state

            cls = instance_class(inst)
            if cls is not None:
                self.call(cls, (state,), "BUILD")
            set_state(inst, state)
        if self.joblib and self.wrapper_seen:
            from modelsec.scanner.pickle_joblib import after_build

            after_build(self, inst)

    def load_mark(self) -> None:
        self.metastack.append(self.stack)
        self.stack = []
        self.append = self.stack.append

    def load_stop(self) -> None:
        value = self.pop()
        raise _Stop(value)

    def load_invalid(self) -> None:
        raise Bad(f"invalid opcode 0x{self.buf[self.i - 1]:02x}")

    # --- nested pickles (joblib object arrays) ----------------------------------------------

    def frame_left(self) -> int:
        """Bytes of the current FRAME not read yet (Python's unpickler holds them aside)."""
        return max(0, self.frame_end - self.pos)

    def begin_nested(self) -> None:
        """A loader calls ``pickle.load`` on the same file: fresh stack, marks and memo."""
        if self.frame_left():
            self.fail("nested pickle starts inside a FRAME (loaders disagree where)")
        self.nested.append(
            (self.stack, self.metastack, self.memo, self.smemo, self.proto, self.joblib)
        )
        self.stack = []
        self.append = self.stack.append
        self.metastack = []
        self.memo = Memo()
        self.smemo = None
        self.proto = 0
        self.joblib = False  # the inner Unpickler is a plain one
        self.frame_end = -1

    def _end_nested(self) -> None:
        ctx = self.nested.pop()
        self.stack, self.metastack, self.memo, self.smemo, self.proto, self.joblib = ctx  # type: ignore[assignment]
        self.append = self.stack.append
        self.append(_U)  # the array the wrapper read

    # --- the loop ---------------------------------------------------------------------------

    def _stopped(self, value: object) -> bool:
        """A STOP executed; True when the walk is over."""
        res = self.res
        more = self.nested or self.max_pickles != res.pickles + 1
        if self.frame_left() and more and self._fill(1):
            # Python's unpickler has read the whole frame, C only up to STOP: the next read
            # (a nested pickle's end, the next pickle) starts at different offsets.
            self.fail("FRAME continues past STOP (loaders disagree where the next read starts)")
        self.frame_end = -1
        if self.nested:
            self._end_nested()
            return False
        if res.pickles == 0:
            res.first_value = value if type(value) is int else None
        res.int_values.append(value if type(value) in (int, bool) else None)  # type: ignore[arg-type]
        res.pickles += 1
        res.end = self.pos
        self.seg_start = self.pos
        self.in_tail = True
        self.stack = []
        self.append = self.stack.append
        self.metastack = []
        # Next pickle: pickle.load starts a fresh memo; a reused Unpickler keeps its own.
        self.smemo = self.smemo if self.smemo is not None else self.memo
        self.memo = Memo()
        self.proto = 0
        return self.max_pickles is not None and res.pickles >= self.max_pickles

    def run(self) -> PickleResult:
        res = self.res
        res.start = self.src.pos
        while True:
            try:
                try:
                    self._loop()
                    self._at_eof()
                    return self._finish()
                except _Stop as stop:
                    if self._stopped(stop.args[0]):
                        return self._finish()
            except Bad as exc:
                if res.pickles > 0 and not self.nested:
                    res.tail = f"{exc} at offset {self.op_pos} after {res.pickles} pickle(s)"
                else:
                    res.error = f"{exc} at offset {self.op_pos}"
                return self._finish()

    def _loop(self) -> None:
        """Dispatch opcodes until the end of the stream (returns) or a STOP (raises _Stop).

        The most frequent opcodes are inlined here, with the buffer, the stack and the budget
        counter in locals: each inline branch is the ``load_<name>`` method of the same
        opcode, statement for statement, for the case where its argument is already in the
        buffer (the methods handle the rest and stay the reference). Everything else goes
        through the dispatch table, with the locals written back first.
        """
        dispatch = self.dispatch
        buf, i, blen, stack, alloc = self.buf, self.i, self.blen, self.stack, self.alloc
        push = stack.append
        memo = self.memo
        fast_memo = memo.dense and self.smemo is None
        values = memo.values
        while True:
            if i >= blen:
                self.i, self.alloc = i, alloc
                if not self._fill(1):
                    return
                buf, i, blen, alloc = self.buf, self.i, self.blen, self.alloc
                memo = self.memo  # a budget check may have shrunk it
                values = memo.values
            op = buf[i]
            i += 1
            if op == 0x94 and fast_memo and stack:  # MEMOIZE (load_memoize, dense memo)
                c = memo.count
                memo.count = c + 1
                if c < _MEMO_KEEP:
                    values[c] = stack[-1]
            elif op == 0x8C and i < blen and i + 1 + buf[i] <= blen:  # SHORT_BINUNICODE
                n = buf[i]
                j = i + 1 + n
                if n > 64:
                    alloc += n + 49
                try:
                    push(str(buf[i + 1 : j], "utf-8", "surrogatepass"))
                except UnicodeDecodeError:
                    self.op_pos = self.base + i - 1
                    raise Bad("invalid UTF-8 in a string") from None
                i = j
            elif op == 0x4B and i < blen:  # BININT1
                push(buf[i])
                i += 1
            elif op == 0x68 and i < blen and self.smemo is None:  # BINGET
                v = values.get(buf[i], MISSING)
                if v is MISSING:
                    self.op_pos = self.base + i - 1
                    v = self.memo_get(buf[i])
                push(v)
                i += 1
            elif op == 0x86 and len(stack) >= 2:  # TUPLE2
                alloc += 72
                b = stack.pop()
                stack[-1] = (stack[-1], b)
            elif op == 0x85 and stack:  # TUPLE1
                alloc += 64
                stack[-1] = (stack[-1],)
            elif op == 0x87 and len(stack) >= 3:  # TUPLE3
                alloc += 80
                c3 = stack.pop()
                b = stack.pop()
                stack[-1] = (stack[-1], b, c3)
            elif op == 0x47 and i + 8 <= blen:  # BINFLOAT
                push(_D8.unpack(buf[i : i + 8])[0])
                i += 8
            elif op == 0x4E:  # NONE
                push(None)
            elif op == 0x28:  # MARK
                self.metastack.append(stack)
                stack = self.stack = []
                push = self.append = stack.append
            elif op == 0x7D:  # EMPTY_DICT
                alloc += 240
                push(TDict())
            elif op == 0x5D:  # EMPTY_LIST
                alloc += 120
                push(TList())
            elif op == 0x73 and len(stack) >= 3:  # SETITEM
                value = stack.pop()
                key = stack.pop()
                d = stack[-1]
                if d.__class__ is TDict:
                    alloc += 24
                    d.put(key, value)
            elif op == 0x61 and len(stack) >= 2:  # APPEND
                value = stack.pop()
                lst = stack[-1]
                if lst.__class__ is TList:
                    alloc += 8
                    if len(lst) < 64:
                        lst.append(value)
                    else:
                        lst.lossy = True
            elif op == 0x4D and i + 2 <= blen:  # BININT2
                push(buf[i] | buf[i + 1] << 8)
                i += 2
            elif op == 0x4A and i + 4 <= blen:  # BININT
                push(_I4.unpack(buf[i : i + 4])[0])
                i += 4
            else:
                self.op_pos = self.base + i - 1
                self.i, self.alloc = i, alloc
                dispatch[op]()
                buf, i, blen, stack, alloc = self.buf, self.i, self.blen, self.stack, self.alloc
                push = stack.append
                memo = self.memo
                fast_memo = memo.dense and self.smemo is None
                values = memo.values

    def _at_eof(self) -> None:
        res = self.res
        if self.nested:
            res.error = f"truncated: stream ended inside a nested pickle at offset {self.pos}"
        elif self.pos > self.seg_start and res.pickles == 0:
            res.error = f"truncated: stream ended before STOP at offset {self.pos}"
        elif self.pos > self.seg_start:
            res.tail = f"truncated pickle at offset {self.pos} after {res.pickles} pickle(s)"

    def _finish(self) -> PickleResult:
        res = self.res
        res.ops = self.pos - res.start
        if res.tail is not None:
            res.leftover = self.buf[self.i : self.buflen]
        if res.end == 0:
            res.end = self.pos
        return res


#: Opcode byte -> name, in the order of pickle.py's dispatch table.
OPCODE_NAMES: dict[int, str] = {
    0x80: "PROTO",
    0x95: "FRAME",
    0x50: "PERSID",
    0x51: "BINPERSID",
    0x4E: "NONE",
    0x89: "FALSE",
    0x88: "TRUE",
    0x49: "INT",
    0x4A: "BININT",
    0x4B: "BININT1",
    0x4D: "BININT2",
    0x4C: "LONG",
    0x8A: "LONG1",
    0x8B: "LONG4",
    0x46: "FLOAT",
    0x47: "BINFLOAT",
    0x53: "STRING",
    0x54: "BINSTRING",
    0x42: "BINBYTES",
    0x56: "UNICODE",
    0x58: "BINUNICODE",
    0x8D: "BINUNICODE8",
    0x8E: "BINBYTES8",
    0x96: "BYTEARRAY8",
    0x97: "NEXT_BUFFER",
    0x98: "READONLY_BUFFER",
    0x55: "SHORT_BINSTRING",
    0x43: "SHORT_BINBYTES",
    0x8C: "SHORT_BINUNICODE",
    0x74: "TUPLE",
    0x29: "EMPTY_TUPLE",
    0x85: "TUPLE1",
    0x86: "TUPLE2",
    0x87: "TUPLE3",
    0x5D: "EMPTY_LIST",
    0x7D: "EMPTY_DICTIONARY",
    0x8F: "EMPTY_SET",
    0x91: "FROZENSET",
    0x6C: "LIST",
    0x64: "DICT",
    0x69: "INST",
    0x6F: "OBJ",
    0x81: "NEWOBJ",
    0x92: "NEWOBJ_EX",
    0x63: "GLOBAL",
    0x93: "STACK_GLOBAL",
    0x82: "EXT1",
    0x83: "EXT2",
    0x84: "EXT4",
    0x52: "REDUCE",
    0x30: "POP",
    0x31: "POP_MARK",
    0x32: "DUP",
    0x67: "GET",
    0x68: "BINGET",
    0x6A: "LONG_BINGET",
    0x70: "PUT",
    0x71: "BINPUT",
    0x72: "LONG_BINPUT",
    0x94: "MEMOIZE",
    0x61: "APPEND",
    0x65: "APPENDS",
    0x73: "SETITEM",
    0x75: "SETITEMS",
    0x90: "ADDITEMS",
    0x62: "BUILD",
    0x28: "MARK",
    0x2E: "STOP",
}

_WRAPPER_NAMES = frozenset(["NumpyArrayWrapper", "NDArrayWrapper", "ZNDArrayWrapper"])


def _is_joblib_module(module: str) -> bool:
    return module == "joblib" or module.startswith(("joblib.", "sklearn.externals.joblib"))
