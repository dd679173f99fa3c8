"""Generate the TensorFlow SavedModel fixtures of tests/scanner/test_tensorflow.py.

    pip install tensorflow-cpu==2.21.0
    python tests/scanner/data/tf/make_tf_fixtures.py

Every fixture is a real SavedModel written by ``tf.saved_model.save``; the malicious ones
that TensorFlow's Python API cannot express (a saver or asset path swapped for a literal)
are real SavedModels whose ``saved_model.pb`` is then edited with TensorFlow's own protos.
The benign one is loaded back and run. (SavedModels embed a random fingerprint and call
counters, so regenerating changes bytes, not content.)
"""

from __future__ import annotations

import os
import shutil
import tempfile

import tensorflow as tf
from tensorflow.core.framework import attr_value_pb2, node_def_pb2, types_pb2
from tensorflow.core.protobuf import saved_model_pb2

HERE = os.path.dirname(os.path.abspath(__file__))
SPEC = [tf.TensorSpec([None], tf.string)]


class LookupModel(tf.Module):
    """A vocabulary lookup table initialised from an asset file, plus a variable."""

    def __init__(self, vocab: str) -> None:
        super().__init__()
        init = tf.lookup.TextFileInitializer(
            vocab,
            tf.string,
            tf.lookup.TextFileIndex.WHOLE_LINE,
            tf.int64,
            tf.lookup.TextFileIndex.LINE_NUMBER,
        )
        self.table = tf.lookup.StaticHashTable(init, default_value=-1)
        self.w = tf.Variable([1.0, 2.0])

    @tf.function(input_signature=SPEC)
    def lookup(self, x: tf.Tensor) -> dict[str, tf.Tensor]:
        tf.print("looking up", tf.shape(x))  # PrintV2 to stderr: benign
        return {"ids": self.table.lookup(x), "w": self.w * 2.0}


class ReadPasswd(tf.Module):
    @tf.function(input_signature=SPEC)
    def serve(self, x: tf.Tensor) -> tf.Tensor:
        return tf.strings.join([x, tf.io.read_file("/etc/passwd")])


class PyFunction(tf.Module):
    @tf.function(input_signature=SPEC)
    def serve(self, x: tf.Tensor) -> tf.Tensor:
        return tf.py_function(lambda t: t, [x], tf.string)


class PrintToFile(tf.Module):
    @tf.function(input_signature=SPEC)
    def serve(self, x: tf.Tensor) -> tf.Tensor:
        tf.print(x, output_stream="file:///tmp/modelsec-exfil.txt")
        return x


class TextLines(tf.Module):
    @tf.function(input_signature=SPEC)
    def serve(self, x: tf.Tensor) -> tf.Tensor:
        first = next(iter(tf.data.TextLineDataset("/etc/hostname")))
        return tf.strings.join([x, first])


def _save(module: tf.Module, name: str, fn: tf.types.experimental.GenericFunction) -> str:
    path = os.path.join(HERE, name)
    tf.saved_model.save(module, path, signatures={"serving_default": fn})
    return path


def _edit(path: str, edit: object) -> None:
    pb = os.path.join(path, "saved_model.pb")
    sm = saved_model_pb2.SavedModel()
    with open(pb, "rb") as fh:
        sm.ParseFromString(fh.read())
    edit(sm.meta_graphs[0].graph_def)  # type: ignore[operator]
    with open(pb, "wb") as fh:
        fh.write(sm.SerializeToString())


def _string_const(name: str, value: str) -> node_def_pb2.NodeDef:
    node = node_def_pb2.NodeDef(name=name, op="Const")
    node.attr["dtype"].CopyFrom(attr_value_pb2.AttrValue(type=types_pb2.DT_STRING))
    tensor = tf.make_tensor_proto(value)
    node.attr["value"].CopyFrom(attr_value_pb2.AttrValue(tensor=tensor))
    return node


def _vocab(where: str = HERE) -> str:
    vocab = os.path.join(where, "vocab.txt")
    with open(vocab, "w", encoding="utf-8") as fh:
        fh.write("apple\nbanana\nkiwi\n")
    return vocab


