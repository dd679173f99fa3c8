"""Values the pickle walker tracks in place of real objects, and its memo.

The walker never builds real objects: a global is a :class:`GlobalRef`, the result of a call
an :class:`Obj`, lists and dicts are bounded :class:`TList`/:class:`TDict`, strings, ints,
floats, bools, ``None`` and small bytes are themselves, and anything else is
:data:`~modelsec.scanner.pickle_types.UNKNOWN`. Unknown values stay unknown through every
operation, so a name built from one is unresolved (fail closed), never guessed.
"""

from __future__ import annotations

from modelsec.scanner.pickle_types import UNKNOWN, GlobalRef

__all__ = [
    "MEMO_KEEP",
    "MISSING",
    "LongBytes",
    "Memo",
    "Obj",
    "TDict",
    "TList",
    "full",
    "is_light",
    "shallow",
]

_U = UNKNOWN
#: Memo lookups that found nothing (distinct from a stored UNKNOWN).
MISSING = object()

_CONTAINER_ITEMS = 64  # items a TList/TDict keeps; more make it lossy
#: Memo values kept (dense memo: the first indexes); further ones read back as UNKNOWN.
MEMO_KEEP = 200_000
_MEMO_VALUES_MAX = MEMO_KEEP
_BITMAP_MAX = 1 << 27  # memo indexes whose existence is tracked in a bitmap (16 MiB)
_BIG_MAX = 100_000  # memo indexes above the bitmap tracked in a set
_LIGHT_STR = 64  # strings kept through a structure-budget shrink


class Obj:
    """The result of a call or instantiation (``cls`` is the callable, ``args`` its arguments).

    ``attrs`` holds the instance attributes set by ``__init__`` (joblib wrappers) and by
    ``BUILD``; ``state`` the last ``BUILD`` state (numpy dtypes); ``exact`` is False once an
    attribute update could not be followed.

    Example:
        >>> Obj(GlobalRef("collections", "OrderedDict"), (), "REDUCE").exact
        True
    """

    __slots__ = ("args", "attrs", "cls", "exact", "kind", "state")

    def __init__(self, cls: object, args: object, kind: str) -> None:
        self.cls = cls
        self.args = args
        self.kind = kind
        self.attrs: dict[str, object] | None = None
        self.state: object = MISSING
        self.exact = True


class LongBytes(bytes):
    """Bytes longer than 256 (up to the walker's 4 KiB read cap), kept for the bytecode judge
    once the file has imported a code constructor (else such bytes are UNKNOWN).

    Everything but :func:`full` treats them as untracked (``shallow`` gives UNKNOWN, they are
    no dict key nor name), as the walker did before it kept them.

    Example:
        >>> shallow(LongBytes(b"x" * 300))
        UNKNOWN
    """

    __slots__ = ()


class TList(list[object]):
    """A list that keeps at most 64 items; ``lossy`` once more were dropped.

    Example:
        >>> lst = TList(list(range(70)))
        >>> len(lst), lst.lossy
        (64, True)
    """

    __slots__ = ("lossy",)

    def __init__(self, items: list[object] | None = None) -> None:
        if items is not None and len(items) > _CONTAINER_ITEMS:
            super().__init__(items[:_CONTAINER_ITEMS])
            self.lossy = True
        else:
            super().__init__(items or ())
            self.lossy = False

    def add(self, items: list[object]) -> None:
        room = _CONTAINER_ITEMS - len(self)
        if len(items) > room:
            self.lossy = True
            items = items[: max(room, 0)]
        self.extend(items)


class TDict(dict[object, object]):
    """A dict keyed by plain values (str/int/bytes/bool/None/float), at most 64 items.

    ``lossy`` once an item was dropped (too many, or a key the walker cannot compare as the
    unpickler would), so lookups in it are not exact.

    Example:
        >>> d = TDict()
        >>> d.put("shape", (2,)); d.put((1,), 0)
        >>> dict(d), d.lossy
        ({'shape': (2,)}, True)
    """

    __slots__ = ("lossy",)

    def __init__(self) -> None:
        super().__init__()
        self.lossy = False

    def put(self, key: object, value: object) -> None:
        if key.__class__ in _PLAIN_KEYS and (len(self) < _CONTAINER_ITEMS or key in self):
            self[key] = value
        else:
            self.lossy = True


_PLAIN_KEYS = frozenset([str, int, bool, bytes, float, type(None)])


def is_light(value: object) -> bool:
    """Values kept through a budget shrink: scalars, short strings, globals.

    Example:
        >>> is_light("os"), is_light(("os",))
        (True, False)
    """
    cls = value.__class__
    if cls is str:
        return len(value) <= _LIGHT_STR  # type: ignore[arg-type]
    return cls in (int, bool, float, type(None), GlobalRef) or value is _U


