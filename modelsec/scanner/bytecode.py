"""The bytecode judge: is a code object a pickle builds provably inert?

cloudpickle and dill pickle a lambda by value: the pickle builds a code object from raw
bytecode and a function around it. The interpreter never verifies bytecode, and the code
object is loaded into whatever CPython unpickles the file, so the same bytes are judged under
every target interpreter (the scan's ``target_python``, :mod:`modelsec.scanner.interpreters`)
that could load them, each with its own opcode numbering (``data/bytecode.json``, derived by
``scripts/gen_bytecode.py`` from CPython's own files).

A code object is inert under one version when all hold:

* no cell variables (its free variables are the closure cloudpickle and dill fill with values
  the pickle walk judges), no exception table, plain flags (no generator/coroutine), inert
  constants (None, bools, numbers, strings, bytes, tuples of those), argument counts
  consistent with its locals;
* every instruction some path from the start reaches is an allowlisted pure one (loads and
  stores of locals, constants and free variables; reads of globals that are no builtin of
  the version, i.e. module constants the pickle stores with the function; arithmetic,
  comparisons, truth tests, subscripts and slices, tuples/lists, stack shuffles, returns,
  forward jumps; never attributes, imports or calls) or a byte the version does not define
  (the eval loop raises ``SystemError`` there); its inline cache units are zero; every byte,
  reached or not, is laid out as quickening expects;
* along every path (only forward jumps: each path ends), operands are in bounds, locals are
  read only once assigned on every path, free variables only after ``COPY_FREE_VARS``
  copied exactly the closure, the stack never underflows nor exceeds ``co_stacksize``,
  paths join with equal depths, and a return comes before the end.

What the pure instructions call on values (``__add__``, ``__getitem__``, ``__bool__``...) belongs
to the values: the caller's arguments, or defaults, closure values and globals the walk judges.

A target without tables (CPython 3.8-3.10, PyPy, later versions) is never proven inert.

Example:
    >>> code = CodeArgs(argcount=1, nlocals=1, stacksize=2, flags=3,
    ...                 code=bytes([151, 0, 124, 0, 100, 0, 122, 0, 0, 0, 83, 0]),
    ...                 consts=(2,), varnames=("x",))
    >>> judge_version(code, "3.11") is None
    True
    >>> judge_version(code, "3.13")
    'CPython 3.13: BINARY_OP_ADD_INT at offset 0 is not an allowlisted pure instruction'
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from modelsec.scanner.interpreters import ANY_PYTHON, KNOWN_PYTHONS, resolve_targets
from modelsec.scanner.pickle_types import UNKNOWN

__all__ = ["CodeArgs", "code_args", "judge_code", "judge_version"]

#: CodeType arities (cloudpickle passes the constructor's positional arguments) -> versions.
_CODETYPE_VERSIONS = {18: ("3.11", "3.12", "3.13", "3.14"), 16: ("3.8", "3.9", "3.10")}
#: dill's ``_create_code`` converts any stored layout to the loading interpreter's CodeType.
_DILL_VERSIONS = KNOWN_PYTHONS
#: Function flags that change nothing at run time for straight-line code: OPTIMIZED,
#: NEWLOCALS, VARARGS, VARKEYWORDS, NESTED, NOFREE, and the ``from __future__`` bits.
_FLAGS_OK = 0x1 | 0x2 | 0x4 | 0x8 | 0x10 | 0x40 | 0x3FE0000
_MAX_STACK = 1 << 16
_MAX_CODE = 4096  # bytes of co_code judged at most (the walker keeps bytes up to 4 KiB)
_CMP_OPS = 6


class CodeArgs:
    """The fields of a code object the judge needs (defaults: an empty function).

    Example:
        >>> CodeArgs(argcount=1, varnames=("x",), nlocals=1).argcount
        1
    """

    __slots__ = (
        "argcount",
        "cellvars",
        "code",
        "consts",
        "exceptiontable",
        "flags",
        "freevars",
        "kwonlyargcount",
        "names",
        "nlocals",
        "posonlyargcount",
        "stacksize",
        "varnames",
        "versions",
    )

    def __init__(
        self,
        *,
        argcount: object = 0,
        posonlyargcount: object = 0,
        kwonlyargcount: object = 0,
        nlocals: object = 0,
        stacksize: object = 0,
        flags: object = 3,
        code: object = b"",
        consts: object = (),
        names: object = (),
        varnames: object = (),
        freevars: object = (),
        cellvars: object = (),
        exceptiontable: object = b"",
        versions: tuple[str, ...] = ("3.11",),
    ) -> None:
        self.argcount = argcount
        self.posonlyargcount = posonlyargcount
        self.kwonlyargcount = kwonlyargcount
        self.nlocals = nlocals
        self.stacksize = stacksize
        self.flags = flags
        self.code = code
        self.consts = consts
        self.names = names
        self.varnames = varnames
        self.freevars = freevars
        self.cellvars = cellvars
        self.exceptiontable = exceptiontable
        self.versions = versions


def _fields(args: tuple[object, ...], versions: tuple[str, ...]) -> CodeArgs | str:
    """CodeType's positional arguments (16: 3.8-3.10 layout, 18: 3.11+) -> CodeArgs."""
    n = len(args)
    if n == 18:
        (ac, po, ko, nl, ss, fl, co, cs, nm, vn, _fn, _n, _q, _fl, _lt, et, fv, cv) = args
    elif n == 16:
        (ac, po, ko, nl, ss, fl, co, cs, nm, vn, _fn, _n, _fl, _lt, fv, cv) = args
        et = b""
    else:
        return f"a code object built with {n} arguments (no known CodeType layout)"
    return CodeArgs(
        argcount=ac,
        posonlyargcount=po,
        kwonlyargcount=ko,
        nlocals=nl,
        stacksize=ss,
        flags=fl,
        code=co,
        consts=cs,
        names=nm,
        varnames=vn,
        freevars=fv,
        cellvars=cv,
        exceptiontable=et,
        versions=versions,
    )


