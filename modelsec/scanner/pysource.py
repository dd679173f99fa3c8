"""Python source shipped with a model, read with :mod:`ast` only (never imported or run).

``trust_remote_code`` loaders, diffusers pipelines, sentence-transformers modules and TorchServe
handlers execute ``.py`` files that come with the model. This module parses one file and tells
which calls it makes, *when*:

* **load time**: module top level (including class bodies, decorators and default arguments,
  excluding ``if __name__ == "__main__":``), and the bodies of the methods a loader calls
  (:data:`LOAD_METHODS`: ``__init__``, ``from_pretrained``, ``post_init``...), plus the functions
  and methods of the same file those bodies call (transitively, bounded);
* **run time**: every other function body (``forward``, helpers nobody calls at load).

Call targets are resolved through the file's imports (``import os as o; o.system``,
``from subprocess import Popen as P``) and judged in two steps. The shared table
(:func:`~modelsec.scanner.callables.classify_callable`) says whether a callable is unsafe; a
narrower list of *capabilities* (:data:`CAPABILITIES`: processes, native code, network, dynamic
code, package installation, destructive file operations) picks which of those unsafe callables
matter in source code. That second step exists because the pickle table rightly denies
``os.path.join``, ``getattr``, ``open`` or ``logging`` to a data file, while ordinary modeling
code calls them all the time; judging source by the table alone would flag every model.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from modelsec.scanner.callables import UNSAFE, classify_callable
from modelsec.scanner.pyast import (
    body_nodes,
    const_str,
    dotted_name,
    import_time_nodes,
    module_name,
    parse_python,
)
from modelsec.scanner.pycapabilities import (
    BUILTIN_NAMES,
    CAPABILITIES,
    DECODERS,
    FILE_UNPICKLERS,
    GADGET_MODULES,
    IMPORTERS,
    MAX_CALLS_FOLLOWED,
    MODULE_HOOKS,
    OPENERS,
    SECRET_ENV,
    SECRET_PATHS,
    WRITE_MODE,
    capability,
)

__all__ = ["CAPABILITIES", "LOAD_METHODS", "Call", "ModuleInfo", "parse_module"]

#: Methods a loader (transformers, diffusers, sentence-transformers, TorchServe) calls while
#: loading: their bodies run at load time.
LOAD_METHODS = frozenset(
    {
        "__init__",
        "__new__",
        "__post_init__",
        "__init_subclass__",
        "__set_name__",
        "__class_getitem__",
        "__getattr__",
        "__setstate__",
        "__reduce__",
        "from_pretrained",
        "_from_config",
        "from_config",
        "post_init",
        "init_weights",
        "_init_weights",
        "_initialize_weights",
        "initialize",
        "load",
        "register_for_auto_class",
        "setup",
    }
)


@dataclass(frozen=True)
class Call:
    """One judged call (or secret read) found in a source file.

    Example:
        >>> Call(3, "os.system", "process", "operating system access", "<module>").category
        'process'
    """

    line: int
    dotted: str
    category: str
    reason: str
    scope: str
    obfuscated: bool = False
    detail: str = ""


@dataclass
class ModuleInfo:
    """A parsed source file: its import aliases, functions and classes (by name).

    ``local_imports`` maps a local name to ``(module, attribute)`` for imports that may name
    another file of the repository (relative imports and bare same-directory names).

    Example:
        >>> m = parse_module("import os as o\\nclass A:\\n    def __init__(self):\\n"
        ...                  "        o.system('id')\\n")
        >>> [(c.dotted, c.scope) for c in m.load_time_calls()]
        [('os.system', 'A.__init__')]
    """

    tree: ast.Module
    aliases: dict[str, str] = field(default_factory=dict)
    local_imports: dict[str, tuple[str, str | None, int]] = field(default_factory=dict)
    imported_modules: list[tuple[str, int]] = field(default_factory=list)
    star_modules: list[str] = field(default_factory=list)
    functions: dict[str, ast.FunctionDef | ast.AsyncFunctionDef] = field(default_factory=dict)
    methods: dict[str, list[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]] = field(
        default_factory=dict
    )
    classes: dict[str, ast.ClassDef] = field(default_factory=dict)

    # --- judged calls ---------------------------------------------------------------------

    def import_time_calls(self) -> list[Call]:
        """Calls made when the module is imported (top level, class bodies, decorators)."""
        return list(self._judge_nodes(import_time_nodes(self.tree.body), "<module>"))

    def load_time_calls(self, extra_seeds: tuple[str, ...] = ()) -> list[Call]:
        """Import-time calls plus those of the load methods and what they call in this file."""
        out = self.import_time_calls()
        for scope, fn in self.load_time_functions(extra_seeds):
            out.extend(self._judge_nodes(body_nodes(fn), scope))
        return out

    def load_time_functions(
        self, extra_seeds: tuple[str, ...] = ()
    ) -> list[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
        """Functions of this file that run at load (``Class.method`` or ``function`` names)."""
        seeds: list[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]] = []
        for cname, cls in self.classes.items():
            for item in cls.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and (
                    item.name in LOAD_METHODS or f"{cname}.{item.name}" in extra_seeds
                ):
                    seeds.append((f"{cname}.{item.name}", item))
        for name in (*extra_seeds, *MODULE_HOOKS):
            if name in self.functions:
                seeds.append((name, self.functions[name]))
        # Functions called at import time (decorators, module-level calls) run at load too.
        for node in import_time_nodes(self.tree.body):
            for name in self._local_callees(node):
                seeds.extend(self._resolve_local(name))
        return self._closure(seeds)

    def runtime_calls(self, load_scopes: set[str]) -> list[Call]:
        """Calls in every function body that does not run at load."""
        out: list[Call] = []
        for scope, fn in self._all_functions():
            if scope not in load_scopes:
                out.extend(self._judge_nodes(body_nodes(fn), scope))
        return out

    def cross_file_callees(
        self, fns: list[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]
    ) -> set[tuple[str, str]]:
        """``(local import name, function name)`` of imported names called at import or by
        ``fns`` (``helper()`` after ``from .utils import helper``; ``utils.helper()``)."""
        nodes: list[ast.AST] = list(import_time_nodes(self.tree.body))
        for _s, fn in fns:
            nodes.extend(body_nodes(fn))
        out: set[tuple[str, str]] = set()
        for node in nodes:
            for name in self._local_callees(node):
                head, *rest = name.split(".")
                if head in self.local_imports:
                    attr = self.local_imports[head][1]
                    fn_name = rest[0] if rest else attr
                    if fn_name:
                        out.add((head, fn_name))
        return out

    def calls_in(self, fn: ast.FunctionDef | ast.AsyncFunctionDef, scope: str) -> list[Call]:
        """The judged calls in one function body."""
        return list(self._judge_nodes(body_nodes(fn), scope))

    # --- internals ------------------------------------------------------------------------

    def _all_functions(self) -> Iterator[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
        yield from self.functions.items()
        for cname, cls in self.classes.items():
            for item in cls.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    yield f"{cname}.{item.name}", item

    def _resolve_local(self, name: str) -> list[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
        parts = name.split(".")
        if len(parts) == 1 and parts[0] in self.functions:
            return [(parts[0], self.functions[parts[0]])]
        if len(parts) == 1 and parts[0] in self.classes:
            return [
                (f"{parts[0]}.{m}", fn)
                for m, pairs in self.methods.items()
                for c, fn in pairs
                if c == parts[0] and m in ("__init__", "__new__", "__post_init__")
            ]
        if len(parts) == 2 and parts[0] in ("self", "cls", *self.classes):
            pairs = self.methods.get(parts[1], [])
            if parts[0] in self.classes:
                pairs = [p for p in pairs if p[0] == parts[0]] or pairs
            return [(f"{c}.{parts[1]}", fn) for c, fn in pairs]
        return []

    def _closure(
        self, seeds: list[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]
    ) -> list[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
        seen: dict[str, ast.FunctionDef | ast.AsyncFunctionDef] = {}
        todo = list(seeds)
        steps = 0
        while todo and steps < MAX_CALLS_FOLLOWED:
            steps += 1
            scope, fn = todo.pop()
            if scope in seen:
                continue
            seen[scope] = fn
            for node in body_nodes(fn):
                for name in self._local_callees(node):
                    todo.extend(self._resolve_local(name))
        return list(seen.items())

    def _local_callees(self, node: ast.AST) -> Iterator[str]:
        if isinstance(node, ast.Call):
            name = dotted_name(node.func)
            if name is not None:
                yield name
        elif isinstance(node, (ast.Name, ast.Attribute)) and isinstance(node.ctx, ast.Load):
            # Decorators and callbacks passed by name run too (``@register``, ``map(f, x)``).
            name = dotted_name(node)
            if name is not None and name.split(".")[0] in (
                *self.functions,
                *self.classes,
                *self.local_imports,
            ):
                yield name

    def resolve(self, expr: ast.AST) -> str | None:
        """The dotted global an expression names, through the file's imports, if any."""
        if isinstance(expr, ast.Call):
            fn = self.resolve(expr.func)
            arg = const_str(expr.args[0]) if expr.args else None
            if fn in IMPORTERS and arg is not None:
                return arg  # __import__("os") is the module os
            return None
        if isinstance(expr, ast.Subscript):
            return self._resolve_subscript(expr)
        attrs: list[str] = []
        inner = expr
        while isinstance(inner, ast.Attribute):
            attrs.append(inner.attr)
            inner = inner.value
        if isinstance(inner, (ast.Call, ast.Subscript)):  # __import__("os").system
            mod = self.resolve(inner)
            return ".".join([mod, *reversed(attrs)]) if mod is not None else None
        name = dotted_name(expr)
        if name is None:
            return None
        head, _, rest = name.partition(".")
        if head in self.aliases:
            base = self.aliases[head]
        elif head in BUILTIN_NAMES and head not in self.functions and head not in self.classes:
            base = f"builtins.{head}"
        elif head == "__builtins__":
            base = "builtins"
        else:
            # ``from os import *`` then ``system(...)``: judged as every star module's name.
            star = [f"{m}.{head}" for m in self.star_modules if capability(f"{m}.{head}")]
            if not star:
                return None
            base = star[0]
        return f"{base}.{rest}" if rest else base

    def _resolve_subscript(self, expr: ast.Subscript) -> str | None:
        """``sys.modules["os"]``, ``os.__dict__["system"]``, ``vars(os)["system"]``,
        ``__builtins__["exec"]``: a global reached by a literal key."""
        key = const_str(expr.slice)
        if key is None:
            return None
        value = expr.value
        if (
            isinstance(value, ast.Call)
            and self.resolve(value.func) == "builtins.vars"
            and len(value.args) == 1
        ):
            base = self.resolve(value.args[0])
        else:
            base = self.resolve(value)
        if base is None:
            return None
        if base == "sys.modules":
            return key
        if base.endswith(".__dict__"):
            base = base[: -len(".__dict__")]
        elif base != "builtins":
            return None
        return f"{base}.{key}"

    def _judge_nodes(self, nodes: Iterator[ast.AST], scope: str) -> Iterator[Call]:
        for node in nodes:
            if isinstance(node, ast.Call):
                yield from self._judge_call(node, scope)
            elif isinstance(node, ast.Subscript):
                yield from self._judge_subscript(node, scope)

    def _judge_call(self, node: ast.Call, scope: str) -> Iterator[Call]:
        dotted = self.resolve(node.func)
        line = node.lineno
        # getattr(os, name) / getattr(__import__("os"), "system"): resolve or flag.
        if dotted == "builtins.getattr" and len(node.args) >= 2:
            target = self.resolve(node.args[0])
            attr = const_str(node.args[1])
            if target is not None and attr is not None:
                dotted = f"{target}.{attr}"
            elif target is not None and (
                capability(target + ".x") is not None or target in GADGET_MODULES
            ):
                yield Call(
                    line,
                    f"{target}.<computed>",
                    "dynamic code",
                    "attribute of a dangerous module chosen at run time",
                    scope,
                )
                return
            elif isinstance(node.args[0], ast.Call) and self.resolve(node.args[0].func) in (
                "builtins.globals",
                "builtins.vars",
                "builtins.locals",
            ):
                yield Call(
                    line,
                    "builtins.getattr",
                    "dynamic code",
                    "reaches globals by a computed name",
                    scope,
                )
                return
        if dotted is None:
            return
        if dotted in IMPORTERS:
            if not node.args or const_str(node.args[0]) is None:
                yield Call(
                    line, dotted, "dynamic code", "imports a module chosen at run time", scope
                )
            return
        if dotted.startswith("os.environ") or dotted in ("os.getenv", "os.getenvb"):
            key = const_str(node.args[0]) if node.args else None
            if dotted.endswith((".copy", ".items", ".values", ".keys")) or (
                key is not None and SECRET_ENV.search(key)
            ):
                yield Call(
                    line,
                    dotted,
                    "credential read",
                    "reads secrets from the environment",
                    scope,
                    detail=key or "",
                )
            return
        if dotted in OPENERS and self._writes_outside(node, OPENERS[dotted]):
            yield Call(
                line,
                dotted,
                "file system write",
                "writes a file outside the model directory (home or absolute path)",
                scope,
            )
            return
        if dotted in ("builtins.open", "io.open", "codecs.open", "pathlib.Path") or dotted.endswith(
            ("expanduser", "read_text", "read_bytes")
        ):
            for arg in ast.walk(node):
                text = const_str(arg)
                if text is not None and SECRET_PATHS.search(text):
                    yield Call(
                        line,
                        dotted,
                        "credential read",
                        "reads a credentials file",
                        scope,
                        detail=text,
                    )
                    return
            return
        category = capability(dotted)
        if category is None:
            return
        module, _, name = dotted.rpartition(".")
        verdict = classify_callable(module or "builtins", name)
        if verdict is None or verdict[0] != UNSAFE:
            return
        if (
            name in ("load", "Unpickler")
            and module in FILE_UNPICKLERS
            and not any(
                (isinstance(a, ast.Constant) and isinstance(a.value, bytes))
                or (
                    isinstance(a, ast.Call)
                    and DECODERS.search(dotted_name(a.func) or "") is not None
                )
                for arg in node.args
                for a in ast.walk(arg)
            )
        ):
            # Unpickling a *file*: a file of the model is scanned on its own, like torch.load.
            # Bytes carried in the source (a literal, a decoded blob) are not: those are judged.
            return
        obfuscated = category == "dynamic code" and any(
            isinstance(a, ast.Call) and (DECODERS.search(dotted_name(a.func) or "") is not None)
            for arg in node.args
            for a in ast.walk(arg)
        )
        detail = ""
        if category == "process" and any(
            (t := const_str(a)) is not None and re.search(r"\bpip3?\b|\binstall\b", t)
            for arg in [*node.args, *[k.value for k in node.keywords]]
            for a in ast.walk(arg)
        ):
            category, detail = "package installation", "runs pip"
        yield Call(line, dotted, category, verdict[1], scope, obfuscated, detail)

    def _writes_outside(self, node: ast.Call, mode_index: int) -> bool:
        """``open(path, mode)`` writing to a home or absolute path (persistence, tampering)."""
        if not node.args:
            return False
        mode: ast.AST | None = node.args[mode_index] if len(node.args) > mode_index else None
        for kw in node.keywords:
            if kw.arg in ("mode", "flags"):
                mode = kw.value
        if mode is None:
            return False
        text = const_str(mode)
        if text is not None:
            if not WRITE_MODE.search(text):
                return False
        elif not any(  # os.open flags: O_WRONLY / O_RDWR / O_CREAT / O_APPEND
            isinstance(n, ast.Attribute) and n.attr in ("O_WRONLY", "O_RDWR", "O_CREAT", "O_APPEND")
            for n in ast.walk(mode)
        ):
            return False
        for sub in ast.walk(node.args[0]):
            lit = const_str(sub)
            if lit is not None and lit.startswith(("/", "~")) and not lit.startswith("/tmp"):
                return True
            if isinstance(sub, ast.Call):
                callee = self.resolve(sub.func) or ""
                if callee.endswith(("expanduser", "Path.home")):
                    return True
        return False

    def _judge_subscript(self, node: ast.Subscript, scope: str) -> Iterator[Call]:
        base = self.resolve(node.value)
        key = const_str(node.slice)
        if base == "os.environ" and key is not None and SECRET_ENV.search(key):
            yield Call(
                node.lineno,
                "os.environ",
                "credential read",
                "reads secrets from the environment",
                scope,
                detail=key,
            )
        elif base in ("builtins", "builtins.__dict__") and key in (
            "exec",
            "eval",
            "compile",
            "__import__",
        ):
            yield Call(
                node.lineno,
                f"builtins.{key}",
                "dynamic code",
                "reaches a builtin through __builtins__",
                scope,
            )


