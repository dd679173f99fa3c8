"""Generate the Keras fixtures of ``tests/scanner/test_keras.py`` (run with a venv holding keras).

    KERAS_BACKEND=jax /work/venvs/keras/bin/python tests/scanner/data/keras/make_keras_fixtures.py

Benign files are real ``model.save`` output. Malicious variants are made by editing the JSON of
those real files (never by calling anything from a model), and for ``.h5`` by rewriting the
root attribute through h5py, so the HDF5 structure stays what h5py itself writes.
"""

from __future__ import annotations

import base64
import io
import json
import os
import pickle
import zipfile
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "jax")

import h5py
import keras
import numpy as np

HERE = Path(__file__).resolve().parent


def _small_models() -> dict[str, keras.Model]:
    seq = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="d1")], name="seq")
    inner = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)], name="inner")
    x = keras.Input((3,))
    y = inner(keras.layers.Dense(2, activation="relu")(x))
    func = keras.Model(x, y, name="func")
    td = keras.Sequential(
        [keras.Input((2, 3)), keras.layers.TimeDistributed(keras.layers.Dense(2))], name="td"
    )
    return {"seq": seq, "func": func, "td": td}


def _lambda_model() -> keras.Model:
    return keras.Sequential(
        [keras.Input((3,)), keras.layers.Lambda(lambda t: t * 2.0, name="lam")], name="lam"
    )


def _zip_rewrite(src: Path, dst: Path, edit: object) -> None:
    """Copy a .keras zip, replacing config.json by ``edit(config_text)``."""
    out = io.BytesIO()
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename == "config.json":
                data = edit(data.decode()).encode()  # type: ignore[operator]
            zout.writestr(info.filename, data)
    dst.write_bytes(out.getvalue())


def _find(node: object, cls: str) -> dict[str, object]:
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, dict):
            if n.get("class_name") == cls:
                return n
            stack.extend(n.values())
        elif isinstance(n, list):
            stack.extend(n)
    raise KeyError(cls)


class _Gadget:
    """Pickles as ``os.system("id")`` without ever being run here."""

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, ("id",))


