"""Callable classification: derived deny/allow tables, dotted-name resolution, gadgets (#11, #19)."""

from __future__ import annotations

import argparse
import collections
import datetime
import decimal
import fractions
import importlib.util
import json
import os
import pathlib
import pickle
import re
import subprocess
import sys
import uuid
from typing import Any

import pytest

import tests.scanner.scanner_builders as B
from modelsec.scanner.allowlist import ALLOWED_NAMES
from modelsec.scanner.callables import (
    DATA_FILE,
    SUSPICIOUS,
    UNSAFE,
    classify_callable,
    denied_reason,
    derived,
    is_allowed,
)
from modelsec.scanner.limits import ScanLimits
from modelsec.scanner.pickle_scan import PickleImport, PickleResult
from modelsec.scanner.pickles import report_pickle
from modelsec.scanner.report import FileContext
from tests.scanner.conftest import threats_of

ROOT = pathlib.Path(__file__).resolve().parents[2]
GEN = ROOT / "scripts" / "gen_callables.py"
REVIEW = json.loads((ROOT / "scripts" / "callables_review.json").read_text())


def verdict(module: str, name: str) -> int | None:
    v = classify_callable(module, name)
    return None if v is None else v[0]


# --- 1. standard-library executors beyond the obvious ones: unsafe -------------------------

STDLIB_EXECUTORS = [
    ("pydoc", "pipepager"),
    ("pydoc", "tempfilepager"),
    ("imaplib", "IMAP4_stream"),
    ("typing", "_eval_type"),
    ("typing", "ForwardRef._evaluate"),
    ("typing", "get_type_hints"),
    ("cgitb", "handler"),
    ("idlelib.run", "main"),
    ("lib2to3.main", "main"),
    ("turtle", "Screen"),
    ("tkinter", "Tcl"),
    ("test.support.script_helper", "assert_python_ok"),
    ("sysconfig", "get_config_vars"),
    ("_aix_support", "aix_platform"),
    ("uuid", "_get_command_stdout"),
    ("mailcap", "findmatch"),
    ("dataclasses", "make_dataclass"),
    ("nntplib", "NNTP"),
    ("os", "popen"),
    ("distutils.spawn", "spawn"),
    ("ensurepip", "_run_pip"),
    ("ctypes.util", "find_library"),
    ("webbrowser", "open"),
    ("site", "addpackage"),
]


@pytest.mark.parametrize(("module", "name"), STDLIB_EXECUTORS)
def test_stdlib_executor_is_unsafe(module: str, name: str) -> None:
    assert verdict(module, name) == UNSAFE, classify_callable(module, name)


# --- 2. dotted names resolved through module attributes -----------------------------------

DOTTED = [
    ("pathlib", "os.system"),
    ("argparse", "_os.system"),
    ("torch", "serialization.os.system"),
    ("numpy", "lib._datasource.os.system"),
    ("sklearn.utils.fixes", "platform.popen"),
    ("shutil", "os.system"),
    ("collections", "_sys.modules"),
    ("collections", "_itemgetter"),  # operator.itemgetter under another name
    ("pandas", "DataFrame.to_csv"),
    ("lightgbm", "Booster.save_model"),
    ("pathlib", "PosixPath.write_text"),  # a method of an allowed class is not allowed
]


@pytest.mark.parametrize(("module", "name"), DOTTED)
def test_dotted_chain_through_module_attribute_is_unsafe(module: str, name: str) -> None:
    assert verdict(module, name) == UNSAFE, classify_callable(module, name)


def test_dotted_chain_end_to_end(scan_files):  # type: ignore[no-untyped-def]
    # Protocol 4 STACK_GLOBAL with a dotted name: find_class walks argparse._os.system.
    blob = B.stack_global_call("argparse", "_os.system")
    assert threats_of(scan_files({"m.pkl": blob}).files[0]) == {"PAIT-PKL-100"}


