"""The corpus: every malicious case flagged with the right family, every benign one clean."""

from __future__ import annotations

import collections
import json
import pickle
import struct
import zipfile

import pytest
import scanner_builders as B
from conftest import by_path, threats_of

PKL100, PKL101 = "PAIT-PKL-100", "PAIT-PKL-101"
PT100 = "PAIT-PYTCH-100"
JL100 = "PAIT-JOBLIB-100"

_SYSTEM = B.string0("id")


def _joblib_array_then(payload: bytes) -> bytes:
    """A joblib pickle: NumpyArrayWrapper, raw array bytes in the stream, then ``payload``."""
    state = (
        B.EMPTY_DICT
        + B.MARK
        + B.su("subclass")
        + B.glob("numpy", "ndarray")
        + B.su("shape")
        + B.binint1(4)
        + B.TUPLE1
        + B.su("order")
        + B.su("C")
        + B.su("dtype")
        + B.glob("numpy", "dtype")
        + B.MARK
        + B.su("f8")
        + B.NEWFALSE
        + b"\x88"
        + B.TUPLE
        + B.REDUCE
        + B.su("allow_mmap")
        + B.NEWFALSE
        + B.su("numpy_array_alignment_bytes")
        + B.binint1(16)
        + B.SETITEMS
    )
    wrapper = (
        B.glob("joblib.numpy_pickle", "NumpyArrayWrapper")
        + B.EMPTY_TUPLE
        + B.NEWOBJ
        + state
        + B.BUILD
    )
    array = bytes([3]) + b"\xff" * 3 + struct.pack("<4d", 1, 2, 3, 4)
    # Array bytes include opcode-like junk (0x63 'c', newlines) that must be skipped, not parsed.
    array = bytes([3]) + b"\xff" * 3 + b"cos\nsystem\n".ljust(32, b"\x00")
    return B.PROTO(2) + B.EMPTY_LIST + B.MARK + wrapper + array + payload + B.APPENDS + B.STOP


