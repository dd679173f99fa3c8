"""Functions pickled by value (cloudpickle, dill): when their imports are not a finding.

cloudpickle and dill rebuild a lambda from its code object: the imports that do it
(``_make_function``, ``_builtin_type``, ``_create_code``...) are unsafe by default, since a
code object is arbitrary code. They are not reported when the walk proves the whole file
harmless on that account (fail closed, every condition required):

* the walk finished (no error, no budget degradation) and recorded every call;
* every code object the file builds was recorded in full and is inert under every CPython
  version it could be loaded into (:mod:`modelsec.scanner.bytecode`);
* the function-building calls are used as data: called only through ``REDUCE`` (``BUILD``
  for the state dill gives a function), cloudpickle's ``_builtin_type`` only for
  ``'CodeType'``, and every call whose callable is not a global is such a code
  construction, so no function the file builds is ever called while it loads.

Everything else in the file (what a cell or a default holds, other imports) is judged as
before: a lambda closing over ``os.system`` still reports ``os.system``.

Example:
    >>> from modelsec.scanner.pickle_types import PickleResult
    >>> is_function_builder("dill._dill", "_create_code"), lambdas_proven(PickleResult())
    (True, 'no code object was built')
"""

from __future__ import annotations

from modelsec.scanner.bytecode import code_args, judge_code
from modelsec.scanner.pickle_types import PickleResult

__all__ = ["is_function_builder", "lambdas_proven"]

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


def lambdas_proven(res: PickleResult) -> str | None:
    """None when the file's function-building imports are provably harmless, else why not.

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
    built = sum(1 for site in res.opaque_sites if site is not None) + sum(
        1 for call in res.calls if call.name == "_create_code" and call.opcode == "REDUCE"
    )
    if built != len(res.code_calls):
        return "a code object was built but not recorded"
    for call in res.code_calls:
        why = judge_code(code_args(call.module, call.name, call.args))
        if why is not None:
            return f"code object at offset {call.offset} not provably inert: {why}"
    return None
