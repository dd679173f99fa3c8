"""Generate ``modelsec/scanner/data/tf_ops.json``: every TensorFlow operator, classified.

The input is TensorFlow's own op registry (``TF_GetAllOpList``: the OpDefs of every operator
the installed ``tensorflow-cpu`` registers, internal ``_``-prefixed ones included), never a
hand-typed list. Each op gets one category:

* ``python``     - calls back into the Python interpreter (``PyFunc`` family);
* ``process``    - starts a process (TensorFlow registers none today; kept for overrides);
* ``network``    - opens connections to other hosts (RPC, tf.data service, cross-host send);
* ``file_write`` - writes, creates or reconfigures files (savers, summary/record writers);
* ``file_read``  - reads files named by its inputs or attributes (readers, datasets, loaders);
* ``known``      - any other registered operator (pure computation on tensors/resources).

File and network ops are found by rule from the OpDef: an input argument or attribute that
names a path (``filename``, ``file_pattern``, ``logdir``...) or an address (``address``,
``server_address``), read vs write from the op name; operators whose arguments say nothing
(queue-fed readers, ops acting on a writer handle) are matched by name. ``OVERRIDES`` is the
reviewed table of exceptions to those rules, each with its reason.

Usage (in a venv with the pinned TensorFlow, ``pip install tensorflow-cpu==2.21.0``)::

    python scripts/gen_tf_ops.py           # rewrite the JSON
    python scripts/gen_tf_ops.py --check   # exit 1 if the committed JSON is stale

``--check`` exits 0 with a note when TensorFlow (of the recorded version) is not installed:
the committed data cannot be regenerated then, only its shape validated (a test does that).
"""

from __future__ import annotations

import argparse
import importlib
import json
import pathlib
import re
import sys
from collections import Counter
from typing import Any

OUT = pathlib.Path(__file__).resolve().parent.parent / "modelsec" / "scanner" / "data"
OUT_FILE = OUT / "tf_ops.json"
TF_VERSION = "2.21.0"
CATEGORIES = ("python", "process", "network", "file_write", "file_read", "known")

#: Input arguments whose value is a file path (or a list / glob of them).
PATH_ARGS = frozenset(
    [
        "filename",
        "filenames",
        "file_pattern",
        "patterns",
        "prefix",
        "path",
        "directory",
        "logdir",
        "ckpt_path",
        "chunk_file",
        "snapshot_path",
        "shard_dir",
        "checkpoint_prefixes",
        "destination_prefix",
        "new_vocab_file",
        "old_vocab_file",
        "data_source_name",
    ]
)
#: Attributes whose value is a file path, a directory, or a URL to write to.
PATH_ATTRS = frozenset(
    [
        "filename",
        "file_pattern",
        "file_name",
        "vocab_file",
        "output_file_path",
        "log_dir_path",
        "memory_region_name",
        "descriptor_source",
        "output_stream",
        "debug_urls",
        "reader_path_prefix",
        "writer_path_prefix",
        "reader_prefix",
        "writer_prefix",
    ]
)
#: Input arguments / attributes naming another host.
NET_ARGS = frozenset(["address", "server_address"])
NET_ATTRS = frozenset(["target_workers"])

_WRITE_NAME = re.compile(r"Save|Write|Merge|Dump|Cache|ToTFRecord|Summary|Writer|Delete")
_READER_NAME = re.compile(r"^(\w+Reader(V2)?|Reader\w+)$")
_WRITER_HANDLE_NAME = re.compile(r"^(Write\w*Summary|FlushSummaryWriter|CloseSummaryWriter)$")
_RPC_NAME = re.compile(r"^Rpc\w+$")

