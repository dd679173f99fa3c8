"""Scanner behaviour beyond the corpus: API shape, limits, file system, bombs, validation."""

from __future__ import annotations

import os
import pathlib
import pickletools
import struct
import subprocess
import sys
import tracemalloc

import anyio
import pytest
import scanner_builders as B
from conftest import by_path, threats_of

from modelsec.errors import PayloadError
from modelsec.scanner import (
    SCANNER_VERSION,
    SUPPORTED_FORMATS,
    ScanLimits,
    TooManyFilesError,
    scan_path,
    scan_path_async,
)
from modelsec.scanner.pickle_scan import OPCODE_ARGS, walk_pickle
from modelsec.scanner.source import ByteSource


def test_opcode_table_matches_pickletools() -> None:
    ours = set(OPCODE_ARGS)
    theirs = {ord(op.code) for op in pickletools.opcodes}
    assert ours == theirs
    for op in pickletools.opcodes:
        n = op.arg.n if op.arg else 0
        if n >= 0:
            assert OPCODE_ARGS[ord(op.code)] == n, op.name


def test_details_shape(scan_files) -> None:  # type: ignore[no-untyped-def]
    details = scan_files(
        {
            "sub/m.pkl": B.call("os", "system", B.string0("id")),
            "model.safetensors": B.safetensors({"w": ("F32", [1], bytes(4))}),
        }
    )
    assert details.scanner_version == SCANNER_VERSION.replace("modelsec/", "modelsec/")
    assert details.scanner_version.startswith("modelsec/")
    assert details.time_started.tzinfo is not None
    files = by_path(details)
    assert set(files) == {"sub/m.pkl", "model.safetensors"}
    f = files["sub/m.pkl"]
    assert f.blob_id == f.sha256 and len(f.sha256 or "") == 64
    assert f.size_bytes == len(B.call("os", "system", B.string0("id")))
    issue = (f.issues_detected or [])[0]
    assert (issue.module, issue.operator) == ("os", "system")
    assert details.total_files_scanned == 2
    assert set(details.model_formats) == {"pickle", "safetensors"}
    assert details.model_size_bytes == sum(x.size_bytes or 0 for x in details.files)
    wire = details.to_dict(exclude_none=True)
    assert wire["files"][0]["modelscan_status"] in ("SCANNED", "SKIPPED", "ERROR")
    assert set(SUPPORTED_FORMATS) >= set(details.model_formats)


def test_single_file_path(tmp_path: pathlib.Path) -> None:
    p = tmp_path / "x.pkl"
    p.write_bytes(B.call("os", "system"))
    details = scan_path(p)
    assert [f.file_path for f in details.files] == ["x.pkl"]


def test_too_many_files(scan_files) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(TooManyFilesError) as err:
        scan_files({f"f{i}.txt": b"x" for i in range(6)}, max_files=5)
    assert isinstance(err.value, PayloadError)


def test_patterns(scan_files) -> None:  # type: ignore[no-untyped-def]
    files = {"a.bin": b"x", "docs/readme.md": b"y", "sub/b.bin": b"z", "c.txt": b"w"}
    details = scan_files(files, allow_patterns=["*.bin", "docs/"], ignore_patterns=["sub/*"])
    assert sorted(by_path(details)) == ["a.bin", "docs/readme.md"]


def test_symlinks_leaving_root_never_followed(tmp_path: pathlib.Path) -> None:
    outside = tmp_path / "secret.pkl"
    outside.write_bytes(B.call("os", "system"))
    root = tmp_path / "model"
    root.mkdir()
    (root / "inside.pkl").write_bytes(b"\x80\x04N.")
    os.symlink(outside, root / "escape.pkl")
    os.symlink(root / "inside.pkl", root / "alias.pkl")
    os.symlink(tmp_path, root / "dirlink")
    details = scan_path(root)
    files = by_path(details)
    # alias.pkl stays inside the root: followed and scanned under its own name (a loader
    # opening it reads the same bytes); dirlink and escape.pkl leave the root: reported.
    assert sorted(files) == ["alias.pkl", "dirlink", "escape.pkl", "inside.pkl"]
    assert files["alias.pkl"].sha256 == files["inside.pkl"].sha256
    assert threats_of(files["dirlink"]) == {"PAIT-ARV-100"}
    esc = files["escape.pkl"]
    assert esc.modelscan_status == "SKIPPED" and threats_of(esc) == {"PAIT-ARV-100"}
    assert esc.sha256 is None and len(esc.blob_id) == 64


