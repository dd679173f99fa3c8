"""ONNX models read with the minimal protobuf reader (weights are skipped, never read).

Findings (``PAIT-ONNX-200``):

* operators that resolve neither to a standard domain, nor to a domain onnxruntime ships in its
  default build, nor to a function the model defines itself (``ModelProto.functions``, matched
  on domain, name and overload): they need a native operator library loaded at session creation;
* Python operators (onnxruntime-extensions ``PyOp``), whatever defines them;
* tensors whose external data location leaves the model directory (absolute, ``..``, drive
  letters, URLs, onnxruntime's in-memory address marker): the runtime would read any file the
  path names. Every tensor is checked: initializers, sparse initializers (values and indices),
  node attributes (``t``, ``tensors``, ``sparse_tensor(s)``), in subgraphs (``If``/``Loop``/
  ``Scan`` bodies, recursively), training graphs and function bodies.

The wire format is read field by field in whatever order the bytes hold (a reordered or
repeated field is judged as protobuf would merge it), everything is collected first and judged
once the whole model has been read: a function defined after the graph still resolves the
graph's nodes. A malformed protobuf is an error (fail closed), never a partial pass.
"""

from __future__ import annotations

import re
from typing import TypeVar

from modelsec.scanner.archive import escapes
from modelsec.scanner.protobuf import LEN, VARINT, ProtoError, fields, read_text
from modelsec.scanner.report import FileContext, printable
from modelsec.scanner.source import ByteSource

__all__ = ["KNOWN_DOMAINS", "is_onnx_model", "scan_onnx", "unsafe_location"]

#: Operator domains that need no extra native library: the ONNX standard ones (``onnx.defs``
#: schemas: "", ai.onnx.ml, ai.onnx.preview(.training); "ai.onnx" is the alias of "", and
#: ai.onnx.training its former name) and those onnxruntime registers in its default build
#: (``get_all_operator_schema()`` of onnxruntime 1.31: com.microsoft, com.microsoft.nchwc,
#: com.ms.internal.nhwc), plus com.microsoft.dml (built into the official DirectML package).
#: Not listed, so reported: ai.onnx.contrib (onnxruntime-extensions), org.pytorch.aten (the
#: training build's callback into PyTorch), any vendor domain.
KNOWN_DOMAINS = frozenset(
    [
        "",
        "ai.onnx",
        "ai.onnx.ml",
        "ai.onnx.preview",
        "ai.onnx.training",
        "ai.onnx.preview.training",
        "com.microsoft",
        "com.microsoft.nchwc",
        "com.ms.internal.nhwc",
        "com.microsoft.dml",
    ]
)
_PYTHON_OPS = frozenset(["PyOp", "PythonOp", "PyFunc", "PythonOpV2"])
_THREAT = "PAIT-ONNX-200"
_T = TypeVar("_T")
_MAX_GRAPH_DEPTH = 16
_NAME_LIMIT = 4096
# A scheme ("file:", "https:", "gs:") or a Windows drive ("C:") in front of a path.
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")

# ModelProto (field -> wire type), for identification: every top-level field must be one of
# these with its declared encoding.
_MODEL_FIELDS = {
    1: VARINT,
    2: LEN,
    3: LEN,
    4: LEN,
    5: VARINT,
    6: LEN,
    7: LEN,
    8: LEN,
    14: LEN,
    20: LEN,
    25: LEN,
    26: LEN,
}
_GRAPH_FIELDS = frozenset([1, 2, 5, 10, 11, 12, 13, 14, 15, 16])  # all length-delimited


def unsafe_location(path: str) -> bool:
    """Whether an external-data path can name a file outside the model's directory.

    Example:
        >>> [unsafe_location(p) for p in ("w/a.bin", "/etc/passwd", "../x", "C:\\\\x")]
        [False, True, True, True]
        >>> unsafe_location("https://host/w"), unsafe_location("*/_ORT_MEM_ADDR_/*")
        (True, True)
    """
    return (
        escapes(path)
        or bool(_SCHEME.match(path))
        or path.startswith("\\\\")
        or "\x00" in path
        # onnxruntime reads "*/_ORT_MEM_ADDR_/*" locations from a raw process address (only
        # meant for models built in memory by its own API, never for a file on disk).
        or "_ORT_MEM_ADDR_" in path
    )


