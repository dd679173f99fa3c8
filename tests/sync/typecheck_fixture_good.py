"""Correct calls: ``mypy --strict`` must accept this file (see test_generated)."""

from __future__ import annotations

from modelsec.sync import ModelSecurityClient, SyncPage
from modelsec.types import Scan, ScanList


def use(client: ModelSecurityClient) -> list[str]:
    scan: Scan = client.scans.get("5f8b1c7e-3a2d-4e6f-9b1a-0c2d3e4f5a6b")
    page: SyncPage[ScanList, Scan] = client.scans.list(limit=10)
    first: ScanList = page.page
    patient: ModelSecurityClient = client.with_options(timeout=120)
    with ModelSecurityClient() as other:
        other.close()
    return [scan.uuid, *(s.uuid for s in page), *(s.uuid for s in first.scans), repr(patient)]
