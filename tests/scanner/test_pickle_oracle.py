"""Differential oracle: CPython's own unpicklers against the walker, on hostile streams.

CPython's C ``pickle.Unpickler`` and pure-Python ``pickle._Unpickler`` are driven with a
``find_class`` that only records ``(module, name)`` and returns an inert stand-in (whose
instances accept any call, ``__setstate__``, ``append``... and do nothing), and a
``persistent_load`` returning a stand-in: nothing real is ever imported or called. Each stream
is read the ways loaders read it: ``pickle.load`` repeated on one file (fresh memo per pickle,
as torch's legacy loader does) and one Unpickler's ``load()`` repeated (shared memo).

The property: every name a real unpickler passed to ``find_class`` before it stopped (success
or exception) is among the walker's imports, or the walker failed closed (an error or an
unresolved import; the scanner reports both as blocking findings). For intact pickles the
walker must see exactly the same names and no error.
"""

from __future__ import annotations

import collections
import datetime
import decimal
import fractions
import io
import pathlib
import pickle
import re
import struct
import tempfile
from typing import Any

import pytest
import scanner_builders as B
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelsec.scanner.limits import ScanLimits
from modelsec.scanner.pickle_scan import OPCODE_ARGS, PickleResult
from modelsec.scanner.pickles import scan_pickle
from modelsec.scanner.report import FileContext, printable
from modelsec.scanner.source import ByteSource

_SETTINGS = settings(
    max_examples=1000, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
)


class _Inert:
    """Stand-in for every class/callable: accepts anything, does nothing."""

    def __new__(cls, *args: object, **kwargs: object) -> _Inert:
        return object.__new__(cls)

    def __init__(self, *args: object, **kwargs: object) -> None:
        pass

    def __call__(self, *args: object, **kwargs: object) -> _Inert:
        return _Inert()

    def __setstate__(self, state: object) -> None:
        pass

    def append(self, item: object) -> None:
        pass

    def extend(self, items: object) -> None:
        pass

    def add(self, item: object) -> None:
        pass

    def __setitem__(self, key: object, value: object) -> None:
        pass


def _recording(base: type) -> type:
    class Recording(base):  # type: ignore[valid-type, misc]
        def __init__(self, fp: Any, names: list[tuple[str, str]]) -> None:
            super().__init__(fp)
            self.names = names
            self.fp = fp

        def find_class(self, module: str, name: str) -> Any:
            self.names.append((module, name))
            # Where the unpickler is in the stream (exact without FRAMEs: io.BytesIO has no
            # peek, so both unpicklers read exactly what they use; past a FRAME it is later).
            positions.append(self.fp.tell())
            return _Inert

        def persistent_load(self, pid: object) -> Any:
            return _Inert()

    return Recording


positions: list[int] = []
_C = _recording(pickle.Unpickler)
_PY = _recording(pickle._Unpickler)  # type: ignore[attr-defined]


def real_names(blob: bytes) -> tuple[list[tuple[str, str]], int]:
    """Names resolved by the C and Python unpicklers, fresh and shared memo; C fresh loads.

    ``positions`` gets the stream offset of each name, in the same order.
    """
    names: list[tuple[str, str]] = []
    positions.clear()
    c_loads = 0
    for cls in (_C, _PY):
        for shared in (False, True):
            fp = io.BytesIO(blob)
            unpickler = cls(fp, names)
            loads = 0
            while fp.tell() < len(blob) and loads < 50:
                try:
                    if not shared:
                        unpickler = cls(fp, names)
                    unpickler.load()
                except RecursionError:
                    pytest.skip("CPython recursion limit")  # never reached: streams are small
                except Exception:
                    break
                loads += 1
            if cls is _C and not shared:
                c_loads = loads
    return names, c_loads


def walk(blob: bytes) -> tuple[PickleResult, FileContext]:
    ctx = FileContext("m.pkl", ScanLimits())
    res = scan_pickle(ctx, ByteSource.from_bytes(blob), "m.pkl", "PKL")
    return res, ctx


