"""JSON files of a model directory: tokenizer chat templates, safetensors indexes, Keras
model JSON. Other JSON is listed with format ``json`` and status SKIPPED."""

from __future__ import annotations

import json
import posixpath

from modelsec.scanner.jinja import report_template
from modelsec.scanner.report import FileContext, printable
from modelsec.scanner.source import ByteSource

__all__ = ["parse_json", "scan_json"]


def parse_json(ctx: FileContext, raw: bytes, location: str, what: str = "JSON") -> object:
    """``json.loads`` as the loaders do it (UTF-8, BOM allowed), or ``None`` after an error.

    Fail closed: a document over ``max_json_bytes`` or that does not parse is recorded as an
    error (a finding the default policy blocks), never passed unread.

    Example:
        >>> from modelsec.scanner.limits import ScanLimits
        >>> ctx = FileContext("c.json", ScanLimits())
        >>> parse_json(ctx, b'{"a": 1}', "c.json"), parse_json(ctx, b"{", "c.json")
        ({'a': 1}, None)
        >>> ctx.errors[0].startswith("c.json: invalid JSON")
        True
    """
    if len(raw) > ctx.limits.max_json_bytes:
        ctx.add_error(f"{location}: {what} larger than {ctx.limits.max_json_bytes} bytes, not read")
        return None
    try:
        return json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        ctx.add_error(f"{location}: invalid {what} ({printable(str(exc))})")
        return None


def _load(ctx: FileContext, src: ByteSource, location: str) -> object:
    return parse_json(ctx, src.read(ctx.limits.max_json_bytes + 1), location)


def _chat_templates(ctx: FileContext, template: object, location: str) -> None:
    """``chat_template`` as transformers accepts it: a string, a list of ``{name, template}``
    (tokenizer_config.json) or a name -> template mapping."""
    if isinstance(template, str):
        report_template(ctx, template, location, "chat template")
        return
    named: list[tuple[object, object]] = []
    if isinstance(template, list):
        for item in template:
            if not isinstance(item, dict):
                ctx.add_error(f"{location}: chat_template list holds a non-object entry")
                continue
            named.append((item.get("name", ""), item.get("template")))
    elif isinstance(template, dict):
        named.extend(template.items())
    elif template is not None:
        ctx.add_error(f"{location}: chat_template is neither a string nor a list of templates")
    for name, text in named:
        what = f"chat template {printable(str(name), 60)!r}"
        if isinstance(text, str):
            report_template(ctx, text, location, what)
        elif text is not None:
            ctx.add_error(f"{location}: {what} is not a string")


def scan_json(ctx: FileContext, src: ByteSource, name: str, location: str) -> None:
    """Scan a JSON document for the model-relevant content we know.

    Example:
        >>> from modelsec.scanner.limits import ScanLimits
        >>> ctx = FileContext("tokenizer_config.json", ScanLimits())
        >>> doc = b'{"chat_template": "{{ self.__init__.__globals__ }}"}'
        >>> scan_json(ctx, ByteSource.from_bytes(doc), "tokenizer_config.json", "t.json")
        >>> ctx.issues[0].threat
        'PAIT-GGUF-101'
    """
    base = posixpath.basename(name.lower())
    if base.endswith(".index.json") and "safetensors" in base:
        ctx.add_format("safetensors_index")
    else:
        ctx.add_format("json")
    doc = _load(ctx, src, location)
    if not isinstance(doc, dict):
        return
    _chat_templates(ctx, doc.get("chat_template"), location)
    weight_map = doc.get("weight_map")
    if isinstance(weight_map, dict) and ctx.formats and "safetensors_index" in ctx.formats:
        ctx.scanned = True
        from modelsec.scanner.archive import escapes

        for target in set(map(str, weight_map.values())):
            if escapes(target):
                ctx.add_issue(
                    f"safetensors index points outside the model directory: {printable(target)!r}",
                    location,
                )
    if "class_name" in doc and "config" in doc:
        from modelsec.scanner.keras import check_keras_config

        ctx.add_format("keras_model_json")
        check_keras_config(ctx, doc, location)