def test_fifo_not_opened(tmp_path: pathlib.Path) -> None:
    root = tmp_path / "m"
    root.mkdir()
    os.mkfifo(root / "pipe")
    details = scan_path(root)
    assert details.files[0].modelscan_status == "SKIPPED"


async def test_async(tmp_path: pathlib.Path) -> None:
    (tmp_path / "m.pkl").write_bytes(B.call("os", "system"))
    details = await scan_path_async(tmp_path)
    assert threats_of(details.files[0]) == {"PAIT-PKL-100"}


def test_async_anyio(tmp_path: pathlib.Path) -> None:
    details = anyio.run(scan_path_async, tmp_path)
    assert details.files == []


def test_max_file_bytes(scan_files) -> None:  # type: ignore[no-untyped-def]
    details = scan_files({"m.pkl": B.call("os", "system")}, max_file_bytes=5)
    f = details.files[0]
    assert f.modelscan_status == "SKIPPED" and f.sha256


@pytest.mark.parametrize(
    "blob",
    [
        B.safetensors({"w": ("F32", [2], bytes(4))}),  # shape x dtype != length
        B.safetensors({"w": ("F99", [1], bytes(4))}),  # unknown dtype
        B.safetensors({}, raw_header=b"{not json"),
        B.safetensors({}, raw_header=b"[1, 2]"),
        B.safetensors({"w": ("F32", [1], bytes(4))}, data=b""),  # data past the end
        B.safetensors({"w": ("F32", [1], bytes(4))}, data=bytes(8)),  # trailing bytes
        B.safetensors(
            {},
            raw_header=b'{"a": {"dtype": "F32", "shape": [1], '
            b'"data_offsets": [0, 4]}, "b": {"dtype": "F32", "shape": [1], '
            b'"data_offsets": [2, 6]}}',
            data=bytes(6),
        ),  # overlap
        B.safetensors(
            {},
            raw_header=b'{"a": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}',
            data=bytes(4),
        ),
        struct.pack("<Q", 200_000_000) + b"{" + bytes(10),
    ],
)
def test_safetensors_invalid(scan_files, blob: bytes) -> None:  # type: ignore[no-untyped-def]
    f = scan_files({"model.safetensors": blob}).files[0]
    assert f.modelscan_status == "ERROR", f
    assert f.error_message and "safetensors" in f.error_message


def test_gzip_bomb_stops(scan_files) -> None:  # type: ignore[no-untyped-def]
    bomb = B.gzip_bomb(64 << 20, prefix=B.PROTO(4) + b"\x8e" + struct.pack("<Q", 1 << 40))
    f = scan_files({"m.pkl.gz": bomb}, limits=ScanLimits(max_compression_ratio=100)).files[0]
    assert any("bomb" in i.description for i in f.issues_detected or [])


def test_zip_bomb_declared_ratio(scan_files) -> None:  # type: ignore[no-untyped-def]
    f = scan_files({"a.zip": B.zip_bomb_member(64 << 20)}).files[0]
    assert any("bomb" in i.description for i in f.issues_detected or [])


def test_total_uncompressed_budget(scan_files) -> None:  # type: ignore[no-untyped-def]
    blob = B.gz(B.tar_bytes([("a.bin", bytes(3 << 20))]))
    f = scan_files({"a.tgz": blob}, limits=ScanLimits(max_total_uncompressed_bytes=1 << 20)).files[
        0
    ]
    assert any("bomb" in i.description for i in f.issues_detected or [])