def _failed_at(res: PickleResult) -> int | None:
    """Offset where the walker failed closed (first unresolved import, or its error)."""
    offsets = [off for off, _op, _why in res.unresolved]
    if res.error is not None:
        m = re.search(r"at offset (\d+)", res.error)
        offsets.append(int(m.group(1)) if m else 0)
    return min(offsets) if offsets else None


def check(blob: bytes) -> PickleResult:
    names, c_loads = real_names(blob)
    where = list(positions)
    res, _ctx = walk(blob)
    failed_at = _failed_at(res)
    seen = {(i.module, i.name) for i in res.imports}
    for (module, name), pos in zip(names, where, strict=True):
        if (module, name) in seen:
            continue
        # Fail closed is only an answer for names the walker never got to.
        assert failed_at is not None and failed_at <= pos, (module, name, pos, blob, res.error)
    if res.error is None and res.tail is None:
        assert res.pickles >= c_loads, (res.pickles, c_loads, blob)
    return res


# --- generated opcode streams ------------------------------------------------------------

_NAMES = ["os", "system", "builtins", "eval", "posix", "os.path", "getattr", "x y", ""]
_INT_TEXT = [
    "0", "1", "00", "01", "-5", "0x1f", "0X1F", "0o17", "0b101", "1_000", " 7", "+3", "010",
    "12\x00x", "abc", "", "0x", "99999999999999999999", "-0", "1 ",
]  # fmt: skip
_FLOAT_TEXT = ["1.5", "nan", "-inf", "1_0.5", " 2", "x", "1e400", "3\x00"]


def _tokens() -> st.SearchStrategy[bytes]:
    name = st.sampled_from(_NAMES)
    small = st.integers(0, 6)
    text_int = st.sampled_from(_INT_TEXT)

    def enc(s: str) -> bytes:
        return s.encode("utf-8", "surrogatepass")

    return st.one_of(
        st.sampled_from([bytes([code]) for code, n in OPCODE_ARGS.items() if n == 0]),
        small.map(lambda n: b"\x80" + bytes([n])),
        st.integers(0, 40).map(lambda n: b"\x95" + struct.pack("<Q", n)),
        text_int.map(lambda t: b"I" + enc(t) + b"\n"),
        text_int.map(lambda t: b"L" + enc(t) + b"L\n"),
        text_int.map(lambda t: b"L" + enc(t) + b"\n"),
        st.sampled_from(_FLOAT_TEXT).map(lambda t: b"F" + enc(t) + b"\n"),
        st.integers(-(2**31), 2**31 - 1).map(lambda n: b"J" + struct.pack("<i", n)),
        st.integers(0, 255).map(lambda n: b"K" + bytes([n])),
        st.integers(0, 65535).map(lambda n: b"M" + struct.pack("<H", n)),
        st.binary(max_size=9).map(lambda b: b"\x8a" + bytes([len(b)]) + b),
        st.integers(-2, 9).map(lambda n: b"\x8b" + struct.pack("<i", n) + bytes(max(n, 0))),
        st.floats(allow_nan=True).map(lambda f: b"G" + struct.pack(">d", f)),
        name.map(lambda s: b"S'" + enc(s) + b"'\n"),
        name.map(lambda s: b'S"' + enc(s) + b'"\n'),
        st.sampled_from([b"S'x\n", b"S'\\x6fs'\n", b"S'\xc3\xa9'\n", b"S''\n", b"S'\n"]),
        name.map(lambda s: b"U" + bytes([len(enc(s))]) + enc(s)),
        name.map(lambda s: b"T" + struct.pack("<i", len(enc(s))) + enc(s)),
        st.just(b"T" + struct.pack("<i", -1)),
        name.map(lambda s: b"V" + enc(s) + b"\n"),
        st.just(b"V\\u0073ystem\n"),
        name.map(lambda s: b"\x8c" + bytes([len(enc(s))]) + enc(s)),
        name.map(lambda s: b"X" + struct.pack("<I", len(enc(s))) + enc(s)),
        name.map(lambda s: b"\x8d" + struct.pack("<Q", len(enc(s))) + enc(s)),
        st.just(b"\x8c\x02\xed\xa0"),
        st.binary(max_size=4).map(lambda b: b"C" + bytes([len(b)]) + b),
        st.binary(max_size=4).map(lambda b: b"B" + struct.pack("<I", len(b)) + b),
        st.binary(max_size=4).map(lambda b: b"\x8e" + struct.pack("<Q", len(b)) + b),
        st.binary(max_size=4).map(lambda b: b"\x96" + struct.pack("<Q", len(b)) + b),
        st.tuples(name, name).map(lambda t: b"c" + enc(t[0]) + b"\n" + enc(t[1]) + b"\n"),
        st.tuples(name, name).map(lambda t: b"i" + enc(t[0]) + b"\n" + enc(t[1]) + b"\n"),
        st.sampled_from([b"cos\nsystem\n", b"c__builtin__\neval\n", b"\x8c\x02os\x8c\x06system\x93"]),
        text_int.map(lambda t: b"p" + enc(t) + b"\n"),
        text_int.map(lambda t: b"g" + enc(t) + b"\n"),
        small.map(lambda n: b"q" + bytes([n])),
        small.map(lambda n: b"h" + bytes([n])),
        small.map(lambda n: b"r" + struct.pack("<I", n)),
        small.map(lambda n: b"j" + struct.pack("<I", n)),
        st.sampled_from([b"Pid\n", b"P\xff\n"]),
        st.sampled_from([b"\x82\x01", b"\x83\x01\x00", b"\x84\x00\x00\x00\x00", b"\x84\xff\xff\xff\xff"]),
    )  # fmt: skip


