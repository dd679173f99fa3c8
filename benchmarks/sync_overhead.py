"""Per-call cost of the sync facade, against the async client and against raw aiohttp.

A loopback aiohttp.web server (a fake token endpoint and ``GET /aims/data/v1/scans/{uuid}``
returning a valid scan; on a thread of this process by default, where it competes for this
process's GIL, or with ``--server process`` in a child process, as a real service is)
answers every variant:

* raw aiohttp: ``session.get`` + ``json()`` with a bearer header (no SDK);
* async client: ``await client.scans.get(uuid)`` (token cache, retries, parsing into ``Scan``);
* sync facade: ``client.scans.get(uuid)`` from ``ModelSecurityClient`` (one portal crossing);
* portal only: ``_portal.run(noop)``, the bare cost of one crossing.

Sequentially, then with 16 callers at once (16 asyncio tasks for the async variants, 16 OS
threads for the sync facade), in interleaved rounds (best of each). Numbers are wall time per
call: upper bounds on a busy box, where comparisons are what matter.

Usage::

    PYTHONPATH=. python benchmarks/sync_overhead.py [--calls 2000] [--threads 16] [--server process]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from modelsec import AsyncModelSecurityClient
from modelsec.sync import ModelSecurityClient, _portal, shutdown

SCAN_UUID = "5f8b1c7e-3a2d-4e6f-9b1a-0c2d3e4f5a6b"
SCAN = {
    "uuid": SCAN_UUID,
    "tsg_id": "1234567890",
    "created_at": "2025-01-01T00:00:00Z",
    "updated_at": "2025-01-01T00:00:05Z",
    "model_uri": "hf://org/model",
    "owner": "bench",
    "scan_origin": "MODEL_SECURITY_SDK",
    "security_group_uuid": "0c2d3e4f-5a6b-4e6f-9b1a-5f8b1c7e3a2d",
    "security_group_name": "default",
    "eval_outcome": "ALLOWED",
    "source_type": "HUGGING_FACE",
    "eval_summary": {"rules_failed": 0, "rules_passed": 11, "total_rules": 11},
    "labels": [{"key": "team", "value": "ml"}],
}


class Server:
    def __init__(self) -> None:
        self.base = ""
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._main, name="bench-server", daemon=True)

    def _main(self) -> None:
        async def token(_: web.Request) -> web.Response:
            return web.json_response({"access_token": "tok", "expires_in": 900})

        async def scan(_: web.Request) -> web.Response:
            return web.json_response(SCAN)

        loop = asyncio.new_event_loop()
        self._loop = loop
        app = web.Application()
        app.router.add_post("/oauth2/access_token", token)
        app.router.add_get("/aims/data/v1/scans/{uuid}", scan)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        loop.run_until_complete(site.start())
        assert site._server is not None
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        self.base = f"http://127.0.0.1:{port}"
        self._ready.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        loop.close()

    def __enter__(self) -> Server:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def kwargs(self) -> dict[str, Any]:
        return {
            "client_id": "id",
            "client_secret": "secret",
            "tsg_id": "1234567890",
            "data_endpoint": self.base + "/aims/data",
            "mgmt_endpoint": self.base + "/aims/mgmt",
            "token_endpoint": self.base + "/oauth2/access_token",
        }


class ChildServer:
    """benchmarks/_server.py in a child process (same answers as ``Server``)."""

    def __init__(self) -> None:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import _server

        self.base, self._proc = _server.start()

    def kwargs(self) -> dict[str, Any]:
        return Server.kwargs(self)  # type: ignore[arg-type]

    def close(self) -> None:
        self._proc.terminate()
        self._proc.join(10)


@contextlib.contextmanager
def serve(where: str) -> Iterator[Server | ChildServer]:
    if where == "thread":
        with Server() as server:
            yield server
        return
    child = ChildServer()
    try:
        yield child
    finally:
        child.close()


def per_call_us(elapsed: float, calls: int) -> float:
    return elapsed / calls * 1e6


async def _spread(fn: Callable[[], Awaitable[Any]], calls: int, workers: int) -> float:
    per = calls // workers

    async def worker() -> None:
        for _ in range(per):
            await fn()

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(workers)))
    return time.perf_counter() - start


async def bench_raw(base: str, calls: int, workers: int) -> float:
    url = f"{base}/aims/data/v1/scans/{SCAN_UUID}"
    headers = {"Authorization": "Bearer tok", "Accept": "application/json"}
    async with aiohttp.ClientSession() as session:

        async def one() -> None:
            async with session.get(url, headers=headers) as resp:
                await resp.json()

        for _ in range(50):
            await one()
        return await _spread(one, calls, workers)


async def bench_async(kwargs: dict[str, Any], calls: int, workers: int) -> float:
    async with AsyncModelSecurityClient(**kwargs) as client:

        async def one() -> None:
            await client.scans.get(SCAN_UUID)

        for _ in range(50):
            await one()
        return await _spread(one, calls, workers)


def bench_sync(client: ModelSecurityClient, calls: int, workers: int) -> float:
    per = calls // workers
    barrier = threading.Barrier(workers + 1)

    def worker() -> None:
        barrier.wait()
        for _ in range(per):
            client.scans.get(SCAN_UUID)

    if workers == 1:
        start = time.perf_counter()
        for _ in range(calls):
            client.scans.get(SCAN_UUID)
        return time.perf_counter() - start
    with ThreadPoolExecutor(workers) as pool:
        futures = [pool.submit(worker) for _ in range(workers)]
        barrier.wait()
        start = time.perf_counter()
        for f in futures:
            f.result()
        return time.perf_counter() - start


def bench_portal(calls: int, workers: int) -> float:
    async def noop() -> None:
        return None

    per = calls // workers
    if workers == 1:
        start = time.perf_counter()
        for _ in range(calls):
            _portal.run(noop)
        return time.perf_counter() - start
    barrier = threading.Barrier(workers + 1)

    def worker() -> None:
        barrier.wait()
        for _ in range(per):
            _portal.run(noop)

    with ThreadPoolExecutor(workers) as pool:
        futures = [pool.submit(worker) for _ in range(workers)]
        barrier.wait()
        start = time.perf_counter()
        for f in futures:
            f.result()
        return time.perf_counter() - start


def in_new_loop(fn: Callable[[], Awaitable[float]]) -> Callable[[], float]:
    async def main() -> float:
        return await fn()

    return lambda: asyncio.run(main())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="sync facade overhead per call")
    parser.add_argument("--calls", type=int, default=2000, help="calls per measurement")
    parser.add_argument("--threads", type=int, default=16, help="concurrent callers")
    parser.add_argument(
        "--server",
        choices=("process", "thread"),
        default="thread",
        help="run the loopback server in a thread of this process (the default, where it "
        "competes for this process's GIL) or in a child process, as a real service is",
    )
    parser.add_argument("--repeats", type=int, default=5, help="best of N interleaved rounds")
    args = parser.parse_args(argv)
    calls = args.calls - args.calls % args.threads

    rows: list[tuple[str, float, float]] = []
    with serve(args.server) as server:
        kwargs = server.kwargs()
        results: dict[tuple[str, int], float] = {}
        for workers in (1, args.threads):
            with ModelSecurityClient(**kwargs) as client:
                for _ in range(50):
                    client.scans.get(SCAN_UUID)
                variants: dict[str, Callable[[], float]] = {
                    "raw aiohttp": in_new_loop(
                        functools.partial(bench_raw, server.base, calls, workers)
                    ),
                    "async client": in_new_loop(
                        functools.partial(bench_async, kwargs, calls, workers)
                    ),
                    "sync facade": functools.partial(bench_sync, client, calls, workers),
                    "portal only (noop)": functools.partial(bench_portal, calls, workers),
                }
                # Interleaved rounds, best of each: a busy machine slows every variant alike.
                for _ in range(args.repeats):
                    for name, fn in variants.items():
                        elapsed = fn()
                        key = (name, workers)
                        results[key] = min(results.get(key, elapsed), elapsed)
        shutdown()
    for name in ("raw aiohttp", "async client", "sync facade", "portal only (noop)"):
        rows.append(
            (
                name,
                per_call_us(results[name, 1], calls),
                per_call_us(results[name, args.threads], calls),
            )
        )

    print(
        f"{calls} calls, best of {args.repeats} interleaved rounds, server in a {args.server}; "
        "wall time per call in microseconds"
    )
    print(f"{'variant':<22}{'sequential':>14}{f'{args.threads} concurrent':>16}")
    for name, seq, conc in rows:
        print(f"{name:<22}{seq:>14.1f}{conc:>16.1f}")
    by = {name: (seq, conc) for name, seq, conc in rows}
    d_seq = by["sync facade"][0] - by["async client"][0]
    d_conc = by["sync facade"][1] - by["async client"][1]
    print()
    print(
        f"sync facade over async client: {d_seq:+.1f} us/call sequential "
        f"({d_seq / by['async client'][0]:+.0%}), {d_conc:+.1f} us/call with {args.threads} "
        f"threads ({d_conc / by['async client'][1]:+.0%})"
    )
    print(
        f"sync facade / async client: {by['sync facade'][0] / by['async client'][0]:.2f}x "
        f"sequential, {by['sync facade'][1] / by['async client'][1]:.2f}x with "
        f"{args.threads} threads"
    )
    print(
        f"async client over raw aiohttp: {by['async client'][0] - by['raw aiohttp'][0]:+.1f} "
        f"us/call sequential"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
