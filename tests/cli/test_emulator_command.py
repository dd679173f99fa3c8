"""``modelsec emulator``: export lines, ``--env`` in a shell, one-line errors (issue 14: 4, 8)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.conftest import base_env

ROOT = Path(__file__).resolve().parents[2]
EXPORTS = (
    "PANW_MODEL_SEC_CLIENT_ID",
    "PANW_MODEL_SEC_CLIENT_SECRET",
    "PANW_MODEL_SEC_TSG_ID",
    "PANW_MODEL_SEC_DATA_ENDPOINT",
    "PANW_MODEL_SEC_MGMT_ENDPOINT",
    "PANW_MODEL_SEC_TOKEN_ENDPOINT",
)


def env_with_path() -> dict[str, str]:
    env = base_env()
    env["PYTHONPATH"] = str(ROOT)
    return env


def emulator_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "modelsec", "emulator", *args]


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A loopback port some other socket listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        yield int(s.getsockname()[1])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--port", "99999"], "port 99999 is out of range"),
        (["--port", "http"], "not a port number"),
        (["--host", "192.0.2.1", "--port", "0"], "cannot listen on 192.0.2.1:0"),
        (["--tenant", "abc"], "expected CLIENT_ID:SECRET:TSG_ID"),
    ],
)
def test_bad_listen_settings_are_one_line(args: list[str], message: str) -> None:
    proc = subprocess.run(
        emulator_cmd(*args),
        env=env_with_path(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert message in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "Traceback" not in proc.stderr


def test_busy_port_is_one_line(busy_port: int) -> None:
    for cmd in (
        emulator_cmd("--port", str(busy_port)),
        [sys.executable, "-m", "modelsec.emulator", "--port", str(busy_port)],
    ):
        proc = subprocess.run(
            cmd, env=env_with_path(), capture_output=True, text=True, timeout=60, check=False
        )
        assert proc.returncode == 2
        assert proc.stderr.strip().endswith(
            f"error: cannot listen on 127.0.0.1:{busy_port}: the port is in use "
            "(try --port 0 for a free one)"
        ), proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_foreground_prints_ready_to_copy_exports() -> None:
    with subprocess.Popen(
        emulator_cmd("--port", "0"),
        env=env_with_path(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        try:
            assert proc.stdout is not None
            first = proc.stdout.readline()
            assert first.startswith("modelsec-emulator listening on http://127.0.0.1:")
            lines = [proc.stdout.readline().rstrip("\n") for _ in range(len(EXPORTS) + 2)]
        finally:
            _stop(proc)
    exports = [ln for ln in lines if ln.startswith("export ")]
    assert [ln.split("=", 1)[0][len("export ") :] for ln in exports] == [
        *EXPORTS,
        "MODELSEC_EMULATOR_PID",
    ]
    base = first.split()[3]
    assert f"export PANW_MODEL_SEC_DATA_ENDPOINT={base}/aims/data" in exports
    assert f"export PANW_MODEL_SEC_TOKEN_ENDPOINT={base}/oauth2/access_token" in exports
    assert proc.returncode == 0


@pytest.mark.parametrize(
    "start",
    [
        'eval "$(modelsec emulator --env --port 0 --settle-delay 0.1)"',
        'eval "$(modelsec emulator --env --port 0 --settle-delay 0.1 &)"',
    ],
    ids=["plain", "ampersand"],
)
def test_env_in_the_background_from_a_shell(start: str, tmp_path: Path) -> None:
    """The README's recipe: eval "$(modelsec emulator --env)", use it, kill it.

    ``modelsec`` is a shell function here, the hardest case: a wrapper stays alive as long
    as what it runs, so only a server that truly detaches lets the substitution return.
    """
    pid_file = tmp_path / "pid"
    script = f"""
set -e
modelsec() {{ {sys.executable} -m modelsec "$@"; }}
{start}
echo "$MODELSEC_EMULATOR_PID" > {pid_file}
modelsec groups list --source-type local --format json
kill "$MODELSEC_EMULATOR_PID"
"""
    try:
        proc = subprocess.run(
            ["bash", "-c", script],
            env=env_with_path(),
            capture_output=True,
            text=True,
            timeout=90,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        groups = json.loads(proc.stdout)
        assert [g["name"] for g in groups] == ["Default LOCAL"]
        pid = int(pid_file.read_text())
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.1)
        assert not _alive(pid), "kill $MODELSEC_EMULATOR_PID did not stop it"
    finally:
        if pid_file.exists() and pid_file.read_text().strip():
            pid = int(pid_file.read_text())
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by its vanished parent's reaper) counts as stopped.
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def test_env_prints_only_export_lines_and_returns(busy_port: int) -> None:
    proc = subprocess.run(
        emulator_cmd("--env", "--port", "0"),
        env=env_with_path(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    lines = proc.stdout.splitlines()
    pid = int(lines[-1].rpartition("=")[2]) if lines else 0
    try:
        assert proc.returncode == 0, proc.stderr
        assert proc.stderr == ""
        assert [ln.split("=", 1)[0] for ln in lines] == [
            *(f"export {v}" for v in EXPORTS),
            "export MODELSEC_EMULATOR_PID",
        ]
        assert _alive(pid)  # the server runs on after the command returned
    finally:
        if pid and _alive(pid):
            os.kill(pid, signal.SIGTERM)
    # A port it cannot take: the error comes back from the background, nothing is exported.
    proc = subprocess.run(
        emulator_cmd("--env", "--port", str(busy_port)),
        env=env_with_path(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.strip() == (
        f"modelsec emulator: error: cannot listen on 127.0.0.1:{busy_port}: the port is in "
        "use (try --port 0 for a free one)"
    )
