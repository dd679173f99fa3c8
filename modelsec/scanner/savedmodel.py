"""TensorFlow SavedModel (``saved_model.pb``) and frozen GraphDef ``.pb`` files.

Every NodeDef - in the graph and in every function of its library - is judged by the operator
table generated from TensorFlow's own op registry (``modelsec/scanner/data/tf_ops.json``,
``scripts/gen_tf_ops.py``):

* ``python``/``process``/``network`` operators (``PyFunc``, RPC, tf.data service, cross-host
  send...) -> ``PAIT-TF-300``;
* file operators (readers, writers, record datasets, summary writers, ``ImmutableConst``...)
  -> ``PAIT-TF-302``. Operators that only do I/O when an attribute says so (``PrintV2`` to a
  ``file://`` stream, ``Debug*`` with ``debug_urls``, ``DecodeProtoV2`` with a descriptor
  file) are reported only then. The saver and asset operators every SavedModel holds
  (``SaveV2``, ``RestoreV2``, ``MergeV2Checkpoints``, ``InitializeTableFromTextFileV2``...) get
  their paths from the loader (the checkpoint prefix, the ``assets/`` file): they are reported
  only when their path argument folds, through the graph and across function calls, to a
  literal that leaves the model directory (absolute, ``..``, URL, drive) or cannot be folded;
* operators TensorFlow does not register, that are not functions of the model's own library
  (custom op libraries, ``Addons>...``) -> ``PAIT-TF-301``.

Keras' ``keras_metadata.pb`` carries the Keras config as JSON and gets the Keras checks.
"""

from __future__ import annotations

import functools
import json
import posixpath
import re
from importlib import resources

from modelsec.scanner.protobuf import LEN, ProtoError, fields, read_text
from modelsec.scanner.report import FileContext, printable
from modelsec.scanner.source import ByteSource
from modelsec.scanner.tf_paths import CALLER_OPS as _CALLER_OPS
from modelsec.scanner.tf_paths import FOLDED_OPS as _FOLDED
from modelsec.scanner.tf_paths import Graph, Node, Scope, fold_paths

__all__ = ["scan_savedmodel", "tf_op_category"]

_NAME_LIMIT = 4096
#: An attribute string longer than _NAME_LIMIT: unknown, judged as the worst case.
_LONG = "\x00<overlong>"
_DT_STRING = 7
#: Const string values kept for path folding (more, or longer, make the value "unknown").
_MAX_CONST_STRINGS = 16
#: Attributes kept from NodeDefs: call targets and the I/O-gating attributes.
_KEPT_ATTRS = frozenset(
    [
        "f",
        "then_branch",
        "else_branch",
        "cond",
        "body",
        "branches",
        "separator",
        "output_stream",
        "debug_urls",
        "descriptor_source",
        "vocab_file",
    ]
)

#: Ops whose path inputs (by index) come from the SavedModel loader: judged by their path.
_LOADER_PATHS: dict[str, tuple[int, ...]] = {
    "SaveV2": (0,),
    "RestoreV2": (0,),
    "MergeV2Checkpoints": (0, 1),
    "Save": (0,),
    "SaveSlices": (0,),
    "Restore": (0,),
    "RestoreSlice": (0,),
    "InitializeTableFromTextFile": (1,),
    "InitializeTableFromTextFileV2": (1,),
}


@functools.cache
def _table() -> dict[str, str]:
    text = (resources.files("modelsec.scanner") / "data" / "tf_ops.json").read_text("utf-8")
    ops = json.loads(text)["ops"]
    if not isinstance(ops, dict):
        raise ValueError("tf_ops.json: 'ops' is not an object")
    return {str(k): str(v) for k, v in ops.items()}


def tf_op_category(op: str) -> str | None:
    """The category of a registered TensorFlow operator, ``None`` when TensorFlow has none.

    Example:
        >>> tf_op_category("MatMul"), tf_op_category("PyFunc"), tf_op_category("ReadFile")
        ('known', 'python', 'file_read')
        >>> tf_op_category("Addons>Evil") is None
        True
    """
    return _table().get(op)


