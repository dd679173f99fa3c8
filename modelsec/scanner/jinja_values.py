"""The abstract values of :mod:`modelsec.scanner.jinja_ast`: what a template expression may be.

A :class:`Val` is a set of possible literal values (folded from the template's own constants,
bounded), plus two flags: "context data" (messages, tools: not written by the template author)
and "built" (a string computed from template text that could not be folded). Only pure ``str``
operations are folded, on bounded sizes; nothing from the template is ever called.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = [
    "ASSEMBLED",
    "BUILT",
    "DATA",
    "NUMBER_FILTERS",
    "RECEIVER_ONLY_FILTERS",
    "RECEIVER_ONLY_METHODS",
    "STR_FILTERS",
    "STR_METHODS",
    "Val",
    "add",
    "assemble",
    "derive",
    "extract",
    "fold",
    "index",
    "jstr",
    "mul",
    "partial",
]

MAX_LITS = 64
MAX_STR = 4096


class Val:
    """Abstract value: possible literals, plus flags for what else it may be.

    ``data``: context data (messages, tools; not written by the template author). ``built``: a
    string computed from template text that could not be folded. ``text``: known to be a string
    (``|string``, slices of strings...): object reprs hold ``_`` and letters. ``assembled``: a
    string put together at render time from pieces (``~``, ``+`` of strings, ``|join``,
    ``|format``, ``%``...), even pieces of context data or reprs: no chat template needs that as
    a lookup key, an attacker spelling ``__globals__`` from repr characters does.

    Example:
        >>> v = Val(["a"]) | DATA
        >>> sorted(v.lits), v.data, v.built, v.literal
        (['a'], True, False, False)
    """

    __slots__ = ("assembled", "built", "data", "lits", "text")

    def __init__(
        self,
        lits: Iterable[Any] = (),
        data: bool = False,
        built: bool = False,
        text: bool = False,
        assembled: bool = False,
    ) -> None:
        lit_set = frozenset(lits)
        if len(lit_set) > MAX_LITS:
            lit_set, built = frozenset(), True
        self.lits = lit_set
        self.data = data
        self.built = built
        self.text = text
        self.assembled = assembled

    def _key(self) -> tuple[Any, ...]:
        return (self.lits, self.data, self.built, self.text, self.assembled)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Val) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __or__(self, other: Val) -> Val:
        return Val(
            self.lits | other.lits,
            self.data or other.data,
            self.built or other.built,
            self.text or other.text,
            self.assembled or other.assembled,
        )

    @property
    def literal(self) -> bool:
        return bool(self.lits) and not (self.data or self.built or self.assembled)

    @property
    def stringy(self) -> bool:
        """Carries template-written text that could supply an internal name's characters."""
        return self.built or any(_has_text(v) for v in self.lits)

    @property
    def textual(self) -> bool:
        """May be a string (so ``+``/``*``/``%`` on it put strings together)."""
        return self.text or self.assembled or self.stringy


def _has_text(value: Any) -> bool:
    # Every internal name has an underscore except ``mro``: template text without "_" (and
    # without the letters of "mro") cannot supply the characters of one, however it is cut,
    # reordered or repeated. Joining such text with other pieces is judged as "assembled".
    if isinstance(value, str):
        return "_" in value or set(value) >= _MRO
    return isinstance(value, tuple) and any(_has_text(v) for v in value)


_MRO = frozenset("mro")


DATA = Val(data=True)
BUILT = Val(built=True)
ASSEMBLED = Val(text=True, assembled=True)


def derive(*vals: Val) -> Val:
    """The result of an operation we do not fold: built when template text flows into it.

    Example:
        >>> derive(DATA, Val([1])) == DATA, derive(DATA, Val(["_"])) == BUILT
        (True, True)
    """
    return BUILT if any(v.stringy for v in vals) else DATA


def extract(recv: Val) -> Val:
    """A part of ``recv`` (item, slice, case change...): what ``recv`` could carry, no more.

    Example:
        >>> v = extract(ASSEMBLED | DATA)
        >>> v.assembled, v.built
        (True, False)
    """
    return derive(recv) | Val(text=recv.textual, assembled=recv.assembled)


def assemble(*vals: Val) -> Val:
    """A string put together from ``vals`` at render time (not folded).

    Example:
        >>> assemble(DATA, DATA).assembled
        True
    """
    return derive(*vals) | ASSEMBLED


def fold(vals: list[Val], op: Any) -> Val | None:
    """Apply ``op`` to every combination of literal operands (bounded); None if not foldable.

    Example:
        >>> sorted(fold([Val(["__cl", "_"]), Val(["ass__"])], add).lits)
        ['__class__', '_ass__']
    """
    if not all(v.literal for v in vals):
        return None
    combos: list[list[Any]] = [[]]
    for v in vals:
        combos = [[*c, x] for c in combos for x in v.lits]
        if len(combos) > MAX_LITS:
            return None
    out = set()
    for combo in combos:
        try:
            res = op(*combo)
        except (TypeError, ValueError, IndexError, KeyError, AttributeError, OverflowError):
            continue
        if isinstance(res, (str, tuple)) and len(res) > MAX_STR:
            return None
        if isinstance(res, list):
            res = tuple(res)
        out.add(res)
    return Val(out) if out else None