MALICIOUS: dict[str, tuple[dict[str, bytes], str, str]] = {
    # --- raw pickles: spellings of an import --------------------------------------------
    "proto0_global": ({"m.pkl": b"cos\nsystem\n(S'id'\ntR."}, "m.pkl", PKL100),
    "proto2_posix": ({"m.pkl": B.call("posix", "system", _SYSTEM)}, "m.pkl", PKL100),
    "proto1_nt": ({"m.pkl": b"cnt\nsystem\n(X\x02\x00\x00\x00idtR."}, "m.pkl", PKL100),
    "stack_global_stack": ({"m.pkl": B.stack_global_call("os", "system")}, "m.pkl", PKL100),
    "stack_global_memo": (
        {
            "m.pkl": B.PROTO(4)
            + B.su("builtins")
            + B.MEMOIZE
            + b"0"
            + B.su("xx")
            + B.MEMOIZE
            + b"0"
            + B.su("eval")
            + B.MEMOIZE
            + b"0"
            + B.binget(0)
            + B.binget(2)
            + B.STACK_GLOBAL
            + B.su("1+1")
            + B.TUPLE1
            + B.REDUCE
            + B.STOP
        },
        "m.pkl",
        PKL100,
    ),
    "stack_global_long_binget": (
        {
            "m.pkl": B.PROTO(4)
            + B.su("subprocess")
            + b"r\x07\x00\x00\x00"
            + b"0"
            + B.su("check_output")
            + b"r\x09\x00\x00\x00"
            + b"0"
            + B.long_binget(7)
            + B.long_binget(9)
            + B.STACK_GLOBAL
            + B.NONE
            + B.TUPLE1
            + B.REDUCE
            + B.STOP
        },
        "m.pkl",
        PKL100,
    ),
    "stack_global_from_string0": (
        {
            "m.pkl": B.PROTO(2)
            + B.string0("os")
            + B.string0("system")
            + B.STACK_GLOBAL
            + B.string0("id")
            + B.TUPLE1
            + B.REDUCE
            + B.STOP
        },
        "m.pkl",
        PKL100,
    ),
    "inst": ({"m.pkl": b"(S'id'\nios\nsystem\n."}, "m.pkl", PKL100),
    "obj": (
        {
            "m.pkl": B.PROTO(2)
            + B.MARK
            + B.glob("subprocess", "Popen")
            + B.string0("id")
            + B.OBJ
            + B.STOP
        },
        "m.pkl",
        PKL100,
    ),
    "global_odd_whitespace": ({"m.pkl": b"c os \n system\n(S'id'\ntR."}, "m.pkl", PKL100),
    "builtin_alias": ({"m.pkl": b"c__builtin__\neval\n(S'1'\ntR."}, "m.pkl", PKL100),
    "builtins_exec": ({"m.pkl": B.call("builtins", "exec", _SYSTEM)}, "m.pkl", PKL100),
    "getattr_gadget": (
        {
            "m.pkl": B.PROTO(2)
            + B.glob("builtins", "getattr")
            + B.MARK
            + B.glob("collections", "OrderedDict")
            + B.string0("__init__")
            + B.TUPLE
            + B.REDUCE
            + B.STOP
        },
        "m.pkl",
        PKL100,
    ),
    "dunder_chain": (
        {
            "m.pkl": B.PROTO(4)
            + B.su("collections")
            + B.su("OrderedDict.__init__.__globals__")
            + B.STACK_GLOBAL
            + B.STOP
        },
        "m.pkl",
        PKL100,
    ),
    # _codecs.encode is how protocols 0-2 spell bytes (benign on its own, see BENIGN); a
    # payload it builds still has to reach a callable, and that one is judged.
    "codecs_encode_into_exec": (
        {
            "m.pkl": B.PROTO(2)
            + B.glob("builtins", "exec")
            + B.MARK
            + B.glob("_codecs", "encode")
            + B.MARK
            + B.string0("print(1)")
            + B.string0("latin1")
            + B.TUPLE
            + B.REDUCE
            + B.TUPLE
            + B.REDUCE
            + B.STOP
        },
        "m.pkl",
        PKL100,
    ),
    "pip_main": ({"m.pkl": B.call("pip", "main", B.string0("install"))}, "m.pkl", PKL100),
    "runpy_run_code": ({"m.pkl": B.call("runpy", "_run_code", _SYSTEM)}, "m.pkl", PKL100),
    # Gadgets are judged by what they reach (their call sites): the attribute an attack needs.
    "operator_attrgetter": (
        {"m.pkl": B.call("operator", "attrgetter", B.string0("system"))},
        "m.pkl",
        PKL100,
    ),
    "operator_private": (
        {"m.pkl": B.call("_operator", "methodcaller", B.string0("system"))},
        "m.pkl",
        PKL100,
    ),
    "functools_partial": ({"m.pkl": B.call("functools", "partial", _SYSTEM)}, "m.pkl", PKL100),
    "numpy_runstring": (
        {"m.pkl": B.call("numpy.testing._private.utils", "runstring", _SYSTEM)},
        "m.pkl",
        PKL100,
    ),
    "torch_inductor": (
        {"m.pkl": B.call("torch._inductor.codecache", "compile_file", _SYSTEM)},
        "m.pkl",
        PKL100,
    ),
    "torch_load_nested": (
        {"m.pkl": B.call("torch.serialization", "load", _SYSTEM)},
        "m.pkl",
        PKL100,
    ),
    "torch_dotted_name": (
        {
            "m.pkl": B.PROTO(4)
            + B.su("torch")
            + B.su("serialization.load")
            + B.STACK_GLOBAL
            + B.STOP
        },
        "m.pkl",
        PKL100,
    ),
    "dill_function": (
        {"m.pkl": B.call("dill._dill", "_create_function", _SYSTEM)},
        "m.pkl",
        PKL100,
    ),
    "ext_code": ({"m.pkl": B.PROTO(2) + b"\x82\x01" + B.STOP}, "m.pkl", PKL100),
    "unresolved_stack_global": (
        {"m.pkl": B.PROTO(4) + B.binget(3) + B.binget(4) + B.STACK_GLOBAL + B.STOP},
        "m.pkl",
        PKL100,
    ),
    # --- stream tricks --------------------------------------------------------------------
    "second_pickle": (
        {"m.pkl": pickle.dumps({"a": 1}) + B.call("os", "system", _SYSTEM)},
        "m.pkl",
        PKL100,
    ),
    "junk_after_stop": (
        {"m.pkl": B.call("os", "system", _SYSTEM) + b"\xff\xfe garbage"},
        "m.pkl",
        PKL100,
    ),
    "truncated_payload": (
        {"m.pkl": B.PROTO(2) + B.glob("os", "system") + B.MARK + _SYSTEM},
        "m.pkl",
        PKL100,
    ),
    "pickle_after_junk": (
        {
            "m.pkl": pickle.dumps([1, 2])
            + b"\xee\xee junk \x00"
            + B.stack_global_call("builtins", "eval")
        },
        "m.pkl",
        PKL100,
    ),
    "framed": (
        {
            "m.pkl": B.PROTO(4)
            + B.frame(B.su("os") + B.su("system") + B.STACK_GLOBAL)
            + B.frame(B.su("id") + B.TUPLE1 + B.REDUCE + B.STOP)
        },
        "m.pkl",
        PKL100,
    ),
    "big_payload_then_global": (
        {
            "m.pkl": B.PROTO(4)
            + B.binbytes(b"\x63" * 300_000)
            + b"0"
            + B.stack_global_call("os", "system")[2:]
        },
        "m.pkl",
        PKL100,
    ),
    # --- disguises ------------------------------------------------------------------------
    "pickle_named_safetensors": (
        {"model.safetensors": B.call("os", "system", _SYSTEM)},
        "model.safetensors",
        PKL100,
    ),
    "pickle_named_txt": ({"notes.txt": b"cos\nsystem\n(S'id'\ntR."}, "notes.txt", PKL100),
    # --- PyTorch --------------------------------------------------------------------------
    "torch_zip": (
        {"pytorch_model.bin": B.torch_zip(B.call("os", "system", _SYSTEM))},
        "pytorch_model.bin",
        PT100,
    ),
    "torch_zip_odd_folder": (
        {"model.pt": B.torch_zip(B.call("os", "system", _SYSTEM), prefix="WeIrD Name/x")},
        "model.pt",
        PT100,
    ),
    "torch_zip_upper": (
        {
            "model.pt": B.zip_bytes(
                [("ARCHIVE/DATA.PKL", B.call("os", "system", _SYSTEM)), ("ARCHIVE/version", b"3")]
            )
        },
        "model.pt",
        PT100,
    ),
    "torch_zip_proto0_pkl": (
        {"model.pt": B.torch_zip(b"(S'id'\nios\nsystem\n.")},
        "model.pt",
        PT100,
    ),
    "torch_zip_bad_crc": (
        {
            "model.pt": B.corrupt_crc(
                B.torch_zip(B.call("os", "system", _SYSTEM)), "archive/data.pkl"
            )
        },
        "model.pt",
        PT100,
    ),
    "torch_zip_encrypted_flag": (
        {"model.pt": B.set_encrypted_flag(B.torch_zip(B.call("os", "system", _SYSTEM)))},
        "model.pt",
        PT100,
    ),
    "torch_zip_duplicate": (
        {
            "model.pt": B.zip_bytes(
                [
                    ("archive/data.pkl", B.torch_state_dict_pickle()),
                    ("archive/data.pkl", B.call("os", "system", _SYSTEM)),
                    ("archive/version", b"3"),
                ]
            )
        },
        "model.pt",
        PT100,
    ),
    "torch_zip_deflated": (
        {
            "model.pt": B.zip_bytes(
                [("archive/data.pkl", B.call("os", "system", _SYSTEM))],
                compression=zipfile.ZIP_DEFLATED,
            )
        },
        "model.pt",
        PT100,
    ),
    "torch_legacy": (
        {"model.bin": B.legacy_torch(B.call("os", "system", _SYSTEM))},
        "model.bin",
        PT100,
    ),
    "torchscript_code": (
        {
            "ts.pt": B.torch_zip(
                B.torch_state_dict_pickle(),
                extra={
                    "code/__torch__.py": b"def forward(self):\n  return ops.aten.from_file('/etc/x')\n",
                    "constants.pkl": B.PROTO(2) + B.EMPTY_TUPLE + B.STOP,
                },
            )
        },
        "ts.pt",
        "PAIT-TCHST-300",
    ),
    "torch_tar_legacy": (
        {
            "old.pt": B.tar_bytes(
                [("sys_info", pickle.dumps({})), ("pickle", B.call("os", "system", _SYSTEM))]
            )
        },
        "old.pt",
        PT100,
    ),
    # --- joblib ---------------------------------------------------------------------------
    "joblib_after_array": (
        {"m.joblib": _joblib_array_then(B.call("os", "system", _SYSTEM)[2:-1])},
        "m.joblib",
        JL100,
    ),
    "joblib_zlib": (
        {"m.joblib": B.zl(_joblib_array_then(B.glob("os", "system")))},
        "m.joblib",
        JL100,
    ),
    "joblib_content_pkl_ext": (
        {"m.pkl": _joblib_array_then(B.glob("subprocess", "run"))},
        "m.pkl",
        JL100,
    ),
    "joblib_gzip": (
        {"m.joblib.gz": B.gz(_joblib_array_then(B.glob("os", "system")))},
        "m.joblib.gz",
        JL100,
    ),
    # --- numpy ----------------------------------------------------------------------------
    "npy_object": ({"a.npy": B.npy("|O", (1,), B.call("os", "system", _SYSTEM))}, "a.npy", PKL100),
    "npz_object": (
        {"a.npz": B.zip_bytes([("x.npy", B.npy("|O", (1,), B.call("os", "system", _SYSTEM)))])},
        "a.npz",
        PKL100,
    ),
    # --- Keras ----------------------------------------------------------------------------
    "keras_lambda_deep": (
        {
            "m.keras": B.keras_zip(
                B.sequential(
                    [
                        B.dense("d"),
                        B.sequential(
                            [
                                B.sequential(
                                    [
                                        {
                                            "module": "keras.layers",
                                            "class_name": "Lambda",
                                            "config": {
                                                "function": {
                                                    "class_name": "__lambda__",
                                                    "config": {"code": "4wEAAAAAAAAA"},
                                                }
                                            },
                                        }
                                    ]
                                )
                            ]
                        ),
                    ]
                )
            )
        },
        "m.keras",
        "PAIT-KERAS-100",
    ),
    "keras_outside_module": (
        {
            "m.keras": B.keras_zip(
                B.sequential([{"module": "evilpkg.layers", "class_name": "X", "config": {}}])
            )
        },
        "m.keras",
        "PAIT-KERAS-301",
    ),
    "keras_builtins_function": (
        {
            "m.keras": B.keras_zip(
                B.sequential(
                    [
                        {
                            "module": "keras.layers",
                            "class_name": "Dense",
                            "config": {
                                "activation": {
                                    "module": "builtins",
                                    "class_name": "function",
                                    "config": "exec",
                                    "registered_name": "function",
                                }
                            },
                        }
                    ]
                )
            )
        },
        "m.keras",
        "PAIT-KERAS-100",
    ),
    "keras_h5_lambda": (
        {
            "m.h5": b"\x89HDF\r\n\x1a\n"
            + bytes(200)
            + b"keras_version\x00model_config\x00"
            + json.dumps({"class_name": "Lambda", "config": {"function_type": "lambda"}}).encode()
        },
        "m.h5",
        "PAIT-KERAS-100",
    ),
    # --- GGUF / Jinja ---------------------------------------------------------------------
    "gguf_template": (
        {
            "m.gguf": B.gguf(
                {
                    "general.architecture": "llama",
                    "tokenizer.chat_template": "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
                }
            )
        },
        "m.gguf",
        "PAIT-GGUF-101",
    ),
    "gguf_template_obfuscated": (
        {
            "m.gguf": B.gguf(
                {"tokenizer.chat_template": "{{ ''|attr('\\x5f\\x5fclass' ~ '\\x5f\\x5f') }}"}
            )
        },
        "m.gguf",
        "PAIT-GGUF-101",
    ),
    "gguf_bad_length": (
        {"m.gguf": B.gguf({"a": "b"})[:24] + struct.pack("<Q", 1 << 40) + b"key"},
        "m.gguf",
        "PAIT-GGUF-100",
    ),
    "gguf_too_many_dims": (
        {"m.gguf": B.gguf({}, [("t", [1, 1, 1, 1, 1, 1], 0)])},
        "m.gguf",
        "PAIT-GGUF-100",
    ),
    "tokenizer_config_ssti": (
        {
            "tokenizer_config.json": json.dumps(
                {
                    "chat_template": "{% for m in messages %}{{ self._TemplateReference__context }}{% endfor %}"
                }
            ).encode()
        },
        "tokenizer_config.json",
        "PAIT-GGUF-101",
    ),
    "jinja_file": (
        {"chat_template.jinja": b"{{ request.application.__globals__ }}"},
        "chat_template.jinja",
        "PAIT-GGUF-101",
    ),
    # --- ONNX / TensorFlow ----------------------------------------------------------------
    "onnx_custom_domain": (
        {"m.onnx": B.onnx_model([("Conv", ""), ("Evil", "com.evil")])},
        "m.onnx",
        "PAIT-ONNX-200",
    ),
    "onnx_external_escape": (
        {"m.onnx": B.onnx_model([("Conv", "")], external="../../etc/passwd")},
        "m.onnx",
        "PAIT-ONNX-200",
    ),
    "onnx_pyop": (
        {"m.onnx": B.onnx_model([("PyOp", "ai.onnx.contrib")])},
        "m.onnx",
        "PAIT-ONNX-200",
    ),
    "tf_pyfunc": (
        {"saved_model.pb": B.saved_model(["MatMul", "PyFunc"])},
        "saved_model.pb",
        "PAIT-TF-300",
    ),
    "tf_readfile": (
        {"saved_model.pb": B.saved_model(["ReadFile"])},
        "saved_model.pb",
        "PAIT-TF-302",
    ),
    "tf_custom_op": (
        {"saved_model.pb": B.saved_model(["Addons>Evil"])},
        "saved_model.pb",
        "PAIT-TF-301",
    ),
    # --- archives -------------------------------------------------------------------------
    "zip_slip": ({"a.zip": B.zip_bytes([("../../evil.sh", b"echo")])}, "a.zip", "PAIT-ARV-100"),
    "zip_abs": ({"a.zip": B.zip_bytes([("/etc/cron.d/x", b"x")])}, "a.zip", "PAIT-ARV-100"),
    "zip_symlink": (
        {"a.zip": B.zip_with_symlink("link", "../../../etc/passwd")},
        "a.zip",
        "PAIT-ARV-100",
    ),
    "tar_slip": ({"a.tar": B.tar_bytes([("../x", b"x")])}, "a.tar", "PAIT-ARV-100"),
    "tar_symlink": (
        {"a.tar": B.tar_bytes([], links={"a/l": "../../../etc"})},
        "a.tar",
        "PAIT-ARV-100",
    ),
    "tar_hardlink": (
        {"a.tar": B.tar_bytes([], hardlinks={"h": "/etc/shadow"})},
        "a.tar",
        "PAIT-ARV-100",
    ),
    "nested_tgz_zip_pickle": (
        {
            "m.tar.gz": B.gz(
                B.tar_bytes(
                    [
                        (
                            "inner.zip",
                            B.zip_bytes(
                                [("deep/m.pkl", B.call("os", "system", _SYSTEM))],
                                compression=zipfile.ZIP_DEFLATED,
                            ),
                        )
                    ]
                )
            )
        },
        "m.tar.gz",
        PKL100,
    ),
    "bz2_pickle": ({"m.pkl.bz2": B.bz(B.call("os", "system", _SYSTEM))}, "m.pkl.bz2", PKL100),
    "xz_pickle": ({"m.pkl.xz": B.xz(B.call("os", "system", _SYSTEM))}, "m.pkl.xz", PKL100),
}


