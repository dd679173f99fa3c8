"""Containers and compression as loaders read them, with memory bounded by a budget.

zip members in every method ``zipfile`` reads, tar in every dialect ``tarfile`` reads (V7 by
checksum, GNU long names, pax), compression recognised by content whatever the extension, joblib's
compressed files, lz4 with and without its optional extra, and hostile headers (a 256 MiB GNU
long name, bombs, nesting) scanned in a child process whose peak RSS is measured.
"""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import os
import pathlib
import random
import subprocess
import sys
import tarfile
import textwrap
import zipfile
import zlib

import pytest
import scanner_builders as B
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_identification import oracle_imports

from modelsec.policy import default_rule_instances, evaluate_scan
from modelsec.scanner import scan_path
from modelsec.types.data import FileScanData

PAYLOAD = b"cos\nsystem\n(S'id'\ntR."
BIN_PAYLOAD = B.call("os", "system", b"\x8c\x02id")
REPO = pathlib.Path(__file__).resolve().parents[2]


def scan(tmp_path: pathlib.Path, name: str, data: bytes, sub: str = "m") -> FileScanData:
    root = tmp_path / sub
    root.mkdir(exist_ok=True)
    (root / name).write_bytes(data)
    return scan_path(root).files[0]


def outcome(tmp_path: pathlib.Path, name: str, data: bytes, sub: str = "g") -> str:
    root = tmp_path / sub
    root.mkdir(exist_ok=True)
    (root / name).write_bytes(data)
    details = scan_path(root)
    r = evaluate_scan(details.to_dict(), default_rule_instances("LOCAL"), source_type="LOCAL")
    return r.outcome


def threats(f: FileScanData) -> set[str]:
    return {str(i.threat) for i in f.issues_detected or [] if i.threat}


def has_100(f: FileScanData) -> bool:
    return any(t.endswith("-100") and t != "PAIT-ARV-100" for t in threats(f))


# --- zip ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "method", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA]
)
def test_zip_methods_zipfile_reads(tmp_path: pathlib.Path, method: int) -> None:
    blob = B.zip_bytes([("model.pkl", BIN_PAYLOAD)], compression=method)
    with zipfile.ZipFile(io.BytesIO(blob)) as zf:  # numpy.load / joblib / keras read it
        assert zf.read("model.pkl") == BIN_PAYLOAD
    f = scan(tmp_path, "archive.zip", blob)
    assert "PAIT-PKL-100" in threats(f), f.issues_detected
    assert f.error_message is None


def _set_method(blob: bytes, method: int) -> bytes:
    out = bytearray(blob)
    for sig, off in ((b"PK\x03\x04", 8), (b"PK\x01\x02", 10)):
        pos = out.find(sig)
        out[pos + off : pos + off + 2] = method.to_bytes(2, "little")
    return bytes(out)


def test_zip_unknown_method_fails_closed(tmp_path: pathlib.Path) -> None:
    blob = _set_method(B.zip_bytes([("model.pkl", BIN_PAYLOAD)]), 99)
    f = scan(tmp_path, "archive.zip", blob)
    assert f.error_message and "method 99" in f.error_message
    assert outcome(tmp_path, "archive.zip", blob) == "BLOCKED"


def test_nested_stored_zip_read_in_place(tmp_path: pathlib.Path) -> None:
    inner = B.zip_bytes([("model.pkl", BIN_PAYLOAD)], compression=zipfile.ZIP_LZMA)
    outer = B.zip_bytes([("inner.zip", inner), ("README.md", b"# x")])
    f = scan(tmp_path, "outer.zip", outer)
    assert "PAIT-PKL-100" in threats(f)


def test_zip_after_a_prefix_is_scanned_too(tmp_path: pathlib.Path) -> None:
    # zipfile (Keras, generic loaders) opens an archive by its end record whatever precedes it.
    blob = b"#!/bin/sh\necho not a zip at all\n" + B.zip_bytes([("model.pkl", BIN_PAYLOAD)])
    with zipfile.ZipFile(io.BytesIO(blob)) as zf:
        assert zf.read("model.pkl") == BIN_PAYLOAD
    f = scan(tmp_path, "model.keras", blob)
    assert "PAIT-PKL-100" in threats(f), f.issues_detected


def test_stray_zip_signature_is_not_a_zip(tmp_path: pathlib.Path) -> None:
    f = scan(tmp_path, "blob.bin", bytes(100) + b"PK\x05\x06" + bytes(18))
    assert f.issues_detected == [] and f.error_message is None


