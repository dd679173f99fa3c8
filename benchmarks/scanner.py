"""Benchmark of the offline scanner against ``sha256sum`` (the I/O + hashing floor) and, when
installed, picklescan and modelscan.

Usage::

    .venv/bin/python benchmarks/scanner.py [--size-mib 512] [--dense 1000000] [--small 1000]

Inputs are built in a temporary directory: a large safetensors file, a byte-heavy pickle, an
opcode-dense pickle (many small objects) and a directory of small files. Each measurement runs
in a child process so its peak RSS is its own. Nothing here is a test: numbers are printed.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import resource
import shutil
import struct
import subprocess
import sys
import tempfile
import time

_CHUNK = 1 << 20


def build_safetensors(path: pathlib.Path, size: int) -> None:
    n = size // 4
    header = json.dumps({"w": {"dtype": "F32", "shape": [n], "data_offsets": [0, n * 4]}})
    with path.open("wb") as fp:
        fp.write(struct.pack("<Q", len(header)) + header.encode())
        zero = bytes(_CHUNK)
        left = n * 4
        while left:
            fp.write(zero[: min(left, _CHUNK)])
            left -= min(left, _CHUNK)


def build_bytes_pickle(path: pathlib.Path, size: int) -> None:
    with path.open("wb") as fp:
        fp.write(b"\x80\x04\x8e" + struct.pack("<Q", size))
        zero = bytes(_CHUNK)
        left = size
        while left:
            fp.write(zero[: min(left, _CHUNK)])
            left -= min(left, _CHUNK)
        fp.write(b".")


def build_dense_pickle(path: pathlib.Path, count: int) -> None:
    """``count`` small tuples (int, memoised str), as pickle.dumps writes lists of them."""
    item = b"K\x01\x8c\x02ab\x94\x86"
    with path.open("wb") as fp:
        fp.write(b"\x80\x04]\x94")
        for start in range(0, count, 1000):
            fp.write(b"(" + item * min(1000, count - start) + b"e")
        fp.write(b".")


def build_small(root: pathlib.Path, count: int) -> None:
    root.mkdir()
    for i in range(count):
        if i % 2:
            (root / f"f{i}.pkl").write_bytes(
                b"\x80\x04\x95\x0b\x00\x00\x00\x00\x00\x00\x00}\x94\x8c\x01a\x94K\x01s."
            )
        else:
            (root / f"f{i}.json").write_bytes(b'{"a": 1}')


# --- child processes -------------------------------------------------------------------------


def child(tool: str, path: str) -> None:
    t0 = time.perf_counter()
    if tool == "modelsec":
        from modelsec.scanner import scan_path

        t_import = time.perf_counter()
        details = scan_path(path)
        summary = [(f.modelscan_status, len(f.issues_detected or [])) for f in details.files[:1]]
    elif tool == "picklescan":
        from picklescan.scanner import scan_file_path

        t_import = time.perf_counter()
        res = scan_file_path(path)
        summary = [res.scan_err, res.issues_count]
    elif tool == "modelscan":
        from modelscan.modelscan import ModelScan

        t_import = time.perf_counter()
        summary = [len(ModelScan().scan(path).get("issues", []))]
    else:
        raise SystemExit(f"unknown tool {tool}")
    t1 = time.perf_counter()
    seconds, scan_only = t1 - t0, t1 - t_import
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out = {
        "seconds": seconds,
        "scan_seconds": scan_only,
        "maxrss_kib": rss,
        "summary": str(summary),
    }
    print(json.dumps(out))


def run_child(tool: str, path: pathlib.Path, timeout: float) -> dict[str, object] | None:
    try:
        out = subprocess.run(
            [sys.executable, __file__, "--child", tool, str(path)],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=True,
        ).stdout
    except subprocess.TimeoutExpired:
        return {"seconds": float("inf"), "maxrss_kib": 0, "summary": "timeout"}
    except subprocess.CalledProcessError as exc:
        return {"seconds": float("nan"), "maxrss_kib": 0, "summary": exc.stderr[-200:]}
    return dict(json.loads(out.strip().splitlines()[-1]))


def baseline_rss() -> int:
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import resource, modelsec.scanner;"
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return int(out)


def sha256sum(path: pathlib.Path) -> float | None:
    exe = shutil.which("sha256sum")
    if exe is None:
        return None
    t0 = time.perf_counter()
    subprocess.run([exe, str(path)], capture_output=True, check=True)
    return time.perf_counter() - t0


def available(module: str) -> bool:
    return (
        subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True).returncode
        == 0
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-mib", type=int, default=512, help="large safetensors size")
    ap.add_argument("--bytes-mib", type=int, default=256, help="byte-heavy pickle size")
    ap.add_argument("--dense", type=int, default=1_000_000, help="objects in the dense pickle")
    ap.add_argument("--small", type=int, default=1000, help="number of small files")
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--child", nargs=2, metavar=("TOOL", "PATH"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="modelsec-bench-"))
    try:
        inputs = {
            "safetensors": tmp / "large.safetensors",
            "bytes_pickle": tmp / "bytes.pkl",
            "dense_pickle": tmp / "dense.pkl",
        }
        build_safetensors(inputs["safetensors"], args.size_mib << 20)
        build_bytes_pickle(inputs["bytes_pickle"], args.bytes_mib << 20)
        build_dense_pickle(inputs["dense_pickle"], args.dense)
        build_small(tmp / "small", args.small)
        tools = ["modelsec"] + [t for t in ("picklescan", "modelscan") if available(t)]
        base = baseline_rss()
        print(
            f"python {sys.version.split()[0]}, tools: {', '.join(tools)}, "
            f"baseline RSS {base / 1024:.0f} MiB (interpreter + modelsec import)\n"
        )
        print(
            f"{'input':<14}{'MiB':>8}  {'tool':<11}{'seconds':>9}{'scan s':>9}{'MB/s':>9}"
            f"{'vs sha256sum':>13}{'peak RSS MiB':>14}  result"
        )
        for label, path in inputs.items():
            size = path.stat().st_size
            sha256sum(path)  # warm the page cache (never read it here: children inherit maxrss)
            floor = sha256sum(path)
            if floor:
                print(
                    f"{label:<14}{size / 2**20:>8.0f}  {'sha256sum':<11}{floor:>9.3f}{floor:>9.3f}"
                    f"{size / floor / 1e6:>9.0f}{1:>13.2f}{'':>14}"
                )
            for tool in tools:
                if tool != "modelsec" and label == "safetensors" and tool == "picklescan":
                    continue
                r = run_child(tool, path, args.timeout)
                assert r is not None
                secs = float(str(r["seconds"]))
                scan_secs = float(str(r.get("scan_seconds", secs)))
                ratio = f"{secs / floor:.2f}" if floor else "-"
                rss = int(str(r["maxrss_kib"])) / 1024
                print(
                    f"{label:<14}{size / 2**20:>8.0f}  {tool:<11}{secs:>9.3f}{scan_secs:>9.3f}"
                    f"{size / secs / 1e6 if secs else 0:>9.0f}{ratio:>13}{rss:>14.0f}  "
                    f"{str(r['summary'])[:40]}"
                )
        r = run_child("modelsec", tmp / "small", args.timeout)
        assert r is not None
        secs = float(str(r["seconds"]))
        print(
            f"\nsmall files: {args.small} files in {secs:.3f} s = "
            f"{secs / args.small * 1000:.3f} ms per file (in process, incl. walk and hashing); "
            f"peak RSS {int(str(r['maxrss_kib'])) / 1024:.0f} MiB"
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
