"""The state of a pickle walk: the input window, the stack, the memo, the budget.

:class:`WalkerState` holds what CPython's ``pickle._Unpickler`` holds (``stack``,
``metastack``, ``memo``, ``proto``) plus what the walker needs to read like every unpickler at
once: a windowed input buffer that skips payloads and stops at FRAME ends, a second memo for
loaders that reuse one Unpickler across pickles, the saved outer states of nested pickles, and
the structure budget. The opcodes are in :mod:`modelsec.scanner.pickle_opcodes`, the loop in
:mod:`modelsec.scanner.pickle_walker`.

Memory is bounded by a structure budget, not by the input: the buffer is a 1 MiB window,
payloads are skipped, containers keep 64 items, the stack, the mark stack and the memo are
capped, and every 256 KiB the bytes allocated for tracked structures are checked; past the
budget every non-trivial tracked value becomes UNKNOWN (names built from it then fail closed).
"""

from __future__ import annotations

import gc

from modelsec.scanner.pickle_types import (
    UNKNOWN,
    GlobalRef,
    PickleCall,
    PickleImport,
    PickleResult,
)
from modelsec.scanner.pickle_values import MISSING, Memo, Obj, full, is_light, shallow
from modelsec.scanner.source import ByteSource

__all__ = ["Bad", "WalkerState"]

_U = UNKNOWN
_SMALL = 4096  # longer strings/bytes are never names: skipped, pushed as UNKNOWN
_LINE_MAX = 1 << 16  # protocol 0 lines longer than this are skipped, pushed as UNKNOWN
_STEP = 256 << 10  # budget checks every this many input bytes
_ALLOC_MAX = 96 << 20  # estimated bytes of tracked structures before they degrade
_STACK_MAX = 2_000_000  # stack items (all MARK levels) before the walk gives up (fail closed)
_MARKS_MAX = 100_000  # MARK nesting before the walk gives up (fail closed)
_IMPORTS_MAX = 10_000
_CALLS_MAX = 10_000
#: Names that build code objects (cloudpickle's ``_builtin_type('CodeType')``, dill).
_CODE_BUILDERS = frozenset(["_builtin_type", "_create_code"])
_SITES_MAX = 1_000  # opaque call sites and code constructions kept (more: not provable)
#: ``getattr(dill._dill, '_setattr', setattr)``: how dill reaches its setter for closure cells.
DILL_SETATTR = (
    "builtins",
    "getattr",
    (GlobalRef("dill", "_dill"), "_setattr", GlobalRef("builtins", "setattr")),
)
#: The opaque-site record of that setter called on a cell dill made, for ``cell_contents``.
DILL_CELL_FILL = ("dill._dill", "_setattr", ("cell_contents",), "REDUCE")


def _fills_dill_cell(args: object) -> bool:
    """``args`` are ``(cell, 'cell_contents', value)`` for a cell from ``_create_cell``."""
    if args.__class__ is not tuple or len(args) != 3 or args[1] != "cell_contents":
        return False
    cell = args[0]
    return cell.__class__ is Obj and cell.cls == GlobalRef("dill._dill", "_create_cell")


_UNRESOLVED_MAX = 10_000


class Bad(Exception):
    """The unpicklers stop here (or the walker cannot stay in step with them).

    Example:
        >>> from modelsec.scanner.pickle_scan import walk_pickle
        >>> walk_pickle(ByteSource.from_bytes(b"\\x80\\x09.")).error
        'unsupported pickle protocol: 9 at offset 0'
    """