class _Scan:
    def __init__(self, ctx: FileContext, location: str) -> None:
        self.ctx = ctx
        self.location = location
        self.nodes = 0
        #: Approximate bytes of the names remembered (bounded by max_proto_message_bytes).
        self.kept = 0
        self.saw_graph = False
        #: (domain, op_type, overload) of every node anywhere in the model.
        self.uses: set[tuple[str, str, str]] = set()
        #: (domain, name, overload) of every function the model defines.
        self.defined: set[tuple[str, str, str]] = set()
        self.opsets: set[str] = set()
        self.bad_locations: list[str] = []

    # --- reading --------------------------------------------------------------------------

    def model(self, src: ByteSource) -> None:
        for f, wt, v in fields(src, None):
            if wt != LEN:
                continue
            end = src.pos + v
            if f == 7:
                self.saw_graph = True
                self.graph(src, end, 0)
            elif f == 8:
                self.opset(src, end)
            elif f == 20:  # training_info: initialization / algorithm graphs
                for f2, wt2, v2 in fields(src, end):
                    if wt2 == LEN and f2 in (1, 2):
                        self.graph(src, src.pos + v2, 0)
            elif f == 25:
                self.function(src, end)

    def opset(self, src: ByteSource, end: int) -> None:
        domain = ""
        for f, wt, v in fields(src, end):
            if f == 1 and wt == LEN:
                domain = read_text(src, v, _NAME_LIMIT)
        self._keep(self.opsets, domain, len(domain))

    def function(self, src: ByteSource, end: int) -> None:
        name = domain = overload = ""
        for f, wt, v in fields(src, end):
            if wt != LEN:
                continue
            if f == 1:
                name = read_text(src, v, _NAME_LIMIT)
            elif f == 10:
                domain = read_text(src, v, _NAME_LIMIT)
            elif f == 13:
                overload = read_text(src, v, _NAME_LIMIT)
            elif f == 7:
                self.node(src, src.pos + v, 0)
            elif f == 11:  # attribute_proto: default attribute values
                self.attribute(src, src.pos + v, 0)
            elif f == 9:
                self.opset(src, src.pos + v)
        key = (_norm(domain), name, overload)
        self._keep(self.defined, key, len(domain) + len(name) + len(overload))

    def graph(self, src: ByteSource, end: int, depth: int) -> None:
        if depth > _MAX_GRAPH_DEPTH:
            raise ProtoError(f"subgraphs nested deeper than {_MAX_GRAPH_DEPTH}")
        for f, wt, v in fields(src, end):
            if wt != LEN:
                continue
            if f == 1:
                self.node(src, src.pos + v, depth)
            elif f == 5:  # initializer
                self.tensor(src, src.pos + v)
            elif f == 15:  # sparse_initializer
                self.sparse_tensor(src, src.pos + v)

    def node(self, src: ByteSource, end: int, depth: int) -> None:
        self.nodes += 1
        op = domain = overload = ""
        for f, wt, v in fields(src, end):
            if wt != LEN:
                continue
            if f == 4:
                op = read_text(src, v, _NAME_LIMIT)
            elif f == 7:
                domain = read_text(src, v, _NAME_LIMIT)
            elif f == 8:
                overload = read_text(src, v, _NAME_LIMIT)
            elif f == 5:
                self.attribute(src, src.pos + v, depth)
        key = (_norm(domain), op, overload)
        self._keep(self.uses, key, len(domain) + len(op) + len(overload))

    def attribute(self, src: ByteSource, end: int, depth: int) -> None:
        for f, wt, v in fields(src, end):
            if wt != LEN:
                continue
            if f in (6, 11):  # g, graphs
                self.graph(src, src.pos + v, depth + 1)
            elif f in (5, 10):  # t, tensors
                self.tensor(src, src.pos + v)
            elif f in (22, 23):  # sparse_tensor, sparse_tensors
                self.sparse_tensor(src, src.pos + v)

    def sparse_tensor(self, src: ByteSource, end: int) -> None:
        for f, wt, v in fields(src, end):
            if wt == LEN and f in (1, 2):  # values, indices
                self.tensor(src, src.pos + v)

    def tensor(self, src: ByteSource, end: int) -> None:
        # raw_data (9) and the typed arrays are skipped by `fields`, never read. Every
        # "location" entry is checked, whatever data_location says and whichever entry
        # a loader would keep: a superset of what any loader follows.
        for f, wt, v in fields(src, end):
            if f == 13 and wt == LEN:  # external_data: StringStringEntryProto
                key = value = ""
                for f2, wt2, v2 in fields(src, src.pos + v):
                    if wt2 == LEN and f2 == 1:
                        key = read_text(src, v2, _NAME_LIMIT)
                    elif wt2 == LEN and f2 == 2:
                        value = read_text(src, v2, _NAME_LIMIT)
                if key == "location" and unsafe_location(value) and len(self.bad_locations) < 8:
                    self.bad_locations.append(value)  # a few examples are enough to report

    def _keep(self, into: set[_T], item: _T, size: int) -> None:
        """Remember ``item`` (distinct names only), charged to max_proto_message_bytes."""
        if item in into:
            return
        self.kept += size + 96
        if self.kept > self.ctx.limits.max_proto_message_bytes:
            raise ProtoError("more distinct names than max_proto_message_bytes allows")
        into.add(item)

    # --- judging --------------------------------------------------------------------------

    def judge(self) -> None:
        for value in self.bad_locations:
            self.ctx.add_issue(
                f"ONNX tensor external data path leaves the model directory: {printable(value)!r}",
                self.location,
                _THREAT,
                None,
                "external_data",
            )
        local_domains = {d for d, _n, _o in self.defined}
        for domain, op, overload in sorted(self.uses):
            if op in _PYTHON_OPS or (domain == "ai.onnx.contrib" and op.startswith("Py")):
                self.ctx.add_issue(
                    f"ONNX operator {printable(op)} runs Python code inside the runtime",
                    self.location,
                    _THREAT,
                    printable(domain, 256),
                    printable(op, 256),
                )
            elif domain not in KNOWN_DOMAINS and (domain, op, overload) not in self.defined:
                self._custom(domain, op)
        for domain in sorted(self.opsets):
            if _norm(domain) not in KNOWN_DOMAINS and _norm(domain) not in local_domains:
                self._custom(domain, None)

    def _custom(self, domain: str, op: str | None) -> None:
        what = f"operator {printable(op)}" if op is not None else "opset import"
        self.ctx.add_issue(
            f"ONNX {what} from custom domain {printable(domain)!r} is not defined by the model "
            "and needs a native operator library loaded at session creation",
            self.location,
            _THREAT,
            printable(domain, 256),
            printable(op, 256) if op is not None else None,
        )


