"""The "waiting for HOST" line: drawn on a terminal after a second, erased after, never
elsewhere (issue 14 point 6). The terminal is a pty; the server a slow loopback emulator."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelsec.emulator import EmulatorThread, Faults
from tests.cli.conftest import base_env

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def slow_emulator() -> Iterator[EmulatorThread]:
    """Every request, the token fetch included, takes 1.2 s."""
    faults = Faults(latency=1.2, include_token_endpoint=True)
    with EmulatorThread(port=0, activation_delay=0.0, faults=faults) as emu:
        yield emu


def slow_env(emu: EmulatorThread) -> dict[str, str]:
    kw = emu.client_kwargs()
    env = base_env()
    for name in ("CI", "MODELSEC_NO_PROGRESS", "NO_COLOR"):
        env.pop(name, None)
    env["PYTHONPATH"] = str(ROOT)
    env["TERM"] = "xterm"
    env.update(
        {
            "PANW_MODEL_SEC_CLIENT_ID": kw["client_id"],
            "PANW_MODEL_SEC_CLIENT_SECRET": kw["client_secret"],
            "PANW_MODEL_SEC_TSG_ID": kw["tsg_id"],
            "PANW_MODEL_SEC_DATA_ENDPOINT": kw["data_endpoint"],
            "PANW_MODEL_SEC_MGMT_ENDPOINT": kw["mgmt_endpoint"],
            "PANW_MODEL_SEC_TOKEN_ENDPOINT": kw["token_endpoint"],
        }
    )
    return env


def run_on_pty(
    args: list[str], env: dict[str, str], *, stdout_too: bool = False
) -> tuple[int, str, str]:
    """Run the CLI with stderr (and stdout) on a pty; (status, stdout, what the terminal got)."""
    master, slave = os.openpty()
    try:
        with subprocess.Popen(
            [sys.executable, "-m", "modelsec", *args],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=slave if stdout_too else subprocess.PIPE,
            stderr=slave,
        ) as proc:
            os.close(slave)
            slave = -1
            terminal = bytearray()
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                ready, _, _ = select.select([master], [], [], 0.2)
                if ready:
                    try:
                        chunk = os.read(master, 4096)
                    except OSError:  # EIO: the last writer closed the pty
                        break
                    if not chunk:
                        break
                    terminal += chunk
                elif proc.poll() is not None:
                    break
            out = "" if proc.stdout is None else proc.stdout.read().decode()
            status = proc.wait(30)
    finally:
        os.close(master)
        if slave >= 0:
            os.close(slave)
    return status, out, terminal.decode(errors="replace")


def test_a_slow_wait_shows_a_line_on_a_terminal_and_erases_it(
    slow_emulator: EmulatorThread,
) -> None:
    status, out, terminal = run_on_pty(
        ["groups", "list", "--source-type", "LOCAL"], slow_env(slow_emulator)
    )
    assert status == 0, terminal
    assert "Default LOCAL" in out  # the output itself is untouched
    host = f"127.0.0.1:{slow_emulator.bound_port}"
    assert f"waiting for {host} (" in terminal
    # ... and it is erased: the terminal ends with a blank carriage-returned line.
    assert terminal.rstrip(" ").endswith("\r"), repr(terminal[-200:])
    assert "\n" not in terminal.replace("\r\n", "\n").strip("\r \n"), repr(terminal)


def test_quiet_draws_nothing(slow_emulator: EmulatorThread) -> None:
    status, _out, terminal = run_on_pty(["-q", "rules", "list"], slow_env(slow_emulator))
    assert status == 0, terminal
    assert terminal == ""


def test_nothing_when_stderr_is_not_a_terminal(slow_emulator: EmulatorThread) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "modelsec", "rules", "list"],
        env=slow_env(slow_emulator),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""


def screen(raw: str) -> list[str]:
    """What a terminal shows: each line after carriage returns overwrote it."""
    lines = []
    for line in raw.replace("\r\n", "\n").split("\n"):
        shown: list[str] = []
        col = 0
        for ch in line:
            if ch == "\r":
                col = 0
                continue
            if col < len(shown):
                shown[col] = ch
            else:
                shown.append(ch)
            col += 1
        lines.append("".join(shown).rstrip())
    return lines


def test_output_on_the_same_terminal_is_untouched(slow_emulator: EmulatorThread) -> None:
    env = slow_env(slow_emulator)
    plain = subprocess.run(
        [sys.executable, "-m", "modelsec", "rules", "list", "--limit", "3", "-f", "json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert plain.returncode == 0, plain.stderr
    status, _, terminal = run_on_pty(
        ["rules", "list", "--limit", "3", "-f", "json"], env, stdout_too=True
    )
    assert status == 0, terminal
    assert "waiting for" in terminal  # the line was drawn ...
    shown = [ln for ln in screen(terminal) if ln]
    assert shown == [ln.rstrip() for ln in plain.stdout.splitlines()]  # ... and left no trace


def test_scan_shows_the_wait_then_its_progress(
    slow_emulator: EmulatorThread, tmp_path: Path
) -> None:
    from modelsec.cli.demo import write_benign_model

    model = write_benign_model(tmp_path / "model")
    env = slow_env(slow_emulator)
    args = ["scan", str(model), "-f", "json", "--poll-interval", "0.1"]
    status, out, terminal = run_on_pty(args, env)
    assert status == 0, terminal
    assert '"outcome": "ALLOWED"' in out
    wait_at = terminal.index("waiting for 127.0.0.1:")  # token + group lookup: silent before
    assert "scanning" in terminal[wait_at:]  # then the scan's own progress display
    plain = subprocess.run(
        [sys.executable, "-m", "modelsec", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert plain.returncode == 0, plain.stderr
    assert plain.stderr == ""
