"""Every Python block of the README runs as pasted, against the emulator (issue 14 point 11).

Three kinds of block:

* a program (no top-level ``await``): run by a fresh interpreter in a directory holding
  ``./models/bert``, with the environment pointing at the emulator and ``GROUP_UUID`` /
  ``LOCAL_GROUP_UUID`` set, as the README's quick start says;
* a snippet with top-level ``await``: run as the asyncio REPL (``python -m asyncio``) would,
  with the names the README promises (``client``, ``GROUP_UUID``, ``targets``, ``scan_uuid``);
* ``<!-- readme-test: pytest -->``: a test file, run by pytest in a throwaway project.

``<!-- readme-test: skip: REASON -->`` leaves a block out; the list is pinned below.
"""

from __future__ import annotations

import ast
import contextlib
import inspect
import io
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from modelsec import AsyncModelSecurityClient
from modelsec.cli.demo import write_benign_model
from modelsec.emulator import EmulatorThread
from tests.integration.test_pytest_plugin import assert_passed, run_project

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"

_BLOCK = re.compile(
    r"(?:<!-- readme-test: (?P<mark>[^\n]*?) -->\n)?```python\n(?P<code>.*?)^```",
    re.S | re.M,
)

# The only blocks not run, each with the reason the README gives next to it.
SKIPPED = {
    "an excerpt of examples/fastapi_app.py, which tests/integration/test_examples.py runs",
    # Object storage needs a bucket: the storage suite (pytest -m storage) makes the same calls
    # against real local servers.
    "needs a bucket; tests/storage runs these calls against moto, Azurite, the GCS emulator "
    "and registry fakes",
}


@dataclass
class Block:
    line: int
    mark: str
    code: str

    @property
    def kind(self) -> str:
        if self.mark.startswith("skip"):
            return "skip"
        if self.mark == "pytest":
            return "pytest"
        try:
            compile(self.code, "README.md", "exec")
        except SyntaxError:
            compile(self.code, "README.md", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
            return "await"
        return "program"


def readme_blocks() -> list[Block]:
    text = README.read_text(encoding="utf-8")
    return [
        Block(text.count("\n", 0, m.start("code")) + 1, m.group("mark") or "", m.group("code"))
        for m in _BLOCK.finditer(text)
    ]


BLOCKS = readme_blocks()


def by_kind(kind: str) -> list[Block]:
    return [b for b in BLOCKS if b.kind == kind]


def ids(blocks: list[Block]) -> list[str]:
    return [f"README.md:{b.line}" for b in blocks]


def test_every_block_is_accounted_for() -> None:
    assert len(BLOCKS) >= 8
    assert by_kind("program") and by_kind("await") and by_kind("pytest")
    reasons = {b.mark.partition(":")[2].strip() for b in by_kind("skip")}
    assert reasons == SKIPPED


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorThread]:
    hub = tmp_path_factory.mktemp("hub")
    write_benign_model(hub / "huggingface" / "my-org" / "my-model")
    with EmulatorThread(port=0, settle_delay=0.05, activation_delay=0.0, hub=hub) as emu:
        yield emu


def group_uuid(emu: EmulatorThread, name: str) -> str:
    async def find() -> str:
        async with AsyncModelSecurityClient(**emu.client_kwargs()) as client:
            async for g in client.security_groups.list(search_query=name):
                if g.name == name:
                    return g.uuid
        raise AssertionError(name)

    import asyncio

    return asyncio.run(find())


@pytest.fixture(scope="module")
def groups(emulator: EmulatorThread) -> dict[str, str]:
    return {
        "GROUP_UUID": group_uuid(emulator, "Default HUGGING_FACE"),
        "LOCAL_GROUP_UUID": group_uuid(emulator, "Default LOCAL"),
    }


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    write_benign_model(tmp_path / "models" / "bert")
    return tmp_path


def one_line_outputs(out: str) -> None:
    for line in out.splitlines():
        assert len(line) < 400, f"a kilobyte line: {line[:200]}..."
        assert line.strip() != "ERROR", "a bare ERROR that does not say why"


@pytest.mark.parametrize("block", by_kind("program"), ids=ids(by_kind("program")))
def test_programs_run_as_pasted(
    block: Block, emulator: EmulatorThread, groups: dict[str, str], workdir: Path
) -> None:
    kw = emulator.client_kwargs()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PANW_", "MODEL_SECURITY"))}
    env.update({f"PANW_MODEL_SEC_{k.upper()}": v for k, v in kw.items()})
    env.update(groups)
    env["PYTHONPATH"] = str(ROOT)
    proc = subprocess.run(
        [sys.executable, "-c", block.code],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip()
    one_line_outputs(proc.stdout)


@pytest.mark.parametrize("block", by_kind("await"), ids=ids(by_kind("await")))
async def test_await_snippets_run_as_pasted(
    block: Block,
    emulator: EmulatorThread,
    groups: dict[str, str],
    workdir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(workdir)
    client = AsyncModelSecurityClient(**emulator.client_kwargs())
    namespace: dict[str, Any] = {
        "__name__": "__main__",
        "client": client,
        "GROUP_UUID": groups["GROUP_UUID"],
        "targets": ["hf://my-org/my-model", "hf://my-org/no-such-model"],
        "scan_uuid": str(uuid.uuid4()),
    }
    code = compile(
        block.code, f"README.md:{block.line}", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
    )
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            result = eval(code, namespace)  # the asyncio REPL's way of running pasted code
            if inspect.iscoroutine(result):
                await result
    finally:
        await client.close()
    one_line_outputs(out.getvalue())


@pytest.mark.parametrize("block", by_kind("pytest"), ids=ids(by_kind("pytest")))
def test_pytest_snippets_pass_in_a_fresh_project(block: Block, tmp_path: Path) -> None:
    tests = block.code.replace("import pytest\n", "", 1)  # run_project adds it
    proc = run_project(tmp_path, "", tests)
    assert_passed(proc, len(re.findall(r"^(?:async )?def test_", block.code, re.M)))
