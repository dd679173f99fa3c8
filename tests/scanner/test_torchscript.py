"""TorchScript code judged on its syntax tree by resolved call targets (never compiled or run).

The ``.pt`` fixtures are real ``torch.jit.save`` outputs made by
``data/torchscript/make_fixtures.py`` (torch 2.14.1, CPU): scripted and traced modules whose
generated code uses ``getattr(self, "0")``, ``unchecked_cast``, ``builtins.RuntimeError``
strings..., and two malicious modules calling ``torch.from_file`` and ``torch.save``.
"""

from __future__ import annotations

import pathlib
from collections.abc import Callable

import pytest
import scanner_builders as B
from conftest import threats_of

from modelsec.scanner.pytorch import check_torchscript_code

DATA = pathlib.Path(__file__).parent / "data" / "torchscript"
BENIGN = sorted(p.name for p in DATA.glob("*.pt") if not p.name.startswith("malicious"))

# Pickle globals every TorchScript archive carries: the data-only list/tensor helpers of
# torch/jit/_pickle.py and the archive's own script classes (resolved by the C++ unpickler
# from code/, never imported). Their allow-listing belongs to the callable table
# (modelsec.scanner.callables, another change); until then they are the only issues allowed.


def _code_issues(f):  # type: ignore[no-untyped-def]
    return [
        i for i in f.issues_detected or [] if "/code/" in i.source and not i.source.endswith("pkl")
    ]


class TestRealTorchScript:
    def test_fixture_set(self) -> None:
        assert {"scripted_modulelist.pt", "scripted_sequential.pt", "traced_sequential.pt"} <= set(
            BENIGN
        )

    @pytest.mark.parametrize("name", BENIGN)
    def test_code_clean(self, scan_files: Callable[..., object], name: str) -> None:
        details = scan_files({name: (DATA / name).read_bytes()})
        (f,) = details.files  # type: ignore[attr-defined]
        assert f.error_message is None, f.error_message
        assert f.modelscan_status == "SCANNED"
        assert _code_issues(f) == []
        assert not any(t.startswith("PAIT-TCHST") for t in threats_of(f))
        assert "pytorch_torch_script" in (f.formats or [])  # type: ignore[attr-defined]

    @pytest.mark.parametrize("name", BENIGN)
    def test_real_archives_are_clean(self, scan_files: Callable[..., object], name: str) -> None:
        # The TorchScript pickles' helpers (torch.jit._pickle) and compiled class names
        # (__torch__.*) are data: a real scripted or traced module has no finding at all.
        details = scan_files({name: (DATA / name).read_bytes()})
        (f,) = details.files  # type: ignore[attr-defined]
        assert f.issues_detected == [], f.issues_detected
        assert f.error_message is None

    @pytest.mark.parametrize(
        ("name", "operator"),
        [("malicious_from_file.pt", "torch.from_file"), ("malicious_save.pt", "torch.save")],
    )
    def test_malicious_flagged(
        self, scan_files: Callable[..., object], name: str, operator: str
    ) -> None:
        details = scan_files({name: (DATA / name).read_bytes()})
        (f,) = details.files  # type: ignore[attr-defined]
        hits = [i for i in _code_issues(f) if i.threat == "PAIT-TCHST-300"]
        assert [i.operator for i in hits] == [operator]


def _ts_zip(code: str) -> bytes:
    return B.torch_zip(
        B.torch_state_dict_pickle(),
        extra={
            "code/__torch__.py": code.encode(),
            "constants.pkl": B.PROTO(2) + B.EMPTY_TUPLE + B.STOP,
        },
    )


def _fn(body: str) -> str:
    return f"class M(Module):\n  training : bool\n  def forward(self: __torch__.M,\n    x: Tensor) -> Tensor:\n{body}"


ESCAPES = {
    "from_file": ("    return torch.from_file('/etc/passwd', False, 16)\n", "PAIT-TCHST-300"),
    "ops_aten_from_file": ("    return ops.aten.from_file('/etc/passwd')\n", "PAIT-TCHST-300"),
    "torch_ops_aten_save": (
        "    torch.ops.aten.save(x, '/tmp/x')\n    return x\n",
        "PAIT-TCHST-300",
    ),
    "python_op": ("    return ops.prim.PythonOp(x)\n", "PAIT-TCHST-300"),
    "custom_namespace": ("    return ops.evil_lib.run(x)\n", "PAIT-TCHST-301"),
    "torch_ops_custom": ("    return torch.ops.evil_lib.run(x)\n", "PAIT-TCHST-301"),
    "custom_class": ("    h = torch.classes.evil_lib.Handle()\n    return x\n", "PAIT-TCHST-301"),
    "load_library": (
        "    torch.ops.load_library('/tmp/evil.so')\n    return x\n",
        "PAIT-TCHST-300",
    ),
    "eval": ("    eval('1')\n    return x\n", "PAIT-TCHST-300"),
    "builtins_exec": ("    builtins.exec('1')\n    return x\n", "PAIT-TCHST-300"),
    "open": ("    f = open('/etc/passwd')\n    return x\n", "PAIT-TCHST-300"),
    "os_system": ("    os.system('id')\n    return x\n", "PAIT-TCHST-300"),
    "getattr_computed": ("    n = '0'\n    return getattr(self, n)\n", "PAIT-TCHST-300"),
    "getattr_dunder": ("    return getattr(self, '__dict__')\n", "PAIT-TCHST-300"),
}

PLAIN = {
    "strings_are_data": '    s = \'os.system(eval(open("x")))\' + "builtins.exec"\n    return x\n',
    "raise_builtin_exception": "    ops.prim.RaiseException('bad', 'builtins.RuntimeError')\n    return x\n",
    "module_list": '    _0 = getattr(self, "0")\n    return (_0).forward(x, )\n',
    "casts": "    y = unchecked_cast(Tensor, annotate(Optional[Tensor], x))\n    return torch.__isnot__(y, None)\n",
    "torchvision_op": "    return ops.torchvision.nms(x, x, 0.5)\n",
    "script_function": "    return __torch__.torch.nn.functional.relu(x, False, )\n",
}


class TestCodeJudgedByTarget:
    @pytest.mark.parametrize("case", sorted(ESCAPES))
    def test_escape_flagged(self, scan_files: Callable[..., object], case: str) -> None:
        body, threat = ESCAPES[case]
        details = scan_files({"ts.pt": _ts_zip(_fn(body))})
        (f,) = details.files  # type: ignore[attr-defined]
        assert threat in {i.threat for i in _code_issues(f)}, f.issues_detected

    @pytest.mark.parametrize("case", sorted(PLAIN))
    def test_plain_code_clean(self, case: str) -> None:
        assert check_torchscript_code(_fn(PLAIN[case])) == ([], None)

    def test_unparseable_code_fails_closed(self, scan_files: Callable[..., object]) -> None:
        details = scan_files({"ts.pt": _ts_zip("def forward(self:\n")})
        (f,) = details.files  # type: ignore[attr-defined]
        assert f.error_message is not None and "TorchScript" in f.error_message

    def test_non_utf8_code_fails_closed(self, scan_files: Callable[..., object]) -> None:
        blob = B.torch_zip(B.torch_state_dict_pickle(), extra={"code/__torch__.py": b"\xff\xfe"})
        (f,) = scan_files({"ts.pt": blob}).files  # type: ignore[attr-defined]
        assert f.error_message is not None
