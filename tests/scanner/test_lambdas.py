"""Functions pickled by value (cloudpickle, dill): the bytecode judge and what it lets pass.

Real files are written by the installed cloudpickle and dill; crafted code objects are built
with ``CodeType.replace`` and pickled by the same libraries (never called). Bytecode is
assembled from the committed per-version tables, so the tests do not depend on the running
interpreter's numbering.
"""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys
import types
from collections.abc import Callable
from typing import Any

import cloudpickle  # the test extra installs both
import dill
import pytest
from conftest import by_path, threats_of

from modelsec.policy import default_rule_instances, evaluate_scan
from modelsec.scanner import scan_path
from modelsec.scanner.bytecode import CodeArgs, code_args, judge_code, judge_version
from modelsec.scanner.lambdas import lambdas_proven
from modelsec.scanner.pickle_scan import walk_pickle
from modelsec.scanner.source import ByteSource
from modelsec.types.data import ScanDetails
from tests.scanner.bytecode_mutants import corpus_code

ROOT = pathlib.Path(__file__).resolve().parents[2]
TABLES = json.loads((ROOT / "modelsec" / "scanner" / "data" / "bytecode.json").read_text())
T311 = TABLES["versions"]["3.11"]


def asm(*ins: tuple[str, int], version: str = "3.11", cache: int = 0) -> bytes:
    """Bytecode for ``version`` from (name, arg) pairs, inline caches filled with ``cache``."""
    t = TABLES["versions"][version]
    out = bytearray()
    for name, arg in ins:
        op = t["opmap"].get(name)
        if op is None:
            op = {v: int(k) for k, v in t["defined"].items()}[name]
        out += bytes([op, arg])
        out += bytes([cache, 0]) * t["op_caches"].get(str(op), 0)
    return bytes(out)


#: x * 2 + 1 without the leading RESUME: pure under 3.11/3.12, and its first byte
#: (LOAD_FAST's 124) is undefined under 3.13 and 3.14, whose eval loops raise there.
AFFINE = asm(
    ("LOAD_FAST", 0),
    ("LOAD_CONST", 1),
    ("BINARY_OP", 5),
    ("LOAD_CONST", 2),
    ("BINARY_OP", 0),
    ("RETURN_VALUE", 0),
)


def crafted(code: bytes, **fields: Any) -> Callable[..., Any]:
    """A function around crafted bytecode (consts (None, 2, 1), one argument ``x``)."""
    fn = lambda x: x * 2 + 1  # noqa: E731
    base = {"co_code": code, "co_consts": (None, 2, 1), "co_stacksize": 2}
    fn.__code__ = fn.__code__.replace(**{**base, **fields})
    return fn


