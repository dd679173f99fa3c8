"""The walker reads each opcode as CPython does: one test per class of past desynchronisation.

Each malicious stream below is one that a loader (pickle, torch's legacy loader, joblib,
numpy) executes ``os.system`` from, while the walker as it was before this file read the bytes
differently and missed it (or stopped without an unsafe finding). Each must now come back
with a ``-100`` (unsafe) finding from the scanner.
"""

from __future__ import annotations

import io
import pathlib
import pickle
import struct
import subprocess
import sys

import pytest
import scanner_builders as B
from conftest import by_path, threats_of

from modelsec.scanner.pickle_scan import UNKNOWN, GlobalRef, PickleCall, walk_pickle
from modelsec.scanner.source import ByteSource

MAGIC = 0x1950A86A20F9469CFC6C


def _unsafe(scan_files, name: str, blob: bytes) -> set[str]:  # type: ignore[no-untyped-def]
    f = by_path(scan_files({name: blob}))[name]
    return {t for t in threats_of(f) if t.endswith("-100")}


def _evil_memo_call() -> bytes:
    """os.system('id') with both names BINPUT/BINGET through the memo (no tail pattern)."""
    return (
        B.su("os")
        + B.binput(0)
        + b"0"
        + B.su("system")
        + B.binput(1)
        + b"0"
        + B.binget(0)
        + B.binget(1)
        + B.STACK_GLOBAL
        + B.su("id")
        + B.TUPLE1
        + B.REDUCE
    )


# --- INT / LONG text forms ---------------------------------------------------------------


@pytest.mark.parametrize(
    "text", [b"0x1f", b"0X1F", b"0o17", b"0b101", b"1_000", b"+5", b" 7", b"-0x10", b"12\x00x"]
)
def test_int_base0_forms(scan_files, text: bytes) -> None:  # type: ignore[no-untyped-def]
    """``int(data, 0)`` (and C's strtol): the walker must not stop where they go on."""
    blob = B.PROTO(4) + b"I" + text + b"\n0" + _evil_memo_call() + B.STOP
    assert _unsafe(scan_files, "m.pkl", blob) == {"PAIT-PKL-100"}


def test_long_text_with_l_suffix(scan_files) -> None:  # type: ignore[no-untyped-def]
    blob = B.PROTO(4) + b"L0x1fL\n0" + _evil_memo_call() + B.STOP
    assert _unsafe(scan_files, "m.pkl", blob) == {"PAIT-PKL-100"}


def test_int_values_as_cpython() -> None:
    blob = b"I01\n.I00\n.I0x10\n.L12L\n.I010\n."
    res = walk_pickle(ByteSource.from_bytes(blob))
    # b"01"/b"00" are True/False; "010" only the C unpickler reads (strtol: octal 8).
    assert res.int_values == [True, False, 16, 12, 8]
    assert [type(v) for v in res.int_values[:2]] == [bool, bool]


# --- torch legacy streams ----------------------------------------------------------------


def _legacy(magic_pickle: bytes, main: bytes) -> bytes:
    version = B.PROTO(2) + B.binint(1001) + B.STOP
    sys_info = B.PROTO(2) + B.EMPTY_DICT + B.STOP
    keys = B.PROTO(2) + B.MARK + B.su("0") + B.TUPLE + B.STOP
    return magic_pickle + version + sys_info + main + keys + struct.pack("<q", 4) + bytes(16)


@pytest.mark.parametrize(
    "magic",
    [
        b"I0x1950A86A20F9469CFC6C\n.",  # INT, hexadecimal text
        b"\x80\x02I0x1950a86a20f9469cfc6c\n.",
        b"L0x1950A86A20F9469CFC6CL\n.",  # LONG, hexadecimal text with the L suffix
        b"\x80\x02\x8b\x0a\x00\x00\x00" + MAGIC.to_bytes(10, "little") + b".",  # LONG4
    ],
)
def test_torch_legacy_magic_in_other_int_forms(scan_files, magic: bytes) -> None:  # type: ignore[no-untyped-def]
    """torch.load compares the first pickle's value: any spelling of the number passes."""
    assert pickle.loads(magic) == MAGIC
    blob = _legacy(magic, B.call("os", "system", B.string0("id")))
    assert _unsafe(scan_files, "model.bin", blob)