def _gated_io(node: Node) -> bool:
    """For ops that do I/O only when an attribute asks for it: does this node ask?"""
    a = node.attrs
    if any(_LONG in v for v in a.values()):
        return True
    if node.op == "PrintV2":
        return any(s.startswith("file://") for s in a.get("output_stream", []))
    if node.op.startswith("Debug") and "debug_urls" in a:
        return bool(a["debug_urls"])
    if node.op in ("DecodeProtoV2", "EncodeProto"):
        src = a.get("descriptor_source", ["local://"])
        return not all(s in ("", "local://") or s.startswith("bytes://") for s in src)
    if node.op == "FixedUnigramCandidateSampler":
        return any(a.get("vocab_file", []))
    return True


_GATED = frozenset(
    [
        "PrintV2",
        "DebugIdentity",
        "DebugIdentityV2",
        "DebugIdentityV3",
        "DebugNanCount",
        "DebugNumericSummary",
        "DecodeProtoV2",
        "EncodeProto",
        "FixedUnigramCandidateSampler",
    ]
)


class _Reader:
    """Reads GraphDefs into :class:`Graph` records (names, ops, inputs, a few attributes)."""

    def __init__(self, ctx: FileContext) -> None:
        self.ctx = ctx
        self.nodes = 0
        #: Approximate bytes of node records kept (bounded by max_proto_message_bytes).
        self.kept = 0
        #: Graphs read so far (a parse error keeps what was read, to be judged too).
        self.graphs: list[Graph] = []

    def saved_model(self, src: ByteSource) -> None:
        for f, wt, v in fields(src, None):
            if f == 2 and wt == LEN:  # meta_graphs
                graph = Graph()
                self.graphs.append(graph)
                for f2, wt2, v2 in fields(src, src.pos + v):
                    if wt2 != LEN:
                        continue
                    if f2 == 2:  # graph_def (repeated: merges)
                        self.graph_def(src, src.pos + v2, graph)
                    elif f2 == 3:  # saver_def: its filename tensor is fed by the loader
                        name = self._first_string(src, src.pos + v2, 1)
                        graph.fed.add(name.split(":", 1)[0])
                    elif f2 == 6:  # asset_file_def: tensor fed with assets/<filename>
                        self.asset(src, src.pos + v2, graph)
                    elif f2 == 4:  # collection_def: TF1 keeps its assets there
                        self.collection(src, src.pos + v2, graph)

    def collection(self, src: ByteSource, end: int, graph: Graph) -> None:
        """``collection_def["saved_model_assets"]``: AssetFileDefs packed in ``Any``s (TF1)."""
        key = ""
        for f, wt, v in fields(src, end):
            if f == 1 and wt == LEN:
                key = read_text(src, v, _NAME_LIMIT)
            elif f == 2 and wt == LEN and key == "saved_model_assets":
                for f2, wt2, v2 in fields(src, src.pos + v):
                    if f2 == 5 and wt2 == LEN:  # any_list: AnyList
                        for f3, wt3, v3 in fields(src, src.pos + v2):
                            if f3 == 1 and wt3 == LEN:  # Any
                                for f4, wt4, v4 in fields(src, src.pos + v3):
                                    if f4 == 2 and wt4 == LEN:  # value: AssetFileDef
                                        self.asset(src, src.pos + v4, graph)

    def asset(self, src: ByteSource, end: int, graph: Graph) -> None:
        tensor = filename = ""
        for f, wt, v in fields(src, end):
            if f == 1 and wt == LEN:  # tensor_info: TensorInfo, name = 1
                tensor = self._first_string(src, src.pos + v, 1)
            elif f == 2 and wt == LEN:
                filename = read_text(src, v, _NAME_LIMIT)
        graph.fed.add(tensor.split(":", 1)[0])
        graph.assets.append(filename)

    def _first_string(self, src: ByteSource, end: int, field: int) -> str:
        out = ""
        for f, wt, v in fields(src, end):
            if f == field and wt == LEN:
                out = read_text(src, v, _NAME_LIMIT)
        return out

    def frozen_graph(self, src: ByteSource) -> None:
        graph = Graph()
        self.graphs.append(graph)
        self.graph_def(src, None, graph)

    def graph_def(self, src: ByteSource, end: int | None, graph: Graph) -> None:
        for f, wt, v in fields(src, end):
            if wt != LEN:
                continue
            if f == 1:
                self.node(src, src.pos + v, graph.main)
            elif f == 2:  # library: FunctionDefLibrary
                for f2, wt2, v2 in fields(src, src.pos + v):
                    if f2 == 1 and wt2 == LEN:
                        self.function(src, src.pos + v2, graph)

    def function(self, src: ByteSource, end: int, graph: Graph) -> None:
        scope = Scope(is_function=True)
        name = ""
        for f, wt, v in fields(src, end):
            if f == 1 and wt == LEN:  # signature: OpDef
                for f2, wt2, v2 in fields(src, src.pos + v):
                    if f2 == 1 and wt2 == LEN:
                        name = read_text(src, v2, _NAME_LIMIT)
                    elif f2 == 2 and wt2 == LEN:  # input_arg: ArgDef
                        arg = ""
                        for f3, wt3, v3 in fields(src, src.pos + v2):
                            if f3 == 1 and wt3 == LEN:
                                arg = read_text(src, v3, _NAME_LIMIT)
                        scope.args.append(arg)
            elif f == 3 and wt == LEN:  # node_def
                self.node(src, src.pos + v, scope)
        scope.name = name
        if name in graph.functions:
            graph.shadowed.append(graph.functions[name])
        graph.functions[name] = scope

    def node(self, src: ByteSource, end: int, scope: Scope) -> None:
        self.nodes += 1
        node = Node()
        self._node_fields(src, end, node)
        # Keep only what the judgement and the path folding need: nodes of ops that are not
        # plain computation, and the string plumbing of paths. A graph of a million MatMuls
        # costs nothing; what is kept is charged to a budget (max_proto_message_bytes).
        category = tf_op_category(node.op)
        if category == "known" and node.op not in _FOLDED and node.op not in _CALLER_OPS:
            return
        if node.op == "Const" and node.strings is None:
            return
        self.kept += 96 + len(node.name) + len(node.op) + sum(len(i) + 48 for i in node.inputs)
        if self.kept > self.ctx.limits.max_proto_message_bytes:
            raise ProtoError("graph too large to analyse within max_proto_message_bytes")
        scope.add(node)

    def _node_fields(self, src: ByteSource, end: int, node: Node) -> None:
        for f, wt, v in fields(src, end):
            if wt != LEN:
                continue
            if f == 1:
                node.name = read_text(src, v, _NAME_LIMIT)
            elif f == 2:
                node.op = read_text(src, v, _NAME_LIMIT)
            elif f == 3:
                node.inputs.append(read_text(src, v, _NAME_LIMIT))
            elif f == 5:  # attr: map<string, AttrValue>
                self.attr_entry(src, src.pos + v, node)

    def attr_entry(self, src: ByteSource, end: int, node: Node) -> None:
        key = ""
        values: list[str] = []
        strings: list[str] | None = None
        for f, wt, v in fields(src, end):
            if f == 1 and wt == LEN:
                key = read_text(src, v, _NAME_LIMIT)
            elif f == 2 and wt == LEN:  # AttrValue (merges when repeated)
                for f2, wt2, v2 in fields(src, src.pos + v):
                    if wt2 != LEN:
                        continue
                    if f2 == 2:  # s
                        values = [self._bytes(src, v2)]
                    elif f2 == 10:  # func: NameAttrList
                        values = [self._func_name(src, src.pos + v2)]
                    elif f2 == 1:  # list: ListValue
                        values = self._list(src, src.pos + v2)
                    elif f2 == 8:  # tensor
                        strings = self._string_tensor(src, src.pos + v2)
        if key in _KEPT_ATTRS:
            node.attrs[key] = values
        elif key == "value":
            node.strings = strings

    def _bytes(self, src: ByteSource, n: int) -> str:
        # Attribute strings can be large (serialized MLIR modules, configs): never an error,
        # never read whole; only the few kept attributes look at the value.
        return _LONG if n > _NAME_LIMIT else read_text(src, n, _NAME_LIMIT)

    def _func_name(self, src: ByteSource, end: int) -> str:
        name = ""
        for f, wt, v in fields(src, end):
            if f == 1 and wt == LEN:
                name = read_text(src, v, _NAME_LIMIT)
        return name

    def _list(self, src: ByteSource, end: int) -> list[str]:
        out: list[str] = []
        for f, wt, v in fields(src, end):
            if wt == LEN and f == 2:
                out.append(self._bytes(src, v))
            elif wt == LEN and f == 9:
                out.append(self._func_name(src, src.pos + v))
        return out

    def _string_tensor(self, src: ByteSource, end: int) -> list[str] | None:
        """string_val of a DT_STRING tensor; ``None`` for other tensors or too many/long."""
        dtype = 0
        out: list[str] | None = []
        for f, wt, v in fields(src, end):
            if f == 1 and wt != LEN:
                dtype = v
            elif f == 8 and wt == LEN and out is not None:
                if len(out) >= _MAX_CONST_STRINGS or v > _NAME_LIMIT:
                    out = None
                else:
                    out.append(read_text(src, v, _NAME_LIMIT))
            elif f == 4 and wt == LEN:
                out = None  # tensor_content: packed, not a readable string list
        return out if dtype == _DT_STRING else None


