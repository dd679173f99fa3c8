"""1,000 scans through ``scan_many`` against the emulator, with and without faults.

    python benchmarks/batch.py --scans 1000 --concurrency 64 --settle-delay 0.2

For each run it prints wall time, scans/second, the ideal time (settle delay x scans /
concurrency), token requests, TCP connections opened (as the emulator saw them), injected
faults, scans held by the emulator (must equal the number of inputs: exactly once), and the
process's peak RSS. The emulator runs on its own thread (loopback only); targets are
``hf://`` URIs resolved against a temporary hub, alternating benign and malicious models.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import struct
import sys
import tempfile
import time
from pathlib import Path

from modelsec import AsyncModelSecurityClient
from modelsec.emulator import EmulatorThread
from modelsec.emulator.faults import Faults


def build_hub(root: Path) -> None:
    good = root / "huggingface" / "bench-org" / "good"
    good.mkdir(parents=True)
    header = json.dumps({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}).encode()
    header += b" " * (-len(header) % 8)
    (good / "model.safetensors").write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * 8)
    (good / "README.md").write_text("---\nlicense: apache-2.0\n---\n")
    (root / "huggingface" / "bench-org" / ".verified").write_text("")
    bad = root / "huggingface" / "bench-org" / "bad"
    bad.mkdir(parents=True)
    (bad / "model.pkl").write_bytes(b"\x80\x02cos\nsystem\nX\x02\x00\x00\x00ls\x85R.")
    (bad / "README.md").write_text("---\nlicense: apache-2.0\n---\n")


async def run(
    emu: EmulatorThread, n: int, concurrency: int, max_connections: int
) -> dict[str, float]:
    before_tokens = emu.stats.token_requests
    before_conns = emu.stats.connections_opened
    before_scans = emu.scan_count()
    targets = [f"hf://bench-org/{'bad' if i % 10 == 0 else 'good'}" for i in range(n)]
    async with AsyncModelSecurityClient(
        **emu.client_kwargs(), max_retries=6, max_connections=max_connections
    ) as client:
        page = await client.security_groups.list(search_query="Default HUGGING_FACE")
        group = next(g.uuid for g in page.security_groups if g.name == "Default HUGGING_FACE")
        start = time.perf_counter()
        ok = errors = wrong = 0
        async for r in client.scan_many(
            targets, security_group_uuid=group, concurrency=concurrency, poll_interval=0.05
        ):
            if r.error is not None:
                errors += 1
            elif r.is_blocked == (r.index % 10 == 0):
                ok += 1
            else:
                wrong += 1
        elapsed = time.perf_counter() - start
    return {
        "seconds": elapsed,
        "scans_per_s": n / elapsed,
        "ok": ok,
        "errors": errors,
        "wrong_verdicts": wrong,
        "token_requests": emu.stats.token_requests - before_tokens,
        "connections": emu.stats.connections_opened - before_conns,
        "scans_on_service": emu.scan_count() - before_scans,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scans", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--max-connections", type=int, default=32)
    parser.add_argument("--settle-delay", type=float, default=0.2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        build_hub(Path(tmp))
        with EmulatorThread(port=0, settle_delay=args.settle_delay, hub=tmp) as emu:
            ideal = args.settle_delay * args.scans / args.concurrency
            print(
                f"{args.scans} scans, concurrency {args.concurrency}, max connections "
                f"{args.max_connections}, settle delay {args.settle_delay}s -> ideal {ideal:.2f}s"
            )
            for label, faults in (
                ("no faults", None),
                (
                    "faults",
                    Faults(
                        error_rates={500: 0.02, 503: 0.02},
                        # Each 429 holds the whole batch for its Retry-After (whole
                        # seconds, as HTTP sends it): that is the point of a shared backoff.
                        rate_limit=0.005,
                        retry_after=1,
                        reset_after=0.02,
                        token_expiry=0.002,
                        seed=1,
                    ),
                ),
            ):
                emu.faults = faults
                stats = asyncio.run(run(emu, args.scans, args.concurrency, args.max_connections))
                injected = sum(emu.stats.faults.values())
                print(
                    f"{label:<10} {stats['seconds']:6.2f}s  {stats['scans_per_s']:6.1f} scans/s  "
                    f"ok={stats['ok']:.0f} errors={stats['errors']:.0f} wrong={stats['wrong_verdicts']:.0f}  "
                    f"tokens={stats['token_requests']:.0f}  connections={stats['connections']:.0f}  "
                    f"on service={stats['scans_on_service']:.0f}  faults so far={injected}"
                )
            emu.faults = None
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"peak RSS {rss / 1024:.0f} MiB (client and emulator in one process)")
    sys.exit(0)


if __name__ == "__main__":
    main()
