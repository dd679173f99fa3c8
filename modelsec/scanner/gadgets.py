"""Gadgets judged by what they reach: ``functools.partial``, ``operator.attrgetter``, ...

A gadget is harmless or not depending on its arguments: ``partial(collections.OrderedDict)``
builds data, ``partial(os.system, "id")`` runs a process. Without the arguments (an old walker,
a gadget passed around as a value) the name alone stays unsafe, as in the deny list. With the
walker's call sites (``PickleResult.calls``: ``module``, ``name``, ``args``, ``offset``,
``opcode``; ``args`` a shallow tuple of literals, references to globals with ``.module`` and
``.name``, nested containers and an unknown-value sentinel) each call is judged:

* ``partial(f, ...)``/``partialmethod``: as bad as ``f`` (``f`` must be an imported global);
* ``methodcaller(name, ...)``, ``attrgetter(name, ...)``, ``getattr(obj, name)``: by the
  attribute names they reach (private, special, or the name of a denied callable is unsafe);
* ``itemgetter(key, ...)``: special names are unsafe;
* ``copyreg._reconstructor(cls, base, state)``: ``cls`` and ``base`` must be imported globals
  (they are judged as imports);
* any value the walker could not compute where a name or callable is expected: unsafe.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol, cast

from modelsec.scanner.callables import (
    SUSPICIOUS,
    UNSAFE,
    canonical_names,
    classify_callable,
    dangerous_attribute,
)

__all__ = [
    "RECONSTRUCT_ONLY",
    "CallSite",
    "gadget_kind",
    "globals_inside",
    "judge_call",
    "judge_gadget_import",
    "reconstructed_only",
]

_KINDS = {
    "functools.partial": "partial",
    "functools.partialmethod": "partial",
    "operator.methodcaller": "methodcaller",
    "operator.attrgetter": "attrgetter",
    "operator.itemgetter": "itemgetter",
    "builtins.getattr": "getattr",
    "copyreg._reconstructor": "reconstructor",
}

_LITERALS = (str, bytes, int, float, bool, type(None))
_CONTAINERS = (tuple, list, set, frozenset)

Verdict = tuple[int, str]


class GlobalRef(Protocol):
    """A reference to a global in call arguments (duck-typed walker value)."""

    module: str
    name: str


class CallSite(Protocol):
    """What report_pickle needs of one call the walker saw (duck-typed ``PickleCall``)."""

    module: str
    name: str
    args: object
    offset: int
    opcode: str


def gadget_kind(module: str, name: str) -> str | None:
    """The gadget family of an import, or ``None`` when it is not a judged gadget.

    Example:
        >>> gadget_kind("_functools", "partial"), gadget_kind("os", "system")
        ('partial', None)
    """
    if module != module.strip() or name != name.strip():
        return None  # odd spellings are judged by name only (fail closed)
    for dotted in canonical_names(module, name):
        kind = _KINDS.get(dotted)
        if kind is not None:
            return kind
    return None


def _is_global(value: object) -> bool:
    return (
        not isinstance(value, _LITERALS + _CONTAINERS + (dict,))
        and isinstance(getattr(value, "module", None), str)
        and isinstance(getattr(value, "name", None), str)
    )


def _unknown_inside(value: object, depth: int = 0) -> bool:
    """Whether ``value`` holds something that is neither literal, container nor global."""
    if depth > 20:
        return True
    if isinstance(value, _LITERALS) or _is_global(value):
        return False
    if isinstance(value, _CONTAINERS):
        return any(_unknown_inside(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return any(
            _unknown_inside(k, depth + 1) or _unknown_inside(v, depth + 1) for k, v in value.items()
        )
    return True


def globals_inside(value: object, depth: int = 0) -> Iterable[GlobalRef]:
    """The globals a recorded call's arguments hold, through tuples, lists, sets and dicts.

    Example:
        >>> from modelsec.scanner.pickle_types import GlobalRef as Ref
        >>> [r.name for r in globals_inside((1, [Ref("os", "system")], {"k": Ref("a", "b")}))]
        ['system', 'b']
    """
    if depth > 20:
        return
    if _is_global(value):
        yield cast(GlobalRef, value)
    elif isinstance(value, _CONTAINERS):
        for v in value:
            yield from globals_inside(v, depth + 1)
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from globals_inside(k, depth + 1)
            yield from globals_inside(v, depth + 1)


def _attr_names(kind: str, value: object) -> Verdict | None:
    if not isinstance(value, str):
        return UNSAFE, f"{kind} with a computed or non-text attribute name"
    for part in value.split(".") if kind == "attrgetter" else [value]:
        why = dangerous_attribute(part)
        if why is not None:
            return UNSAFE, f"{kind} reaches attribute {part!r} ({why})"
    return None


def judge_call(kind: str, args: object) -> Verdict | None:
    """Verdict for one call of gadget ``kind`` with walker ``args``; ``None`` when harmless.

    Example:
        >>> class G:
        ...     def __init__(self, module, name):
        ...         self.module, self.name = module, name
        >>> judge_call("partial", (G("collections", "OrderedDict"),)) is None
        True
        >>> judge_call("partial", (G("os", "system"), "id"))[0]
        100
        >>> judge_call("methodcaller", ("system", "id"))[0], judge_call("getattr", (1, "real"))
        (100, None)
    """
    if not isinstance(args, tuple):
        return UNSAFE, f"{kind} called with arguments that cannot be read statically"
    if kind == "partial":
        if not args or not _is_global(args[0]):
            return UNSAFE, "partial wraps a computed callable"
        f = args[0]
        inner = classify_callable(f.module, f.name)
        if inner is None:
            return None
        shown = f"{f.module}.{f.name}"
        return inner[0], f"partial wraps {shown} ({inner[1]})"
    if kind == "reconstructor":
        if len(args) < 2 or not (_is_global(args[0]) and _is_global(args[1])):
            return UNSAFE, "copyreg._reconstructor with a computed class"
        return None  # both classes are imports, judged as such
    if kind in ("methodcaller", "attrgetter"):
        if not args:
            return UNSAFE, f"{kind} without an attribute name"
        names = args[:1] if kind == "methodcaller" else args
        for value in names:
            bad = _attr_names(kind, value)
            if bad is not None:
                return bad
        if _unknown_inside(args):
            return UNSAFE, f"{kind} with computed arguments"
        return None
    if kind == "getattr":
        if len(args) < 2:
            return UNSAFE, "getattr with a computed attribute name"
        return _attr_names("getattr", args[1])
    if kind == "itemgetter":
        if _unknown_inside(args):
            return UNSAFE, "itemgetter with computed keys"
        for key in args:
            if isinstance(key, str) and key.startswith("__"):
                return UNSAFE, f"itemgetter reaches special key {key!r}"
        return None
    return SUSPICIOUS, f"unknown gadget kind {kind}"


def judge_gadget_import(module: str, name: str, calls: Iterable[CallSite]) -> Verdict | None:
    """Verdict for the import ``module.name`` of a gadget, from every call site in ``calls``.

    Unsafe when the gadget is also passed around as a value or never called where the walker
    could see it (its arguments are then unknown); otherwise the worst verdict of its calls.

    Example:
        >>> class C:
        ...     def __init__(self, module, name, args):
        ...         self.module, self.name, self.args = module, name, args
        ...         self.offset, self.opcode = 0, "REDUCE"
        >>> judge_gadget_import("operator", "itemgetter", [C("operator", "itemgetter", (0,))])
        >>> judge_gadget_import("operator", "itemgetter", [])[0]
        100
    """
    kind = gadget_kind(module, name)
    if kind is None:
        return classify_callable(module, name)
    worst: Verdict | None = None
    seen = 0
    for call in calls:
        for ref in globals_inside(getattr(call, "args", ())):
            if ref.module == module and ref.name == name:
                return UNSAFE, "gadget passed as a value (its calls cannot be judged)"
        if getattr(call, "module", None) != module or getattr(call, "name", None) != name:
            continue
        seen += 1
        args = getattr(call, "args", None)
        if getattr(call, "opcode", None) == "BUILD":
            # BUILD is ``__setstate__(state)``: a partial pickled by protocol 2+ is rebuilt as
            # ``partial(f)`` then given ``(f, args, kwds, dict)``, and ``f`` is what it calls.
            if kind != "partial":
                verdict: Verdict | None = (UNSAFE, f"{kind} given a state (BUILD)")
            elif isinstance(args, tuple) and args and isinstance(args[0], tuple) and args[0]:
                verdict = judge_call(kind, (args[0][0],))
            else:
                verdict = UNSAFE, "partial given a state that cannot be read statically"
        else:
            verdict = judge_call(kind, args)
        if verdict is not None and (worst is None or verdict[0] < worst[0]):
            worst = (verdict[0], f"{verdict[1]}; call at offset {getattr(call, 'offset', '?')}")
    if seen == 0:
        if kind == "reconstructor":
            return classify_callable(module, name)
        return UNSAFE, "gadget imported but never called where its arguments can be read"
    return worst


#: Classes reviewed to come back by default object reconstruction alone: no ``__new__``,
#: ``__setstate__``, ``__reduce__``/``__reduce_ex__`` or ``__setattr__`` of their own anywhere in
#: their MRO (checked against the releases the real-world corpus pins), so ``NEWOBJ``
#: (``object.__new__``) and ``BUILD`` (a ``__dict__`` update) run none of their code. *Calling*
#: them (REDUCE, INST, OBJ) runs ``__init__``, which reaches sinks for some (gensim's
#: ``AuthorTopicModel`` removes a file, ``EnsembleLda`` imports by name, ``PartialState`` sets
#: up distributed state): those uses stay judged by name.
RECONSTRUCT_ONLY = frozenset(
    {
        "transformers.training_args.TrainingArguments",
        "transformers.trainer_pt_utils.AcceleratorConfig",
        "accelerate.state.PartialState",
        "gensim.models.atmodel.AuthorTopicModel",
        "gensim.models.ensemblelda.EnsembleLda",
        "gensim.models.ensemblelda.CBDBSCAN",
        "gensim.models.ensemblelda.Topic",
        "gensim.models.ensemblelda.Cluster",
        "gensim.models.poincare.NegativesBuffer",
    }
)

# ``cls.__new__`` of the class given as first argument, nothing else of it.
_NEW_ONLY = frozenset({"copyreg.__newobj__", "copyreg.__newobj_ex__", "copyreg._reconstructor"})

#: ndarray subclasses whose own ``__new__`` reaches a sink (``numpy.memmap`` opens and may
#: create or truncate a file) but which come back through numpy's ``_reconstruct(subtype,
#: shape, dtype)``: that is ``ndarray.__new__`` (C), and memmap's ``__array_finalize__`` then
#: leaves it detached from any file. Only that position is data; NEWOBJ or a call is not.
_ARRAY_SUBTYPES = frozenset(
    {"numpy.memmap", "numpy._core.memmap.memmap", "numpy.core.memmap.memmap"}
)
_ARRAY_ALLOCATORS = frozenset(
    {"numpy._core.multiarray._reconstruct", "numpy.core.multiarray._reconstruct"}
)


def reconstructed_only(module: str, name: str, calls: Iterable[CallSite]) -> bool:
    """Whether a :data:`RECONSTRUCT_ONLY` class is only ever allocated and given a state.

    True when every call site of the class is ``NEWOBJ``/``NEWOBJ_EX``/``BUILD`` and it appears
    in other calls' arguments only as the class ``copyreg.__newobj__`` and friends allocate.
    Anything else (a REDUCE of it, the class handed to another function, which could return it
    to be called where the walker cannot see) keeps the name-based verdict.

    Example:
        >>> class C:
        ...     def __init__(self, module, name, args, opcode):
        ...         self.module, self.name, self.args, self.opcode = module, name, args, opcode
        ...         self.offset = 0
        >>> m, n = "transformers.training_args", "TrainingArguments"
        >>> reconstructed_only(m, n, [C(m, n, (), "NEWOBJ"), C(m, n, ({"lr": 1},), "BUILD")])
        True
        >>> reconstructed_only(m, n, [C(m, n, ("out",), "REDUCE")])
        False
    """
    names = canonical_names(module, name)
    own_ops: tuple[str, ...]
    if names & RECONSTRUCT_ONLY:
        own_ops, allocators = ("NEWOBJ", "NEWOBJ_EX", "BUILD"), _NEW_ONLY
    elif names & _ARRAY_SUBTYPES:
        own_ops, allocators = (), _ARRAY_ALLOCATORS
    else:
        return False
    used = False
    for call in calls:
        args = getattr(call, "args", ())
        if getattr(call, "module", None) == module and getattr(call, "name", None) == name:
            if getattr(call, "opcode", None) not in own_ops:
                return False
            used = True
        refs = [r for r in globals_inside(args) if r.module == module and r.name == name]
        if not refs:
            continue
        callee = canonical_names(str(getattr(call, "module", "")), str(getattr(call, "name", "")))
        first = args[0] if isinstance(args, tuple) and args else None
        if len(refs) > 1 or not (callee & allocators) or first is not refs[0]:
            return False
        used = True
    return used
