"""PyTorch archives: which torch format a zip is, and TorchScript code checks.

The pickles inside (``data.pkl``, ``constants.pkl``, any ``*.pkl`` however the top folder is
named or cased) are walked by :mod:`modelsec.scanner.archive` with the PYTCH family; here we
only name the format and read TorchScript source, which ``torch.jit.load`` compiles and runs.
The source is parsed with :mod:`ast` (never compiled) and every reference is judged by what the
TorchScript importer resolves it to: ``torch.X`` is ``aten::X``, ``ops.ns.X`` is ``ns::X``.
"""

from __future__ import annotations

import ast
import posixpath

from modelsec.scanner.callables import UNSAFE, classify_callable
from modelsec.scanner.pyast import parse_python
from modelsec.scanner.report import FileContext, printable
from modelsec.scanner.source import ByteSource

__all__ = ["check_torchscript_code", "scan_torchscript_code", "torch_zip_format"]


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


# Operator namespaces registered by torch itself (``torch._C._jit_get_all_schemas()`` of torch
# 2.14, plus namespaces of older releases) and by torchvision (compute kernels only: its file
# readers live in the ``image`` namespace). Any other namespace is a custom native library that
# must be loaded for the model to run.
_TORCH_NAMESPACES = frozenset(
    {
        "aten",
        "prim",
        "prims",
        "quantized",
        "_quantized",
        "quantization",
        "profiler",
        "c10d",
        "_c10d_functional",
        "_c10d_functional_autograd",
        "_dtensor",
        "_native",
        "cuda",
        "mkl",
        "mkldnn",
        "mkldnn_prepacked",
        "onednn",
        "onnx",
        "sparse",
        "static_runtime",
        "symm_mem",
        "inductor",
        "inductor_prims",
        "rngprims",
        "export",
        "debugprims",
        "debug_mode_ops",
        "_caffe2",
        "prepacked",
        "xnnpack",
        "vulkan_prepack",
        "metal_prepack",
        "torchvision",
    }
)
# Operators that reach files or Python (the schema names say what they take: a file name).
_UNSAFE_OPS = {
    ("aten", "from_file"): "reads a file (torch.from_file)",
    ("aten", "save"): "writes a file (torch.save)",
    ("aten", "_save"): "writes a file",
    ("aten", "load"): "reads a file",
    ("debugprims", "load_tensor"): "reads a tensor from a file",
    ("prim", "PythonOp"): "calls back into Python",
    ("prim", "IgnoredPythonOp"): "calls back into Python",
}
# Python builtins a TorchScript file has no business naming (TorchScript cannot resolve them,
# so their only purpose is an attack on a different loader or a future resolver).
_UNSAFE_BUILTINS = frozenset(
    {
        "eval",
        "exec",
        "compile",
        "open",
        "__import__",
        "input",
        "breakpoint",
        "globals",
        "locals",
        "vars",
        "setattr",
        "delattr",
        "exit",
        "quit",
    }
)
_ATTR_BUILTINS = frozenset({"getattr", "hasattr"})
# Roots the TorchScript importer resolves itself (not Python modules).
_SCRIPT_ROOTS = frozenset({"__torch__", "CONSTANTS", "self"})


def _dotted(node: ast.AST) -> str | None:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return ".".join(reversed(parts))


def _bound_names(tree: ast.AST) -> set[str]:
    """Names the code binds itself (parameters, assignments, loops, classes, functions)."""
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            out.add(node.id)
        elif isinstance(node, ast.arg):
            out.add(node.arg)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.add(node.name)
    return out


class _Finding:
    __slots__ = ("operator", "threat", "why")

    def __init__(self, why: str, operator: str, threat: str) -> None:
        self.why = why
        self.operator = operator
        self.threat = threat


_CUSTOM = "PAIT-TCHST-301"


def _judge_op(ns: str, op: str, dotted: str) -> _Finding | None:
    if ns == "load_library":  # torch.ops.load_library(path): dlopen of any file
        return _Finding("loads a native library", dotted, "PAIT-TCHST-300")
    why = _UNSAFE_OPS.get((ns, op))
    if why is not None:
        return _Finding(why, dotted, "PAIT-TCHST-300")
    if ns not in _TORCH_NAMESPACES:
        return _Finding(f"calls operators of a custom native library ({ns})", dotted, _CUSTOM)
    return None


