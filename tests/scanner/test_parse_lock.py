"""Python sources are parsed one thread at a time.

CPython keeps the AST constructor's recursion depth in interpreter-wide state; two threads
building syntax trees at once can fail with "SystemError: AST constructor recursion depth
mismatch" (gh-106905), which a scan would report as an internal error. scan_many and the
emulator scan in worker threads, so every parse of model code goes through one lock.
"""

from __future__ import annotations

import ast
import threading
import time
from typing import Any

import pytest

from modelsec.scanner import pysource
from modelsec.scanner.pytorch import check_torchscript_code


def test_parses_never_overlap(monkeypatch: pytest.MonkeyPatch) -> None:
    inside = 0
    most = 0
    guard = threading.Lock()
    real_parse = ast.parse

    def slow_parse(*args: Any, **kwargs: Any) -> Any:
        nonlocal inside, most
        with guard:
            inside += 1
            most = max(most, inside)
        time.sleep(0.005)  # long enough for the other threads to arrive
        try:
            return real_parse(*args, **kwargs)
        finally:
            with guard:
                inside -= 1

    monkeypatch.setattr(ast, "parse", slow_parse)
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            for _ in range(5):
                if i % 2:
                    pysource.parse_module("import os\nos.getcwd()\n")
                else:
                    check_torchscript_code("def f(self):\n  return self.x + 1\n")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert most == 1  # without the lock 8 threads overlap here
