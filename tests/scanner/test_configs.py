"""Configurations that name code: YAML tags, Hydra/NeMo/Lightning targets, MLflow, TorchServe,
skops. Parsed safely (nodes only), judged by the shared classification."""

from __future__ import annotations

import builtins
import json
import pathlib

import pytest
import scanner_builders as B
from conftest import by_path, threats_of

from modelsec.policy import default_rule_instances, evaluate_scan, rule_for_threat
from modelsec.scanner import scan_path
from modelsec.scanner.configs import scan_yaml
from modelsec.scanner.limits import ScanLimits
from modelsec.scanner.report import FileContext
from modelsec.scanner.source import ByteSource
from modelsec.types.data import ScanDetails

NEMO_CONFIG = b"""\
target: nemo.collections.asr.models.ctc_bpe_models.EncDecCTCModelBPE
nemo_version: 1.20.0
sample_rate: 16000
preprocessor:
  _target_: nemo.collections.asr.modules.AudioToMelSpectrogramPreprocessor
  sample_rate: ${sample_rate}
encoder:
  _target_: nemo.collections.asr.modules.ConformerEncoder
  feat_in: 80
  n_layers: 2
decoder:
  _target_: nemo.collections.asr.modules.ConvASRDecoder
  num_classes: -1
optim:
  name: adamw
  lr: 2.0
  sched: {name: NoamAnnealing, warmup_steps: 10000}
loss:
  _target_: torch.nn.CrossEntropyLoss
  _partial_: false
model:
  class_path: lightning.pytorch.demos.boring_classes.BoringModel
  init_args: {lr: 0.1}
anchors:
  base: &base {a: 1}
  copy: *base
"""

MALICIOUS_YAML = {
    "apply_tag": b"x: !!python/object/apply:os.system ['id']\n",
    "new_tag": b"x: !!python/object/new:subprocess.Popen [['id']]\n",
    "name_tag": b"- !!python/name:builtins.eval\n",
    "module_tag": b"m: !!python/module:os\n",
    "long_tag": b"x: !<tag:yaml.org,2002:python/object/apply:os.system> ['id']\n",
    "tag_directive": b"%TAG !p! tag:yaml.org,2002:python/\n---\nx: !p!object/apply:os.system [id]\n",
    "local_python_tag": b"x: !python/object:os.system {}\n",
    "hydra_target": b"model:\n  _target_: os.system\n  _args_: ['id']\n",
    "hydra_flow": b"model: {_target_: builtins.eval, _args_: ['1']}\n",
    "lightning": b"model:\n  class_path: subprocess.Popen\n  init_args: {args: [id]}\n",
    "nemo_top_target": b"target: os.system\n",
    "quoted_key": b'"_target_": "subprocess.call"\n',
    "indirect": b"f:\n  _target_: hydra.utils.get_method\n  path: os.system\n",
}


def _outcome(details: ScanDetails) -> str:
    r = evaluate_scan(
        details.to_dict(), default_rule_instances("LOCAL"), source_type="LOCAL", model_uri="/m"
    )
    return r.outcome


def _yaml_ctx(data: bytes) -> FileContext:
    ctx = FileContext("c.yaml", ScanLimits())
    assert scan_yaml(ctx, ByteSource.from_bytes(data), "c.yaml", "c.yaml")
    return ctx


@pytest.mark.parametrize("case", sorted(MALICIOUS_YAML))
def test_malicious_yaml_found(case: str) -> None:
    ctx = _yaml_ctx(MALICIOUS_YAML[case])
    assert "PAIT-CFG-100" in {i.threat for i in ctx.issues}, ctx.issues


def test_nemo_and_lightning_config_is_clean() -> None:
    ctx = _yaml_ctx(NEMO_CONFIG)
    assert ctx.issues == [] and ctx.errors == []
    assert ctx.formats == ["yaml", "hydra"]


