"""Generate ``modelsec/scanner/data/bytecode.json``: CPython's bytecode facts, per version.

The bytecode judge (:mod:`modelsec.scanner.bytecode`) proves a pickled code object inert only
under versions whose opcode tables are known exactly; this script derives them from CPython's
own files, never from a hand-typed table. A code object built by a pickle is loaded into
whatever interpreter unpickles it, and the interpreter does not verify bytecode, so every
version it could be loaded into must be judged with that version's numbering.

Sources (``SOURCES``): the standard library CPython ships, as packaged in pinned releases of
the ``pyodide`` npm package (CPython compiled to WebAssembly; each release carries the
unmodified ``Lib/`` of one CPython release in ``python_stdlib.zip`` and the interpreter in
``pyodide.asm.wasm``). Each tarball is pinned by version and sha256. Per version:

* ``defined``: every opcode byte the interpreter's eval loop handles: ``opcode.opmap`` (below
  256), the specialized instructions (numbered as that version's ``dis`` numbers them:
  ``_specialized_opmap`` from 3.13, empty slots in order before), and 255 (``DO_TRACING`` in
  3.11, ``ENTER_EXECUTOR`` later). Any other byte is undefined: the eval loop raises
  ``SystemError`` ("unknown opcode");
* ``caches``: inline cache units after each instruction (``opcode._inline_cache_entries``);
* ``nb_ops``: valid ``BINARY_OP`` arguments (``opcode._nb_ops``; from 3.13 that list comes
  from C, so the ``NB_*`` names in the interpreter binary are counted);
* ``cmp_shift``: how ``COMPARE_OP``'s argument encodes the comparison (``dis``:
  ``cmp_op[arg >> shift]``);
* ``stack``: the stack effect of each allowlisted pure instruction the version defines (a
  formula checked against ``dis.stack_effect`` of the running interpreter for its version).

CPython 3.8-3.10 (pyodide ships them in another container format) and PyPy have no tables
here: code objects that could load into them are never proven inert.

Usage (needs ``npm`` to fetch the pinned tarballs into ``$HOME/.cache/modelsec/pyodide``)::

    python scripts/gen_bytecode.py           # rewrite the JSON
    python scripts/gen_bytecode.py --check   # exit 1 if the committed JSON is stale
    python scripts/gen_bytecode.py --check --fetch   # the same, fetching missing tarballs (CI)

``--check`` without the tarballs (and no npm) checks what the running interpreter can prove:
its own version's entry against ``dis``/``opcode``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tarfile
import types
import zipfile
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT_FILE = ROOT / "modelsec" / "scanner" / "data" / "bytecode.json"
CACHE = pathlib.Path(os.environ.get("HOME", ".")) / ".cache" / "modelsec" / "pyodide"

#: CPython minor version -> (pyodide npm release, sha256 of its tarball).
SOURCES: dict[str, tuple[str, str]] = {
    "3.11": (
        "0.25.1",
        "d301c5b18b888ec7ad2bf616fcdd14eb36f4c9f41c513f89fcfcc3455d447a63",
    ),
    "3.12": (
        "0.27.7",
        "89d5d952675eb08e11286e52c7238f1248ce71726e896db9703e73bef23dc343",
    ),
    "3.13": (
        "0.28.3",
        "bc3accb122c2c5d840b26ce56b100a21ab94aea4fe387a5b5c072ec6a88b7a62",
    ),
    "3.14": (
        "314.0.8",
        "9a52704e0ae5b07aaacb8e4fed9f1658e8024694a078695ea45ac79dee4cefcb",
    ),
}

#: The allowlisted pure instructions and their stack use; the net effect is checked against
#: ``dis.stack_effect`` of the running interpreter for its own version.
PURE_STACK: dict[str, tuple[int, int, int]] = {
    # name: (pops, more pops per oparg, pushes)
    "NOP": (0, 0, 0),
    "RESUME": (0, 0, 0),
    "NOT_TAKEN": (0, 0, 0),
    "LOAD_FAST": (0, 0, 1),
    "LOAD_FAST_CHECK": (0, 0, 1),
    "LOAD_FAST_BORROW": (0, 0, 1),
    "LOAD_FAST_LOAD_FAST": (0, 0, 2),
    "LOAD_FAST_BORROW_LOAD_FAST_BORROW": (0, 0, 2),
    "STORE_FAST": (1, 0, 0),
    "LOAD_CONST": (0, 0, 1),
    "LOAD_SMALL_INT": (0, 0, 1),
    "RETURN_VALUE": (1, 0, 0),
    "RETURN_CONST": (0, 0, 0),
    "BINARY_OP": (2, 0, 1),
    "BINARY_SUBSCR": (2, 0, 1),
    "BINARY_SLICE": (3, 0, 1),
    "BUILD_SLICE": (0, 1, 1),  # the judge checks oparg is 2 or 3
    "UNARY_POSITIVE": (1, 0, 1),
    "UNARY_NEGATIVE": (1, 0, 1),
    "UNARY_NOT": (1, 0, 1),
    "UNARY_INVERT": (1, 0, 1),
    "COMPARE_OP": (2, 0, 1),
    "IS_OP": (2, 0, 1),
    "CONTAINS_OP": (2, 0, 1),
    "TO_BOOL": (1, 0, 1),
    "COPY_FREE_VARS": (0, 0, 0),  # the judge checks oparg == len(co_freevars)
    "LOAD_DEREF": (0, 0, 1),  # the judge checks oparg names a free variable, once copied
    # The judge allows only oparg & 1 == 0 (no NULL pushed for a call) and a name that is no
    # builtin of that version (``builtins`` below): the value is the pickle's data, or absent.
    "LOAD_GLOBAL": (0, 0, 1),
    "BUILD_TUPLE": (0, 1, 1),
    "BUILD_LIST": (0, 1, 1),
    "POP_TOP": (1, 0, 0),
    "COPY": (0, 0, 1),  # duplicates the oparg-th item: the judge checks the depth
    "SWAP": (0, 0, 0),  # swaps with the oparg-th item: the judge checks the depth
}


#: Forward jumps (relative, oparg counted in code units after the inline caches) and their
#: stack use: (pops when jumping, pops when falling through, unconditional). Backward jumps
#: are never allowlisted (no loops: every path ends). Checked against each version's own
#: ``dis.stack_effect(..., jump=True/False)`` and ``dis`` jump targets (``--check``).
JUMPS: dict[str, tuple[int, int, bool]] = {
    "JUMP_FORWARD": (0, 0, True),
    "POP_JUMP_FORWARD_IF_FALSE": (1, 1, False),  # 3.11
    "POP_JUMP_FORWARD_IF_TRUE": (1, 1, False),
    "POP_JUMP_FORWARD_IF_NONE": (1, 1, False),
    "POP_JUMP_FORWARD_IF_NOT_NONE": (1, 1, False),
    "JUMP_IF_FALSE_OR_POP": (0, 1, False),  # 3.11: keeps the value when it jumps
    "JUMP_IF_TRUE_OR_POP": (0, 1, False),
    "POP_JUMP_IF_FALSE": (1, 1, False),  # 3.12+: forward only
    "POP_JUMP_IF_TRUE": (1, 1, False),
    "POP_JUMP_IF_NONE": (1, 1, False),
    "POP_JUMP_IF_NOT_NONE": (1, 1, False),
}
#: Versions whose ``POP_JUMP_IF_*`` jump backward or to absolute targets (CPython <= 3.11 spells
#: its forward ones ``POP_JUMP_FORWARD_IF_*``): those names are never taken as forward there.
_POP_JUMP_IF_FORWARD_FROM = (3, 12)


def _fetch(npm_version: str) -> pathlib.Path:
    tgz = CACHE / f"pyodide-{npm_version}.tgz"
    if not tgz.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["npm", "pack", f"pyodide@{npm_version}", "--pack-destination", str(CACHE)],
            check=True,
            capture_output=True,
        )
    return tgz


def _members(tgz: pathlib.Path) -> tuple[dict[str, str], str, bytes]:
    """The stdlib's opcode/dis sources, the exact Python version, the interpreter binary."""
    with tarfile.open(tgz) as tar:
        zdata = tar.extractfile("package/python_stdlib.zip").read()  # type: ignore[union-attr]
        lock = json.loads(tar.extractfile("package/pyodide-lock.json").read())  # type: ignore[union-attr]
        wasm = tar.extractfile("package/pyodide.asm.wasm").read()  # type: ignore[union-attr]
    import io

    z = zipfile.ZipFile(io.BytesIO(zdata))
    names = set(z.namelist())
    files: dict[str, str] = {
        n: z.read(n).decode() for n in ("opcode.py", "dis.py", "_opcode_metadata.py") if n in names
    }
    return files, str(lock["info"]["python"]), wasm


