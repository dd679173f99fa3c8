"""A plan (or an applied plan) as text for people: one line per change, diffs indented.

Every name and value shown comes from the tenant or the file and may hold anything: control
characters are escaped so a terminal or a CI log cannot be rewritten by them.

Example:
    >>> from modelsec.posture.plan import Change, Plan
    >>> print(render_plan(Plan([Change("rule", "update", group="ml", rule="License Exists",
    ...     diff={"state": ("BLOCKING", "ALLOWING")})])))
    ~ update rule 'License Exists' in group 'ml'
        state: BLOCKING -> ALLOWING
    1 to change, 0 unchanged.
"""

from __future__ import annotations

from typing import Any

from modelsec.posture.plan import Change, Plan

__all__ = ["render_change", "render_plan"]

_SIGNS = {
    "create": "+",
    "update": "~",
    "assign": "~",
    "archive": "-",
    "unarchive": "+",
    "unassign": "-",
    "delete": "-",
    "unchanged": "=",
    "extra": "?",
    "conflict": "!",
}
_LIST_LIMIT = 12


def _safe(text: Any) -> str:
    s = str(text)
    return s if s.isprintable() else s.encode("unicode_escape").decode("ascii")


def _value(v: Any) -> str:
    if v is None:
        return "(none)"
    if isinstance(v, list):
        shown = ", ".join(_safe(x) for x in v[:_LIST_LIMIT])
        more = f", ... ({len(v)} in all)" if len(v) > _LIST_LIMIT else ""
        return f"[{shown}{more}]"
    if isinstance(v, dict):
        import json

        return _safe(json.dumps(v, sort_keys=True))
    return _safe(v)


def _diff_line(key: str, old: Any, new: Any) -> str:
    if isinstance(old, list) and isinstance(new, list):
        added = [x for x in new if x not in old]
        removed = [x for x in old if x not in new]
        if added or removed:
            parts = [f"+{_safe(x)}" for x in added] + [f"-{_safe(x)}" for x in removed]
            return f"    {_safe(key)}: {' '.join(parts)}"
        return f"    {_safe(key)}: reordered {_value(new)}"
    return f"    {_safe(key)}: {_value(old)} -> {_value(new)}"


def render_change(ch: Change, *, applied: bool = False) -> str:
    """One change: a sign, what, where, then its field-level difference.

    Example:
        >>> print(render_change(Change("group", "create", group="ml",
        ...     diff={"source_type": (None, "LOCAL")})))
        + create group 'ml'
            source_type: (none) -> LOCAL
    """
    subject = _safe(ch.subject)
    head = f"{_SIGNS.get(ch.action, '*')} {ch.action} {subject}"
    if ch.action == "extra":
        head += " (not in the file; --prune removes it)"
    if applied and ch.status != "planned":
        head += f"  [{ch.status}]"
    lines = [head]
    if ch.error and (applied or ch.action == "conflict"):
        lines.append(f"    error: {_safe(ch.error)}")
    elif ch.detail and ch.action == "conflict":
        lines.append(f"    {_safe(ch.detail)}")
    if ch.action not in ("extra", "unassign", "delete"):
        for key, (old, new) in ch.diff.items():
            lines.append(_diff_line(key, old, new))
    return "\n".join(lines)


def render_plan(plan: Plan, *, applied: bool = False, show_unchanged: bool = False) -> str:
    """The whole plan; with ``applied`` each change carries its status and a summary follows.

    Unchanged resources are counted, listed only with ``show_unchanged``.
    """
    out = [
        render_change(c, applied=applied)
        for c in plan.changes
        if show_unchanged or c.action != "unchanged"
    ]
    unchanged = sum(1 for c in plan.changes if c.action == "unchanged")
    pending = plan.pending
    if applied:
        by: dict[str, int] = {}
        for c in pending:
            by[c.status] = by.get(c.status, 0) + 1
        if not pending:
            out.append(f"Nothing to do: the tenant matches the file ({unchanged} unchanged).")
        else:
            out.append(
                f"{by.get('applied', 0)} applied, {by.get('failed', 0)} failed, "
                f"{by.get('skipped', 0)} skipped, {unchanged} unchanged."
            )
            if by.get("failed") or by.get("skipped"):
                out.append("Not everything was applied: fix the errors above and run it again.")
    elif not pending:
        out.append(f"No changes: the tenant matches the file ({unchanged} unchanged).")
    else:
        out.append(f"{len(pending)} to change, {unchanged} unchanged.")
    extra = sum(1 for c in plan.changes if c.action == "extra")
    if extra:
        out.append(f"{extra} not in the file, kept (--prune removes what the file's scope covers).")
    return "\n".join(out)