class _Judge:
    def __init__(self, ctx: FileContext, location: str) -> None:
        self.ctx = ctx
        self.location = location

    def graph(self, graph: Graph) -> None:
        # The loader reads assets/<filename> (os.path.join: an absolute name replaces it).
        for filename in graph.assets:
            if _unsafe(filename):
                self._issue(
                    f"SavedModel asset {printable(filename)!r} leaves the assets directory",
                    "PAIT-TF-302",
                    "AssetFileDef",
                )
        graph.index_calls()
        for scope in graph.scopes():
            for node in scope.all:
                self.node(graph, scope, node)

    def node(self, graph: Graph, scope: Scope, node: Node) -> None:
        op = node.op
        category = tf_op_category(op)
        if category is None:
            if op not in graph.functions:
                self._issue(
                    f"TensorFlow operator {printable(op)} is not a TensorFlow operator nor a "
                    "function of the model (custom op library)",
                    "PAIT-TF-301",
                    op,
                )
            return
        if category in ("python", "process"):
            what = "runs Python code" if category == "python" else "starts a process"
            self._issue(f"TensorFlow operator {op} {what} at run time", "PAIT-TF-300", op)
        elif category == "network":
            self._issue(
                f"TensorFlow operator {op} talks to other hosts at run time", "PAIT-TF-300", op
            )
        elif category in ("file_read", "file_write"):
            self.file_op(graph, scope, node, category)

    def file_op(self, graph: Graph, scope: Scope, node: Node, category: str) -> None:
        op = node.op
        verb = "reads" if category == "file_read" else "writes"
        if op in _GATED and not _gated_io(node):
            return
        if op not in _LOADER_PATHS:
            self._issue(f"TensorFlow operator {op} {verb} files at run time", "PAIT-TF-302", op)
            return
        for index in _LOADER_PATHS[op]:
            if index >= len(node.inputs):
                continue
            paths = fold_paths(graph, scope, node.inputs[index])
            if paths is None:
                self._issue(
                    f"TensorFlow operator {op} {verb} a file whose path is computed at run time "
                    "(not the loader's checkpoint or asset path)",
                    "PAIT-TF-302",
                    op,
                )
                return
            bad = sorted(p for p in paths if _unsafe(p))
            if bad:
                shown = printable(bad[0])
                self._issue(
                    f"TensorFlow operator {op} {verb} a file outside the model: {shown!r}",
                    "PAIT-TF-302",
                    op,
                )
                return

    def _issue(self, description: str, threat: str, op: str) -> None:
        self.ctx.add_issue(description, self.location, threat, None, printable(op, 256))


def _unsafe(path: str) -> bool:
    from modelsec.scanner.onnx import unsafe_location

    return unsafe_location(path)


_LAMBDA = re.compile(r'"class_name":\s*"Lambda"')


def _scan_keras_metadata(ctx: FileContext, src: ByteSource, location: str) -> None:
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
        _scan_keras_metadata(ctx, src, location)
        return
    ctx.add_format("tensorflow")
    try:
        _table()
    except (OSError, ValueError) as exc:
        ctx.add_error(f"{location}: TensorFlow operator table unavailable ({exc})")
        return
    reader = _Reader(ctx)
    judge = _Judge(ctx, location)
    # SavedModel starts with saved_model_schema_version (a varint); a GraphDef with nodes.
    is_saved_model = base == "saved_model.pb" or src.peek(1) == b"\x08"
    try:
        if is_saved_model:
            reader.saved_model(src)
        else:
            reader.frozen_graph(src)
    except ProtoError as exc:
        ctx.add_error(f"{location}: malformed TensorFlow protobuf ({exc})")
        if not reader.nodes:
            return
    for graph in reader.graphs:
        judge.graph(graph)
    ctx.scanned = True