class WalkerState:
    """Input, unpickler state and bookkeeping of one walk (opcodes come from subclasses).

    Example:
        >>> state = WalkerState(ByteSource.from_bytes(b"ab"), max_pickles=None, probe=False)
        >>> state.read(2), state.pos
        (b'ab', 2)
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
        #: A shadow walk (see :meth:`~modelsec.scanner.pickle_walker.Walker.shadow`): stops
        #: quietly where a plain ``pickle.load`` stops, reporting only what it imports.
        self.quiet = False
        #: Keep bytes longer than 256 (as LongBytes): set once a code constructor is imported,
        #: so files that build no code pay nothing for it.
        self.keep_long = False

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
        if not self.quiet:
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

    def record(self, module: object, name: object, opname: str, offset: int = -1) -> None:
        """``find_class(module, name)`` (at the current opcode unless ``offset`` is given)."""
        if isinstance(module, str) and isinstance(name, str):
            key = (module, name)
            if key not in self.seen and len(self.res.imports) < _IMPORTS_MAX:
                self.seen.add(key)
                at = self.op_pos if offset < 0 else offset
                self.res.imports.append(PickleImport(module, name, at, opname))
            if name.rpartition(".")[2] in _WRAPPER_NAMES and _is_joblib_module(module):
                self.wrapper_seen = True
            if name in _CODE_BUILDERS:
                self.keep_long = True
        else:
            self.unresolved(opname, "module or name not a known string")

    def unresolved(self, opname: str, why: str) -> None:
        if len(self.res.unresolved) < _UNRESOLVED_MAX:
            self.res.unresolved.append((self.op_pos, opname, why))

    def call(self, func: object, args: object, opname: str) -> None:
        """Record a call whose callable is a resolved global."""
        if func.__class__ is not GlobalRef or len(self.res.calls) >= _CALLS_MAX:
            if opname != "BUILD":  # a state given to an object: no callable chosen here
                self.res.opaque_calls += 1
                if func.__class__ is Obj:
                    self._opaque_site(func, args, opname)
                elif len(self.res.opaque_sites) < _SITES_MAX:
                    self.res.opaque_sites.append(None)
        else:
            if func.name == "_create_code" and opname == "REDUCE":
                self._code_call(func.module, func.name, args)
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

    def mutated(self, target: object, opname: str) -> None:
        """``opname`` writes into ``target``: recorded when it is an imported object."""
        if target.__class__ is GlobalRef and len(self.res.mutations) < _SITES_MAX:
            self.res.mutations.append((target.module, target.name, opname, self.op_pos))

    def _opaque_site(self, func: Obj, args: object, opname: str) -> None:
        """An opaque call's callable, when it is the result of a call of a global.

        cloudpickle builds code with ``_builtin_type('CodeType')(*fields)``: that call's
        arguments are recorded in full (:meth:`_code_call`) for the bytecode judge.
        """
        res = self.res
        cls = func.cls
        if cls.__class__ is not GlobalRef or len(res.opaque_sites) >= _SITES_MAX:
            if len(res.opaque_sites) < _SITES_MAX:
                res.opaque_sites.append(None)
            return
        made_by = (cls.module, cls.name, shallow(func.args))
        if made_by == DILL_SETATTR and opname == "REDUCE" and _fills_dill_cell(args):
            # dill fills a closure cell it made with _create_cell as
            # getattr(dill._dill, '_setattr', setattr)(cell, 'cell_contents', value).
            res.opaque_sites.append(DILL_CELL_FILL)
            return
        res.opaque_sites.append((*made_by, opname))
        if made_by[1] == "_builtin_type" and made_by[2] == ("CodeType",) and opname == "REDUCE":
            self._code_call(cls.module, "_builtin_type", args)

    def _code_call(self, module: str, name: str, args: object) -> None:
        """Keep a code object's construction arguments whole (bytes up to the walker's cap)."""
        if len(self.res.code_calls) < _SITES_MAX:
            a = full(args)
            self.res.code_calls.append(
                PickleCall(module, name, a if isinstance(a, tuple) else (a,), self.op_pos, "REDUCE")
            )

    def memo_get(self, idx: int) -> object:
        """``memo[idx]`` under both memo models (fresh per pickle, shared across pickles)."""
        v = self.memo.get(idx)
        smemo = self.smemo
        if smemo is None:
            if v is MISSING:
                # The unpicklers stop here, unless the loader pre-filled ``Unpickler.memo``:
                # whatever that value is, it is unknown to us (fail closed).
                if not self.quiet:
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


_WRAPPER_NAMES = frozenset(["NumpyArrayWrapper", "NDArrayWrapper", "ZNDArrayWrapper"])


def _is_joblib_module(module: str) -> bool:
    return module == "joblib" or module.startswith(("joblib.", "sklearn.externals.joblib"))