def partial(recv: Val, args: list[Val], op: Any) -> Val | None:
    """``op`` applied to the literal values of ``recv`` (with literal ``args``), keeping what
    ``recv`` may also be (context data, a built string); None when ``args`` are not literal.

    Example:
        >>> v = partial(Val(["__X__"]) | DATA, [], str.lower)
        >>> sorted(v.lits), v.data
        (['__x__'], True)
    """
    if not all(a.literal for a in args):
        return None
    lit_part = Val()
    if recv.lits:
        folded = fold([Val(recv.lits), *args], op)
        lit_part = folded if folded is not None else BUILT
    return lit_part | Val(
        data=recv.data, built=recv.built, text=recv.text, assembled=recv.assembled
    )


def jstr(x: Any) -> str:
    """``x`` as Jinja's ``~`` renders it (a folded list of characters joined back).

    Example:
        >>> jstr(("_", "_")), jstr(3)
        ('__', '3')
    """
    return "".join(x) if isinstance(x, tuple) and all(isinstance(i, str) for i in x) else str(x)


def mul(a: Any, b: Any) -> Any:
    """``a * b`` for literals, repetition bounded.

    Example:
        >>> mul("_", 2)
        '__'
    """
    if isinstance(a, (str, tuple)) and isinstance(b, int) and 0 <= b <= 256:
        return a * b
    if isinstance(b, (str, tuple)) and isinstance(a, int) and 0 <= a <= 256:
        return b * a
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a * b
    raise TypeError


def add(a: Any, b: Any) -> Any:
    """``a + b`` for string or number literals.

    Example:
        >>> add("__", "class__")
        '__class__'
    """
    if isinstance(a, str) and isinstance(b, str):
        return a + b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a + b
    raise TypeError


def index(c: Any, k: Any) -> Any:
    """``c[k]`` for literals; a 3-tuple key is a folded slice.

    Example:
        >>> index("..__class__..", (2, -2, None))
        '__class__'
    """
    if isinstance(k, tuple) and len(k) == 3:  # a folded slice
        return c[slice(*k)]
    return c[k]


def _replace(s: str, old: str, new: str, count: int = -1) -> str:
    if len(s) * max(len(new), 1) > 1 << 16:
        raise ValueError("too large to fold")
    return s.replace(old, new, count)


# Pure ``str`` methods we can apply to literals (results bounded by the input size).
STR_METHODS: dict[str, Any] = {
    name: getattr(str, name)
    for name in (
        "lower",
        "upper",
        "title",
        "capitalize",
        "swapcase",
        "casefold",
        "strip",
        "lstrip",
        "rstrip",
        "removeprefix",
        "removesuffix",
        "split",
        "rsplit",
        "splitlines",
        "partition",
        "rpartition",
        "startswith",
        "endswith",
        "find",
        "rfind",
        "count",
        "isdigit",
        "isalpha",
        "isalnum",
        "isspace",
        "islower",
        "isupper",
    )
}
STR_METHODS["replace"] = _replace
STR_FILTERS = {
    "lower": lambda s: s.lower(),
    "upper": lambda s: s.upper(),
    "title": lambda s: s.title(),
    "capitalize": lambda s: s.capitalize(),
    "trim": lambda s, chars=None: s.strip(chars),
    "string": jstr,
    "safe": lambda s: s,
    "e": lambda s: s,
    "escape": lambda s: s,
    "reverse": lambda s: s[::-1],
    "first": lambda s: s[0],
    "last": lambda s: s[-1],
    "list": lambda s: tuple(s),
    "join": lambda s, sep="": sep.join(jstr(i) for i in s),
    "replace": _replace,
    "default": lambda s, *_a: s,
    "d": lambda s, *_a: s,
}
# Results computed from the filtered value only (arguments choose, they add no text).
RECEIVER_ONLY_FILTERS = frozenset(
    {
        "tojson",
        "unique",
        "sort",
        "dictsort",
        "items",
        "selectattr",
        "rejectattr",
        "select",
        "reject",
        "groupby",
        "min",
        "max",
        "random",
        "striptags",
        "urlencode",
        "center",
        "forceescape",
        "pprint",
        "xmlattr",
        "batch",
        "slice",
        "from_json",
    }
)
NUMBER_FILTERS = frozenset(
    {"length", "count", "wordcount", "int", "float", "abs", "round", "sum", "filesizeformat"}
)
RECEIVER_ONLY_METHODS = frozenset(
    {
        "split",
        "rsplit",
        "splitlines",
        "partition",
        "rpartition",
        "startswith",
        "endswith",
        "find",
        "rfind",
        "index",
        "count",
        "items",
        "keys",
        "values",
        "isdigit",
        "isalpha",
        "isalnum",
        "isspace",
        "islower",
        "isupper",
        "copy",
    }
)
