"""A resumable batch as a process of its own, for the kill -9 tests.

``python -m tests.integration.journal_batch CONFIG.json`` runs ``scan_many(journal=...)`` with
the settings in CONFIG.json and prints one JSON line per result (flushed at once).
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from modelsec import AsyncModelSecurityClient, Timeouts


async def main(config: dict[str, Any]) -> None:
    async with AsyncModelSecurityClient(
        **config["client"], timeout=Timeouts(connect=1, read=2, total=30)
    ) as client:
        async for r in client.scan_many(
            config["targets"],
            security_group_uuid=config["group"],
            concurrency=config.get("concurrency", 3),
            poll_interval=0.02,
            journal=config["journal"],
            reconcile_window=config.get("reconcile_window"),
        ):
            line = {
                "index": r.index,
                "target": r.target,
                "scan": None if r.scan is None else r.scan.uuid,
                "outcome": None
                if r.outcome is None
                else str(getattr(r.outcome, "value", r.outcome)),
                "from_journal": r.from_journal,
                "duplicates": r.duplicates,
                "error": None if r.error is None else repr(r.error),
            }
            sys.stdout.write(json.dumps(line) + "\n")
            sys.stdout.flush()


if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        asyncio.run(main(json.load(f)))