def test_unknown_attribute_of_allowed_class_is_at_least_suspicious() -> None:
    assert verdict("collections", "OrderedDict.fromkeys") in (UNSAFE, SUSPICIOUS)
    assert verdict("argparse", "Namespace.anything") in (UNSAFE, SUSPICIOUS)


# --- 3. ML library gadgets (#19): unsafe -------------------------------------------------

ML_GADGETS = [
    ("hydra.utils", "instantiate"),
    ("hydra.utils", "call"),
    ("hydra._internal.utils", "_locate"),
    ("sympy", "sympify"),
    ("sympy.parsing.sympy_parser", "parse_expr"),
    ("sympy.core.add", "Add"),
    ("numpy", "save"),
    ("numpy", "memmap"),
    ("numpy._core.memmap", "memmap"),
    ("numpy", "load"),
    ("numpy", "fromfile"),
    ("numpy", "ndarray.tofile"),
    ("numpy.lib._npyio_impl", "loadtxt"),
    ("pandas", "read_csv"),
    ("pandas.io.parsers.readers", "read_csv"),
    ("pandas", "read_pickle"),
    ("pandas", "read_html"),
    ("pandas", "read_parquet"),
    ("scipy.io", "loadmat"),
    ("torch.hub", "load"),
    ("torch", "load"),
    ("transformers", "AutoModel.from_pretrained"),
    ("transformers.models.bert.modeling_bert", "BertModel.from_pretrained"),
    ("huggingface_hub", "hf_hub_download"),
    ("huggingface_hub.file_download", "hf_hub_download"),
    ("keras.models", "load_model"),
    ("tensorflow.keras.utils", "get_file"),
    ("joblib", "load"),
    ("joblib.numpy_pickle", "load"),
    ("omegaconf", "OmegaConf.load"),
    ("omegaconf.omegaconf", "OmegaConf.load"),
    ("xgboost.core", "Booster.load_model"),
    ("sklearn.datasets", "fetch_openml"),
]


@pytest.mark.parametrize(("module", "name"), ML_GADGETS)
def test_ml_library_gadget_is_unsafe(module: str, name: str) -> None:
    assert verdict(module, name) == UNSAFE, classify_callable(module, name)


# --- 4. benign names real files use: no finding -------------------------------------------

