"""Which Python interpreters will load the model: the scan's ``target_python``.

A function pickled by value (cloudpickle, dill) is raw bytecode, and bytecode means something
else in every CPython minor version: the same bytes that add two numbers under 3.11 are a
specialized instruction reading past the stack under 3.13. Such code can therefore only be
judged for the interpreters that will load it. The scan names them:

* by default, the interpreter running the scan (``"3.11"`` here on CPython 3.11): scan where
  you deploy, or say where you deploy;
* ``"3.12"`` or ``"3.11,3.12"``: those CPython versions (``"pypy"`` for PyPy);
* ``"any"``: every interpreter that could load the file, the strictest reading (real lambdas
  then never pass: no version's bytecode is inert under all the others).

Only the bytecode judge depends on it: every other finding is the same for all targets.

Example:
    >>> parse_target_python("3.12, 3.11")
    ('3.11', '3.12')
    >>> parse_target_python("any") == ANY_PYTHON
    True
    >>> running_python() == "{}.{}".format(*__import__("sys").version_info[:2])
    True
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable

__all__ = [
    "ANY_PYTHON",
    "KNOWN_PYTHONS",
    "describe_targets",
    "parse_target_python",
    "resolve_targets",
    "running_python",
]

#: Every interpreter a pickled code object can be built in, as far as the judge knows
#: (CodeType layouts of CPython 3.8+, and PyPy's). Later versions are accepted as targets too;
#: without opcode tables for them, code judged for them is never proven inert.
KNOWN_PYTHONS: tuple[str, ...] = ("3.8", "3.9", "3.10", "3.11", "3.12", "3.13", "3.14", "pypy")
#: ``target_python="any"``: judge for every interpreter that could load the file.
ANY_PYTHON: tuple[str, ...] = ("any",)

_VERSION = re.compile(r"3\.(?:[0-9]|[1-9][0-9])")


def running_python() -> str:
    """The interpreter running this code, as a target: ``"3.11"``, or ``"pypy"``.

    Example:
        >>> running_python().startswith("3.") or running_python() == "pypy"
        True
    """
    name = sys.implementation.name
    if name == "cpython":
        return f"{sys.version_info.major}.{sys.version_info.minor}"
    return name


def parse_target_python(spec: str | Iterable[str] | None) -> tuple[str, ...] | None:
    """Normalise a ``target_python`` value; ``None`` stays ``None`` (the running interpreter).

    Accepts ``"3.11"``, ``"pypy"``, ``"any"``, a comma-separated list of those, or a sequence
    of them. Raises :class:`ValueError` (naming the bad item) for anything else.

    Example:
        >>> parse_target_python(["pypy", "3.13", "3.13"])
        ('3.13', 'pypy')
        >>> parse_target_python("3.x")
        Traceback (most recent call last):
        ...
        ValueError: target_python: '3.x' is not a Python version (3.N), 'pypy' or 'any'
    """
    if spec is None:
        return None
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    found: set[str] = set()
    for raw in items:
        item = str(raw).strip().lower() if isinstance(raw, str) else raw
        if not isinstance(item, str) or not (item in ("pypy", "any") or _VERSION.fullmatch(item)):
            raise ValueError(
                f"target_python: {str(raw)[:40]!r} is not a Python version (3.N), 'pypy' or 'any'"
            )
        found.add(item)
    if not found:
        raise ValueError("target_python: name at least one interpreter (3.N, 'pypy' or 'any')")
    if "any" in found:
        return ANY_PYTHON
    return tuple(sorted(found, key=_order))


def _order(version: str) -> tuple[int, int]:
    return (1, 0) if version == "pypy" else (0, int(version.split(".")[1]))


def resolve_targets(targets: tuple[str, ...] | None) -> tuple[str, ...]:
    """The interpreters to judge for: the running one when ``targets`` is ``None``.

    Example:
        >>> resolve_targets(("3.12",)), resolve_targets(None) == (running_python(),)
        (('3.12',), True)
    """
    return (running_python(),) if targets is None else targets


def describe_targets(targets: tuple[str, ...] | None) -> str:
    """How a finding names the interpreters it judged for.

    Example:
        >>> describe_targets(("3.12", "pypy"))
        'CPython 3.12, PyPy'
        >>> describe_targets(None).endswith("(the interpreter running the scan)")
        True
    """
    if targets == ANY_PYTHON:
        return "every interpreter that could load it"
    names = ", ".join("PyPy" if t == "pypy" else f"CPython {t}" for t in resolve_targets(targets))
    return f"{names} (the interpreter running the scan)" if targets is None else names