def tf1_lookup_table(path: str) -> None:
    """A TF1 SavedModel (Builder): the asset path is a Const holding the ORIGINAL absolute
    path, listed in collection_def["saved_model_assets"]; the loader feeds it assets/vocab.txt.
    """
    v1 = tf.compat.v1
    with tempfile.TemporaryDirectory() as tmp:
        vocab = _vocab(tmp)
        g = tf.Graph()
        with g.as_default():
            x = v1.placeholder(tf.float32, [None, 3], name="x")
            w = v1.get_variable("w", [3, 2])
            init = tf.lookup.TextFileInitializer(
                vocab,
                tf.string,
                tf.lookup.TextFileIndex.WHOLE_LINE,
                tf.int64,
                tf.lookup.TextFileIndex.LINE_NUMBER,
            )
            table = tf.lookup.StaticHashTable(init, -1)
            s = v1.placeholder(tf.string, [None], name="s")
            outputs = {"y": tf.matmul(x, w), "ids": table.lookup(s)}
            with v1.Session(graph=g) as sess:
                sess.run(v1.global_variables_initializer())
                sess.run(v1.tables_initializer())
                builder = v1.saved_model.Builder(path)
                sig = v1.saved_model.predict_signature_def({"x": x, "s": s}, outputs)
                builder.add_meta_graph_and_variables(
                    sess,
                    ["serve"],
                    signature_def_map={"serving_default": sig},
                    main_op=v1.tables_initializer(),
                    assets_collection=v1.get_collection(v1.GraphKeys.ASSET_FILEPATHS),
                )
                builder.save()


def main() -> int:
    for name in os.listdir(HERE):
        path = os.path.join(HERE, name)
        if os.path.isdir(path):
            shutil.rmtree(path)

    vocab = _vocab()
    m = LookupModel(vocab)
    benign = _save(m, "lookup_table", m.lookup)
    loaded = tf.saved_model.load(benign)
    out = loaded.signatures["serving_default"](tf.constant(["banana", "x"]))
    assert out["ids"].numpy().tolist() == [1, -1], out

    tf1 = os.path.join(HERE, "tf1_lookup_table")
    tf1_lookup_table(tf1)
    with tf.Graph().as_default(), tf.compat.v1.Session() as sess:
        tf.compat.v1.saved_model.load(sess, ["serve"], tf1)

    # The asset itself names a file outside assets/ (the loader os.path.join()s it).
    m = LookupModel(vocab)
    path = _save(m, "asset_filename_escape", m.lookup)
    pb = os.path.join(path, "saved_model.pb")
    sm = saved_model_pb2.SavedModel()
    with open(pb, "rb") as fh:
        sm.ParseFromString(fh.read())
    sm.meta_graphs[0].asset_file_def[0].filename = "/etc/passwd"
    with open(pb, "wb") as fh:
        fh.write(sm.SerializeToString())

    for cls, name in [
        (ReadPasswd, "read_file_passwd"),
        (PyFunction, "py_function"),
        (PrintToFile, "print_to_file"),
        (TextLines, "text_line_dataset"),
    ]:
        mod = cls()
        _save(mod, name, mod.serve)  # type: ignore[attr-defined]

    # The restore call gets a literal absolute prefix instead of the loader's saver_filename:
    # the path reaches RestoreV2 through a StatefulPartitionedCall into the restore function.
    m = LookupModel(vocab)
    path = _save(m, "restore_abs_prefix", m.lookup)

    def restore_from_literal(g: object) -> None:
        sm_restore = next(
            n
            for n in g.node
            if n.op == "StatefulPartitionedCall"
            and n.input[0] == "saver_filename"
            and len(n.input) == 2
        )
        g.node.append(_string_const("evil_prefix", "/etc/modelsec/ckpt"))
        sm_restore.input[0] = "evil_prefix"

    _edit(path, restore_from_literal)

    # The vocabulary initializer reads a literal ../../ path instead of its asset argument.
    m = LookupModel(vocab)
    path = _save(m, "asset_escape", m.lookup)

    def asset_from_literal(g: object) -> None:
        fn = next(
            f for f in g.library.function if f.signature.name.startswith("__inference__initializer")
        )
        init = next(n for n in fn.node_def if n.op == "InitializeTableFromTextFileV2")
        fn.node_def.append(_string_const("evil_vocab", "../../../etc/passwd"))
        init.input[1] = "evil_vocab:output:0"

    _edit(path, asset_from_literal)

    # An operator from a custom op library (tensorflow-text's, not loaded by TensorFlow).
    mod = ReadPasswd()
    path = _save(mod, "custom_op", mod.serve)

    def custom_op(g: object) -> None:
        fn = next(f for f in g.library.function if any(n.op == "ReadFile" for n in f.node_def))
        node = next(n for n in fn.node_def if n.op == "ReadFile")
        node.op = "WordpieceTokenizeWithOffsets"

    _edit(path, custom_op)
    os.remove(vocab)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
