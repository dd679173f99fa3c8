# mypy: ignore-errors
# (runs inside the corpus venv with numpy/torch/...; the project env that type-checks has none)
"""Structured-format corpus (#12): Keras 3 (.keras, legacy .h5, .weights.h5), ONNX built with
``onnx.helper`` (local functions, control flow, external data, sparse initializers), GGUF written
by the ``gguf`` package (with a chat template), safetensors written by ``safetensors``.

Run inside the corpus venv: ``python gen_structured.py OUT_DIR``.
"""

from __future__ import annotations

import json
import os

os.environ.setdefault("KERAS_BACKEND", "torch")  # lightest backend that saves: torch is here anyway
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
from _common import main_out, version

rec = main_out("structured")
rng = np.random.default_rng(0)

CHATML = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content']"
    " + '<|im_end|>' + '\\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}"
    "{% endif %}"
)


def keras_files() -> None:
    import keras
    from keras import layers

    kv = [version("keras"), "KERAS_BACKEND=" + keras.backend.backend(), version("torch")]
    seq = keras.Sequential(
        [
            keras.Input((8,)),
            layers.Dense(4, activation="relu"),
            layers.Dropout(0.1),
            layers.BatchNormalization(),
            layers.Dense(2, activation="softmax"),
        ]
    )
    seq.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    seq.fit(rng.normal(size=(16, 8)), rng.integers(0, 2, 16), epochs=1, verbose=0)
    seq.save(rec.path("keras/sequential.keras"))
    rec.add("keras/sequential.keras", kv, "keras v3 zip")
    seq.save(rec.path("keras/sequential.h5"))
    rec.add("keras/sequential.h5", [*kv, version("h5py")], "keras legacy h5")
    seq.save_weights(rec.path("keras/sequential.weights.h5"))
    rec.add("keras/sequential.weights.h5", [*kv, version("h5py")], "keras weights h5")

    inp = keras.Input((6,), dtype="int32", name="tokens")
    emb = layers.Embedding(20, 4)(inp)
    rnn = layers.LSTM(3)(emb)
    conv_in = keras.Input((8, 8, 1), name="image")
    c = layers.Conv2D(2, 3, padding="same")(conv_in)
    c = layers.MaxPooling2D()(c)
    c = layers.GlobalAveragePooling2D()(c)
    merged = layers.Concatenate()([rnn, layers.Dense(3)(c)])
    out = layers.Add()([layers.Dense(2)(merged), layers.Dense(2)(merged)])
    out = layers.Activation("sigmoid", name="out")(out)
    func = keras.Model([inp, conv_in], out, name="multi_input")
    func.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    func.save(rec.path("keras/functional.keras"))
    rec.add("keras/functional.keras", kv, "keras v3 zip")
    func.save(rec.path("keras/functional.h5"))
    rec.add("keras/functional.h5", [*kv, version("h5py")], "keras legacy h5")