def parse_module(text: str | bytes, filename: str = "<model>") -> ModuleInfo:
    """Parse source text (raises :class:`SyntaxError` / :class:`ValueError` when invalid).

    Example:
        >>> m = parse_module("from subprocess import Popen as P\\nP(['id'])\\n")
        >>> [(c.dotted, c.category) for c in m.import_time_calls()]
        [('subprocess.Popen', 'process')]
    """
    tree = parse_python(text, filename=filename)
    info = ModuleInfo(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.asname:
                    info.aliases[a.asname] = a.name
                else:
                    head = a.name.split(".")[0]
                    info.aliases[head] = head
                info.imported_modules.append((a.name, node.lineno))
                info.local_imports.setdefault(
                    a.asname or a.name.split(".")[0], (a.name, None, node.lineno)
                )
        elif isinstance(node, ast.ImportFrom):
            mod = module_name(node)
            info.imported_modules.append((mod, node.lineno))
            for a in node.names:
                if a.name == "*":
                    if node.level == 0:
                        info.star_modules.append(mod)
                    continue
                local = a.asname or a.name
                if node.level == 0:
                    info.aliases[local] = f"{mod}.{a.name}"
                info.local_imports[local] = (mod, a.name, node.lineno)
    # ``run = os.system`` anywhere in the file: ``run`` names os.system from then on. Scopes are
    # merged (stricter), and two passes resolve chains (``a = os; b = a.system``).
    assigns = [
        n
        for n in ast.walk(tree)
        if isinstance(n, (ast.Assign, ast.AnnAssign, ast.NamedExpr)) and n.value is not None
    ]
    for _pass in range(2):
        for n in assigns:
            targets = n.targets if isinstance(n, ast.Assign) else [n.target]
            assert n.value is not None
            dotted = info.resolve(n.value)
            if dotted is None:
                continue
            for t in targets:
                if isinstance(t, ast.Name) and t.id not in info.aliases:
                    info.aliases[t.id] = dotted
    for stmt in tree.body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            info.functions[stmt.name] = stmt
        elif isinstance(stmt, ast.ClassDef):
            info.classes[stmt.name] = stmt
            for item in stmt.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    info.methods.setdefault(item.name, []).append((stmt.name, item))
    return info