# --- tar ---------------------------------------------------------------------------------------


def _tar(members: list[tuple[str, bytes]], fmt: int = tarfile.GNU_FORMAT, **pax: str) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tf:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            if pax:
                info.pax_headers = dict(pax)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _v7(blob: bytes) -> bytes:
    """Strip the ustar magic and fields from every header, keeping the checksums right."""
    out = bytearray(blob)
    pos = 0
    while pos + 512 <= len(out) and out[pos : pos + 512] != bytes(512):
        hdr = out[pos : pos + 512]
        size = int(hdr[124:136].strip(b"\0 ") or b"0", 8)
        hdr[257:500] = bytes(243)
        hdr[148:156] = b" " * 8
        hdr[148:156] = b"%06o\0 " % sum(hdr)
        out[pos : pos + 512] = hdr
        pos += 512 + -(-size // 512) * 512
    return bytes(out)


def test_v7_tar_without_magic(tmp_path: pathlib.Path) -> None:
    blob = _v7(_tar([("model.pkl", BIN_PAYLOAD)]))
    assert b"ustar" not in blob
    with tarfile.open(fileobj=io.BytesIO(blob)) as tf:  # tarfile (torch legacy) reads it
        assert tf.getnames() == ["model.pkl"]
    f = scan(tmp_path, "model.tar", blob)
    assert "PAIT-PKL-100" in threats(f), f.issues_detected
    assert f.error_message is None


@pytest.mark.parametrize("fmt", [tarfile.GNU_FORMAT, tarfile.PAX_FORMAT, tarfile.USTAR_FORMAT])
def test_tar_dialects_and_long_names(tmp_path: pathlib.Path, fmt: int) -> None:
    name = ("d" * 60 + "/") * (2 if fmt == tarfile.USTAR_FORMAT else 4) + "model.pkl"
    blob = _tar([("a.txt", b"hello"), (name, BIN_PAYLOAD)], fmt)
    f = scan(tmp_path, "model.tar", blob)
    assert "PAIT-PKL-100" in threats(f), f.issues_detected
    assert any(name in i.source for i in f.issues_detected or [])
    assert f.error_message is None


def test_pax_size_and_global_header(tmp_path: pathlib.Path) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        tf.pax_headers = {"comment": "global"}
        info = tarfile.TarInfo("x/ü.pkl")
        info.size = len(BIN_PAYLOAD)
        info.pax_headers = {"comment": "c" * 300}
        tf.addfile(info, io.BytesIO(BIN_PAYLOAD))
    f = scan(tmp_path, "model.tar", buf.getvalue())
    assert "PAIT-PKL-100" in threats(f)
    assert f.error_message is None


def test_tar_symlink_size_field_has_no_data(tmp_path: pathlib.Path) -> None:
    # tarfile reads no data after a symlink header whatever its size field says: the next
    # block is a header, and it must be scanned as one.
    link = tarfile.TarInfo("ln")
    link.type = tarfile.SYMTYPE
    link.linkname = "../../etc/passwd"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tf:
        tf.addfile(link)
        info = tarfile.TarInfo("m.pkl")
        info.size = len(BIN_PAYLOAD)
        tf.addfile(info, io.BytesIO(BIN_PAYLOAD))
    f = scan(tmp_path, "model.tar", buf.getvalue())
    assert {"PAIT-ARV-100", "PAIT-PKL-100"} <= threats(f)


def test_oversized_long_name_is_an_issue_not_a_buffer(tmp_path: pathlib.Path) -> None:
    blob = _long_name_tar(1 << 20)
    f = scan(tmp_path, "model.tar", blob)
    assert any("long name" in i.description for i in f.issues_detected or [])
    assert "PAIT-PKL-100" in threats(f)  # the member after it is still scanned
    assert outcome(tmp_path, "model.tar", blob) == "BLOCKED"


def test_malformed_tar_header_fails_closed(tmp_path: pathlib.Path) -> None:
    blob = bytearray(_tar([("a.txt", b"x"), ("b.txt", b"y")]))
    blob[1024 + 148 : 1024 + 156] = b"0000000\0"  # second header: wrong checksum
    f = scan(tmp_path, "model.tar", bytes(blob))
    assert f.error_message and "malformed tar header" in f.error_message


# --- compression by content --------------------------------------------------------------------


def _lz4(data: bytes) -> bytes:
    import lz4.frame

    out: bytes = lz4.frame.compress(data)
    return out


COMPRESSORS = {
    "gzip": gzip.compress,
    "bz2": bz2.compress,
    "xz": lzma.compress,
    "lzma_alone": lambda d: lzma.compress(d, format=lzma.FORMAT_ALONE),
    "zlib": zlib.compress,
    "lz4": _lz4,
}


@pytest.mark.parametrize("codec", sorted(COMPRESSORS))
@pytest.mark.parametrize("name", ["model.bin", "model.pkl", "weights"])
def test_compression_by_content(tmp_path: pathlib.Path, codec: str, name: str) -> None:
    f = scan(tmp_path, name, COMPRESSORS[codec](BIN_PAYLOAD))
    assert has_100(f), (codec, f.issues_detected)
    assert f.error_message is None


def test_lz4_without_extra_fails_closed(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blob = _lz4(BIN_PAYLOAD)
    monkeypatch.setitem(sys.modules, "lz4", None)
    monkeypatch.setitem(sys.modules, "lz4.frame", None)
    f = scan(tmp_path, "model.joblib", blob)
    assert f.error_message and "modelsec[lz4]" in f.error_message
    assert outcome(tmp_path, "model.joblib", blob) == "BLOCKED"


def test_seven_zip_fails_closed(tmp_path: pathlib.Path) -> None:
    assert outcome(tmp_path, "m.7z", b"7z\xbc\xaf\x27\x1c\x00\x04" + bytes(64)) == "BLOCKED"


def test_truncated_gzip_fails_closed(tmp_path: pathlib.Path) -> None:
    blob = gzip.compress(BIN_PAYLOAD + bytes(4000))[:-30]
    f = scan(tmp_path, "model.bin", blob)
    assert f.error_message and "truncated" in f.error_message


class _Evil:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, ("id",))


@pytest.mark.parametrize("codec", ["zlib", "gzip", "bz2", "xz", "lzma", "lz4"])
@pytest.mark.parametrize("name", ["model.joblib", "model.bin"])
def test_joblib_compressed(tmp_path: pathlib.Path, codec: str, name: str) -> None:
    import joblib

    path = tmp_path / "src.joblib"
    joblib.dump({"w": [1.0, 2.0], "evil": _Evil()}, path, compress=(codec, 3))
    f = scan(tmp_path, name, path.read_bytes())
    assert has_100(f), (codec, f.issues_detected)
    if name.endswith(".joblib"):
        assert "joblib" in (f.formats or [])


# --- memory: hostile headers in a child process ------------------------------------------------


def _long_name_tar(length: int, *, noisy: bool = False) -> bytes:
    """A GNU tar whose long-name header declares ``length`` bytes, then a malicious member."""
    hdr = tarfile.TarInfo("././@LongLink")
    hdr.type = tarfile.GNUTYPE_LONGNAME
    hdr.size = length
    head = hdr.tobuf(tarfile.GNU_FORMAT)
    rng = random.Random(1)
    parts = [head]
    left = length
    while left > 0:
        n = min(left, 1 << 20)
        chunk = (rng.randbytes(5200) if noisy else b"") + b"a" * n
        parts.append(chunk[:n])
        left -= n
    parts.append(bytes(-length % 512))
    parts.append(_tar([("m.pkl", BIN_PAYLOAD)]))
    return b"".join(parts)


def _gz_stream(path: pathlib.Path, length: int) -> None:
    """Write the 256 MiB long-name tar gzip-compressed without holding it in memory."""
    rng = random.Random(2)
    hdr = tarfile.TarInfo("././@LongLink")
    hdr.type = tarfile.GNUTYPE_LONGNAME
    hdr.size = length
    with gzip.open(path, "wb", compresslevel=1) as gz:
        gz.write(hdr.tobuf(tarfile.GNU_FORMAT))
        left = length
        while left > 0:
            n = min(left, 1 << 20)
            gz.write((rng.randbytes(5200) + b"a" * n)[:n])
            left -= n
        gz.write(bytes(-length % 512))
        gz.write(_tar([("m.pkl", BIN_PAYLOAD)]))


_RUNNER = textwrap.dedent(
    """
    import json, resource, subprocess, sys
    code = (
        "import json, sys\\n"
        "from modelsec.scanner import scan_path\\n"
        "d = scan_path(sys.argv[1])\\n"
        "print(json.dumps([[i.threat, i.description] for f in d.files "
        "for i in f.issues_detected or []]))\\n"
    )
    out = subprocess.run([sys.executable, "-c", code, sys.argv[1]], capture_output=True,
                         text=True, check=True).stdout
    rss_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(json.dumps({"issues": json.loads(out), "rss_mib": rss_kib / 1024}))
    """
)


def _scan_in_child(root: pathlib.Path) -> tuple[list[list[str | None]], float]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    res = subprocess.run(
        [sys.executable, "-c", _RUNNER, str(root)],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
        env=env,
    )
    data = json.loads(res.stdout)
    return data["issues"], float(data["rss_mib"])


def test_memory_long_gnu_name_tar_gz(tmp_path: pathlib.Path) -> None:
    root = tmp_path / "longname"
    root.mkdir()
    path = root / "model.tar.gz"
    _gz_stream(path, 256 << 20)
    assert path.stat().st_size < 4 << 20  # a small file declaring a 256 MiB name
    issues, rss = _scan_in_child(root)
    assert rss < 256, rss
    assert any("long name" in str(d) for _t, d in issues), issues
    assert any(t == "PAIT-PKL-100" for t, _d in issues)


def _zip_bomb(path: pathlib.Path, size: int, *, lie: bool) -> None:
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    # A pickle whose BINBYTES8 payload is the zeros: the walker reads the member to its end.
    body = comp.compress(b"\x80\x04\x8e" + size.to_bytes(8, "little"))
    body += b"".join(comp.compress(bytes(1 << 20)) for _ in range(size >> 20)) + comp.flush()
    blob = bytearray(B.zip_bytes([("model.pkl", b"x" * len(body))]))
    # Replace the stored placeholder by the deflate stream (same length, method 8).
    start = blob.find(b"x" * len(body))
    blob[start : start + len(body)] = body
    blob = bytearray(_set_method(bytes(blob), 8))
    declared = 1000 if lie else size
    for sig, off in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        pos = blob.find(sig)
        blob[pos + off : pos + off + 4] = declared.to_bytes(4, "little")
    path.write_bytes(bytes(blob))


@pytest.mark.parametrize("lie", [False, True])
def test_memory_zip_bomb(tmp_path: pathlib.Path, lie: bool) -> None:
    root = tmp_path / "zipbomb"
    root.mkdir()
    _zip_bomb(root / "model.zip", 512 << 20, lie=lie)
    issues, rss = _scan_in_child(root)
    assert rss < 256, rss
    assert any("bomb" in str(d) for _t, d in issues), issues


def test_memory_nested_tar_gz(tmp_path: pathlib.Path) -> None:
    root = tmp_path / "nested"
    root.mkdir()
    blob = BIN_PAYLOAD
    name = "m.pkl"
    for level in range(6):
        blob = gzip.compress(_tar([(name, blob)]))
        name = f"l{level}.tar.gz"
    (root / name).write_bytes(blob)
    issues, rss = _scan_in_child(root)
    assert rss < 256, rss
    assert any("nested deeper" in str(d) for _t, d in issues), issues


def test_per_member_ratio(tmp_path: pathlib.Path) -> None:
    # A noisy member first keeps the archive's overall ratio low; the zero member alone is a
    # bomb and must be judged on its own.
    rng = random.Random(3)
    blob = gzip.compress(_tar([("noise.bin", rng.randbytes(2 << 20)), ("z.bin", bytes(48 << 20))]))
    f = scan(tmp_path, "model.tar.gz", blob)
    assert any("this member expands" in i.description for i in f.issues_detected or [])


# --- property: wrapped malicious pickles never pass ----------------------------------------------

_PUSH = st.one_of(
    st.just(b"N"),
    st.just(b"("),
    st.just(b"]"),
    st.just(b")"),
    st.just(b"}"),
    st.binary(min_size=1, max_size=1).map(lambda b: b"K" + b),
    st.binary(min_size=2, max_size=2).map(lambda b: b"M" + b),
    st.binary(min_size=8, max_size=8).map(lambda b: b"G" + b),
    st.integers(-(10**6), 10**6).map(lambda i: b"I%d\n" % i),
    st.text("abcXYZ 019.-_", max_size=40).map(lambda t: b"S'" + t.encode() + b"'\n"),
)

_NAMES = st.sampled_from(
    ["model.bin", "model.h5", "model.safetensors", "vocab.txt", "model.gguf", "m.json", "x"]
)


def _wrap(data: bytes, layer: str, name: str, method: int) -> tuple[bytes, str]:
    if layer == "tar":
        return _tar([(name, data)]), name + ".tar"
    if layer == "zip":
        return B.zip_bytes([(name, data)], compression=method), name + ".zip"
    if layer == "gz":
        return gzip.compress(data), name + ".gz"
    if layer == "bz2":
        return bz2.compress(data), name
    if layer == "xz":
        return lzma.compress(data), name
    if layer == "lzma":
        return lzma.compress(data, format=lzma.FORMAT_ALONE), name
    if layer == "zlib":
        return zlib.compress(data), name
    return _lz4(data), name


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    prefix=st.lists(_PUSH, max_size=6).map(b"".join),
    proto=st.sampled_from([b"", b"\x80\x02", b"\x80\x04\x95" + bytes(8)]),
    payload=st.sampled_from([PAYLOAD, BIN_PAYLOAD[2:], B.stack_global_call("os", "system")[2:]]),
    suffix=st.binary(max_size=64),
    pad_to=st.sampled_from([None, 257, 512]),
    layers=st.lists(
        st.sampled_from(["tar", "zip", "gz", "bz2", "xz", "lzma", "zlib", "lz4"]), max_size=3
    ),
    method=st.sampled_from(
        [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA]
    ),
    name=_NAMES,
)
def test_wrapped_malicious_pickle_never_passes(
    tmp_path_factory: pytest.TempPathFactory,
    prefix: bytes,
    proto: bytes,
    payload: bytes,
    suffix: bytes,
    pad_to: int | None,
    layers: list[str],
    method: int,
    name: str,
) -> None:
    core = proto + prefix + payload + suffix
    if pad_to == 512:  # an HDF5 superblock after the pickle
        core = core + bytes(max(0, 512 - len(core))) + b"\x89HDF\r\n\x1a\n" + bytes(64)
    elif pad_to == 257:  # a tar magic after it
        core = core + bytes(max(0, 257 - len(core))) + b"ustar\x0000" + bytes(300)
    assert ("os", "system") in oracle_imports(core)  # a loader runs it
    data, fname = core, name
    for layer in layers:
        data, fname = _wrap(data, layer, fname, method)
    root = tmp_path_factory.mktemp("wrapped")
    (root / fname).write_bytes(data)
    details = scan_path(root)
    f = details.files[0]
    assert has_100(f), (layers, fname, f.issues_detected)
    r = evaluate_scan(details.to_dict(), default_rule_instances("LOCAL"), source_type="LOCAL")
    assert r.outcome == "BLOCKED"


