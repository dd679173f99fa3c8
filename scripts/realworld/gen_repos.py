# mypy: ignore-errors
# (runs inside the corpus venv with numpy/torch/...; the project env that type-checks has none)
"""Repository layouts (#19): a Hugging Face cache laid out by ``huggingface_hub``'s own cache code
(from local files, no network), a custom-code repo with ``auto_map`` (transformers' own GPT-2
configuration/modeling source, relative imports made absolute as Hub custom-code repos do), a
PyTorch Lightning checkpoint with an OmegaConf config in its hparams, NeMo-style ``.nemo``
archives, MLflow models saved by MLflow (sklearn and pytorch flavours, pyfunc with a cloudpickled
model), repos written by transformers itself (save_pretrained, training_args.bin, custom code via
register_for_auto_class), a PEFT LoRA adapter and a sentence-transformers folder.

Run inside the corpus venv: ``python gen_repos.py OUT_DIR`` (uses ``OUT_DIR/../downloads``).
"""

from __future__ import annotations

import ast
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ["HF_HUB_OFFLINE"] = "1"  # the cache is built from local files only
os.environ.setdefault("MLFLOW_TRACKING_URI", "file:///dev/null")

import numpy as np
from _common import main_out, version

rec = main_out("repos")
DOWNLOADS = rec.out.parent / "downloads"
TRANSFORMERS = ("transformers", "5.24.0")
COMMIT = "0123456789abcdef0123456789abcdef01234567"
rng = np.random.default_rng(0)

README = """---
license: mit
language: en
tags: [tiny, test]
---
# tiny model

A tiny model generated for scanner tests.
"""
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "model", "##s", "a", "b"]
CHAT = (
    "{% for message in messages %}"
    "{{ '<|' + message['role'] + '|>\\n' + message['content'] + eos_token }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}"
)


def tiny_state_dict() -> dict[str, object]:
    import torch

    torch.manual_seed(0)
    return {
        "embeddings.word_embeddings.weight": torch.randn(len(VOCAB), 8),
        "encoder.layer.0.attention.self.query.weight": torch.randn(8, 8),
        "encoder.layer.0.attention.self.query.bias": torch.zeros(8),
        "pooler.dense.weight": torch.randn(8, 8),
    }


def bert_repo_files() -> dict[str, bytes]:
    """The files of a small BERT-style repo, as they sit on the Hub."""
    import torch
    from safetensors.torch import save

    sd = tiny_state_dict()
    buf = io.BytesIO()
    torch.save(sd, buf)
    tokenizer = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [
            {
                "id": i,
                "content": t,
                "single_word": False,
                "lstrip": False,
                "rstrip": False,
                "normalized": False,
                "special": True,
            }
            for i, t in enumerate(VOCAB[:5])
        ],
        "normalizer": {
            "type": "BertNormalizer",
            "clean_text": True,
            "handle_chinese_chars": True,
            "strip_accents": None,
            "lowercase": True,
        },
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [
                {"SpecialToken": {"id": "[CLS]", "type_id": 0}},
                {"Sequence": {"id": "A", "type_id": 0}},
                {"SpecialToken": {"id": "[SEP]", "type_id": 0}},
            ],
            "pair": [
                {"Sequence": {"id": "A", "type_id": 0}},
                {"Sequence": {"id": "B", "type_id": 1}},
            ],
            "special_tokens": {
                "[CLS]": {"id": "[CLS]", "ids": [2], "tokens": ["[CLS]"]},
                "[SEP]": {"id": "[SEP]", "ids": [3], "tokens": ["[SEP]"]},
            },
        },
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": True},
        "model": {
            "type": "WordPiece",
            "unk_token": "[UNK]",
            "continuing_subword_prefix": "##",
            "max_input_chars_per_word": 100,
            "vocab": {t: i for i, t in enumerate(VOCAB)},
        },
    }
    config = {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "hidden_size": 8,
        "num_attention_heads": 2,
        "num_hidden_layers": 1,
        "intermediate_size": 16,
        "vocab_size": len(VOCAB),
        "torch_dtype": "float32",
        "transformers_version": TRANSFORMERS[1],
    }
    return {
        ".gitattributes": b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n"
        b"*.bin filter=lfs diff=lfs merge=lfs -text\n",
        "README.md": README.encode(),
        "config.json": json.dumps(config, indent=2).encode(),
        "generation_config.json": json.dumps(
            {"_from_model_config": True, "pad_token_id": 0}
        ).encode(),
        "model.safetensors": save(sd, metadata={"format": "pt"}),
        "pytorch_model.bin": buf.getvalue(),
        "tokenizer.json": json.dumps(tokenizer, indent=2).encode(),
        "tokenizer_config.json": json.dumps(
            {
                "do_lower_case": True,
                "model_max_length": 512,
                "tokenizer_class": "BertTokenizer",
                "unk_token": "[UNK]",
                "sep_token": "[SEP]",
                "pad_token": "[PAD]",
                "cls_token": "[CLS]",
                "mask_token": "[MASK]",
                "eos_token": "[SEP]",
                "chat_template": CHAT,
            },
            indent=2,
        ).encode(),
        "special_tokens_map.json": json.dumps(
            {
                "unk_token": "[UNK]",
                "sep_token": "[SEP]",
                "pad_token": "[PAD]",
                "cls_token": "[CLS]",
                "mask_token": "[MASK]",
            }
        ).encode(),
        "vocab.txt": ("\n".join(VOCAB) + "\n").encode(),
        "onnx/model.onnx": b"",  # replaced below when onnx is present
    }


