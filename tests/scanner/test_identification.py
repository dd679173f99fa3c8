"""Identification by what loaders accept: polyglots, text, UBJSON, executables.

Every malicious case here is a file some pickle-based loader really unpickles from byte 0 (an
inert oracle, CPython's unpickler with a recording ``find_class``, checks that it reaches
``os.system``), dressed up as another format. Each one passed (or only errored) before
identification followed the loaders; each must now carry the ``-100`` finding.
"""

from __future__ import annotations

import io
import json
import pathlib
import pickle
import struct
import tarfile
from typing import Any

import pytest
import scanner_builders as B

from modelsec.policy import default_rule_instances, evaluate_scan
from modelsec.scanner import scan_path
from modelsec.scanner.detect import Kind, identify, pickle_may_start
from modelsec.types.data import FileScanData

PAYLOAD = b"cos\nsystem\n(S'id'\ntR."
HDF5 = b"\x89HDF\r\n\x1a\n"
REAL_H5 = (pathlib.Path(__file__).parent / "data" / "keras" / "empty.weights.h5").read_bytes()


class _Inert:
    def __init__(self, *args: object, **kwargs: object) -> None:
        self.args = args


class _Oracle(pickle.Unpickler):
    """CPython's unpickler, but every import is recorded and replaced by an inert class."""

    def __init__(self, data: bytes) -> None:
        super().__init__(io.BytesIO(data))
        self.names: list[tuple[str, str]] = []

    def find_class(self, module: str, name: str) -> Any:
        self.names.append((module, name))
        return _Inert


def oracle_imports(data: bytes) -> list[tuple[str, str]]:
    """What ``pickle.load`` imports before it returns or fails, never calling anything real."""
    o = _Oracle(data)
    try:
        o.load()
    except Exception:  # the stream may be junk after the payload: the imports still happened
        pass
    return o.names


def scan_one(tmp_path: pathlib.Path, name: str, data: bytes) -> FileScanData:
    root = tmp_path / "model"
    root.mkdir(exist_ok=True)
    (root / name).write_bytes(data)
    details = scan_path(root)
    assert len(details.files) == 1
    return details.files[0]


def blocked(tmp_path: pathlib.Path, name: str, data: bytes) -> tuple[FileScanData, str]:
    root = tmp_path / "gate"
    root.mkdir(exist_ok=True)
    (root / name).write_bytes(data)
    details = scan_path(root)
    r = evaluate_scan(details.to_dict(), default_rule_instances("LOCAL"), source_type="LOCAL")
    return details.files[0], r.outcome


def threats(f: FileScanData) -> set[str]:
    return {str(i.threat) for i in f.issues_detected or [] if i.threat}


def _tar_named(member_name: str, content: bytes) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        info = tarfile.TarInfo(member_name)
        info.size = len(content)
        tf.addfile(info, io.BytesIO(content))
    return buf.getvalue()


def _hdf5_at_512() -> bytes:
    data = PAYLOAD + b"\x00" * (512 - len(PAYLOAD)) + HDF5 + bytes(1024)
    assert data[512:520] == HDF5
    return data


def _ustar_in_string() -> bytes:
    data = b"cos\nsystem\n(S'" + b"A" * 243 + b"ustar" + b"'\ntR."
    assert data[257:262] == b"ustar"
    return data


def _safetensors_prefix() -> bytes:
    # BINFLOAT's 8-byte argument spans bytes 1..8, so byte 8 can be the "{" of a header.
    head = b"G\x10" + bytes(6) + b"{"
    n = int.from_bytes(head[:8], "little")
    data = head + PAYLOAD
    return data + b" " * (n + 8 - len(data))


POLYGLOTS: dict[str, tuple[str, bytes, str]] = {
    # name: (file name, content, the kind its signature claims)
    "hdf5_at_512": ("model.h5", _hdf5_at_512(), Kind.HDF5),
    "hdf5_at_512_bin": ("weights.bin", _hdf5_at_512(), Kind.HDF5),
    "ustar_at_257_in_string": ("model.bin", _ustar_in_string(), Kind.TEXT),
    "real_tar_named_pickle": ("model.tar", _tar_named(PAYLOAD.decode(), b"benign"), Kind.TAR),
    "safetensors_length_prefix": ("model.bin", _safetensors_prefix(), Kind.SAFETENSORS),
    "safetensors_extension": ("model.safetensors", PAYLOAD, Kind.SAFETENSORS),
    "llamafile_prefix": ("model.llamafile", b"MZqF1\n" + PAYLOAD, Kind.LLAMAFILE),
    "mz_prefix": ("model.bin", b"MZ\x00" + PAYLOAD, Kind.EXECUTABLE),
    "gguf_prefix": ("model.gguf", b"GGUF\x03\x00\x00\x00" + b"0" + PAYLOAD, Kind.GGUF),
    "proto1_header": ("model.bin", b"\x80\x01" + PAYLOAD, Kind.UNKNOWN),
    "frame_then_proto": ("model.bin", b"\x95" + bytes(8) + b"\x80\x04" + PAYLOAD, Kind.UNKNOWN),
}


