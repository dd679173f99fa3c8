# mypy: ignore-errors
# (runs inside the corpus venv with numpy/torch/...; the project env that type-checks has none)
"""TensorFlow corpus (#12, optional group ``tf``): SavedModels written by TensorFlow itself,
one with a lookup table (StaticHashTable initialised from tensors and a vocabulary file asset),
one Keras model exported as a SavedModel, and a Keras ``.keras`` file with the TF backend.

Run inside the TensorFlow venv: ``python gen_tf.py OUT_DIR``.
"""

from __future__ import annotations

import os
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from _common import main_out, version

rec = main_out("tf")


def lookup_savedmodel() -> None:
    import tensorflow as tf

    with tempfile.TemporaryDirectory() as tmp:
        vocab = os.path.join(tmp, "vocab.txt")
        with open(vocab, "w") as f:
            f.write("hello\nworld\n")

        class Tokens(tf.Module):
            def __init__(self) -> None:
                super().__init__()
                init = tf.lookup.KeyValueTensorInitializer(
                    tf.constant(["a", "b", "c"]), tf.constant([1, 2, 3], tf.int64)
                )
                self.table = tf.lookup.StaticHashTable(init, default_value=-1)
                self.vocab = tf.lookup.StaticVocabularyTable(
                    tf.lookup.TextFileInitializer(
                        vocab,
                        tf.string,
                        tf.lookup.TextFileIndex.WHOLE_LINE,
                        tf.int64,
                        tf.lookup.TextFileIndex.LINE_NUMBER,
                    ),
                    num_oov_buckets=1,
                )
                self.w = tf.Variable(tf.ones([3]), name="w")

            @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
            def __call__(self, keys: tf.Tensor) -> dict[str, tf.Tensor]:
                ids = self.table.lookup(keys)
                return {
                    "ids": ids,
                    "vocab": self.vocab.lookup(keys),
                    "scaled": tf.cast(ids, tf.float32) * self.w[0],
                }

        m = Tokens()
        tf.saved_model.save(
            m,
            str(rec.path("savedmodel_lookup/x").parent),
            signatures={"serving_default": m.__call__},
        )
    rec.add(
        "savedmodel_lookup",
        version("tensorflow-cpu"),
        "TF SavedModel (lookup tables, asset)",
        kind="dir",
    )


def keras_export() -> None:
    import keras

    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(3, activation="relu"), keras.layers.Dense(1)]
    )
    model.compile(optimizer="adam", loss="mse")
    model.export(str(rec.path("keras_export/x").parent))
    rec.add(
        "keras_export",
        [version("tensorflow-cpu"), version("keras")],
        "TF SavedModel (keras export)",
        kind="dir",
    )
    model.save(rec.path("keras_tf_backend.keras"))
    rec.add(
        "keras_tf_backend.keras", [version("keras"), "KERAS_BACKEND=tensorflow"], "keras v3 zip"
    )
    model.save(rec.path("keras_tf_backend.h5"))
    rec.add(
        "keras_tf_backend.h5",
        [version("keras"), "KERAS_BACKEND=tensorflow", version("h5py")],
        "keras legacy h5",
    )


def keras2_files() -> None:
    """Keras 2 (``tf_keras``, what TF 2.x users long wrote): legacy .h5 and a SavedModel dir."""
    import numpy as np
    import tf_keras

    kv = [version("tf_keras"), version("tensorflow-cpu")]
    inp = tf_keras.Input((6,), name="x")
    h = tf_keras.layers.Dense(4, activation="relu")(inp)
    h = tf_keras.layers.BatchNormalization()(h)
    out = tf_keras.layers.Dense(2, activation="softmax")(tf_keras.layers.Dropout(0.1)(h))
    model = tf_keras.Model(inp, out)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(np.zeros((8, 6)), np.zeros(8), epochs=1, verbose=0)
    model.save(rec.path("keras2/model.h5"))
    rec.add("keras2/model.h5", [*kv, version("h5py")], "keras 2 legacy h5 (tf_keras)")
    model.save(str(rec.path("keras2/savedmodel/x").parent))
    rec.add("keras2/savedmodel", kv, "keras 2 SavedModel (keras_metadata.pb)", kind="dir")
    model.save_weights(rec.path("keras2/weights.h5"))
    rec.add("keras2/weights.h5", [*kv, version("h5py")], "keras 2 weights h5")


rec.step("lookup_savedmodel", lookup_savedmodel)
rec.step("keras2_files", keras2_files)
rec.step("keras_export", keras_export)
raise SystemExit(rec.finish())