def _absolute(m: re.Match[str]) -> str:
    """``from ...x import`` in transformers/models/<name>/ as ``from transformers.x import``."""
    base = "transformers" if m[2] == "..." else "transformers.models"
    return f"{m[1]}from {base}{'.' + m[3] if m[3] else ''} import"


def transformers_source() -> dict[str, str]:
    """GPT-2 configuration/modeling source from the pinned transformers wheel, as on the Hub."""
    dist, ver = TRANSFORMERS
    DOWNLOADS.mkdir(parents=True, exist_ok=True)
    whl = next(DOWNLOADS.glob(f"transformers-{ver}-*.whl"), None)
    if whl is None:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "-q",
                "--no-deps",
                "--only-binary",
                ":all:",
                "-d",
                str(DOWNLOADS),
                f"{dist}=={ver}",
            ],
            check=True,
        )
        whl = next(DOWNLOADS.glob(f"transformers-{ver}-*.whl"))
    out = {}
    with zipfile.ZipFile(whl) as z:
        for name in ("configuration_gpt2.py", "modeling_gpt2.py"):
            src = z.read(f"transformers/models/gpt2/{name}").decode()
            # Hub custom-code repos import transformers absolutely; same-repo imports stay relative
            src = re.sub(r"^(\s*)from (\.{2,3})([\w.]*) import", _absolute, src, flags=re.M)
            ast.parse(src)  # still valid Python
            out[name] = src
    return out


def custom_repo_files() -> dict[str, bytes]:
    files = {
        k: v
        for k, v in bert_repo_files().items()
        if k in (".gitattributes", "README.md", "model.safetensors")
    }
    for name, src in transformers_source().items():
        files[name] = src.encode()
    files["config.json"] = json.dumps(
        {
            "architectures": ["GPT2LMHeadModel"],
            "model_type": "gpt2",
            "auto_map": {
                "AutoConfig": "configuration_gpt2.GPT2Config",
                "AutoModel": "modeling_gpt2.GPT2Model",
                "AutoModelForCausalLM": "modeling_gpt2.GPT2LMHeadModel",
            },
            "n_embd": 8,
            "n_head": 2,
            "n_layer": 1,
            "vocab_size": len(VOCAB),
            "transformers_version": TRANSFORMERS[1],
        },
        indent=2,
    ).encode()
    return files


def onnx_bytes() -> bytes:
    import onnx
    from onnx import TensorProto, helper

    g = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8])],
    )
    return onnx.helper.make_model(
        g, opset_imports=[helper.make_opsetid("", 18)]
    ).SerializeToString()