class Memo:
    """The unpickler's memo: which indexes exist (exactly, within bounds) and their values.

    ``count`` is ``len(memo)`` (the index MEMOIZE writes); ``exact`` turns False when the
    existence of indexes is no longer tracked (then every GET succeeds with UNKNOWN and
    MEMOIZE's index is unknown), so the walker errs towards continuing, never towards
    stopping where an unpickler would go on.

    Example:
        >>> memo = Memo()
        >>> memo.memoize("os"); memo.put(7, "system")
        >>> memo.get(0), memo.get(7), memo.get(3) is MISSING, memo.count
        ('os', 'system', True, 2)
    """

    __slots__ = ("big", "bits", "count", "dense", "exact", "values")

    def __init__(self) -> None:
        self.values: dict[int, object] = {}
        self.count = 0
        #: Only MEMOIZE so far: indexes are exactly 0..count-1 (no bitmap needed).
        self.dense = True
        self.bits = bytearray()
        self.big: set[int] = set()
        self.exact = True

    def put(self, idx: int, value: object) -> None:
        """``memo[idx] = value`` (``idx >= 0``)."""
        if self.dense:
            if idx == self.count:
                self.count += 1
                if idx < _MEMO_VALUES_MAX:
                    self.values[idx] = value
                return
            self._undense()
        if not self.exact:
            self.values.pop(idx, None)
            return
        if idx < _BITMAP_MAX:
            byte = idx >> 3
            bits = self.bits
            if byte >= len(bits):
                bits.extend(bytes(max(byte + 1 - len(bits), len(bits))))
            bit = 1 << (idx & 7)
            if not bits[byte] & bit:
                bits[byte] |= bit
                self.count += 1
        elif idx not in self.big:
            if len(self.big) >= _BIG_MAX:
                # Existence no longer tracked: GETs become UNKNOWN, MEMOIZE's index unknown.
                self.exact = False
                self.big = set()
                self.values.pop(idx, None)
                return
            self.big.add(idx)
            self.count += 1
        if len(self.values) < _MEMO_VALUES_MAX or idx in self.values:
            self.values[idx] = value
        else:
            self.values.pop(idx, None)

    def memoize(self, value: object) -> None:
        """``memo[len(memo)] = value``."""
        if self.exact:
            self.put(self.count, value)
        else:
            # len(memo) unknown: this may overwrite any index, so no kept value is certain.
            self.values.clear()

    def get(self, idx: int) -> object:
        """The value at ``idx``, UNKNOWN when it exists but was not kept, MISSING if absent."""
        v = self.values.get(idx, MISSING)
        if v is not MISSING:
            return v
        if not self.exact:
            return _U
        if self.dense:
            return _U if 0 <= idx < self.count else MISSING
        if 0 <= idx < _BITMAP_MAX:
            byte = idx >> 3
            if byte < len(self.bits) and self.bits[byte] & (1 << (idx & 7)):
                return _U
            return MISSING
        return _U if idx in self.big else MISSING

    def _undense(self) -> None:
        self.dense = False
        full, rest = divmod(self.count, 8)
        self.bits.extend(b"\xff" * full + (bytes([(1 << rest) - 1]) if rest else b""))

    def clone_light(self) -> Memo:
        """A copy with the same indexes, keeping only light values (for a shadow walk)."""
        out = Memo()
        out.values = {k: v for k, v in self.values.items() if is_light(v)}
        out.count, out.dense, out.exact = self.count, self.dense, self.exact
        out.bits = bytearray(self.bits)
        out.big = set(self.big)
        return out

    def shrink(self) -> None:
        """Forget every value that is not light (budget exhausted); existence is kept."""
        self.values = {k: v for k, v in self.values.items() if is_light(v)}


def shallow(value: object, depth: int = 0) -> object:
    """A bounded copy of a tracked value for :class:`~modelsec.scanner.pickle_types.PickleCall`.

    Example:
        >>> shallow(("id", 1, GlobalRef("os", "system")))
        ('id', 1, GlobalRef('os', 'system'))
        >>> shallow("x" * 300)
        UNKNOWN
    """
    cls = value.__class__
    if cls is str:
        return value if len(value) <= 256 else _U  # type: ignore[arg-type]
    if cls is bytes:
        return value if len(value) <= 64 else _U  # type: ignore[arg-type]
    if cls in (int, bool, float, type(None), GlobalRef) or value is _U:
        return value
    if depth >= 3:
        return _U
    if cls is tuple:
        items = value[:16]  # type: ignore[index]
        out = tuple(shallow(x, depth + 1) for x in items)
        return (*out, _U) if len(value) > 16 else out  # type: ignore[arg-type]
    if cls is TList:
        lst = [shallow(x, depth + 1) for x in value[:16]]  # type: ignore[index]
        if len(value) > 16 or value.lossy:  # type: ignore[arg-type, attr-defined]
            lst.append(_U)
        return lst
    if cls is TDict:
        d: dict[object, object] = {}
        for k, v in value.items():  # type: ignore[attr-defined]
            if len(d) >= 16:
                d[_U] = _U
                break
            d[k] = shallow(v, depth + 1)
        if value.lossy:  # type: ignore[attr-defined]
            d[_U] = _U
        return d
    return _U


def full(value: object, depth: int = 0) -> object:
    """A complete copy of a tracked value, for code object constructions.

    Unlike :func:`shallow`, bytes and tuples are not cut (tuples up to 4,096 items, 8
    levels); whatever is not plain data is UNKNOWN.

    Example:
        >>> full((b"x" * 100, tuple(range(20))))[1][-1]
        19
    """
    cls = value.__class__
    if cls in (str, int, bool, float, type(None), bytes, GlobalRef) or value is _U:
        return value
    if cls is LongBytes:
        return bytes(value)  # type: ignore[call-overload]
    if cls is tuple and depth < 8 and len(value) <= 4096:  # type: ignore[arg-type]
        return tuple(full(x, depth + 1) for x in value)  # type: ignore[attr-defined]
    return _U