BENIGN_NAMES = [
    ("numpy", "matrix"),
    ("numpy.matrixlib.defmatrix", "matrix"),
    ("joblib.numpy_pickle", "NumpyArrayWrapper"),
    ("joblib.numpy_pickle_compat", "NDArrayWrapper"),
    ("joblib.numpy_pickle_compat", "ZNDArrayWrapper"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "dtype"),
    ("numpy", "float64"),
    ("numpy.dtypes", "Float64DType"),
    ("numpy.ma.core", "MaskedArray"),
    ("numpy.ma.core", "_mareconstruct"),
    ("pathlib", "PosixPath"),
    ("pathlib", "WindowsPath"),
    ("pathlib", "PurePosixPath"),
    ("pathlib", "PureWindowsPath"),
    ("argparse", "Namespace"),
    ("numpy.random", "__RandomState_ctor"),
    ("numpy.random._pickle", "__randomstate_ctor"),
    ("numpy.random._pickle", "__bit_generator_ctor"),
    ("numpy.random._pickle", "__generator_ctor"),
    ("numpy.random.mtrand", "RandomState"),
    ("numpy.random._mt19937", "MT19937"),
    ("numpy.random._pcg64", "PCG64"),
    ("numpy.random._generator", "Generator"),
    ("re", "_compile"),
    ("copyreg", "_reconstructor"),
    ("collections", "OrderedDict"),
    ("datetime", "datetime"),
    ("decimal", "Decimal"),
    ("uuid", "UUID"),
    *(("builtins", n) for n in ("set", "frozenset", "complex", "bytearray", "slice", "range")),
    ("sklearn.linear_model._logistic", "LogisticRegression"),
    ("sklearn.linear_model.logistic", "LogisticRegression"),  # pre-0.22 module path
    ("sklearn.ensemble._forest", "RandomForestClassifier"),
    ("sklearn.tree._classes", "DecisionTreeClassifier"),
    ("sklearn.tree._tree", "Tree"),
    ("sklearn.pipeline", "Pipeline"),
    ("sklearn.preprocessing._data", "StandardScaler"),
    ("sklearn._loss.loss", "HalfBinomialLoss"),
    ("scipy.sparse._csr", "csr_matrix"),
    ("scipy.sparse.csr", "csr_matrix"),
    ("scipy.sparse._coo", "coo_array"),
    ("pandas.core.frame", "DataFrame"),
    ("pandas.core.series", "Series"),
    ("pandas.core.indexes.base", "_new_Index"),
    ("pandas.core.indexes.range", "RangeIndex"),
    ("pandas.core.internals.managers", "BlockManager"),
    ("pandas.core.internals.blocks", "new_block"),
    ("pandas._libs.internals", "_unpickle_block"),
    ("pandas._libs.tslibs.timestamps", "_unpickle_timestamp"),
    ("torch._utils", "_rebuild_tensor_v2"),
    ("torch.nn.modules.linear", "Linear"),
    ("torch.nn.modules.container", "Sequential"),
    ("xgboost.core", "Booster"),
    ("xgboost.sklearn", "XGBClassifier"),
    ("lightgbm.basic", "Booster"),
    ("lightgbm.sklearn", "LGBMClassifier"),
    # Names the real-world corpus (.cache/realworld, scripts/fetch_realworld.py) showed.
    ("__builtin__", "hash"),
    ("numpy", "log1p"),
    ("sklearn._loss._loss", "CyHalfBinomialLoss"),
    ("pandas._libs.arrays", "__pyx_unpickle_NDArrayBacked"),
    ("pandas.core.indexes.frozen", "FrozenNDArray"),
    ("gensim.models.word2vec", "Word2Vec"),
    ("gensim.models.keyedvectors", "KeyedVectors"),
    ("gensim.models.ldamodel", "LdaModel"),
    ("gensim.corpora.dictionary", "Dictionary"),
    ("gensim.utils", "call_on_class_only"),
]


@pytest.mark.parametrize(("module", "name"), BENIGN_NAMES)
def test_benign_name_has_no_finding(module: str, name: str) -> None:
    assert classify_callable(module, name) is None


BENIGN_OBJECTS: dict[str, object] = {
    "paths": [pathlib.PurePosixPath("a/b"), pathlib.PureWindowsPath("c:/x"), pathlib.Path(".")],
    "namespace": argparse.Namespace(a=1, b="x"),
    "regex": re.compile(r"\d+", re.I),
    "ordered": collections.OrderedDict(a=1),
    "datetimes": [
        datetime.datetime(2020, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc),
        datetime.date(2020, 1, 1),
        datetime.timedelta(days=1),
    ],
    "decimal": decimal.Decimal("1.5"),
    "fraction": fractions.Fraction(1, 3),
    "uuid": uuid.UUID(int=5),
    "builtins": [{1}, frozenset([2]), 1j, bytearray(b"x"), slice(1, 2), range(3)],
    "defaultdict": collections.defaultdict(list, a=[1]),
}


@pytest.mark.parametrize("case", sorted(BENIGN_OBJECTS))
@pytest.mark.parametrize("proto", [0, 2, 4, 5])
def test_benign_stdlib_pickles_are_clean(scan_files, case: str, proto: int):  # type: ignore[no-untyped-def]
    blob = pickle.dumps(BENIGN_OBJECTS[case], protocol=proto)
    f = scan_files({"m.pkl": blob}).files[0]
    assert f.issues_detected == [], f.issues_detected
    assert f.modelscan_status == "SCANNED"