def blob_name(data: bytes, lfs: bool) -> str:
    """The blob file name the Hub cache uses: the LFS sha256, else the git blob sha1 (the etag)."""
    if lfs:
        return hashlib.sha256(data).hexdigest()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def hf_cache() -> None:
    from huggingface_hub import file_download as fd
    from huggingface_hub import scan_cache_dir, try_to_load_from_cache
    from huggingface_hub._local_folder import _create_cachedir_tag

    hv = version("huggingface_hub")
    cache = rec.path("hf-cache/hub/x").parent
    repos = {"corpus/tiny-bert": bert_repo_files(), "corpus/tiny-custom-gpt2": custom_repo_files()}
    repos["corpus/tiny-bert"]["onnx/model.onnx"] = onnx_bytes()
    for repo_id, files in repos.items():
        storage = os.path.join(cache, fd.repo_folder_name(repo_id=repo_id, repo_type="model"))
        _create_cachedir_tag(Path(cache))
        fd._cache_commit_hash_for_specific_revision(storage, "main", COMMIT)
        for filename, data in files.items():
            lfs = filename.endswith((".safetensors", ".bin", ".onnx"))
            blob = os.path.join(storage, "blobs", blob_name(data, lfs))
            pointer = fd._get_pointer_path(storage, COMMIT, os.path.join(*filename.split("/")))
            os.makedirs(os.path.dirname(blob), exist_ok=True)
            os.makedirs(os.path.dirname(pointer), exist_ok=True)
            if not os.path.exists(blob):
                Path(blob).write_bytes(data)
            if not os.path.lexists(pointer):
                fd._create_symlink(blob, pointer, new_blob=False)  # what hf_hub_download does
        # verify with huggingface_hub's own readers
        got = try_to_load_from_cache(repo_id, "config.json", cache_dir=cache)
        assert isinstance(got, str), got
        assert os.path.islink(got), got
        rec.add(
            f"hf-cache/hub/{os.path.basename(storage)}/snapshots/{COMMIT}",
            hv,
            "HF cache snapshot (symlinks into blobs)",
            kind="dir",
        )
    info = scan_cache_dir(cache)
    assert not info.warnings, info.warnings
    assert {r.repo_id for r in info.repos} == set(repos), info.repos
    rec.add("hf-cache/hub", hv, "HF cache root", kind="dir")


def plain_repos() -> None:
    """The same repos as ``snapshot_download(local_dir=...)`` leaves them: plain files."""
    for name, files in (
        ("tiny-bert", bert_repo_files()),
        ("tiny-custom-gpt2", custom_repo_files()),
    ):
        files = dict(files)
        if "onnx/model.onnx" in files:
            files["onnx/model.onnx"] = onnx_bytes()
        for filename, data in files.items():
            rec.path(f"local/{name}/{filename}").write_bytes(data)
        prod = [version("huggingface_hub"), f"transformers {TRANSFORMERS[1]} (source)"]
        rec.add(f"local/{name}", prod, "model repo (local dir)", kind="dir")
    for name in ("configuration_gpt2.py", "modeling_gpt2.py", "config.json"):
        rec.add(
            f"local/tiny-custom-gpt2/{name}",
            f"transformers {TRANSFORMERS[1]} (source)",
            "auto_map code",
        )


