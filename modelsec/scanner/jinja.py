"""Jinja chat templates (GGUF metadata, ``tokenizer_config.json``, ``*.jinja``) that reach
Python internals.

Chat templates are rendered by ``jinja2`` (transformers uses a sandbox, llama-cpp-python and
others did not: CVE-2024-34359). A template needs nothing beyond messages, loops and filters;
any path to ``__class__``/``__globals__``/``__builtins__``, the ``attr`` filter, or the Jinja
globals that carry ``__globals__`` (``lipsum``, ``cycler``, ``joiner``, ``self``...) is how
server-side template injection reaches ``os.popen``. String concatenation and escapes such as
``"\\x5f\\x5f"`` are undone before matching, so spelling tricks do not hide a dunder.
"""

from __future__ import annotations

import re

from modelsec.scanner.report import FileContext, printable
from modelsec.scanner.source import ByteSource

__all__ = ["check_template", "scan_template_source"]

_BLOCK = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.S)
_CONCAT = re.compile(r"""(['"])\s*[~+]\s*(['"])""")
_ESC = re.compile(r"\\x([0-9a-fA-F]{2})|\\u([0-9a-fA-F]{4})|\\U([0-9a-fA-F]{8})|\\([0-7]{3})")
_RULES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"__[a-z]\w*__"), "reaches a Python special attribute"),
    (re.compile(r"\|\s*attr\b|\battr\s*\("), "uses the attr filter (dynamic attribute access)"),
    (
        re.compile(r"\b(lipsum|cycler|joiner|self|config|request|url_for|get_flashed_messages)\b"),
        "uses a Jinja global that exposes Python globals",
    ),
    (
        re.compile(r"\b(mro|subclasses|globals|builtins|func_globals|f_globals|gi_frame)\b"),
        "walks the Python object graph",
    ),
    (
        re.compile(r"\b(popen|subprocess|system|__import__|import_module|eval|exec)\s*\("),
        "calls a process or code evaluation function",
    ),
    (re.compile(r"\{%-?\s*(import|from|include|extends)\b"), "loads other templates"),
]


def _normalise(block: str) -> str:
    out = _CONCAT.sub("", block)

    def unescape(m: re.Match[str]) -> str:
        if m.group(4):
            return chr(int(m.group(4), 8))
        return chr(int(next(g for g in m.groups() if g), 16))

    out = _ESC.sub(unescape, out)
    return out.lower()


def check_template(template: str) -> list[str]:
    """Reasons why ``template`` is dangerous (empty when it looks like a plain chat template).

    Example:
        >>> check_template("{% for m in messages %}{{ m['content'] }}{% endfor %}")
        []
        >>> check_template("{{ cycler.__init__.__globals__.os.popen('id').read() }}")[0]
        'reaches a Python special attribute: __init__'
    """
    reasons: list[str] = []
    for match in _BLOCK.finditer(template):
        text = _normalise(match.group(0))
        for rule, why in _RULES:
            hit = rule.search(text)
            if hit is not None:
                msg = f"{why}: {printable(hit.group(0), 80)}"
                if msg not in reasons:
                    reasons.append(msg)
        if len(reasons) >= 10:
            break
    return reasons


def report_template(ctx: FileContext, template: str, location: str, what: str) -> None:
    """Add one PAIT-GGUF-101 issue per reason found in ``template``."""
    ctx.scanned = True
    for reason in check_template(template):
        ctx.add_issue(
            f"{what} can execute code when rendered: {reason}",
            location,
            "PAIT-GGUF-101",
            None,
            "jinja",
        )


def scan_template_source(ctx: FileContext, src: ByteSource, location: str) -> None:
    """Check a standalone template file (``chat_template.jinja``)."""
    text = src.read(ctx.limits.max_text_bytes).decode("utf-8", "replace")
    report_template(ctx, text, location, "chat template")