def main() -> None:
    models = _small_models()
    for name, model in models.items():
        model.save(HERE / f"{name}.keras")
    models["seq"].save(HERE / "seq.h5")
    models["func"].save(HERE / "func.h5")
    lam = _lambda_model()
    lam.save(HERE / "lambda.keras")
    lam_cfg = json.loads(zipfile.ZipFile(HERE / "lambda.keras").read("config.json"))
    lam_fn = _find(lam_cfg, "Lambda")["config"]["function"]  # type: ignore[index]

    seq = HERE / "seq.keras"
    # 1. Same Lambda, JSON spelled with other spacing.
    _zip_rewrite(
        HERE / "lambda.keras",
        HERE / "mal_spacing.keras",
        lambda t: json.dumps(json.loads(t), separators=(" , ", " : ")),
    )

    # 2. Lambda bytecode as the activation of a Dense layer.
    def as_activation(t: str) -> str:
        doc = json.loads(t)
        _find(doc, "Dense")["config"]["activation"] = lam_fn  # type: ignore[index]
        return json.dumps(doc)

    _zip_rewrite(seq, HERE / "mal_activation.keras", as_activation)

    # 3. TimeDistributed(Lambda).
    def td_lambda(t: str) -> str:
        doc = json.loads(t)
        wrapper = _find(doc, "TimeDistributed")
        inner = wrapper["config"]["layer"]  # type: ignore[index]
        inner["class_name"] = "Lambda"
        inner["config"] = {"name": "x", "function": lam_fn, "arguments": {}}
        return json.dumps(doc)

    _zip_rewrite(HERE / "td.keras", HERE / "mal_timedistributed.keras", td_lambda)

    # 3b. TimeDistributed(Dense(activation=<lambda>)): bytecode outside any Lambda layer.
    def td_activation(t: str) -> str:
        doc = json.loads(t)
        _find(doc, "TimeDistributed")["config"]["layer"]["config"]["activation"] = lam_fn  # type: ignore[index]
        return json.dumps(doc)

    _zip_rewrite(HERE / "td.keras", HERE / "mal_td_activation.keras", td_activation)

    # 3c. Nested model: the inner Sequential's Dense gets a lambda kernel initializer.
    def nested_initializer(t: str) -> str:
        doc = json.loads(t)
        inner = _find(doc, "Sequential")
        _find(inner, "Dense")["config"]["kernel_initializer"] = lam_fn  # type: ignore[index]
        return json.dumps(doc)

    _zip_rewrite(HERE / "func.keras", HERE / "mal_nested_initializer.keras", nested_initializer)

    # 4. TFSMLayer loading a SavedModel from an absolute path.
    def tfsm(t: str) -> str:
        doc = json.loads(t)
        dense = _find(doc, "Dense")
        dense["class_name"] = "TFSMLayer"
        dense["module"] = "keras.layers"
        dense["config"] = {"name": "ext", "filepath": "/etc/evil_savedmodel", "trainable": False}
        return json.dumps(doc)

    _zip_rewrite(seq, HERE / "mal_tfsm.keras", tfsm)

    # 5. base64 pickle in a layer's "module" key.
    gadget = base64.b64encode(pickle.dumps(_Gadget(), protocol=4)).decode()

    def b64_module(t: str) -> str:
        doc = json.loads(t)
        _find(doc, "Dense")["module"] = gadget
        return json.dumps(doc)

    _zip_rewrite(seq, HERE / "mal_b64pickle.keras", b64_module)

    # StringLookup needs TensorFlow to build: its config is written the way Keras 3.15 does.
    def lookup(vocabulary: object) -> object:
        def edit(t: str) -> str:
            doc = json.loads(t)
            dense = _find(doc, "Dense")
            dense["class_name"] = "StringLookup"
            dense["config"] = {
                "name": "string_lookup",
                "trainable": False,
                "dtype": "int64",
                "max_tokens": None,
                "num_oov_indices": 1,
                "mask_token": None,
                "oov_token": "[UNK]",
                "vocabulary": vocabulary,
                "idf_weights": None,
                "invert": False,
                "output_mode": "int",
                "sparse": False,
                "pad_to_max_tokens": False,
                "vocabulary_dtype": "string",
                "encoding": "utf-8",
            }
            return json.dumps(doc)

        return edit

    _zip_rewrite(seq, HERE / "lookup.keras", lookup(["a", "b", "http", "/", "..", "c"]))
    _zip_rewrite(seq, HERE / "mal_vocab_file.keras", lookup("/etc/passwd"))

    # 6. Prefix polyglot: junk before a valid .keras zip (zipfile still opens it).
    (HERE / "mal_polyglot.keras").write_bytes(
        b"\x00JUNK" * 200 + (HERE / "lambda.keras").read_bytes()
    )

    # 7. .h5 whose model_config is the Lambda config re-spaced, rewritten through h5py.
    lam_h5_cfg = json.dumps(
        {
            "class_name": "Sequential",
            "config": {
                "name": "s",
                "layers": [{"class_name": "Lambda", "config": {"name": "l", "function": lam_fn}}],
            },
        },
        separators=(",", " : "),
    )
    for stem, make in (("mal_h5_vlen", str), ("mal_h5_fixed", np.bytes_)):
        dst = HERE / f"{stem}.h5"
        dst.write_bytes((HERE / "seq.h5").read_bytes())
        with h5py.File(dst, "r+") as f:
            f.attrs["model_config"] = make(lam_h5_cfg)
    # 7b. training_config whose loss is a lambda (the legacy loader deserializes it too).
    dst = HERE / "mal_h5_training.h5"
    dst.write_bytes((HERE / "seq.h5").read_bytes())
    with h5py.File(dst, "r+") as f:
        f.attrs["training_config"] = json.dumps({"loss": lam_fn, "metrics": None})
    # 7c. model_config that is not a string (cannot be judged: fail closed).
    dst = HERE / "bad_config_type.h5"
    dst.write_bytes((HERE / "seq.h5").read_bytes())
    with h5py.File(dst, "r+") as f:
        f.attrs["model_config"] = np.arange(3)
    # 7d. Dense attribute storage (fractal heap + v2 B-tree): libver="latest" and many
    # attributes. Real Keras output written into such a file, then the Lambda variant.
    from keras.src.legacy.saving import legacy_h5_format

    for stem, cfg in (("seq_dense", None), ("mal_h5_dense", lam_h5_cfg)):
        with h5py.File(HERE / f"{stem}.h5", "w", libver="latest") as f:
            legacy_h5_format.save_model_to_hdf5(models["seq"], f)
            for i in range(20):
                f.attrs[f"note{i}"] = "v" * 10
            if cfg is not None:
                f.attrs["model_config"] = cfg
    # 7e. Weights read from other files: an external raw-data file and an external link.
    dst = HERE / "mal_h5_external.h5"
    dst.write_bytes((HERE / "seq.h5").read_bytes())
    with h5py.File(dst, "r+") as f:
        f.create_dataset("leak", shape=(4,), dtype="u1", external=[("/etc/passwd", 0, 4)])
        f["model_weights"]["other"] = h5py.ExternalLink("/tmp/other.h5", "/w")
    # 7f. A user block before the superblock (h5py/HDF5 look at 0, 512, 1024, ...).
    with h5py.File(HERE / "mal_h5_userblock.h5", "w", userblock_size=512) as f:
        f.attrs["keras_version"] = "3.15.1"
        f.attrs["model_config"] = lam_h5_cfg
    with h5py.File(HERE / "mal_h5_userblock4k.h5", "w", userblock_size=4096) as f:
        f.attrs["keras_version"] = "3.15.1"
        f.attrs["model_config"] = lam_h5_cfg
    # 8. A benign, empty weights file (a real HDF5 for synthetic .keras zips).
    with h5py.File(HERE / "empty.weights.h5", "w"):
        pass


if __name__ == "__main__":
    main()