def code_args(module: str, name: str, args: tuple[object, ...]) -> CodeArgs | str:
    """The code object a recorded construction builds, or why it cannot be judged.

    ``module.name`` is the constructor: ``cloudpickle``'s ``_builtin_type('CodeType')``
    result (recorded as ``<module>._builtin_type``) or ``dill._dill._create_code``.

    Example:
        >>> code_args("dill._dill", "_create_code", (1, 2))
        'a code object built with 2 arguments (no known CodeType layout)'
    """
    if name == "_create_code":
        rest = args[1:] if args and type(args[0]) is not int else args
        if len(rest) == 17:  # PyPy's layout: only PyPy (no tables) loads it natively
            return "a code object in PyPy's layout"
        if len(rest) == 15:
            return "a code object in CPython 3.7's layout"
        return _fields(tuple(rest), _DILL_VERSIONS)
    return _fields(args, _CODETYPE_VERSIONS.get(len(args), ()))


@cache
def _tables() -> dict[str, Any]:
    text = resources.files("modelsec.scanner").joinpath("data/bytecode.json").read_text()
    return json.loads(text)["versions"]  # type: ignore[no-any-return]


def _inert_const(value: object, depth: int = 0) -> bool:
    cls = value.__class__
    if cls in (int, float, str, bool, type(None)) or isinstance(value, bytes):
        return True
    if cls is tuple and depth < 8:
        return all(_inert_const(v, depth + 1) for v in value)  # type: ignore[attr-defined]
    return False