def _judge_reference(dotted: str, bound: set[str]) -> _Finding | None:
    """Judge one dotted reference by the target the TorchScript importer resolves it to."""
    parts = dotted.split(".")
    root = parts[0]
    if parts[:3] == ["__torch__", "torch", "classes"] and len(parts) >= 4:
        parts = parts[1:]  # the type of a custom class: judged like torch.classes.<ns>
        root = "torch"
    if root in _SCRIPT_ROOTS or (root in bound and root not in ("torch", "ops")):
        return None
    if root in ("torch", "math"):
        if len(parts) >= 3 and parts[1] == "ops":
            return _judge_op(parts[2], parts[3] if len(parts) > 3 else "", dotted)
        if len(parts) >= 3 and parts[1] == "classes":
            if parts[2] not in _TORCH_NAMESPACES:
                return _Finding(
                    f"uses classes of a custom native library ({parts[2]})", dotted, _CUSTOM
                )
            return None
        # torch.<name> and math.<name> resolve to aten::<name> (BuiltinModule("aten")).
        return _judge_op("aten", parts[1], dotted) if len(parts) >= 2 else None
    if root == "ops":
        return (
            _judge_op(parts[1], parts[2] if len(parts) > 2 else "", dotted)
            if len(parts) >= 2
            else None
        )
    if len(parts) >= 2:
        verdict = classify_callable(".".join(parts[:-1]), parts[-1])
        if verdict is not None and verdict[0] == UNSAFE:
            return _Finding(f"reaches Python: {verdict[1]}", dotted, "PAIT-TCHST-300")
    return None


def _judge_attr_call(call: ast.Call) -> _Finding | None:
    """``getattr(x, "0")`` (module lists) is what the compiler writes; a name it did not write
    as a plain literal is string-built attribute access."""
    assert isinstance(call.func, ast.Name)
    fn = call.func.id
    if len(call.args) < 2:
        return None
    name = call.args[1]
    if not isinstance(name, ast.Constant) or not isinstance(name.value, str):
        return _Finding(f"{fn} with an attribute name computed at run time", fn, "PAIT-TCHST-300")
    value = name.value
    if value.isdigit() or (value.isidentifier() and not value.startswith("__")):
        return None
    return _Finding(
        f"{fn} of an unusual attribute name {printable(value, 60)!r}", fn, "PAIT-TCHST-300"
    )


def check_torchscript_code(text: str) -> tuple[list[_Finding], str | None]:
    """Findings for one serialized TorchScript source file, or a parse error.

    The code is a Python subset: parsed with :func:`ast.parse` (never compiled or run), and
    every reference is judged by the target it resolves to, so string literals are data.

    Example:
        >>> found, err = check_torchscript_code("def f(self):\\n  return torch.from_file('x')\\n")
        >>> [(f.threat, f.operator) for f in found], err
        ([('PAIT-TCHST-300', 'torch.from_file')], None)
        >>> check_torchscript_code("def f(self):\\n  return getattr(self, '0')\\n")
        ([], None)
    """
    try:
        tree = parse_python(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        return [], f"not parseable as TorchScript source ({printable(str(exc), 160)})"
    bound = _bound_names(tree)
    found: list[_Finding] = []
    seen: set[tuple[str, str]] = set()

    def add(finding: _Finding | None) -> None:
        if finding is not None and (finding.why, finding.operator) not in seen and len(found) < 20:
            seen.add((finding.why, finding.operator))
            found.append(finding)

    # Judge whole chains only (``torch.ops.ns.op``, not also ``torch.ops.ns``).
    inner = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    for node in ast.walk(tree):
        if id(node) in inner:
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            mods = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
            )
            for mod in mods:
                if mod.split(".")[0] != "__torch__":
                    add(
                        _Finding(
                            f"imports the Python module {printable(mod, 60)!r}",
                            mod,
                            "PAIT-TCHST-300",
                        )
                    )
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load):
            dotted = _dotted(node)
            if dotted is not None:
                add(_judge_reference(dotted, bound))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            fn = node.func.id
            if fn in bound:
                continue
            if fn in _UNSAFE_BUILTINS:
                add(_Finding(f"calls the Python builtin {fn}", fn, "PAIT-TCHST-300"))
            elif fn in _ATTR_BUILTINS:
                add(_judge_attr_call(node))
    return found, None


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
    limit = ctx.limits.max_text_bytes
    raw = src.read(limit + 1)
    ctx.scanned = True
    if len(raw) > limit:
        ctx.add_error(f"{location}: TorchScript code larger than {limit} bytes was not checked")
        return
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        ctx.add_error(f"{location}: TorchScript code is not UTF-8 ({exc.reason})")
        return
    found, error = check_torchscript_code(text)
    if error is not None:
        ctx.add_error(f"{location}: {error}")
    for f in found:
        ctx.add_issue(
            f"TorchScript code {f.why}: {printable(f.operator, 200)!r}",
            location,
            f.threat,
            None,
            printable(f.operator, 256),
        )