def _fake_opcode() -> types.ModuleType:
    """``_opcode`` (C) for executing a foreign ``opcode.py``: its tables come from elsewhere."""
    mod = types.ModuleType("_opcode")
    for name in (
        "stack_effect",
        "get_specialization_stats",
        "get_nb_ops",
        "get_intrinsic1_descs",
        "get_intrinsic2_descs",
        "get_special_method_names",
        "get_executor",
        "has_arg",
        "has_const",
        "has_name",
        "has_jump",
        "has_free",
        "has_local",
        "has_exc",
        "is_valid",
    ):
        setattr(mod, name, lambda *a, **k: [])
    return mod


def _exec_opcode(files: dict[str, str]) -> dict[str, Any]:
    saved = {k: sys.modules.get(k) for k in ("_opcode", "_opcode_metadata")}
    try:
        sys.modules["_opcode"] = _fake_opcode()
        if "_opcode_metadata.py" in files:
            meta = types.ModuleType("_opcode_metadata")
            exec(
                compile(files["_opcode_metadata.py"], "_opcode_metadata.py", "exec"), meta.__dict__
            )
            sys.modules["_opcode_metadata"] = meta
        else:
            sys.modules.pop("_opcode_metadata", None)
        ns: dict[str, Any] = {"__name__": "opcode_foreign"}
        exec(compile(files["opcode.py"], "opcode.py", "exec"), ns)
        return ns
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v


