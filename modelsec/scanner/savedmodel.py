"""TensorFlow SavedModel (``saved_model.pb``) and frozen GraphDef ``.pb`` files.

Operators are read with the minimal protobuf reader, from the graph and from every function
of its library. ``PyFunc``-family operators call back into Python (``PAIT-TF-300``); file
operators read or write arbitrary paths at run time (``PAIT-TF-302``); operators from custom
namespaces (``Addons>...``) need a native library (``PAIT-TF-301``). The saver operators
(SaveV2, RestoreV2, MergeV2Checkpoints...) are in every SavedModel and are not reported.
Keras' ``keras_metadata.pb`` carries the Keras config as JSON and gets the Keras checks.
"""

from __future__ import annotations

import json
import posixpath
import re

from modelsec.scanner.protobuf import LEN, ProtoError, fields, read_string
from modelsec.scanner.report import FileContext, printable
from modelsec.scanner.source import ByteSource

__all__ = ["scan_savedmodel"]

_PY_OPS = frozenset(["PyFunc", "PyFuncStateless", "EagerPyFunc"])
_FILE_OPS = frozenset(
    [
        "ReadFile",
        "WriteFile",
        "MatchingFiles",
        "DeleteFile",
        "FileSystemSetConfiguration",
        "ImmutableConst",
        "Load",
        "LoadV2",
    ]
)


class _Scan:
    def __init__(self, ctx: FileContext, location: str) -> None:
        self.ctx = ctx
        self.location = location
        self.ops = 0

    def saved_model(self, src: ByteSource) -> None:
        for f, wt, v in fields(src, None):
            if f == 2 and wt == LEN:  # meta_graphs
                for f2, wt2, v2 in fields(src, src.pos + v):
                    if f2 == 2 and wt2 == LEN:  # graph_def
                        self.graph_def(src, src.pos + v2)

    def graph_def(self, src: ByteSource, end: int | None) -> None:
        for f, wt, v in fields(src, end):
            if wt != LEN:
                continue
            if f == 1:
                self.node(src, src.pos + v)
            elif f == 2:  # library: FunctionDefLibrary
                for f2, wt2, v2 in fields(src, src.pos + v):
                    if f2 == 1 and wt2 == LEN:  # FunctionDef
                        for f3, wt3, v3 in fields(src, src.pos + v2):
                            if f3 == 3 and wt3 == LEN:  # node_def
                                self.node(src, src.pos + v3)

    def node(self, src: ByteSource, end: int) -> None:
        op = ""
        for f, wt, v in fields(src, end):
            if f == 2 and wt == LEN:
                op = read_string(src, v, 256)
        self.ops += 1
        if op in _PY_OPS:
            self.ctx.add_issue(
                f"TensorFlow operator {op} runs Python code at run time",
                self.location,
                "PAIT-TF-300",
                None,
                op,
            )
        elif op in _FILE_OPS:
            self.ctx.add_issue(
                f"TensorFlow operator {op} reads or writes files at run time",
                self.location,
                "PAIT-TF-302",
                None,
                op,
            )
        elif ">" in op:
            self.ctx.add_issue(
                f"TensorFlow operator {printable(op)} comes from a custom op library",
                self.location,
                "PAIT-TF-301",
                None,
                printable(op, 256),
            )


_LAMBDA = re.compile(r'"class_name":\s*"Lambda"')


def scan_savedmodel(ctx: FileContext, src: ByteSource, location: str) -> None:
    """Scan ``saved_model.pb``, a frozen ``GraphDef`` or ``keras_metadata.pb``.

    Example:
        >>> from modelsec.scanner.limits import ScanLimits
        >>> node = b"\\x0a\\x01n\\x12\\x06PyFunc"
        >>> graph = b"\\x0a" + bytes([len(node)]) + node
        >>> meta = b"\\x12" + bytes([len(graph)]) + graph
        >>> blob = b"\\x08\\x01\\x12" + bytes([len(meta)]) + meta
        >>> ctx = FileContext("saved_model.pb", ScanLimits())
        >>> scan_savedmodel(ctx, ByteSource.from_bytes(blob), "saved_model.pb")
        >>> ctx.issues[0].threat
        'PAIT-TF-300'
    """
    base = posixpath.basename(location.split("!")[-1].lower())
    if base == "keras_metadata.pb":
        ctx.add_format("keras_metadata")
        text = src.read(ctx.limits.max_json_bytes).decode("utf-8", "replace")
        ctx.scanned = True
        if _LAMBDA.search(text):
            ctx.add_issue(
                "Lambda layer in Keras SavedModel metadata (Python bytecode)",
                location,
                "PAIT-KERAS-100",
                "keras.layers",
                "Lambda",
            )
        from modelsec.scanner.keras import check_keras_config

        for m in re.finditer(r'\{"class_name":', text):
            try:
                doc, _ = json.JSONDecoder().raw_decode(text, m.start())
            except ValueError:
                continue
            check_keras_config(ctx, doc, location)
            break
        return
    ctx.add_format("tensorflow")
    scan = _Scan(ctx, location)
    try:
        if base == "saved_model.pb":
            scan.saved_model(src)
        else:
            scan.graph_def(src, None)
    except ProtoError as exc:
        ctx.add_error(f"{location}: malformed TensorFlow protobuf ({exc})")
        if not scan.ops:
            return
    ctx.scanned = True
