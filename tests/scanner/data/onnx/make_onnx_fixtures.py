"""Generate the ONNX fixtures of tests/scanner/test_onnx.py (run with onnx installed).

    python tests/scanner/data/onnx/make_onnx_fixtures.py        # (re)write the fixtures

Benign models are built with ``onnx.helper`` and checked with ``onnx.checker`` (and loaded by
onnxruntime when it is installed); malicious ones are built the same way and then edited, or
written field by field in an order no serializer uses (protobuf parsers accept any order).
Everything is tiny and deterministic. Pinned: onnx==1.23.2 (onnxruntime==1.31.1 optional).
"""

from __future__ import annotations

import os
import shutil
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
OPSET = [helper.make_opsetid("", 17)]
F32 = TensorProto.FLOAT


def _model(graph: onnx.GraphProto, **kw: object) -> onnx.ModelProto:
    kw.setdefault("opset_imports", OPSET)
    m = helper.make_model(graph, producer_name="modelsec-fixtures", **kw)  # type: ignore[arg-type]
    m.ir_version = 8 if not m.functions else 10
    return m


def _io(name: str, n: int = 4) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, F32, [n])


def plain() -> onnx.ModelProto:
    w = numpy_helper.from_array(np.arange(4, dtype=np.float32), "w")
    nodes = [helper.make_node("Add", ["x", "w"], ["s"]), helper.make_node("Relu", ["s"], ["y"])]
    return _model(helper.make_graph(nodes, "plain", [_io("x")], [_io("y")], [w]))


def local_functions() -> onnx.ModelProto:
    # custom.fn::Inner is used by custom.fn::Outer, which the graph calls: both defined here.
    inner = helper.make_function(
        "custom.fn", "Inner", ["a"], ["b"], [helper.make_node("Relu", ["a"], ["b"])], OPSET
    )
    outer = helper.make_function(
        "custom.fn",
        "Outer",
        ["a"],
        ["b"],
        [
            helper.make_node("Inner", ["a"], ["t"], domain="custom.fn"),
            helper.make_node("Neg", ["t"], ["b"]),
        ],
        [*OPSET, helper.make_opsetid("custom.fn", 1)],
    )
    node = helper.make_node("Outer", ["x"], ["y"], domain="custom.fn")
    g = helper.make_graph([node], "fn", [_io("x")], [_io("y")])
    return _model(
        g, opset_imports=[*OPSET, helper.make_opsetid("custom.fn", 1)], functions=[inner, outer]
    )


def sparse() -> onnx.ModelProto:
    values = numpy_helper.from_array(np.array([1.0, 2.0], dtype=np.float32), "sp")
    indices = numpy_helper.from_array(np.array([1, 3], dtype=np.int64), "sp_idx")
    sp = helper.make_sparse_tensor(values, indices, [4])
    node = helper.make_node("Add", ["x", "sp"], ["y"])
    g = helper.make_graph([node], "sparse", [_io("x")], [_io("y")], sparse_initializer=[sp])
    return _model(g)


def subgraphs() -> onnx.ModelProto:
    def branch(name: str, value: float) -> onnx.GraphProto:
        c = helper.make_node(
            "Constant",
            [],
            [name],
            value=numpy_helper.from_array(np.full(4, value, dtype=np.float32), name + "_t"),
        )
        return helper.make_graph([c], name + "_g", [], [_io(name)])

    cond = helper.make_tensor_value_info("cond", TensorProto.BOOL, [])
    if_node = helper.make_node(
        "If", ["cond"], ["r"], then_branch=branch("then", 1.0), else_branch=branch("else", 2.0)
    )
    # Loop body: (iter, cond, carried) -> (cond, carried + 1)
    one = numpy_helper.from_array(np.ones(4, dtype=np.float32), "one")
    body = helper.make_graph(
        [
            helper.make_node("Identity", ["c_in"], ["c_out"]),
            helper.make_node("Constant", [], ["k"], value=one),
            helper.make_node("Add", ["v_in", "k"], ["v_out"]),
        ],
        "body",
        [
            helper.make_tensor_value_info("i", TensorProto.INT64, []),
            helper.make_tensor_value_info("c_in", TensorProto.BOOL, []),
            _io("v_in"),
        ],
        [helper.make_tensor_value_info("c_out", TensorProto.BOOL, []), _io("v_out")],
    )
    trip = numpy_helper.from_array(np.array(3, dtype=np.int64), "trip")
    loop = helper.make_node("Loop", ["trip", "cond", "r"], ["y"], body=body)
    g = helper.make_graph([if_node, loop], "sub", [cond], [_io("y")], [trip])
    return _model(g)


def microsoft_op() -> onnx.ModelProto:
    node = helper.make_node("FusedMatMul", ["a", "b"], ["y"], domain="com.microsoft", alpha=1.0)
    g = helper.make_graph(
        [node],
        "ms",
        [
            helper.make_tensor_value_info("a", F32, [2, 2]),
            helper.make_tensor_value_info("b", F32, [2, 2]),
        ],
        [helper.make_tensor_value_info("y", F32, [2, 2])],
    )
    return _model(g, opset_imports=[*OPSET, helper.make_opsetid("com.microsoft", 1)])


def _write(name: str, m: onnx.ModelProto, check: bool = True) -> None:
    if check:
        # Shape inference knows no sparse inputs; onnxruntime densifies sparse initializers.
        onnx.checker.check_model(m, full_check=not m.graph.sparse_initializer)
    with open(os.path.join(HERE, name), "wb") as fh:
        fh.write(m.SerializeToString(deterministic=True))