def patched(code: bytes, **fields: Any) -> bytes:
    """A real cloudpickle file of a function whose code bytes are then swapped for ``code``.

    cloudpickle disassembles the code it pickles, which malformed bytecode would not survive:
    the file is written around a same-length run of NOPs, replaced afterwards.
    """
    placeholder = bytes([T311["opmap"]["NOP"], 0]) * (len(code) // 2)
    data: bytes = cloudpickle.dumps(crafted(placeholder, **fields))
    assert data.count(placeholder) == 1
    return data.replace(placeholder, code)


def _scan(tmp_path: pathlib.Path, data: bytes, target_python: str | None = "any") -> ScanDetails:
    """Scanned for every interpreter that could load it (the strictest reading), unless told."""
    (tmp_path / "model.pkl").write_bytes(data)
    return scan_path(tmp_path / "model.pkl", target_python=target_python)


def _outcome(details: ScanDetails) -> str:
    """BLOCKED when a default rule other than the format allowlist fails (pickle is not an
    approved format by default: that rule is about the container, not its content)."""
    r = evaluate_scan(
        details.to_dict(), default_rule_instances("LOCAL"), source_type="LOCAL", model_uri="/m"
    )
    failed = [
        e.rule_name
        for e in r.evaluations
        if e.result == "FAILED" and e.rule_name != "Stored In Approved File Format"
    ]
    return "BLOCKED" if failed else "ALLOWED"


def _issues(details: ScanDetails) -> list[str]:
    return [str(i.description) for f in details.files for i in (f.issues_detected or [])]


def _threats(details: ScanDetails) -> set[str]:
    return set().union(*(threats_of(f) for f in by_path(details).values()))


def _code_of(data: bytes) -> CodeArgs | str:
    res = walk_pickle(ByteSource.from_bytes(data))
    assert len(res.code_calls) == 1
    call = res.code_calls[0]
    return code_args(call.module, call.name, call.args)


# --- real files -----------------------------------------------------------------------------


def test_real_lambda_is_recorded_whole_and_inert_under_its_own_version() -> None:
    data = cloudpickle.dumps(lambda x: x * 2 + 1)
    code = _code_of(data)
    assert isinstance(code, CodeArgs)
    assert code.code == (lambda x: x * 2 + 1).__code__.co_code
    assert code.versions == ("3.11", "3.12", "3.13", "3.14")
    own = f"{sys.version_info.major}.{sys.version_info.minor}"
    assert judge_version(code, own) is None


OWN = f"{sys.version_info.major}.{sys.version_info.minor}"
#: Everyday lambdas, written by the installed cloudpickle and dill.
#: The lambdas scripts/gen_bytecode.py compiled in every CPython with tables (arithmetic,
#: comparisons, conditionals, boolean operators, slices, defaults, closures).
CORPUS = json.loads((ROOT / "tests" / "scanner" / "data" / "lambdas.json").read_text())
REAL_LAMBDAS: list[str] = CORPUS["inert"]
_WRITER = """
import json, sys, cloudpickle, dill
SCALE, OFFSET = 2.0, 1  # module constants some lambdas read
out = []
for src in json.loads(sys.argv[1]):
    fn = eval(src)
    out.append([p.hex() for p in (
        cloudpickle.dumps(fn),
        cloudpickle.dumps({"transform": fn, "weights": [0.5, 1.5]}),
        dill.dumps(fn),
        dill.dumps(fn, recurse=True),
    )])
print(json.dumps(out))
"""
WRITERS = ["cloudpickle", "cloudpickle-in-dict", "dill", "dill-recurse"]


@pytest.fixture(scope="module")
def real_lambda_files() -> list[list[bytes]]:
    """Each lambda as written from a script (``__main__``, where dill refers to the loader's
    own namespace for globals), by every writer."""
    out = subprocess.run(
        [sys.executable, "-c", _WRITER, json.dumps(REAL_LAMBDAS)],
        capture_output=True,
        text=True,
        check=True,
    )
    return [[bytes.fromhex(h) for h in row] for row in json.loads(out.stdout)]


@pytest.mark.parametrize("index", range(len(REAL_LAMBDAS)))
@pytest.mark.parametrize("writer", range(len(WRITERS)), ids=WRITERS)
def test_real_lambdas_pass_for_the_interpreter_that_loads_them(
    tmp_path: pathlib.Path, real_lambda_files: list[list[bytes]], writer: int, index: int
) -> None:
    data = real_lambda_files[index][writer]
    # Default: judged for the interpreter running the scan, which wrote them.
    details = _scan(tmp_path, data, target_python=None)
    if WRITERS[writer] == "dill" and "SCALE" in REAL_LAMBDAS[index]:
        # dill's plain mode leaves the globals to the loading program's __main__: a read of
        # them is refused (see test_dill_function_reading_the_loader_s_globals_is_blocked).
        assert _outcome(details) == "BLOCKED"
        assert any("own __main__ namespace" in d for d in _issues(details))
        return
    assert _threats(details) == set(), _issues(details)
    assert _outcome(details) == "ALLOWED"
    assert _threats(_scan(tmp_path, data, target_python=OWN)) == set()


def test_real_lambdas_block_for_other_interpreters_and_for_any(tmp_path: pathlib.Path) -> None:
    # RESUME (151 in 3.11/3.12) is BINARY_OP_ADD_INT in 3.13 and CALL_KW_BOUND_METHOD in 3.14;
    # a 3.13/3.14 RESUME is another defined instruction in the others: not provable.
    other = "3.13" if OWN != "3.13" else "3.11"
    for fn in (lambda x: x * 2 + 1, lambda x, y: (x - y) ** 2):
        data = cloudpickle.dumps({"f": fn})
        for target in ("any", other):
            details = _scan(tmp_path, data, target_python=target)
            assert _outcome(details) == "BLOCKED"
            issues = _issues(details)
            assert any("not provably inert: CPython 3.1" in d for d in issues), issues
        named = _issues(_scan(tmp_path, data, target_python=other))
        assert any(f"judged for CPython {other};" in d for d in named), named


def test_dill_code_is_never_provable_without_tables_for_every_version(
    tmp_path: pathlib.Path,
) -> None:
    # dill's _create_code converts any layout to the loading interpreter's CodeType.
    details = _scan(tmp_path, dill.dumps(crafted(AFFINE), recurse=True))
    assert _outcome(details) == "BLOCKED"
    assert any("no opcode tables for CPython 3.8" in d for d in _issues(details))
    for target in ("3.9", "pypy"):
        details = _scan(tmp_path, dill.dumps(crafted(AFFINE), recurse=True), target)
        assert _outcome(details) == "BLOCKED"
        assert any("no opcode tables for" in d for d in _issues(details))


def test_a_later_cpython_is_never_proven_inert(tmp_path: pathlib.Path) -> None:
    details = _scan(tmp_path, cloudpickle.dumps(crafted(AFFINE)), target_python="3.15")
    assert any("no opcode tables for CPython 3.15" in d for d in _issues(details))


def test_a_layout_the_target_cannot_load_is_not_passed() -> None:
    code = CodeArgs(code=AFFINE, versions=("3.8", "3.9", "3.10"))
    assert judge_code(code, ("3.11",)) == (
        "built in a layout only CPython 3.8, 3.9, 3.10 load, not CPython 3.11"
    )
    assert judge_code(code, None) is not None


def test_malicious_lambdas_block_for_the_running_interpreter_too(tmp_path: pathlib.Path) -> None:
    for fn in (lambda x: __import__("os").system(x), lambda x: eval(x), lambda x: x.__class__):
        for dump in (cloudpickle.dumps, dill.dumps):
            assert _outcome(_scan(tmp_path, dump(fn), target_python=None)) == "BLOCKED"


# --- dill's reference to the loader's __main__ namespace ------------------------------------


def _main_dill() -> bytes:
    out = subprocess.run(
        [sys.executable, "-c", "import dill,sys; sys.stdout.write(dill.dumps(lambda x: x).hex())"],
        capture_output=True,
        text=True,
        check=True,
    )
    data = bytes.fromhex(out.stdout)
    assert b"c__builtin__\n__main__\n" in data
    return data


def test_dill_main_namespace_written_into_is_blocked(tmp_path: pathlib.Path) -> None:
    # The lambda is inert, but the file also stores a value into the loader's __main__.
    data = _main_dill()
    assert data.endswith(b"b.")
    evil = data[:-1] + b"c__builtin__\n__main__\nS'predict'\nI1\ns0."
    issues = _issues(_scan(tmp_path, evil, target_python=None))
    assert any("writes into the imported object __builtin__.__main__" in d for d in issues)
    assert any("imports __builtin__.__main__" in d for d in issues)


def test_dill_main_namespace_handed_to_another_call_is_blocked(tmp_path: pathlib.Path) -> None:
    data = _main_dill()
    # collections.OrderedDict(__main__.__dict__): a copy of the loader's namespace in the model.
    evil = data[:-1] + b"ccollections\nOrderedDict\n(c__builtin__\n__main__\ntR0."
    issues = _issues(_scan(tmp_path, evil, target_python=None))
    assert any("imports __builtin__.__main__" in d for d in issues), issues


def test_writes_into_imported_objects_are_findings(tmp_path: pathlib.Path) -> None:
    for data, op in [
        (b"csys\npath\nS'/tmp/x'\na.", "APPEND"),
        (b"cos\npath\n}S'join'\nI1\nsb.", "BUILD"),
        (b"\x80\x04\x8c\x02os\x8c\x07environ\x93\x8c\x01K\x8c\x01V\x73.", "SETITEM"),
        (b"\x80\x04\x8c\x08builtins\x8c\x03set\x93(K\x01\x90.", "ADDITEMS"),
        (b"\x80\x04\x8c\x08builtins\x8c\x04dict\x93(K\x01K\x02u.", "SETITEMS"),
        (b"\x80\x04\x8c\x08builtins\x8c\x04list\x93(K\x01e.", "APPENDS"),
    ]:
        issues = _issues(_scan(tmp_path, data))
        assert any("writes into the imported object" in d and op in d for d in issues), (
            op,
            issues,
        )


@pytest.mark.parametrize(
    "wrap",
    [
        lambda f: f,
        lambda f: {"transform": f, "weights": [0.5, 1.5], "name": "scaler"},
        lambda f: ("pipeline", [("step", f)], {"alpha": 0.1}),
    ],
    ids=["bare", "dict", "nested"],
)
def test_cloudpickle_function_with_inert_code_passes(
    tmp_path: pathlib.Path, wrap: Callable[[Any], Any]
) -> None:
    details = _scan(tmp_path, cloudpickle.dumps(wrap(crafted(AFFINE))))
    assert _threats(details) == set()
    assert _outcome(details) == "ALLOWED"


def test_other_imports_of_a_proven_file_are_still_judged(tmp_path: pathlib.Path) -> None:
    import os

    fn = crafted(AFFINE)
    fn.__defaults__ = (os.system,)  # data the function holds: judged as any pickle value
    issues = _issues(_scan(tmp_path, cloudpickle.dumps(fn)))
    assert any(".system at load time (unsafe" in d for d in issues)
    assert not any("cloudpickle" in d for d in issues)


def test_two_argument_function_with_inert_code_passes(tmp_path: pathlib.Path) -> None:
    # (x - y) ** 2 written with COPY-free arithmetic: x - y, then squared via BINARY_OP **.
    code = asm(
        ("LOAD_FAST", 0),
        ("LOAD_FAST", 1),
        ("BINARY_OP", 10),
        ("LOAD_CONST", 1),
        ("BINARY_OP", 8),
        ("RETURN_VALUE", 0),
    )
    fn = lambda x, y: (x - y) ** 2  # noqa: E731
    fn.__code__ = fn.__code__.replace(co_code=code, co_consts=(None, 2), co_stacksize=2)
    details = _scan(tmp_path, cloudpickle.dumps([fn, fn]))
    assert _threats(details) == set()


# --- malicious look-alikes: each passes only if a judge check is removed --------------------


def _blocked_for(
    tmp_path: pathlib.Path, data: bytes, why: str, target_python: str | None = "any"
) -> None:
    details = _scan(tmp_path, data, target_python)
    assert _outcome(details) == "BLOCKED"
    assert any(why in d for d in _issues(details)), _issues(details)


def test_lambda_importing_os_is_blocked(tmp_path: pathlib.Path) -> None:
    fn = lambda x: __import__("os").system(x)  # noqa: E731
    _blocked_for(tmp_path, cloudpickle.dumps(fn), "LOAD_GLOBAL pushes a NULL for a call")


def test_closure_over_os_system_still_reports_os_system(tmp_path: pathlib.Path) -> None:
    import os

    g = os.system
    details = _scan(tmp_path, cloudpickle.dumps(lambda x: g(x)))
    assert any(".system" in d and "unsafe" in d for d in _issues(details))
    assert _outcome(details) == "BLOCKED"


@pytest.mark.parametrize(
    ("code", "fields", "why"),
    [
        (
            asm(("LOAD_FAST", 0), ("LOAD_CONST", 9), ("BINARY_OP", 0), ("RETURN_VALUE", 0)),
            {},
            "constant index out of range",
        ),
        (
            asm(("LOAD_FAST", 0), ("JUMP_BACKWARD", 1), ("RETURN_VALUE", 0)),
            {},
            "JUMP_BACKWARD at offset 2 is not an allowlisted",
        ),
        (
            asm(("LOAD_FAST", 0), ("EXTENDED_ARG", 1), ("LOAD_CONST", 0), ("RETURN_VALUE", 0)),
            {},
            "EXTENDED_ARG at offset 2",
        ),
        (AFFINE, {"co_stacksize": 1}, "stack deeper than co_stacksize"),
        (
            asm(
                ("LOAD_FAST", 0), ("LOAD_CONST", 1), ("BINARY_OP", 5), ("RETURN_VALUE", 0), cache=7
            ),
            {},
            "inline cache of BINARY_OP at offset 4 is not zero",
        ),
        (
            asm(("LOAD_FAST", 0), ("LOAD_FAST", 1), ("BINARY_OP", 0), ("RETURN_VALUE", 0)),
            {"co_varnames": ("x", "y"), "co_nlocals": 2},
            "local read before assignment",
        ),
        (asm(("LOAD_FAST", 0), ("BINARY_OP", 0), ("RETURN_VALUE", 0)), {}, "stack underflow"),
        (
            asm(("LOAD_FAST", 0), ("LOAD_CONST", 1), ("BINARY_OP", 200), ("RETURN_VALUE", 0)),
            {},
            "BINARY_OP operator out of range",
        ),
        (asm(("LOAD_FAST", 0), ("LOAD_CONST", 1)), {}, "execution runs past the end"),
        # Pure in 3.11 (LOAD_CONST first), but 100 is POP_JUMP_IF_TRUE in 3.13, whose inline
        # cache is then the next instruction.
        (
            asm(("LOAD_CONST", 1), ("LOAD_FAST", 0), ("BINARY_OP", 0), ("RETURN_VALUE", 0)),
            {},
            "CPython 3.13: inline cache of POP_JUMP_IF_TRUE at offset 0 is not zero",
        ),
        (AFFINE, {"co_flags": 0x20 | 3}, "flags 0x23"),
        (
            AFFINE,
            {"co_consts": (None, 2, crafted(AFFINE).__code__)},
            "a constant is not plain data",
        ),
        # Over the cap: the walker keeps at most 4 KiB of bytes, longer code is unknown.
        (asm(*[("NOP", 0)] * 2100) + AFFINE, {}, "longer than 4096 bytes"),
    ],
    ids=[
        "const-out-of-range",
        "backward-jump",
        "extended-arg",
        "stacksize-too-small",
        "nonzero-cache",
        "unassigned-local",
        "underflow",
        "binary-op-out-of-range",
        "falls-off-the-end",
        "valid-in-311-unsafe-in-313",
        "generator-flag",
        "nested-code-const",
        "over-the-cap",
    ],
)
def test_crafted_code_is_blocked(
    tmp_path: pathlib.Path, code: bytes, fields: dict[str, Any], why: str
) -> None:
    data = patched(code, **fields)
    _blocked_for(tmp_path, data, why)
    # Each check holds for one named interpreter too (the 3.13 case only under 3.13).
    _blocked_for(tmp_path, data, why, "3.13" if "CPython 3.13" in why else "3.11")


class _CallsOnLoad:
    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn = fn

    def __reduce__(self) -> tuple[Any, ...]:
        return (self.fn, (3,))  # the unpickler would call fn(3) while loading


def test_function_the_pickle_calls_while_loading_is_blocked(tmp_path: pathlib.Path) -> None:
    data = cloudpickle.dumps(_CallsOnLoad(crafted(AFFINE)))
    details = _scan(tmp_path, data)
    assert _outcome(details) == "BLOCKED"
    assert any("the file calls the result of" in d for d in _issues(details))


def test_builtin_type_other_than_codetype_is_blocked(tmp_path: pathlib.Path) -> None:
    data = cloudpickle.dumps({"f": crafted(AFFINE), "t": types.FunctionType})
    details = _scan(tmp_path, data)
    assert _outcome(details) == "BLOCKED"


# --- the judge alone --------------------------------------------------------------------------


def test_judge_requires_every_candidate_version() -> None:
    code = CodeArgs(
        argcount=1,
        nlocals=1,
        stacksize=2,
        code=asm(("LOAD_CONST", 0), ("RETURN_VALUE", 0)),
        consts=(1,),
        varnames=("x",),
        versions=("3.11", "3.12", "3.13", "3.14"),
    )
    assert judge_version(code, "3.11") is None
    assert judge_version(code, "3.12") is None
    assert judge_code(code) == (
        "CPython 3.13: inline cache of POP_JUMP_IF_TRUE at offset 0 is not zero"
    )
    assert judge_version(code, "3.9") == "no opcode tables for CPython 3.9"


def test_generator_check_agrees_with_this_interpreter() -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_bytecode.py"), "--check", "--local"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr


def _result_with(sites: list[Any]) -> Any:
    from modelsec.scanner.pickle_types import PickleResult

    res = walk_pickle(ByteSource.from_bytes(cloudpickle.dumps(crafted(AFFINE))))
    assert lambdas_proven(res) is None  # the baseline passes
    res.opaque_sites.extend(sites)
    res.opaque_calls += len(sites)
    assert isinstance(res, PickleResult)
    return res


@pytest.mark.parametrize(
    ("site", "why"),
    [
        (None, "the file calls a value it computed"),
        (("cloudpickle.cloudpickle", "_builtin_type", ("FunctionType",), "REDUCE"), "other than"),
        (("cloudpickle.cloudpickle", "_builtin_type", ("CodeType",), "NEWOBJ"), "other than"),
        (("cloudpickle.cloudpickle", "_make_function", (), "REDUCE"), "calls the result of"),
    ],
)
def test_every_opaque_call_must_be_a_code_construction(site: Any, why: str) -> None:
    assert why in str(lambdas_proven(_result_with([site])))


def test_unrecorded_opaque_calls_are_not_proven() -> None:
    res = _result_with([])
    res.opaque_calls += 1
    assert lambdas_proven(res) == "a call's callable is not known"


# --- real code objects compiled by every CPython with tables (scripts/gen_bytecode.py) ------


@pytest.mark.parametrize("version", sorted(CORPUS["versions"]))
def test_every_version_s_own_lambdas_are_judged_right(version: str) -> None:
    entries = CORPUS["versions"][version]["lambdas"]
    assert [e["source"] for e in entries] == CORPUS["inert"] + CORPUS["unsafe"]
    for entry in entries:
        why = judge_version(corpus_code(entry), version)
        if entry["source"] in CORPUS["inert"]:
            assert why is None, (entry["source"], why)
        else:
            assert why is not None, entry["source"]


def test_the_corpus_covers_jumps_closures_and_slices_in_every_version() -> None:
    for version, data in CORPUS["versions"].items():
        table = TABLES["versions"][version]
        used = set()
        for entry in data["lambdas"]:
            if entry["source"] in CORPUS["inert"]:
                code = bytes.fromhex(entry["code"])
                used |= {table["defined"].get(str(code[i])) for i in range(0, len(code), 2)}
        assert used & set(table["jumps"]), version
        assert {"COPY_FREE_VARS", "LOAD_DEREF", "TO_BOOL" if version >= "3.13" else "NOP"} & used
        assert {"BINARY_SLICE", "BUILD_SLICE"} & used, version


# --- forward jumps and free variables: crafted (3.11 numbering) -----------------------------


def closure_patched(code: bytes, **fields: Any) -> bytes:
    """A real cloudpickle file of a closure over ``k = 3`` whose code bytes are swapped."""

    def make(k: int) -> Callable[[int], int]:
        return lambda x: x * k

    fn = make(3)
    placeholder = bytes([T311["opmap"]["NOP"], 0]) * (len(code) // 2)
    fn.__code__ = fn.__code__.replace(co_code=placeholder, co_stacksize=2, **fields)
    data: bytes = cloudpickle.dumps(fn)
    assert data.count(placeholder) == 1
    return data.replace(placeholder, code)


CLOSURE = asm(
    ("COPY_FREE_VARS", 1),
    ("RESUME", 0),
    ("LOAD_FAST", 0),
    ("LOAD_DEREF", 1),
    ("BINARY_OP", 5),
    ("RETURN_VALUE", 0),
)


def test_crafted_closure_baseline_passes(tmp_path: pathlib.Path) -> None:
    for target in ("3.11", None):
        assert _threats(_scan(tmp_path, closure_patched(CLOSURE), target)) == set()


@pytest.mark.parametrize(
    ("code", "why"),
    [
        (
            asm(("RESUME", 0), ("LOAD_FAST", 0), ("LOAD_DEREF", 1), ("RETURN_VALUE", 0)),
            "free variable read before COPY_FREE_VARS",
        ),
        (
            asm(("COPY_FREE_VARS", 1), ("LOAD_DEREF", 0), ("RETURN_VALUE", 0)),
            "LOAD_DEREF of a slot that is not a free variable",
        ),
        (
            asm(("COPY_FREE_VARS", 1), ("LOAD_DEREF", 2), ("RETURN_VALUE", 0)),
            "LOAD_DEREF of a slot that is not a free variable",
        ),
        (
            asm(("COPY_FREE_VARS", 2), ("LOAD_DEREF", 1), ("RETURN_VALUE", 0)),
            "COPY_FREE_VARS count is not the number of free variables",
        ),
        # The free variable is copied on one path only: the join forgets it.
        (
            asm(
                ("LOAD_FAST", 0),
                ("POP_JUMP_FORWARD_IF_FALSE", 1),
                ("COPY_FREE_VARS", 1),
                ("LOAD_DEREF", 1),
                ("RETURN_VALUE", 0),
            ),
            "free variable read before COPY_FREE_VARS",
        ),
    ],
    ids=["before-copy", "local-slot", "past-the-frees", "wrong-count", "copied-on-one-path"],
)
def test_crafted_free_variable_misuse_is_blocked(
    tmp_path: pathlib.Path, code: bytes, why: str
) -> None:
    _blocked_for(tmp_path, closure_patched(code), why, "3.11")


def test_a_forward_jump_over_an_unsafe_instruction_passes(tmp_path: pathlib.Path) -> None:
    # IMPORT_NAME is never executed: JUMP_FORWARD skips it.
    code = asm(
        ("LOAD_FAST", 0),
        ("JUMP_FORWARD", 1),
        ("IMPORT_NAME", 0),
        ("RETURN_VALUE", 0),
    )
    assert _threats(_scan(tmp_path, patched(code), "3.11")) == set()


@pytest.mark.parametrize(
    ("code", "why"),
    [
        # the taken branch reaches LOAD_GLOBAL
        (
            asm(
                ("LOAD_FAST", 0),
                ("POP_JUMP_FORWARD_IF_FALSE", 2),
                ("LOAD_FAST", 0),
                ("RETURN_VALUE", 0),
                ("IMPORT_NAME", 0),
                ("RETURN_VALUE", 0),
            ),
            "IMPORT_NAME at offset 8 is not an allowlisted",
        ),
        # target inside LOAD_GLOBAL's inline cache
        (
            asm(("LOAD_FAST", 0), ("JUMP_FORWARD", 1), ("LOAD_GLOBAL", 0), ("RETURN_VALUE", 0)),
            "jumps outside the instructions",
        ),
        (
            asm(("LOAD_FAST", 0), ("JUMP_FORWARD", 40), ("RETURN_VALUE", 0)),
            "jumps outside the instructions",
        ),
        # one path pushes one more value than the other where they join
        (
            asm(
                ("LOAD_FAST", 0),
                ("LOAD_FAST", 0),
                ("POP_JUMP_FORWARD_IF_FALSE", 1),
                ("LOAD_FAST", 0),
                ("RETURN_VALUE", 0),
            ),
            "different stack depths",
        ),
        (asm(("JUMP_IF_TRUE_OR_POP", 0), ("RETURN_VALUE", 0)), "stack underflow"),
        # both branches fall off the end
        (
            asm(("LOAD_FAST", 0), ("POP_JUMP_FORWARD_IF_TRUE", 0), ("NOP", 0)),
            "execution runs past the end",
        ),
        (
            asm(("LOAD_FAST", 0), ("LOAD_FAST", 0), ("BUILD_SLICE", 4), ("RETURN_VALUE", 0)),
            "BUILD_SLICE count out of range",
        ),
        # a local assigned on one branch only is not assigned after the join
        (
            asm(
                ("LOAD_FAST", 0),
                ("POP_JUMP_FORWARD_IF_FALSE", 2),
                ("LOAD_FAST", 0),
                ("STORE_FAST", 1),
                ("LOAD_FAST", 1),
                ("RETURN_VALUE", 0),
            ),
            "local read before assignment",
        ),
    ],
    ids=[
        "branch-to-unsafe",
        "into-cache",
        "past-the-end",
        "depths-differ",
        "underflow",
        "falls-off",
        "slice-count",
        "assigned-on-one-branch",
    ],
)
def test_crafted_branches_are_blocked(tmp_path: pathlib.Path, code: bytes, why: str) -> None:
    fields = {"co_varnames": ("x", "y"), "co_nlocals": 2}
    _blocked_for(tmp_path, patched(code, **fields), why, "3.11")


# --- dill's closure-cell setter ---------------------------------------------------------------


def _dill_closure() -> bytes:
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import dill,sys; f=(lambda k: lambda x: x * k)(3); "
            "sys.stdout.write(dill.dumps(f, recurse=True).hex())",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    data = bytes.fromhex(out.stdout)
    assert b"cell_contents" in data and b"_setattr" in data
    return data


def test_dill_closure_passes(tmp_path: pathlib.Path) -> None:
    assert _threats(_scan(tmp_path, _dill_closure(), None)) == set()


@pytest.mark.parametrize(
    ("old", "new", "why"),
    [
        # the setter aimed at another attribute of the cell
        (b"cell_contents", b"cell_contentz", "the file calls the result of builtins.getattr"),
        # getattr fetching another setter
        (b"\x8c\x08_setattr", b"\x8c\x08_getattr", "builtins.getattr"),
    ],
    ids=["other-attribute", "other-setter"],
)
def test_dill_cell_setter_look_alikes_are_blocked(
    tmp_path: pathlib.Path, old: bytes, new: bytes, why: str
) -> None:
    data = _dill_closure()
    assert data.count(old) == 1
    issues = _issues(_scan(tmp_path, data.replace(old, new), None))
    assert any(why in d for d in issues), issues


def test_dill_setter_on_an_imported_object_is_blocked(tmp_path: pathlib.Path) -> None:
    # getattr(dill._dill, '_setattr', setattr)(os.path, 'cell_contents', 3) after the closure.
    data = _dill_closure()
    evil = data[:-1] + (
        b"\x8c\x08builtins\x8c\x07getattr\x93\x8c\x04dill\x8c\x05_dill\x93\x8c\x08_setattr"
        b"\x8c\x08builtins\x8c\x07setattr\x93\x87R\x8c\x02os\x8c\x04path\x93"
        b"\x8c\x0dcell_contents\x4b\x03\x87R0."
    )
    issues = _issues(_scan(tmp_path, evil, None))
    assert any("the file calls the result of builtins.getattr" in d for d in issues), issues
    assert any("imports builtins.setattr" in d for d in issues), issues


# --- module constants (LOAD_GLOBAL) ---------------------------------------------------------


def test_a_global_holding_an_unsafe_callable_is_reported(tmp_path: pathlib.Path) -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import os, sys, cloudpickle; SCALE = os.system; "
            "sys.stdout.write(cloudpickle.dumps(lambda x: x * SCALE).hex())",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    issues = _issues(_scan(tmp_path, bytes.fromhex(out.stdout), None))
    assert any(".system at load time (unsafe" in d for d in issues), issues


@pytest.mark.parametrize(
    ("names", "arg", "why"),
    [
        (("abs",), 0, "reads the builtin or special name 'abs'"),
        (("__builtins__",), 0, "reads the builtin or special name '__builtins__'"),
        (("SCALE",), 2, "name index out of range"),
        (("SCALE",), 1, "LOAD_GLOBAL pushes a NULL for a call"),
    ],
    ids=["builtin", "dunder", "out-of-range", "null-bit"],
)
def test_crafted_global_reads_are_blocked(
    tmp_path: pathlib.Path, names: tuple[str, ...], arg: int, why: str
) -> None:
    code = asm(("LOAD_FAST", 0), ("LOAD_GLOBAL", arg), ("BINARY_OP", 5), ("RETURN_VALUE", 0))
    _blocked_for(tmp_path, patched(code, co_names=names), why, "3.11")


def test_crafted_global_read_of_a_module_constant_passes(tmp_path: pathlib.Path) -> None:
    code = asm(("LOAD_FAST", 0), ("LOAD_GLOBAL", 0), ("BINARY_OP", 5), ("RETURN_VALUE", 0))
    assert _threats(_scan(tmp_path, patched(code, co_names=("SCALE",)), "3.11")) == set()


def test_dill_function_reading_the_loader_s_globals_is_blocked(tmp_path: pathlib.Path) -> None:
    # dill stores a script's lambda with the loading program's __main__ as its globals: a
    # global read there would return that program's values (its secrets) to the caller.
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import dill, sys; SCALE = 2.0; sys.stdout.write(dill.dumps(lambda x: x * SCALE).hex())",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    issues = _issues(_scan(tmp_path, bytes.fromhex(out.stdout), None))
    assert any("the loading program's own __main__ namespace" in d for d in issues), issues
    # With recurse=True dill stores the value itself: that one passes.
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import dill, sys; SCALE = 2.0; "
            "sys.stdout.write(dill.dumps(lambda x: x * SCALE, recurse=True).hex())",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert _threats(_scan(tmp_path, bytes.fromhex(out.stdout), None)) == set()