def test_torch_legacy_pickles_have_their_own_memo(scan_files) -> None:  # type: ignore[no-untyped-def]
    """Each torch pickle is a fresh pickle.load: BINGET 0/1 are the main pickle's own."""
    sys_info = B.PROTO(4) + B.su("collections") + B.MEMOIZE + B.su("OrderedDict") + B.MEMOIZE
    sys_info += b"0" + B.EMPTY_DICT + B.STOP
    main = B.PROTO(4) + B.su("os") + B.MEMOIZE + B.su("system") + B.MEMOIZE + b"00"
    main += B.binget(0) + B.binget(1) + B.STACK_GLOBAL + B.su("id") + B.TUPLE1 + B.REDUCE
    main += B.STOP
    magic = B.PROTO(2) + b"\x8a\x0a" + MAGIC.to_bytes(10, "little") + B.STOP
    version = B.PROTO(2) + B.binint(1001) + B.STOP
    keys = B.PROTO(2) + B.MARK + B.TUPLE + B.STOP
    blob = magic + version + sys_info + main + keys
    names = []

    class Recording(pickle.Unpickler):
        def find_class(self, module: str, name: str) -> object:
            names.append((module, name))
            return lambda *args: None  # inert: records the name, calls nothing

    fp = io.BytesIO(blob)
    for _ in range(4):
        Recording(fp).load()
    assert ("os", "system") in names  # what torch's loader resolves
    assert _unsafe(scan_files, "model.bin", blob) == {"PAIT-PYTCH-100"}


# --- joblib raw array bytes --------------------------------------------------------------


def _wrapper(state_items: bytes, *, reduce_args: bytes | None = None) -> bytes:
    cls = B.glob("joblib.numpy_pickle", "NumpyArrayWrapper")
    if reduce_args is not None:
        return cls + reduce_args + B.REDUCE + B.EMPTY_DICT + B.BUILD
    return (
        cls + B.EMPTY_TUPLE + B.NEWOBJ + B.EMPTY_DICT + B.MARK + state_items + B.SETITEMS + B.BUILD
    )


def _dtype(spec: str) -> bytes:
    return (
        B.glob("numpy", "dtype") + B.MARK + B.su(spec) + B.NEWFALSE + b"\x88" + B.TUPLE + B.REDUCE
    )


def _state(spec: str, shape: bytes, extra: bytes = b"") -> bytes:
    return (
        B.su("subclass")
        + B.glob("numpy", "ndarray")
        + B.su("shape")
        + shape
        + B.su("order")
        + B.su("C")
        + B.su("dtype")
        + _dtype(spec)
        + B.su("allow_mmap")
        + B.NEWFALSE
        + extra
    )


_EVIL = B.glob("os", "system") + B.MARK + B.string0("id") + B.TUPLE + B.REDUCE + b"0"


def _joblib_file(wrapper: bytes, raw: bytes, after: bytes) -> bytes:
    return B.PROTO(2) + B.EMPTY_LIST + B.MARK + wrapper + raw + after + B.APPENDS + B.STOP


def test_joblib_dtype_spelled_by_name(scan_files) -> None:  # type: ignore[no-untyped-def]
    """dtype('float64') is 8 bytes: joblib reads them, then runs the opcodes after them."""
    wrapper = _wrapper(_state("float64", B.binint1(1) + B.TUPLE1))
    # The 8 array bytes open a BINBYTES to whoever reads them as opcodes: that reader would
    # skip the evil call.
    raw = b"B" + struct.pack("<I", 3 + len(_EVIL)) + b"\x00" * 3
    assert len(raw) == 8
    blob = _joblib_file(wrapper, raw, _EVIL)
    assert _unsafe(scan_files, "m.joblib", blob) == {"PAIT-JOBLIB-100"}


def test_joblib_alignment_none_means_no_padding(scan_files) -> None:  # type: ignore[no-untyped-def]
    wrapper = _wrapper(
        _state("f8", B.binint1(1) + B.TUPLE1, B.su("numpy_array_alignment_bytes") + B.NONE)
    )
    # Read as a padding byte, the first array byte would hide the call.
    raw = bytes([len(_EVIL) - 1]) + b"\x00" * 7
    blob = _joblib_file(wrapper, raw, _EVIL)
    assert _unsafe(scan_files, "m.joblib", blob) == {"PAIT-JOBLIB-100"}


def test_joblib_alignment_padding_and_absent(scan_files) -> None:  # type: ignore[no-untyped-def]
    padded = _wrapper(
        _state("<i4", B.binint1(2) + B.TUPLE1, B.su("numpy_array_alignment_bytes") + B.binint1(16))
    )
    plain = _wrapper(_state("u1", B.binint1(3) + B.TUPLE1))
    blob = _joblib_file(padded, bytes([5]) + b"\xff" * 5 + bytes(8), b"")
    blob = blob[:-2] + plain + b"cos" + _EVIL + B.APPENDS + B.STOP  # 3 raw bytes "cos"
    assert _unsafe(scan_files, "m.joblib", blob) == {"PAIT-JOBLIB-100"}