def _key(field: int, wt: int) -> bytes:
    return _varint(field << 3 | wt)


def _varint(n: int) -> bytes:
    out = b""
    while True:
        b, n = n & 0x7F, n >> 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def _len(field: int, payload: bytes) -> bytes:
    return _key(field, 2) + _varint(len(payload)) + payload


def _set_external(t: onnx.TensorProto, location: str) -> None:
    t.ClearField("raw_data")
    t.ClearField("float_data")
    t.ClearField("int64_data")
    t.data_location = TensorProto.EXTERNAL
    entry = t.external_data.add()
    entry.key, entry.value = "location", location


def main() -> int:
    for name in os.listdir(HERE):
        if name != os.path.basename(__file__) and not name.startswith("__"):
            path = os.path.join(HERE, name)
            shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)

    # --- benign ---------------------------------------------------------------------------
    _write("plain.onnx", plain())
    _write("local_functions.onnx", local_functions())
    _write("sparse_initializer.onnx", sparse())
    _write("subgraphs.onnx", subgraphs())
    _write("microsoft_domain.onnx", microsoft_op())
    ext_dir = os.path.join(HERE, "external")
    os.makedirs(ext_dir)
    m = plain()
    onnx.save_model(
        m,
        os.path.join(ext_dir, "model.onnx"),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location="weights.bin",
        size_threshold=0,
    )
    onnx.checker.check_model(os.path.join(ext_dir, "model.onnx"))

    # The local-functions model with its fields in reverse order (functions before the graph,
    # opset imports after it, ir_version last): the same model to every protobuf parser.
    m = local_functions()
    reordered = b"".join(_len(25, f.SerializeToString()) for f in m.functions)
    reordered += _len(7, m.graph.SerializeToString())
    reordered += b"".join(_len(8, o.SerializeToString()) for o in m.opset_import)
    reordered += _len(2, m.producer_name.encode()) + _key(1, 0) + _varint(m.ir_version)
    assert onnx.load_from_string(reordered) == m
    with open(os.path.join(HERE, "reordered_local_functions.bin"), "wb") as fh:
        fh.write(reordered)

    # --- malicious ------------------------------------------------------------------------
    # Fields in reverse order (functions, graph, opsets, then ir_version last), a node whose
    # op_type is written twice (protobuf keeps the last: "Evil"), from a domain that has a
    # local function - but not one called "Evil".
    fn = helper.make_function(
        "com.evil", "Helper", ["a"], ["b"], [helper.make_node("Relu", ["a"], ["b"])], OPSET
    )
    node = helper.make_node("Helper", ["x"], ["y"], domain="com.evil")
    node_bytes = node.SerializeToString() + _len(4, b"Evil")  # op_type again: last one wins
    g = helper.make_graph([], "reordered", [_io("x")], [_io("y")])
    graph_bytes = _len(1, node_bytes) + g.SerializeToString()
    model = (
        _len(25, fn.SerializeToString())
        + _len(7, graph_bytes)
        + _len(8, helper.make_opsetid("com.evil", 1).SerializeToString())
        + _len(8, OPSET[0].SerializeToString())
        + _key(1, 0)
        + _varint(10)
    )
    parsed = onnx.load_from_string(model)
    assert parsed.graph.node[0].op_type == "Evil" and parsed.ir_version == 10, parsed
    with open(os.path.join(HERE, "reordered_custom_op.onnx"), "wb") as fh:
        fh.write(model)

    # Sparse initializer whose values live "externally" in /etc/passwd.
    m = sparse()
    _set_external(m.graph.sparse_initializer[0].values, "/etc/passwd")
    _write("sparse_external_passwd.onnx", m, check=False)

    # A Constant inside the Loop body (a subgraph) reading ../../x.
    m = subgraphs()
    body = next(a.g for a in m.graph.node[1].attribute if a.name == "body")
    const = next(n for n in body.node if n.op_type == "Constant")
    _set_external(const.attribute[0].t, "../../x")
    _write("subgraph_external_escape.onnx", m, check=False)

    # A function body whose Constant reads an absolute path.
    m = local_functions()
    k = numpy_helper.from_array(np.ones(4, dtype=np.float32), "k")
    _set_external(k, "/root/.ssh/id_rsa")
    m.functions[0].node.append(helper.make_node("Constant", [], ["k"], value=k))
    _write("function_external_abs.onnx", m, check=False)

    # ONNX content under a name that says nothing ("model.bin"), with a custom operator.
    evil = helper.make_node("Evil", ["x"], ["y"], domain="com.evil")
    m = _model(
        helper.make_graph([evil], "misnamed", [_io("x")], [_io("y")]),
        opset_imports=[*OPSET, helper.make_opsetid("com.evil", 1)],
    )
    _write("model.bin", m, check=False)

    _verify_with_onnxruntime()
    return 0


def _verify_with_onnxruntime() -> None:
    """The benign fixtures are models onnxruntime actually accepts (when it is installed)."""
    try:
        import onnxruntime as ort
    except ImportError:
        print("onnxruntime not installed: benign fixtures not load-tested", file=sys.stderr)
        return
    for name in (
        "plain.onnx",
        "local_functions.onnx",
        "sparse_initializer.onnx",
        "subgraphs.onnx",
        "microsoft_domain.onnx",
        "external/model.onnx",
        "reordered_local_functions.bin",
    ):
        ort.InferenceSession(os.path.join(HERE, name), providers=["CPUExecutionProvider"])


if __name__ == "__main__":
    raise SystemExit(main())