def onnx_files() -> None:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    ov = version("onnx")
    W = numpy_helper.from_array(rng.normal(size=(4, 3)).astype(np.float32), "W")
    B = numpy_helper.from_array(np.zeros(3, np.float32), "B")
    # a model-local function (domain "local"), called from the main graph
    fn = helper.make_function(
        "local",
        "LinearRelu",
        ["x", "w", "b"],
        ["y"],
        [
            helper.make_node("MatMul", ["x", "w"], ["xw"]),
            helper.make_node("Add", ["xw", "b"], ["z"]),
            helper.make_node("Relu", ["z"], ["y"]),
        ],
        [helper.make_opsetid("", 18)],
    )
    then_g = helper.make_graph(
        [helper.make_node("Identity", ["h"], ["t_out"])],
        "then",
        [],
        [helper.make_tensor_value_info("t_out", TensorProto.FLOAT, ["batch", 3])],
    )
    else_g = helper.make_graph(
        [helper.make_node("Neg", ["h"], ["e_out"])],
        "else",
        [],
        [helper.make_tensor_value_info("e_out", TensorProto.FLOAT, ["batch", 3])],
    )
    nodes = [
        helper.make_node("LinearRelu", ["X", "W", "B"], ["h"], domain="local"),
        helper.make_node("ReduceSum", ["h"], ["s"], keepdims=0),
        helper.make_node("Constant", [], ["zero"], value=numpy_helper.from_array(np.float32(0.0))),
        helper.make_node("Greater", ["s", "zero"], ["cond"]),
        helper.make_node("If", ["cond"], ["Y"], then_branch=then_g, else_branch=else_g),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["batch", 3])],
        [W, B],
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 18), helper.make_opsetid("local", 1)],
        functions=[fn],
        producer_name="modelsec-realworld",
    )
    helper.set_model_props(model, {"author": "corpus", "license": "MIT"})
    onnx.checker.check_model(model)
    onnx.save(model, rec.path("onnx/local_function.onnx"))
    rec.add("onnx/local_function.onnx", ov, "onnx (local function, If)")

    # external data: big initializer stored beside the model
    big = numpy_helper.from_array(rng.normal(size=(64, 64)).astype(np.float32), "Wbig")
    g2 = helper.make_graph(
        [helper.make_node("MatMul", ["X", "Wbig"], ["Y"])],
        "ext",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, 64])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1, 64])],
        [big],
    )
    m2 = helper.make_model(g2, opset_imports=[helper.make_opsetid("", 18)])
    onnx.save_model(
        m2,
        rec.path("onnx/external_data/model.onnx"),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location="model.onnx.data",
        size_threshold=0,
    )
    rec.add("onnx/external_data", ov, "onnx with external data (dir)", kind="dir")
    rec.add("onnx/external_data/model.onnx", ov, "onnx with external data (model file alone)")

    # sparse initializer
    values = numpy_helper.from_array(np.array([1.0, 2.0], np.float32), "S")
    indices = numpy_helper.from_array(np.array([0, 5], np.int64), "S_idx")
    sparse = helper.make_sparse_tensor(values, indices, [2, 4])
    g3 = helper.make_graph(
        [helper.make_node("Add", ["X", "S"], ["Y"])],
        "sparse",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [2, 4])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [2, 4])],
        sparse_initializer=[sparse],
    )
    m3 = helper.make_model(g3, opset_imports=[helper.make_opsetid("", 18)])
    onnx.checker.check_model(m3)
    onnx.save(m3, rec.path("onnx/sparse_initializer.onnx"))
    rec.add("onnx/sparse_initializer.onnx", ov, "onnx (sparse initializer)")

    # Loop + ai.onnx.ml operator
    body = helper.make_graph(
        [
            helper.make_node("Identity", ["cond_in"], ["cond_out"]),
            helper.make_node("Add", ["acc_in", "one"], ["acc_out"]),
        ],
        "body",
        [
            helper.make_tensor_value_info("i", TensorProto.INT64, []),
            helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
            helper.make_tensor_value_info("acc_in", TensorProto.FLOAT, [1]),
        ],
        [
            helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
            helper.make_tensor_value_info("acc_out", TensorProto.FLOAT, [1]),
        ],
        [numpy_helper.from_array(np.ones(1, np.float32), "one")],
    )
    g4 = helper.make_graph(
        [
            helper.make_node("Loop", ["N", "C", "A"], ["R"], body=body),
            helper.make_node("Normalizer", ["R"], ["Y"], domain="ai.onnx.ml", norm="L2"),
        ],
        "loop",
        [
            helper.make_tensor_value_info("N", TensorProto.INT64, []),
            helper.make_tensor_value_info("C", TensorProto.BOOL, []),
            helper.make_tensor_value_info("A", TensorProto.FLOAT, [1]),
        ],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1])],
    )
    m4 = helper.make_model(
        g4, opset_imports=[helper.make_opsetid("", 18), helper.make_opsetid("ai.onnx.ml", 3)]
    )
    onnx.checker.check_model(m4)
    onnx.save(m4, rec.path("onnx/loop_ml.onnx"))
    rec.add("onnx/loop_ml.onnx", ov, "onnx (Loop, ai.onnx.ml)")


def torch_onnx_export() -> None:
    """``torch.onnx.export`` (dynamo exporter needs onnxscript; TorchScript exporter otherwise)."""
    import torch
    from torch import nn

    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU()).eval()
    torch.onnx.export(
        model, (torch.randn(1, 4),), str(rec.path("onnx/torch_export.onnx")), dynamo=False
    )
    rec.add(
        "onnx/torch_export.onnx", [version("torch"), version("onnx")], "onnx (torch.onnx.export)"
    )


