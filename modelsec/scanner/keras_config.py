"""Judging a parsed Keras configuration tree, wherever it came from.

Keras rebuilds a model by importing ``module`` + ``class_name`` for every serialized object, so
anything in the tree can name code: Lambda bytecode (``__lambda__`` / legacy ``function_type:
"lambda"``) run at load when ``safe_mode`` is off and at every call, a function from outside
Keras (``{"module": "builtins", "class_name": "function", "config": "exec"}``, CVE-2025-1550),
an activation or initializer given as a serialized function, a layer inside a wrapper or a
nested model. We walk the WHOLE parsed tree (never a text search), so spacing, nesting and the
place a function sits in do not hide it. Strings are decoded where Keras or an attacker could
hide bytes in them: base64 marshal bytecode and base64 pickles (handed to the pickle walker).
Layers that load another artifact (``TFSMLayer``, ``hub.KerasLayer``, a lookup layer with a
vocabulary file) pull in content this scan never saw, and are reported too.
"""

from __future__ import annotations

import base64
import binascii
import json
import re

from modelsec.scanner.callables import UNSAFE, classify_callable
from modelsec.scanner.pickles import Family, scan_pickle
from modelsec.scanner.report import FileContext, printable
from modelsec.scanner.source import ByteSource

__all__ = ["KERAS_MODULES", "check_keras_config", "is_keras_module"]

#: Packages whose classes Keras resolves from its own registry (not arbitrary imports).
KERAS_MODULES = (
    "keras",
    "tf_keras",
    "tensorflow.keras",
    "tensorflow.python.keras",
    "keras_hub",
    "keras_nlp",
    "keras_cv",
)
_MAX_DEPTH = 500
_CONTAINERS = (dict, list, str)
# A JSON path as a parent-linked chain: (parent, key or index), None at the root.
_Path = tuple[object, str | int] | None
# Layers whose whole purpose is to load another artifact from a path or URL.
_LOADERS = frozenset(["TFSMLayer", "KerasLayer"])
# Keys that name a file or location to read (in any layer).
_PATH_KEYS = frozenset(["filepath", "path", "handle", "file_path", "saved_model_dir", "url"])
# A string given here instead of a list makes the lookup layers read that file at load.
_FILE_VALUE_KEYS = frozenset(["vocabulary"])
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_DRIVE = re.compile(r"^[A-Za-z]:[\\/]")
_B64 = re.compile(r"[A-Za-z0-9+/=_\-\s]{12,}")
# Pickle opcodes a protocol 0/1 stream can start with (PROTO for 2+ is checked separately).
_PICKLE0_START = frozenset(b"(cSVIJKLFGNXTU])}ilP")


def is_keras_module(module: str) -> bool:
    """Whether ``module`` is Keras itself (resolved from Keras' own registry).

    Example:
        >>> is_keras_module("keras.layers"), is_keras_module("kerasevil"), is_keras_module("os")
        (True, False, False)
    """
    return any(module == m or module.startswith(m + ".") for m in KERAS_MODULES)


def _short(cls: object) -> str:
    # "keras.layers>Lambda", "keras.layers.Lambda" and "Lambda" name the same class.
    return cls.rsplit(">", 1)[-1].rsplit(".", 1)[-1] if isinstance(cls, str) else ""


def external_path(value: str) -> bool:
    """Whether ``value`` points outside the model: absolute, ``..``, ``~`` or a URL.

    Example:
        >>> [external_path(v) for v in ("/etc/x", "../x", "gs://b/m", "assets/v.txt", "relu")]
        [True, True, True, False, False]
    """
    v = value.strip()
    if v.startswith(("/", "\\", "~")) or _DRIVE.match(v) or _URL.match(v):
        return True
    return ".." in re.split(r"[\\/]", v)


