"""Model directories that cost the scanner real CPU time (written as bytes; never loaded)."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

from tests.integration.models import benign_model, malicious_pickle_bytes


def dense_pickle(seed: int, pairs: int) -> bytes:
    """An opcode-dense benign pickle: ``pairs`` small tuples (about 6 bytes and 4 opcodes each)."""
    # pickle.dumps of plain ints and tuples only: data we make here, never a model's bytes.
    return pickle.dumps([((i + seed) % 250, (i * 7 + seed) % 250) for i in range(pairs)], 4)


def heavy_model(root: Path, seed: int, *, malicious: bool, pairs: int = 60_000) -> Path:
    """A directory with a dense benign pickle, plus an ``os.system`` pickle when ``malicious``."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "weights.pkl").write_bytes(dense_pickle(seed, pairs))
    (root / "config.json").write_text(json.dumps({"model_type": "toy", "seed": seed}))
    if malicious:
        (root / "hook.pkl").write_bytes(malicious_pickle_bytes(f"echo {seed}"))
    return root


def model_set(root: Path, count: int, *, pairs: int = 60_000) -> dict[str, str]:
    """``count`` models, path -> expected verdict, in turn:

    * ``MALICIOUS``: a dense pickle and an ``os.system`` pickle (BLOCKED, PAIT-PKL-100);
    * ``UNAPPROVED``: a dense benign pickle (BLOCKED only because pickle is not an approved
      format by default: no code-execution finding);
    * ``ALLOWED``: safetensors and a config (light).
    """
    expected: dict[str, str] = {}
    for i in range(count):
        kind = ("MALICIOUS", "UNAPPROVED", "ALLOWED")[i % 3]
        path = root / f"m{i:03d}"
        if kind == "ALLOWED":
            benign_model(path)
            (path / "config.json").write_text(json.dumps({"model_type": "toy", "seed": i}))
        else:
            heavy_model(path, i, malicious=kind == "MALICIOUS", pairs=pairs)
        expected[str(path)] = kind
    return expected