_streams = st.lists(_tokens(), min_size=1, max_size=40).map(b"".join)


@_SETTINGS
@given(_streams)
def test_oracle_generated_streams(blob: bytes) -> None:
    check(blob)


@_SETTINGS
@given(st.lists(_streams, min_size=2, max_size=4).map(lambda xs: b".".join(xs) + b"."))
def test_oracle_generated_multi_pickle(blob: bytes) -> None:
    check(blob)


def test_generated_tokens_cover_every_opcode() -> None:
    """The token vocabulary above starts with every opcode at least once."""
    covered = {0x80, 0x95, 0x49, 0x4C, 0x46, 0x4A, 0x4B, 0x4D, 0x8A, 0x8B, 0x47, 0x53, 0x55}
    covered |= {0x54, 0x56, 0x8C, 0x58, 0x8D, 0x43, 0x42, 0x8E, 0x96, 0x63, 0x69, 0x93}
    covered |= {0x70, 0x67, 0x71, 0x68, 0x72, 0x6A, 0x50, 0x82, 0x83, 0x84}
    covered |= {code for code, n in OPCODE_ARGS.items() if n == 0}
    assert covered == set(OPCODE_ARGS)


# --- mutated real pickles ----------------------------------------------------------------


class _Thing:
    def __init__(self) -> None:
        self.a = [1, "x", b"y", 2.5]
        self.b = {"k": (None, True)}


def _fn() -> None:
    pass


_OBJECTS: list[object] = [
    {"a": [1, 2.5, "x", b"y", None, True]},
    collections.OrderedDict(a=1, b=(1, 2, 3, 4)),
    _Thing(),
    [_fn, len, collections.Counter("abc"), {1, 2}, frozenset([3])],
    (decimal.Decimal("1.5"), fractions.Fraction(1, 3), datetime.date(2020, 1, 2)),
    [bytearray(b"ab"), 10**30, -(2**70), "é" * 3, ("nested", ("deep", ("deeper",)))],
    {"shared": (s := ["same"]), "again": s},
]
SEEDS = [pickle.dumps(obj, protocol=p) for obj in _OBJECTS for p in range(6)]


