"""The bytecode judge under fault injection, in every CPython it has tables for.

For each version, the lambdas that version compiled (``tests/scanner/data/lambdas.json``) get
seeded byte mutations; every mutant the judge proves inert *for that version* is then built and
called inside that very CPython (the pinned pyodide release, under Node.js). A crash (a
WebAssembly trap, an abort) is a soundness bug of the judge for that version. Needs Node.js
and the pyodide tarballs ``python scripts/gen_bytecode.py --check --fetch`` caches (CI runs it
first); without them the test fails and says so.
"""

from __future__ import annotations

import importlib.util
import json
import os
import random
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from modelsec.scanner.bytecode import judge_version
from tests.scanner.bytecode_mutants import RUN_MUTANTS, corpus_code, mutate

pytestmark = pytest.mark.fuzz

ROOT = Path(__file__).resolve().parents[2]
CORPUS = json.loads((ROOT / "tests" / "scanner" / "data" / "lambdas.json").read_text())
MUTANTS = 4000

_spec = importlib.util.spec_from_file_location("gen_bytecode", ROOT / "scripts" / "gen_bytecode.py")
assert _spec is not None and _spec.loader is not None
gen_bytecode = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gen_bytecode)


def _pyodide(version: str) -> Path:
    npm_version, _sha = gen_bytecode.SOURCES[version]
    tgz = gen_bytecode.CACHE / f"pyodide-{npm_version}.tgz"
    if not tgz.exists() or shutil.which("node") is None:
        pytest.fail(
            f"needs Node.js and {tgz}: run `python scripts/gen_bytecode.py --check --fetch`"
        )
    root = tgz.with_suffix("")
    if not (root / "package" / "pyodide.js").exists():
        root.mkdir(parents=True, exist_ok=True)
        with tarfile.open(tgz) as tar:
            tar.extractall(root, filter="data")
    return root


def _mutants(version: str, seed: int) -> list[tuple[str, str, int]]:
    rng = random.Random(seed)
    entries = [e for e in CORPUS["versions"][version]["lambdas"] if e["source"] in CORPUS["inert"]]
    accepted = []
    for _ in range(MUTANTS):
        entry = rng.choice(entries)
        original = bytes.fromhex(entry["code"])
        code, stack = mutate(rng, original, entry["stacksize"])
        if code != original and judge_version(corpus_code(entry, code, stack), version) is None:
            accepted.append((entry["source"], code.hex(), stack))
    return accepted


@pytest.mark.parametrize("version", sorted(CORPUS["versions"]))
def test_mutants_the_judge_passes_run_without_crashing_in_their_cpython(version: str) -> None:
    root = _pyodide(version)
    accepted = _mutants(version, seed=7)
    assert len(accepted) > 100, len(accepted)
    call = f"\nimport json\nrun(json.loads({json.dumps(json.dumps(accepted))}))\n'done'\n"
    script = RUN_MUTANTS + call
    out = subprocess.run(
        ["node", "-e", gen_bytecode._NODE_RUNNER],
        input=script,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "MODELSEC_PYODIDE_DIR": str(root)},
        check=False,
    )
    assert out.returncode == 0 and out.stdout.strip() == "done", (
        f"{len(accepted)} mutants; {out.stderr[-3000:]}"
    )
