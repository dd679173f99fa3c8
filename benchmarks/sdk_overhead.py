"""SDK overhead: raw aiohttp vs AsyncModelSecurityClient vs the sync facade, same local server.

The server runs in a child process on loopback and answers canned JSON (a scan for ``get``,
a 20-scan page for ``list``), so the figures are the client side's cost: request building,
retries bookkeeping, token lookup, JSON parsing, and (for the SDK) typed structuring.

    python benchmarks/sdk_overhead.py --requests 3000
    python benchmarks/sdk_overhead.py --requests 3000 --latency 0.01   # a 10 ms service

"SDK JSON" is ``client.request(...)``: the same transport (token, retries, timeouts, logging)
returning plain JSON, so the gap between it and "async SDK" is the cost of typed objects.

With no latency the figures are the client's CPU cost per request (loopback, instant
answers); with a realistic service latency they show what a user of the SDK would see.

Prints requests/second per (client, operation, concurrency) and the SDK's overhead relative to
raw aiohttp in the same run, and the client process's CPU time per request for raw aiohttp and
the async SDK (steadier than requests/second on a shared machine: the server's CPU and the
neighbours' do not count).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _server

from modelsec import AsyncModelSecurityClient

UUID = _server.UUID


def kwargs(base: str) -> dict[str, str]:
    return {
        "client_id": "bench",
        "client_secret": "bench-secret",
        "tsg_id": "1234567890",
        "data_endpoint": f"{base}/aims/data",
        "mgmt_endpoint": f"{base}/aims/mgmt",
        "token_endpoint": f"{base}/oauth2/access_token",
    }


async def drive(
    call: Callable[[], Awaitable[object]], n: int, concurrency: int
) -> tuple[float, float]:
    """(requests per second, client CPU microseconds per request)."""
    sem = asyncio.Semaphore(concurrency)

    async def one() -> None:
        async with sem:
            await call()

    await call()  # warm up: connection and token
    start, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(one() for _ in range(n)))
    return n / (time.perf_counter() - start), (time.process_time() - cpu) / n * 1e6


async def bench_raw(base: str, op: str, n: int, c: int) -> tuple[float, float]:
    headers = {"Authorization": "Bearer bench-token", "Accept": "application/json"}
    connector = aiohttp.TCPConnector(limit=100)
    async with aiohttp.ClientSession(connector=connector) as session:
        url = f"{base}/aims/data/v1/scans/{UUID}" if op == "get" else f"{base}/aims/data/v1/scans"
        params = None if op == "get" else [("skip", "0"), ("limit", "20")]

        async def call() -> object:
            async with session.get(url, headers=headers, params=params) as resp:
                resp.raise_for_status()
                return await resp.json()

        return await drive(call, n, c)


async def bench_async(base: str, op: str, n: int, c: int) -> tuple[float, float]:
    async with AsyncModelSecurityClient(**kwargs(base)) as client:

        async def call() -> object:
            if op == "get":
                return await client.scans.get(UUID)
            return await client.scans.list(limit=20)

        return await drive(call, n, c)


async def bench_json(base: str, op: str, n: int, c: int) -> tuple[float, float]:
    """The async SDK's ``client.request``: transport only, plain JSON back (no typed objects)."""
    async with AsyncModelSecurityClient(**kwargs(base)) as client:
        path = f"/v1/scans/{UUID}" if op == "get" else "/v1/scans"
        params = None if op == "get" else {"skip": 0, "limit": 20}

        async def call() -> object:
            return await client.request("GET", path, params=params)

        return await drive(call, n, c)


def bench_sync(base: str, op: str, n: int, c: int) -> float:
    from modelsec import ModelSecurityClient

    with ModelSecurityClient(**kwargs(base)) as client:

        def call() -> object:
            if op == "get":
                return client.scans.get(UUID)
            return client.scans.list(limit=20)

        call()
        start = time.perf_counter()
        if c == 1:
            for _ in range(n):
                call()
        else:
            with ThreadPoolExecutor(max_workers=c) as pool:
                list(pool.map(lambda _: call(), range(n)))
        return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3, help="best of N rounds per cell")
    parser.add_argument(
        "--latency",
        type=float,
        default=0.0,
        help="seconds the server waits before each answer (0: pure client cost; the anchors' "
        "benchmark uses 0.010)",
    )
    args = parser.parse_args()
    base, proc = _server.start(args.latency)
    time.sleep(0.5)
    try:
        print(f"requests/s, best of {args.rounds}; overheads relative to raw aiohttp")
        print(
            f"{'operation':<6} {'conc':>4} {'raw aiohttp':>12} {'async SDK':>10} "
            f"{'async ovh':>9} {'SDK JSON':>9} {'JSON ovh':>8} {'sync SDK':>9} {'sync ovh':>9}"
            f"   {'raw CPU':>8} {'SDK CPU':>8} {'ovh':>6}   (client CPU us/request, best)"
        )
        for op in ("get", "list"):
            for c in (1, 64):
                # Interleave the variants round by round (the machine's load drifts), then
                # keep the best round of each.
                raws, sdks, jsons, syncs = [], [], [], []
                for _ in range(args.rounds):
                    raws.append(asyncio.run(bench_raw(base, op, args.requests, c)))
                    sdks.append(asyncio.run(bench_async(base, op, args.requests, c)))
                    jsons.append(asyncio.run(bench_json(base, op, args.requests, c)))
                    syncs.append(bench_sync(base, op, args.requests, min(c, 16)))
                raw, sdk = max(r for r, _ in raws), max(r for r, _ in sdks)
                json_rate, sync = max(r for r, _ in jsons), max(syncs)
                raw_cpu, sdk_cpu = min(u for _, u in raws), min(u for _, u in sdks)
                print(
                    f"{op:<6} {c:>4} {raw:>12.0f} {sdk:>10.0f} {(raw / sdk - 1) * 100:>8.1f}% "
                    f"{json_rate:>9.0f} {(raw / json_rate - 1) * 100:>7.1f}% "
                    f"{sync:>9.0f} {(raw / sync - 1) * 100:>8.1f}%"
                    f"   {raw_cpu:>8.1f} {sdk_cpu:>8.1f} {(sdk_cpu / raw_cpu - 1) * 100:>5.0f}%"
                )
        print(
            "sync facade threads are capped at 16 for concurrency 64 (see benchmarks/sync_overhead.py)"
        )
        print(f"threads alive at exit: {threading.active_count()}")
    finally:
        proc.terminate()
        proc.join()


if __name__ == "__main__":
    main()
