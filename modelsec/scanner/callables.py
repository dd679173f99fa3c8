"""Judging an imported callable: unsafe (``-100``), suspicious (``-101``) or data-only.

Names are canonicalised the way :class:`pickle.Unpickler` would resolve them (Python 2 names
mapped by ``_compat_pickle``, private C aliases such as ``_operator`` or ``posix`` folded into
their public module, dotted attribute chains) and every plausible spelling is judged: the worst
verdict wins, so odd whitespace or aliases cannot launder a denied name.
"""

from __future__ import annotations

from modelsec.scanner.allowlist import is_allowed
from modelsec.scanner.denylist import denied_reason

try:  # the exact table pickle uses for protocols 0-2 (fix_imports=True)
    import _compat_pickle

    _IMPORT_MAPPING: dict[str, str] = dict(_compat_pickle.IMPORT_MAPPING)
    _NAME_MAPPING: dict[tuple[str, str], tuple[str, str]] = dict(_compat_pickle.NAME_MAPPING)
except ImportError:  # pragma: no cover - CPython always has it
    _IMPORT_MAPPING = {"__builtin__": "builtins", "copy_reg": "copyreg", "cPickle": "pickle"}
    _NAME_MAPPING = {}

__all__ = ["SUSPICIOUS", "UNSAFE", "canonical_names", "classify_callable"]

UNSAFE = 100
SUSPICIOUS = 101

# C accelerator modules re-exported by a public module: same objects, same danger.
_ALIASES = {
    "posix": "os",
    "nt": "os",
    "_operator": "operator",
    "_functools": "functools",
    "_io": "io",
    "_collections": "collections",
    "_pickle": "pickle",
    "_socket": "socket",
    "_thread": "threading",
    "_bz2": "bz2",
    "exceptions": "builtins",
    "__builtin__": "builtins",
    "numpy._core": "numpy.core",
}


def canonical_names(module: str, name: str) -> set[str]:
    """Every dotted spelling ``find_class(module, name)`` could resolve to.

    Example:
        >>> sorted(canonical_names("__builtin__", "eval"))
        ['__builtin__.eval', 'builtins.eval']
    """
    out: set[str] = set()
    for m, n in {(module, name), (module.strip(), name.strip())}:
        cands = {(m, n)}
        if (m, n) in _NAME_MAPPING:
            cands.add(_NAME_MAPPING[(m, n)])
        if m in _IMPORT_MAPPING:
            cands.add((_IMPORT_MAPPING[m], n))
        for cm, cn in list(cands):
            head, _, rest = cm.partition(".")
            if head in _ALIASES:
                cands.add((_ALIASES[head] + ("." + rest if rest else ""), cn))
            if cm in _ALIASES:
                cands.add((_ALIASES[cm], cn))
        for cm, cn in cands:
            out.add(f"{cm}.{cn}")
    return out


def classify_callable(module: str, name: str) -> tuple[int, str] | None:
    """``(UNSAFE|SUSPICIOUS, reason)`` for an import, or ``None`` when it is data-only.

    Example:
        >>> classify_callable("posix", "system")[0]
        100
        >>> classify_callable("sklearn.linear_model", "LogisticRegression")[0]
        101
        >>> classify_callable("collections", "OrderedDict") is None
        True
    """
    names = canonical_names(module, name)
    for dotted in sorted(names):
        # An exact allow-list entry (copyreg._reconstructor) beats its module's denial.
        reason = None if is_allowed(dotted) else denied_reason(dotted)
        if reason is not None:
            return UNSAFE, reason
    for dotted in sorted(names):
        if is_allowed(dotted):
            continue
        attrs = dotted.split(".")[1:]
        if any(a.startswith("__") and a.endswith("__") and len(a) > 4 for a in attrs):
            return UNSAFE, "attribute chain through a special attribute (object graph traversal)"
    raw = f"{module}.{name}"
    if any(is_allowed(d) for d in names) and raw == raw.strip() and raw.isprintable():
        return None
    lowered = {d.lower() for d in names}
    if any(denied_reason(d) is not None for d in lowered):
        return SUSPICIOUS, "resembles a denied callable (case variant)"
    if raw != raw.strip() or not raw.isprintable():
        return SUSPICIOUS, "unusual spelling (whitespace or control characters)"
    return SUSPICIOUS, "not on the reviewed allow-list of data-only callables"