def _numpy_like_pickles() -> dict[str, bytes]:
    """The imports numpy, joblib and scikit-learn write, built by hand (no numpy needed)."""
    ctor = (
        B.PROTO(4)
        + B.su("numpy.random._pickle")
        + B.su("__randomstate_ctor")
        + B.STACK_GLOBAL
        + B.su("numpy.random._pickle")
        + B.su("__bit_generator_ctor")
        + B.STACK_GLOBAL
        + B.su("numpy.random._mt19937")
        + B.su("MT19937")
        + B.STACK_GLOBAL
        + B.TUPLE1
        + B.REDUCE
        + B.TUPLE1
        + B.REDUCE
        + B.STOP
    )
    matrix = (
        B.PROTO(2)
        + B.glob("numpy.core.multiarray", "_reconstruct")
        + B.MARK
        + B.glob("numpy", "matrix")
        + B.MARK
        + B.binint1(0)
        + B.TUPLE
        + B.string0("b")
        + B.TUPLE
        + B.REDUCE
        + B.STOP
    )
    estimator = (
        B.PROTO(2)
        + B.glob("copyreg", "_reconstructor")
        + B.MARK
        + B.glob("sklearn.linear_model._logistic", "LogisticRegression")
        + B.glob("builtins", "object")
        + B.NONE
        + B.TUPLE
        + B.REDUCE
        + B.EMPTY_DICT
        + B.BUILD
        + B.STOP
    )
    return {"random_state.pkl": ctor, "matrix.pkl": matrix, "estimator.pkl": estimator}


def test_numpy_sklearn_style_pickles_are_clean(scan_files):  # type: ignore[no-untyped-def]
    details = scan_files(_numpy_like_pickles())
    for f in details.files:
        assert f.issues_detected == [], (f.file_path, f.issues_detected)


def test_library_class_outside_the_tables_stays_suspicious() -> None:
    assert verdict("transformers.models.bert.modeling_bert", "BertModel") == SUSPICIOUS
    assert verdict("mylib.models", "Net") == SUSPICIOUS


# --- 5. gadgets judged by what they reach -------------------------------------------------


class G:
    """A reference to a global in walker call arguments (duck-typed)."""

    def __init__(self, module: str, name: str) -> None:
        self.module, self.name = module, name


class Unknown:
    """A value the walker could not compute."""


class Call:
    def __init__(self, module: str, name: str, args: object, offset: int = 10) -> None:
        self.module, self.name, self.args = module, name, args
        self.offset, self.opcode = offset, "REDUCE"


def _report(imports: list[tuple[str, str]], calls: list[Call] | None) -> set[str]:
    res = PickleResult()
    res.imports = [PickleImport(m, n, i, "GLOBAL") for i, (m, n) in enumerate(imports)]
    if calls is not None:
        res.calls = calls  # type: ignore[attr-defined]
    ctx = FileContext("m.pkl", ScanLimits())
    report_pickle(ctx, res, "PKL", "m.pkl")
    return {f"{i.module}.{i.operator}:{i.threat}" for i in ctx.issues}


PARTIAL = ("functools", "partial")
OD = ("collections", "OrderedDict")

