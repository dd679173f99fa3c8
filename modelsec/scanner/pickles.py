"""Turning a pickle walk into findings, with the threat family of the container."""

from __future__ import annotations

from modelsec.scanner.callables import UNSAFE, classify_callable
from modelsec.scanner.gadgets import gadget_kind, judge_gadget_import, reconstructed_only
from modelsec.scanner.lambdas import (
    DILL_CELL_SETTER,
    DILL_MAIN,
    DILL_MAIN_REASON,
    cell_setter_only,
    is_function_builder,
    lambdas_proven,
    main_only_as_globals,
)
from modelsec.scanner.pickle_scan import PickleResult, scan_tail, walk_pickle
from modelsec.scanner.report import FileContext, printable
from modelsec.scanner.source import ByteSource

__all__ = ["Family", "report_pickle", "scan_pickle"]


class Family:
    """Threat-code families of pickle containers (``PAIT-<family>-100/-101``).

    Example:
        >>> Family.code(Family.PYTORCH, 100)
        'PAIT-PYTCH-100'
    """

    PICKLE = "PKL"
    PYTORCH = "PYTCH"
    JOBLIB = "JOBLIB"
    KERAS = "KERAS"

    @staticmethod
    def code(family: str, level: int) -> str:
        """The threat code ``PAIT-<family>-<level>``."""
        return f"PAIT-{family}-{level}"


_KIND_WORD = {
    "PKL": "pickle",
    "PYTCH": "PyTorch pickle",
    "JOBLIB": "joblib pickle",
    "KERAS": "Keras pickle",
}


def report_pickle(ctx: FileContext, res: PickleResult, family: str, location: str) -> None:
    """Add one issue per unsafe/suspicious import (and per unresolved one) of ``res``.

    ``family`` is upgraded to JOBLIB when joblib's own classes show up in a plain pickle.
    Gadgets (``functools.partial``, ``operator.attrgetter``, ``getattr``, ...) are judged by
    their call sites when the walker recorded them (``res.calls``), else by name (unsafe).
    """
    if family == Family.PICKLE and any(i.module.startswith("joblib") for i in res.imports):
        family = Family.JOBLIB
    word = _KIND_WORD.get(family, "pickle")
    # ``calls`` comes with the walker that records call sites; older results have none.
    calls = getattr(res, "calls", None)
    builders = any(is_function_builder(i.module, i.name) for i in res.imports)
    # Functions pickled by value: their builders pass only when every code object is proven
    # inert and no built function is called while the file loads (modelsec.scanner.lambdas).
    targets = ctx.limits.target_python
    not_proven = lambdas_proven(res, targets) if builders and calls is not None else "unknown"
    for imp in res.imports:
        if not_proven is None and is_function_builder(imp.module, imp.name):
            continue
        if not_proven is None and (imp.module, imp.name) == DILL_MAIN and main_only_as_globals(res):
            continue  # the loader's own __main__ namespace, as proven-inert functions' globals
        if (
            not_proven is None
            and (imp.module, imp.name) in DILL_CELL_SETTER
            and cell_setter_only(res)
        ):
            continue  # dill's setter filling the closure cells of proven-inert functions
        if calls is not None and gadget_kind(imp.module, imp.name) is not None:
            verdict = judge_gadget_import(imp.module, imp.name, calls)
        else:
            verdict = classify_callable(imp.module, imp.name)
        if (
            verdict is not None
            and calls is not None
            and getattr(res, "opaque_calls", 1) == 0  # every call's target is known
            and reconstructed_only(imp.module, imp.name, calls)
        ):
            verdict = None  # allocated and given a state, never called: none of its code runs
        if verdict is None:
            continue
        level, reason = verdict
        if (imp.module, imp.name) == DILL_MAIN:
            reason = DILL_MAIN_REASON
        if builders and is_function_builder(imp.module, imp.name):
            reason = f"{reason}; {printable(str(not_proven), 400)}"  # may name pickle globals
        shown = printable(f"{imp.module}.{imp.name}")
        what = "unsafe" if level == UNSAFE else "suspicious"
        ctx.add_issue(
            f"{word} imports {shown} at load time ({what}: {reason}); "
            f"opcode {imp.opcode} at offset {imp.offset}",
            location,
            Family.code(family, level),
            printable(imp.module, 256),
            printable(imp.name, 256),
        )
    for offset, opname, why in res.unresolved[:50]:
        ctx.add_issue(
            f"{word} imports a callable that cannot be resolved statically ({why}); "
            f"opcode {opname} at offset {offset}",
            location,
            Family.code(family, UNSAFE),
            None,
            opname,
        )
    for module, name, opname, offset in getattr(res, "mutations", ())[:50]:
        shown = printable(f"{module}.{name}")
        ctx.add_issue(
            f"{word} writes into the imported object {shown} while loading (unsafe: alters "
            f"the loading program's own modules or data); opcode {opname} at offset {offset}",
            location,
            Family.code(family, UNSAFE),
            printable(module, 256),
            printable(f"{name} ({opname})", 256),  # apart from the import's own finding
        )


def scan_pickle(
    ctx: FileContext,
    src: ByteSource,
    location: str,
    family: str,
    *,
    max_pickles: int | None = None,
    probe: bool = False,
) -> PickleResult:
    """Walk a pickle stream from ``src`` and report it; marks the file SCANNED when it parsed.

    Example:
        >>> from modelsec.scanner.limits import ScanLimits
        >>> ctx = FileContext("m.pkl", ScanLimits())
        >>> _ = scan_pickle(ctx, ByteSource.from_bytes(b"cos\\nsystem\\n."), "m.pkl", "PKL")
        >>> ctx.issues[0].threat
        'PAIT-PKL-100'
    """
    res = walk_pickle(src, max_pickles=max_pickles, probe=probe)
    if probe and not res.looks_like_pickle:
        return res
    if res.pickles or res.imports or res.unresolved or res.ops >= 2:
        ctx.scanned = True
    if res.tail is not None and max_pickles is None and res.end < (src.size or 1 << 62):
        # Junk after a complete pickle: look for imports hidden further on.
        res.imports.extend(scan_tail(src, 256 << 20, res.leftover))
    report_pickle(ctx, res, family, location)
    if res.error is not None:
        if res.ops and (res.imports or res.pickles or res.ops > 1):
            ctx.add_error(
                f"{location}: pickle malformed or truncated ({res.error}); "
                "findings cover what precedes it"
            )
        else:
            ctx.add_error(f"{location}: not a valid pickle ({res.error})")
    return res