@pytest.mark.parametrize("case", sorted(POLYGLOTS))
def test_polyglot_is_walked_as_pickle(tmp_path: pathlib.Path, case: str) -> None:
    name, data, claimed = POLYGLOTS[case]
    assert ("os", "system") in oracle_imports(data)  # a loader really runs it
    assert identify(data[:4096], name, len(data))[0] == claimed
    f, outcome = blocked(tmp_path, name, data)
    assert "PAIT-PKL-100" in threats(f), f.issues_detected
    assert outcome == "BLOCKED"


def test_real_tar_named_pickle_also_scans_members(tmp_path: pathlib.Path) -> None:
    tar = _tar_named(PAYLOAD.decode(), B.call("os", "system", b"\x8c\x02id"))
    f = scan_one(tmp_path, "model.tar", tar)
    assert "PAIT-PKL-100" in threats(f)
    sources = {i.source for i in f.issues_detected or []}
    assert "model.tar" in sources and any("!" in s for s in sources)  # both formats judged


APE = b"MZqFpD='\n\n\x00\x10\x00\xf8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x10\x00\x02"
EXECUTABLES = {
    "ape_llamafile": APE + bytes(200) + b'exec 7<> "$0"\n',
    "ape_jartsr": b"jartsr='\n\n\x00\x10" + bytes(300),
    "elf_with_gguf": b"\x7fELF\x02\x01\x01" + bytes(57) + b"GGUF\x03\x00\x00\x00" + bytes(64),
    "pe": b"MZ\x90\x00\x03\x00\x00\x00\x04\x00" + bytes(100),
}


@pytest.mark.parametrize("case", sorted(EXECUTABLES))
def test_executables_are_reported(tmp_path: pathlib.Path, case: str) -> None:
    f, outcome = blocked(tmp_path, "model.llamafile", EXECUTABLES[case])
    assert threats(f) == {"PAIT-LMAFL-300"}, f.issues_detected
    assert outcome == "BLOCKED"
    assert f.error_message is None


def _ubjson(value: object) -> bytes:
    """A small UBJSON encoder (xgboost writes ``.ubj`` models in this format)."""
    if isinstance(value, dict):
        out = b"{"
        for k, v in value.items():
            kb = k.encode()
            out += b"L" + struct.pack(">q", len(kb)) + kb + _ubjson(v)
        return out + b"}"
    if isinstance(value, list):
        return b"[" + b"".join(_ubjson(v) for v in value) + b"]"
    if isinstance(value, bool):
        return b"T" if value else b"F"
    if isinstance(value, int):
        return b"L" + struct.pack(">q", value)
    if isinstance(value, float):
        return b"d" + struct.pack(">f", value)
    sb = str(value).encode()
    return b"S" + b"L" + struct.pack(">q", len(sb)) + sb


VOCAB = "[PAD]\n" + "".join(f"[unused{i}]\n" for i in range(99)) + "[UNK]\n[CLS]\n[SEP]\nthe\n##s\n"
BENIGN: dict[str, tuple[str, bytes]] = {
    "vocab_txt": ("vocab.txt", VOCAB.encode()),
    "merges_txt": ("merges.txt", "#version: 0.2\nĠ t\nĠ a\nh e\nĠt he\n".encode()),
    "readme": ("README.md", b"# Model card\n\nA model. See [the paper](https://x).\n"),
    "text_starting_with_opcodes": ("notes.txt", b"I like models.\nNone of this is code.\n"),
    "sentencepiece_like_text": ("spm.vocab", "<unk>\t0\n<s>\t0\n▁the\t-3.1\n".encode()),
    "ubjson_xgboost": (
        "model.ubj",
        _ubjson({"learner": {"attributes": {}, "gradient_booster": {"name": "gbtree"}}}),
    ),
    "ubjson_array": ("data.ubj", b"[" + b"i\x01i\x02" + b"]"),
    "json": ("config.json", json.dumps({"architectures": ["Bert"], "vocab_size": 3}).encode()),
    "json_array": ("list.json", b'[\n  {"a": 1}, 2, "x"\n]'),
    "safetensors": ("model.safetensors", B.safetensors({"w": ("F32", [2], bytes(8))})),
    "gguf": ("model.gguf", B.gguf({"general.architecture": "llama"}, [("w", [4], 0)])),
    # A real (empty) HDF5 file: the scanner parses HDF5 and fails closed on fakes.
    "hdf5_plain": ("data.h5", REAL_H5),
    "hdf5_userblock": ("data.h5", bytes(512) + REAL_H5),
    "png": ("logo.png", b"\x89PNG\r\n\x1a\n" + bytes(64)),
    "empty_ish_binary": ("blob.bin", bytes(4096)),
}


