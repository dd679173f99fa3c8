"""Hypothesis mutation tests: no parser raises; malformed input is a reported status."""

from __future__ import annotations

import collections
import io
import json
import pathlib
import pickle
import tempfile
import zipfile

import scanner_builders as B
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelsec.scanner import scan_file
from modelsec.scanner.limits import ScanLimits
from modelsec.scanner.pickle_scan import walk_pickle
from modelsec.scanner.source import ByteSource

_LIMITS = ScanLimits(max_total_uncompressed_bytes=64 << 20, max_in_memory_bytes=8 << 20)

SEEDS: dict[str, bytes] = {
    "m.pkl": pickle.dumps(collections.OrderedDict(a=[1, 2.5, "x", b"y"]), protocol=4),
    "m0.pkl": pickle.dumps({"a": (1, "b")}, protocol=0),
    "evil.pkl": B.stack_global_call("os", "system"),
    "model.pt": B.torch_zip(B.torch_state_dict_pickle()),
    "legacy.bin": B.legacy_torch(B.torch_state_dict_pickle(1)),
    "a.npy": B.npy("<f4", (2,), bytes(8)),
    "o.npy": B.npy("|O", (1,), pickle.dumps([1])),
    "model.safetensors": B.safetensors({"w": ("F32", [2], bytes(8))}, {"k": "v"}),
    "m.gguf": B.gguf(
        {
            "general.alignment": 32,
            "tokenizer.chat_template": "{{ x }}",
            "tokenizer.ggml.tokens": ["a", "b"],
        },
        [("t", [2, 2], 0)],
    ),
    "m.keras": B.keras_zip(B.sequential([B.dense("a")])),
    "m.onnx": B.onnx_model([("Conv", "")], external="w.bin", weights=64),
    "saved_model.pb": B.saved_model(["MatMul", "PyFunc"]),
    "m.tar.gz": B.gz(B.tar_bytes([("a.pkl", pickle.dumps([1]))])),
    "m.pkl.xz": B.xz(pickle.dumps([1, 2])),
    "m.pkl.bz2": B.bz(pickle.dumps([1, 2])),
    "tokenizer_config.json": json.dumps({"chat_template": "{{ messages }}"}).encode(),
    "m.joblib": B.zl(pickle.dumps([1, 2])),
}


@st.composite
def mutated(draw: st.DrawFn, seed: bytes) -> bytes:
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 6))):
        action = draw(st.sampled_from(["flip", "truncate", "insert", "delete", "set"]))
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        if action == "flip" and data:
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif action == "truncate":
            del data[pos:]
        elif action == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=16))
        elif action == "delete":
            del data[pos : pos + draw(st.integers(1, 16))]
        elif action == "set" and data:
            data[pos] = draw(st.sampled_from([0x00, 0xFF, 0x7F, 0x80, 0x28, 0x2E, 0x93]))
    return bytes(data)


_TMP = pathlib.Path(tempfile.mkdtemp(prefix="modelsec-fuzz-"))


def _check(name: str, blob: bytes) -> None:
    path = _TMP / name
    path.write_bytes(blob)
    result = scan_file(str(path), name, _LIMITS)
    assert result.modelscan_status in ("SCANNED", "SKIPPED", "ERROR")
    assert "internal scanner error" not in (result.error_message or ""), result.error_message
    for issue in result.issues_detected or []:
        assert len(issue.description) <= 4096 and len(issue.source) <= 1024


_SETTINGS = settings(
    max_examples=150, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
)


def _make(name: str):  # type: ignore[no-untyped-def]
    @_SETTINGS
    @given(blob=mutated(SEEDS[name]))
    def test(blob: bytes) -> None:
        _check(name, blob)

    test.__name__ = f"test_mutated_{name.replace('.', '_')}"
    return test


for _name in SEEDS:
    globals()[f"test_mutated_{_name.replace('.', '_')}"] = _make(_name)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.binary(max_size=300))
def test_walker_random_bytes(blob: bytes) -> None:
    res = walk_pickle(ByteSource.from_bytes(blob))
    assert res.ops >= 0


@settings(max_examples=100, deadline=None, derandomize=True)
@given(
    st.lists(
        st.sampled_from(
            [
                b"(",
                b"t",
                b"R",
                b"\x93",
                b"\x94",
                b"h\x00",
                b"0",
                b"2",
                b"1",
                b"e",
                b"u",
                b"s",
                b"a",
                b"b",
                b"\x81",
                b"o",
                b".",
                b"\x8c\x02os",
                b"\x8c\x06system",
                b"N",
                b"}",
                b"]",
            ]
        ),
        max_size=60,
    )
)
def test_walker_opcode_soup(ops: list[bytes]) -> None:
    res = walk_pickle(ByteSource.from_bytes(b"\x80\x04" + b"".join(ops)))
    for imp in res.imports:
        assert isinstance(imp.module, str)


def test_zip_member_junk_bytes() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("archive/data.pkl", b"\xff" * 10)
    _check("junk.pt", buf.getvalue())
