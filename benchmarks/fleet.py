"""Local scans through ``scan_many`` on threads, a process pool, Dask and Ray, against the emulator.

    python benchmarks/fleet.py                      # 200 models of ~1.5 MB, every engine
    python benchmarks/fleet.py --models 40 --engines threads,processes   # a quick run

Generates ``--models`` CPU-heavy model directories into a temporary directory (opcode-dense
benign pickles: a list of small int tuples, a few opcodes per 6 bytes, which the pickle walker
must follow one by one; every tenth model also holds an ``os.system`` pickle), starts the emulator
in a child process (so that it does not share the driver's GIL) and, for each engine, scans
them all with ``scan_many(..., executor=...)``. Printed per engine:

* start: seconds to bring the engine up (pool, LocalCluster, ``ray.init``), not in the batch;
* heavy: wall time of the batch, models/s, and the speed-up over the thread pool;
* per-target overhead: the wall time per target of a batch of tiny models (safetensors, about
  a millisecond to scan) over the thread pool's: what the engine adds to each target
  (submission, pickling, scheduling, the result's trip back);
* the bytes sent per task and received per result (pickled), and a check that the service holds
  exactly one scan per target.

Everything runs on this machine's cores (``--workers`` workers per engine, default: every
core). Numbers are wall times on a possibly busy box; the ratios are what matter.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import pickle
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from modelsec import AsyncModelSecurityClient
from modelsec.emulator import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_TSG_ID
from modelsec.fleet import RayExecutor, process_pool
from modelsec.scanner import scan_path
from modelsec.workflows import _scan_local

ROOT = Path(__file__).resolve().parents[1]
MALICIOUS = b"\x80\x02cos\nsystem\nX\x02\x00\x00\x00ls\x85R."


def dense_pickle(seed: int, size: int) -> bytes:
    """About ``size`` bytes of benign pickle: small int tuples (data we make, never loaded)."""
    pairs = size // 6
    return pickle.dumps([((i + seed) % 250, (i * 7 + seed) % 250) for i in range(pairs)], 4)


def safetensors() -> bytes:
    header = json.dumps({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}).encode()
    header += b" " * (-len(header) % 8)
    return struct.pack("<Q", len(header)) + header + b"\0" * 8


def make_models(root: Path, count: int, size: int) -> tuple[list[str], list[str]]:
    heavy, tiny = [], []
    # A few distinct payloads, reused: the scanner caches nothing by content, and writing is
    # much faster than pickling 200 x a few MB.
    payloads = [dense_pickle(seed, size) for seed in range(min(count, 8))]
    for i in range(count):
        d = root / "heavy" / f"m{i:04d}"
        d.mkdir(parents=True)
        (d / "weights.pkl").write_bytes(payloads[i % len(payloads)])
        if i % 10 == 0:
            (d / "hook.pkl").write_bytes(MALICIOUS)
        heavy.append(str(d))
        t = root / "tiny" / f"t{i:04d}"
        t.mkdir(parents=True)
        (t / "model.safetensors").write_bytes(safetensors())
        tiny.append(str(t))
    return heavy, tiny


@contextlib.contextmanager
def emulator(settle_delay: float) -> Iterator[dict[str, str]]:
    """The emulator in a child process; yields client keyword arguments."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "modelsec.emulator",
            "--port",
            "0",
            "--settle-delay",
            str(settle_delay),
            "--activation-delay",
            "0",
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        base = line.split(" on ", 1)[1].split()[0]
        yield {
            "client_id": DEFAULT_CLIENT_ID,
            "client_secret": DEFAULT_CLIENT_SECRET,
            "tsg_id": DEFAULT_TSG_ID,
            "data_endpoint": base + "/aims/data",
            "mgmt_endpoint": base + "/aims/mgmt",
            "token_endpoint": base + "/oauth2/access_token",
        }
    finally:
        proc.terminate()
        proc.wait(10)


async def run_batch(
    kwargs: dict[str, str], targets: list[str], executor: Any, concurrency: int, tag: str
) -> tuple[float, int, int]:
    """Wall time, results and scans the service holds for this batch (by its label)."""
    async with AsyncModelSecurityClient(**kwargs) as client:
        page = await client.security_groups.list(search_query="Default LOCAL")
        group = next(g.uuid for g in page.security_groups if g.name == "Default LOCAL")
        start = time.perf_counter()
        results = [
            r
            async for r in client.scan_many(
                targets,
                security_group_uuid=group,
                concurrency=concurrency,
                poll_interval=0.05,
                labels={"bench": tag},
                executor=executor,
            )
        ]
        wall = time.perf_counter() - start
        errors = [r for r in results if r.is_error]
        if errors:
            raise SystemExit(f"{tag}: {len(errors)} errors, e.g. {errors[0].error!r}")
        held = len(await client.scans.list(labels_query=f"bench:{tag}", limit=100).to_list())
    return wall, len(results), held