@st.composite
def _mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        action = draw(st.sampled_from(["flip", "truncate", "insert", "delete", "set", "dup"]))
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        if action == "flip" and data:
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif action == "truncate":
            del data[pos:]
        elif action == "insert":
            data[pos:pos] = draw(st.one_of(_tokens(), st.binary(min_size=1, max_size=8)))
        elif action == "delete":
            del data[pos : pos + draw(st.integers(1, 8))]
        elif action == "set" and data:
            data[pos] = draw(st.sampled_from(sorted(OPCODE_ARGS)))
        elif action == "dup":
            data += draw(st.sampled_from(SEEDS))
    return bytes(data)


@pytest.mark.parametrize("seed", range(len(SEEDS)))
def test_oracle_intact_pickles_exact(seed: int) -> None:
    blob = SEEDS[seed]
    names, loads = real_names(blob)
    res, _ctx = walk(blob)
    assert res.error is None and res.tail is None and not res.unresolved, res.error
    assert {(i.module, i.name) for i in res.imports} == set(names)
    assert res.pickles == loads == 1


@_SETTINGS
@given(_mutated())
def test_oracle_mutated_pickles(blob: bytes) -> None:
    check(blob)


# --- numpy object arrays: numpy's own header reader, then pickle.load of the rest ---------


def _npy_object(payload: bytes, version: int = 1) -> bytes:
    return B.npy("|O", (1,), payload) if version == 1 else _npy_v2("|O", payload)


def _npy_v2(descr: str, data: bytes) -> bytes:
    header = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': (1,), }}"
    header += " " * (64 - (12 + len(header) + 1) % 64) + "\n"
    return b"\x93NUMPY\x02\x00" + struct.pack("<I", len(header)) + header.encode() + data


def _numpy_names(blob: bytes) -> list[tuple[str, str]]:
    np_format = pytest.importorskip("numpy.lib.format")
    names: list[tuple[str, str]] = []
    for cls in (_C, _PY):
        fp = io.BytesIO(blob)
        try:
            version = np_format.read_magic(fp)
            if version == (1, 0):
                header = np_format.read_array_header_1_0(fp, max_header_size=1 << 20)
            else:
                header = np_format.read_array_header_2_0(fp, max_header_size=1 << 20)
        except Exception:
            return names
        if not header[2].hasobject:
            return names
        try:
            cls(fp, names).load()  # what read_array does: pickle.load(fp, encoding='ASCII')
        except Exception:
            pass
    return names


@_SETTINGS
@given(_mutated(), st.sampled_from([1, 2]))
def test_oracle_numpy_object_arrays(payload: bytes, version: int) -> None:
    from modelsec.scanner.numpy_scan import scan_npy

    blob = _npy_object(payload, version)
    names = _numpy_names(blob)
    ctx = FileContext("a.npy", ScanLimits())
    scan_npy(ctx, ByteSource.from_bytes(blob), "a.npy", None)
    flagged = {(i.module, i.operator) for i in ctx.issues}
    for module, name in names:
        shown = (printable(module, 256), printable(name, 256))
        assert (
            shown in flagged
            or ctx.errors
            or any(i.module is None and i.threat for i in ctx.issues)
            or not _classified(module, name)
        ), (module, name, ctx.issues)


def _classified(module: str, name: str) -> bool:
    from modelsec.scanner.callables import classify_callable

    return classify_callable(module, name) is not None


# --- joblib: its own NumpyUnpickler, raw array bytes and nested object pickles -------------


def _joblib() -> Any:
    return pytest.importorskip("joblib.numpy_pickle")


def _safe_dtype(spec: object = None, align: object = False, copy: object = False) -> Any:
    """numpy.dtype for type strings only: a data parser, never anything from the stream."""
    import numpy

    if type(spec) is not str:
        raise TypeError("test stand-in takes type strings only")
    return numpy.dtype(spec, bool(align), bool(copy))


