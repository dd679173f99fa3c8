"""Jinja chat templates (GGUF metadata, ``tokenizer_config.json``, ``chat_template.json``,
``*.jinja``) that reach Python internals.

Chat templates are rendered by ``jinja2`` (transformers uses a sandbox; llama-cpp-python and
others did not: CVE-2024-34359). A template needs messages, loops and filters; any lookup of
``__class__``/``__globals__``/``mro``/``gi_frame``..., a lookup whose name is computed at render
time, a look inside the Jinja globals that carry ``__globals__`` (``lipsum``, ``cycler``,
``self``...) or a template loaded from elsewhere is how server-side template injection
reaches ``os.popen``.

"Parse, don't grep": with ``jinja2`` installed (extra ``modelsec[templates]``) the template is
parsed by ``jinja2`` itself and judged on its syntax tree (:mod:`modelsec.scanner.jinja_ast`),
never rendered; text and string literals are data. Without it a small tokenizer applies
stricter rules (:mod:`modelsec.scanner.jinja_lex`). A template ``jinja2`` cannot parse is
reported as an error (fail closed: Python renderers refuse it, but other engines such as
llama.cpp's may not) and is still checked by the tokenizer.
"""

from __future__ import annotations

from typing import NamedTuple

from modelsec.scanner.report import FileContext, printable
from modelsec.scanner.source import ByteSource

__all__ = [
    "TemplateVerdict",
    "analyse_template",
    "check_template",
    "describe_key",
    "report_template",
    "scan_template_source",
]

THREAT = "PAIT-GGUF-101"


class TemplateVerdict(NamedTuple):
    """Why a template is dangerous, and why it could not be fully judged (or ``None``).

    Example:
        >>> TemplateVerdict([], None, "jinja2").error is None
        True
    """

    reasons: list[str]
    error: str | None
    parser: str  # "jinja2" or "fallback"


def _jinja2_available() -> bool:
    try:
        import jinja2  # noqa: F401
    except ImportError:
        return False
    return True


def analyse_template(template: str) -> TemplateVerdict:
    """Judge ``template`` with ``jinja2``'s parser when installed, else the fallback tokenizer.

    Example:
        >>> v = analyse_template("{{ messages[0]['content'] | trim }}")
        >>> v.reasons, v.error
        ([], None)
    """
    from modelsec.scanner.jinja_lex import analyse_tokens

    if not _jinja2_available():
        reasons, error = analyse_tokens(template)
        if error is not None:
            error = f"is not a well-formed Jinja template ({error})"
        return TemplateVerdict(reasons, error, "fallback")
    from modelsec.scanner.jinja_ast import analyse_ast

    reasons, error = analyse_ast(template)
    if error is None:
        return TemplateVerdict(reasons, None, "jinja2")
    # jinja2 refuses it (Python renderers cannot run it, but a different engine might) or the
    # analysis could not finish: judge what we can with the tokenizer and report the failure.
    extra, _lex_error = analyse_tokens(template)
    merged = reasons + [r for r in extra if r not in reasons]
    return TemplateVerdict(merged, error, "jinja2")


def check_template(template: str) -> list[str]:
    """Reasons why ``template`` is dangerous (empty for a plain chat template).

    Example:
        >>> check_template("{% for m in messages %}{{ m['content'] }}{% endfor %}")
        []
        >>> reasons = check_template("{{ cycler.__init__.__globals__.os.popen('id').read() }}")
        >>> "attribute '__init__' reaches Python internals" in reasons
        True
    """
    return analyse_template(template).reasons


def report_template(ctx: FileContext, template: str, location: str, what: str) -> None:
    """One ``PAIT-GGUF-101`` issue per reason found in ``template``; an error when it could
    not be parsed or analysed.

    Example:
        >>> from modelsec.scanner.limits import ScanLimits
        >>> ctx = FileContext("tokenizer_config.json", ScanLimits())
        >>> report_template(ctx, "{{ range.__init__ }}", "t.json", "chat template")
        >>> sorted({i.threat for i in ctx.issues})
        ['PAIT-GGUF-101']
    """
    ctx.scanned = True
    verdict = analyse_template(template)
    for reason in verdict.reasons:
        ctx.add_issue(
            f"{what} can execute code when rendered: {reason}", location, THREAT, None, "jinja"
        )
    if verdict.error is not None:
        ctx.add_error(f"{location}: {what} {verdict.error}")


def scan_template_source(ctx: FileContext, src: ByteSource, location: str) -> None:
    """Check a standalone template file (``chat_template.jinja``).

    Example:
        >>> from modelsec.scanner.limits import ScanLimits
        >>> ctx = FileContext("chat_template.jinja", ScanLimits())
        >>> scan_template_source(ctx, ByteSource.from_bytes(b"{{ lipsum.__globals__ }}"), "t")
        >>> ctx.issues[0].threat
        'PAIT-GGUF-101'
    """
    limit = ctx.limits.max_text_bytes
    raw = src.read(limit + 1)
    if len(raw) > limit:
        ctx.add_error(f"{location}: template larger than {limit} bytes was not fully checked")
        raw = raw[:limit]
    report_template(ctx, raw.decode("utf-8", "replace"), location, "chat template")


def describe_key(key: str) -> str:
    """How a GGUF template key is named in findings.

    Example:
        >>> describe_key("tokenizer.chat_template.tool_use")
        "GGUF chat template 'tool_use'"
    """
    name = key[len("tokenizer.chat_template") :].lstrip(".")
    return f"GGUF chat template {printable(name, 60)!r}" if name else "GGUF chat template"