def _norm(domain: str) -> str:
    return "" if domain == "ai.onnx" else domain


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
    # A model cut before its graph is complete is still recognisably ONNX (an error, then).
    starts_like_onnx = is_onnx_model(src.peek(4096))
    try:
        scan.model(src)
    except ProtoError as exc:
        if not starts_like_onnx:
            # Not recognisably ONNX (e.g. a TensorFlow fingerprint.pb, whose field 7 is a
            # string): the caller decides what else it may be.
            return False
        ctx.add_format("onnx")
        ctx.scanned = True
        scan.judge()
        ctx.add_error(f"{location}: malformed ONNX protobuf ({exc})")
        return True
    if not scan.saw_graph:
        return False
    ctx.add_format("onnx")
    ctx.scanned = True
    scan.judge()
    return True


def _prefix_fields(
    buf: bytes, pos: int, end: int
) -> tuple[list[tuple[int, int, int]], bool] | None:
    """``(field, wire type, payload end)`` of the message ``buf[pos:end]`` and whether it is
    cut short by ``end`` (a prefix: its last field listed as far as it goes); bytes that
    cannot be protobuf give ``None``.
    """
    out: list[tuple[int, int, int]] = []
    while pos < end:
        key, pos = _varint(buf, pos, end)
        if key < 0:
            return out, True
        field, wt = key >> 3, key & 7
        if field == 0:
            return None
        if wt == VARINT:
            value, pos = _varint(buf, pos, end)
            if value < 0:
                return out, True
        elif wt in (1, 5):
            pos += 8 if wt == 1 else 4
        elif wt == LEN:
            n, pos = _varint(buf, pos, end)
            if n < 0:
                return out, True
            out.append((field, wt, pos))
            pos += n
            out[-1] = (field, wt, pos)
            continue
        else:
            return None
        out.append((field, wt, pos))
    return out, pos > end


def _varint(buf: bytes, pos: int, end: int) -> tuple[int, int]:
    result = 0
    for shift in range(0, 70, 7):
        if pos >= end:
            return -1, pos
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
    return -2, end


def is_onnx_model(head: bytes, size: int | None = None) -> bool:
    """Whether ``head`` (the first bytes of a file of ``size`` bytes) is an ONNX ModelProto,
    by structure alone, whatever the file is called and in whatever order its fields come.

    Strict: every top-level field is a ModelProto field with its declared encoding, a ``graph``
    field starts within ``head``, and as much of the graph as ``head`` holds parses as
    GraphProto fields. ``head`` may be a prefix (4 KiB is plenty); when ``size`` says it is the
    whole file, the message must also end exactly at its end.

    Example:
        >>> node = b"\\x22\\x04Relu"
        >>> graph = b"\\x0a" + bytes([len(node)]) + node
        >>> model = b"\\x3a" + bytes([len(graph)]) + graph + b"\\x08\\x09"  # graph first
        >>> is_onnx_model(model, len(model)), is_onnx_model(b"\\x08\\x09", 2)
        (True, False)
        >>> is_onnx_model(b'{"a": 1}', 8), is_onnx_model(b"\\x80\\x04\\x95", 3)
        (False, False)
    """
    whole = size is not None and len(head) >= size
    top = _prefix_fields(head, 0, len(head))
    if top is None or not top[0] or (whole and top[1]):
        return False
    graph: tuple[int, int] | None = None
    start = 0
    for field, wt, stop in top[0]:
        if _MODEL_FIELDS.get(field) != wt:
            return False
        if field == 7 and graph is None:
            graph = (start, stop)
        start = stop
    if graph is None:
        return False
    # Find where the graph's payload begins: re-read its key and length.
    _key, pos = _varint(head, graph[0], len(head))
    n, pos = _varint(head, pos, len(head))
    if n < 0:
        return False
    inner = _prefix_fields(head, pos, min(pos + n, len(head)))
    return inner is not None and all(f in _GRAPH_FIELDS and wt == LEN for f, wt, _e in inner[0])
