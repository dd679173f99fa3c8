"""Keras: configs parsed wherever they live (zip, HDF5 structure, keras_metadata.pb), whole tree.

Fixtures under ``data/keras`` are real ``model.save`` output (keras 3.15, jax backend) and
variants made by editing their JSON or rewriting their HDF5 attributes through h5py; see
``data/keras/make_keras_fixtures.py``.
"""

from __future__ import annotations

import base64
import gzip
import io
import json
import marshal
import pathlib
import random
import struct
import zipfile

import pytest
from conftest import Scan, threats_of

from modelsec.scanner import scan_path
from modelsec.scanner.keras import check_keras_config, scan_h5
from modelsec.scanner.limits import ScanLimits
from modelsec.scanner.report import FileContext
from modelsec.scanner.source import ByteSource
from modelsec.types.data import FileScanData

DATA = pathlib.Path(__file__).parent / "data" / "keras"
K100, K101, K301 = "PAIT-KERAS-100", "PAIT-KERAS-101", "PAIT-KERAS-301"


def _scan_one(tmp_path: pathlib.Path, name: str, data: bytes, **kw: object) -> FileScanData:
    p = tmp_path / name
    p.write_bytes(data)
    details = scan_path(p, **kw)  # type: ignore[arg-type]
    assert len(details.files) == 1
    return details.files[0]


def _errors_issue(f: FileScanData) -> bool:
    return any(i.threat is None and "fail closed" in i.description for i in f.issues_detected or [])


# --- benign real files ------------------------------------------------------------------------

BENIGN = [
    "seq.keras",
    "func.keras",
    "td.keras",
    "lookup.keras",
    "seq.h5",
    "func.h5",
    "seq_dense.h5",  # superblock v3, attributes in a fractal heap (libver="latest")
    "empty.weights.h5",
]


@pytest.mark.parametrize("name", BENIGN)
def test_benign_real_files_clean(tmp_path: pathlib.Path, name: str) -> None:
    f = _scan_one(tmp_path, name, (DATA / name).read_bytes())
    assert f.issues_detected == [], f.issues_detected
    assert f.error_message is None
    assert f.modelscan_status == "SCANNED"


def test_benign_h5_formats(tmp_path: pathlib.Path) -> None:
    f = _scan_one(tmp_path, "seq.h5", (DATA / "seq.h5").read_bytes())
    assert f.formats == ["keras_legacy_h5"]


# --- malicious variants of real files ---------------------------------------------------------

MALICIOUS = {
    # Lambda bytecode outside a Lambda layer / inside wrappers and nested models.
    "mal_activation.keras": K100,
    "mal_td_activation.keras": K100,
    "mal_nested_initializer.keras": K100,
    "mal_timedistributed.keras": K100,
    "lambda.keras": K100,
    "mal_spacing.keras": K100,
    # Layers loading artifacts from outside the model.
    "mal_tfsm.keras": K101,
    "mal_vocab_file.keras": K101,
    # Prefix polyglot: zipfile (and so Keras) still opens the archive.
    "mal_polyglot.keras": K100,
    # Legacy .h5: config read through the HDF5 structure, whatever its spelling or storage.
    "mal_h5_vlen.h5": K100,
    "mal_h5_fixed.h5": K100,
    "mal_h5_training.h5": K100,
    "mal_h5_userblock.h5": K100,
    "mal_h5_dense.h5": K100,
    "mal_h5_userblock4k.h5": K100,  # superblock beyond the sniffer's 4 KiB head
    "mal_h5_external.h5": K101,
}


@pytest.mark.parametrize("name", sorted(MALICIOUS))
def test_malicious_variants_flagged(tmp_path: pathlib.Path, name: str) -> None:
    f = _scan_one(tmp_path, name, (DATA / name).read_bytes())
    assert MALICIOUS[name] in threats_of(f), f.issues_detected
    assert f.modelscan_status == "SCANNED", f.error_message
    assert f.error_message is None, f.error_message


