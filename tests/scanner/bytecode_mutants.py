"""Mutants of real lambdas for the bytecode judge's fault-injection tests.

Shared by ``tests/scanner/test_bytecode_fuzz.py`` (this interpreter) and
``tests/fuzz/test_bytecode_versions.py`` (each CPython with tables, under pyodide). A mutant is
a lambda of the corpus (``tests/scanner/data/lambdas.json``) with one to three bytes of its
bytecode changed, and perhaps its ``co_stacksize`` off by one; ``RUN_MUTANTS`` is the source
that builds and calls mutants in the interpreter under test.
"""

from __future__ import annotations

import ast
import random
from typing import Any

from modelsec.scanner.bytecode import CodeArgs

#: The module constants the corpus's lambdas read.
GLOBALS = {"SCALE": 2.0, "OFFSET": 1}

#: Defines ``run(mutants)``: each ``(source, code hex, stacksize)`` is compiled from its source
#: there, given the mutated bytes and called with every argument tuple that fits.
RUN_MUTANTS = """
import types

def run(mutants):
    args_pool = [(3,), (0,), (-2.5,), ([1, 2, 3],), ((1, 2),), ("ab",), (None,), (3, 4), ([1], 2)]
    for src, hexcode, stack in mutants:
        fn = eval(src, {"SCALE": 2.0, "OFFSET": 1})
        co = fn.__code__.replace(co_code=bytes.fromhex(hexcode), co_stacksize=stack)
        f = types.FunctionType(co, fn.__globals__, fn.__name__, fn.__defaults__, fn.__closure__)
        low = co.co_argcount - len(fn.__defaults__ or ())
        for args in args_pool:
            if low <= len(args) <= co.co_argcount:
                try:
                    f(*args)
                except Exception:
                    pass
"""


def mutate(rng: random.Random, code: bytes, stacksize: int) -> tuple[bytes, int]:
    """One to three byte changes (a random byte, a neighbour value, a swap), and the stack
    size perhaps one off.

    Example:
        >>> mutate(random.Random(1), bytes(4), 2)[1] in (1, 2, 3)
        True
    """
    out = bytearray(code)
    for _ in range(rng.randint(1, 3)):
        i = rng.randrange(len(out))
        roll = rng.random()
        if roll < 0.4:
            out[i] = rng.randrange(256)
        elif roll < 0.7:
            out[i] = (out[i] + rng.choice([-2, -1, 1, 2])) % 256
        else:
            j = rng.randrange(len(out))
            out[i], out[j] = out[j], out[i]
    return bytes(out), max(0, stacksize + rng.choice([0, 0, 0, -1, 1]))


def corpus_code(
    entry: dict[str, Any], code: bytes | None = None, stacksize: int | None = None
) -> CodeArgs:
    """A corpus entry (one version's compiled lambda) as the judge's :class:`CodeArgs`,
    optionally with other bytes and stack size (a mutant). Constants that are not literals
    (``"<code>"``, 3.14's slices) become opaque objects: not plain data.

    Example:
        >>> corpus_code({"argcount": 1, "posonlyargcount": 0, "kwonlyargcount": 0,
        ...     "nlocals": 1, "stacksize": 2, "flags": 3, "code": "9700", "consts": ["2"],
        ...     "names": [], "varnames": ["x"], "freevars": [], "cellvars": [],
        ...     "exceptiontable": ""}, stacksize=1).consts
        (2,)
    """

    def const(text: str) -> object:
        try:
            return ast.literal_eval(text)
        except (ValueError, SyntaxError):
            return object()

    return CodeArgs(
        argcount=entry["argcount"],
        posonlyargcount=entry["posonlyargcount"],
        kwonlyargcount=entry["kwonlyargcount"],
        nlocals=entry["nlocals"],
        stacksize=entry["stacksize"] if stacksize is None else stacksize,
        flags=entry["flags"],
        code=bytes.fromhex(entry["code"]) if code is None else code,
        consts=tuple(const(c) for c in entry["consts"]),
        names=tuple(entry["names"]),
        varnames=tuple(entry["varnames"]),
        freevars=tuple(entry["freevars"]),
        cellvars=tuple(entry["cellvars"]),
        exceptiontable=bytes.fromhex(entry["exceptiontable"]),
    )
