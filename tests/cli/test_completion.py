"""``modelsec completion bash|zsh|fish``: scripts generated from the argparse tree.

bash is driven for real (the completion function with COMP_WORDS set, as bash calls it). zsh
runs the same function through bashcompinit; fish has its own script. Both are run too when the
shell is installed (zsh's compgen does not filter by prefix: zsh filters after it).
"""

from __future__ import annotations

import shutil
import subprocess

import pytest

from modelsec.cli import build_parser
from modelsec.cli.completion import command_tree, render

CASES = [
    (["modelsec", ""], {"scan", "scans", "groups", "emulator", "completion", "demo"}),
    (["modelsec", "sc"], {"scan", "scans"}),
    (["modelsec", "scans", ""], {"list", "get", "violations", "labels"}),
    (["modelsec", "scans", "labels", ""], {"add", "set", "delete"}),
    (["modelsec", "scans", "list", "--outcome", ""], {"PENDING", "ALLOWED", "BLOCKED", "ERROR"}),
    (["modelsec", "-v", "--client-id", "X", "scans", "list", "--so"], {"--source-type", "--sort"}),
    (["modelsec", "security-groups", "li"], {"list"}),
    (["modelsec", "groups", "list", "--format", ""], {"table", "json"}),
    (["modelsec", "scan", "--format", "s"], {"sarif"}),
    (["modelsec", "completion", ""], {"bash", "zsh", "fish"}),
    (["modelsec", "emulator", "--p"], {"--port"}),
]

DRIVER = """
source "$1"; shift
COMP_WORDS=("$@"); COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 )); COMPREPLY=()
_modelsec
printf '%s\\n' "${COMPREPLY[@]}"
"""


def complete(shell: str, script: str, words: list[str], tmp_path: object) -> set[str]:
    from pathlib import Path

    path = Path(str(tmp_path)) / f"modelsec.{shell}"
    path.write_text(script)
    if shell == "bash":
        argv = ["bash", "-c", DRIVER, "driver", str(path), *words]
    elif shell == "zsh":
        argv = ["zsh", "-f", "-c", "setopt ksharrays; " + DRIVER, "driver", str(path), *words]
    else:
        line = " ".join(words)
        argv = ["fish", "--no-config", "-c", f"source {path}; complete -C{line!r}"]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    return {ln.split("\t")[0] for ln in proc.stdout.splitlines() if ln}


@pytest.mark.parametrize(("words", "expected"), CASES, ids=lambda c: " ".join(c)[:40])
def test_bash_completes_from_the_tree(
    words: list[str], expected: set[str], tmp_path: object
) -> None:
    got = complete("bash", render(build_parser(), "bash"), words, tmp_path)
    check(got, expected, words[-1])


def check(got: set[str], expected: set[str], prefix: str) -> None:
    assert expected <= got
    assert all(w.startswith(prefix) for w in got), got
    if prefix:  # a prefix narrows to exactly what matches
        assert got == expected


@pytest.mark.parametrize("shell", ["zsh", "fish"])
@pytest.mark.parametrize(("words", "expected"), CASES, ids=lambda c: " ".join(c)[:40])
def test_zsh_and_fish_complete_when_installed(
    shell: str, words: list[str], expected: set[str], tmp_path: object
) -> None:
    script = render(build_parser(), shell)
    tree = command_tree(build_parser())
    # Whatever the machine has: the script holds every command and option of the tree ...
    for path, node in tree.items():
        for name in node.subcommands:
            assert f"{' '.join(path)}|{name}" in script
        for option in node.options:
            assert option.lstrip("-") in script
    # ... and where the shell is installed, it completes like bash.
    if shutil.which(shell):
        got = complete(shell, script, words, tmp_path)
        if shell == "zsh":
            got = {w for w in got if w.startswith(words[-1])}
        check(got, expected, words[-1])


def test_completion_command_prints_a_script(capsys: pytest.CaptureFixture[str]) -> None:
    from modelsec.cli import main

    assert main(["completion", "bash"]) == 0
    assert "complete -o default -F _modelsec modelsec" in capsys.readouterr().out
    assert main(["completion", "powershell"]) == 2
