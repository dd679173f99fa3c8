"""Functions pickled by value (cloudpickle, dill): when their imports are not a finding.

cloudpickle and dill rebuild a lambda from its code object: the imports that do it
(``_make_function``, ``_builtin_type``, ``_create_code``...) are unsafe by default, since a
code object is arbitrary code. They are not reported when the walk proves the whole file
harmless on that account (fail closed, every condition required):

* the walk finished (no error, no budget degradation) and recorded every call;
* every code object the file builds was recorded in full and is inert under every target
  interpreter that could load it (:mod:`modelsec.scanner.bytecode`; the targets are the
  scan's ``target_python``, by default the interpreter running the scan);
* the function-building calls are used as data: called only through ``REDUCE`` (``BUILD``
  for the state dill gives a function), cloudpickle's ``_builtin_type`` only for
  ``'CodeType'``, and every call whose callable is not a global is such a code
  construction, so no function the file builds is ever called while it loads.

Two dill idioms around proven functions pass too, each only used as dill uses it: its
reference to the loading program's ``__main__.__dict__`` as the functions' globals
(:func:`main_only_as_globals`; code proven inert names no global), and its closure-cell
setter ``getattr(dill._dill, '_setattr', setattr)`` on cells it made (:func:`cell_setter_only`).

Everything else in the file (what a cell or a default holds, other imports) is judged as
before: a lambda closing over ``os.system`` still reports ``os.system``.

Example:
    >>> from modelsec.scanner.pickle_types import GlobalRef, PickleResult
    >>> is_function_builder("dill._dill", "_create_code"), lambdas_proven(PickleResult())
    (True, 'no code object was built')
"""

from __future__ import annotations

from modelsec.scanner.bytecode import code_args, judge_code
from modelsec.scanner.gadgets import globals_inside
from modelsec.scanner.interpreters import ANY_PYTHON, describe_targets
from modelsec.scanner.pickle_stream import DILL_CELL_FILL, DILL_SETATTR
from modelsec.scanner.pickle_types import GlobalRef, PickleResult

__all__ = [
    "DILL_CELL_SETTER",
    "DILL_MAIN",
    "DILL_MAIN_REASON",
    "cell_setter_only",
    "is_function_builder",
    "lambdas_proven",
    "main_only_as_globals",
]

#: The imports of dill's closure-cell setter ``getattr(dill._dill, '_setattr', setattr)``.
DILL_CELL_SETTER = frozenset({("builtins", "getattr"), ("dill", "_dill"), ("builtins", "setattr")})

#: Why dill's ``__main__`` reference is reported when :func:`main_only_as_globals` is False.
DILL_MAIN_REASON = (
    "the loading program's own __main__ namespace (dill's reference), used beyond the globals "
    "of proven-inert functions that read none of it"
)

#: How dill refers to the loading program's ``__main__.__dict__`` (the globals of a function
#: defined in a script or notebook): a GLOBAL its own unpickler resolves.
DILL_MAIN = ("__builtin__", "__main__")

_CLOUDPICKLE = frozenset(
    [
        "cloudpickle.cloudpickle",
        "cloudpickle.cloudpickle_fast",
        "joblib.externals.cloudpickle.cloudpickle",
        "joblib.externals.cloudpickle.cloudpickle_fast",
        "srsly.cloudpickle.cloudpickle",
    ]
)
_CLOUDPICKLE_NAMES = frozenset(
    ["_make_function", "_builtin_type", "_function_setstate", "_make_cell", "_make_empty_cell"]
)
_DILL_NAMES = frozenset(["_create_function", "_create_code", "_create_cell"])
_CALLS_MAX = 10_000  # the walker's cap on recorded calls
_SITES_MAX = 1_000  # the walker's cap on opaque call sites


def is_function_builder(module: str, name: str) -> bool:
    """``module.name`` rebuilds a function, its code or its cells (cloudpickle, dill).

    Example:
        >>> is_function_builder("cloudpickle.cloudpickle", "subimport")
        False
    """
    if module in _CLOUDPICKLE:
        return name in _CLOUDPICKLE_NAMES
    return module == "dill._dill" and name in _DILL_NAMES


