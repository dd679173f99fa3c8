"""Every example in every docstring of the package runs (so the documentation cannot rot).

Examples that need a live service are written as function definitions, which doctest runs
(defines) without calling.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import modelsec

MODULES = sorted(
    m.name
    for m in pkgutil.walk_packages(modelsec.__path__, "modelsec.")
    if not m.name.endswith("__main__")
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS, verbose=False)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"


def test_every_public_name_documented() -> None:
    missing = [
        f"modelsec.{name}"
        for name in modelsec.__all__
        if not name.startswith("_")
        and not isinstance(getattr(modelsec, name), str)
        and not (getattr(modelsec, name).__doc__ or "").strip()
    ]
    assert missing == []
