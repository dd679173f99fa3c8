"""ONNX models read with the minimal protobuf reader (weights are skipped, never read).

Findings (``PAIT-ONNX-200``): operators from custom domains (they need a native library that
runs at session creation), Python operators (onnxruntime-extensions ``PyOp``), and tensors whose
external data path leaves the model directory (``../``, absolute): the runtime would read any
file the path names.
"""

from __future__ import annotations

from modelsec.scanner.archive import escapes
from modelsec.scanner.protobuf import LEN, VARINT, ProtoError, fields, read_string
from modelsec.scanner.report import FileContext, printable
from modelsec.scanner.source import ByteSource

__all__ = ["KNOWN_DOMAINS", "scan_onnx"]

#: Operator domains implemented by the ONNX standard and onnxruntime itself.
KNOWN_DOMAINS = frozenset(
    [
        "",
        "ai.onnx",
        "ai.onnx.ml",
        "ai.onnx.training",
        "ai.onnx.preview.training",
        "com.microsoft",
        "com.microsoft.nchwc",
        "com.microsoft.experimental",
        "com.ms.internal.nhwc",
        "com.microsoft.dml",
        "org.pytorch.aten",
    ]
)
_PYTHON_OPS = frozenset(["PyOp", "PythonOp", "PyFunc", "PythonOpV2"])
_THREAT = "PAIT-ONNX-200"
_MAX_GRAPH_DEPTH = 16


class _Scan:
    def __init__(self, ctx: FileContext, location: str) -> None:
        self.ctx = ctx
        self.location = location
        self.nodes = 0

    def model(self, src: ByteSource) -> bool:
        saw_graph = False
        saw_version = False
        for f, wt, v in fields(src, None):
            if f == 1 and wt == VARINT:
                saw_version = True
            elif f == 7 and wt == LEN:
                saw_graph = True
                self.graph(src, src.pos + v, 0)
            elif f == 8 and wt == LEN:
                self.opset(src, src.pos + v)
            elif f == 25 and wt == LEN:
                self.function(src, src.pos + v)
            elif f > 30:
                raise ProtoError(f"unknown ModelProto field {f}")
        return saw_graph or saw_version

    def opset(self, src: ByteSource, end: int) -> None:
        for f, wt, v in fields(src, end):
            if f == 1 and wt == LEN:
                self.domain(read_string(src, v), None)

    def function(self, src: ByteSource, end: int) -> None:
        for f, wt, v in fields(src, end):
            if f == 7 and wt == LEN:
                self.node(src, src.pos + v, 0)

    def graph(self, src: ByteSource, end: int, depth: int) -> None:
        if depth > _MAX_GRAPH_DEPTH:
            raise ProtoError("subgraphs nested too deep")
        for f, wt, v in fields(src, end):
            if wt != LEN:
                continue
            if f == 1:
                self.node(src, src.pos + v, depth)
            elif f in (5, 15):  # initializer, sparse_initializer
                self.tensor(src, src.pos + v)

    def node(self, src: ByteSource, end: int, depth: int) -> None:
        self.nodes += 1
        op = domain = ""
        for f, wt, v in fields(src, end):
            if wt != LEN:
                continue
            if f == 4:
                op = read_string(src, v, 256)
            elif f == 7:
                domain = read_string(src, v, 256)
            elif f == 5:
                self.attribute(src, src.pos + v, depth)
        if op in _PYTHON_OPS or (domain == "ai.onnx.contrib" and op.startswith("Py")):
            self.ctx.add_issue(
                f"ONNX operator {printable(op)} runs Python code inside the runtime",
                self.location,
                _THREAT,
                printable(domain, 256),
                printable(op, 256),
            )
        else:
            self.domain(domain, op)

    def attribute(self, src: ByteSource, end: int, depth: int) -> None:
        for f, wt, v in fields(src, end):
            if wt == LEN and f in (6, 11):  # g, graphs
                self.graph(src, src.pos + v, depth + 1)
            elif wt == LEN and f in (5, 10):  # t, tensors
                self.tensor(src, src.pos + v)

    def tensor(self, src: ByteSource, end: int) -> None:
        for f, wt, v in fields(src, end):
            if f == 13 and wt == LEN:  # external_data: StringStringEntryProto
                key = value = ""
                for f2, wt2, v2 in fields(src, src.pos + v):
                    if wt2 == LEN and f2 == 1:
                        key = read_string(src, v2)
                    elif wt2 == LEN and f2 == 2:
                        value = read_string(src, v2)
                if key == "location" and escapes(value):
                    self.ctx.add_issue(
                        f"ONNX tensor external data path leaves the model directory: "
                        f"{printable(value)!r}",
                        self.location,
                        _THREAT,
                        None,
                        "external_data",
                    )

    def domain(self, domain: str, op: str | None) -> None:
        if domain not in KNOWN_DOMAINS:
            what = f"operator {printable(op)}" if op else "opset import"
            self.ctx.add_issue(
                f"ONNX {what} from custom domain {printable(domain)!r} needs a native operator "
                "library loaded at session creation",
                self.location,
                _THREAT,
                printable(domain, 256),
                printable(op, 256) if op else None,
            )


def scan_onnx(ctx: FileContext, src: ByteSource, location: str) -> bool:
    """Scan an ONNX ModelProto; returns ``False`` when the content is not a protobuf at all
    (so the caller can try other parsers).

    Example:
        >>> from modelsec.scanner.limits import ScanLimits
        >>> ctx = FileContext("m.onnx", ScanLimits())
        >>> node = b"\\x22\\x04Evil" + b"\\x3a\\x07my.corp"  # op_type, domain
        >>> graph = b"\\x0a" + bytes([len(node)]) + node
        >>> model = b"\\x08\\x08" + b"\\x3a" + bytes([len(graph)]) + graph
        >>> scan_onnx(ctx, ByteSource.from_bytes(model), "m.onnx")
        True
        >>> ctx.issues[0].threat, ctx.issues[0].operator
        ('PAIT-ONNX-200', 'Evil')
    """
    scan = _Scan(ctx, location)
    try:
        ok = scan.model(src)
    except ProtoError as exc:
        if scan.nodes == 0 and not ctx.issues:
            return False
        ctx.add_format("onnx")
        ctx.scanned = True
        ctx.add_error(f"{location}: malformed ONNX protobuf ({exc})")
        return True
    if not ok:
        return False
    ctx.add_format("onnx")
    ctx.scanned = True
    return True