def test_base64_pickle_in_module_is_decoded_and_walked(tmp_path: pathlib.Path) -> None:
    f = _scan_one(tmp_path, "m.keras", (DATA / "mal_b64pickle.keras").read_bytes())
    hits = [i for i in f.issues_detected or [] if i.threat == K100]
    assert any(i.module in ("os", "posix") and i.operator == "system" for i in hits), hits


def test_external_link_and_raw_file_both_reported(tmp_path: pathlib.Path) -> None:
    f = _scan_one(tmp_path, "m.h5", (DATA / "mal_h5_external.h5").read_bytes())
    text = " ".join(i.description for i in f.issues_detected or [] if i.threat == K101)
    assert "/etc/passwd" in text and "/tmp/other.h5" in text


def test_gzipped_h5_is_read_from_a_bounded_buffer(scan_files: Scan) -> None:
    data = gzip.compress((DATA / "mal_h5_vlen.h5").read_bytes())
    f = scan_files({"m.h5.gz": data}).files[0]
    assert K100 in threats_of(f)
    small = ScanLimits(max_in_memory_bytes=4096)
    f = scan_files({"m.h5.gz": data}, limits=small).files[0]
    assert _errors_issue(f), f.issues_detected


def _relocate_config(data: bytes, new_addr: int) -> tuple[bytes, bytes]:
    """Move the vlen model_config of an h5py file into a new global heap collection.

    Returns the patched head of the file and the collection to write at ``new_addr``; the old
    copy is blanked so nothing of the config is left in the first bytes.
    """
    idx = data.find(b'{"class_name" : "Sequential"')
    assert idx > 0
    gcol = data.rfind(b"GCOL", 0, idx)
    size = int.from_bytes(data[idx - 8 : idx], "little")
    index = int.from_bytes(data[idx - 16 : idx - 14], "little")
    cfg = data[idx : idx + size]
    old = struct.pack("<IQI", size, gcol, index)
    assert data.count(old) == 1
    head = bytearray(data.replace(old, struct.pack("<IQI", size, new_addr, 1)))
    head[idx : idx + size] = b" " * size
    obj = struct.pack("<HHIQ", 1, 1, 0, size) + cfg + bytes(-size % 8)
    total = max(4096, 16 + len(obj) + 16)
    free = struct.pack("<HHIQ", 0, 0, 0, total - 16 - len(obj))
    coll = b"GCOL\x01\x00\x00\x00" + struct.pack("<Q", total) + obj + free
    coll += bytes(total - len(coll))
    head[40:48] = struct.pack("<Q", new_addr + total)  # superblock v0 end-of-file address
    return bytes(head), coll


def test_h5_config_beyond_64_mib_is_read(tmp_path: pathlib.Path) -> None:
    data = (DATA / "mal_h5_vlen.h5").read_bytes()
    new_addr = 70 << 20
    head, coll = _relocate_config(data, new_addr)
    assert b"Lambda" not in head and b"__lambda__" not in head
    p = tmp_path / "far.h5"
    with p.open("wb") as fp:  # sparse: only the head and the collection are written
        fp.write(head)
        fp.seek(new_addr)
        fp.write(coll)
    f = scan_path(p).files[0]
    assert K100 in threats_of(f), f.issues_detected
    assert f.error_message is None


# --- fail closed --------------------------------------------------------------------------------


def test_non_string_h5_config_fails_closed(tmp_path: pathlib.Path) -> None:
    f = _scan_one(tmp_path, "m.h5", (DATA / "bad_config_type.h5").read_bytes())
    assert _errors_issue(f), f.issues_detected
    assert f.error_message


@pytest.mark.parametrize("sig", [b"FRHP", b"BTHD", b"BTLF"])
def test_broken_dense_storage_fails_closed(tmp_path: pathlib.Path, sig: bytes) -> None:
    data = (DATA / "mal_h5_dense.h5").read_bytes()
    assert data.count(sig) >= 1
    f = _scan_one(tmp_path, "m.h5", data.replace(sig, b"XXXX"))
    assert _errors_issue(f), f.issues_detected