def _shape(c: CodeArgs) -> str | None:
    """Version-independent checks of the code object's fields."""
    ints = (c.argcount, c.posonlyargcount, c.kwonlyargcount, c.nlocals, c.stacksize, c.flags)
    if any(type(v) is not int or v < 0 for v in ints):
        return "a count or flag field is not a non-negative int"
    if c.flags & ~_FLAGS_OK:  # type: ignore[operator]
        return f"flags 0x{c.flags:x} (generator, coroutine or unknown)"
    nm = c.names
    if type(nm) is not tuple or not all(type(v) is str for v in nm):
        return "its names (co_names) are not strings"
    if c.cellvars != ():
        return "it has cell variables (a nested function shares its locals)"
    fv = c.freevars
    if type(fv) is not tuple or not all(type(v) is str for v in fv):
        return "its free variable names are not strings"
    if c.exceptiontable != b"":
        return "it has an exception table"
    vn = c.varnames
    if type(vn) is not tuple or not all(type(v) is str for v in vn) or len(vn) != c.nlocals:
        return "its local variable names do not match co_nlocals"
    nargs = c.argcount + c.kwonlyargcount + bool(c.flags & 4) + bool(c.flags & 8)  # type: ignore[operator]
    if c.posonlyargcount > c.argcount or nargs > c.nlocals:  # type: ignore[operator]
        return "its argument counts exceed its locals"
    if type(c.consts) is not tuple or not _inert_const(c.consts):
        return "a constant is not plain data (or is itself code)"
    if c.code is UNKNOWN:
        return f"its bytecode is longer than {_MAX_CODE} bytes (or computed)"
    if not isinstance(c.code, bytes) or len(c.code) % 2 or not c.code:
        return "its bytecode is not a non-empty even-length byte string"
    if len(c.code) > _MAX_CODE:
        return f"its bytecode is longer than {_MAX_CODE} bytes"
    if c.stacksize > _MAX_STACK:  # type: ignore[operator]
        return "co_stacksize is implausibly large"
    return None


class _Path:
    """What the judge knows on entry to an instruction, on every path reaching it."""

    __slots__ = ("assigned", "depth", "frees")

    def __init__(self, depth: int, assigned: frozenset[int], frees: bool) -> None:
        self.depth = depth  # values on the stack
        self.assigned = assigned  # locals certainly bound
        self.frees = frees  # COPY_FREE_VARS ran: the free-variable slots hold the closure


def _join(paths: dict[int, _Path], at: int, new: _Path) -> str | None:
    """Merge ``new`` into the paths reaching offset ``at``; why not, when they disagree."""
    old = paths.get(at)
    if old is None:
        paths[at] = new
        return None
    if old.depth != new.depth:  # the compiler never emits this: the stack would be garbage
        return f"paths join at offset {at} with different stack depths"
    paths[at] = _Path(old.depth, old.assigned & new.assigned, old.frees and new.frees)
    return None


