"""Real repository layouts: Hugging Face cache links, in-root links, LFS stubs, VCS metadata."""

from __future__ import annotations

import hashlib
import os
import pathlib

import pytest
import scanner_builders as B
from conftest import by_path, threats_of

from modelsec.policy import default_rule_instances, evaluate_scan
from modelsec.scanner import scan_path
from modelsec.scanner.walk import containment_root, walk
from modelsec.types.data import ScanDetails

CLEAN_PICKLE = b"\x80\x04N."


def _blocked(details: ScanDetails) -> bool:
    r = evaluate_scan(
        details.to_dict(), default_rule_instances("LOCAL"), source_type="LOCAL", model_uri="/m"
    )
    return r.outcome == "BLOCKED"


def hf_cache(base: pathlib.Path, files: dict[str, bytes], rev: str = "a" * 40) -> pathlib.Path:
    """A cache entry laid out as huggingface_hub writes it: content once under blobs/<sha256>,
    the snapshot holds relative links ``../../blobs/<sha>`` (deeper files ``../../../``)."""
    entry = base / "hub" / "models--org--name"
    (entry / "blobs").mkdir(parents=True)
    (entry / "refs").mkdir()
    (entry / "refs" / "main").write_text(rev)
    snap = entry / "snapshots" / rev
    for rel, data in files.items():
        sha = hashlib.sha256(data).hexdigest()
        (entry / "blobs" / sha).write_bytes(data)
        link = snap / rel
        link.parent.mkdir(parents=True, exist_ok=True)
        up = "../" * (rel.count("/") + 2)
        os.symlink(f"{up}blobs/{sha}", link)
    return snap


def test_hf_cache_snapshot_scans_clean(tmp_path: pathlib.Path) -> None:
    snap = hf_cache(
        tmp_path,
        {"config.json": b'{"model_type": "bert"}', "sub/model.pkl": CLEAN_PICKLE},
    )
    details = scan_path(snap)
    files = by_path(details)
    assert sorted(files) == ["config.json", "sub/model.pkl"]
    for f in files.values():
        assert f.issues_detected == [], f
        assert f.modelscan_status in ("SCANNED", "SKIPPED")
    assert files["sub/model.pkl"].sha256 == hashlib.sha256(CLEAN_PICKLE).hexdigest()


def test_hf_cache_malicious_blob_found_under_linked_name(tmp_path: pathlib.Path) -> None:
    snap = hf_cache(tmp_path, {"pytorch_model.bin": B.call("os", "system")})
    details = scan_path(snap)
    f = by_path(details)["pytorch_model.bin"]
    assert "PAIT-PKL-100" in threats_of(f) or "PAIT-PYTCH-100" in threats_of(f)
    assert "PAIT-ARV-100" not in threats_of(f)


def test_containment_root_of_cache(tmp_path: pathlib.Path) -> None:
    snap = hf_cache(tmp_path, {"a.json": b"{}"})
    assert containment_root(str(snap)) == os.path.realpath(snap.parent.parent)
    assert containment_root(str(snap.parent)) == os.path.realpath(snap.parent.parent)
    for root in (snap.parent, snap.parent.parent):  # snapshots/ or the whole cache entry
        details = scan_path(root)
        assert details.files and all(f.issues_detected == [] for f in details.files)
    assert containment_root(str(tmp_path)) == os.path.realpath(tmp_path)


def test_in_root_link_followed_and_malicious_found(tmp_path: pathlib.Path) -> None:
    root = tmp_path / "model"
    (root / "store").mkdir(parents=True)
    (root / "store" / "real.bin").write_bytes(B.call("os", "system"))
    os.symlink("store/real.bin", root / "pytorch_model.bin")
    os.symlink("store", root / "linkdir")
    files = by_path(scan_path(root))
    assert sorted(files) == ["linkdir/real.bin", "pytorch_model.bin", "store/real.bin"]
    for name in files:
        assert threats_of(files[name]) & {"PAIT-PKL-100", "PAIT-PYTCH-100"}, name


def test_escaping_links_flagged(tmp_path: pathlib.Path) -> None:
    outside = tmp_path / "secret.pkl"
    outside.write_bytes(CLEAN_PICKLE)
    snap = hf_cache(tmp_path, {"ok.json": b"{}"})
    os.symlink(outside, snap / "abs_escape.pkl")
    os.symlink("../../../../../secret.pkl", snap / "rel_escape.pkl")
    files = by_path(scan_path(snap))
    for name in ("abs_escape.pkl", "rel_escape.pkl"):
        assert threats_of(files[name]) == {"PAIT-ARV-100"}
        assert files[name].sha256 is None  # never read
    assert files["ok.json"].issues_detected == []


def test_plain_root_link_to_sibling_cache_blob_escapes(tmp_path: pathlib.Path) -> None:
    # Outside a cache, the scan root itself is the fence: ../ is an escape.
    root = tmp_path / "model"
    root.mkdir()
    (tmp_path / "other.bin").write_bytes(CLEAN_PICKLE)
    os.symlink("../other.bin", root / "w.bin")
    assert threats_of(by_path(scan_path(root))["w.bin"]) == {"PAIT-ARV-100"}


