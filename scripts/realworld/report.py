"""Scan every entry of the real-world corpus with today's scanner and print each finding.

Run with the project's environment (not the corpus venv):
``python scripts/realworld/report.py [--scanner-root DIR] [CACHE_DIR] [GROUP ...]``; the scanner
is this repository's ``modelsec`` (as under pytest) unless ``--scanner-root`` names another tree.
Exit status 1 when any entry has a finding or error (the ``realworld`` tests assert
the same per file).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from modelsec.types.data import ScanDetails

ROOT = Path(__file__).resolve().parents[2]


def scan_path(target: Path, max_files: int) -> ScanDetails:
    """The scanner of the chosen tree (imported lazily, after ``--scanner-root`` took effect)."""
    from modelsec.scanner import scan_path as scan

    return scan(target, max_files=max_files)


def _norm(text: str) -> str:
    """A cause key: hashes and numbers folded, so one cause groups many files."""
    text = re.sub(r"[0-9a-f]{16,}", "<hash>", text)
    return re.sub(r"\d+", "N", text)[:110]


def findings(target: Path) -> list[tuple[str, str]]:
    """Every issue and error the scanner reports for ``target``: (cause key, full line)."""
    out: list[tuple[str, str]] = []
    try:
        details = scan_path(target, max_files=5000)
    except Exception as exc:  # a crash is a finding too
        return [(f"crash {type(exc).__name__}", f"[crash] {exc!r}")]
    if details.error_message:
        out.append(("scan error", f"[scan error] {details.error_message}"))
    for f in details.files:
        rel = f.file_path
        for i in f.issues_detected or []:
            if i.module or i.operator:
                key = f"[{i.threat}] {i.module}.{i.operator}"
            else:
                key = f"[{i.threat}] " + _norm(i.description)
            line = f"{rel}: [{i.threat}] {i.description} (module={i.module}, op={i.operator})"
            out.append((key, line))
        if f.error_message:
            msg = _norm(f.error_message)
            out.append((f"[error] {msg}", f"{rel}: [error] {f.error_message}"))
    return out


def _judged(target: Path) -> bool:
    """Whether the scanner judged at least one file of ``target`` (rather than skipping all)."""
    try:
        return scan_path(target, max_files=5000).total_files_scanned > 0
    except Exception:
        return False


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description="Scan the real-world corpus; print every finding.")
    ap.add_argument("cache", nargs="?", type=Path, help="corpus cache (default: as the tests)")
    ap.add_argument("groups", nargs="*", help="only these groups")
    ap.add_argument(
        "--scanner-root",
        type=Path,
        default=ROOT,
        help="source tree whose modelsec scans (default: this repository, as pytest does)",
    )
    args = ap.parse_args(argv)
    sys.path.insert(0, str(args.scanner_root.resolve()))
    import modelsec

    print(f"scanner: {modelsec.__file__}")
    env = os.environ.get("MODELSEC_REALWORLD_CACHE")
    cache = args.cache or (Path(env) if env else ROOT / ".cache" / "realworld")
    groups = set(args.groups)
    manifest = json.loads((cache / "MANIFEST.json").read_text())
    bad = 0
    total = 0
    unjudged: list[str] = []
    causes: dict[str, list[str]] = {}
    for e in manifest["entries"]:
        if groups and e["path"].split("/")[0] not in groups:
            continue
        total += 1
        found = findings(cache / e["path"])
        if not _judged(cache / e["path"]):
            unjudged.append(e["path"])
        if found:
            bad += 1
            print(f"== {e['path']}  ({e['format']}; {', '.join(e['producer'])})")
            for key, line in found:
                print("   " + line)
                entries = causes.setdefault(key, [])
                if e["path"] not in entries:
                    entries.append(e["path"])
    print(f"\n{bad} of {total} entries with findings; by cause ({len(causes)} causes):")
    for key, paths in sorted(causes.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        print(f"-- {key}  [{len(paths)} entries]")
        for p in paths:
            print(f"     {p}")
    # not a failure (the realworld tests only require no finding), but worth knowing
    print(f"\n(info) {len(unjudged)} entries where every file was skipped (format not judged):")
    for p in unjudged:
        print(f"     {p}")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
