"""Scan every model under a bucket prefix (or an Artifactory folder) with ``scan_many``.

Each first-level folder under the prefix is one model (``s3://bucket/models/bert/...`` ->
``s3://bucket/models/bert``); a file directly under the prefix is a model on its own. The
models are read and scanned on this machine (nothing is downloaded to disk) and judged by the
``Default <SOURCE_TYPE>`` group of their source, or ``--group``.

    pip install 'modelsec[storage]'
    export AWS_PROFILE=ml-readonly                   # or any of the variables in the README
    python examples/scan_bucket.py s3://ml-models/prod/ --concurrency 4
    python examples/scan_bucket.py gs://ml-models/prod/ --group <uuid> --report report.json
    python examples/scan_bucket.py s3://ml-models/prod/ --emulator   # no account: the emulator

Exit status: 0 every model allowed, 1 some model blocked, 2 some model could not be scanned.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from pathlib import Path
from typing import Any

from modelsec import AsyncModelSecurityClient, ScanResult
from modelsec.sources import open_source, parse_location


def models_under(prefix_uri: str) -> list[str]:
    """One URI per model: the first-level folders (and files) under the prefix."""
    loc = parse_location(prefix_uri)
    if loc is None:
        raise SystemExit(f"not an object-storage URI: {prefix_uri}")
    base = prefix_uri if prefix_uri.endswith("/") else prefix_uri + "/"
    source = open_source(loc)
    try:
        names = sorted({obj.rel.split("/", 1)[0] for obj in source.objects()})
    finally:
        source.close()
    return [base + name for name in names]


async def scan_all(client: AsyncModelSecurityClient, args: argparse.Namespace) -> int:
    targets = await asyncio.to_thread(models_under, args.prefix)
    print(f"{len(targets)} models under {args.prefix}", file=sys.stderr)
    report: list[dict[str, Any]] = []
    result: ScanResult
    async for result in client.scan_many(
        targets, security_group_uuid=args.group, concurrency=args.concurrency
    ):
        entry = {
            "model": result.target,
            "outcome": str(getattr(result.outcome, "value", result.outcome))
            if result.error is None
            else "ERROR",
            "error": None if result.error is None else str(result.error),
            "violations": [v.description for v in result.violations],
        }
        report.append(entry)
        print(f"{entry['outcome']:8} {result.target}  {entry['error'] or ''}")
    if args.report:
        text = json.dumps(sorted(report, key=lambda e: e["model"]), indent=2)
        await asyncio.to_thread(Path(args.report).write_text, text, encoding="utf-8")
    if any(r["outcome"] == "ERROR" for r in report):
        return 2
    return 1 if any(r["outcome"] == "BLOCKED" for r in report) else 0


async def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "prefix",
        help="s3://bucket/prefix/, gs://..., az://container/prefix/, an Artifactory folder URL",
    )
    ap.add_argument("--group", help="security group UUID (default: Default <SOURCE_TYPE>)")
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--report", help="write a JSON report here")
    ap.add_argument(
        "--emulator", action="store_true", help="judge with a local emulator, no account needed"
    )
    args = ap.parse_args(argv)
    with contextlib.ExitStack() as stack:
        kwargs: dict[str, Any] = {}
        if args.emulator:
            from modelsec.emulator import EmulatorThread

            emu = stack.enter_context(EmulatorThread(port=0, settle_delay=0.05))
            kwargs = emu.client_kwargs()
        async with AsyncModelSecurityClient(**kwargs) as client:
            return await scan_all(client, args)
    return 2  # pragma: no cover


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