class _Walker:
    def __init__(self, ctx: FileContext, location: str) -> None:
        self.ctx = ctx
        self.location = location

    def walk(self, doc: object) -> None:
        # (node, depth, key it sits under, short class name of the enclosing object, path).
        # Paths are parent-linked tuples, rendered only when a finding needs one.
        stack: list[tuple[object, int, str, str, _Path]] = [(doc, 0, "", "", None)]
        while stack:
            node, depth, key, owner, path = stack.pop()
            if depth > _MAX_DEPTH:
                self.ctx.add_error(f"{self.location}: config nested deeper than {_MAX_DEPTH}")
                return
            if isinstance(node, list):
                # Items of a list are not the value of its key ("vocabulary": [...] is inline).
                stack.extend(
                    (v, depth + 1, "[]", owner, (path, i))
                    for i, v in enumerate(node)
                    if isinstance(v, _CONTAINERS)
                )
            elif isinstance(node, dict):
                cls = _short(node.get("class_name")) or owner
                self._node(node, path)
                stack.extend(
                    (v, depth + 1, str(k), cls, (path, str(k)))
                    for k, v in node.items()
                    if isinstance(v, _CONTAINERS)
                )
            elif isinstance(node, str):
                self._string(node, key, owner, path)

    # --- dicts --------------------------------------------------------------------------

    def _node(self, node: dict[str, object], path: _Path) -> None:
        cls = node.get("class_name")
        module = node.get("module")
        cfg = node.get("config")
        if cls == "__lambda__":
            self._bytecode(path, "serialized lambda (__lambda__)")
        if node.get("function_type") == "lambda" or node.get("output_shape_type") == "lambda":
            self._bytecode(path, "legacy serialized lambda (function_type 'lambda')")
        if _short(cls) == "Lambda" and isinstance(cfg, dict):
            self._lambda_layer(cfg, path)
        if isinstance(module, str) and module and not is_keras_module(module):
            self._module(node, module, cls, cfg, path)
        registered = node.get("registered_name")
        if isinstance(registered, str) and ">" in registered:
            package = registered.split(">", 1)[0]
            if not is_keras_module(package):
                self.ctx.add_issue(
                    f"config needs custom object {printable(registered)!r} at {render_path(path)} "
                    "(code from outside Keras, registered by the loading program)",
                    self.location,
                    "PAIT-KERAS-301",
                    printable(package, 256),
                    printable(registered, 256),
                )
        if node.get("safe_mode") is False:
            self.ctx.add_issue(
                f"config disables safe_mode at {render_path(path)}", self.location, "PAIT-KERAS-101"
            )

    def _lambda_layer(self, cfg: dict[str, object], path: _Path) -> None:
        fn = cfg.get("function")
        if isinstance(fn, dict) and fn.get("class_name") == "__lambda__":
            return  # reported when the walk reaches the function itself
        if cfg.get("function_type") == "lambda" or (
            isinstance(fn, (list, str)) and not (isinstance(fn, str) and fn.isidentifier())
        ):
            self._bytecode(path, "Lambda layer with serialized bytecode")
            return
        shown = json.dumps(fn)[:200] if fn is not None else "?"
        self.ctx.add_issue(
            f"Lambda layer at {render_path(path)} calls a Python function at run time: "
            f"{printable(shown)}",
            self.location,
            "PAIT-KERAS-300",
            "keras.layers",
            "Lambda",
        )

    def _module(
        self, node: dict[str, object], module: str, cls: object, cfg: object, path: _Path
    ) -> None:
        if cls == "function" and isinstance(cfg, str):
            name = cfg
        elif isinstance(cls, str):
            name = cls
        else:
            fn = node.get("function")
            name = fn if isinstance(fn, str) else ""
        verdict = classify_callable(module, name)
        if verdict is None:
            return
        level, reason = verdict
        dotted = printable(f"{module}.{name}" if name else module)
        if level == UNSAFE:
            desc = f"config makes Keras import {dotted} at load ({reason}) at {render_path(path)}"
            threat = "PAIT-KERAS-100"
        else:
            desc = (
                f"config imports {dotted} from outside Keras at load (safe_mode bypass, "
                f"CVE-2025-1550; {reason}) at {render_path(path)}"
            )
            threat = "PAIT-KERAS-301"
        self.ctx.add_issue(
            desc, self.location, threat, printable(module, 256), printable(name, 256) or None
        )

    def _bytecode(self, path: _Path, what: str) -> None:
        # One issue per file location for all bytecode (add_issue merges identical keys).
        self.ctx.add_issue(
            f"{what} at {render_path(path)}: Python bytecode run when the model is loaded "
            "with safe_mode off and on every call",
            self.location,
            "PAIT-KERAS-100",
            "keras.layers",
            "Lambda",
        )

    # --- strings ------------------------------------------------------------------------

    def _string(self, value: str, key: str, owner: str, path: _Path) -> None:
        if "enable_unsafe_deserialization" in value:
            self.ctx.add_issue(
                f"config calls enable_unsafe_deserialization at {render_path(path)}",
                self.location,
                "PAIT-KERAS-101",
            )
        loads = (
            (owner in _LOADERS and (key in _PATH_KEYS or external_path(value)))
            or (key in _PATH_KEYS and external_path(value))
            or key in _FILE_VALUE_KEYS
        )
        if loads and value.strip():
            self.ctx.add_issue(
                f"{owner or 'config'} at {render_path(path)} loads an external artifact "
                f"{printable(value)!r} that this scan did not inspect",
                self.location,
                "PAIT-KERAS-101",
                None,
                printable(owner, 256) or None,
            )
        if len(value) >= 12 and _B64.fullmatch(value):
            self._base64(value, path)

    def _base64(self, value: str, path: _Path) -> None:
        text = "".join(value.split())
        if "-" in text or "_" in text:  # the URL-safe alphabet
            text = text.replace("-", "+").replace("_", "/")
        try:
            raw = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            return
        if _is_code_object(raw):
            self._bytecode(path, "base64 marshal bytecode")
            return
        proto = len(raw) >= 2 and raw[0] == 0x80 and 2 <= raw[1] <= 5
        if not proto and (not raw or raw[0] not in _PICKLE0_START):
            return
        scan_pickle(
            self.ctx,
            ByteSource.from_bytes(raw),
            f"{self.location}:{render_path(path)}",
            Family.KERAS,
            probe=not proto,
        )


def _is_code_object(raw: bytes) -> bool:
    """marshal of a code object: TYPE_CODE (with or without FLAG_REF), small arg counts."""
    if len(raw) < 16 or raw[0] not in (0x63, 0xE3):
        return False
    counts = [int.from_bytes(raw[i : i + 4], "little") for i in (1, 5, 9)]
    return all(c < 256 for c in counts)


def render_path(path: _Path) -> str:
    """``$.config.layers[1].config`` for a parent-linked path (clipped for deep trees).

    Example:
        >>> render_path(((((None, "config"), "layers"), 1), "config"))
        '$.config.layers[1].config'
    """
    parts: list[str] = []
    node: object = path
    while isinstance(node, tuple):
        parent, label = node
        parts.append(f"[{label}]" if isinstance(label, int) else f".{label}")
        node = parent
    out = "$" + "".join(reversed(parts))
    # Keys are attacker-controlled: escaped, and the innermost end kept when clipped.
    return printable(out if len(out) <= 300 else "…" + out[-299:], 300)


def check_keras_config(ctx: FileContext, doc: object, location: str) -> None:
    """Report code, imports outside Keras and external artifacts anywhere in a config tree.

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
    _Walker(ctx, location).walk(doc)