def lightning_ckpt() -> None:
    import lightning as L
    import torch
    from omegaconf import OmegaConf
    from torch import nn
    from torch.utils.data import DataLoader, TensorDataset

    class TinyModule(L.LightningModule):
        def __init__(self, cfg: object, lr: float = 0.01, layers: tuple[int, ...] = (4, 2)) -> None:
            super().__init__()
            self.save_hyperparameters()
            self.net = nn.Sequential(nn.Linear(4, 2))

        def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], idx: int) -> torch.Tensor:
            x, y = batch
            return nn.functional.cross_entropy(self.net(x), y)

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return torch.optim.Adam(self.parameters(), lr=self.hparams.lr)

    cfg = OmegaConf.create(
        {
            "model": {"hidden": 4, "dropout": 0.1},
            "data": {"batch_size": 8, "paths": ["a"]},
            "trainer": {"max_epochs": 1},
        }
    )
    ds = TensorDataset(torch.randn(16, 4), torch.randint(0, 2, (16,)))
    with tempfile.TemporaryDirectory() as tmp:
        ckpt_cb = L.pytorch.callbacks.ModelCheckpoint(
            dirpath=rec.out / "lightning", filename="callback-{epoch}", save_last=True
        )
        trainer = L.Trainer(
            max_epochs=1,
            accelerator="cpu",
            logger=False,
            callbacks=[ckpt_cb],
            enable_progress_bar=False,
            enable_model_summary=False,
            default_root_dir=tmp,
        )
        trainer.fit(TinyModule(cfg), DataLoader(ds, batch_size=8))
        trainer.save_checkpoint(rec.path("lightning/tiny.ckpt"))
        trainer.save_checkpoint(rec.path("lightning/tiny_weights_only.ckpt"), weights_only=True)
    prod = [version("lightning"), version("torch"), version("omegaconf")]
    rec.add("lightning/tiny.ckpt", prod, "lightning checkpoint (OmegaConf hparams)")
    rec.add("lightning/tiny_weights_only.ckpt", prod, "lightning checkpoint weights_only")
    rec.add("lightning/callback-epoch=0.ckpt", prod, "lightning ModelCheckpoint checkpoint")
    rec.add("lightning/last.ckpt", prod, "lightning ModelCheckpoint last.ckpt")


def nemo_archives() -> None:
    """A ``.nemo`` as NeMo's SaveRestoreConnector writes it.

    A tar of ./model_config.yaml + ./model_weights.ckpt (plain tar today, gzip in older NeMo).
    """
    import torch
    from omegaconf import OmegaConf

    cfg = OmegaConf.create(
        {
            "sample_rate": 16000,
            "labels": [" ", "a", "b"],
            "target": "nemo.collections.asr.models.ctc_models.EncDecCTCModel",
            "preprocessor": {
                "_target_": "nemo.collections.asr.modules.AudioToMelSpectrogramPreprocessor",
                "sample_rate": 16000,
                "features": 64,
            },
            "encoder": {
                "_target_": "nemo.collections.asr.modules.ConvASREncoder",
                "feat_in": 64,
                "activation": "relu",
                "jasper": [{"filters": 8, "repeat": 1, "kernel": [3]}],
            },
            "decoder": {
                "_target_": "nemo.collections.asr.modules.ConvASRDecoder",
                "feat_in": 8,
                "num_classes": 3,
                "vocabulary": [" ", "a", "b"],
            },
            "optim": {
                "name": "novograd",
                "lr": 0.01,
                "sched": {"name": "CosineAnnealing", "warmup_steps": 10},
            },
            "nemo_version": "2.0.0",
        }
    )
    with tempfile.TemporaryDirectory() as tmp:
        OmegaConf.save(cfg, os.path.join(tmp, "model_config.yaml"))
        torch.save(tiny_state_dict(), os.path.join(tmp, "model_weights.ckpt"))
        for name, mode in (("tiny_asr.nemo", "w:"), ("tiny_asr_gz.nemo", "w:gz")):
            with tarfile.open(rec.path(f"nemo/{name}"), mode) as tar:
                tar.add(
                    tmp, arcname="."
                )  # exactly how NeMo's _make_nemo_file_from_folder adds the folder
            rec.add(f"nemo/{name}", [version("torch"), version("omegaconf")], f"nemo tar ({mode})")