def _table(files: dict[str, str], python: str, wasm: bytes) -> dict[str, Any]:
    ns = _exec_opcode(files)
    opmap = {k: v for k, v in ns["opmap"].items() if v < 256}
    dis_src = files["dis.py"]
    if "_specialized_opmap" in ns:
        spec = dict(ns["_specialized_opmap"])
    else:
        if (
            "for spec_op, specialized in zip(_empty_slot, _specialized_instructions):"
            not in dis_src
        ):
            raise SystemExit(f"{python}: dis numbers specialized instructions another way")
        opname = list(ns["opname"])
        empty = [slot for slot, name in enumerate(opname) if name.startswith("<")]
        spec = dict(zip(ns["_specialized_instructions"], empty, strict=False))
    defined = {**{v: k for k, v in opmap.items()}, **{v: k for k, v in spec.items()}}
    defined.setdefault(255, "<255: DO_TRACING / ENTER_EXECUTOR>")
    base_of = {s: b for b, fam in ns["_specializations"].items() for s in fam}
    ice = ns["_inline_cache_entries"]
    if isinstance(ice, dict):
        caches = {name: n for name, n in ice.items() if n}
    else:
        caches = {name: ice[op] for name, op in opmap.items() if ice[op]}
    # Inline caches the interpreter lays out (and quickening writes) after each opcode byte:
    # a specialized instruction has its base instruction's.
    op_caches = {
        str(op): caches[base_of.get(name, name)]
        for op, name in sorted(defined.items())
        if caches.get(base_of.get(name, name))
    }
    if ns.get("_nb_ops"):
        nb_ops = len(ns["_nb_ops"])
    else:
        nb_ops = len(set(re.findall(rb"(?<=\x00)NB_[A-Z_]+(?=\x00)", wasm)))
    m = re.search(r"cmp_op\[arg(?:\s*>>\s*(\d))?\]", dis_src)
    if m is None:
        raise SystemExit(f"{python}: no cmp_op decoding in dis")
    stack = {name: list(eff) for name, eff in PURE_STACK.items() if name in opmap}
    major, minor = (int(x) for x in python.split(".")[:2])
    jumps = {
        name: list(eff)
        for name, eff in JUMPS.items()
        if name in opmap
        and (not name.startswith("POP_JUMP_IF_") or (major, minor) >= _POP_JUMP_IF_FORWARD_FROM)
    }
    return {
        "python": python,
        "defined": {str(k): v for k, v in sorted(defined.items())},
        "opmap": {name: opmap[name] for name in sorted({*PURE_STACK, *JUMPS}) if name in opmap},
        "caches": dict(sorted(caches.items())),
        "op_caches": op_caches,
        "nb_ops": nb_ops,
        "cmp_shift": int(m.group(1) or 0),
        "stack": stack,
        "jumps": jumps,
    }


