"""PyTorch archives: which torch format a zip is, and TorchScript code checks.

The pickles inside (``data.pkl``, ``constants.pkl``, any ``*.pkl`` however the top folder is
named or cased) are walked by :mod:`modelsec.scanner.archive` with the PYTCH family; here we
only name the format and read TorchScript source, which ``torch.jit.load`` compiles and runs.
"""

from __future__ import annotations

import posixpath
import re

from modelsec.scanner.report import FileContext, printable
from modelsec.scanner.source import ByteSource

__all__ = ["scan_torchscript_code", "torch_zip_format"]


def torch_zip_format(names: list[str]) -> str:
    """The format identifier of a torch zip from its member names.

    Example:
        >>> torch_zip_format(["archive/data.pkl", "archive/version"])
        'pytorch_v1_13'
        >>> torch_zip_format(["m/data.pkl", "m/code/__torch__.py", "m/constants.pkl"])
        'pytorch_torch_script'
    """
    lower = [n.lower().replace("\\", "/") for n in names]
    if any(n.endswith(".data/version") or "/.data/" in n for n in lower):
        return "pytorch_archive"
    if any(posixpath.basename(n) == "constants.pkl" or "/code/" in n for n in lower):
        return "pytorch_torch_script"
    return "pytorch_v1_13"


# TorchScript can call operators by name; these reach the file system, processes or Python.
_UNSAFE_CODE = [
    (re.compile(r"\bops\.aten\.(from_file|save|_save|load)\b"), "reads or writes files"),
    (re.compile(r"\b(os|subprocess|sys|builtins|importlib|socket)\s*\."), "reaches an OS module"),
    (re.compile(r"\b(eval|exec|compile|__import__|open|getattr)\s*\("), "evaluates or opens"),
    (re.compile(r"\bprim\.(PythonOp|CallFunction)\b"), "calls back into Python"),
    (
        re.compile(r"\btorch\.ops\.(?!aten\b|prim\b|quantized\b|_caffe2\b|profiler\b)(\w+)\."),
        "calls operators of a custom native library",
    ),
]


def scan_torchscript_code(ctx: FileContext, src: ByteSource, location: str) -> None:
    """Check one TorchScript ``code/*.py`` member for calls that escape the tensor world.

    Example:
        >>> from modelsec.scanner.limits import ScanLimits
        >>> ctx = FileContext("m.pt", ScanLimits())
        >>> code = b"def forward(self):\\n  return torch.ops.aten.from_file('/etc/passwd')\\n"
        >>> scan_torchscript_code(ctx, ByteSource.from_bytes(code), "m.pt!code/x.py")
        >>> ctx.issues[0].threat
        'PAIT-TCHST-300'
    """
    ctx.add_format("pytorch_torch_script")
    text = src.read(ctx.limits.max_text_bytes).decode("utf-8", "replace")
    ctx.scanned = True
    for pattern, why in _UNSAFE_CODE:
        for match in pattern.finditer(text):
            custom = "custom native" in why
            ctx.add_issue(
                f"TorchScript code {why}: {printable(match.group(0))!r}",
                location,
                "PAIT-TCHST-301" if custom else "PAIT-TCHST-300",
                None,
                printable(match.group(0).rstrip("(. "), 256),
            )
            break