def test_link_loops_bounded(tmp_path: pathlib.Path) -> None:
    root = tmp_path / "model"
    (root / "a").mkdir(parents=True)
    (root / "a" / "w.pkl").write_bytes(CLEAN_PICKLE)
    os.symlink("..", root / "a" / "up")
    os.symlink("a", root / "again")
    os.symlink("self", root / "self")  # a link to itself: the OS refuses to resolve it
    files = by_path(scan_path(root))
    assert {"a/w.pkl", "again/w.pkl"} <= set(files)
    assert len(files) < 10
    assert files["self"].modelscan_status == "ERROR"


def test_dangling_link_fails_closed(tmp_path: pathlib.Path) -> None:
    snap = hf_cache(tmp_path, {"model.pkl": CLEAN_PICKLE})
    for blob in (snap.parent.parent / "blobs").iterdir():
        blob.unlink()  # an interrupted download
    details = scan_path(snap)
    f = by_path(details)["model.pkl"]
    assert f.modelscan_status == "ERROR" and f.issues_detected and not threats_of(f)
    assert _blocked(details)


LFS = (
    b"version https://git-lfs.github.com/spec/v1\n"
    b"oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\n"
    b"size 267967963\n"
)


def test_lfs_pointer_fails_closed(scan_files) -> None:  # type: ignore[no-untyped-def]
    details = scan_files({"model.safetensors": LFS, "config.json": b"{}"})
    f = by_path(details)["model.safetensors"]
    assert f.modelscan_status == "ERROR"
    assert f.issues_detected and f.issues_detected[0].threat is None
    assert "not present" in f.issues_detected[0].description
    assert _blocked(details)


def test_lfs_lookalike_text_is_not_a_pointer(scan_files) -> None:  # type: ignore[no-untyped-def]
    details = scan_files({"notes.txt": b"version 1\nsee https://git-lfs.github.com/spec/v1\n"})
    assert by_path(details)["notes.txt"].issues_detected == []


def test_vcs_dirs_skipped_and_not_counted(scan_files) -> None:  # type: ignore[no-untyped-def]
    files = {f".git/objects/{i:02x}": b"x" for i in range(8)}
    files[".hg/store"] = B.call("os", "system")
    files[".svn/entries"] = b"x"
    files["model.pkl"] = CLEAN_PICKLE
    details = scan_files(files, max_files=2)
    assert [f.file_path for f in details.files] == ["model.pkl"]


def test_walk_lists_followed_links_by_linked_name(tmp_path: pathlib.Path) -> None:
    (tmp_path / "x.bin").write_bytes(b"1")
    os.symlink("x.bin", tmp_path / "y.bin")
    assert [(e.rel, e.kind) for e in walk(str(tmp_path))] == [("x.bin", "file"), ("y.bin", "file")]


@pytest.mark.parametrize("prefix", ["datasets--", "spaces--"])
def test_other_cache_kinds(tmp_path: pathlib.Path, prefix: str) -> None:
    d = tmp_path / f"{prefix}o--n" / "snapshots" / "r"
    d.mkdir(parents=True)
    assert containment_root(str(d)).endswith(f"{prefix}o--n")


def test_cache_written_by_huggingface_hub(tmp_path: pathlib.Path) -> None:
    """The same layout, written by huggingface_hub's own cache code (no network)."""
    hf = pytest.importorskip("huggingface_hub")
    from huggingface_hub import file_download as fd

    cache = tmp_path / "hub"
    repo_id, rev = "org/name", "b" * 40
    entry = cache / "models--org--name"
    files = {"config.json": b'{"model_type": "bert"}', "onnx/model.pkl": B.call("os", "system")}
    for rel, data in files.items():
        blob = entry / "blobs" / hashlib.sha256(data).hexdigest()
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(data)
        pointer = entry / "snapshots" / rev / rel
        pointer.parent.mkdir(parents=True, exist_ok=True)
        fd._create_symlink(str(blob), str(pointer), new_blob=False)
    fd._cache_commit_hash_for_specific_revision(str(entry), "main", rev)
    found = hf.try_to_load_from_cache(repo_id, "config.json", cache_dir=str(cache))
    assert isinstance(found, str) and os.path.islink(found)  # huggingface_hub sees its cache
    details = scan_path(pathlib.Path(found).parent)
    got = by_path(details)
    assert got["config.json"].issues_detected == []
    assert threats_of(got["onnx/model.pkl"]) & {"PAIT-PKL-100", "PAIT-PYTCH-100"}
    assert not any("PAIT-ARV-100" in threats_of(f) for f in details.files)


def test_linked_directory_fan_out_bounded(tmp_path: pathlib.Path) -> None:
    root = tmp_path / "model"
    (root / "empty").mkdir(parents=True)
    for i in range(450):
        os.symlink("empty", root / f"l{i:03d}")
    details = scan_path(root, max_files=100)  # walk budget: 4 x max_files linked directories
    unwalked = [f for f in details.files if f.modelscan_status == "ERROR"]
    assert 0 < len(unwalked) <= 100
    assert all(f.issues_detected and not threats_of(f) for f in unwalked)