GADGET_CASES: dict[str, tuple[list[tuple[str, str]], list[Call], set[str]]] = {
    "partial_of_allowed": ([PARTIAL, OD], [Call(*PARTIAL, (G(*OD),))], set()),
    "partial_of_system": (
        [PARTIAL, ("os", "system")],
        [Call(*PARTIAL, (G("os", "system"), "id"))],
        {"functools.partial:PAIT-PKL-100", "os.system:PAIT-PKL-100"},
    ),
    "partial_of_unlisted": (
        [PARTIAL, ("mylib", "f")],
        [Call(*PARTIAL, (G("mylib", "f"),))],
        {"functools.partial:PAIT-PKL-101", "mylib.f:PAIT-PKL-101"},
    ),
    "partial_of_computed": (
        [PARTIAL],
        [Call(*PARTIAL, (Unknown(),))],
        {"functools.partial:PAIT-PKL-100"},
    ),
    "partial_never_called": ([PARTIAL], [], {"functools.partial:PAIT-PKL-100"}),
    "partial_passed_as_value": (
        [PARTIAL, ("mylib", "apply")],
        [Call("mylib", "apply", (G(*PARTIAL),))],
        {"functools.partial:PAIT-PKL-100", "mylib.apply:PAIT-PKL-101"},
    ),
    "partial_private_alias": (
        [("_functools", "partial"), OD],
        [Call("_functools", "partial", (G(*OD), 1))],
        set(),
    ),
    "methodcaller_system": (
        [("operator", "methodcaller")],
        [Call("operator", "methodcaller", ("system", "id"))],
        {"operator.methodcaller:PAIT-PKL-100"},
    ),
    "methodcaller_copy": (
        [("operator", "methodcaller")],
        [Call("operator", "methodcaller", ("copy",))],
        set(),
    ),
    "methodcaller_computed_arg": (
        [("operator", "methodcaller")],
        [Call("operator", "methodcaller", ("copy", Unknown()))],
        {"operator.methodcaller:PAIT-PKL-100"},
    ),
    "attrgetter_dunder_chain": (
        [("operator", "attrgetter")],
        [Call("operator", "attrgetter", ("fn.__globals__",))],
        {"operator.attrgetter:PAIT-PKL-100"},
    ),
    "attrgetter_write_text": (
        [("operator", "attrgetter")],
        [Call("operator", "attrgetter", ("write_text",))],
        {"operator.attrgetter:PAIT-PKL-100"},
    ),
    "attrgetter_plain": (
        [("operator", "attrgetter")],
        [Call("operator", "attrgetter", ("real", "imag"))],
        set(),
    ),
    "itemgetter_int": (
        [("operator", "itemgetter")],
        [Call("operator", "itemgetter", (0, 1))],
        set(),
    ),
    "itemgetter_builtins": (
        [("operator", "itemgetter")],
        [Call("operator", "itemgetter", ("__builtins__",))],
        {"operator.itemgetter:PAIT-PKL-100"},
    ),
    "getattr_plain": ([("builtins", "getattr")], [Call("builtins", "getattr", (1, "real"))], set()),
    "getattr_system": (
        [("builtins", "getattr"), ("mylib", "obj")],
        [Call("builtins", "getattr", (G("mylib", "obj"), "system"))],
        {"builtins.getattr:PAIT-PKL-100", "mylib.obj:PAIT-PKL-101"},
    ),
    "getattr_computed_name": (
        [("__builtin__", "getattr")],
        [Call("__builtin__", "getattr", (1, Unknown()))],
        {"__builtin__.getattr:PAIT-PKL-100"},
    ),
    "reconstructor_allowed": (
        [("copyreg", "_reconstructor"), OD, ("builtins", "object")],
        [Call("copyreg", "_reconstructor", (G(*OD), G("builtins", "object"), None))],
        set(),
    ),
    "reconstructor_computed_class": (
        [("copyreg", "_reconstructor")],
        [Call("copyreg", "_reconstructor", (Unknown(), G("builtins", "object"), None))],
        {"copyreg._reconstructor:PAIT-PKL-100"},
    ),
}


@pytest.mark.parametrize("case", sorted(GADGET_CASES))
def test_gadget_judged_by_call_sites(case: str) -> None:
    imports, calls, expected = GADGET_CASES[case]
    assert _report(imports, calls) == expected


@pytest.mark.parametrize(
    "gadget",
    [PARTIAL, ("operator", "methodcaller"), ("operator", "attrgetter"), ("builtins", "getattr")],
)
def test_gadget_without_call_sites_stays_unsafe(gadget: tuple[str, str]) -> None:
    # An older walker records no call sites: the name alone decides (fail closed).
    assert _report([gadget], None) == {f"{gadget[0]}.{gadget[1]}:PAIT-PKL-100"}


