"""Build the real-world benign corpus in ``.cache/realworld/`` (issues #11, #12, #19).

Real model files written by the real libraries, for the ``realworld`` tests: the offline scanner
must report nothing on any of them. Steps:

1. a dedicated venv per environment (``<cache>/venv``, ``<cache>/venv-tf``) from the exact pins in
   ``scripts/realworld/requirements*.txt`` (PyPI only, ``--no-deps``: the files are full closures);
2. each group's generator (``scripts/realworld/*.py``) runs INSIDE its venv and writes its own
   folder ``<cache>/<group>/`` plus ``manifest.json`` (file, format, producing library+version);
3. ``<cache>/MANIFEST.json`` merges the groups' manifests.

Idempotent: a venv is rebuilt only when its requirements file changes, a group only when its
requirements or generator sources change (keys stored in stamp files). Groups: ``pickle``
(torch/joblib/sklearn/numpy/pandas/xgboost/lightgbm/pickle/dill/cloudpickle, TorchScript),
``structured`` (Keras 3, ONNX, GGUF, safetensors), ``repos`` (HF cache, auto_map code,
transformers/PEFT/sentence-transformers folders, Lightning, NeMo, MLflow), ``testdata`` (test data
shipped in pinned PyPI releases: joblib, numpy, scipy, pandas, gensim, ONNX backend models, and
llama.cpp's chat templates), ``tf`` (TensorFlow SavedModels and Keras 2; its own venv).

Usage::

    python scripts/fetch_realworld.py [--groups pickle,structured,repos,testdata,tf] [--force]

The cache path is ``$MODELSEC_REALWORLD_CACHE`` or ``<repo>/.cache/realworld``. Then
``python -m pytest -m realworld`` scans every manifest entry.

Example (the group table)::

    >>> sorted(GROUPS)
    ['pickle', 'repos', 'structured', 'testdata', 'tf']
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GEN_DIR = ROOT / "scripts" / "realworld"

#: group -> (generator script, requirements file of the venv it runs in)
GROUPS: dict[str, tuple[str, str]] = {
    "pickle": ("gen_pickle_family.py", "requirements.txt"),
    "structured": ("gen_structured.py", "requirements.txt"),
    "repos": ("gen_repos.py", "requirements.txt"),
    "testdata": ("extract_packaged_testdata.py", "requirements.txt"),
    "tf": ("gen_tf.py", "requirements-tf.txt"),
}
VENVS = {"requirements.txt": "venv", "requirements-tf.txt": "venv-tf"}


def cache_dir() -> Path:
    """The corpus cache: ``$MODELSEC_REALWORLD_CACHE`` or ``<repo>/.cache/realworld``."""
    env = os.environ.get("MODELSEC_REALWORLD_CACHE")
    return Path(env) if env else ROOT / ".cache" / "realworld"


def sha256_files(*paths: Path) -> str:
    h = hashlib.sha256()
    for p in paths:
        h.update(p.name.encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()


def ensure_venv(cache: Path, req_name: str) -> Path:
    """The venv for ``req_name``, (re)built when the requirements changed; returns its python."""
    req = GEN_DIR / req_name
    key = sha256_files(req)
    target = cache / VENVS[req_name]
    stamp = target / ".requirements-sha256"
    py = target / "bin" / "python"
    if stamp.exists() and stamp.read_text() == key and py.exists():
        return py
    print(f"== venv {target.name}: installing {req_name}", flush=True)
    shutil.rmtree(target, ignore_errors=True)
    venv.EnvBuilder(with_pip=True, clear=True).create(target)
    env = dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1")
    subprocess.run(
        [str(py), "-m", "pip", "install", "-q", "--no-deps", "-r", str(req)], check=True, env=env
    )
    stamp.write_text(key)
    return py


def run_group(cache: Path, group: str, force: bool) -> tuple[dict[str, object], bool]:
    """Run one group's generator when its key changed; returns (its manifest, ok)."""
    script, req_name = GROUPS[group]
    key = sha256_files(GEN_DIR / req_name, GEN_DIR / "_common.py", GEN_DIR / script)
    out = cache / group
    stamp = out / ".stamp"
    manifest = out / "manifest.json"
    if not force and stamp.exists() and stamp.read_text() == key and manifest.exists():
        print(f"== {group}: up to date", flush=True)
        return json.loads(manifest.read_text()), True
    py = ensure_venv(cache, req_name)
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    print(f"== {group}: running {script}", flush=True)
    t0 = time.monotonic()
    env = dict(os.environ, PYTHONNOUSERSITE="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    env.pop("PYTHONPATH", None)
    # cwd is the cache: libraries that drop logs in the working directory stay out of the repo
    proc = subprocess.run([str(py), str(GEN_DIR / script), str(out)], cwd=cache, env=env)
    data: dict[str, object] = (
        json.loads(manifest.read_text())
        if manifest.exists()
        else {"entries": [], "failures": [script]}
    )
    ok = proc.returncode == 0 and not data.get("failures")
    print(f"== {group}: {len(data['entries'])} entries in {time.monotonic() - t0:.0f}s", flush=True)  # type: ignore[arg-type]
    if ok:
        stamp.write_text(key)
    else:
        print(
            f"!! {group}: failed steps {data.get('failures')} (exit {proc.returncode})", flush=True
        )
    return data, ok


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--groups", default=",".join(GROUPS), help="comma-separated subset of %(default)s"
    )
    ap.add_argument("--force", action="store_true", help="regenerate even when up to date")
    args = ap.parse_args(argv)
    groups = [g for g in args.groups.split(",") if g]
    unknown = set(groups) - set(GROUPS)
    if unknown:
        ap.error(f"unknown groups {sorted(unknown)}; known: {', '.join(GROUPS)}")
    cache = cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    # groups not asked for this time keep their previous manifest, if any
    merged: dict[str, object] = {"groups": {}, "entries": []}
    all_ok = True
    for group in GROUPS:
        if group in groups:
            data, ok = run_group(cache, group, args.force)
            all_ok &= ok
        elif (cache / group / ".stamp").exists() and (cache / group / "manifest.json").exists():
            data = json.loads((cache / group / "manifest.json").read_text())
        else:
            continue
        merged["groups"][group] = {  # type: ignore[index]
            "entries": len(data["entries"]),  # type: ignore[arg-type]
            "failures": data.get("failures", []),
        }
        merged["entries"].extend(data["entries"])  # type: ignore[attr-defined]
    (cache / "MANIFEST.json").write_text(json.dumps(merged, indent=1))
    print(
        f"== MANIFEST.json: {len(merged['entries'])} entries in {cache} "  # type: ignore[arg-type]
        f"({time.monotonic() - t0:.0f}s); scan them with: python -m pytest -m realworld",
        flush=True,
    )
    return 0 if all_ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
