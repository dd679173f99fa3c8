"""Scan a fleet of models and write a JSON report.

Input: a file of targets (one URI or path per line, ``#`` comments allowed) or a folder whose
sub-folders are models. Output: a JSON report with one entry per target.

    python examples/batch_scanner.py uris.txt --group <uuid> --report report.json
    python examples/batch_scanner.py ./models/ --group <uuid> --concurrency 16
    python examples/batch_scanner.py --emulator          # offline demo on generated models

Exit status: 0 when every model is allowed, 1 when any is blocked, 2 when any failed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from modelsec import AsyncModelSecurityClient, ScanProgress, ScanResult
from modelsec.cli.demo import write_benign_model


def read_targets(source: Path) -> list[str]:
    if source.is_dir():
        return sorted(str(p) for p in source.iterdir() if p.is_dir())
    lines = source.read_text().splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]


def entry(result: ScanResult) -> dict[str, Any]:
    out: dict[str, Any] = {"target": result.target, "index": result.index}
    if result.error is not None:
        out["error"] = f"{type(result.error).__name__}: {result.error}"
    if result.scan is not None:
        out["scan_uuid"] = result.scan.uuid
        out["outcome"] = str(result.scan.eval_outcome)
        out["violations"] = [
            {"rule": v.rule_name, "description": v.description, "threat": v.threat, "file": v.file}
            for v in result.violations
        ]
    return out


def progress(p: ScanProgress) -> None:
    total = "?" if p.total is None else p.total
    print(
        f"\r{p.completed}/{total} done, {p.failed} failed, {p.in_flight} in flight",
        end="",
        file=sys.stderr,
    )


def write_demo_models(root: Path) -> Path:
    """Three tiny models: two harmless, one pickle that would call os.system if loaded."""
    for name in ("alpha", "beta"):
        write_benign_model(root / name)  # safetensors + config.json: something to judge
    (root / "gamma").mkdir()
    (root / "gamma" / "model.pkl").write_bytes(b"\x80\x02cos\nsystem\nX\x02\x00\x00\x00ls\x85R.")
    return root


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", nargs="?", type=Path, help="file of targets, or folder of models")
    parser.add_argument("--group", help="security group uuid (default: 'Default <SOURCE>' by name)")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--report", type=Path, help="write the JSON report here (default stdout)")
    parser.add_argument(
        "--emulator", action="store_true", help="scan demo models on a local emulator"
    )
    args = parser.parse_args()

    async with contextlib.AsyncExitStack() as stack:
        kwargs: dict[str, Any] = {}
        source = args.source
        if args.emulator:
            from modelsec.emulator import Emulator

            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
            source = write_demo_models(tmp / "models")
            emu = await stack.enter_async_context(Emulator(port=0, settle_delay=0.1))
            kwargs = emu.client_kwargs()
        if source is None:
            parser.error("give a file of targets or a folder of models (or --emulator)")
        targets = read_targets(source)
        client = await stack.enter_async_context(AsyncModelSecurityClient(**kwargs))
        group = args.group
        if group is None:
            page = await client.security_groups.list(search_query="Default LOCAL")
            group = next(g.uuid for g in page.security_groups if g.name == "Default LOCAL")
        results = [
            r
            async for r in client.scan_many(
                targets,
                security_group_uuid=group,
                concurrency=args.concurrency,
                timeout=args.timeout,
                on_progress=progress,
            )
        ]
        print(file=sys.stderr)
    results.sort(key=lambda r: r.index)
    report = json.dumps({"results": [entry(r) for r in results]}, indent=2)
    if args.report:
        args.report.write_text(report)
    else:
        print(report)
    if any(r.is_error or r.nothing_judged for r in results):
        return 2  # a failure, or a target in which nothing was judged: never a pass
    return 1 if any(r.is_blocked for r in results) else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
