"""The bytecode judge under fault injection: whatever it passes runs without crashing.

Real lambdas of the corpus (compiled here) get one to three random byte mutations, seeded;
every mutant the judge proves inert for this interpreter is then built and called, in a child
process, with a range of arguments. The judge's claim is that such code can only compute on
its values or raise: a crash (segfault, abort) in the child is a soundness bug. The mutants
are our own lambdas, never model content.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from modelsec.scanner.bytecode import CodeArgs, judge_version
from modelsec.scanner.interpreters import running_python

ROOT = Path(__file__).resolve().parents[2]
CORPUS = json.loads((ROOT / "tests" / "scanner" / "data" / "lambdas.json").read_text())
GLOBALS = {"SCALE": 2.0, "OFFSET": 1}
MUTANTS = 6000

_RUNNER = """
import json, sys, types
GLOBALS = {"SCALE": 2.0, "OFFSET": 1}
ARGS = [(3,), (0,), (-2.5,), ([1, 2, 3],), ((1, 2),), ("ab",), (None,), (3, 4), ([1], 2)]
for src, hexcode, stack in json.load(sys.stdin):
    fn = eval(src, dict(GLOBALS))
    co = fn.__code__.replace(co_code=bytes.fromhex(hexcode), co_stacksize=stack)
    f = types.FunctionType(co, fn.__globals__, fn.__name__, fn.__defaults__, fn.__closure__)
    low = co.co_argcount - len(fn.__defaults__ or ())
    for args in ARGS:
        if low <= len(args) <= co.co_argcount:
            try:
                f(*args)
            except Exception:
                pass
print("done")
"""


def _mutants(seed: int) -> list[tuple[str, str, int]]:
    rng = random.Random(seed)
    functions = [(src, eval(src, dict(GLOBALS))) for src in CORPUS["inert"]]
    accepted = []
    for _ in range(MUTANTS):
        src, fn = rng.choice(functions)
        co = fn.__code__
        code = bytearray(co.co_code)
        for _ in range(rng.randint(1, 3)):
            i = rng.randrange(len(code))
            roll = rng.random()
            if roll < 0.4:
                code[i] = rng.randrange(256)
            elif roll < 0.7:
                code[i] = (code[i] + rng.choice([-2, -1, 1, 2])) % 256
            else:
                j = rng.randrange(len(code))
                code[i], code[j] = code[j], code[i]
        stack = max(0, co.co_stacksize + rng.choice([0, 0, 0, -1, 1]))
        args = CodeArgs(
            argcount=co.co_argcount,
            posonlyargcount=co.co_posonlyargcount,
            kwonlyargcount=co.co_kwonlyargcount,
            nlocals=co.co_nlocals,
            stacksize=stack,
            flags=co.co_flags,
            code=bytes(code),
            consts=co.co_consts,
            names=co.co_names,
            varnames=co.co_varnames,
            freevars=co.co_freevars,
            cellvars=co.co_cellvars,
            exceptiontable=co.co_exceptiontable,
        )
        if bytes(code) != co.co_code and judge_version(args, running_python()) is None:
            accepted.append((src, bytes(code).hex(), stack))
    return accepted


@pytest.mark.skipif(
    running_python() not in CORPUS["versions"], reason="no opcode tables for this interpreter"
)
@pytest.mark.parametrize("seed", [1, 2])
def test_every_mutant_the_judge_passes_runs_without_crashing(seed: int) -> None:
    accepted = _mutants(seed)
    # Enough of them get through for the run to mean something (jumps, closures, globals).
    assert len(accepted) > 200, len(accepted)
    assert any("SCALE" in src for src, _, _ in accepted)
    assert any("lambda k" in src for src, _, _ in accepted)
    out = subprocess.run(
        [sys.executable, "-X", "faulthandler", "-c", _RUNNER],
        input=json.dumps(accepted),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert out.returncode == 0 and out.stdout.strip() == "done", out.stderr[-2000:]