def joblib_names(path: pathlib.Path) -> list[tuple[str, str]]:
    jp = _joblib()
    names: list[tuple[str, str]] = []

    class Recording(jp.NumpyUnpickler):  # type: ignore[misc, name-defined]
        def find_class(self, module: str, name: str) -> Any:
            names.append((module, name))
            # joblib's read_array needs a real wrapper and a real dtype to read the bytes as
            # it does; both only store and parse data. Everything else stays inert.
            if name == "NumpyArrayWrapper" and module.startswith("joblib"):
                return jp.NumpyArrayWrapper
            if name == "dtype" and module in ("numpy", "numpy.core.multiarray"):
                return _safe_dtype
            return _Inert

        def persistent_load(self, pid: object) -> Any:
            return _Inert()

    with path.open("rb") as fp:
        try:
            Recording(str(path), fp, False).load()
        except Exception:
            pass
    return names


def _joblib_seeds() -> list[bytes]:
    np = pytest.importorskip("numpy")
    joblib = pytest.importorskip("joblib")
    objs = [
        {"w": np.arange(6, dtype="f8").reshape(2, 3), "b": np.array([1, 2], dtype="<i4")},
        [np.array(["ab", "c"]), np.zeros((0, 3)), np.asfortranarray(np.ones((2, 2)))],
        {"o": np.array([{"k": 1}, "s", None], dtype=object), "after": collections.Counter("x")},
        np.array([(1, 2.5)], dtype=[("a", "<i8"), ("b", "<f4")]),
    ]
    out = []
    with tempfile.TemporaryDirectory(prefix="walker-oracle-") as tmp:
        for k, obj in enumerate(objs):
            for proto in (2, 4, 5):
                p = pathlib.Path(tmp) / f"{k}_{proto}.joblib"
                joblib.dump(obj, p, protocol=proto)
                out.append(p.read_bytes())
    return out


_JOBLIB_SEEDS: list[bytes] = []


def _jl_seed(k: int) -> bytes:
    if not _JOBLIB_SEEDS:
        _JOBLIB_SEEDS.extend(_joblib_seeds())
    return _JOBLIB_SEEDS[k % len(_JOBLIB_SEEDS)]


def _scan_joblib(path: pathlib.Path) -> tuple[set[tuple[str, str]], bool]:
    from modelsec.scanner.pickle_scan import walk_pickle

    with path.open("rb") as fp:
        res = walk_pickle(ByteSource.from_file(fp))
    return {(i.module, i.name) for i in res.imports}, bool(res.error or res.unresolved)


@pytest.mark.parametrize("k", range(12))
def test_oracle_joblib_intact_exact(k: int, tmp_path: pathlib.Path) -> None:
    path = tmp_path / "m.joblib"
    path.write_bytes(_jl_seed(k))
    names = joblib_names(path)
    seen, failed = _scan_joblib(path)
    assert not failed
    assert seen == set(names)


@settings(max_examples=400, deadline=None, derandomize=True)
@given(st.integers(0, 11), st.data())
def test_oracle_joblib_mutated(k: int, data: st.DataObject) -> None:
    blob = bytearray(_jl_seed(k))
    for _ in range(data.draw(st.integers(1, 3))):
        pos = data.draw(st.integers(0, len(blob) - 1))
        action = data.draw(st.sampled_from(["flip", "insert", "delete", "set"]))
        if action == "flip":
            blob[pos] ^= 1 << data.draw(st.integers(0, 7))
        elif action == "insert":
            blob[pos:pos] = data.draw(st.one_of(_tokens(), st.binary(min_size=1, max_size=8)))
        elif action == "delete":
            del blob[pos : pos + data.draw(st.integers(1, 8))]
        else:
            blob[pos] = data.draw(st.sampled_from(sorted(OPCODE_ARGS)))
    with tempfile.TemporaryDirectory(prefix="walker-oracle-") as tmp:
        path = pathlib.Path(tmp) / "m.joblib"
        path.write_bytes(bytes(blob))
        names = joblib_names(path)
        seen, failed = _scan_joblib(path)
    missing = [n for n in names if n not in seen]
    assert not missing or failed, (missing, bytes(blob))
