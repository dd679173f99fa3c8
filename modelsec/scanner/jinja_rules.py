"""What a chat template must not reach: the names shared by the Jinja AST analysis and the
fallback tokenizer (:mod:`modelsec.scanner.jinja`).

Every server-side template injection against ``jinja2`` walks the Python object graph through
attribute or item lookups: ``__class__``, ``__globals__``, ``__init__``... (``jinja2``'s
``getitem`` falls back to ``getattr`` for string keys, so ``x["__class__"]`` is the same walk),
or through the non-dunder internals the sandbox also refuses (``mro``, generator and frame
attributes: ``gi_frame.f_globals`` reaches module globals without a single underscore).
"""

from __future__ import annotations

import re

__all__ = [
    "ATTRIBUTE_FILTERS",
    "ESCAPE_GLOBALS",
    "LOADING_STATEMENTS",
    "UNSAFE_ATTRIBUTES",
    "format_field_attributes",
    "internal_name",
]

# Non-underscore attributes ``jinja2.sandbox.is_internal_attribute`` refuses (by object type:
# we do not know the type statically, so any of them is refused), plus the frame, traceback and
# code attributes behind them and the Python 2 spellings still tried by old payloads.
UNSAFE_ATTRIBUTES = frozenset(
    {
        "mro",
        "gi_frame",
        "gi_code",
        "gi_yieldfrom",
        "cr_frame",
        "cr_code",
        "cr_await",
        "cr_origin",
        "ag_frame",
        "ag_code",
        "ag_await",
        "f_back",
        "f_builtins",
        "f_code",
        "f_globals",
        "f_locals",
        "f_trace",
        "tb_frame",
        "tb_next",
        "co_code",
        "co_consts",
        "co_names",
        "func_globals",
        "func_code",
        "func_closure",
        "func_defaults",
        "func_dict",
        "im_func",
        "im_self",
        "im_class",
    }
)

# Jinja (and Flask) globals whose attributes lead to Python globals: ``cycler.__init__``,
# ``lipsum.__globals__``, ``self._TemplateReference__context``... A chat template calls some
# of them (``namespace(...)``, ``range(...)``) but never looks inside them.
ESCAPE_GLOBALS = frozenset(
    {
        "cycler",
        "joiner",
        "namespace",
        "lipsum",
        "range",
        "dict",
        "self",
        "config",
        "request",
        "url_for",
        "get_flashed_messages",
    }
)

# Filters that look attributes up by a name given as an argument (``make_attrgetter``: dotted
# paths, each part through ``getitem`` then ``getattr``); the value is (positional index of the
# name or None, whether an ``attribute=`` keyword is read).
ATTRIBUTE_FILTERS: dict[str, tuple[int | None, bool]] = {
    "attr": (0, False),
    "join": (None, True),
    "selectattr": (0, False),
    "rejectattr": (0, False),
    "groupby": (0, True),
    "map": (None, True),
    "sort": (None, True),
    "sum": (None, True),
    "unique": (None, True),
    "min": (None, True),
    "max": (None, True),
}

# Statements that read other templates through a loader (file system, package...).
LOADING_STATEMENTS = frozenset({"import", "include", "extends", "from"})

_FIELD_PART = re.compile(r"\.([^.\[]*)|\[([^\]]*)\]")


def internal_name(name: str) -> bool:
    """Whether looking ``name`` up (as attribute, or as a key that falls back to an attribute)
    reaches Python internals. Dotted and comma-separated paths (``map(attribute="a.b")``,
    ``sort(attribute="a,b")``) are judged part by part.

    Example:
        >>> internal_name("content"), internal_name("__class__"), internal_name("a.gi_frame")
        (False, True, True)
    """
    for part in re.split(r"[.,]", name):
        part = part.strip()
        if part.startswith("_") or part in UNSAFE_ATTRIBUTES:
            return True
    return False


def format_field_attributes(fmt: str) -> list[str] | None:
    """Attribute names a ``str.format`` string looks up (``"{0.__class__}"``), nested format
    specs included; ``None`` when the string is not a valid format string.

    Example:
        >>> format_field_attributes("<{}>"), format_field_attributes("{0.__class__.x[k]}")
        ([], ['__class__', 'x'])
    """
    import string

    out: list[str] = []
    pending = [fmt]
    seen = 0
    while pending:
        text = pending.pop()
        seen += 1
        if seen > 64:
            return None
        try:
            parsed = list(string.Formatter().parse(text))
        except ValueError:
            return None
        for _literal, field, spec, _conv in parsed:
            if field:
                first = re.match(r"[^.\[]*", field)
                rest = field[first.end() if first else 0 :]
                out.extend(m.group(1) for m in _FIELD_PART.finditer(rest) if m.group(1) is not None)
            if spec and "{" in spec:
                pending.append(spec)
    return out
