"""Fixtures of the scanner tests."""

from __future__ import annotations

import pathlib
from collections.abc import Callable, Mapping

import pytest

from modelsec.scanner import scan_path
from modelsec.types.data import FileScanData, ScanDetails

Scan = Callable[..., ScanDetails]


def threats_of(f: FileScanData) -> set[str]:
    return {str(i.threat) for i in (f.issues_detected or []) if i.threat is not None}


def by_path(details: ScanDetails) -> dict[str, FileScanData]:
    return {f.file_path: f for f in details.files}


@pytest.fixture
def scan_files(tmp_path: pathlib.Path) -> Scan:
    """Write ``{relpath: bytes}`` under a fresh directory and scan it."""

    def run(files: Mapping[str, bytes], **kwargs: object) -> ScanDetails:
        root = tmp_path / "model"
        for rel, data in files.items():
            p = root / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(data)
        root.mkdir(exist_ok=True)
        return scan_path(root, **kwargs)  # type: ignore[arg-type]

    return run
