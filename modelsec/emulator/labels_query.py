"""The ``labels_query`` grammar of ``GET /v1/scans``.

``key:value`` or ``key:*`` terms joined by ``AND``/``OR`` (``AND`` binds tighter), with at
most one level of parentheses. Keys and values are ``[A-Za-z0-9_-]+``.

Example:
    >>> q = parse_labels_query("team:ml AND (env:prod OR env:staging)")
    >>> q({"team": "ml", "env": "prod"}), q({"team": "ml", "env": "dev"})
    (True, False)
    >>> parse_labels_query("team:*")({"team": "x"})
    True
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

__all__ = ["LabelsQueryError", "parse_labels_query"]

Predicate = Callable[[Mapping[str, str]], bool]
_TOKEN = re.compile(r"\s*(\(|\)|[A-Za-z0-9_-]+:(?:\*|[A-Za-z0-9_-]+)|[A-Za-z]+|\S)")


class LabelsQueryError(ValueError):
    """A ``labels_query`` outside the grammar."""


def _tokens(text: str) -> list[str]:
    out: list[str] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:  # pragma: no cover - the pattern always matches a non-space
            raise LabelsQueryError(f"unexpected input at {pos}")
        out.append(m.group(1))
        pos = m.end()
    return out


def parse_labels_query(text: str) -> Predicate:
    """Compile a labels query into a predicate over a scan's labels (key -> value)."""
    toks = _tokens(text)
    if not toks:
        raise LabelsQueryError("empty labels query")
    i = 0

    def peek() -> str | None:
        return toks[i] if i < len(toks) else None

    def take() -> str:
        nonlocal i
        t = toks[i]
        i += 1
        return t

    def atom(depth: int) -> Predicate:
        t = peek()
        if t is None:
            raise LabelsQueryError("unexpected end of labels query")
        if t == "(":
            if depth >= 1:
                raise LabelsQueryError("only one level of parentheses is allowed")
            take()
            inner = expr(depth + 1)
            if peek() != ")":
                raise LabelsQueryError("missing ')'")
            take()
            return inner
        if ":" in t:
            take()
            key, value = t.split(":", 1)
            if value == "*":
                return lambda labels: key in labels
            return lambda labels: labels.get(key) == value
        raise LabelsQueryError(f"expected 'key:value', got {t!r}")

    def conj(depth: int) -> Predicate:
        parts = [atom(depth)]
        while (peek() or "").upper() == "AND":
            take()
            parts.append(atom(depth))
        if len(parts) == 1:
            return parts[0]
        return lambda labels: all(p(labels) for p in parts)

    def expr(depth: int) -> Predicate:
        parts = [conj(depth)]
        while (peek() or "").upper() == "OR":
            take()
            parts.append(conj(depth))
        if len(parts) == 1:
            return parts[0]
        return lambda labels: any(p(labels) for p in parts)

    pred = expr(0)
    if i != len(toks):
        raise LabelsQueryError(f"unexpected {toks[i]!r}")
    return pred
