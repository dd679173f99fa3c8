"""The pickle walker's loop: dispatch, STOP between pickles, end of stream.

See :mod:`modelsec.scanner.pickle_opcodes` for the opcodes (CPython's ``_Unpickler`` side by
side) and :mod:`modelsec.scanner.pickle_stream` for the input and the structure budget.
"""

from __future__ import annotations

import struct

from modelsec.scanner.pickle_opcodes import OPCODE_NAMES, Opcodes, Stop
from modelsec.scanner.pickle_stream import Bad
from modelsec.scanner.pickle_types import UNKNOWN, PickleResult
from modelsec.scanner.pickle_values import MEMO_KEEP as _MEMO_KEEP
from modelsec.scanner.pickle_values import MISSING, Memo, TDict, TList, is_light
from modelsec.scanner.source import ByteSource

__all__ = ["OPCODE_NAMES", "Bad", "Walker"]

_I4 = struct.Struct("<i")
_D8 = struct.Struct(">d")
_SHADOW_MAX = 1 << 20
_U = UNKNOWN


class Walker(Opcodes):
    """One walk over a pickle stream (see :func:`modelsec.scanner.pickle_scan.walk_pickle`).

    Example:
        >>> res = Walker(ByteSource.from_bytes(b"I0x10\\n."), max_pickles=None, probe=False).run()
        >>> res.int_values
        [16]
    """

    def __init__(self, src: ByteSource, *, max_pickles: int | None, probe: bool) -> None:
        super().__init__(src, max_pickles=max_pickles, probe=probe)
        table = [self.load_invalid] * 256
        for code, name in OPCODE_NAMES.items():
            table[code] = getattr(self, "load_" + name.lower())
        self.dispatch = table

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
                except Stop as stop:
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
        through the dispatch table, with the locals written back first. An inline opcode
        that pops or reads past the top of the current MARK level raises IndexError, turned
        into the same stop as the methods' explicit checks (the unpicklers stop there too).
        """
        dispatch = self.dispatch
        buf, i, blen, stack, alloc = self.buf, self.i, self.blen, self.stack, self.alloc
        push = stack.append
        memo = self.memo
        fast_memo = memo.dense and self.smemo is None
        values = memo.values
        try:
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
                if op == 0x94 and fast_memo:  # MEMOIZE (load_memoize, dense memo)
                    top = stack[-1]
                    c = memo.count
                    memo.count = c + 1
                    if c < _MEMO_KEEP:
                        values[c] = top
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
                elif op == 0x86:  # TUPLE2
                    alloc += 72
                    b = stack.pop()
                    stack[-1] = (stack[-1], b)
                elif op == 0x85:  # TUPLE1
                    alloc += 64
                    stack[-1] = (stack[-1],)
                elif op == 0x87:  # TUPLE3
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
                elif op == 0x73:  # SETITEM
                    value = stack.pop()
                    key = stack.pop()
                    d = stack[-1]
                    if d.__class__ is TDict:
                        alloc += 24
                        d.put(key, value)
                    else:
                        self.op_pos = self.base + i - 1
                        self.mutated(d, "SETITEM")
                elif op == 0x61:  # APPEND
                    value = stack.pop()
                    lst = stack[-1]
                    if lst.__class__ is TList:
                        alloc += 8
                        if len(lst) < 64:
                            lst.append(value)
                        else:
                            lst.lossy = True
                    else:
                        self.op_pos = self.base + i - 1
                        self.mutated(lst, "APPEND")
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
        except IndexError:
            self.op_pos = self.base + i - 1
            raise Bad("stack underflow") from None

    def shadow(self) -> None:
        """Walk what follows as a plain ``pickle.load`` would, where joblib reads raw bytes.

        joblib's loader reads an array's bytes (or a nested pickle) right after a wrapper's
        BUILD; ``pickle.load`` of the same file reads those bytes as opcodes of the outer
        pickle. Both readings must be covered: a copy of the state (names and scalars only:
        containers become UNKNOWN, so the copy cannot alter the main walk's view) walks the
        next bytes (at most 1 MiB) quietly, and its imports join the main result. It stops
        where ``pickle.load`` would; if it is still going at the end of its window, the walk
        fails closed. (Object arrays are not shadowed: read by ``pickle.load``, their nested
        pickle's memo indexes point into the outer memo and benign files would resolve
        junk names; that reading is a known gap.)
        """
        while self.buflen - self.i < _SHADOW_MAX and self._more():
            pass
        data = self.buf[self.i : self.i + _SHADOW_MAX]
        if not data or data[0] not in OPCODE_NAMES or data[0] == 0x2E:
            return  # invalid opcode (joblib's padding byte is 1..16) or STOP: pickle.load ends
        sh = Walker(ByteSource.from_bytes(data), max_pickles=None, probe=False)
        sh.quiet = True
        sh.joblib = False
        sh.keep_long = self.keep_long
        sh.proto = self.proto
        sh.memo = self.memo.clone_light()
        sh.stack = [v if is_light(v) else _U for v in self.stack]
        sh.append = sh.stack.append
        sh.metastack = [[v if is_light(v) else _U for v in lst] for lst in self.metastack]
        res = sh.run()
        base = self.pos
        for imp in res.imports:
            self.record(imp.module, imp.name, imp.opcode, base + imp.offset)
        for off, opname, why in res.unresolved:
            self.res.unresolved.append((base + off, opname, why))
        self.res.calls.extend(res.calls[: max(0, 10_000 - len(self.res.calls))])
        # What the lambda judge counts on: every opaque call and code construction seen.
        self.res.opaque_sites.extend(res.opaque_sites)
        self.res.opaque_sites.extend([None] * (res.opaque_calls - len(res.opaque_sites)))
        self.res.code_calls.extend(res.code_calls)
        for call in res.calls:
            call.offset += base
        if len(data) == _SHADOW_MAX and res.ops >= len(data) and self._fill(len(data) + 1):
            self.fail("joblib array bytes read as pickle opcodes run past 1 MiB", "BUILD")

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
