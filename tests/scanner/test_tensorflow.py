"""TensorFlow: every NodeDef (graph and function library) judged by the operator table
generated from TensorFlow's registry; saver/asset paths folded and checked.

The ``data/tf`` fixtures are real SavedModels written by ``tf.saved_model.save`` (regenerate
with ``data/tf/make_tf_fixtures.py``, tensorflow-cpu 2.21.0).
"""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import pytest
import scanner_builders as B
from conftest import threats_of

from modelsec.scanner import ScanLimits, savedmodel, scan_path
from modelsec.scanner.onnx import is_onnx_model
from modelsec.scanner.report import FileContext
from modelsec.scanner.savedmodel import scan_savedmodel, tf_op_category
from modelsec.scanner.source import ByteSource

ROOT = pathlib.Path(__file__).resolve().parents[2]
DATA = pathlib.Path(__file__).parent / "data" / "tf"
TABLE = ROOT / "modelsec" / "scanner" / "data" / "tf_ops.json"
CATEGORIES = {"python", "process", "network", "file_write", "file_read", "known"}


def _scan(data: bytes, name: str = "saved_model.pb") -> FileContext:
    ctx = FileContext(name, ScanLimits())
    scan_savedmodel(ctx, ByteSource.from_bytes(data), name)
    return ctx


def _found(ctx: FileContext) -> set[tuple[str | None, str | None]]:
    return {(i.threat, i.operator) for i in ctx.issues}


# --- hand-built protobuf pieces ----------------------------------------------------------


def attr(key: str, value: bytes) -> bytes:
    return B.pb(5, B.pb(1, key) + B.pb(2, value))


def s_attr(key: str, text: str) -> bytes:
    return attr(key, B.pb(2, text))


def func_attr(key: str, fn: str) -> bytes:
    return attr(key, B.pb(10, B.pb(1, fn)))


def node(name: str, op: str, *inputs: str, attrs: bytes = b"") -> bytes:
    return B.pb(1, name) + B.pb(2, op) + b"".join(B.pb(3, i) for i in inputs) + attrs


def const(name: str, *strings: str) -> bytes:
    tensor = B.pb(1, 7) + b"".join(B.pb(8, s) for s in strings)
    return node(name, "Const", attrs=attr("value", B.pb(8, tensor)))


def function(name: str, args: list[str], *nodes: bytes) -> bytes:
    sig = B.pb(1, name) + b"".join(B.pb(2, B.pb(1, a)) for a in args)
    return B.pb(1, B.pb(1, sig) + b"".join(B.pb(3, n) for n in nodes))


def saved_model(graph_nodes: list[bytes], functions: bytes = b"") -> bytes:
    graph = b"".join(B.pb(1, n) for n in graph_nodes)
    if functions:
        graph += B.pb(2, functions)
    return B.pb(1, 1) + B.pb(2, B.pb(2, graph))


