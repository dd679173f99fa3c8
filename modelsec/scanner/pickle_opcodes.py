"""The opcodes of the pickle walker: CPython's ``pickle._Unpickler``, minus what it executes.

Each ``load_<name>`` method below mirrors the method of the same name in CPython's
``Lib/pickle.py`` (3.10-3.13), in the same order, with the same argument parsing, the same
stack/metastack (MARK) discipline and the same memo, so the two can be read side by side.
Where the C unpickler (``_pickle.c``) or a loader (torch, joblib, numpy) accepts more than the
pure-Python one, the walker takes the union: it goes on wherever any of them would, and a
value only one of them would compute is UNKNOWN. It only differs in what it builds: tracked
stand-ins (:mod:`modelsec.scanner.pickle_values`) instead of objects, never calling anything.
"""

from __future__ import annotations

import codecs
import re
import struct
import sys

from modelsec.scanner.pickle_opcode_names import OPCODE_NAMES
from modelsec.scanner.pickle_stream import _SMALL, Bad, WalkerState
from modelsec.scanner.pickle_types import UNKNOWN, GlobalRef
from modelsec.scanner.pickle_values import MEMO_KEEP, LongBytes, Obj, TDict, TList

__all__ = ["OPCODE_NAMES", "Opcodes", "Stop"]

_U = UNKNOWN
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


class Stop(Exception):
    """STOP executed (``pickle._Stop``); ``args[0]`` is the value."""


def _is_name(s: object) -> bool:
    return isinstance(s, str) and 0 < len(s) <= 512 and s.replace(".", "_").strip().isidentifier()


class Opcodes(WalkerState):
    """One handler per opcode, named and ordered as in pickle.py's ``_Unpickler``.

    Example:
        >>> from modelsec.scanner.source import ByteSource
        >>> ops = Opcodes(ByteSource.from_bytes(b"\\x02os"), max_pickles=None, probe=False)
        >>> ops.load_short_binunicode(); ops.stack
        ['os']
    """

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
            self.append(data if n <= 256 else LongBytes(data) if self.keep_long else _U)

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
        if self.quiet:  # plain pickle.load: the copyreg registry is empty
            raise Bad(f"unregistered extension code {code}")
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
            if c < MEMO_KEEP:
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
        else:
            self.mutated(lst, "APPEND")

    def load_appends(self) -> None:
        items = self.pop_mark()
        lst = self.top()
        if lst.__class__ is TList:
            self.alloc += 8 * min(len(items), 64)
            lst.add(items)
        else:
            self.mutated(lst, "APPENDS")

    def load_setitem(self) -> None:
        value = self.pop()
        key = self.pop()
        d = self.top()
        if d.__class__ is TDict:
            self.alloc += 24
            d.put(key, value)
        else:
            self.mutated(d, "SETITEM")

    def load_setitems(self) -> None:
        items = self.pop_mark()
        d = self.top()
        if d.__class__ is TDict:
            self.alloc += 24 * min(len(items), 128)
            for k in range(0, len(items) - 1, 2):
                d.put(items[k], items[k + 1])
        else:
            self.mutated(d, "SETITEMS")
        if len(items) % 2:
            raise Bad("odd number of items for SETITEMS")

    def load_additems(self) -> None:
        self.pop_mark()
        self.mutated(self.top(), "ADDITEMS")

    def load_build(self) -> None:
        state = self.pop()
        inst = self.top()
        self.mutated(inst, "BUILD")  # a global given a state: its attributes are rewritten
        if isinstance(inst, Obj):
            from modelsec.scanner.pickle_joblib import instance_class, set_state

            cls = instance_class(inst)
            if cls is not None:
                self.call(cls, (state,), "BUILD")
            set_state(inst, state)
        if self.joblib and self.wrapper_seen:
            from modelsec.scanner.pickle_joblib import after_build

            after_build(self, inst)  # type: ignore[arg-type]  # self is the Walker

    def load_mark(self) -> None:
        self.metastack.append(self.stack)
        self.stack = []
        self.append = self.stack.append

    def load_stop(self) -> None:
        value = self.pop()
        raise Stop(value)

    def load_invalid(self) -> None:
        raise Bad(f"invalid opcode 0x{self.buf[self.i - 1]:02x}")
