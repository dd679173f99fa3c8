"""Deliberately wrong calls: ``mypy --strict`` must reject each marked line (see test_generated)."""

from __future__ import annotations

from modelsec.sync import ModelSecurityClient


def misuse(client: ModelSecurityClient) -> None:
    client.scans.get(123)  # E: int is not a str
    client.scans.list(limit="ten")  # E: str is not an int
    client.security_groups.get(uuid=None)  # E: None is not a str
    name: int = client.scans.get("x").model_uri  # E: str assigned to int
    print(name)
    for scan in client.scans.list():
        print(scan.no_such_field)  # E: Scan has no such attribute
    client.with_options(retries=3)  # E: unexpected keyword