def mlflow_models() -> None:
    import mlflow.pyfunc
    import mlflow.sklearn
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X = rng.normal(size=(30, 3))
    y = (X[:, 0] > 0).astype(int)
    pipe = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    reqs = [f"scikit-learn=={version('scikit-learn').split()[1]}"]
    prod = [version("mlflow-skinny"), version("scikit-learn"), version("cloudpickle")]
    for name, fmt in (("sklearn_cloudpickle", "cloudpickle"), ("sklearn_pickle", "pickle")):
        target = rec.out / "mlflow" / name
        shutil.rmtree(target, ignore_errors=True)
        mlflow.sklearn.save_model(
            pipe, str(target), serialization_format=fmt, pip_requirements=reqs
        )
        rec.add(f"mlflow/{name}", prod, f"mlflow sklearn ({fmt})", kind="dir")

    import mlflow.pytorch
    import torch

    net = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.ReLU())
    example = np.zeros((1, 3), np.float32)
    for fmt in ("pt2", "pickle"):  # pt2 (torch.export) is MLflow 3's default; pickle the classic
        target = rec.out / "mlflow" / f"pytorch_{fmt}"
        shutil.rmtree(target, ignore_errors=True)
        mlflow.pytorch.save_model(
            net,
            str(target),
            serialization_format=fmt,
            input_example=example,
            pip_requirements=["torch"],
        )
        prod = [version("mlflow-skinny"), version("torch")]
        rec.add(f"mlflow/pytorch_{fmt}", prod, f"mlflow pytorch ({fmt})", kind="dir")

    class AddN(mlflow.pyfunc.PythonModel):  # defined here, so cloudpickle stores it by value
        def __init__(self, n: int) -> None:
            self.n = n

        def predict(self, context: object, model_input: object, params: object = None) -> object:
            return model_input + self.n  # type: ignore[operator]

    target = rec.out / "mlflow" / "pyfunc_by_value"
    shutil.rmtree(target, ignore_errors=True)
    mlflow.pyfunc.save_model(str(target), python_model=AddN(5), pip_requirements=["pandas"])
    rec.add(
        "mlflow/pyfunc_by_value",
        [version("mlflow-skinny"), version("cloudpickle")],
        "mlflow pyfunc (python_model cloudpickled by value)",
        kind="dir",
    )


CUSTOM_CONFIG = '''"""Configuration of TinyNet, a small custom model (trust_remote_code)."""

from transformers import PretrainedConfig


class TinyNetConfig(PretrainedConfig):
    model_type = "tinynet"

    def __init__(self, hidden_size=8, num_layers=2, vocab_size=10, **kwargs):
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.vocab_size = vocab_size
        super().__init__(**kwargs)
'''
CUSTOM_MODEL = '''"""TinyNet: an embedding, a stack of residual MLP blocks and a head."""

import torch
from torch import nn
from transformers import PreTrainedModel

from .configuration_tinynet import TinyNetConfig


class TinyNetBlock(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.norm = nn.LayerNorm(config.hidden_size)
        self.mlp = nn.Sequential(
            nn.Linear(config.hidden_size, 2 * config.hidden_size),
            nn.GELU(),
            nn.Linear(2 * config.hidden_size, config.hidden_size),
        )

    def forward(self, x):
        return x + self.mlp(self.norm(x))


class TinyNetModel(PreTrainedModel):
    config_class = TinyNetConfig

    def __init__(self, config):
        super().__init__(config)
        self.embed = nn.Embedding(config.vocab_size, config.hidden_size)
        self.blocks = nn.ModuleList(TinyNetBlock(config) for _ in range(config.num_layers))
        self.head = nn.Linear(config.hidden_size, config.vocab_size)
        self.post_init()

    def forward(self, input_ids, **kwargs):
        h = self.embed(input_ids)
        for block in self.blocks:
            h = block(h)
        return torch.log_softmax(self.head(h), dim=-1)
'''


