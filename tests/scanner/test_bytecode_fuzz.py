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
from tests.scanner.bytecode_mutants import GLOBALS, RUN_MUTANTS, mutate

ROOT = Path(__file__).resolve().parents[2]
CORPUS = json.loads((ROOT / "tests" / "scanner" / "data" / "lambdas.json").read_text())
MUTANTS = 6000


def _mutants(seed: int) -> list[tuple[str, str, int]]:
    rng = random.Random(seed)
    functions = [(src, eval(src, dict(GLOBALS))) for src in CORPUS["inert"]]
    accepted = []
    for _ in range(MUTANTS):
        src, fn = rng.choice(functions)
        co = fn.__code__
        code, stack = mutate(rng, co.co_code, co.co_stacksize)
        args = CodeArgs(
            argcount=co.co_argcount,
            posonlyargcount=co.co_posonlyargcount,
            kwonlyargcount=co.co_kwonlyargcount,
            nlocals=co.co_nlocals,
            stacksize=stack,
            flags=co.co_flags,
            code=code,
            consts=co.co_consts,
            names=co.co_names,
            varnames=co.co_varnames,
            freevars=co.co_freevars,
            cellvars=co.co_cellvars,
            exceptiontable=co.co_exceptiontable,
        )
        if code != co.co_code and judge_version(args, running_python()) is None:
            accepted.append((src, code.hex(), stack))
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
        [
            sys.executable,
            "-X",
            "faulthandler",
            "-c",
            RUN_MUTANTS + "\nimport json, sys\nrun(json.load(sys.stdin))\nprint('done')\n",
        ],
        input=json.dumps(accepted),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert out.returncode == 0 and out.stdout.strip() == "done", out.stderr[-2000:]