def _zfile(data: bytes, *, py2: bool) -> bytes:
    # joblib < 0.10 write_zfile: "ZF" + hex length padded to 19 (20 under Python 2) + zlib.
    import zlib

    width = 20 if py2 else 19
    return b"ZF" + hex(len(data)).encode().ljust(width) + zlib.compress(data)


@pytest.mark.parametrize("py2", [False, True])
def test_joblib_zfile_header_widths(tmp_path: pathlib.Path, py2: bool) -> None:
    # Python 2 wrote one more space; joblib's read_zfile skips it. The pickle is found either way.
    payload = b"cos\nsystem\n(S'id'\ntR."
    (tmp_path / "m_compressed_pickle.gz").write_bytes(_zfile(payload, py2=py2))
    (f,) = scan_path(tmp_path).files
    assert [i.threat for i in f.issues_detected] == ["PAIT-JOBLIB-100"], f.issues_detected
    assert f.error_message is None


def test_joblib_zfile_array_companion_is_data(tmp_path: pathlib.Path) -> None:
    # ZNDArrayWrapper's ".npy.z" files hold raw array bytes in a ZF container, never unpickled.
    (tmp_path / "m.gz_01.npy.z").write_bytes(_zfile(bytes(200) + b"\x01\x02", py2=False))
    (f,) = scan_path(tmp_path).files
    assert f.issues_detected == [] and f.error_message is None


def test_encrypted_zip_member_fails_closed(tmp_path: pathlib.Path) -> None:
    # The general-purpose flag's bit 0 marks traditional PKWARE encryption: ciphertext to the
    # scanner, plaintext to a loader given the password.
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("data.pkl", b"\x80\x02N.")
    raw = bytearray(buf.getvalue())
    raw[6] |= 0x01  # local header flag bits
    cd = raw.rfind(b"PK\x01\x02")
    raw[cd + 8] |= 0x01  # central directory flag bits
    (tmp_path / "m.zip").write_bytes(bytes(raw))
    (f,) = scan_path(tmp_path).files
    assert f.issues_detected, "an encrypted member must not pass"
    assert "encrypted" in (f.error_message or "")