def judge_version(c: CodeArgs, version: str) -> str | None:
    """None when ``c`` is inert (or raises before doing anything) under ``version``.

    Every path from the first instruction is followed (only forward jumps are allowlisted,
    so each path ends, and one pass in offset order sees every path into an instruction
    before it); bytes no path reaches are never executed and only need to be laid out as
    quickening expects.

    Example:
        >>> judge_version(CodeArgs(code=b"\\x53\\x00"), "3.11")
        'CPython 3.11: stack underflow at offset 0 (RETURN_VALUE)'
    """
    bad = _shape(c)
    if bad is not None:
        return bad
    table = _tables().get(version)
    if table is None:
        return f"no opcode tables for {'PyPy' if version == 'pypy' else 'CPython ' + version}"
    code: bytes = c.code  # type: ignore[assignment]
    defined: dict[str, str] = table["defined"]
    stack_fx: dict[str, list[int]] = table["stack"]
    jumps: dict[str, list[int | bool]] = table["jumps"]
    op_caches: dict[str, int] = table["op_caches"]
    where = f"CPython {version}"
    # Quickening (and instrumentation, when a monitor is on) walks the whole array, reachable
    # or not: every instruction's inline caches must lie inside it, and no instruction may be
    # one of the instrumentation opcodes that look up per-code monitoring data.
    starts: list[int] = []
    i = 0
    while i < len(code):
        name = defined.get(str(code[i]))
        if name is not None and (
            name.startswith(("INSTRUMENTED_", "<")) or name == "ENTER_EXECUTOR"
        ):
            return f"{where}: {name} at offset {i} reads interpreter-private state"
        end = i + 2 + 2 * op_caches.get(str(code[i]), 0)
        if end > len(code):
            return f"{where}: inline cache of {name} at offset {i} runs past the end"
        starts.append(i)
        i = end
    is_start = set(starts)
    flags: int = c.flags  # type: ignore[assignment]
    nargs = c.argcount + c.kwonlyargcount + bool(flags & 4) + bool(flags & 8)  # type: ignore[operator]
    frame = _Frame(c, table)
    paths = {0: _Path(0, frozenset(range(nargs)), False)}
    for i in starts:
        path = paths.pop(i, None)
        if path is None:
            continue  # no path reaches it: never executed
        op, arg = code[i], code[i + 1]
        name = defined.get(str(op))
        if name is None:
            continue  # the eval loop raises SystemError (unknown opcode) here: path ends
        if name not in jumps and name not in stack_fx:
            return f"{where}: {name} at offset {i} is not an allowlisted pure instruction"
        caches = op_caches.get(str(op), 0)
        if any(code[i + 2 : i + 2 + 2 * caches]):
            return f"{where}: inline cache of {name} at offset {i} is not zero"
        after = i + 2 + 2 * caches
        if name in jumps:
            pops_jump, pops_fall, always = jumps[name]
            if path.depth < max(pops_jump, pops_fall):
                return f"{where}: stack underflow at offset {i} ({name})"
            target = after + 2 * arg
            if target not in is_start:
                return f"{where}: {name} at offset {i} jumps outside the instructions"
            taken = _Path(path.depth - int(pops_jump), path.assigned, path.frees)
            why = _join(paths, target, taken)
            if why is None and not always:
                why = _join(
                    paths, after, _Path(path.depth - int(pops_fall), path.assigned, path.frees)
                )
            if why is not None:
                return f"{where}: {why}"
            continue
        pops, per_arg, pushes = stack_fx[name]
        need = pops + per_arg * arg
        why = frame.operand(name, arg, path)
        if why is not None:
            return f"{where}: {why} at offset {i} ({name})"
        if path.depth < need:
            return f"{where}: stack underflow at offset {i} ({name})"
        path.depth += pushes - need
        if path.depth > c.stacksize:  # type: ignore[operator]
            return f"{where}: stack deeper than co_stacksize at offset {i} ({name})"
        if name in ("RETURN_VALUE", "RETURN_CONST"):
            continue  # this path ends
        why = _join(paths, after, path)
        if why is not None:
            return f"{where}: {why}"
    if paths:
        return f"{where}: execution runs past the end of the bytecode"
    return None