#: Run inside the interpreter a table describes (this one, or a pyodide release under Node):
#: checks the table against that interpreter's own ``opcode``/``dis``, then compiles
#: ``LAMBDAS`` there and returns their code objects' fields (the tests' real-world corpus).
_IN_INTERPRETER = r"""
import builtins, dis, json, opcode, sys

def _check(table, sources):
    opmap = {k: v for k, v in opcode.opmap.items() if v < 256}
    errors = []
    for name, op in table["opmap"].items():
        if opmap.get(name) != op:
            errors.append(f"{name}: opmap {opmap.get(name)} != {op}")
            continue
        arg_of = lambda a: a if op >= opcode.HAVE_ARGUMENT else None
        if name in table["stack"]:
            pops, per_arg, pushes = table["stack"][name]
            if name == "LOAD_GLOBAL" and dis.stack_effect(op, 3) != 2:
                errors.append("LOAD_GLOBAL: the low bit of oparg does not push NULL")
            many = name in ("BUILD_TUPLE", "BUILD_LIST", "COPY", "SWAP", "COPY_FREE_VARS")
            args = (2, 3) if name == "BUILD_SLICE" else (1, 2, 3) if many else (0,)
            for arg in args:
                want = dis.stack_effect(op, arg_of(arg), jump=False)
                # A return ends the frame: 3.14 counts the returned value as pushed (for the
                # caller's frame), earlier versions do not; the judge stops there either way.
                ends = name in ("RETURN_VALUE", "RETURN_CONST") and want == pushes - pops + 1
                if pushes - pops - per_arg * arg != want and not ends:
                    errors.append(f"{name}({arg}): stack effect {want}")
        if name in table["jumps"]:
            pops_jump, pops_fall, uncond = table["jumps"][name]
            if dis.stack_effect(op, 1, jump=True) != -pops_jump:
                errors.append(f"{name}: stack effect when jumping")
            if not uncond and dis.stack_effect(op, 1, jump=False) != -pops_fall:
                errors.append(f"{name}: stack effect when not jumping")
    all_opmap = getattr(dis, "_all_opmap", opmap)
    for name, op in all_opmap.items():
        if op < 256 and table["defined"].get(str(op)) != name:
            errors.append(f"defined[{op}] != {name}")
    corpus = []
    for src in sources:
        code = eval(src, {"SCALE": 2.0, "OFFSET": 1}).__code__
        for ins in dis.get_instructions(code):
            if ins.opname in table["jumps"]:
                caches = table["op_caches"].get(str(ins.opcode), 0)
                target = ins.offset + 2 + 2 * caches + 2 * ins.arg
                if getattr(ins, "jump_target", ins.argval) != target:
                    errors.append(f"{ins.opname} at {ins.offset} in {src!r}: target")
        corpus.append({
            "source": src,
            "argcount": code.co_argcount,
            "posonlyargcount": code.co_posonlyargcount,
            "kwonlyargcount": code.co_kwonlyargcount,
            "nlocals": code.co_nlocals,
            "stacksize": code.co_stacksize,
            "flags": code.co_flags,
            "code": code.co_code.hex(),
            # literal reprs (ast.literal_eval), or "<code>" for a nested code object
            "consts": ["<code>" if hasattr(c, "co_code") else repr(c) for c in code.co_consts],
            "names": list(code.co_names),
            "varnames": list(code.co_varnames),
            "freevars": list(code.co_freevars),
            "cellvars": list(code.co_cellvars),
            "exceptiontable": code.co_exceptiontable.hex(),
        })
    return {
        "python": sys.version.split()[0],
        "errors": errors,
        "corpus": corpus,
        # names starting with "__" are refused anyway (pyodide adds one of its own)
        "builtins": sorted(n for n in dir(builtins) if not n.startswith("__")),
    }
"""

