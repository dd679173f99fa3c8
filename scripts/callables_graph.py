"""Static reachability for scripts/gen_callables.py: a call graph read from bytecode.

Every module is imported in the generator's process (trusted pinned packages, never model
code); each function's bytecode (:mod:`dis`) gives edges to the globals, attribute chains,
local imports, ``self.method`` and ``super().method`` it references. A private method called on
an unknown receiver (``t._evaluate()``) is linked to the methods of that name in the same
module. Native functions are leaves unless they are sinks. A reverse breadth-first search from
the sinks gives each callable its shortest chain to each sink category.
"""

from __future__ import annotations

import builtins
import dis
import functools
import inspect
import sys
import types
import warnings
from collections import deque
from collections.abc import Iterator
from typing import Any

from callables_config import DEPTH, RECONSTRUCTION, SINKS, try_import


def unwrap(obj: object) -> object:
    """The function behind a staticmethod/classmethod/property/bound method/wraps wrapper."""
    for _ in range(8):
        if isinstance(obj, (staticmethod, classmethod)):
            obj = obj.__func__
        elif isinstance(obj, property):
            obj = obj.fget
        elif isinstance(obj, types.MethodType):
            obj = obj.__func__
        elif isinstance(obj, (functools.partial, functools.cached_property)):
            obj = obj.func
        elif inspect.isfunction(obj) and hasattr(obj, "__wrapped__"):
            obj = obj.__wrapped__
        else:
            return obj
    return obj


def safe_getattr(obj: object, name: str) -> object | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            value: object = getattr(obj, name)  # trusted pinned packages only (module doc)
            return value
    except BaseException:
        return None


def static_attr(cls: type, name: str) -> object | None:
    """``name`` as stored on ``cls`` or a base (no descriptor or ``__getattr__`` runs)."""
    try:
        return unwrap(inspect.getattr_static(cls, name))
    except AttributeError:
        return None


def label(obj: object) -> str:
    """A stable human name for a graph node (``module.qualname``)."""
    mod = getattr(obj, "__module__", None) or "?"
    qual = (
        getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None) or type(obj).__name__
    )
    return f"{mod}.{qual}"


