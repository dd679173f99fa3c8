"""Configurations that name code to instantiate: YAML tags, Hydra/NeMo ``_target_``, Lightning
``class_path``, MLflow ``MLmodel``, TorchServe manifests and skops schemas.

YAML is *composed* (parsed into nodes) with PyYAML's safe loader, never constructed, so no tag
can build an object here; the tags are read off the nodes. Python tags (``!!python/...``,
``tag:yaml.org,2002:python/...``, a ``%TAG`` directive mapping to them) make ``yaml.load`` /
``unsafe_load`` call code: ``PAIT-CFG-100``. Keys that frameworks import and call
(``_target_``, ``class_path``, NeMo's top-level ``target``, MLflow's ``loader_module``) are judged
by the shared classification: a callable it calls unsafe (``os.system``) is ``PAIT-CFG-100``; a
class it merely does not know (``nemo.collections...``, ``torch.nn.Linear``) is not reported,
because naming an installed library class is how these frameworks work and the class body is
library code, not model content. PyYAML is optional (``modelsec[yaml]``): without it a line
scanner looks for the same tags and keys anywhere in the text, which is stricter (it also matches
inside comments and strings) and fails closed on ``%TAG`` directives it cannot interpret.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from modelsec.scanner.callables import UNSAFE, classify_callable
from modelsec.scanner.report import FileContext, printable
from modelsec.scanner.source import ByteSource

__all__ = [
    "CFG_SUSPICIOUS",
    "CFG_UNSAFE",
    "INDIRECT_TARGETS",
    "TARGET_KEYS",
    "judge_target",
    "scan_mar_manifest",
    "scan_skops_schema",
    "scan_yaml",
    "target_values",
    "yaml_targets",
]

CFG_UNSAFE = "PAIT-CFG-100"
CFG_SUSPICIOUS = "PAIT-CFG-101"

#: Keys whose (string) value a framework imports and calls or instantiates.
TARGET_KEYS = frozenset({"_target_", "class_path", "loader_module"})
# NeMo's restore_from imports ``cfg.target`` (top level only: elsewhere "target" is ordinary).
_TOP_LEVEL_TARGET_KEYS = frozenset({"target"})

_PY_TAG = re.compile(r"^(tag:yaml\.org,2002:python/|!!?python/|!python)", re.IGNORECASE)
_DOTTED = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)+$")


#: Targets that import another name given as an argument (``hydra.utils.get_method`` with
#: ``path: os.system``): whatever they reach is chosen by the configuration, so they are unsafe
#: as targets whatever the shared table says about the ``hydra`` package.
INDIRECT_TARGETS = frozenset(
    {
        "hydra.utils.call",
        "hydra.utils.instantiate",
        "hydra.utils.get_method",
        "hydra.utils.get_class",
        "hydra.utils.get_object",
        "hydra.utils.get_static_method",
        "hydra._internal.utils._locate",
        "hydra._internal.instantiate._instantiate2.instantiate",
        "nemo.utils.model_utils.import_class_by_path",
        "pydoc.locate",
        "jsonargparse.instantiate_classes",
    }
)


def judge_target(
    ctx: FileContext, target: str, location: str, key: str, *, threat: str = CFG_UNSAFE
) -> bool:
    """Report ``target`` (``module.Name``) when the shared classification calls it unsafe.

    Example:
        >>> from modelsec.scanner.limits import ScanLimits
        >>> ctx = FileContext("c.yaml", ScanLimits())
        >>> judge_target(ctx, "os.system", "c.yaml", "_target_"), ctx.issues[0].operator
        (True, 'system')
        >>> judge_target(ctx, "torch.nn.Linear", "c.yaml", "_target_")
        False
    """
    target = target.strip()
    module, _, name = target.rpartition(".")
    if not module:
        module, name = "builtins", target
    verdict = classify_callable(module, name)
    if target in INDIRECT_TARGETS:
        verdict = (UNSAFE, "imports and calls another callable named in the configuration")
    if verdict is None or verdict[0] != UNSAFE:
        return False
    ctx.add_issue(
        f"configuration key {printable(key)!r} names {printable(target)!r}, which the loader "
        f"imports and calls: {verdict[1]}",
        location,
        threat,
        module,
        name,
    )
    return True


def _read_text(ctx: FileContext, src: ByteSource, location: str) -> str | None:
    limit = ctx.limits.max_text_bytes
    data = src.peek(limit + 1)  # peek: when this is not ours, the sniffer reads it again
    if len(data) > limit:
        ctx.add_error(f"{location}: configuration larger than {limit} bytes not analysed")
        return None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        ctx.add_error(f"{location}: configuration is not UTF-8 text")
        return None


def scan_yaml(ctx: FileContext, src: ByteSource, name: str, location: str) -> bool:
    """Judge a YAML document (also an MLflow ``MLmodel``); ``False`` when it is not text.

    Example:
        >>> from modelsec.scanner.limits import ScanLimits
        >>> ctx = FileContext("c.yaml", ScanLimits())
        >>> scan_yaml(ctx, ByteSource.from_bytes(b"m:\\n  _target_: torch.nn.Linear\\n"),
        ...           "c.yaml", "c.yaml"), ctx.issues, ctx.formats
        (True, [], ['yaml', 'hydra'])
    """
    head = src.peek(4)
    if head[:1] == b"\x80" or head[:2] == b"PK" or head[:2] == b"\x1f\x8b":
        return False  # binary content named .yaml: let the sniffer report what it is
    ctx.add_format("yaml")
    text = _read_text(ctx, src, location)
    if text is None:
        return True
    ctx.scanned = True
    try:
        import yaml  # noqa: F401
    except ImportError:
        _scan_yaml_lines(ctx, text, location)
        return True
    docs = _compose(ctx, text, location)
    for doc in docs:
        for key, value, _top in yaml_targets(doc):
            if key in ("_target_", "class_path"):
                ctx.add_format("hydra")
            if key == "loader_module":
                value = f"{value}._load_pyfunc"  # mlflow imports it and calls _load_pyfunc
            judge_target(ctx, value, location, key)
    return True


def _compose(ctx: FileContext, text: str, location: str) -> list[Any]:
    import yaml

    class _TagRecorder(yaml.SafeLoader):  # type: ignore[misc]
        """Composes nodes only; records Python tags instead of constructing anything."""

    docs: list[Any] = []
    loader = _TagRecorder(text)
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is not None:
                docs.append(node)
                for tag in _python_tags(node):
                    ctx.add_issue(
                        f"YAML tag {printable(tag)!r} makes a YAML loader construct Python "
                        "objects or call code (yaml.load / unsafe_load)",
                        location,
                        CFG_UNSAFE,
                        "yaml",
                        printable(tag, 120),
                    )
    except yaml.YAMLError as exc:
        ctx.add_error(f"{location}: invalid YAML ({printable(str(exc).splitlines()[0], 160)})")
    except RecursionError:
        ctx.add_error(f"{location}: YAML nested too deeply to analyse")
    finally:
        loader.dispose()
    return docs


def _walk_nodes(root: Any) -> Iterator[Any]:
    import yaml

    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:  # aliases share nodes: each is visited once (no alias bombs)
            continue
        seen.add(id(node))
        yield node
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                stack.extend((k, v))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)


def _python_tags(root: Any) -> Iterator[str]:
    for node in _walk_nodes(root):
        tag = str(node.tag or "")
        if _PY_TAG.match(tag):
            yield tag


def yaml_targets(root: Any) -> Iterator[tuple[str, str, bool]]:
    """``(key, value, at_top_level)`` for every target-like key with a scalar value.

    Example:
        >>> import yaml
        >>> list(yaml_targets(yaml.compose("a: {_target_: x.Y}")))
        [('_target_', 'x.Y', False)]
    """
    import yaml

    top = root
    for node in _walk_nodes(root):
        if not isinstance(node, yaml.MappingNode):
            continue
        for k, v in node.value:
            if not (isinstance(k, yaml.ScalarNode) and isinstance(v, yaml.ScalarNode)):
                continue
            key = str(k.value)
            is_top = node is top
            if key in TARGET_KEYS or (is_top and key in _TOP_LEVEL_TARGET_KEYS):
                value = str(v.value).strip()
                if key in _TOP_LEVEL_TARGET_KEYS and not _DOTTED.match(value):
                    continue
                yield key, value, is_top


def target_values(text: str) -> list[str]:
    """Dotted names a configuration asks a framework to import (for reachability of the
    repository's own modules); PyYAML when present, else the line scanner's key pattern.

    Example:
        >>> target_values("model:\\n  _target_: my_model.Net\\n")
        ['my_model.Net']
    """
    try:
        import yaml
    except ImportError:
        return [m.group(2) for m in _LINE_KEY.finditer(text)]
    out: list[str] = []
    try:
        for doc in yaml.compose_all(text, Loader=yaml.SafeLoader):
            if doc is not None:
                out.extend(v for _k, v, _t in yaml_targets(doc))
    except (yaml.YAMLError, RecursionError):
        pass  # invalid YAML: the per-file scan reports it
    return out


# --- fallback without PyYAML ----------------------------------------------------------------

_LINE_TAG = re.compile(r"!(?:<[^>]*>|[^\s,\[\]{}]*)", re.IGNORECASE)
_LINE_KEY = re.compile(
    r"""(?:^|[\s{,\-])["']?(_target_|class_path|loader_module|target)["']?\s*:\s*["']?"""
    r"""([A-Za-z_][\w.]*)""",
    re.MULTILINE,
)


def _scan_yaml_lines(ctx: FileContext, text: str, location: str) -> None:
    """Conservative scan without a YAML parser: every python-looking tag anywhere is reported,
    every target-looking key anywhere is judged, and ``%TAG`` directives fail closed."""
    if re.search(r"^%TAG\b", text, re.MULTILINE):
        ctx.add_error(f"{location}: YAML %TAG directive cannot be judged without PyYAML")
    for m in _LINE_TAG.finditer(text):
        tag = m.group(0)
        if "python" in tag.lower() or "%" in tag:
            ctx.add_issue(
                f"YAML tag {printable(tag)!r} makes a YAML loader construct Python objects or "
                "call code (found by the conservative line scan; PyYAML not installed)",
                location,
                CFG_UNSAFE,
                "yaml",
                printable(tag, 120),
            )
    for m in _LINE_KEY.finditer(text):
        key, value = m.group(1), m.group(2)
        if key == "target" and "." not in value:
            continue
        if key in ("_target_", "class_path"):
            ctx.add_format("hydra")
        judge_target(
            ctx, f"{value}._load_pyfunc" if key == "loader_module" else value, location, key
        )


# --- JSON-described archives ----------------------------------------------------------------

#: TorchServe's built-in handlers (``handler`` names that are not files in the archive).
MAR_BUILTIN_HANDLERS = frozenset(
    {
        "image_classifier",
        "image_segmenter",
        "object_detector",
        "text_classifier",
        "text_handler",
        "vision_handler",
        "base_handler",
        "dali_image_classifier",
    }
)


def _load_json(ctx: FileContext, src: ByteSource, location: str) -> object:
    text = _read_text(ctx, src, location)
    if text is None:
        return None
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        ctx.add_error(f"{location}: invalid JSON ({exc})")
        return None


def scan_mar_manifest(ctx: FileContext, src: ByteSource, location: str) -> bool:
    """A TorchServe ``MAR-INF/MANIFEST.json``: the handler is either built in or a ``.py``
    member (analysed as executed code where it sits in the archive).

    Example:
        >>> from modelsec.scanner.limits import ScanLimits
        >>> ctx = FileContext("m.mar", ScanLimits())
        >>> doc = b'{"model": {"handler": "image_classifier"}}'
        >>> scan_mar_manifest(ctx, ByteSource.from_bytes(doc), "m.mar!MAR-INF/MANIFEST.json")
        True
        >>> ctx.issues
        []
    """
    ctx.add_format("json")
    doc = _load_json(ctx, src, location)
    if not isinstance(doc, dict):
        return True
    ctx.scanned = True
    model = doc.get("model")
    handler = model.get("handler") if isinstance(model, dict) else None
    if not isinstance(handler, str) or not handler:
        return True
    module = handler.split(":", 1)[0]
    if module in MAR_BUILTIN_HANDLERS or module.startswith("ts.torch_handler."):
        return True
    if module.endswith(".py"):
        from modelsec.scanner.archive import escapes

        if escapes(module):
            ctx.add_issue(
                f"TorchServe handler {printable(module)!r} lies outside the archive",
                location,
                "PAIT-ARV-100",
            )
        return True
    # A dotted module path: an installed package's module run as the handler.
    judge_target(ctx, f"{module}.handle", location, "handler")
    return True


def scan_skops_schema(ctx: FileContext, src: ByteSource, location: str) -> bool:
    """Every type a skops file instantiates (``__module__``/``__class__`` pairs of
    ``schema.json``), judged like pickle imports: unsafe ``PAIT-CFG-100``, not known to be
    data-only ``PAIT-CFG-101`` (skops itself refuses untrusted types unless told to trust them).
    Returns ``False`` when the document is not a skops schema.

    Example:
        >>> from modelsec.scanner.limits import ScanLimits
        >>> ctx = FileContext("m.skops", ScanLimits())
        >>> doc = (b'{"__class__": "system", "__module__": "os", "__loader__": "FunctionNode",'
        ...        b' "_skops_version": "0.9"}')
        >>> scan_skops_schema(ctx, ByteSource.from_bytes(doc), "m.skops!schema.json")
        True
        >>> ctx.issues[0].threat
        'PAIT-CFG-100'
    """
    if b"_skops_version" not in src.peek(ctx.limits.max_text_bytes):
        return False  # some other schema.json: the JSON scanner judges it
    doc = _load_json(ctx, src, location)
    if not isinstance(doc, dict):
        return True
    ctx.scanned = True
    stack: list[object] = [doc]
    seen = 0
    while stack:
        node = stack.pop()
        seen += 1
        if seen > 1_000_000:
            ctx.add_error(f"{location}: skops schema too large to analyse")
            return True
        if isinstance(node, list):
            stack.extend(node)
            continue
        if not isinstance(node, dict):
            continue
        stack.extend(node.values())
        module, cls = node.get("__module__"), node.get("__class__")
        if not (isinstance(module, str) and isinstance(cls, str)):
            continue
        verdict = classify_callable(module, cls)
        if verdict is None:
            continue
        code = CFG_UNSAFE if verdict[0] == UNSAFE else CFG_SUSPICIOUS
        ctx.add_issue(
            f"skops file instantiates {printable(module)}.{printable(cls)}: {verdict[1]}",
            location,
            code,
            module,
            cls,
        )
    return True