#: Lambdas compiled by each version for the tests (``tests/scanner/data/lambdas.json``): the
#: first group is inert (the judge must pass each under the version that compiled it), the
#: second reaches names, calls or nested code (the judge must refuse each). Closures are
#: written as ``(lambda k: <lambda using k>)(3)``: the inner function is what is compiled.
INERT_LAMBDAS = [
    "lambda x: x * 2 + 1",
    "lambda x, y: (x - y) ** 2",
    "lambda x: x / 3.0 - 1",
    "lambda x: -x % 7",
    "lambda x: ~x ^ 5",
    "lambda x: x > 0.5",
    "lambda x: 0 < x < 1",
    "lambda x: x is None",
    "lambda x: 3 in x",
    "lambda x, y: (x + y, x * y)",
    "lambda x: [x, x * 2]",
    "lambda x: x[0] * 2",
    "lambda x, i: x[i : i + 2] if x else x",
    "lambda x, a=2: x * a",
    "lambda x: x if x > 0 else 0",
    "lambda x: x if x > 0 else -x if x < 0 else 0",
    "lambda x, y: x and y",
    "lambda x: x or 1",
    "lambda x: not x",
    "lambda x: x is not None and x > 0",
    "(lambda k: lambda x: x * k)(3)",
    "(lambda lo, hi: lambda x: lo if x < lo else hi if x > hi else x)(0, 1)",
    "lambda x: x * SCALE + OFFSET",
]
UNSAFE_LAMBDAS = [
    "lambda x: abs(x)",
    "lambda x: x.mean()",
    "lambda x: __import__('os').system(x)",
    "lambda x: [i for i in x]",
    "lambda x: (yield x)",
    "lambda x: (lambda: x)()",
    "lambda x: x.__class__",
    "lambda x: eval",
    "lambda x: __builtins__",
]
CORPUS_FILE = ROOT / "tests" / "scanner" / "data" / "lambdas.json"


def _in_interpreter(table: dict[str, Any]) -> dict[str, Any]:
    ns: dict[str, Any] = {}
    exec(_IN_INTERPRETER, ns)
    return ns["_check"](table, INERT_LAMBDAS + UNSAFE_LAMBDAS)  # type: ignore[no-any-return]


_NODE_RUNNER = r"""
const path = require("path");
const dir = process.env.MODELSEC_PYODIDE_DIR;
const { loadPyodide } = require(path.join(dir, "package", "pyodide.js"));
(async () => {
  const py = await loadPyodide({ indexURL: path.join(dir, "package") + "/" });
  const out = py.runPython(require("fs").readFileSync(0, "utf8"));
  process.stdout.write(out);
})().catch((e) => { console.error(String(e)); process.exit(1); });
"""


