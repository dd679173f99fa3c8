"""Tiny model directories written byte by byte (nothing here is ever loaded or run)."""

from __future__ import annotations

import json
import struct
from pathlib import Path


def write_safetensors(path: Path) -> None:
    """A valid safetensors file holding one float32 tensor of 4 values."""
    header = {
        "w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]},
        "__metadata__": {"format": "pt"},
    }
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + struct.pack("<4f", 1.0, 2.0, 3.0, 4.0))


def benign_model(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    write_safetensors(root / "model.safetensors")
    (root / "config.json").write_text(json.dumps({"model_type": "toy", "hidden_size": 2}))
    return root


def malicious_pickle_bytes(command: str = "echo pwned") -> bytes:
    """Protocol-2 pickle that would call ``os.system(command)`` if loaded: written as opcodes."""
    cmd = command.encode()
    return (
        b"\x80\x02"  # PROTO 2
        + b"cos\nsystem\n"  # GLOBAL os.system
        + b"X"
        + struct.pack("<I", len(cmd))
        + cmd  # BINUNICODE
        + b"\x85"  # TUPLE1
        + b"R"  # REDUCE
        + b"."  # STOP
    )


def malicious_model(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "model.pkl").write_bytes(malicious_pickle_bytes())
    (root / "config.json").write_text(json.dumps({"model_type": "toy"}))
    return root