def gguf_files() -> None:
    import gguf

    gv = version("gguf")
    w = gguf.GGUFWriter(str(rec.path("gguf/tiny-llama.gguf")), "llama")
    w.add_name("tiny")
    w.add_context_length(128)
    w.add_embedding_length(8)
    w.add_block_count(1)
    w.add_feed_forward_length(16)
    w.add_head_count(2)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_tokenizer_model("llama")
    w.add_token_list(["<unk>", "<s>", "</s>", "a", "b"])
    w.add_token_scores([0.0, 0.0, 0.0, -1.0, -2.0])
    w.add_token_types([2, 3, 3, 1, 1])
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_chat_template(CHATML)
    w.add_tensor("token_embd.weight", rng.normal(size=(5, 8)).astype(np.float32))
    w.add_tensor("output_norm.weight", np.ones(8, np.float32))
    w.add_tensor("blk.0.attn_q.weight", rng.normal(size=(8, 8)).astype(np.float16))
    q8 = gguf.quants.quantize(
        rng.normal(size=(2, 64)).astype(np.float32), gguf.GGMLQuantizationType.Q8_0
    )
    w.add_tensor("blk.0.ffn_up.weight", q8, raw_dtype=gguf.GGMLQuantizationType.Q8_0)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    rec.add("gguf/tiny-llama.gguf", gv, "gguf (chat template)")

    w = gguf.GGUFWriter(str(rec.path("gguf/named-templates.gguf")), "llama")
    w.add_chat_template(
        [
            {"name": "default", "template": CHATML},
            {"name": "tool_use", "template": "{% for m in messages %}{{ m.content }}{% endfor %}"},
        ]
    )
    w.add_tensor("x", np.zeros(4, np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    rec.add("gguf/named-templates.gguf", gv, "gguf (named chat templates)")


def safetensors_files() -> None:
    import torch
    from safetensors.numpy import save_file as np_save
    from safetensors.torch import save_file as pt_save

    sv = version("safetensors")
    tensors = {
        "f32": torch.randn(3, 4),
        "f16": torch.randn(2).half(),
        "bf16": torch.randn(2).to(torch.bfloat16),
        "i64": torch.arange(5),
        "bool": torch.tensor([True, False]),
        "u8": torch.zeros(3, dtype=torch.uint8),
        "empty": torch.zeros(0),
        "scalar": torch.tensor(1.0),
    }
    pt_save(tensors, str(rec.path("safetensors/torch.safetensors")), metadata={"format": "pt"})
    rec.add("safetensors/torch.safetensors", [sv, version("torch")], "safetensors")
    np_save(
        {"a": np.ones((2, 2), np.float64), "b": np.arange(3, dtype=np.int32)},
        str(rec.path("safetensors/numpy.safetensors")),
    )
    rec.add("safetensors/numpy.safetensors", sv, "safetensors")
    # sharded checkpoint as transformers writes it
    shard_dir = rec.path("safetensors/sharded/x").parent
    pt_save(
        {"a.weight": torch.ones(2, 2)},
        str(shard_dir / "model-00001-of-00002.safetensors"),
        metadata={"format": "pt"},
    )
    pt_save(
        {"b.weight": torch.ones(2)},
        str(shard_dir / "model-00002-of-00002.safetensors"),
        metadata={"format": "pt"},
    )
    index = {
        "metadata": {"total_size": 24},
        "weight_map": {
            "a.weight": "model-00001-of-00002.safetensors",
            "b.weight": "model-00002-of-00002.safetensors",
        },
    }
    (shard_dir / "model.safetensors.index.json").write_text(json.dumps(index, indent=2))
    rec.add(
        "safetensors/sharded",
        [sv, version("torch")],
        "sharded safetensors + index (dir)",
        kind="dir",
    )


for step in (keras_files, onnx_files, torch_onnx_export, gguf_files, safetensors_files):
    rec.step(step.__name__, step)
raise SystemExit(rec.finish())