def test_truncated_h5_fails_closed(tmp_path: pathlib.Path) -> None:
    data = (DATA / "seq.h5").read_bytes()
    f = _scan_one(tmp_path, "t.h5", data[: len(data) // 2])
    assert _errors_issue(f), f.issues_detected


def test_fake_weights_h5_in_keras_zip_fails_closed(scan_files: Scan) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("config.json", "{}")
        zf.writestr("metadata.json", "{}")
        zf.writestr("model.weights.h5", b"\x89HDF\r\n\x1a\n" + bytes(100))
    f = scan_files({"m.keras": buf.getvalue()}).files[0]
    assert _errors_issue(f), f.issues_detected


def test_h5_forged_base_address_ignored_like_hdf5(tmp_path: pathlib.Path) -> None:
    # The library reads relative to where it found the superblock (512), not the stored 1024.
    data = bytearray((DATA / "mal_h5_userblock.h5").read_bytes())
    assert data[512 + 24 : 512 + 32] == struct.pack("<Q", 512)
    data[512 + 24 : 512 + 32] = struct.pack("<Q", 1024)
    f = _scan_one(tmp_path, "m.h5", bytes(data))
    assert K100 in threats_of(f), f.issues_detected
    assert f.error_message is None


def test_h5_behind_a_zip_head_is_read(tmp_path: pathlib.Path) -> None:
    # A zip archive in the HDF5 user block: sniffed as a zip, opened by h5py as HDF5.
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("readme.txt", b"x" * 400)
    head = buf.getvalue()
    h5 = (DATA / "mal_h5_userblock4k.h5").read_bytes()
    assert len(head) <= 4096 and h5[4096:4104] == b"\x89HDF\r\n\x1a\n"
    blob = head + bytes(4096 - len(head)) + h5[4096:]
    f = _scan_one(tmp_path, "m.h5", blob)
    assert K100 in threats_of(f), f.issues_detected


def test_polyglot_member_without_file_fails_closed(scan_files: Scan) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("inner.keras", (DATA / "mal_polyglot.keras").read_bytes())
    f = scan_files({"outer.zip": buf.getvalue()}).files[0]
    assert _errors_issue(f), f.issues_detected


@pytest.mark.parametrize("name", ["seq.h5", "mal_h5_dense.h5"])
def test_mutated_h5_never_crashes_the_scan(name: str) -> None:
    data = (DATA / name).read_bytes()
    rng = random.Random(1234)
    for _ in range(300):
        mutated = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            pos = rng.randrange(0, min(len(data), 8192))
            mutated[pos] = rng.randrange(256)
        ctx = FileContext("m.h5", ScanLimits())
        scan_h5(ctx, ByteSource.from_bytes(bytes(mutated)), "m.h5")
        assert ctx.scanned or ctx.errors


# --- keras_metadata.pb ------------------------------------------------------------------------


def _pb_len(field: int, payload: bytes) -> bytes:
    n, out = len(payload), b""
    while True:
        b = n & 0x7F
        n >>= 7
        out += bytes([b | (0x80 if n else 0)])
        if not n:
            break
    return bytes([field << 3 | 2]) + out + payload


def _keras_metadata(*docs: str) -> bytes:
    return b"".join(
        _pb_len(1, b"\x10" + bytes([i]) + _pb_len(3, b"root") + _pb_len(5, d.encode()))
        for i, d in enumerate(docs)
    )


_DENSE_META = json.dumps({"class_name": "Dense", "config": {"name": "d", "units": 2}})


def test_keras_metadata_respaced_lambda(scan_files: Scan) -> None:
    lam = json.dumps(
        {
            "class_name": "Lambda",
            "config": {"function": ["4wEAAAAAAAAA", None, None], "function_type": "lambda"},
        },
        separators=(",", " : "),
    )
    details = scan_files({"sm/keras_metadata.pb": _keras_metadata(_DENSE_META, lam)})
    f = details.files[0]
    assert K100 in threats_of(f), f.issues_detected


def test_keras_metadata_benign_clean(scan_files: Scan) -> None:
    f = scan_files({"sm/keras_metadata.pb": _keras_metadata(_DENSE_META)}).files[0]
    assert f.issues_detected == [] and f.error_message is None
    assert f.formats == ["keras_metadata"]


def test_keras_metadata_garbage_fails_closed(scan_files: Scan) -> None:
    bad = _keras_metadata(_DENSE_META) + _pb_len(1, _pb_len(5, b'{"class_name": '))
    f = scan_files({"sm/keras_metadata.pb": bad}).files[0]
    assert _errors_issue(f), f.issues_detected


# --- the tree walk ----------------------------------------------------------------------------


def _judge(doc: object) -> FileContext:
    ctx = FileContext("m.keras", ScanLimits())
    check_keras_config(ctx, doc, "m.keras!config.json")
    return ctx


def _threats(ctx: FileContext) -> set[str]:
    return {i.threat for i in ctx.issues if i.threat}


def _code_b64() -> str:
    return base64.b64encode(marshal.dumps((lambda t: t).__code__)).decode()


def test_legacy_function_type_lambda_outside_lambda_layer() -> None:
    act = {"class_name": "function", "config": [_code_b64(), None, None], "function_type": "lambda"}
    doc = {"class_name": "Dense", "config": {"name": "d", "activation": act}}
    assert K100 in _threats(_judge(doc))


def test_base64_bytecode_string_anywhere() -> None:
    doc = {"class_name": "Dense", "config": {"name": "d", "bias_regularizer": _code_b64()}}
    assert K100 in _threats(_judge(doc))


def test_urlsafe_base64_pickle_anywhere() -> None:
    gadget = b"cos\nsystem\n(S'id ~'\ntR."  # protocol 0: no PROTO opcode to spot
    encoded = base64.urlsafe_b64encode(gadget).decode()
    assert "-" in encoded
    doc = {"class_name": "Dense", "config": {"name": encoded}}
    ctx = _judge(doc)
    assert any(i.threat == K100 and i.operator == "system" for i in ctx.issues), ctx.issues


def test_registered_custom_object_reported() -> None:
    doc = {
        "module": "keras.layers",
        "class_name": "Dense",
        "registered_name": "evilpkg>Dense",
        "config": {},
    }
    assert K301 in _threats(_judge(doc))


def test_hub_layer_handle_is_an_external_artifact() -> None:
    doc = {
        "module": "tensorflow_hub.keras_layer",
        "class_name": "KerasLayer",
        "config": {"handle": "https://tfhub.dev/x/1", "trainable": False},
    }
    assert {K101, K301} <= _threats(_judge(doc))


@pytest.mark.parametrize("value", ["../../weights.bin", "file:///etc/x", "s3://b/k", "C:\\x"])
def test_path_keys_pointing_outside(value: str) -> None:
    doc = {"class_name": "Custom", "config": {"filepath": value}}
    assert K101 in _threats(_judge(doc))


def test_inline_vocabulary_and_relative_names_not_reported() -> None:
    doc = {
        "module": "keras.layers",
        "class_name": "StringLookup",
        "config": {"vocabulary": ["/", "..", "http://x", "a"], "name": "lookup"},
    }
    assert _judge(doc).issues == []


def test_unsafe_builtin_function_still_unsafe() -> None:
    doc = {"module": "builtins", "class_name": "function", "config": "exec"}
    assert K100 in _threats(_judge(doc))


def test_hdf5_behind_a_4k_user_block_under_any_name(tmp_path: pathlib.Path) -> None:
    # tf_keras loads any path h5py.is_hdf5 accepts; h5py finds the superblock at 0, 512, 1024,
    # 2048, 4096, ...: a Keras .h5 behind a 4 KiB user block, named model.bin, is still read.
    data = (DATA / "mal_h5_userblock4k.h5").read_bytes()
    assert data[:8] != b"\x89HDF\r\n\x1a\n" and data[4096:4104] == b"\x89HDF\r\n\x1a\n"
    (tmp_path / "model.bin").write_bytes(data)
    (f,) = scan_path(tmp_path).files
    assert "PAIT-KERAS-100" in {i.threat for i in f.issues_detected}, f.issues_detected
