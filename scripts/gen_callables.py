#!/usr/bin/env python3
"""Derive the scanner's callable tables from the standard library and pinned ML packages.

Writes ``modelsec/scanner/data/callables.json``:

``denied``
    dotted names a pickle can import (``find_class(module, name)``, attribute chains included)
    whose callable reaches a *sink* (runs a process, evaluates code, imports code, touches the
    file system or network, loads native code, unpickles nested data) within ``DEPTH`` calls.
``allowed``
    classes and helpers whose reconstruction only restores state, derived per package
    (every scikit-learn ``BaseEstimator`` subclass, every ``torch.nn.Module`` in ``torch.nn``,
    numpy scalar types, scipy sparse matrices, pandas internals, ...) and kept only when their
    ``__new__``/``__init__``/``__setstate__``/``__setitem__``/``append``/``extend`` reach no sink.
``module_aliases``, ``attribute_aliases``, ``class_aliases``
    ``sys.modules`` keys that are another module (``os.path`` -> ``posixpath``), module
    attributes that are modules (``shutil.os`` -> ``os``) and re-exported classes with denied
    methods (``pandas.DataFrame`` -> ``pandas.core.frame:DataFrame``), so dotted names resolve
    the way protocol-4 ``find_class`` walks attributes.
``rejected_allow_candidates``
    derived allow candidates dropped because a sink is reachable (with the witness chain), for
    review.

The output also depends on the hand-written core (``modelsec/scanner/denylist.py``): names it
already denies are not repeated, so regenerate after editing it.

Method (why it is sound enough to be useful, and where it is not): every module is imported in
THIS process (our script over trusted pinned packages, never model code); each callable's
bytecode is read with :mod:`dis` and every global, attribute chain (``os.path.join``), local
import, ``self.method`` and ``super().method`` it references becomes an edge of a call graph.
A private method called on an unknown receiver (``t._evaluate()``) is linked to the methods of
that name in the same module. Native functions are leaves unless listed as sinks. A reverse
breadth-first search from the sinks gives each callable its shortest chain to each sink
category; chains up to ``DEPTH`` are denied (``--explain NAME`` prints the chain). See
``callables_graph.py`` (the analysis) and ``callables_config.py`` (sinks, packages, skips).
Static analysis over-approximates (a reference is not a call) and under-approximates (dynamic
dispatch, native code): the hand-written
``modelsec/scanner/denylist.py`` stays the core, the derived names are added on top, and
``scripts/callables_review.json`` records the human decisions (pruned false reachability, extra
allowed names) with a reason each.

Usage::

    python3.11 -m venv /tmp/callables
    /tmp/callables/bin/pip install -r scripts/callables_requirements.txt
    /tmp/callables/bin/python scripts/gen_callables.py          # rewrite the data
    /tmp/callables/bin/python scripts/gen_callables.py --check  # exit 1 if stale

The output depends on the Python minor version (the standard library differs) and the pinned
package versions in ``scripts/callables_requirements.txt``; ``--check`` refuses to compare under
other versions (exit 2) instead of reporting a false difference.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import importlib.metadata
import json
import os
import pkgutil
import sys
import types
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from callables_config import (
    DEPTH,
    DISTRIBUTIONS,
    PACKAGES,
    skipped,
    try_import,
)
from callables_graph import (
    Graph,
    chain,
    lookup,
    reach,
    safe_getattr,
    sink_objects,
    static_attr,
    unwrap,
)

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "modelsec" / "scanner" / "data" / "callables.json"
REVIEW = ROOT / "scripts" / "callables_review.json"
REQUIREMENTS = ROOT / "scripts" / "callables_requirements.txt"


def iter_modules() -> Iterator[types.ModuleType]:
    """Every importable module of the standard library and of PACKAGES, sorted by name."""
    names: set[str] = set()
    roots = sorted(n for n in sys.stdlib_module_names if not skipped(n)) + PACKAGES
    for root in roots:
        mod = try_import(root)
        if mod is None:
            continue
        names.add(root)
        path = getattr(mod, "__path__", None)
        if path is None:
            continue
        for info in pkgutil.walk_packages(path, root + ".", onerror=lambda _n: None):
            if not skipped(info.name):
                names.add(info.name)
    for name in sorted(names):
        mod = try_import(name)
        if mod is not None:
            yield mod


def spellings(modules: Iterable[types.ModuleType]) -> Iterator[tuple[str, object]]:
    """Every ``module.attr`` and ``module.Class.attr`` a pickle can name, with its object."""
    for mod in modules:
        mname = mod.__name__
        if _hand_denied(mname + ".x"):
            continue  # the whole module is denied by the hand-written core
        for attr, value in sorted(vars(mod).items()):
            if attr.startswith("__") or isinstance(value, types.ModuleType):
                continue
            if not callable(value):
                continue
            yield f"{mname}.{attr}", value
            if isinstance(value, type) and value.__module__ == mname:
                for cattr in sorted(dir(value)):
                    if cattr.startswith("__"):
                        continue
                    raw = static_attr(value, cattr)
                    if raw is not None and callable(raw) and not isinstance(raw, type):
                        yield f"{mname}.{attr}.{cattr}", raw


def _lazy_attributes(modules: Iterable[types.ModuleType]) -> Iterator[tuple[str, object]]:
    """Attributes a module serves through ``__getattr__`` (deprecated shims: scipy.sparse.csr)."""
    for mod in modules:
        if "__getattr__" not in vars(mod) or mod.__name__.split(".")[0] not in PACKAGES:
            continue
        try:
            listed = sorted(set(dir(mod)) - set(vars(mod)))
        except Exception:
            continue
        for attr in listed:
            value = safe_getattr(mod, attr)
            if value is not None and callable(value) and not attr.startswith("__"):
                yield f"{mod.__name__}.{attr}", value


def module_aliases(modules: Iterable[types.ModuleType]) -> tuple[dict[str, str], dict[str, str]]:
    """``(import aliases, attribute aliases)``.

    Import aliases: ``sys.modules`` keys that are another module (``os.path`` -> ``posixpath``);
    they apply to ``find_class``'s module argument. Attribute aliases: ``module.attr`` that is a
    module (``shutil.os`` -> ``os``); they apply while walking the dotted name.
    """
    attrs: dict[str, str] = {}
    for mod in modules:
        for attr, value in vars(mod).items():
            if isinstance(value, types.ModuleType) and not attr.startswith("__"):
                key = f"{mod.__name__}.{attr}"
                target = getattr(value, "__name__", None)
                if isinstance(target, str) and target != key:
                    attrs[key] = target
    imports: dict[str, str] = {}
    for key, value in list(sys.modules.items()):
        target = getattr(value, "__name__", None)
        if isinstance(target, str) and target != key and not skipped(key):
            imports[key] = target
    return imports, attrs


# --- allowed: classes whose reconstruction only restores state ------------------------------


def _subclasses(base: type) -> Iterator[type]:
    seen: set[int] = set()
    stack = [base]
    while stack:
        cls = stack.pop()
        subs: list[type] = type.__subclasses__(cls) if cls is not type else []
        for sub in subs:
            if id(sub) not in seen:
                seen.add(id(sub))
                stack.append(sub)
                yield sub


def _canonical(obj: object) -> str | None:
    mod = getattr(obj, "__module__", None)
    qual = getattr(obj, "__qualname__", None)
    if not isinstance(mod, str) or not isinstance(qual, str) or "<" in qual:
        return None
    if skipped(mod) or (mod.split(".")[0] not in PACKAGES and mod.split(".")[0] != "numpy"):
        return None
    return f"{mod}.{qual}"


def allowed_candidates() -> dict[str, tuple[object, str]]:
    """Derived per-package reconstruction-only classes: name -> (object, why)."""
    out: dict[str, tuple[object, str]] = {}

    def add(obj: object, why: str, name: str | None = None) -> None:
        name = name or _canonical(obj)
        last = name.split(".")[-1] if name is not None else "__"
        if name is not None and not (last.startswith("__") and last.endswith("__")):
            out.setdefault(name, (obj, why))

    def add_subclasses(module: str, base_attr: str, why: str, within: str) -> None:
        base = lookup(module, base_attr)
        if not isinstance(base, type):
            return
        add(base, why)
        for sub in _subclasses(base):
            if getattr(sub, "__module__", "").startswith(within):
                add(sub, why)

    add_subclasses("sklearn.base", "BaseEstimator", "scikit-learn BaseEstimator subclass", "")
    for mod in (
        "sklearn.tree._tree",
        "sklearn._loss.loss",
        "sklearn._loss.link",
        "sklearn._loss._loss",
    ):
        add_module_classes(mod, "scikit-learn fitted-state class", add)
    for mod in ("sklearn.neighbors._kd_tree", "sklearn.neighbors._ball_tree"):
        add_module_classes(mod, "scikit-learn fitted-state class", add)
    add_subclasses("torch.nn", "Module", "torch.nn.Module subclass in torch.nn", "torch.nn")
    add_subclasses("numpy", "generic", "numpy scalar type", "numpy")
    add_subclasses("numpy", "dtype", "numpy dtype class", "numpy")
    add_subclasses("numpy", "ndarray", "numpy ndarray subclass", "numpy")
    for mod in ("numpy.random._mt19937", "numpy.random._pcg64", "numpy.random._philox"):
        add_module_classes(mod, "numpy bit generator", add)
    for mod in ("numpy.random._sfc64", "numpy.random.bit_generator", "numpy.random._generator"):
        add_module_classes(mod, "numpy random generator", add)
    add_module_classes("numpy.random.mtrand", "numpy random generator", add)
    add_module_functions("numpy.random._pickle", "numpy random unpickling helper", add)
    add_subclasses("scipy.sparse", "sparray", "scipy sparse array", "scipy.sparse")
    add_subclasses("scipy.sparse", "spmatrix", "scipy sparse matrix", "scipy.sparse")
    for module, base in (
        ("pandas", "Index"),
        ("pandas.core.generic", "NDFrame"),
        ("pandas.api.extensions", "ExtensionArray"),
        ("pandas.api.extensions", "ExtensionDtype"),
        ("pandas.core.internals.blocks", "Block"),
        ("pandas.core.internals.managers", "BaseBlockManager"),
        ("pandas._libs.tslibs.offsets", "BaseOffset"),
        ("pandas", "Timestamp"),
        ("pandas", "Timedelta"),
        ("pandas", "Period"),
        ("pandas", "Interval"),
    ):
        add_subclasses(module, base, "pandas data structure", "pandas")
    for module, fn in (
        ("pandas._libs.internals", "_unpickle_block"),
        ("pandas.core.internals.blocks", "new_block"),
        ("pandas.core.internals.blocks", "new_block_2d"),
        ("pandas.core.indexes.base", "_new_Index"),
        ("pandas.core.arrays.categorical", "_new_Categorical"),
        ("pandas._libs.tslibs.timestamps", "_unpickle_timestamp"),
        ("pandas._libs.tslibs.timedeltas", "_timedelta_unpickle"),
        ("pandas._libs.tslibs.nattype", "__nat_unpickle"),
        ("pandas.core.indexes.period", "_new_PeriodIndex"),
        ("pandas.core.indexes.multi", "MultiIndex"),
        ("pandas._libs.arrays", "__pyx_unpickle_NDArrayBacked"),
        ("pandas.core.internals.managers", "BlockManager"),
        ("pandas.core.internals.managers", "SingleBlockManager"),
    ):
        obj = lookup(module, fn)
        if obj is not None:
            add(obj, "pandas unpickling helper", f"{module}.{fn}")
    numpy = try_import("numpy")
    if numpy is not None:
        # Ufuncs pickle by name (FunctionTransformer(func=np.log1p)): array math, no I/O.
        for attr, value in sorted(vars(numpy).items()):
            if isinstance(value, numpy.ufunc):
                add(value, "numpy ufunc", f"numpy.{attr}")
    add_subclasses("gensim.utils", "SaveLoad", "gensim SaveLoad subclass", "gensim")
    add_subclasses("xgboost.core", "Booster", "xgboost Booster", "xgboost")
    add_subclasses("lightgbm.basic", "Booster", "lightgbm Booster", "lightgbm")
    for module, attr in (
        ("joblib.numpy_pickle", "NumpyArrayWrapper"),
        ("joblib.numpy_pickle_compat", "NDArrayWrapper"),
        ("joblib.numpy_pickle_compat", "ZNDArrayWrapper"),
    ):
        obj = lookup(module, attr)
        if obj is not None:
            add(obj, "joblib array wrapper (array bytes follow in the stream)", f"{module}.{attr}")
    return out


def add_module_classes(module: str, why: str, add: Callable[[object, str], None]) -> None:
    mod = try_import(module)
    if mod is None:
        return
    for _, value in sorted(vars(mod).items()):
        if isinstance(value, type) and getattr(value, "__module__", None) == module:
            add(value, why)


def add_module_functions(module: str, why: str, add: Callable[[object, str], None]) -> None:
    mod = try_import(module)
    if mod is None:
        return
    for name, value in sorted(vars(mod).items()):
        if callable(value) and not isinstance(value, type) and not name.startswith("__py"):
            add_named = getattr(value, "__module__", None)
            if add_named == module or add_named is None:
                add(value, why)


# --- assembling -----------------------------------------------------------------------------


def load_review() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(REVIEW.read_text())
    return data


def package_versions() -> dict[str, str]:
    out: dict[str, str] = {}
    for pkg in PACKAGES:
        dist = DISTRIBUTIONS.get(pkg, pkg)
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[dist] = "missing"
    return out


def pinned_versions() -> dict[str, str]:
    """``name -> version`` from callables_requirements.txt (local labels such as +cpu dropped)."""
    out: dict[str, str] = {}
    for line in REQUIREMENTS.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            out[name.strip().lower().replace("_", "-")] = version.strip()
    return out


@functools.lru_cache(maxsize=1)
def _hand_core() -> Callable[[str], str | None]:
    """``denied_reason`` of the hand-written core, loaded by path (no modelsec dependencies)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "_modelsec_denylist", ROOT / "modelsec" / "scanner" / "denylist.py"
    )
    if spec is None or spec.loader is None:
        raise SystemExit("cannot load modelsec/scanner/denylist.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    fn: Callable[[str], str | None] = mod.denied_reason
    return fn


def _hand_denied(dotted: str) -> bool:
    return _hand_core()(dotted) is not None


def generate(explain: Iterable[str] = ()) -> dict[str, Any]:
    """The complete derived table (deterministic for one Python minor + pinned packages).

    Names in ``explain`` get their witness chain printed to stderr (for reviewing).
    """
    explain = set(explain)
    review = load_review()
    modules = list(iter_modules())
    graph = Graph()
    for mod in modules:
        graph.index_module_methods(mod)
    names = dict(spellings(modules))
    allowed_objs = allowed_candidates()
    sinks = sink_objects()
    roots = list(names.values()) + [obj for obj, _ in allowed_objs.values()]
    barriers = set()
    for dotted in review.get("barriers", {}):
        module, _, attr = dotted.partition(":")
        obj = lookup(module, attr)
        if obj is None:
            raise SystemExit(f"review barrier {dotted} does not resolve")
        barriers.add(graph.node(obj))
    verdicts = reach(graph, roots, sinks, barriers)
    prune: dict[str, str] = review.get("prune", {})

    denied: dict[str, list[object]] = {}
    for dotted in sorted(names):
        obj = unwrap(names[dotted])
        found = verdicts.get(id(obj))
        if not found or dotted in prune:
            continue
        if _hand_denied(dotted):
            continue  # the hand-written core already denies it (whole module or name)
        cat, (dist, sink, _) = min(found.items(), key=lambda kv: (kv[1][0], kv[0]))
        denied[dotted] = [cat, sink, dist]
        if dotted in explain:
            print(dotted, ":", " -> ".join(chain(graph, verdicts, id(obj), cat)), file=sys.stderr)

    allowed: dict[str, str] = {}
    rejected: dict[str, str] = {}
    for dotted in sorted(allowed_objs):
        obj, why = allowed_objs[dotted]
        found = verdicts.get(id(unwrap(obj)))
        if found and dotted not in review.get("allow_despite_reach", {}):
            cat, (dist, sink, _) = min(found.items(), key=lambda kv: (kv[1][0], kv[0]))
            rejected[dotted] = " -> ".join(chain(graph, verdicts, id(unwrap(obj)), cat))
            continue
        allowed[dotted] = why
    # Other spellings of the same objects (re-exports, deprecated shim modules such as
    # scipy.sparse.csr) within the same package, and scikit-learn's pre-0.22 public module paths
    # (sklearn.linear_model.logistic), which old pickles name.
    by_id = {id(unwrap(allowed_objs[d][0])): d for d in allowed}
    for dotted, value in [*names.items(), *_lazy_attributes(modules)]:
        canon = by_id.get(id(unwrap(value)))
        if canon is not None and dotted.split(".")[0] == canon.split(".")[0]:
            allowed.setdefault(dotted, allowed[canon])
    for dotted in [d for d in allowed if d.startswith("sklearn.")]:
        parts = dotted.split(".")
        legacy = ".".join([p.lstrip("_") if i < len(parts) - 1 else p for i, p in enumerate(parts)])
        if legacy != dotted and legacy not in names:
            allowed.setdefault(legacy, allowed[dotted] + " (pre-0.22 module path)")
    for dotted, why in sorted(review.get("allow", {}).items()):
        module, _, attr = dotted.rpartition(".")
        obj = lookup(module, attr)
        if obj is None:
            raise SystemExit(f"review allow entry {dotted} does not resolve")
        found = verdicts.get(id(unwrap(obj)))
        if found and dotted not in review.get("allow_despite_reach", {}):
            raise SystemExit(f"review allow entry {dotted} reaches a sink: {sorted(found)}")
        allowed[dotted] = f"reviewed: {why}"
    allowed = dict(sorted(allowed.items()))
    for dotted in allowed:
        denied.pop(dotted, None)

    imports, attrs = module_aliases(modules)
    import_aliases = {k: v for k, v in imports.items() if _alias_matters(v, denied)}
    attr_aliases = {k: v for k, v in attrs.items() if _alias_matters(v, denied)}
    # Re-exported classes with denied methods: ``pandas.DataFrame`` -> its defining spelling
    # ``module:qualname``, so ``("pandas", "DataFrame.to_csv")`` resolves to the denied method.
    class_aliases: dict[str, str] = {}
    for dotted, value in names.items():
        if isinstance(value, type):
            canon = f"{value.__module__}.{value.__qualname__}"
            if canon != dotted and "<" not in canon and _alias_matters(canon, denied):
                class_aliases[dotted] = f"{value.__module__}:{value.__qualname__}"
    return {
        "format": 1,
        "generator": "scripts/gen_callables.py",
        "inputs": {
            "python": f"{sys.version_info.major}.{sys.version_info.minor}",
            "packages": package_versions(),
            "depth": DEPTH,
        },
        "denied": denied,
        "allowed": allowed,
        "rejected_allow_candidates": rejected,
        "module_aliases": dict(sorted(import_aliases.items())),
        "attribute_aliases": dict(sorted(attr_aliases.items())),
        "class_aliases": dict(sorted(class_aliases.items())),
    }


def _alias_matters(target: str, denied: dict[str, list[object]]) -> bool:
    """Keep aliases that lead to a denied module or to a module with denied names."""
    if _hand_denied(target) or _hand_denied(target + ".x"):
        return True
    prefix = target + "."
    return any(k.startswith(prefix) for k in denied)


def render(data: dict[str, Any]) -> str:
    """JSON with one table entry per line (reviewable diffs, modest size)."""
    lines = ["{"]
    items = list(data.items())
    for i, (key, value) in enumerate(items):
        comma = "," if i < len(items) - 1 else ""
        if isinstance(value, dict) and value and key != "inputs":
            lines.append(f"{json.dumps(key)}: {{")
            entries = list(value.items())
            for j, (k, v) in enumerate(entries):
                sep = "," if j < len(entries) - 1 else ""
                lines.append(f"{json.dumps(k)}: {json.dumps(v, ensure_ascii=True)}{sep}")
            lines.append("}" + comma)
        else:
            lines.append(f"{json.dumps(key)}: {json.dumps(value, sort_keys=True)}{comma}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--check", action="store_true", help="exit 1 when the committed data differs")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--explain", action="append", default=[], help="print why NAME is denied")
    args = ap.parse_args(argv)
    if os.environ.get("PYTHONHASHSEED") != "0" and argv is None:
        # Packages iterate sets of strings at import time (attribute order, lazy imports):
        # one fixed hash seed makes the derived tables reproducible run to run.
        env = {**os.environ, "PYTHONHASHSEED": "0"}
        os.execve(sys.executable, [sys.executable, *sys.argv], env)
    sys.setrecursionlimit(10000)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    pins = pinned_versions()
    have = {k.lower().replace("_", "-"): v for k, v in package_versions().items()}
    wrong = {
        k: (v, have.get(k))
        for k, v in pins.items()
        if have.get(k, "").split("+")[0] != v.split("+")[0]
    }
    if wrong:
        print(f"pinned packages differ (pinned, installed): {wrong}", file=sys.stderr)
        return 2
    text = render(generate(args.explain))
    if args.check:
        committed = json.loads(args.out.read_text())
        if committed["inputs"]["python"] != json.loads(text)["inputs"]["python"]:
            print("committed data was generated under another Python minor", file=sys.stderr)
            return 2
        if args.out.read_text() != text:
            import difflib

            diff = difflib.unified_diff(
                args.out.read_text().splitlines(), text.splitlines(), "committed", "now", n=0
            )
            print("\n".join(list(diff)[:60]), file=sys.stderr)
            print(f"{args.out} is stale: run scripts/gen_callables.py", file=sys.stderr)
            return 1
        print(f"{args.out} is up to date")
        return 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