def test_joblib_wrapper_built_by_its_constructor(scan_files) -> None:  # type: ignore[no-untyped-def]
    """NumpyArrayWrapper(subclass, shape, order, dtype, allow_mmap, alignment) then BUILD."""
    args = (
        B.MARK
        + B.glob("numpy", "ndarray")
        + B.binint1(1)
        + B.TUPLE1
        + B.su("C")
        + _dtype("f8")
        + B.NEWFALSE
        + B.NONE
        + B.TUPLE
    )
    raw = b"B" + struct.pack("<I", 3 + len(_EVIL)) + b"\x00" * 3
    blob = _joblib_file(_wrapper(b"", reduce_args=args), raw, _EVIL)
    assert _unsafe(scan_files, "m.joblib", blob) == {"PAIT-JOBLIB-100"}


def test_joblib_array_bytes_read_as_opcodes_by_pickle_load(scan_files) -> None:  # type: ignore[no-untyped-def]
    """joblib.load skips the array bytes; pickle.load of the same file runs them as opcodes."""
    evil = _EVIL
    wrapper = _wrapper(_state("u1", B.binint1(len(evil)) + B.TUPLE1))
    blob = _joblib_file(wrapper, evil, b"")
    names: list[tuple[str, str]] = []

    class Inert:
        def __init__(self, *args: object) -> None:
            pass

        def __setstate__(self, state: object) -> None:
            pass

    class Recording(pickle.Unpickler):
        def find_class(self, module: str, name: str) -> object:
            names.append((module, name))
            return Inert  # records the name, calls nothing real

    Recording(io.BytesIO(blob)).load()
    assert ("os", "system") in names
    assert _unsafe(scan_files, "m.pkl", blob) == {"PAIT-JOBLIB-100"}


def test_joblib_old_format_array_data_is_not_a_finding(scan_files) -> None:  # type: ignore[no-untyped-def]
    """Array bytes that start like an opcode (no padding byte: joblib < 1.2) stay data."""
    wrapper = _wrapper(_state("<i8", B.binint1(2) + B.TUPLE1))
    blob = _joblib_file(wrapper, struct.pack("<2q", 40, 0x8C), b"")
    f = by_path(scan_files({"m.joblib": blob}))["m.joblib"]
    assert f.issues_detected == [], f.issues_detected


def test_joblib_unsizable_payload_fails_closed(scan_files) -> None:  # type: ignore[no-untyped-def]
    """'l' is 4 bytes on Windows, 8 on Linux: the walker cannot know, so it fails closed."""
    blob = _joblib_file(_wrapper(_state("l", B.binint1(1) + B.TUPLE1)), bytes(8), b"")
    assert _unsafe(scan_files, "m.joblib", blob) == {"PAIT-JOBLIB-100"}


def test_joblib_object_array_pickle_has_its_own_memo(scan_files) -> None:  # type: ignore[no-untyped-def]
    """The nested pickle of an object array starts with an empty memo (a fresh Unpickler)."""
    outer_names = B.su("collections") + B.binput(0) + b"0" + B.su("OrderedDict") + B.binput(1)
    outer_names += b"0"
    nested = B.PROTO(4) + B.su("os") + B.MEMOIZE + B.su("system") + B.MEMOIZE + b"00"
    nested += B.binget(0) + B.binget(1) + B.STACK_GLOBAL + B.su("id") + B.TUPLE1 + B.REDUCE
    nested += B.STOP
    wrapper = _wrapper(_state("O", B.binint1(1) + B.TUPLE1))
    blob = B.PROTO(4) + outer_names + B.EMPTY_LIST + B.MARK + wrapper + nested
    blob += B.APPENDS + B.STOP
    res = walk_pickle(ByteSource.from_bytes(blob))
    assert ("os", "system") in {(i.module, i.name) for i in res.imports}
    assert res.pickles == 1 and res.error is None
    assert _unsafe(scan_files, "m.joblib", blob) == {"PAIT-JOBLIB-100"}


# --- numpy ---------------------------------------------------------------------------------


def test_npy_python2_header_object_array(scan_files) -> None:  # type: ignore[no-untyped-def]
    header = "{'descr': '|O', 'fortran_order': False, 'shape': (1L,), }"
    header += " " * (64 - (10 + len(header) + 1) % 64) + "\n"
    blob = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode()
    blob += B.call("os", "system", B.string0("id"))
    np_format = pytest.importorskip("numpy.lib.format")
    fp = io.BytesIO(blob)
    np_format.read_magic(fp)
    with pytest.warns(UserWarning, match="Python 2"):
        assert np_format.read_array_header_1_0(fp)[2].hasobject  # numpy reads it
    assert _unsafe(scan_files, "a.npy", blob) == {"PAIT-PKL-100"}