class Graph:
    """Callables as nodes; an edge per callable referenced from a function's bytecode."""

    def __init__(self) -> None:
        self.nodes: dict[int, object] = {}
        self.edges: dict[int, set[int]] = {}
        self.owner: dict[int, type] = {}
        self._by_module_name: dict[tuple[str, str], list[object]] = {}

    def node(self, obj: object) -> int:
        obj = unwrap(obj)
        key = id(obj)
        self.nodes.setdefault(key, obj)
        return key

    def index_module_methods(self, mod: types.ModuleType) -> None:
        """Remember private methods per (module, name) for unknown-receiver calls."""
        for value in list(vars(mod).values()):
            if not isinstance(value, type) or value.__module__ != mod.__name__:
                continue
            for attr, raw in list(vars(value).items()):
                if attr.startswith("_") and not attr.startswith("__"):
                    fn = unwrap(raw)
                    if inspect.isfunction(fn):
                        self._by_module_name.setdefault((mod.__name__, attr), []).append(fn)
                        self.owner.setdefault(id(fn), value)
            for raw in list(vars(value).values()):
                fn = unwrap(raw)
                if inspect.isfunction(fn):
                    self.owner.setdefault(id(fn), value)

    def successors(self, obj: object) -> list[object]:
        """Callables ``obj`` may reach in one step."""
        if isinstance(obj, type):
            out: list[object] = []
            for name in RECONSTRUCTION:
                fn = static_attr(obj, name)
                if fn is None or fn is static_attr(object, name):
                    continue
                if isinstance(fn, types.FunctionType) and name in vars(obj):
                    self.owner.setdefault(id(fn), obj)
                if callable(fn):
                    out.append(fn)
            return out
        if inspect.isfunction(obj):
            return list(self._function_refs(obj))
        call = type(obj).__dict__.get("__call__") if not isinstance(obj, type) else None
        if call is not None and inspect.isfunction(call):
            return [call]
        return []

    def _function_refs(self, fn: types.FunctionType) -> Iterator[object]:
        owner = self.owner.get(id(fn))
        code = fn.__code__
        yield from self._code_refs(code, fn.__globals__, owner, fn.__module__ or "")

    def _code_refs(
        self, code: types.CodeType, glb: dict[str, Any], owner: type | None, modname: str
    ) -> Iterator[object]:
        self_name = code.co_varnames[0] if owner is not None and code.co_argcount else None
        local: dict[str, object] = {}
        cur: object = None
        state = "none"  # none | obj | self | super | unknown
        consts: deque[object] = deque(maxlen=2)
        last_module: object = None
        for ins in dis.get_instructions(code):
            op = ins.opname
            if op == "LOAD_CONST":
                consts.append(ins.argval)
                if isinstance(ins.argval, types.CodeType):
                    yield from self._code_refs(ins.argval, glb, owner, modname)
                continue
            if op in ("LOAD_GLOBAL", "LOAD_NAME"):
                name = ins.argval
                if name == "super" and owner is not None:
                    state, cur = "super", None
                    continue
                if name in glb:
                    cur, state = glb[name], "obj"
                elif hasattr(builtins, name):
                    cur, state = getattr(builtins, name), "obj"
                else:
                    state, cur = "unknown", None
                if state == "obj":
                    yield cur
                continue
            if op in ("LOAD_FAST", "LOAD_DEREF", "LOAD_CLOSURE"):
                name = ins.argval
                if name == self_name:
                    state, cur = "self", None
                elif name in local:
                    cur, state = local[name], "obj"
                else:
                    state, cur = "unknown", None
                continue
            if op in ("LOAD_ATTR", "LOAD_METHOD"):
                attr = ins.argval
                if state == "obj" and cur is not None:
                    if isinstance(cur, type):
                        nxt = static_attr(cur, attr)
                    else:
                        nxt = safe_getattr(cur, attr)
                    if nxt is None:
                        state, cur = "unknown", None
                    else:
                        cur = nxt
                        yield cur
                elif state == "self" and owner is not None:
                    nxt = static_attr(owner, attr)
                    state, cur = ("obj", nxt) if nxt is not None else ("unknown", None)
                    if nxt is not None:
                        yield nxt
                elif state == "super" and owner is not None:
                    for base in owner.__mro__[1:]:
                        if attr in vars(base):
                            nxt = unwrap(vars(base)[attr])
                            yield nxt
                            if inspect.isfunction(nxt):
                                self.owner.setdefault(id(nxt), base)
                            break
                    state, cur = "unknown", None
                else:
                    if attr.startswith("_") and not attr.startswith("__"):
                        yield from self._by_module_name.get((modname, attr), ())
                    state, cur = "unknown", None
                continue
            if op == "IMPORT_NAME":
                level = consts[0] if len(consts) == 2 else 0
                fromlist = consts[1] if len(consts) == 2 else None
                target = _resolve_import(ins.argval, level, glb)
                mod = sys.modules.get(target) if target else None
                if mod is None and target:
                    mod = try_import(target)
                if mod is not None and target and not fromlist:
                    top = sys.modules.get(target.split(".")[0])
                    mod = top if top is not None else mod
                last_module = mod
                cur, state = (mod, "obj") if mod is not None else (None, "unknown")
                continue
            if op == "IMPORT_FROM":
                nxt = None
                if isinstance(last_module, types.ModuleType):
                    nxt = safe_getattr(last_module, ins.argval)
                    if nxt is None:
                        nxt = try_import(f"{last_module.__name__}.{ins.argval}")
                cur, state = (nxt, "obj") if nxt is not None else (None, "unknown")
                if nxt is not None:
                    yield nxt
                continue
            if op in ("STORE_FAST", "STORE_DEREF", "STORE_NAME"):
                if state == "obj" and cur is not None:
                    local[ins.argval] = cur
                else:
                    local.pop(ins.argval, None)
                state, cur = "none", None
                continue
            if op in ("PRECALL", "CACHE", "PUSH_NULL", "EXTENDED_ARG", "NOP", "RESUME"):
                continue
            if op == "POP_TOP" and isinstance(cur, types.ModuleType):
                continue
            state, cur = "none", None