def test_member_count_bomb(scan_files) -> None:  # type: ignore[no-untyped-def]
    blob = B.zip_bytes([(f"f{i}", b"") for i in range(50)])
    f = scan_files({"a.zip": blob}, limits=ScanLimits(max_archive_members=20)).files[0]
    assert any("archive bomb" in i.description for i in f.issues_detected or [])


def test_nesting_depth_bounded(scan_files) -> None:  # type: ignore[no-untyped-def]
    blob = B.call("os", "system")
    for _ in range(10):
        blob = B.gz(blob)
    f = scan_files({"m.gz": blob}).files[0]
    assert any("nested deeper" in i.description for i in f.issues_detected or [])


def test_mismatch_reported(scan_files) -> None:  # type: ignore[no-untyped-def]
    f = scan_files({"weights.npy": B.safetensors({"w": ("F32", [1], bytes(4))})}).files[0]
    assert any("disguised" in i.description for i in f.issues_detected or [])


def test_long_names_clipped(scan_files) -> None:  # type: ignore[no-untyped-def]
    blob = B.PROTO(4) + B.bu("m" * 3000) + B.bu("n" * 3000) + B.STACK_GLOBAL + B.STOP
    f = scan_files({"m.pkl": blob}).files[0]
    issue = (f.issues_detected or [])[0]
    assert len(issue.module or "") <= 256 and len(issue.operator or "") <= 256
    assert len(issue.description) <= 4096 and len(issue.source) <= 1024


def test_many_issues_capped(scan_files) -> None:  # type: ignore[no-untyped-def]
    body = B.PROTO(2) + b"".join(B.glob(f"mod{i}", "f") + b"0" for i in range(500)) + B.NONE
    f = scan_files({"m.pkl": body + B.STOP}).files[0]
    assert len(f.issues_detected or []) == 200


_DENSE_CHILD = r"""
import resource, sys
sys.path.insert(0, sys.argv[2])
from modelsec.scanner.pickle_scan import walk_pickle
from modelsec.scanner.source import ByteSource
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
with open(sys.argv[1], "rb") as fp:
    res = walk_pickle(ByteSource.from_file(fp))
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(after - before, res.pickles, len(res.imports), res.ops)
"""


def _dense_pickle(n: int) -> bytes:
    """``n`` small objects, each with a memoised string (the memo's worst case)."""
    item = B.binint1(1) + B.su("ab") + B.MEMOIZE + B.TUPLE2
    parts = [B.PROTO(4), B.EMPTY_LIST, B.MEMOIZE]
    for start in range(0, n, 1000):
        parts.append(B.MARK + item * min(1000, n - start) + B.APPENDS)
    parts.append(B.stack_global_call("os", "system")[2:])
    return b"".join(parts)


def test_memory_flat_on_dense_pickle_1m(tmp_path: pathlib.Path) -> None:
    """1.2M objects streamed from a file: peak RSS growth far below 256 MB.

    Measured in a child process with ``ru_maxrss``: tracemalloc slows this walk ~50x (every
    integer the walker computes is an allocation), see the tracemalloc test below.
    """
    path = tmp_path / "dense.pkl"
    path.write_bytes(_dense_pickle(1_200_000))
    out = subprocess.run(
        [sys.executable, "-c", _DENSE_CHILD, str(path), str(pathlib.Path(__file__).parent)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout.split()
    grown_kib, pickles, imports, ops = map(int, out)
    assert pickles == 1 and imports == 1 and ops > 9_000_000  # bytes walked
    assert grown_kib < 128 * 1024, grown_kib


def test_memory_tracemalloc_bounded() -> None:
    """tracemalloc peak of a walk past the memo cap (100k kept strings) stays small."""
    peaks = []
    for n in (105_000,):
        blob = _dense_pickle(n)
        tracemalloc.start()
        try:
            res = walk_pickle(ByteSource.from_bytes(blob))
            peaks.append(tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()
        assert ("os", "system") in {(i.module, i.name) for i in res.imports}
    assert max(peaks) < 64 << 20, peaks