@pytest.fixture
def no_yaml(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def fake(name: str, *args: object, **kwargs: object) -> object:
        if name == "yaml" or name.startswith("yaml."):
            raise ImportError("no yaml")
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(builtins, "__import__", fake)


@pytest.mark.parametrize("case", sorted(MALICIOUS_YAML))
def test_fallback_without_pyyaml_never_laxer(no_yaml: None, case: str) -> None:
    ctx = _yaml_ctx(MALICIOUS_YAML[case])
    assert {i.threat for i in ctx.issues} & {"PAIT-CFG-100", None}, ctx.issues
    # the fallback really ran (no yaml module importable)
    with pytest.raises(ImportError):
        import yaml  # noqa: F401


def test_fallback_without_pyyaml_nemo_clean(no_yaml: None) -> None:
    ctx = _yaml_ctx(NEMO_CONFIG)
    assert ctx.issues == []


def test_invalid_yaml_fails_closed() -> None:
    ctx = _yaml_ctx(b"a: [1, 2\nb: {\n")
    assert ctx.errors and ctx.issues[0].threat is None


def test_alias_bomb_is_bounded() -> None:
    lines = [b"a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 30):
        prev = f"*a{i - 1}".encode()
        lines.append(f"a{i}: &a{i} [".encode() + b", ".join([prev] * 9) + b"]")
    ctx = _yaml_ctx(b"\n".join(lines) + b"\n")
    assert ctx.issues == []


def test_yaml_in_model_directory_and_nemo_archive(scan_files) -> None:  # type: ignore[no-untyped-def]
    weights = B.torch_zip(B.torch_state_dict_pickle())
    good = B.tar_bytes([("./model_config.yaml", NEMO_CONFIG), ("./model_weights.ckpt", weights)])
    bad = B.tar_bytes(
        [("./model_config.yaml", MALICIOUS_YAML["apply_tag"]), ("./model_weights.ckpt", weights)]
    )
    details = scan_files(
        {
            "good.nemo": good,
            "bad.nemo": B.gz(bad),
            "conf/config.yaml": MALICIOUS_YAML["hydra_target"],
            "conf/ok.yml": NEMO_CONFIG,
        }
    )
    files = by_path(details)
    assert threats_of(files["good.nemo"]) == set()
    assert threats_of(files["bad.nemo"]) == {"PAIT-CFG-100"}
    assert threats_of(files["conf/config.yaml"]) == {"PAIT-CFG-100"}
    assert files["conf/ok.yml"].issues_detected == []
    assert rule_for_threat("PAIT-CFG-100") == "Load Time Code Execution Check"


MLMODEL = """\
artifact_path: model
flavors:
  python_function:
    cloudpickle_version: 3.0.0
    loader_module: {loader}
    python_model: python_model.pkl
    code: code
    python_version: 3.11.7
mlflow_version: 2.12.1
"""


def test_mlflow_mlmodel(tmp_path: pathlib.Path) -> None:
    root = tmp_path / "m"
    (root / "code").mkdir(parents=True)
    (root / "MLmodel").write_text(MLMODEL.format(loader="mlflow.pyfunc.model"))
    (root / "code" / "helpers.py").write_text("def f():\n    import os\n    os.system('id')\n")
    (root / "python_model.pkl").write_bytes(B.call("os", "system"))
    files = by_path(scan_path(root))
    assert files["MLmodel"].issues_detected == []
    assert threats_of(files["code/helpers.py"]) == {"PAIT-PY-300"}  # a loader imports code/
    assert "PAIT-PKL-100" in threats_of(files["python_model.pkl"])
    (root / "MLmodel").write_text(MLMODEL.format(loader="os"))
    assert threats_of(by_path(scan_path(root))["MLmodel"]) == {"PAIT-CFG-100"}


def _mar(handler: str, handler_code: bytes | None) -> bytes:
    manifest = {"runtime": "python", "model": {"modelName": "m", "handler": handler}}
    members = [("MAR-INF/MANIFEST.json", json.dumps(manifest).encode())]
    if handler_code is not None:
        members.append((handler.split(":")[0], handler_code))
    members.append(("model.pt", B.torch_zip(B.torch_state_dict_pickle())))
    return B.zip_bytes(members)


def test_torchserve_mar(scan_files) -> None:  # type: ignore[no-untyped-def]
    bad_handler = (
        b"from ts.torch_handler.base_handler import BaseHandler\n"
        b"class H(BaseHandler):\n    def handle(self, data, ctx):\n"
        b"        import subprocess\n        return subprocess.check_output(data)\n"
    )
    ok_handler = (
        b"import torch\nfrom ts.torch_handler.base_handler import BaseHandler\n"
        b"class H(BaseHandler):\n    def preprocess(self, data):\n"
        b"        return torch.tensor(data)\n"
    )
    details = scan_files(
        {
            "builtin.mar": _mar("image_classifier", None),
            "ok.mar": _mar("handler.py", ok_handler),
            "bad.mar": _mar("handler.py:handle", bad_handler),
            "escape.mar": _mar("../../x.py", None),
            "broken.mar": _mar("handler.py", b"def (:\n"),
        }
    )
    files = by_path(details)
    assert files["builtin.mar"].issues_detected == []
    assert files["ok.mar"].issues_detected == []
    assert threats_of(files["bad.mar"]) == {"PAIT-PY-300"}
    assert "PAIT-ARV-100" in threats_of(files["escape.mar"])
    assert files["broken.mar"].issues_detected and not threats_of(files["broken.mar"])


def _skops(types: list[tuple[str, str, str]]) -> bytes:
    content = [
        {"__module__": m, "__class__": c, "__loader__": ld, "content": {}} for m, c, ld in types
    ]
    schema = {
        "__module__": "builtins",
        "__class__": "list",
        "__loader__": "ListNode",
        "content": content,
        "protocol": 1,
        "_skops_version": "0.10.0",
    }
    return B.zip_bytes([("schema.json", json.dumps(schema).encode())])


def test_skops_schema(scan_files) -> None:  # type: ignore[no-untyped-def]
    details = scan_files(
        {
            "ok.skops": _skops(
                [("builtins", "dict", "DictNode"), ("numpy", "ndarray", "NdArrayNode")]
            ),
            "bad.skops": _skops([("os", "system", "FunctionNode")]),
            "unknown.skops": _skops([("evilpkg.mod", "Gadget", "ObjectNode")]),
            "other.zip": B.zip_bytes([("schema.json", b'{"type": "object"}')]),
        }
    )
    files = by_path(details)
    assert files["ok.skops"].issues_detected == []
    assert threats_of(files["bad.skops"]) == {"PAIT-CFG-100"}
    assert threats_of(files["unknown.skops"]) == {"PAIT-CFG-101"}
    assert rule_for_threat("PAIT-CFG-101") == "Suspicious Model Components Check"
    assert files["other.zip"].issues_detected == []
    assert _outcome(details) == "BLOCKED"


def test_hydra_target_makes_repository_module_reachable(scan_files) -> None:  # type: ignore[no-untyped-def]
    details = scan_files(
        {
            "conf/model.yaml": b"net:\n  _target_: my_net.Net\n  width: 4\n",
            "my_net.py": b"class Net:\n    def forward(self, x):\n"
            b"        import os\n        os.system('id')\n",
        }
    )
    files = by_path(details)
    assert files["conf/model.yaml"].issues_detected == []
    assert threats_of(files["my_net.py"]) == {"PAIT-PY-300"}