# --- 6. the committed data: shape, consistency, regeneration -------------------------------

_CATEGORIES = {"process", "code", "import", "file", "network", "deserialize", "native"}


def test_data_shape() -> None:
    raw: dict[str, Any] = json.loads(DATA_FILE.read_text())
    assert raw["format"] == 1
    assert set(raw) >= {"inputs", "denied", "allowed", "module_aliases"}
    assert raw["inputs"]["python"] and raw["inputs"]["packages"]
    for name, entry in raw["denied"].items():
        assert name.isascii() and name.count(".") >= 1, name
        category, sink, depth = entry
        assert category in _CATEGORIES and isinstance(sink, str)
        assert 0 <= depth <= raw["inputs"]["depth"]
    for name, why in raw["allowed"].items():
        assert isinstance(why, str) and why, name
        last = name.rsplit(".", 1)[-1]
        assert not (last.startswith("__") and last.endswith("__")), name
    for key, target in raw["module_aliases"].items():
        assert key != target and target.replace(".", "").replace("_", "").isalnum()
    # Every category the review relies on is present, and the tables are not trivially small.
    assert {e[0] for e in raw["denied"].values()} == _CATEGORIES
    assert len(raw["denied"]) > 1000 and len(raw["allowed"]) > 1000


def test_no_allowed_name_is_denied_without_review() -> None:
    overrides = set(REVIEW["allow_over_denied_module"]) | set(REVIEW["allow_despite_reach"])
    table = derived()
    assert not table.allowed & set(table.denied)
    # An allowed name is ``find_class(module, last part)``: derived entries deny longer names.
    conflicts = sorted(
        n
        for n in table.allowed | ALLOWED_NAMES
        if denied_reason(n, n.count(".")) is not None and n not in overrides
    )
    assert conflicts == []
    # And every override is still needed (no stale review entries).
    for name in REVIEW["allow_over_denied_module"]:
        assert is_allowed(name) and denied_reason(name) is not None, name


def test_review_entries_have_reasons() -> None:
    for section in (
        "barriers",
        "prune",
        "allow",
        "allow_despite_reach",
        "allow_over_denied_module",
    ):
        for name, why in REVIEW[section].items():
            assert isinstance(why, str) and len(why) > 10, (section, name)


def _pinned_importable() -> bool:
    return all(
        importlib.util.find_spec(m) is not None
        for m in ("numpy", "scipy", "pandas", "sklearn", "torch", "xgboost", "lightgbm", "sympy")
    )


@pytest.mark.slow
def test_generator_check_mode() -> None:
    """``gen_callables.py --check`` passes where its pinned inputs are installed.

    Elsewhere (the default test venv has none of them) the data is validated by the tests
    above and ``.ci/run`` runs ``--check`` in a prepared venv; ``MODELSEC_CALLABLES_PYTHON``
    names such an interpreter to run the check from here.
    """
    python = os.environ.get("MODELSEC_CALLABLES_PYTHON") or (
        sys.executable if _pinned_importable() else None
    )
    raw = json.loads(DATA_FILE.read_text())
    if python is None:
        # Self-consistency instead: the recorded inputs match the pinned requirements.
        pins = {}
        for line in (ROOT / "scripts" / "callables_requirements.txt").read_text().splitlines():
            line = line.split("#", 1)[0].strip()
            if "==" in line:
                k, v = line.split("==")
                pins[k.strip().lower().replace("_", "-")] = v.strip().split("+")[0]
        recorded = {k.lower().replace("_", "-"): v for k, v in raw["inputs"]["packages"].items()}
        assert {k: v.split("+")[0] for k, v in recorded.items()} == pins
        return
    done = subprocess.run(
        [python, str(GEN), "--check"], cwd=ROOT, capture_output=True, text=True, timeout=1800
    )
    assert done.returncode == 0, done.stderr[-3000:]


