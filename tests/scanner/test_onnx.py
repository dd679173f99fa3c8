"""ONNX: parsed as protobuf (any field order), every external-data path checked, custom
operators resolved against the model's own functions.

The ``data/onnx`` fixtures are real models written by ``onnx.helper`` (regenerate with
``data/onnx/make_onnx_fixtures.py``); the benign ones load in onnxruntime.
"""

from __future__ import annotations

import pathlib

import pytest
import scanner_builders as B
from conftest import threats_of

from modelsec.scanner import ScanLimits, scan_path
from modelsec.scanner.onnx import is_onnx_model, scan_onnx, unsafe_location
from modelsec.scanner.report import FileContext
from modelsec.scanner.source import ByteSource
from modelsec.types.data import ModelScanIssue

DATA = pathlib.Path(__file__).parent / "data" / "onnx"
ONNX200 = "PAIT-ONNX-200"


def _scan(data: bytes, name: str = "m.onnx") -> FileContext:
    ctx = FileContext(name, ScanLimits())
    assert scan_onnx(ctx, ByteSource.from_bytes(data), name)
    return ctx


def _ops(issues: list[ModelScanIssue]) -> set[tuple[str | None, str | None]]:
    return {(i.module, i.operator) for i in issues if i.threat == ONNX200}


# --- hand-built protobuf pieces ----------------------------------------------------------


def node(op: str, domain: str = "", *, attrs: bytes = b"", overload: str = "") -> bytes:
    body = B.pb(1, "x") + B.pb(2, "y") + B.pb(4, op) + B.pb(7, domain) + attrs
    return B.pb(1, body + (B.pb(8, overload) if overload else b""))


def function(domain: str, name: str, body: bytes = b"", overload: str = "") -> bytes:
    fn = B.pb(1, name) + B.pb(10, domain) + B.pb(4, "a") + B.pb(5, "b") + body
    return B.pb(25, fn + (B.pb(13, overload) if overload else b""))


def ext_tensor(location: str) -> bytes:
    return B.pb(8, "t") + B.pb(13, B.pb(1, "location") + B.pb(2, location)) + B.pb(14, 1)


def model(graph: bytes, extra: bytes = b"") -> bytes:
    return B.pb(1, 8) + B.pb(8, B.pb(1, "") + B.pb(2, 17)) + B.pb(7, graph) + extra


class TestRealFixturesBenign:
    """Models onnxruntime loads: local functions, external data, sparse, subgraphs."""

    @pytest.mark.parametrize(
        "name",
        [
            "plain.onnx",
            "local_functions.onnx",
            "sparse_initializer.onnx",
            "subgraphs.onnx",
            "microsoft_domain.onnx",
            "external",
        ],
    )
    def test_clean(self, name: str) -> None:
        details = scan_path(DATA / name)
        onnx_files = [f for f in details.files if f.file_path.endswith(".onnx")]
        assert onnx_files
        for f in onnx_files:
            assert f.issues_detected == [], (f.file_path, f.issues_detected)
            assert f.modelscan_status == "SCANNED", f.error_message
            assert f.error_message is None
            assert "onnx" in (f.formats or [])

    def test_local_function_domain_is_not_a_custom_op(self) -> None:
        # The function (custom.fn::Outer, calling custom.fn::Inner) comes AFTER the graph.
        ctx = _scan((DATA / "local_functions.onnx").read_bytes())
        assert ctx.issues == [] and ctx.errors == []


class TestFieldOrder:
    """Protobuf fields in any order; repeated scalars: the last one wins."""

    def test_reordered_benign_model_is_parsed_and_clean(self) -> None:
        data = (DATA / "reordered_local_functions.bin").read_bytes()
        assert data[0] != 0x08  # not ir_version first: functions come first
        ctx = _scan(data, "reordered_local_functions.bin")
        assert ctx.issues == [] and ctx.errors == [] and ctx.formats == ["onnx"]

    def test_reordered_malicious_model_last_op_type_wins(self) -> None:
        ctx = _scan((DATA / "reordered_custom_op.onnx").read_bytes())
        # op_type is written twice ("Helper", a local function, then "Evil"): protobuf keeps
        # "Evil", which no function defines.
        assert _ops(ctx.issues) == {("com.evil", "Evil")}

    def test_domain_written_twice_last_wins(self) -> None:
        body = B.pb(4, "Evil") + B.pb(7, "") + B.pb(7, "com.evil")
        ctx = _scan(model(B.pb(1, body)))
        assert ("com.evil", "Evil") in _ops(ctx.issues)
        body = B.pb(4, "Relu") + B.pb(7, "com.evil") + B.pb(7, "")
        assert _scan(model(B.pb(1, body))).issues == []

    def test_graph_split_in_two_fields_merges(self) -> None:
        # Two `graph` fields merge into one graph: nodes from both are judged.
        data = model(node("Relu"), B.pb(7, node("Evil", "com.evil")))
        assert ("com.evil", "Evil") in _ops(_scan(data).issues)

    def test_groups_are_skipped_like_unknown_fields(self) -> None:
        group = B.varint(99 << 3 | 3) + B.pb(1, "junk") + B.varint(99 << 3 | 4)
        ctx = _scan(model(node("Relu")) + group)
        assert ctx.issues == [] and ctx.errors == []


