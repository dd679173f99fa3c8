"""A large model in a local S3 server: ``client.scan`` against a plain read of the same objects.

    python benchmarks/storage.py --size-mib 1024 --repeat 2

moto's S3 server runs in a process of its own (its objects live in its memory, not ours). The
model is ``model.safetensors`` of ``--size-mib`` MiB plus a ``config.json``. Each measurement
runs in a fresh child process, so that its peak RSS is its own:

* ``read``: obstore GET of every object, streamed and dropped (no hash, no scan): the floor;
* ``read+sha256``: the same, hashing every byte (the scan must: ``blob_id`` is the sha256);
* ``scan``: ``ModelSecurityClient.scan("s3://...")`` against the emulator (in the child, on
  loopback): list, stream into the scanner (every byte hashed, headers parsed), submit, wait.

It prints seconds, MiB/s and peak RSS per run, and the ratio scan / read (target: within 1.3x;
memory under 200 MB). Needs the ``storage-test`` extra (obstore, moto[server]).
"""

from __future__ import annotations

import argparse
import json
import os
import struct
import subprocess
import sys
import textwrap
import time

CHILD_READ = """
import os, resource, sys, time, obstore
from obstore.store import S3Store
store = S3Store("bench", config={"endpoint": os.environ["AWS_ENDPOINT_URL"]},
                client_options={"allow_http": True})
t0 = time.perf_counter()
n = 0
for batch in obstore.list(store, "model/"):
    for meta in batch:
        for chunk in obstore.get(store, meta["path"]).stream(min_chunk_size=1 << 20):
            n += len(chunk)
dt = time.perf_counter() - t0
print(dt, n, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
"""

CHILD_READ_HASH = """
import hashlib, os, resource, sys, time, obstore
from obstore.store import S3Store
store = S3Store("bench", config={"endpoint": os.environ["AWS_ENDPOINT_URL"]},
                client_options={"allow_http": True})
t0 = time.perf_counter()
n = 0
for batch in obstore.list(store, "model/"):
    for meta in batch:
        h = hashlib.sha256()
        for chunk in obstore.get(store, meta["path"]).stream(min_chunk_size=1 << 20):
            h.update(chunk)
            n += len(chunk)
dt = time.perf_counter() - t0
print(dt, n, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
"""

CHILD_SCAN = """
import resource, time
from modelsec import ModelSecurityClient
from modelsec.emulator import EmulatorThread
with EmulatorThread(port=0, settle_delay=0.0, activation_delay=0.0) as emu:
    with ModelSecurityClient(**emu.client_kwargs()) as client:
        t0 = time.perf_counter()
        result = client.scan("s3://bench/model/", poll_interval=0.05)
        dt = time.perf_counter() - t0
assert result.is_allowed, result
n = result.scan_details.model_size_bytes
print(dt, n, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
"""

SERVER = """
import sys
from moto.server import ThreadedMotoServer
s = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
s.start()
print(s.get_host_and_port()[1], flush=True)
sys.stdin.read()
s.stop()
"""


def upload(endpoint: str, size: int) -> None:
    import tempfile

    import boto3

    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    s3.create_bucket(Bucket="bench")
    n = size // 4
    header = json.dumps({"w": {"dtype": "F32", "shape": [n], "data_offsets": [0, 4 * n]}}).encode()
    header += b" " * (-len(header) % 8)
    block = os.urandom(8 << 20)
    with tempfile.TemporaryFile() as fh:
        fh.write(struct.pack("<Q", len(header)) + header)
        left = 4 * n
        while left:
            left -= fh.write(block[: min(left, len(block))])
        fh.seek(0)
        # One PUT: moto's multipart completion of a large object outlives client timeouts.
        s3.put_object(Bucket="bench", Key="model/model.safetensors", Body=fh)
    s3.put_object(Bucket="bench", Key="model/config.json", Body=b'{"model_type": "bench"}')


def child(code: str, env: dict[str, str]) -> tuple[float, int, int]:
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return float(out[0]), int(out[1]), int(out[2])


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        endpoint = f"http://127.0.0.1:{port}"
        env = dict(os.environ)
        env.update(
            AWS_ENDPOINT_URL=endpoint,
            AWS_ACCESS_KEY_ID="bench",
            AWS_SECRET_ACCESS_KEY="bench",
            AWS_REGION="us-east-1",
            PYTHONPATH=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
        )
        os.environ.update(
            {k: env[k] for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION")}
        )
        t0 = time.perf_counter()
        upload(endpoint, args.size_mib << 20)
        print(f"uploaded {args.size_mib} MiB in {time.perf_counter() - t0:.1f} s")
        best: dict[str, float] = {}
        for i in range(args.repeat):
            runs = (("read", CHILD_READ), ("read+sha256", CHILD_READ_HASH), ("scan", CHILD_SCAN))
            for name, code in runs:
                dt, n, rss = child(code, env)
                best[name] = min(best.get(name, dt), dt)
                print(
                    f"run {i + 1} {name:11}  {dt:7.2f} s  {n / dt / (1 << 20):8.1f} MiB/s  "
                    f"{n / (1 << 20):8.1f} MiB  peak RSS {rss / (1 << 20):6.1f} MiB"
                )
        print(
            f"best: read {best['read']:.2f} s, read+sha256 {best['read+sha256']:.2f} s, "
            f"scan {best['scan']:.2f} s; scan/read {best['scan'] / best['read']:.2f}x, "
            f"scan/(read+sha256) {best['scan'] / best['read+sha256']:.2f}x"
        )
    finally:
        if server.stdin is not None:
            server.stdin.close()
        server.wait(30)


if __name__ == "__main__":
    main()
