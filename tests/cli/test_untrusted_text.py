"""Untrusted text never reaches the terminal raw (issue 14, point 3).

A model whose file names carry an ESC sequence (``\\x1b[2J`` clears the screen) and a newline
followed by ``::error::`` (a GitHub Actions workflow command) is scanned through the real entry
point, offline and through the emulator; every text output must show those characters escaped.
"""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest

from modelsec.cli.common import print_table
from modelsec.cli.demo import malicious_pickle
from modelsec.cli.formats import ModelResult, Report, ViolationRecord, render, safe_text
from tests.cli.conftest import run_cli

EVIL = "x\x1b[2J\x1b]0;owned\x07\n::error::pwned\u202e.pkl"
FAST = ("--poll-interval", "0.05")


@pytest.fixture(scope="module")
def crafted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model directory: a pickle calling os.system under a hostile name, and a zip whose
    member carries the same name."""
    root = tmp_path_factory.mktemp("crafted") / "model"
    root.mkdir()
    (root / EVIL).write_bytes(malicious_pickle())
    with zipfile.ZipFile(root / "weights.zip", "w") as zf:
        zf.writestr("inner\x1b[2J\n::error::zip-pwned.pkl", malicious_pickle())
    return root


def assert_clean(text: str) -> None:
    """No control character but our own newlines; no line a CI runner reads as a command."""
    bad = {c for c in text if not c.isprintable() and c != "\n"}
    assert not bad, f"raw control characters {bad!r} in {text!r}"
    for line in text.splitlines():
        assert not line.lstrip().startswith("::"), line


@pytest.mark.parametrize("fmt", ["text", "junit"])
def test_offline_text_outputs_escape_file_names(crafted: Path, fmt: str) -> None:
    r = run_cli("scan", "--offline", str(crafted), "-f", fmt)
    assert r.code == 1, (r.out, r.err)
    assert_clean(r.out)
    assert_clean(r.err)
    assert "x\\x1b[2J\\x1b]0;owned\\x07\\n::error::pwned\\u202e.pkl" in r.out
    if fmt == "junit":
        ET.fromstring(r.out)  # XML 1.0 cannot even hold an ESC: it must stay parseable


@pytest.mark.parametrize("fmt", ["json", "sarif"])
def test_structured_outputs_keep_the_exact_name(crafted: Path, fmt: str) -> None:
    # JSON and SARIF are for programs: the encoder escapes, the decoded value is exact.
    r = run_cli("scan", "--offline", str(crafted), "-f", fmt)
    assert r.code == 1, r.err
    assert_clean(r.out)
    assert any(EVIL in value for value in _strings(json.loads(r.out)))


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def test_online_text_and_tables_escape_what_the_service_returns(
    crafted: Path, cli_env: dict[str, str]
) -> None:
    r = run_cli("scan", *FAST, str(crafted), env=cli_env)
    assert r.code == 1, (r.out, r.err)
    assert_clean(r.out)
    assert "::error::pwned" in r.out  # shown, escaped, on a line of its own making
    r = run_cli("scan", *FAST, str(crafted), "-f", "json", env=cli_env)
    scan_uuid = json.loads(r.out)["results"][0]["scan_uuid"]
    for command in (["scans", "files", scan_uuid], ["scans", "violations", scan_uuid]):
        t = run_cli(*command, env=cli_env)
        assert t.code == 0, t.err
        assert_clean(t.out)
        assert "::error::pwned" in t.out


def test_error_lines_escape(tmp_path: Path) -> None:
    model = tmp_path / "m.pkl"
    model.write_bytes(malicious_pickle())
    out = tmp_path / "no\x1b[2J\n::error::pwned" / "report.sarif"  # a directory that is missing
    r = run_cli("scan", "--offline", str(model), "-f", "sarif", "-o", str(out))
    assert r.code == 2
    assert r.err.count("\n") == 1 and r.err.startswith("modelsec: error: cannot write")
    assert_clean(r.err)
    assert "no\\x1b[2J" in r.err


def test_renderers_escape_every_field() -> None:
    nasty = "a\x1b[31m\r\n::warning::b\x9b"
    v = ViolationRecord(
        rule_name=nasty,
        rule_instance_state="BLOCKING",
        description=nasty,
        file=nasty,
        threat=nasty,
        remediation_steps=[nasty],
    )
    report = Report(
        mode="online",
        results=[
            ModelResult(
                target=nasty,
                outcome="BLOCKED",
                security_group_name=nasty,
                scan_uuid=nasty,
                violations=[v],
            ),
            ModelResult(target=nasty, outcome="ERROR", error_code=nasty, error_message=nasty),
        ],
    )
    for fmt in ("text", "junit", "json", "sarif"):
        out = render(report, fmt)
        assert_clean(out)
    text = render(report, "text")
    assert text.count(safe_text(nasty)) >= 9
    # colour codes are ours and still work on a terminal
    assert "\x1b[1;31m" in render(report, "text", colour=True)


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("terminal", [False, True])
def test_tables_escape_and_never_read_markup(terminal: bool) -> None:
    # On a terminal, tables are drawn by rich when installed: a name must not be read as markup.
    if terminal:
        import rich  # noqa: F401 -- in the test extra: this path must run, never skip
    stream: io.StringIO = _Terminal() if terminal else io.StringIO()
    rows = [{"name": "[bold red]pwned[/]", "path": "a\x1b[2J\n::error::b"}]
    print_table(["name", "path"], rows, stream)
    out = stream.getvalue()
    assert "[bold red]pwned[/]" in out
    assert "a\\x1b[2J\\n::error::b" in out
    assert "\x1b[2J" not in out and "\n::" not in out
