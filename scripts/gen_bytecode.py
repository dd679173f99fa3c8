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
import dis
import hashlib
import json
import opcode
import os
import pathlib
import re
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
    "UNARY_POSITIVE": (1, 0, 1),
    "UNARY_NEGATIVE": (1, 0, 1),
    "UNARY_NOT": (1, 0, 1),
    "UNARY_INVERT": (1, 0, 1),
    "COMPARE_OP": (2, 0, 1),
    "BUILD_TUPLE": (0, 1, 1),
    "BUILD_LIST": (0, 1, 1),
    "POP_TOP": (1, 0, 0),
    "COPY": (0, 0, 1),  # duplicates the oparg-th item: the judge checks the depth
    "SWAP": (0, 0, 0),  # swaps with the oparg-th item: the judge checks the depth
}


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
    return {
        "python": python,
        "defined": {str(k): v for k, v in sorted(defined.items())},
        "opmap": {name: opmap[name] for name in sorted(PURE_STACK) if name in opmap},
        "caches": dict(sorted(caches.items())),
        "op_caches": op_caches,
        "nb_ops": nb_ops,
        "cmp_shift": int(m.group(1) or 0),
        "stack": stack,
    }


def _check_local(table: dict[str, Any]) -> None:
    """Cross-check a version's table against the running interpreter of that version."""
    opmap = {k: v for k, v in opcode.opmap.items() if v < 256}
    for name, op in table["opmap"].items():
        assert opmap[name] == op, name
        pops, per_arg, pushes = table["stack"][name]
        for arg in (1, 2, 3) if name in ("BUILD_TUPLE", "BUILD_LIST", "COPY", "SWAP") else (0,):
            want = dis.stack_effect(op, arg if op >= opcode.HAVE_ARGUMENT else None, jump=False)
            assert pushes - pops - per_arg * arg == want, (name, arg, want)
    all_opmap = getattr(dis, "_all_opmap", opmap)
    for name, op in all_opmap.items():
        if op < 256:
            assert table["defined"][str(op)] == name, (op, name)


def build() -> dict[str, Any]:
    out: dict[str, Any] = {
        "_comment": "Generated by scripts/gen_bytecode.py from CPython's own Lib/ (pyodide npm).",
        "sources": {v: {"pyodide": p, "sha256": s} for v, (p, s) in SOURCES.items()},
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
        if f"{sys.version_info.major}.{sys.version_info.minor}" == minor:
            _check_local(table)
        out["versions"][minor] = table
    return out


def _dump(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=1, sort_keys=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the JSON is stale")
    parser.add_argument("--fetch", action="store_true", help="with --check: fetch the tarballs")
    args = parser.parse_args(argv)
    if args.check:
        committed = json.loads(OUT_FILE.read_text())
        minor = f"{sys.version_info.major}.{sys.version_info.minor}"
        if args.fetch:
            for npm_version, _ in SOURCES.values():
                _fetch(npm_version)
        have = all((CACHE / f"pyodide-{p}.tgz").exists() for p, _ in SOURCES.values())
        if not have:
            if minor in committed["versions"]:
                _check_local(committed["versions"][minor])
                print(f"tarballs absent: checked the {minor} entry against this interpreter")
            else:
                print("tarballs absent and no local version to check against")
            return 0
        if _dump(build()) != OUT_FILE.read_text():
            print(f"{OUT_FILE} is stale: run python scripts/gen_bytecode.py")
            return 1
        return 0
    OUT_FILE.write_text(_dump(build()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