# --- calls interface -----------------------------------------------------------------------


def test_calls_recorded_with_shallow_args() -> None:
    blob = (
        B.PROTO(4)
        + B.glob("builtins", "getattr")
        + B.glob("os", "path")
        + B.su("join")
        + B.TUPLE2
        + B.REDUCE
        + b"0"
        + B.glob("collections", "OrderedDict")
        + B.MARK
        + B.bu("x" * 300)
        + b"K\x05"
        + B.binbytes(b"ab")
        + b"]"
        + B.TUPLE
        + B.REDUCE
        + B.EMPTY_DICT
        + B.BUILD
        + B.STOP
    )
    res = walk_pickle(ByteSource.from_bytes(blob))
    calls = [(c.module, c.name, c.args, c.opcode) for c in res.calls]
    assert calls == [
        ("builtins", "getattr", (GlobalRef("os", "path"), "join"), "REDUCE"),
        ("collections", "OrderedDict", (UNKNOWN, 5, b"ab", []), "REDUCE"),
        ("collections", "OrderedDict", ({},), "BUILD"),
    ]
    assert all(isinstance(c, PickleCall) for c in res.calls)


# --- memory: floods of the walker's own structures ----------------------------------------

# Peak RSS of the child's own address space (VmHWM): ru_maxrss would include the parent's
# peak, which a fork carries over into the child.
_FLOOD_CHILD = r"""
import re, sys
sys.path.insert(0, sys.argv[2])
from modelsec.scanner import scan_path
details = scan_path(sys.argv[1])
f = details.files[0]
threats = sorted({str(i.threat) for i in f.issues_detected or []})
with open("/proc/self/status") as fp:
    hwm = int(re.search(r"VmHWM:\s+(\d+) kB", fp.read()).group(1))
print(hwm, f.modelscan_status.value, *threats)
"""

_MIB = 1 << 20


def _flood(kind: str) -> bytes:
    evil = b"\x80\x04" + B.glob("os", "system") + b"."
    if kind == "tuple1":  # TUPLE1 around one value: a 12M-deep nested tuple (> 500 MB naively)
        return b"\x80\x04K\x01" + b"\x85" * (12 * _MIB) + b"." + evil
    if kind == "mark":
        return b"\x80\x04" + b"(" * (40 * _MIB) + b"N."
    if kind == "memo":  # PUT of huge, distinct indexes (protocol 0)
        return b"(N" + b"".join(b"p%d\n" % (i * 7919 + 10**12) for i in range(1_500_000)) + b"."
    if kind == "setitem":
        return b"\x80\x04}" + b"K\x01K\x02s" * (4 * _MIB) + b"." + evil
    if kind == "appends":
        return b"\x80\x04]" + (b"(" + b"K\x01" * 1000 + b"e") * 6_000 + b"." + evil
    if kind == "tuples":  # long nested tuples through the memo
        return b"\x80\x04N" + b"\x94h\x00\x86" * (6 * _MIB) + b"." + evil
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["tuple1", "mark", "memo", "setitem", "appends", "tuples"])
@pytest.mark.skipif(not pathlib.Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_flood_memory_bounded(tmp_path: pathlib.Path, kind: str) -> None:
    path = tmp_path / "flood.pkl"
    path.write_bytes(_flood(kind))
    out = subprocess.run(
        [sys.executable, "-c", _FLOOD_CHILD, str(path), str(pathlib.Path.cwd())],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    ).stdout.split()
    rss_kib, status, threats = int(out[0]), out[1], out[2:]
    assert rss_kib < 256 * 1024, (kind, rss_kib)
    assert status == "SCANNED"
    if kind == "mark":  # past the MARK cap the walk stops: fail closed
        assert "PAIT-PKL-100" in threats, threats
    elif kind == "memo":  # a benign pickle with a huge memo: clean
        assert threats == [], threats
    else:
        assert "PAIT-PKL-100" in threats, (kind, threats)


def test_overlapping_walks_in_threads_leave_the_collector_enabled() -> None:
    import gc
    import threading

    from modelsec.scanner.pickle_scan import walk_pickle
    from modelsec.scanner.source import ByteSource

    assert gc.isenabled()
    flood = b"\x80\x04N" + b"\x85" * 2_000_000 + b"."
    barrier = threading.Barrier(4)

    def walk() -> None:
        barrier.wait()
        for _ in range(3):
            walk_pickle(ByteSource.from_bytes(flood))

    threads = [threading.Thread(target=walk) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert gc.isenabled()
    gc.disable()  # an application's own choice is kept
    try:
        walk_pickle(ByteSource.from_bytes(flood))
        assert not gc.isenabled()
    finally:
        gc.enable()