def _in_pyodide(tgz: pathlib.Path, table: dict[str, Any]) -> dict[str, Any]:
    """:func:`_in_interpreter` run by the CPython inside a pyodide tarball (Node.js)."""
    root = tgz.with_suffix("")
    if not (root / "package" / "pyodide.js").exists():
        root.mkdir(parents=True, exist_ok=True)
        with tarfile.open(tgz) as tar:
            tar.extractall(root, filter="data")
    script = (
        _IN_INTERPRETER
        + f"\njson.dumps(_check(json.loads({json.dumps(json.dumps(table))}), "
        + f"json.loads({json.dumps(json.dumps(INERT_LAMBDAS + UNSAFE_LAMBDAS))})))"
    )
    out = subprocess.run(
        ["node", "-e", _NODE_RUNNER],
        input=script,
        env={**os.environ, "MODELSEC_PYODIDE_DIR": str(root)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if out.returncode != 0:
        raise SystemExit(f"pyodide {tgz.name}: {out.stderr.strip()[-500:]}")
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def _verified(minor: str, tgz: pathlib.Path | None, table: dict[str, Any]) -> dict[str, Any]:
    """Check ``table`` in the interpreters it describes (the pinned pyodide release, and this
    one when it is that version); return what the pinned release reports: the lambdas it
    compiled and its builtin names."""
    runs = []
    if f"{sys.version_info.major}.{sys.version_info.minor}" == minor:
        runs.append(_in_interpreter(table))
    if tgz is not None:
        runs.append(_in_pyodide(tgz, table))
    if not runs:
        raise SystemExit(f"{minor}: neither this interpreter nor a pyodide tarball")
    for got in runs:
        if got["errors"]:
            raise SystemExit(f"{minor} ({got['python']}): " + "; ".join(got["errors"][:20]))
    if "builtins" in table and runs[-1]["builtins"] != table["builtins"]:
        raise SystemExit(f"{minor} ({runs[-1]['python']}): builtin names differ from the table")
    return {
        "python": runs[-1]["python"],
        "lambdas": runs[-1]["corpus"],
        "builtins": runs[-1]["builtins"],
    }


def build() -> tuple[dict[str, Any], dict[str, Any]]:
    """The tables, each checked in its own interpreter, and the lambdas each compiled."""
    out: dict[str, Any] = {
        "_comment": "Generated by scripts/gen_bytecode.py from CPython's own Lib/ (pyodide npm).",
        "sources": {v: {"pyodide": p, "sha256": s} for v, (p, s) in SOURCES.items()},
        "versions": {},
    }
    corpus: dict[str, Any] = {
        "_comment": "Generated by scripts/gen_bytecode.py: lambdas compiled by each CPython.",
        "inert": INERT_LAMBDAS,
        "unsafe": UNSAFE_LAMBDAS,
        "versions": {},
    }
    for minor, (npm_version, sha) in SOURCES.items():
        tgz = _fetch(npm_version)
        digest = hashlib.sha256(tgz.read_bytes()).hexdigest()
        if sha and digest != sha:
            raise SystemExit(f"pyodide {npm_version}: sha256 {digest} != pinned {sha}")
        out["sources"][minor]["sha256"] = digest
        files, python, wasm = _members(tgz)
        if not python.startswith(minor + "."):
            raise SystemExit(f"pyodide {npm_version} carries Python {python}, not {minor}")
        table = _table(files, python, wasm)
        got = _verified(minor, tgz, table)
        # Names a LOAD_GLOBAL may not read (they would fall back to the builtin).
        table["builtins"] = got.pop("builtins")
        out["versions"][minor] = table
        corpus["versions"][minor] = got
    return out, corpus


def _dump(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=1, sort_keys=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the JSON is stale")
    parser.add_argument("--fetch", action="store_true", help="with --check: fetch the tarballs")
    parser.add_argument(
        "--local", action="store_true", help="with --check: only this interpreter's entry"
    )
    args = parser.parse_args(argv)
    if args.check:
        committed = json.loads(OUT_FILE.read_text())
        minor = f"{sys.version_info.major}.{sys.version_info.minor}"
        if args.fetch:
            for npm_version, _ in SOURCES.values():
                _fetch(npm_version)
        have = all((CACHE / f"pyodide-{p}.tgz").exists() for p, _ in SOURCES.values())
        if args.local or not have or shutil.which("node") is None:
            if minor in committed["versions"]:
                _verified(minor, None, committed["versions"][minor])
                print(f"checked {minor} against this interpreter only")
            else:
                print("tarballs or node absent and no local version to check against")
            return 0
        tables, corpus = build()
        stale = [
            str(path)
            for path, data in ((OUT_FILE, tables), (CORPUS_FILE, corpus))
            if _dump(data) != path.read_text()
        ]
        if stale:
            print(f"{', '.join(stale)} stale: run python scripts/gen_bytecode.py")
            return 1
        return 0
    tables, corpus = build()
    OUT_FILE.write_text(_dump(tables))
    CORPUS_FILE.parent.mkdir(parents=True, exist_ok=True)
    CORPUS_FILE.write_text(_dump(corpus))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
