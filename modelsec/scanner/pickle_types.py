"""Result types of the pickle walker: imports, calls, and the values it tracks.

Kept apart from the walker so that classification code can import them without the walker.
"""

from __future__ import annotations

__all__ = ["UNKNOWN", "GlobalRef", "PickleCall", "PickleImport", "PickleResult"]


class _Unknown:
    """The one value the walker does not track (a big container, a computed result...).

    Anything built from it stays unknown: a name that is unknown makes its import unresolved,
    which callers treat as unsafe (fail closed).
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return "UNKNOWN"

    def __reduce__(self) -> str:
        return "UNKNOWN"


#: Marker for values the walker does not track (see :class:`PickleCall`).
UNKNOWN = _Unknown()


class GlobalRef:
    """A global the pickle pushes (``find_class(module, name)``), as a value in call arguments.

    Example:
        >>> GlobalRef("os", "system")
        GlobalRef('os', 'system')
    """

    __slots__ = ("module", "name")

    def __init__(self, module: str, name: str) -> None:
        self.module = module
        self.name = name

    def __repr__(self) -> str:
        return f"GlobalRef({self.module!r}, {self.name!r})"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, GlobalRef) and other.module == self.module and other.name == self.name
        )

    def __hash__(self) -> int:
        return hash((self.module, self.name))


class PickleImport:
    """One callable or class a pickle imports (``find_class(module, name)``).

    Example:
        >>> PickleImport("os", "system", 2, "GLOBAL")
        PickleImport('os', 'system', offset=2, opcode='GLOBAL')
    """

    __slots__ = ("module", "name", "offset", "opcode")

    def __init__(self, module: str, name: str, offset: int, opcode: str) -> None:
        self.module = module
        self.name = name
        self.offset = offset
        self.opcode = opcode

    def __repr__(self) -> str:
        return (
            f"PickleImport({self.module!r}, {self.name!r}, offset={self.offset}, "
            f"opcode={self.opcode!r})"
        )


class PickleCall:
    """A call the unpickler would make with a resolved global as the callable.

    ``opcode`` is ``REDUCE`` (``f(*args)``), ``NEWOBJ``/``NEWOBJ_EX`` (``cls.__new__(cls,
    *args)``; for NEWOBJ_EX ``args`` is ``(args, kwargs)``), ``OBJ``/``INST``
    (``cls(*args)``) or ``BUILD`` (``obj.__setstate__(state)`` when the class defines it:
    ``module``/``name`` name the class of ``obj`` and ``args`` is ``(state,)``).

    ``args`` holds shallow values: ``str``, ``int``, ``float``, ``bool``, ``None``, small
    ``bytes``, :class:`GlobalRef`, tuples/lists/dicts of those (at most 16 items, 3 levels),
    and :data:`UNKNOWN` for everything else (big or untracked values, results of calls).
    Long strings are cut to 256 characters and bytes to 64; a cut value is ``UNKNOWN`` when
    its exact content could matter (a cut container ends with ``UNKNOWN``).

    Example:
        >>> PickleCall("os", "system", ("id",), 12, "REDUCE")
        PickleCall('os', 'system', ('id',), offset=12, opcode='REDUCE')
    """

    __slots__ = ("args", "module", "name", "offset", "opcode")

    def __init__(
        self, module: str, name: str, args: tuple[object, ...], offset: int, opcode: str
    ) -> None:
        self.module = module
        self.name = name
        self.args = args
        self.offset = offset
        self.opcode = opcode

    def __repr__(self) -> str:
        return (
            f"PickleCall({self.module!r}, {self.name!r}, {self.args!r}, offset={self.offset}, "
            f"opcode={self.opcode!r})"
        )


class PickleResult:
    """What :func:`~modelsec.scanner.pickle_scan.walk_pickle` saw.

    * ``imports``: each distinct ``(module, name)`` passed to ``find_class``, first offset;
    * ``unresolved``: ``(offset, opcode, why)`` for imports whose name the walker cannot know
      (computed or untracked names, extension codes, unsized joblib arrays...): unsafe;
    * ``calls``: :class:`PickleCall` made with a resolved global (at most 10,000);
    * ``error``: set when the first pickle is malformed or truncated before its ``STOP``, or
      when the walk could not continue in step with the unpicklers (everything imported before
      that point is still in ``imports``); ``tail`` describes bytes after the last complete
      pickle that are not a pickle.

    Example:
        >>> PickleResult().looks_like_pickle
        False
    """

    def __init__(self) -> None:
        self.imports: list[PickleImport] = []
        self.unresolved: list[tuple[int, str, str]] = []
        self.calls: list[PickleCall] = []
        #: Calls whose callable is not a resolved global (a value some other call returned):
        #: what they call is unknown to the walker. Also counted past the ``calls`` cap.
        self.opaque_calls = 0
        #: Per opaque call (at most 1,000): ``(module, name, args, opcode)`` when its callable
        #: is the result of calling the global ``module.name`` with ``args``, else None.
        self.opaque_sites: list[tuple[str, str, object, str] | None] = []
        #: Code object constructions (cloudpickle's ``_builtin_type('CodeType')`` result,
        #: dill's ``_create_code``) with their arguments in full (:func:`pickle_values.full`).
        self.code_calls: list[PickleCall] = []
        #: Imported objects the pickle writes into in place: ``(module, name, opcode,
        #: offset)`` for a SETITEM(S), APPEND(S), ADDITEMS or BUILD whose target is a global
        #: (at most 1,000). The pickler never emits these; a loader's own dicts, lists and
        #: modules altered while it loads are a finding.
        self.mutations: list[tuple[str, str, str, int]] = []
        self.pickles = 0
        #: Bytes walked (opcodes and their arguments, skipped payloads included).
        self.ops = 0
        self.protocol = 0
        self.error: str | None = None
        self.tail: str | None = None
        self.start = 0
        self.end = 0
        #: The value of the first pickle when it is an ``int`` (torch's legacy magic number).
        self.first_value: object = None
        #: Values of the complete top-level pickles when they are ``int`` (else ``None``).
        self.int_values: list[int | None] = []
        self.persistent_ids = 0
        #: Bytes read from the source but not consumed when the walk stopped on junk.
        self.leftover = b""
        #: Times the structure budget ran out and tracked values became UNKNOWN.
        self.degraded = 0

    @property
    def looks_like_pickle(self) -> bool:
        """Something parsed and either a full pickle or an import was seen."""
        return self.ops > 0 and (self.pickles > 0 or bool(self.imports) or bool(self.unresolved))