def test_partial_pickled_by_protocol_2_is_judged_by_its_state(tmp_path: pathlib.Path) -> None:
    # partial.__reduce__ gives (partial, (f,), (f, args, kwds, dict)): REDUCE then BUILD. The
    # BUILD state names the callable again; a benign one is clean, a denied one is unsafe.
    import functools
    import pickle

    benign = functools.partial(collections.OrderedDict, a=1)
    (tmp_path / "benign.pkl").write_bytes(pickle.dumps(benign, protocol=2))
    evil = (
        b"\x80\x02cfunctools\npartial\ncos\nsystem\n\x85R(cos\nsystem\n)}NtbX\x02\x00\x00\x00idR."
    )
    (tmp_path / "evil.pkl").write_bytes(evil)
    from modelsec.scanner import scan_path

    files = {f.file_path: f for f in scan_path(tmp_path).files}
    assert files["benign.pkl"].issues_detected == []
    assert "PAIT-PKL-100" in {i.threat for i in files["evil.pkl"].issues_detected}


def _training_args_pickle(*, called: bool, laundered: bool = False) -> bytes:
    # torch.save(TrainingArguments(...)) in miniature: NEWOBJ then BUILD with its __dict__.
    cls = b"ctransformers.training_args\nTrainingArguments\n"
    if called:  # TrainingArguments("out"): runs __init__/__post_init__
        return b"\x80\x02" + cls + b"X\x03\x00\x00\x00out\x85R."
    if laundered:  # an identity function hands the class back, and it is called unseen
        return (
            b"\x80\x02ctorch.jit._pickle\nrestore_type_tag\n"
            + cls
            + b"X\x01\x00\x00\x00t\x86RX\x03\x00\x00\x00out\x85R."
        )
    return b"\x80\x02" + cls + b")\x81}X\x02\x00\x00\x00lrG?\x1a6\xe2\xeb\x1cC-sb."


def test_reviewed_class_reconstructed_without_its_code_is_clean(tmp_path: pathlib.Path) -> None:
    from modelsec.scanner import scan_path

    (tmp_path / "rebuilt.bin").write_bytes(_training_args_pickle(called=False))
    (tmp_path / "called.bin").write_bytes(_training_args_pickle(called=True))
    (tmp_path / "laundered.bin").write_bytes(_training_args_pickle(called=False, laundered=True))
    files = {f.file_path: f for f in scan_path(tmp_path).files}
    assert files["rebuilt.bin"].issues_detected == []
    for name in ("called.bin", "laundered.bin"):
        assert any(i.operator == "TrainingArguments" for i in files[name].issues_detected), files[
            name
        ].issues_detected


def test_memmap_backed_array_and_logger_are_data(tmp_path: pathlib.Path) -> None:
    # np.memmap pickles as _reconstruct(numpy.memmap, ...) + BUILD: ndarray.__new__, no file.
    # A NEWOBJ of memmap runs memmap.__new__, which opens (and may create) a file: unsafe.
    from modelsec.scanner import scan_path

    rebuilt = (
        b"\x80\x02cnumpy._core.multiarray\n_reconstruct\ncnumpy\nmemmap\nK\x00\x85C\x01b\x87R."
    )
    opened = b"\x80\x02cnumpy\nmemmap\nX\x0b\x00\x00\x00/etc/passwd\x85\x81."
    logger = b"\x80\x02clogging\ngetLogger\nX\x01\x00\x00\x00x\x85R."
    for name, data in (("rebuilt.pkl", rebuilt), ("opened.pkl", opened), ("log.pkl", logger)):
        (tmp_path / name).write_bytes(data)
    files = {f.file_path: f for f in scan_path(tmp_path).files}
    assert files["rebuilt.pkl"].issues_detected == []
    assert files["log.pkl"].issues_detected == []
    assert "PAIT-PKL-100" in {i.threat for i in files["opened.pkl"].issues_detected}
