"""Keras: v3 ``.keras`` configs (``config.json`` in the zip), model JSON, and legacy ``.h5``.

Keras rebuilds a model by importing ``module`` + ``class_name`` for every serialized object.
That is how Lambda layers carry Python bytecode (run at load when ``safe_mode`` is off and at
every call), and how a config names a function outside Keras (``{"module": "builtins",
"class_name": "function", "config": "exec"}``) that older Keras imported even in safe mode
(CVE-2025-1550). We walk the whole JSON tree, so nesting inside Sequential/Functional/custom
containers does not hide a layer.
"""

from __future__ import annotations

import json
import re

from modelsec.scanner.denylist import denied_reason
from modelsec.scanner.report import FileContext, printable
from modelsec.scanner.source import ByteSource

__all__ = ["check_keras_config", "scan_h5", "scan_keras_config"]

_KERAS_MODULES = (
    "keras",
    "tf_keras",
    "tensorflow.keras",
    "tensorflow.python.keras",
    "keras_hub",
    "keras_nlp",
    "keras_cv",
)
_MAX_DEPTH = 500


def _is_keras_module(module: str) -> bool:
    return any(module == m or module.startswith(m + ".") for m in _KERAS_MODULES)


def check_keras_config(ctx: FileContext, doc: object, location: str) -> None:
    """Report Lambda layers, non-Keras modules and unsafe toggles anywhere in a config tree.

    Example:
        >>> from modelsec.scanner.limits import ScanLimits
        >>> ctx = FileContext("m.keras", ScanLimits())
        >>> cfg = {"class_name": "Sequential", "config": {"layers": [
        ...     {"class_name": "Lambda", "config": {"function": {"class_name": "__lambda__",
        ...      "config": {"code": "4wEAAAAA"}}}}]}}
        >>> check_keras_config(ctx, cfg, "m.keras!config.json")
        >>> ctx.issues[0].threat
        'PAIT-KERAS-100'
    """
    ctx.scanned = True
    stack: list[tuple[object, int]] = [(doc, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > _MAX_DEPTH:
            ctx.add_error(f"{location}: config nested deeper than {_MAX_DEPTH}")
            return
        if isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)
            continue
        if not isinstance(node, dict):
            if isinstance(node, str) and "enable_unsafe_deserialization" in node:
                ctx.add_issue(
                    "config calls enable_unsafe_deserialization", location, "PAIT-KERAS-101"
                )
            continue
        _check_node(ctx, node, location)
        stack.extend((v, depth + 1) for v in node.values())


def _check_node(ctx: FileContext, node: dict[str, object], location: str) -> None:
    cls = node.get("class_name")
    module = node.get("module")
    cfg = node.get("config")
    if isinstance(cls, str) and cls.rsplit(">", 1)[-1].rsplit(".", 1)[-1] == "Lambda":
        fn = cfg.get("function") if isinstance(cfg, dict) else None
        bytecode = isinstance(fn, dict) and fn.get("class_name") == "__lambda__"
        legacy_bytecode = isinstance(cfg, dict) and cfg.get("function_type") == "lambda"
        if bytecode or legacy_bytecode or (isinstance(fn, (list, str)) and not _named(fn)):
            ctx.add_issue(
                "Lambda layer carries serialized Python bytecode, run when the model is loaded "
                "with safe_mode off and on every call",
                location,
                "PAIT-KERAS-100",
                "keras.layers",
                "Lambda",
            )
        else:
            ctx.add_issue(
                "Lambda layer calls a Python function at run time: "
                f"{printable(json.dumps(fn)[:200] if fn is not None else '?')}",
                location,
                "PAIT-KERAS-300",
                "keras.layers",
                "Lambda",
            )
    if isinstance(module, str) and module and not _is_keras_module(module):
        name = cfg if cls == "function" and isinstance(cfg, str) else cls
        dotted = f"{module}.{name}" if isinstance(name, str) else module
        reason = denied_reason(dotted)
        if reason is not None:
            ctx.add_issue(
                f"config makes Keras import {printable(dotted)} at load ({reason})",
                location,
                "PAIT-KERAS-100",
                printable(module, 256),
                printable(str(name), 256) if name is not None else None,
            )
        else:
            ctx.add_issue(
                f"config imports {printable(dotted)} from outside Keras at load "
                "(safe_mode bypass, CVE-2025-1550)",
                location,
                "PAIT-KERAS-301",
                printable(module, 256),
                printable(str(name), 256) if name is not None else None,
            )
    if node.get("safe_mode") is False:
        ctx.add_issue("config disables safe_mode", location, "PAIT-KERAS-101")


def _named(fn: object) -> bool:
    # Legacy Keras serialises a named function as its name (str) and lambdas as bytecode lists.
    return isinstance(fn, str) and fn.isidentifier()


def scan_keras_config(ctx: FileContext, src: ByteSource, location: str) -> None:
    """Parse ``config.json`` of a ``.keras`` archive and check it."""
    raw = src.read(ctx.limits.max_json_bytes + 1)
    if len(raw) > ctx.limits.max_json_bytes:
        ctx.add_error(f"{location}: config.json larger than {ctx.limits.max_json_bytes} bytes")
        return
    try:
        doc = json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        ctx.add_error(f"{location}: invalid config.json ({exc})")
        return
    check_keras_config(ctx, doc, location)


_H5_LAMBDA = re.compile(rb'"class_name":\s*"Lambda"')
_H5_MODULE = re.compile(rb'"module":\s*"([A-Za-z_][\w.]{0,200})"')
_H5_UNSAFE = re.compile(rb'"function_type":\s*"lambda"')


def scan_h5(ctx: FileContext, src: ByteSource, location: str) -> None:
    """Legacy Keras ``.h5``: search the stored model config for Lambda bytecode and modules.

    HDF5 has no stdlib reader; the model config is a JSON attribute stored verbatim, so a
    bounded streaming search of the file finds it without parsing HDF5.
    """
    budget = ctx.limits.max_text_bytes * 4
    tail = b""
    keras = False
    lam = False
    modules: set[str] = set()
    read = 0
    while read < budget:
        chunk = src.read_chunk()
        if not chunk:
            break
        read += len(chunk)
        window = tail + chunk
        keras = keras or b"keras_version" in window or b"model_config" in window
        lam = lam or bool(_H5_LAMBDA.search(window)) or bool(_H5_UNSAFE.search(window))
        for m in _H5_MODULE.finditer(window):
            if len(modules) < 100:
                modules.add(m.group(1).decode("ascii"))
        tail = window[-512:]
    if not keras:
        return
    ctx.add_format("keras_legacy_h5")
    ctx.scanned = True
    if lam:
        ctx.add_issue(
            "Lambda layer in a legacy HDF5 model (Python bytecode run at load and call)",
            location,
            "PAIT-KERAS-100",
            "keras.layers",
            "Lambda",
        )
    for module in sorted(modules):
        if not _is_keras_module(module):
            ctx.add_issue(
                f"config imports from module {module} outside Keras at load",
                location,
                "PAIT-KERAS-100" if denied_reason(module) else "PAIT-KERAS-301",
                module,
            )