def transformers_repos() -> None:
    """Repos written by transformers itself: save_pretrained of a model, a fast tokenizer with a
    chat template, training_args.bin as Trainer writes it, and a custom-code model registered with
    register_for_auto_class (save_pretrained copies its source files and writes auto_map)."""
    import importlib

    import torch
    import transformers
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    prod = [version("transformers"), version("tokenizers"), version("torch")]
    torch.manual_seed(0)
    cfg = BertConfig(
        vocab_size=len(VOCAB),
        hidden_size=8,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=16,
        max_position_embeddings=32,
    )
    model = BertModel(cfg)
    out = rec.out / "transformers" / "tiny-bert"
    model.save_pretrained(out)
    tok = Tokenizer(models.WordPiece({t: i for i, t in enumerate(VOCAB)}, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        eos_token="[SEP]",
    )
    fast.chat_template = CHAT
    fast.save_pretrained(out)
    rec.add("transformers/tiny-bert", prod, "transformers save_pretrained repo (dir)", kind="dir")
    for f in sorted(out.iterdir()):
        rec.add(f"transformers/tiny-bert/{f.name}", prod, "transformers save_pretrained file")

    with tempfile.TemporaryDirectory() as tmp:
        args = transformers.TrainingArguments(output_dir=tmp, learning_rate=1e-4, report_to=[])
        torch.save(args, rec.path("transformers/training_args.bin"))  # what Trainer._save writes
    rec.add("transformers/training_args.bin", prod, "transformers training_args.bin (torch.save)")

    with tempfile.TemporaryDirectory() as tmp:
        pkg = Path(tmp) / "tinynet_pkg"
        pkg.mkdir()
        (pkg / "__init__.py").write_text("")
        (pkg / "configuration_tinynet.py").write_text(CUSTOM_CONFIG)
        (pkg / "modeling_tinynet.py").write_text(CUSTOM_MODEL)
        sys.path.insert(0, tmp)
        try:
            conf_mod = importlib.import_module("tinynet_pkg.configuration_tinynet")
            model_mod = importlib.import_module("tinynet_pkg.modeling_tinynet")
            conf_mod.TinyNetConfig.register_for_auto_class()
            model_mod.TinyNetModel.register_for_auto_class("AutoModel")
            custom = model_mod.TinyNetModel(conf_mod.TinyNetConfig())
            target = rec.out / "transformers" / "tiny-remote-code"
            custom.save_pretrained(target)
        finally:
            sys.path.remove(tmp)
    config = json.loads((target / "config.json").read_text())
    assert "auto_map" in config, config
    rec.add(
        "transformers/tiny-remote-code",
        prod,
        "custom code repo via register_for_auto_class (dir)",
        kind="dir",
    )


def adapters_and_sentence_transformers() -> None:
    """A PEFT LoRA adapter repo (peft save_pretrained) and a sentence-transformers model folder."""
    import torch
    from peft import LoraConfig, get_peft_model
    from sentence_transformers import SentenceTransformer, models
    from transformers import BertConfig, BertModel, BertTokenizerFast

    torch.manual_seed(0)
    cfg = BertConfig(
        vocab_size=len(VOCAB),
        hidden_size=8,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=16,
        max_position_embeddings=32,
    )
    base = BertModel(cfg)
    peft_model = get_peft_model(base, LoraConfig(r=2, target_modules=["query", "value"]))
    out = rec.out / "peft" / "lora-adapter"
    peft_model.save_pretrained(out)
    prod = [version("peft"), version("transformers"), version("torch")]
    rec.add("peft/lora-adapter", prod, "peft LoRA adapter repo (dir)", kind="dir")

    with tempfile.TemporaryDirectory() as tmp:
        BertModel(cfg).save_pretrained(tmp)
        (Path(tmp) / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
        BertTokenizerFast(str(Path(tmp) / "vocab.txt")).save_pretrained(tmp)
        word = models.Transformer(tmp, max_seq_length=16)
        pool = models.Pooling(word.get_word_embedding_dimension(), pooling_mode="mean")
        st = SentenceTransformer(modules=[word, pool, models.Normalize()])
        st.save(str(rec.out / "sentence-transformers" / "tiny-st"))
    prod = [version("sentence-transformers"), version("transformers"), version("torch")]
    rec.add("sentence-transformers/tiny-st", prod, "sentence-transformers model (dir)", kind="dir")


for step in (
    hf_cache,
    plain_repos,
    transformers_repos,
    adapters_and_sentence_transformers,
    lightning_ckpt,
    nemo_archives,
    mlflow_models,
):
    rec.step(step.__name__, step)
raise SystemExit(rec.finish())