class TestIdentification:
    """ONNX is identified by parsing, not by the file name (``is_onnx_model`` for detect)."""

    @pytest.mark.parametrize(
        "name",
        ["plain.onnx", "model.bin", "reordered_local_functions.bin", "reordered_custom_op.onnx"],
    )
    def test_real_models_recognised(self, name: str) -> None:
        data = (DATA / name).read_bytes()
        assert is_onnx_model(data, len(data))
        assert is_onnx_model(data[:4096], len(data))

    def test_prefix_of_a_large_model(self) -> None:
        data = B.onnx_model([("Conv", "")], weights=100_000)
        assert is_onnx_model(data[:4096], len(data))
        assert not is_onnx_model(data[:4096], 4096)  # claimed whole, but cut

    @pytest.mark.parametrize(
        "data",
        [
            b"",
            b"\x08\x08",  # ir_version alone: no graph
            b'{"a": 1}',
            b"\x80\x04\x95\x00",
            B.pb(1, 8) + B.pb(9, "x") + B.pb(7, node("Relu")),  # field 9 is no ModelProto field
            B.pb(7, B.pb(3, "x")),  # field 3 is no GraphProto field
            B.pb(1, "x") + B.pb(7, node("Relu")),  # ir_version must be a varint
            B.saved_model(["MatMul"]),
        ],
    )
    def test_not_onnx(self, data: bytes) -> None:
        assert not is_onnx_model(data, len(data))

    def test_misnamed_model_is_scanned(self, tmp_path: pathlib.Path) -> None:
        (tmp_path / "model.bin").write_bytes((DATA / "model.bin").read_bytes())
        (f,) = scan_path(tmp_path).files
        assert ONNX200 in threats_of(f)
        assert "onnx" in (f.formats or [])


class TestExternalData:
    """Every tensor's external location is checked against the model directory."""

    @pytest.mark.parametrize(
        ("name", "path"),
        [
            ("sparse_external_passwd.onnx", "/etc/passwd"),
            ("subgraph_external_escape.onnx", "../../x"),
            ("function_external_abs.onnx", "/root/.ssh/id_rsa"),
        ],
    )
    def test_real_fixture_escapes(self, name: str, path: str) -> None:
        ctx = _scan((DATA / name).read_bytes())
        assert any(
            i.threat == ONNX200 and i.operator == "external_data" and path in i.description
            for i in ctx.issues
        ), ctx.issues

    @pytest.mark.parametrize("field", [1, 2])  # SparseTensorProto.values / .indices
    def test_sparse_initializer_values_and_indices(self, field: int) -> None:
        sparse = B.pb(field, ext_tensor("/etc/shadow")) + B.pb(3, 4)
        ctx = _scan(model(B.pb(15, sparse)))
        assert _ops(ctx.issues) == {(None, "external_data")}

    @pytest.mark.parametrize("field", [22, 23])  # AttributeProto.sparse_tensor(s)
    def test_sparse_tensor_attributes(self, field: int) -> None:
        attr = B.pb(1, "value") + B.pb(field, B.pb(1, ext_tensor("../../../x")))
        ctx = _scan(model(node("Constant", attrs=B.pb(5, attr))))
        assert _ops(ctx.issues) == {(None, "external_data")}

    def test_nested_subgraphs_and_training_graphs(self) -> None:
        inner = node("Constant", attrs=B.pb(5, B.pb(1, "value") + B.pb(5, ext_tensor("/x"))))
        graph = inner
        for _ in range(5):  # If in Loop in Scan ...
            graph = node("If", attrs=B.pb(5, B.pb(1, "then_branch") + B.pb(6, graph)))
        assert _ops(_scan(model(graph)).issues) == {(None, "external_data")}
        training = B.pb(20, B.pb(2, B.pb(5, ext_tensor("../w"))))
        assert _ops(_scan(model(node("Relu"), training)).issues) == {(None, "external_data")}

    def test_function_default_attribute_tensor(self) -> None:
        attr = B.pb(11, B.pb(1, "k") + B.pb(5, ext_tensor("C:\\Windows\\win.ini")))
        ctx = _scan(model(node("Relu"), function("f.d", "F", attr)))
        assert _ops(ctx.issues) == {(None, "external_data")}

    @pytest.mark.parametrize(
        "path",
        [
            "/etc/passwd",
            "../x",
            "a/../../x",
            "C:\\x",
            "file:///etc/passwd",
            "https://h/w",
            "\\\\server\\share\\w",
            "*/_ORT_MEM_ADDR_/*",
            "a\x00b",
        ],
    )
    def test_unsafe_locations(self, path: str) -> None:
        assert unsafe_location(path)

    @pytest.mark.parametrize("path", ["w.bin", "weights/w.bin", "a/../w.bin", "./w.bin"])
    def test_safe_locations(self, path: str) -> None:
        assert not unsafe_location(path)
        assert _scan(model(B.pb(5, ext_tensor(path)))).issues == []