@contextlib.contextmanager
def engine(name: str, workers: int) -> Iterator[Any]:
    if name == "threads":
        yield None  # scan_many's default: anyio's worker threads in this process
    elif name == "processes":
        with process_pool(workers) as pool:
            yield pool
    elif name == "dask":
        import distributed

        with (
            distributed.LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=None,
                silence_logs=40,
            ) as cluster,
            distributed.Client(cluster) as client,
        ):
            yield client
    elif name == "ray":
        import ray

        for attempt in (1, 2, 3):
            try:
                ray.init(
                    num_cpus=workers,
                    include_dashboard=False,
                    log_to_driver=False,
                    runtime_env={"env_vars": {"PYTHONPATH": str(ROOT)}},
                )
                break
            except Exception:
                ray.shutdown()
                if attempt == 3:
                    raise
        try:
            yield RayExecutor()
        finally:
            ray.shutdown()
    else:
        raise SystemExit(f"unknown engine {name!r}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=int, default=200)
    parser.add_argument("--size-mb", type=float, default=1.5, help="size of each dense pickle")
    parser.add_argument("--engines", default="threads,processes,dask,ray")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--concurrency", type=int, default=16, help="scan_many's concurrency")
    parser.add_argument("--settle-delay", type=float, default=0.05)
    args = parser.parse_args(argv)
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]

    with tempfile.TemporaryDirectory(prefix="modelsec-fleet-") as tmp:
        t0 = time.perf_counter()
        heavy, tiny = make_models(Path(tmp), args.models, int(args.size_mb * 1e6))
        print(
            f"{args.models} models of {args.size_mb} MB (+ {len(tiny)} tiny) written in "
            f"{time.perf_counter() - t0:.1f} s; {os.cpu_count()} cores, {args.workers} workers"
        )
        t0 = time.perf_counter()
        for path in heavy[:3]:
            scan_path(path)
        one = (time.perf_counter() - t0) / 3
        print(f"one scan_path of a heavy model on one core: {one * 1000:.0f} ms")
        call = pickle.dumps((_scan_local, (heavy[1], None, None)), pickle.HIGHEST_PROTOCOL)
        back = pickle.dumps(_scan_local(heavy[1], None, None), pickle.HIGHEST_PROTOCOL)
        print(f"sent per task: {len(call)} bytes; received per result: {len(back)} bytes")
        print()

        rows: dict[str, dict[str, float]] = {}
        with emulator(args.settle_delay) as kwargs:
            for run, name in enumerate(engines):
                t0 = time.perf_counter()
                with engine(name, args.workers) as executor:
                    started = time.perf_counter() - t0
                    # Warm-up: workers start and import the scanner outside the timed batches.
                    asyncio.run(
                        run_batch(kwargs, tiny[: 2 * args.workers], executor, 16, f"w{run}-{name}")
                    )
                    wall, n, held = asyncio.run(
                        run_batch(kwargs, heavy, executor, args.concurrency, f"h{run}-{name}")
                    )
                    tiny_wall, _, tiny_held = asyncio.run(
                        run_batch(kwargs, tiny, executor, args.concurrency, f"t{run}-{name}")
                    )
                assert n == held == len(heavy), (name, n, held)
                assert tiny_held == len(tiny), (name, tiny_held)
                rows[name if name not in rows else f"{name}-{run}"] = {
                    "start": started,
                    "wall": wall,
                    "tiny": tiny_wall / len(tiny),
                }
                print(f"  {name}: {wall:.1f} s, {len(heavy) / wall:.2f} models/s", flush=True)

    base = rows.get("threads")
    print()
    print(
        f"{'engine':<11}{'start s':>9}{'batch s':>9}{'models/s':>10}{'vs threads':>12}"
        f"{'ms/target (tiny)':>18}{'overhead ms':>13}"
    )
    for name, r in rows.items():
        speed = f"{base['wall'] / r['wall']:.2f}x" if base else "-"
        over = f"{(r['tiny'] - base['tiny']) * 1000:+.1f}" if base else "-"
        print(
            f"{name:<11}{r['start']:>9.1f}{r['wall']:>9.1f}{len(heavy) / r['wall']:>10.2f}"
            f"{speed:>12}{r['tiny'] * 1000:>18.1f}{over:>13}"
        )
    print(f"\nideal on {args.workers} cores: {one * len(heavy) / args.workers:.1f} s per batch")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