def _resolve_import(name: str, level: object, glb: dict[str, Any]) -> str | None:
    if not isinstance(level, int) or level == 0:
        return name
    pkg = glb.get("__package__") or ""
    if not isinstance(pkg, str):
        return None
    parts = pkg.split(".")
    if level - 1 > len(parts):
        return None
    base = ".".join(parts[: len(parts) - (level - 1)])
    return f"{base}.{name}" if name else base


def lookup(module: str, dotted: str) -> object | None:
    mod = sys.modules.get(module) or try_import(module)
    obj: object = mod
    for part in dotted.split("."):
        if obj is None:
            return None
        obj = static_attr(obj, part) if isinstance(obj, type) else safe_getattr(obj, part)
    return obj


Verdicts = dict[int, dict[str, tuple[int, str, int]]]


def reach(
    graph: Graph,
    roots: list[object],
    sink_objs: dict[int, tuple[str, str]],
    barriers: set[int],
) -> Verdicts:
    """Per node id: category -> (edges to the nearest sink, that sink's name, next hop id).

    ``barriers`` are reviewed callables whose sink use is fixed by the library (not by their
    arguments): reachability does not propagate through them.
    """
    # Forward: explore everything within DEPTH of a root.
    depth: dict[int, int] = {}
    queue: deque[tuple[object, int]] = deque()
    for r in roots:
        k = graph.node(r)
        if k not in depth:
            depth[k] = 0
            queue.append((graph.nodes[k], 0))
    while queue:
        obj, d = queue.popleft()
        k = id(obj)
        if d >= DEPTH or k in sink_objs or k in barriers:
            graph.edges.setdefault(k, set())
            continue
        succ: set[int] = set()
        try:
            found = graph.successors(obj)
        except Exception:
            found = []
        for s in found:
            if s is None or not callable(s):
                continue
            sk = graph.node(s)
            succ.add(sk)
            if sk not in depth:
                depth[sk] = d + 1
                queue.append((graph.nodes[sk], d + 1))
        graph.edges[k] = succ
    # Backward: shortest distance to each category's sinks.
    rev: dict[int, set[int]] = {}
    for a, bs in graph.edges.items():
        for b in bs:
            rev.setdefault(b, set()).add(a)
    out: Verdicts = {}
    for cat in SINKS:
        # Level by level; among equally near sinks the smallest name wins, so the result does
        # not depend on set iteration order (object addresses).
        level = {k: name for k, (c, name) in sink_objs.items() if c == cat}
        dist = dict.fromkeys(level, 0)
        for k, name in level.items():
            out.setdefault(k, {})[cat] = (0, name, k)
        for d in range(1, DEPTH + 1):
            nxt: dict[int, tuple[str, str, int]] = {}
            for k, name in level.items():
                hop = label(graph.nodes[k]) if k in graph.nodes else name
                for p in rev.get(k, ()):
                    if p not in dist and (p not in nxt or (name, hop) < nxt[p][:2]):
                        nxt[p] = (name, hop, k)
            for p, (name, _, via) in nxt.items():
                dist[p] = d
                out.setdefault(p, {})[cat] = (d, name, via)
            level = {p: name for p, (name, _, _) in nxt.items()}
    return out


def chain(graph: Graph, verdicts: Verdicts, start: int, cat: str) -> list[str]:
    """The witness: labels from ``start`` along next hops to the sink of ``cat``."""
    out = []
    k = start
    for _ in range(DEPTH + 1):
        out.append(label(graph.nodes[k]))
        nxt = verdicts[k][cat][2]
        if nxt == k:
            break
        k = nxt
    return out


def sink_objects() -> dict[int, tuple[str, str]]:
    out: dict[int, tuple[str, str]] = {}
    for cat, items in SINKS.items():
        for module, dotted in items:
            obj = lookup(module, dotted)
            if obj is not None:
                out.setdefault(id(unwrap(obj)), (cat, f"{module}.{dotted}"))
    return out