def lambdas_proven(res: PickleResult, targets: tuple[str, ...] | None = ANY_PYTHON) -> str | None:
    """None when the file's function-building imports are provably harmless, else why not.

    ``targets``: the interpreters that will load the file (``None``: the one running the scan;
    see :mod:`modelsec.scanner.interpreters`); code objects are judged under each of them.

    Example:
        >>> res = PickleResult(); res.error = "truncated"
        >>> lambdas_proven(res)
        'the walk did not finish'
    """
    if res.error is not None or res.degraded or res.unresolved:
        return "the walk did not finish"
    if len(res.calls) >= _CALLS_MAX or len(res.opaque_sites) >= _SITES_MAX:
        return "too many calls to follow"
    if len(res.opaque_sites) != res.opaque_calls:
        return "a call's callable is not known"
    for site in res.opaque_sites:
        if site is None:
            return "the file calls a value it computed"
        if site == DILL_CELL_FILL:
            continue  # dill's setter on a closure cell it made (pickle_stream checks the call)
        module, name, args, opname = site
        if not (module in _CLOUDPICKLE and name == "_builtin_type"):
            return f"the file calls the result of {module}.{name}"
        if args != ("CodeType",) or opname != "REDUCE":
            return "the file calls a builtin type other than CodeType"
    for call in res.calls:
        if not is_function_builder(call.module, call.name):
            continue
        if call.opcode not in ("REDUCE", "BUILD"):
            return f"{call.module}.{call.name} is instantiated ({call.opcode})"
        if call.name == "_builtin_type" and call.args != ("CodeType",):
            return "cloudpickle fetches a builtin type other than CodeType"
    if not res.code_calls:
        return "no code object was built"
    built = sum(1 for site in res.opaque_sites if site not in (None, DILL_CELL_FILL)) + sum(
        1 for call in res.calls if call.name == "_create_code" and call.opcode == "REDUCE"
    )
    if built != len(res.code_calls):
        return "a code object was built but not recorded"
    for call in res.code_calls:
        why = judge_code(code_args(call.module, call.name, call.args), targets)
        if why is not None:
            return (
                f"code object at offset {call.offset} not provably inert: {why} "
                f"(judged for {describe_targets(targets)}; target_python names the "
                "interpreter that loads the model)"
            )
    return None


def main_only_as_globals(res: PickleResult) -> bool:
    """dill's reference to the loader's ``__main__.__dict__`` serves only as function globals.

    True when every recorded call that holds it is ``dill._dill._create_function`` receiving
    it as its ``globals`` (and nothing else of the call is it), it is used so at least once,
    never called, never written into (no SETITEM, BUILD... on it), and no code object of the
    file names a global. Those functions then neither read nor change the namespace of the
    program that loads them (a global read there could hand its secrets to whoever sees the
    function's result); what would change it (a write, a call of the dict's methods) is a
    finding of its own.

    Example:
        >>> main_only_as_globals(PickleResult())
        False
    """
    main = GlobalRef(*DILL_MAIN)
    if any((m, n) == DILL_MAIN for m, n, _op, _at in getattr(res, "mutations", ())):
        return False
    for built in res.code_calls:
        code = code_args(built.module, built.name, built.args)
        if isinstance(code, str) or code.names != ():
            return False
    used = False
    for call in res.calls:
        if (call.module, call.name) == DILL_MAIN:
            return False
        refs = sum(1 for ref in globals_inside(call.args) if ref == main)
        if not refs:
            continue
        if not (
            call.module == "dill._dill"
            and call.name == "_create_function"
            and call.opcode == "REDUCE"
            and refs == 1
            and len(call.args) > 1
            and call.args[1] == main
        ):
            return False
        used = True
    return used


def cell_setter_only(res: PickleResult) -> bool:
    """dill's closure-cell setter is all that ``getattr``, ``dill._dill`` and ``setattr`` serve.

    True when every call of ``getattr`` is ``getattr(dill._dill, '_setattr', setattr)``, the
    module and ``setattr`` appear in no other call and are never called or written into, and
    (checked by :func:`lambdas_proven`) every call of the setter it returns is on a fresh
    ``_create_cell`` cell's ``cell_contents``: it fills the closures of functions proven inert.

    Example:
        >>> cell_setter_only(PickleResult())
        False
    """
    setter_args = DILL_SETATTR[2]
    if any((m, n) in DILL_CELL_SETTER for m, n, _op, _at in getattr(res, "mutations", ())):
        return False
    used = False
    for call in res.calls:
        if (call.module, call.name) == ("builtins", "getattr"):
            if call.args != setter_args or call.opcode != "REDUCE":
                return False
            used = True
            continue
        if (call.module, call.name) in DILL_CELL_SETTER:
            return False  # the module or setattr itself called
        if any((r.module, r.name) in DILL_CELL_SETTER for r in globals_inside(call.args)):
            return False
    return used
