"""Reading Python syntax trees of model code: parsing it safely, and what runs at import.

Shared by :mod:`modelsec.scanner.pysource` (``.py`` files a loader runs) and the TorchScript
checks of :mod:`modelsec.scanner.pytorch`. Parsing only: nothing here compiles or runs code.

Example:
    >>> tree = parse_python("import os\\nif __name__ == '__main__':\\n    os.system('x')\\n")
    >>> [type(n).__name__ for n in import_time_nodes(tree.body)]
    ['alias', 'Import']
"""

from __future__ import annotations

import ast
import threading
from collections.abc import Iterator

__all__ = [
    "body_nodes",
    "const_str",
    "dotted_name",
    "import_time_nodes",
    "is_main_guard",
    "module_name",
    "parse_python",
]


def dotted_name(expr: ast.AST) -> str | None:
    """``a.b.c`` for a chain of attributes on a name, else None."""
    parts: list[str] = []
    while isinstance(expr, ast.Attribute):
        parts.append(expr.attr)
        expr = expr.value
    if isinstance(expr, ast.Name):
        parts.append(expr.id)
        return ".".join(reversed(parts))
    return None


def const_str(expr: ast.AST) -> str | None:
    """The value of a string literal, else None."""
    if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
        return expr.value
    return None


def is_main_guard(stmt: ast.stmt) -> bool:
    """``if __name__ == "__main__":`` (runs only as a script, never on import)."""
    if not isinstance(stmt, ast.If):
        return False
    t = stmt.test
    return (
        isinstance(t, ast.Compare)
        and isinstance(t.left, ast.Name)
        and t.left.id == "__name__"
        and len(t.comparators) == 1
        and const_str(t.comparators[0]) == "__main__"
    )


def import_time_nodes(body: list[ast.stmt]) -> Iterator[ast.AST]:
    """Every node evaluated when a statement list runs as a module or class body."""
    for stmt in body:
        if is_main_guard(stmt):
            continue  # runs only as a script, never on import
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for expr in [*stmt.decorator_list, *stmt.args.defaults, *stmt.args.kw_defaults]:
                if expr is not None:
                    yield from ast.walk(expr)
            continue
        if isinstance(stmt, ast.ClassDef):
            for expr in [*stmt.decorator_list, *stmt.bases, *(k.value for k in stmt.keywords)]:
                yield from ast.walk(expr)
            yield from import_time_nodes(stmt.body)
            continue
        for child in ast.iter_child_nodes(stmt):
            if isinstance(child, ast.stmt):
                yield from import_time_nodes([child])
            else:
                yield from ast.walk(child)
        yield stmt


def body_nodes(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> Iterator[ast.AST]:
    """Every node of a function's body (what runs when it is called)."""
    for stmt in fn.body:
        yield from ast.walk(stmt)


def module_name(node: ast.ImportFrom) -> str:
    """The module a ``from ... import`` names, with its leading dots."""
    return "." * node.level + (node.module or "")


# CPython (3.11 at least) keeps the AST constructor's recursion depth in interpreter-wide state:
# two threads building syntax trees at once (scan_many's worker threads, the emulator's) can
# corrupt it and fail with "SystemError: AST constructor recursion depth mismatch". Parses
# here take turns; they are short next to reading the file.
_AST_LOCK = threading.Lock()


def parse_python(text: str | bytes, *, filename: str = "<unknown>") -> ast.Module:
    """``ast.parse`` of untrusted source, one thread at a time (never compiled or run).

    Example:
        >>> type(parse_python("x = 1\\n").body[0]).__name__
        'Assign'
    """
    with _AST_LOCK:
        return ast.parse(text, filename=filename)