@pytest.mark.parametrize("case", sorted(BENIGN))
def test_benign_lookalikes_have_no_issue(tmp_path: pathlib.Path, case: str) -> None:
    name, data = BENIGN[case]
    f = scan_one(tmp_path, name, data)
    assert f.issues_detected == [], f.issues_detected
    assert f.error_message is None
    assert f.modelscan_status in ("SKIPPED", "SCANNED")


def test_text_and_ubjson_are_identified_by_content() -> None:
    assert identify(VOCAB.encode(), "x.bin", None) == [Kind.TEXT]
    assert identify(_ubjson({"a": 1}), "x.bin", None) == [Kind.UBJSON]
    assert identify(b'{"a": 1}', "x.bin", None) == [Kind.JSON]


_FILLERS = (
    b"",
    b"\n",
    b"1\n",
    b"'a'\n",
    b"\x00",
    b"\x01",
    bytes(8),
    b"a\nb\n",
    b"\x02\x00",
    bytes(8) + b"\x80\x02",  # FRAME, then PROTO
    b"\x02\x95" + bytes(8),  # PROTO, then FRAME
    b"\x02\x80\x04",  # PROTO twice
)


@pytest.mark.parametrize("first", range(256))
def test_first_byte_rule_matches_cpython(first: int) -> None:
    """Differential: whenever CPython's unpickler reaches os.system after a first byte, the
    rule must say a loader may start unpickling (over-inclusion is allowed, never the reverse).
    """
    for filler in _FILLERS:
        data = bytes([first]) + filler + PAYLOAD
        if ("os", "system") in oracle_imports(data):
            assert pickle_may_start(data[:4096]), (hex(first), filler)


def test_first_opcode_rule_examples() -> None:
    assert not pickle_may_start(b"P0\n")  # PERSID: no persistent_load at byte 0
    assert not pickle_may_start(b"\x93")  # STACK_GLOBAL needs two strings (npy's magic)
    assert not pickle_may_start(b"\x80\x06N.")  # protocol 6 does not exist
    assert pickle_may_start(b"\x80\x02\x95" + bytes(8) + b"cos\n")
    assert pickle_may_start(b"\x95" + bytes(8) + b"\x80\x04" + b"cos\n")
    assert pickle_may_start((b"\x95" + bytes(8)) * 1000)  # prefixes beyond the head: walk it


def test_file_over_max_file_bytes_is_blocked(tmp_path: pathlib.Path) -> None:
    root = tmp_path / "big"
    root.mkdir()
    (root / "m.pkl").write_bytes(PAYLOAD)
    details = scan_path(root, max_file_bytes=5)
    f = details.files[0]
    assert f.modelscan_status == "SKIPPED" and f.issues_detected
    r = evaluate_scan(details.to_dict(), default_rule_instances("LOCAL"), source_type="LOCAL")
    assert r.outcome == "BLOCKED"


def test_disguise_finding_kept(tmp_path: pathlib.Path) -> None:
    f = scan_one(tmp_path, "model.safetensors", B.call("os", "system"))
    descriptions = " ".join(i.description for i in f.issues_detected or [])
    assert "disguised" in descriptions
    assert "PAIT-PKL-100" in threats(f)


def test_name_routes_take_text_and_keep_the_probe(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from modelsec.scanner import dispatch

    seen: list[str] = []

    def route(ctx: Any, src: Any, name: str, location: str) -> None:
        seen.append(src.read(100).decode())
        ctx.add_format("yaml")

    monkeypatch.setattr(dispatch, "NAME_ROUTES", [(lambda n: n.endswith("MLmodel"), route)])
    f = scan_one(tmp_path, "MLmodel", b"flavors:\n  python_function: {}\n")
    assert seen == ["flavors:\n  python_function: {}\n"] and f.formats == ["yaml"]
    f = scan_one(tmp_path, "MLmodel", PAYLOAD)  # routed, and still walked as a pickle
    assert "PAIT-PKL-100" in threats(f) and len(seen) == 2