class _Frame:
    """Operand checks against the code object's fields (locals, constants, free variables)."""

    __slots__ = ("builtins", "cmp_shift", "names", "nb_ops", "nconsts", "nfree", "nlocals")

    def __init__(self, c: CodeArgs, table: dict[str, Any]) -> None:
        self.names: tuple[str, ...] = c.names  # type: ignore[assignment]
        self.builtins = frozenset(table["builtins"])
        self.nlocals: int = c.nlocals  # type: ignore[assignment]
        self.nconsts = len(c.consts)  # type: ignore[arg-type]
        self.nfree = len(c.freevars)  # type: ignore[arg-type]
        self.nb_ops: int = table["nb_ops"]
        self.cmp_shift: int = table["cmp_shift"]

    def operand(self, name: str, arg: int, path: _Path) -> str | None:
        """Why ``arg`` is out of bounds for ``name`` (None when fine); tracks stores."""
        if name in ("LOAD_CONST", "RETURN_CONST"):
            return None if arg < self.nconsts else "constant index out of range"
        if name in ("LOAD_FAST", "LOAD_FAST_BORROW"):
            return None if arg in path.assigned else "local read before assignment"
        if name == "LOAD_FAST_CHECK":
            return None if arg < self.nlocals else "local index out of range"
        if name in ("LOAD_FAST_LOAD_FAST", "LOAD_FAST_BORROW_LOAD_FAST_BORROW"):
            ok = arg >> 4 in path.assigned and arg & 15 in path.assigned
            return None if ok else "local read before assignment"
        if name == "STORE_FAST":
            if arg >= self.nlocals:
                return "local index out of range"
            path.assigned = path.assigned | {arg}
            return None
        if name == "COPY_FREE_VARS":
            # Copies the function's closure (as long as co_freevars: FunctionType checks)
            # into the slots after the locals; any other count would copy past them.
            if arg != self.nfree or arg == 0:
                return "COPY_FREE_VARS count is not the number of free variables"
            path.frees = True
            return None
        if name == "LOAD_DEREF":
            # The slot is read as a cell without a check: it must be a free variable's, and
            # hold the closure's cell already.
            if not (self.nlocals <= arg < self.nlocals + self.nfree):
                return "LOAD_DEREF of a slot that is not a free variable"
            return None if path.frees else "free variable read before COPY_FREE_VARS"
        if name == "LOAD_GLOBAL":
            return self._global(arg)
        if name == "BINARY_OP":
            return None if arg < self.nb_ops else "BINARY_OP operator out of range"
        if name == "COMPARE_OP":
            return None if arg >> self.cmp_shift < _CMP_OPS else "comparison out of range"
        if name == "COPY":
            return None if 1 <= arg <= path.depth else "COPY past the stack"
        if name == "SWAP":
            return None if 2 <= arg <= path.depth else "SWAP past the stack"
        if name == "RESUME":
            return None if arg <= 3 else "RESUME argument out of range"
        if name == "BUILD_SLICE":
            return None if arg in (2, 3) else "BUILD_SLICE count out of range"
        return None

    def _global(self, arg: int) -> str | None:
        """A global read must yield the pickle's own data (the values cloudpickle and dill
        store as the function's globals, judged by the walk) or fail: never a builtin."""
        if arg & 1:
            return "LOAD_GLOBAL pushes a NULL for a call"
        if arg >> 1 >= len(self.names):
            return "name index out of range"
        name = self.names[arg >> 1]
        if name in self.builtins or name.startswith("__"):
            return f"LOAD_GLOBAL reads the builtin or special name {name[:40]!r}"
        return None


def judge_code(c: CodeArgs | str, targets: tuple[str, ...] | None = ANY_PYTHON) -> str | None:
    """None when ``c`` is inert under every target interpreter that could load it, else why not.

    ``targets`` are the interpreters that will load the file
    (:mod:`modelsec.scanner.interpreters`): ``ANY_PYTHON`` (the default here) judges under
    every version the code object's layout loads into; ``None`` under the running one. A
    target outside :data:`~modelsec.scanner.interpreters.KNOWN_PYTHONS` (a later CPython) is
    always a candidate, and has no tables: not provable.

    Example:
        >>> judge_code("a code object in PyPy's layout")
        "a code object in PyPy's layout"
        >>> judge_code(CodeArgs(code=b"\\x97\\x00", versions=()))
        'no CPython version loads a code object of this layout'
        >>> judge_code(CodeArgs(code=b"\\x97\\x00", versions=("3.9", "3.10")), ("3.12",))
        'built in a layout only CPython 3.9, 3.10 load, not CPython 3.12'
    """
    if isinstance(c, str):
        return c
    if not c.versions:
        return "no CPython version loads a code object of this layout"
    if targets == ANY_PYTHON:
        candidates: tuple[str, ...] = c.versions
    else:
        wanted = resolve_targets(targets)
        candidates = tuple(v for v in wanted if v in c.versions or v not in KNOWN_PYTHONS)
        if not candidates:
            # The target's CodeType rejects this layout (a TypeError while loading): nothing
            # would run, but the file was not made for the target; say so rather than pass it.
            return f"built in a layout only {_names(c.versions)} load, not {_names(wanted)}"
    for version in candidates:
        why = judge_version(c, version)
        if why is not None:
            return why
    return None


def _names(versions: tuple[str, ...]) -> str:
    cpython = [v for v in versions if v != "pypy"]
    names = [f"CPython {', '.join(cpython)}"] if cpython else []
    return ", ".join(names + (["PyPy"] if "pypy" in versions else []))