class TestOpTable:
    """tf_ops.json: generated from TensorFlow's registry, with the expected classification."""

    def test_shape(self) -> None:
        data = json.loads(TABLE.read_text(encoding="utf-8"))
        ops = data["ops"]
        assert data["tensorflow_version"] == "2.21.0"
        assert len(ops) > 1500
        assert set(ops.values()) <= CATEGORIES
        assert data["counts"] == {c: sum(v == c for v in ops.values()) for c in data["counts"]}
        assert list(ops) == sorted(ops)

    @pytest.mark.parametrize(
        ("op", "category"),
        [
            ("ReadFile", "file_read"),
            ("WholeFileReaderV2", "file_read"),
            ("TextLineDataset", "file_read"),
            ("TFRecordDataset", "file_read"),
            ("MatchingFiles", "file_read"),
            ("ImmutableConst", "file_read"),
            ("RestoreV2", "file_read"),
            ("InitializeTableFromTextFileV2", "file_read"),
            ("WriteFile", "file_write"),
            ("SaveV2", "file_write"),
            ("CreateSummaryFileWriter", "file_write"),
            ("WriteScalarSummary", "file_write"),
            ("PrintV2", "file_write"),
            ("DebugIdentity", "file_write"),
            ("PyFunc", "python"),
            ("EagerPyFunc", "python"),
            ("RpcClient", "network"),
            ("DataServiceDatasetV4", "network"),
            ("_Send", "network"),
            ("MatMul", "known"),
            ("StatefulPartitionedCall", "known"),
            ("ShardedFilename", "known"),
            ("RegexReplace", "known"),
        ],
    )
    def test_categories(self, op: str, category: str) -> None:
        assert tf_op_category(op) == category

    def test_generator_check(self) -> None:
        # Regenerates and compares when tensorflow 2.21.0 is installed; otherwise says so.
        proc = subprocess.run(
            [sys.executable, str(ROOT / "scripts" / "gen_tf_ops.py"), "--check"],
            capture_output=True,
            text=True,
            check=False,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr

    def test_missing_table_fails_closed(self, monkeypatch: pytest.MonkeyPatch) -> None:
        def broken() -> dict[str, str]:
            raise OSError("gone")

        monkeypatch.setattr(savedmodel, "_table", broken)
        ctx = _scan(saved_model([node("n", "MatMul")]))
        assert ctx.errors and ctx.issues


class TestRealSavedModels:
    """Real SavedModels: the asset-backed lookup table is clean, the attacks are found."""

    def test_lookup_table_with_asset_is_clean(self) -> None:
        ctx = _scan((DATA / "lookup_table" / "saved_model.pb").read_bytes())
        assert ctx.issues == [] and ctx.errors == [] and ctx.scanned

    def test_tf1_lookup_table_is_clean(self) -> None:
        # TF1 keeps the asset path as a Const with the ORIGINAL absolute path, listed in
        # collection_def["saved_model_assets"]: the loader feeds it, the literal is not read.
        ctx = _scan((DATA / "tf1_lookup_table" / "saved_model.pb").read_bytes())
        assert ctx.issues == [] and ctx.errors == [] and ctx.scanned

    def test_lookup_table_directory_is_clean(self) -> None:
        # fingerprint.pb has a string in field 7, which the old ONNX sniffing took for a
        # graph; routed by the strict predicate it is what it is: TensorFlow, clean.
        for f in [
            *scan_path(DATA / "lookup_table").files,
            *scan_path(DATA / "tf1_lookup_table").files,
        ]:
            assert f.issues_detected == [], (f.file_path, f.issues_detected)
            assert f.error_message is None

    def test_fingerprint_is_not_onnx(self) -> None:
        data = (DATA / "lookup_table" / "fingerprint.pb").read_bytes()
        assert not is_onnx_model(data, len(data))
        ctx = _scan(data, "fingerprint.pb")
        assert ctx.issues == [] and ctx.errors == []

    @pytest.mark.parametrize(
        ("name", "threat", "op"),
        [
            ("read_file_passwd", "PAIT-TF-302", "ReadFile"),
            ("py_function", "PAIT-TF-300", "EagerPyFunc"),
            ("print_to_file", "PAIT-TF-302", "PrintV2"),
            ("text_line_dataset", "PAIT-TF-302", "TextLineDataset"),
            ("restore_abs_prefix", "PAIT-TF-302", "RestoreV2"),
            ("asset_escape", "PAIT-TF-302", "InitializeTableFromTextFileV2"),
            ("custom_op", "PAIT-TF-301", "WordpieceTokenizeWithOffsets"),
            ("asset_filename_escape", "PAIT-TF-302", "AssetFileDef"),
        ],
    )
    def test_malicious(self, name: str, threat: str, op: str) -> None:
        ctx = _scan((DATA / name / "saved_model.pb").read_bytes())
        assert (threat, op) in _found(ctx), ctx.issues
        (f,) = [f for f in scan_path(DATA / name).files if f.file_path == "saved_model.pb"]
        assert threat in threats_of(f)


class TestOperators:
    """Graph AND function library, judged by the generated table."""

    @pytest.mark.parametrize(
        ("op", "threat"),
        [
            ("WholeFileReaderV2", "PAIT-TF-302"),
            ("TextLineDatasetV2", "PAIT-TF-301"),  # not registered: unknown
            ("CreateSummaryFileWriter", "PAIT-TF-302"),
            ("MatchingFiles", "PAIT-TF-302"),
            ("ImmutableConst", "PAIT-TF-302"),
            ("RpcClient", "PAIT-TF-300"),
            ("PyFuncStateless", "PAIT-TF-300"),
            ("Addons>Evil", "PAIT-TF-301"),
            ("EvilNativeOp", "PAIT-TF-301"),
        ],
    )
    def test_in_graph_and_in_functions(self, op: str, threat: str) -> None:
        assert (threat, op) in _found(_scan(saved_model([node("n", op)])))
        fn = function("f", [], node("n", op))
        assert (threat, op) in _found(_scan(saved_model([], fn)))

    def test_duplicate_names_are_all_judged(self) -> None:
        data = saved_model([node("n", "PyFunc"), node("n", "MatMul")])
        assert ("PAIT-TF-300", "PyFunc") in _found(_scan(data))
        fns = function("f", [], node("a", "ReadFile")) + function("f", [], node("a", "MatMul"))
        assert ("PAIT-TF-302", "ReadFile") in _found(_scan(saved_model([], fns)))

    def test_last_op_field_wins(self) -> None:
        twice = B.pb(1, "n") + B.pb(2, "MatMul") + B.pb(2, "PyFunc")
        assert ("PAIT-TF-300", "PyFunc") in _found(_scan(saved_model([twice])))

    def test_library_functions_are_known_ops(self) -> None:
        fn = function("__inference_helper_12", ["x"], node("m", "MatMul", "x", "x"))
        data = saved_model([node("p", "Placeholder"), node("c", "__inference_helper_12", "p")], fn)
        assert _scan(data).issues == []

    def test_frozen_graph_by_content(self) -> None:
        graph = B.pb(1, node("n", "ReadFile")) + B.pb(1, node("m", "Mystery"))
        ctx = _scan(graph, "frozen.pb")
        assert _found(ctx) == {("PAIT-TF-302", "ReadFile"), ("PAIT-TF-301", "Mystery")}
        # A SavedModel under another name is still read as a SavedModel.
        assert ("PAIT-TF-300", "PyFunc") in _found(
            _scan(saved_model([node("n", "PyFunc")]), "x.pb")
        )

    def test_graph_records_are_bounded(self) -> None:
        # Plain computation is not kept; path plumbing is, within max_proto_message_bytes.
        many_matmuls = saved_model([node(f"m{k}", "MatMul", "a", "b") for k in range(2000)])
        ctx = FileContext("saved_model.pb", ScanLimits(max_proto_message_bytes=4096))
        scan_savedmodel(ctx, ByteSource.from_bytes(many_matmuls), "saved_model.pb")
        assert ctx.issues == [] and ctx.errors == []
        many_identities = saved_model([node(f"i{k}", "Identity", "a") for k in range(2000)])
        ctx = FileContext("saved_model.pb", ScanLimits(max_proto_message_bytes=4096))
        scan_savedmodel(ctx, ByteSource.from_bytes(many_identities), "saved_model.pb")
        assert ctx.errors

    def test_malformed_is_an_error(self) -> None:
        data = saved_model([node("n", "MatMul")])
        assert _scan(data[:-3]).errors


class TestAttributeGatedOps:
    """PrintV2 / Debug* / DecodeProtoV2 do I/O only when an attribute asks for it."""

    @pytest.mark.parametrize(
        "n",
        [
            node("p", "PrintV2", "x"),
            node("p", "PrintV2", "x", attrs=s_attr("output_stream", "stderr")),
            node("p", "PrintV2", "x", attrs=s_attr("output_stream", "log(info)")),
            node("d", "DebugIdentity", "x", attrs=attr("debug_urls", B.pb(1, b""))),
            node("d", "DecodeProtoV2", "x", attrs=s_attr("descriptor_source", "local://")),
        ],
    )
    def test_benign(self, n: bytes) -> None:
        assert _scan(saved_model([n])).issues == []

    @pytest.mark.parametrize(
        ("n", "op"),
        [
            (node("p", "PrintV2", "x", attrs=s_attr("output_stream", "file:///x")), "PrintV2"),
            (
                node(
                    "d",
                    "DebugIdentity",
                    "x",
                    attrs=attr("debug_urls", B.pb(1, B.pb(2, "grpc://h:1"))),
                ),
                "DebugIdentity",
            ),
            (
                node("d", "DecodeProtoV2", "x", attrs=s_attr("descriptor_source", "/tmp/d.pb")),
                "DecodeProtoV2",
            ),
        ],
    )
    def test_io(self, n: bytes, op: str) -> None:
        assert ("PAIT-TF-302", op) in _found(_scan(saved_model([n])))


class TestLoaderPaths:
    """Saver/asset ops: clean with loader-fed paths, found with literal escaping paths."""

    def _saver(self, prefix_nodes: list[bytes], prefix: str) -> bytes:
        return saved_model([*prefix_nodes, node("save", "SaveV2", prefix, "names", "slices")])

    def test_placeholder_prefix_with_suffix(self) -> None:
        data = self._saver(
            [
                node("saver_filename", "Placeholder"),
                const("suffix", "_temp/part"),
                node("join", "StringJoin", "saver_filename", "suffix"),
                node("shard", "ShardedFilename", "join", "i", "n"),
            ],
            "shard:0",
        )
        assert _scan(data).issues == []

    @pytest.mark.parametrize(
        "literal", ["/etc/cron.d/x", "gs://bucket/ckpt", "../../../x", "C:\\x"]
    )
    def test_literal_prefix(self, literal: str) -> None:
        data = self._saver([const("c", literal)], "c")
        assert ("PAIT-TF-302", "SaveV2") in _found(_scan(data))

    def test_join_escaping_the_fed_prefix(self) -> None:
        data = self._saver(
            [
                node("p", "Placeholder"),
                const("up", "/../../../../etc/x"),
                node("join", "StringJoin", "p", "up"),
            ],
            "join",
        )
        assert ("PAIT-TF-302", "SaveV2") in _found(_scan(data))

    def test_join_of_harmless_pieces_into_an_absolute_path(self) -> None:
        data = self._saver(
            [
                const("a", ""),
                const("b", "etc/passwd"),
                node("join", "StringJoin", "a", "b", attrs=s_attr("separator", "/")),
            ],
            "join",
        )
        assert ("PAIT-TF-302", "SaveV2") in _found(_scan(data))

    def test_select_alternatives(self) -> None:
        data = self._saver(
            [const("a", "ok"), const("b", "/abs"), node("s", "Select", "cond", "a", "b")], "s"
        )
        assert ("PAIT-TF-302", "SaveV2") in _found(_scan(data))

    def test_computed_path_is_reported(self) -> None:
        data = self._saver([node("r", "RegexReplace", "x", "y", "z")], "r")
        assert ("PAIT-TF-302", "SaveV2") in _found(_scan(data))

    @pytest.mark.parametrize("caller_op", ["StatefulPartitionedCall", "PartitionedCall"])
    def test_path_through_a_call(self, caller_op: str) -> None:
        fn = function("restore", ["file_prefix"], node("r", "RestoreV2", "file_prefix", "n", "s"))
        call = node("call", caller_op, "c", attrs=func_attr("f", "restore"))
        assert ("PAIT-TF-302", "RestoreV2") in _found(
            _scan(saved_model([const("c", "/x"), call], fn))
        )
        ok = node("call", caller_op, "p", attrs=func_attr("f", "restore"))
        assert _scan(saved_model([node("p", "Placeholder"), ok], fn)).issues == []

    def test_path_through_if_branch(self) -> None:
        fn = function("branch", ["a"], node("r", "RestoreV2", "a", "n", "s"))
        call = node("if", "If", "cond", "c", attrs=func_attr("then_branch", "branch"))
        data = saved_model([const("c", "../../secret"), call], fn)
        assert ("PAIT-TF-302", "RestoreV2") in _found(_scan(data))

    def test_uncalled_asset_initializer_is_clean(self) -> None:
        fn = function(
            "__inference__initializer_7",
            ["asset_path", "table"],
            node("init", "InitializeTableFromTextFileV2", "table", "asset_path"),
        )
        assert _scan(saved_model([node("t", "HashTableV2")], fn)).issues == []

    def test_asset_literal_escape_in_function(self) -> None:
        fn = function(
            "init",
            ["table"],
            const("v", "/etc/passwd"),
            node("i", "InitializeTableFromTextFileV2", "table", "v:output:0"),
        )
        found = _found(_scan(saved_model([], fn)))
        assert ("PAIT-TF-302", "InitializeTableFromTextFileV2") in found

    def test_asset_tensor_const_fed_by_loader(self) -> None:
        graph = B.pb(1, const("asset_path", "/build/machine/vocab.txt")) + B.pb(
            1, node("init", "InitializeTableFromTextFileV2", "table", "asset_path")
        )
        asset = B.pb(1, B.pb(1, "asset_path:0")) + B.pb(2, "vocab.txt")
        data = B.pb(1, 1) + B.pb(2, B.pb(2, graph) + B.pb(6, asset))
        assert _scan(data).issues == []
        # Without the AssetFileDef, the literal is what gets read.
        data = B.pb(1, 1) + B.pb(2, B.pb(2, graph))
        assert ("PAIT-TF-302", "InitializeTableFromTextFileV2") in _found(_scan(data))

    @pytest.mark.parametrize("filename", ["/etc/passwd", "../../../etc/passwd"])
    def test_asset_filename_escape(self, filename: str) -> None:
        asset = B.pb(1, B.pb(1, "p:0")) + B.pb(2, filename)
        data = B.pb(1, 1) + B.pb(2, B.pb(2, B.pb(1, node("p", "Placeholder"))) + B.pb(6, asset))
        assert ("PAIT-TF-302", "AssetFileDef") in _found(_scan(data))

    def test_saver_def_filename_tensor_is_fed(self) -> None:
        graph = B.pb(1, const("save/Const", "/abs/model")) + B.pb(
            1, node("save/SaveV2", "SaveV2", "save/Const", "n", "s")
        )
        saver = B.pb(1, "save/Const:0")
        data = B.pb(1, 1) + B.pb(2, B.pb(2, graph) + B.pb(3, saver))
        assert _scan(data).issues == []