#: Reviewed exceptions to the rules: op -> (category, why).
OVERRIDES: dict[str, tuple[str, str]] = {
    "PyFunc": ("python", "calls a Python function registered in the process"),
    "PyFuncStateless": ("python", "calls a Python function registered in the process"),
    "EagerPyFunc": ("python", "calls a Python function registered in the process"),
    "MatchingFiles": ("file_read", "lists the file system (glob in its `pattern` input)"),
    "ShardedFilename": ("known", "formats a string (`basename-00000-of-00001`), no I/O"),
    "ShardedFilespec": ("known", "formats a string, no I/O"),
    "FileSystemSetConfiguration": ("file_write", "reconfigures a file system (credentials)"),
    "RemoteCall": ("network", "runs a function on another (possibly remote) device/task"),
    "Send": ("network", "sends a tensor to another task"),
    "Recv": ("network", "receives a tensor from another task"),
    "_Send": ("network", "sends a tensor to another task"),
    "_Recv": ("network", "receives a tensor from another task"),
    "_HostSend": ("network", "sends a tensor to another task"),
    "_HostRecv": ("network", "receives a tensor from another task"),
    "DistributedSave": ("network", "asks a tf.data service at `address` to write files"),
    "SqlDataset": ("file_read", "opens the database file named by `data_source_name`"),
    "ExperimentalSqlDataset": ("file_read", "opens the database named by `data_source_name`"),
    "CacheDataset": ("file_write", "writes a cache under its `filename` input"),
    "CacheDatasetV2": ("file_write", "writes a cache under its `filename` input"),
    "SnapshotDataset": ("file_write", "writes snapshot files under `path`"),
    "SnapshotDatasetV2": ("file_write", "writes snapshot files under `path`"),
    "RecordInput": ("file_read", "reads records from the files of `file_pattern`"),
    "DebugNumericSummaryV2": ("known", "no URL or path: summarises in memory"),
    # Attribute-gated in the scanner: only a file/URL attribute value makes them I/O.
    "PrintV2": ("file_write", "appends to the file of `output_stream` when it is file://"),
    "DebugIdentity": ("file_write", "dumps tensors to its `debug_urls` (file://, grpc://)"),
    "DebugIdentityV2": ("file_write", "dumps tensors to its `debug_urls` (file://, grpc://)"),
    "DebugIdentityV3": ("file_write", "dumps tensors to its `debug_urls` (file://, grpc://)"),
    "DebugNanCount": ("file_write", "dumps tensors to its `debug_urls` (file://, grpc://)"),
    "DebugNumericSummary": ("file_write", "dumps tensors to its `debug_urls`"),
    "IteratorGetModelProto": ("known", "serialises an in-memory model, no I/O"),
}


def _tf(module: str = "tensorflow") -> Any:
    # Imported by name: TensorFlow is a generation-time input only, untyped, never a dependency.
    return importlib.import_module(module)


def _oplist() -> Any:
    op_def_pb2 = _tf("tensorflow.core.framework.op_def_pb2")
    c = _tf("tensorflow.python.client.pywrap_tf_session")
    ops = op_def_pb2.OpList()
    ops.ParseFromString(c.TF_GetBuffer(c.TF_GetAllOpList()))
    return ops


def classify(op: Any) -> str:
    """The category of one OpDef (by the rules above, then ``OVERRIDES``)."""
    name = op.name
    if name in OVERRIDES:
        return OVERRIDES[name][0]
    args = {a.name for a in op.input_arg}
    attrs = {a.name for a in op.attr}
    if args & NET_ARGS or attrs & NET_ATTRS or _RPC_NAME.match(name):
        return "network"
    if args & PATH_ARGS or attrs & PATH_ATTRS:
        return "file_write" if _WRITE_NAME.search(name) else "file_read"
    if _READER_NAME.match(name):
        return "file_read"  # queue-fed file readers and the ops reading through them
    if _WRITER_HANDLE_NAME.match(name) or name == "CreateSummaryDbWriter":
        return "file_write"  # write through a summary writer handle
    return "known"


def generate() -> dict[str, Any]:
    tf = _tf()
    ops = {op.name: classify(op) for op in _oplist().op}
    missing = sorted(set(OVERRIDES) - set(ops))
    if missing:
        raise SystemExit(f"overrides name ops TensorFlow does not register: {missing}")
    counts = Counter(ops.values())
    return {
        "generator": "scripts/gen_tf_ops.py",
        "source": "TF_GetAllOpList() of tensorflow-cpu",
        "tensorflow_version": tf.__version__,
        "counts": {c: counts.get(c, 0) for c in CATEGORIES},
        "ops": dict(sorted(ops.items())),
    }


def render(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=1, sort_keys=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the JSON is stale")
    args = parser.parse_args(argv)
    try:
        tf = _tf()
    except ImportError:
        if args.check:
            print("tensorflow not installed: cannot regenerate; shape-only check left to tests")
            return 0
        print("install tensorflow-cpu==" + TF_VERSION + " first", file=sys.stderr)
        return 2
    if tf.__version__ != TF_VERSION:
        print(f"tensorflow {tf.__version__} installed, the table pins {TF_VERSION}")
        return 0 if args.check else 2
    text = render(generate())
    if args.check:
        if OUT_FILE.read_text(encoding="utf-8") != text:
            print(f"{OUT_FILE} is stale: run scripts/gen_tf_ops.py", file=sys.stderr)
            return 1
        print(f"{OUT_FILE} is up to date")
        return 0
    OUT.mkdir(parents=True, exist_ok=True)
    OUT_FILE.write_text(text, encoding="utf-8")
    print(f"wrote {OUT_FILE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