@pytest.mark.parametrize("case", sorted(MALICIOUS))
def test_malicious_flagged(scan_files, case):  # type: ignore[no-untyped-def]
    files, target, threat = MALICIOUS[case]
    details = scan_files(files)
    f = by_path(details)[target]
    assert threat in threats_of(f), (f.modelscan_status, f.issues_detected, f.error_message)
    assert f.modelscan_status == "SCANNED", f.error_message
    assert "internal" not in (f.error_message or "")


class _Plain:
    """A plain class for look-alike pickles (not allowed: becomes -101, tested apart)."""


BENIGN: dict[str, dict[str, bytes]] = {
    # Protocol 2 writes bytes values as _codecs.encode(text, "latin1"): plain data.
    "protocol2_bytes": {"m.pkl": B.call("_codecs", "encode", B.string0("x"), B.string0("latin1"))},
    **{
        f"ordereddict_p{p}": {
            "m.pkl": pickle.dumps(collections.OrderedDict(a=1, b=[1.5, "x"]), protocol=p)
        }
        for p in range(6)
    },
    "containers_p4": {
        "m.pkl": pickle.dumps(
            {"a": (1, 2), "b": {3}, "c": frozenset([4]), "d": b"x" * 5000, "e": "y" * 9000},
            protocol=4,
        )
    },
    "big_bytes_p5": {"m.pkl": pickle.dumps([b"\x00" * 300_000, bytearray(10)], protocol=5)},
    "torch_state_dict_zip": {"pytorch_model.bin": B.torch_zip(B.torch_state_dict_pickle(3))},
    "torch_state_dict_odd_prefix": {
        "m.pt": B.torch_zip(B.torch_state_dict_pickle(), prefix="my_model")
    },
    "torch_legacy_state_dict": {"m.bin": B.legacy_torch(B.torch_state_dict_pickle())},
    "npy_float": {"a.npy": B.npy("<f4", (2, 2), struct.pack("<4f", 1, 2, 3, 4))},
    "npz_float": {
        "a.npz": B.zip_bytes(
            [("a.npy", B.npy("<f8", (1,), bytes(8))), ("b.npy", B.npy("<i4", (2,), bytes(8)))]
        )
    },
    "safetensors": {
        "model.safetensors": B.safetensors(
            {"w": ("F32", [2, 2], bytes(16)), "b": ("BF16", [3], bytes(6))}, {"format": "pt"}
        )
    },
    "safetensors_index": {
        "model.safetensors.index.json": json.dumps(
            {"metadata": {}, "weight_map": {"w": "model-00001.safetensors"}}
        ).encode()
    },
    "gguf": {
        "m.gguf": B.gguf(
            {
                "general.architecture": "llama",
                "general.alignment": 32,
                "tokenizer.ggml.tokens": ["a", "b", "c"],
                "tokenizer.chat_template": "{% for message in messages %}{{ '<|' + message['role'] + '|>' }}"
                "{{ message['content'] }}{% endfor %}",
            },
            [("tok.weight", [4, 2], 0)],
        )
    },
    "keras_dense": {"m.keras": B.keras_zip(B.sequential([B.dense("a"), B.dense("b")]))},
    "tokenizer_config": {
        "tokenizer_config.json": json.dumps(
            {
                "chat_template": (
                    "{%- set ns = namespace(first=true) -%}{% for message in messages %}"
                    "{% if message['role'] not in ['user', 'assistant'] %}"
                    "{{ raise_exception('bad role') }}{% endif %}{{ message['content'] | trim }}"
                    "{% if loop.last and add_generation_prompt %}{{ '<assistant>' }}{% endif %}"
                    "{% endfor %}"
                )
            }
        ).encode()
    },
    "onnx": {
        "m.onnx": B.onnx_model(
            [("Conv", ""), ("FusedMatMul", "com.microsoft")], external="weights/w.bin", weights=5000
        )
    },
    "saved_model": {
        "saved_model.pb": B.saved_model(["MatMul", "SaveV2", "RestoreV2", "MergeV2Checkpoints"])
    },
    "joblib_array": {"m.joblib": _joblib_array_then(b"")},
    "tgz_of_pickle": {"m.tar.gz": B.gz(B.tar_bytes([("m.pkl", pickle.dumps([1, 2.0, "x"]))]))},
    "plain_zip": {"a.zip": B.zip_bytes([("README.md", b"# hi"), ("dir/c.json", b"{}")])},
}