class TestCustomOperators:
    """Custom domain = neither standard/onnxruntime-default nor a local function."""

    def test_domain_with_local_functions_but_unknown_name(self) -> None:
        data = model(node("Helper", "my.fn") + node("Other", "my.fn"), function("my.fn", "Helper"))
        assert _ops(_scan(data).issues) == {("my.fn", "Other")}

    def test_custom_op_inside_a_function_body(self) -> None:
        body = B.pb(7, B.pb(4, "Native") + B.pb(7, "vendor.lib"))
        data = model(node("F", "my.fn"), function("my.fn", "F", body))
        assert _ops(_scan(data).issues) == {("vendor.lib", "Native")}

    def test_functions_calling_functions(self) -> None:
        inner = function("a.fn", "Inner", B.pb(7, B.pb(4, "Relu")))
        outer = function("b.fn", "Outer", B.pb(7, B.pb(4, "Inner") + B.pb(7, "a.fn")))
        data = model(node("Outer", "b.fn"), outer + inner)
        assert _scan(data).issues == []

    def test_overload_must_match(self) -> None:
        fn = function("my.fn", "F", overload="v1")
        assert _scan(model(node("F", "my.fn", overload="v1"), fn)).issues == []
        issues = _scan(model(node("F", "my.fn", overload="v2"), fn)).issues
        assert _ops(issues) == {("my.fn", "F")}

    @pytest.mark.parametrize("domain", ["org.pytorch.aten", "ai.onnx.contrib", "com.evil"])
    def test_domains_needing_a_library(self, domain: str) -> None:
        assert (domain, "Op") in _ops(_scan(model(node("Op", domain))).issues)

    @pytest.mark.parametrize(
        "domain", ["", "ai.onnx", "ai.onnx.ml", "com.microsoft", "com.ms.internal.nhwc"]
    )
    def test_default_domains(self, domain: str) -> None:
        assert _scan(model(node("Op", domain))).issues == []

    def test_python_op_even_if_defined_locally(self) -> None:
        data = model(node("PyOp", "ai.onnx.contrib"), function("ai.onnx.contrib", "PyOp"))
        assert ("ai.onnx.contrib", "PyOp") in _ops(_scan(data).issues)

    def test_long_names_are_not_compared_by_prefix(self) -> None:
        long = "d." + "x" * 300
        data = model(node("F", long + "A"), function(long + "B", "F"))
        assert any(i.operator == "F" and i.threat == ONNX200 for i in _scan(data).issues)

    def test_undecodable_names_stay_distinct(self) -> None:
        fn = B.pb(25, B.pb(1, "F") + B.pb(10, b"d.\xff"))
        data = model(B.pb(1, B.pb(4, "F") + B.pb(7, b"d.\xfe")), fn)
        assert any(i.operator == "F" for i in _scan(data).issues)


class TestFailClosed:
    def test_truncated_model_is_an_error(self) -> None:
        data = (DATA / "subgraphs.onnx").read_bytes()
        ctx = FileContext("m.onnx", ScanLimits())
        assert scan_onnx(ctx, ByteSource.from_bytes(data[:-7]), "m.onnx")
        assert ctx.errors and ctx.issues

    def test_overlong_name_is_an_error(self) -> None:
        ctx = _scan(model(node("Relu", "d" * 5000)))
        assert ctx.errors

    def test_too_deep_subgraphs_is_an_error(self) -> None:
        graph = node("Relu")
        for _ in range(40):
            graph = node("If", attrs=B.pb(5, B.pb(1, "g") + B.pb(6, graph)))
        assert _scan(model(graph)).errors

    def test_distinct_names_are_bounded(self) -> None:
        data = model(b"".join(node(f"Op{k}") for k in range(500)))
        ctx = FileContext("m.onnx", ScanLimits(max_proto_message_bytes=4096))
        assert scan_onnx(ctx, ByteSource.from_bytes(data), "m.onnx")
        assert ctx.errors
        # The same operator many times is one name.
        data = model(b"".join(node("Relu") for _ in range(500)))
        ctx = FileContext("m.onnx", ScanLimits(max_proto_message_bytes=4096))
        assert scan_onnx(ctx, ByteSource.from_bytes(data), "m.onnx")
        assert ctx.errors == [] and ctx.issues == []

    def test_not_protobuf(self) -> None:
        ctx = FileContext("m.onnx", ScanLimits())
        assert not scan_onnx(ctx, ByteSource.from_bytes(b"\xff\xff\xff"), "m.onnx")
