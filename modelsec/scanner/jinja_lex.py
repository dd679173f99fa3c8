"""Conservative chat-template check without ``jinja2``: a small tokenizer of ``{{ }}`` and
``{% %}`` blocks (string literals, raw blocks and comments skipped as Jinja's lexer does, ``}}``
inside a string or a bracket does not end a block) and token rules that are stricter than the
syntax-tree analysis of :mod:`modelsec.scanner.jinja_ast`: what that analysis would report is
reported here too, plus more (any subscript built from strings, any variable assigned from
string literals used as a key, any ``|attr``). Install ``modelsec[templates]`` for the precise
analysis.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from modelsec.scanner.jinja_rules import (
    ATTRIBUTE_FILTERS,
    ESCAPE_GLOBALS,
    LOADING_STATEMENTS,
    format_field_attributes,
    internal_name,
)
from modelsec.scanner.report import printable

__all__ = ["analyse_tokens"]

_OPEN = re.compile(r"\{\{|\{%|\{#")
_RAW = re.compile(r"\{%[-+]?\s*raw\s*[-+]?%\}")
_ENDRAW = re.compile(r"\{%[-+]?\s*endraw\s*[-+]?%\}")
_TOKEN = re.compile(
    r"""(?P<ws>\s+)
    |(?P<str>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
    |(?P<num>\d[\d_]*(?:\.\d+)?(?:[eE][+-]?\d+)?)
    |(?P<name>[^\W\d]\w*)
    |(?P<op>\*\*|//|==|!=|<=|>=|[-+*/%~|.,:;()\[\]{}<>=!])
    """,
    re.X | re.S,
)
_NUMERIC_FILTERS = frozenset({"length", "count", "int", "abs", "round", "float"})
_MAX_REASONS = 10


def _unescape(literal: str) -> str:
    """A string token's value, decoded as Jinja's lexer does (``unicode-escape``)."""
    try:
        return literal[1:-1].encode("ascii", "backslashreplace").decode("unicode-escape")
    except UnicodeDecodeError:
        return literal[1:-1]


class _Tok:
    __slots__ = ("kind", "value")

    def __init__(self, kind: str, value: str) -> None:
        self.kind = kind
        self.value = value


def _blocks(text: str) -> tuple[list[tuple[str, list[_Tok]]], str | None]:
    """Code blocks as token lists, or an error when the template is not well formed."""
    out: list[tuple[str, list[_Tok]]] = []
    pos = 0
    while True:
        m = _OPEN.search(text, pos)
        if m is None:
            return out, None
        if m.group(0) == "{#":
            end = text.find("#}", m.end())
            if end < 0:
                return out, "unterminated comment"
            pos = end + 2
            continue
        raw = _RAW.match(text, m.start())
        if raw is not None:
            end_raw = _ENDRAW.search(text, raw.end())
            if end_raw is None:
                return out, "unterminated raw block"
            pos = end_raw.end()
            continue
        kind = "var" if m.group(0) == "{{" else "stmt"
        closer = "}}" if kind == "var" else "%}"
        tokens: list[_Tok] = []
        depth = 0
        i = m.end()
        if text[i : i + 1] in ("-", "+"):
            i += 1
        while True:
            if i >= len(text):
                return out, "unterminated block"
            # As in jinja2's lexer, the block end (with its -/+ modifier) is tried first at
            # every position, except inside brackets.
            if depth == 0 and text.startswith(closer, i):
                break
            if depth == 0 and text[i] in "-+" and text.startswith(closer, i + 1):
                i += 1
                break
            t = _TOKEN.match(text, i)
            if t is None:
                return out, f"unexpected character {printable(text[i], 8)!r}"
            i = t.end()
            tkind = t.lastgroup or "op"
            if tkind == "ws":
                continue
            value = t.group(0)
            if tkind == "op" and value in "([{":
                depth += 1
            elif tkind == "op" and value in ")]}":
                depth = max(depth - 1, 0)
            tokens.append(_Tok(tkind, _unescape(value) if tkind == "str" else value))
        pos = i + 2
        out.append((kind, tokens))


def _matching(tokens: list[_Tok], start: int) -> int:
    """Index of the bracket closing the one at ``start`` (or the end)."""
    depth = 0
    for j in range(start, len(tokens)):
        if tokens[j].kind == "op" and tokens[j].value in "([{":
            depth += 1
        elif tokens[j].kind == "op" and tokens[j].value in ")]}":
            depth -= 1
            if depth == 0:
                return j
    return len(tokens)


def _assigned_from_strings(blocks: list[tuple[str, list[_Tok]]]) -> tuple[set[str], set[str]]:
    """Variables a ``set``/``for``/``with``/``macro`` binds from anything that may be a string
    the template wrote (or that we cannot tell): used as a key, such a variable is suspect.
    Also the variables bound to mappings the template writes (``d.k`` looks a value up)."""
    names: set[str] = {"varargs", "kwargs"}  # a macro's extra arguments
    containers: set[str] = {"kwargs"}
    for kind, toks in blocks:
        if kind != "stmt" or not toks or toks[0].kind != "name":
            continue
        head = toks[0].value
        if head in ("macro", "call"):
            names.update(t.value for t in toks[1:] if t.kind == "name")
            continue
        if head not in ("set", "for", "with"):
            continue
        split = next(
            (j for j, t in enumerate(toks) if t.value in ("=", "in") and t.kind != "str"),
            len(toks),
        )
        rhs = toks[split + 1 :]
        stringy = split == len(toks) or any(
            t.kind == "str"
            or t.value == "~"
            or (k and rhs[k - 1].value == "|" and t.value not in _NUMERIC_FILTERS)
            for k, t in enumerate(rhs)
        )
        if stringy:
            names.update(t.value for t in toks[1:split] if t.kind == "name")
        if any(t.value in ("{", "dict") for t in rhs):
            containers.update(t.value for t in toks[1:split] if t.kind == "name")
    for _kind, toks in blocks:  # namespace(name='...'): ``ns.name`` may hold that string
        for j, t in enumerate(toks):
            if t.value == "namespace" and j + 1 < len(toks) and toks[j + 1].value == "(":
                args = toks[j + 2 : _matching(toks, j + 1)]
                if any(a.kind == "str" or a.value == "~" for a in args):
                    names.update(
                        a.value
                        for k, a in enumerate(args[:-1])
                        if a.kind == "name" and args[k + 1].value == "="
                    )
    return names, containers


def analyse_tokens(template: str) -> tuple[list[str], str | None]:
    """``(reasons, error)`` for ``template`` by the fallback tokenizer (stricter than the AST).

    Example:
        >>> analyse_tokens("{% for m in messages %}{{ m['content'] }}{% endfor %}")
        ([], None)
        >>> analyse_tokens("{{ 'x }}' }}{{ ''.__class__ }}")[0]
        ["attribute '__class__' reaches Python internals"]
    """
    reasons: list[str] = []

    def add(reason: str) -> None:
        if reason not in reasons and len(reasons) < _MAX_REASONS:
            reasons.append(reason)

    blocks, error = _blocks(template)
    suspect, containers = _assigned_from_strings(blocks)
    for kind, toks in blocks:
        if kind == "stmt" and toks and toks[0].value in LOADING_STATEMENTS:
            add(f"loads another template ({{% {toks[0].value} %}})")
        for j, tok in enumerate(toks):
            prev = toks[j - 1] if j else None
            nxt = toks[j + 1] if j + 1 < len(toks) else None
            after_dot = prev is not None and prev.value == "." and prev.kind == "op"
            if tok.kind == "name" and after_dot and internal_name(tok.value):
                add(f"attribute {printable(tok.value, 80)!r} reaches Python internals")
            if (
                tok.kind == "name"
                and not after_dot
                and tok.value in ESCAPE_GLOBALS
                and nxt is not None
                and nxt.value in (".", "[")
            ):
                add(f"looks inside the Jinja global {tok.value!r}")
            if tok.kind == "op" and tok.value == "[" and _subscripts(prev):
                _check_subscript(toks[j + 1 : _matching(toks, j)], suspect, containers, add)
            filter_block = kind == "stmt" and j == 1 and toks[0].value == "filter"
            if tok.kind == "name" and (filter_block or (prev is not None and prev.value == "|")):
                _check_filter(tok.value, toks, j, add)
            if tok.kind == "name" and after_dot and tok.value in ("format", "format_map"):
                recv = toks[j - 2] if j >= 2 else None
                if recv is None or recv.kind != "str":
                    add("str.format on a format string computed at render time")
                else:
                    for attr in format_field_attributes(recv.value) or []:
                        if internal_name(attr):
                            add(
                                f"str.format field attribute {printable(attr, 80)!r} "
                                "reaches Python internals"
                            )
    return reasons, error


_KEYWORDS = frozenset({"in", "not", "and", "or", "if", "else", "is", "for", "set", "elif"})


def _subscripts(prev: _Tok | None) -> bool:
    """Whether a ``[`` after ``prev`` opens a subscript (rather than a list literal)."""
    if prev is None:
        return False
    if prev.kind == "name":
        return prev.value not in _KEYWORDS
    return prev.kind == "str" or prev.value in (")", "]")


def _check_subscript(
    inner: list[_Tok], suspect: set[str], containers: set[str], add: Callable[[str], None]
) -> None:
    if len(inner) == 1 and inner[0].kind == "str":
        if internal_name(inner[0].value):
            add(f"item key {printable(inner[0].value, 80)!r} reaches Python internals")
        return
    depth = 0
    for t in inner:
        depth += t.value in "([{" and t.kind == "op"
        depth -= t.value in ")]}" and t.kind == "op"
        if depth == 0 and t.kind == "op" and t.value == ":":
            return  # a slice: its bounds are numbers, nested subscripts are checked on their own
    if any(t.value == "+" for t in inner) and any(t.value == "[" for t in inner):
        # parts cut out of something (a repr, a string) added together
        add("item key is a string built at render time (a computed attribute name)")
        return
    for k, t in enumerate(inner):
        before = inner[k - 1].value if k else ""
        if t.kind == "str" or t.value in ("~", "*", "%", "("):
            if t.value == "(" and (k == 0 or inner[k - 1].kind == "op"):
                continue  # grouping parentheses
            add("item key is a string built at render time (a computed attribute name)")
            return
        if t.kind == "name" and before == "|" and t.value not in _NUMERIC_FILTERS:
            add("item key is a string built at render time (a computed attribute name)")
            return
        after = inner[k + 1].value if k + 1 < len(inner) else ""
        if t.kind == "name" and before != "|" and after not in (".", "(") and t.value in suspect:
            add(f"item key {t.value!r} is a variable assigned from template strings")
            return
        if t.kind == "name" and before != "." and after == "." and t.value in containers:
            add(f"item key looks inside {t.value!r}, a mapping of template strings")
            return


def _check_filter(name: str, toks: list[_Tok], j: int, add: Callable[[str], None]) -> None:
    if name == "attr":
        add("uses the attr filter (attribute name given as a value)")
        return
    if name not in ATTRIBUTE_FILTERS:
        return
    if j + 1 >= len(toks) or toks[j + 1].value != "(":
        return
    args = toks[j + 2 : _matching(toks, j + 1)]
    if any(t.value in ("*", "**") for t in args):
        add(f"|{name} takes its arguments from an unpacked value")
    position, keyword = ATTRIBUTE_FILTERS[name]
    if (
        position == 0
        and args
        and not (args[0].kind == "name" and args[1:2] and args[1].value == "=")
    ):
        if args[0].kind != "str" or (len(args) > 1 and args[1].value != ","):
            add(f"|{name} attribute name is chosen at render time")
        elif internal_name(args[0].value):
            add(f"|{name} attribute name {printable(args[0].value, 80)!r} reaches Python internals")
    if name == "map" and args and not (args[0].kind == "name" and args[0].value == "attribute"):
        if args[0].kind != "str":
            add("|map applies a filter chosen at render time")
        elif args[0].value == "attr":
            add("|map applies the attr filter")
    for k, t in enumerate(args[:-2]):
        if keyword and t.kind == "name" and t.value == "attribute" and args[k + 1].value == "=":
            value = args[k + 2]
            if value.kind != "str" or (k + 3 < len(args) and args[k + 3].value not in ",)"):
                add(f"|{name} attribute name is chosen at render time")
            elif internal_name(value.value):
                shown = printable(value.value, 80)
                add(f"|{name} attribute name {shown!r} reaches Python internals")
