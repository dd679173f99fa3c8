"""Shared helpers for the real-world corpus generators (run inside the corpus venv).

Each generator writes into its own group folder and records every file (or repository
directory) it produced, with the library and version that produced it, in
``<group>/manifest.json``; ``scripts/fetch_realworld.py`` merges these into ``MANIFEST.json``.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path


def version(dist: str) -> str:
    """``"<dist> <version>"`` of an installed distribution (``"python 3.11.7"`` for python)."""
    if dist == "python":
        return "python " + ".".join(map(str, sys.version_info[:3]))
    return f"{dist} {importlib.metadata.version(dist)}"


class Recorder:
    """Collects manifest entries for one group folder."""

    def __init__(self, group: str, out: Path) -> None:
        self.group = group
        self.out = out
        self.entries: list[dict[str, object]] = []
        self.failures: list[str] = []
        out.mkdir(parents=True, exist_ok=True)

    def path(self, rel: str) -> Path:
        p = self.out / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    def add(self, rel: str, producer: str | list[str], fmt: str, kind: str = "file") -> None:
        """Record ``rel`` (relative to the group folder); ``kind`` "dir" scans it as a tree."""
        p = self.out / rel
        if not p.exists():
            raise FileNotFoundError(p)
        producers = [producer] if isinstance(producer, str) else producer
        self.entries.append(
            {
                "path": f"{self.group}/{rel}",
                "kind": kind,
                "format": fmt,
                "producer": producers,
            }
        )

    def step(self, name: str, fn: Callable[[], None]) -> None:
        """Run one generator step; a failure is recorded and reported, the others go on."""
        try:
            fn()
            print(f"  ok   {self.group}/{name}", flush=True)
        except Exception:  # report and continue with the other steps
            self.failures.append(name)
            print(f"  FAIL {self.group}/{name}\n{traceback.format_exc()}", flush=True)

    def finish(self) -> int:
        (self.out / "manifest.json").write_text(
            json.dumps({"entries": self.entries, "failures": self.failures}, indent=1)
        )
        print(f"{self.group}: {len(self.entries)} entries, {len(self.failures)} failed steps")
        return 1 if self.failures and os.environ.get("REALWORLD_STRICT") else 0


def main_out(group: str) -> Recorder:
    """Recorder for ``argv[1]`` (the group folder)."""
    if len(sys.argv) != 2:
        raise SystemExit(f"usage: {sys.argv[0]} OUT_DIR")
    return Recorder(group, Path(sys.argv[1]))