@pytest.mark.parametrize("case", sorted(BENIGN))
def test_benign_clean(scan_files, case):  # type: ignore[no-untyped-def]
    details = scan_files(BENIGN[case])
    for f in details.files:
        assert f.issues_detected == [], (f.file_path, f.issues_detected)
        assert f.modelscan_status == "SCANNED", (f.file_path, f.error_message)
        assert f.error_message is None, f.error_message


def test_plain_docs_skipped(scan_files):  # type: ignore[no-untyped-def]
    details = scan_files(
        {
            "README.md": b"# Model\ncats are nice\n",
            "config.json": b'{"a": 1}',
            "img.png": b"\x89PNG\r\n\x1a\n" + bytes(20),
        }
    )
    files = by_path(details)
    assert {f.modelscan_status for f in files.values()} == {"SKIPPED"}
    assert files["config.json"].formats == ["json"]
    assert details.total_files_skipped == 3


def test_library_class_is_suspicious_not_unsafe(scan_files):  # type: ignore[no-untyped-def]
    details = scan_files(
        {
            "m.pkl": B.PROTO(2)
            # Outside the reviewed tables (scikit-learn estimators are derived as allowed now).
            + B.glob("transformers.models.bert.modeling_bert", "BertModel")
            + B.EMPTY_TUPLE
            + B.NEWOBJ
            + B.STOP
        }
    )
    assert threats_of(details.files[0]) == {PKL101}
