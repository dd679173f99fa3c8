"""Issues 13/14 for the sync client: its closed-client error, and a client nobody closed.

A sync client that is never closed is closed on the portal loop (the only thread that may touch
its sockets) when it is collected or at exit, with one ResourceWarning per process, and nothing
else on stderr: no aiohttp ``Unclosed client session``, no cross-thread loop error under
``python -X dev``.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

import modelsec
from modelsec.emulator import EmulatorThread
from modelsec.sync import ModelSecurityClient, _portal
from tests.sync.conftest import FakeServer, scan_uuid

ROOT = Path(__file__).resolve().parents[2]


def test_use_after_close_raises_the_sdk_error(fake: FakeServer) -> None:
    client = ModelSecurityClient(**fake.client_kwargs())
    client.scans.get(scan_uuid(0))
    client.close()
    with pytest.raises(modelsec.ClientClosedError) as info:
        client.scans.get(scan_uuid(0))
    assert isinstance(info.value, modelsec.AISecSDKException)
    with pytest.raises(modelsec.ClientClosedError):
        client.scans.list()


def test_abandoned_client_is_closed_on_its_loop_with_one_warning(
    fake: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_portal, "_warned_unclosed", False)
    sessions = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(2):
            client = ModelSecurityClient(**fake.client_kwargs())
            client.scans.get(scan_uuid(0))
            session = client._async._transport._session
            assert session is not None and not session.closed
            sessions.append(session)
            del client
            gc.collect()
        deadline = time.monotonic() + 10
        while not all(s.closed for s in sessions) and time.monotonic() < deadline:
            time.sleep(0.01)
    assert all(s.closed for s in sessions)
    messages = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert len(messages) == 1, messages  # once per process, however many clients
    assert "ModelSecurityClient was not closed" in messages[0]
    assert "with ModelSecurityClient() as client" in messages[0]


@pytest.fixture
def emulator() -> Iterator[EmulatorThread]:
    with EmulatorThread(port=0, settle_delay=0.05) as emu:
        yield emu


SCRIPT = """
import gc, json, os
from modelsec import ModelSecurityClient

kw = json.loads(os.environ["MODELSEC_TEST_CLIENT"])

def dropped():
    client = ModelSecurityClient(**kw)  # never closed, collected when this returns
    return len(client.security_groups.list().items)

groups = dropped()
gc.collect()
kept = ModelSecurityClient(**kw)  # never closed, still referenced at exit
kept.security_groups.list()
page = ModelSecurityClient(**kw).scans.list()  # the client goes, its page stays to the end
print("groups", groups)
"""


def test_unclosed_sync_clients_exit_quietly_under_dev_mode(emulator: EmulatorThread) -> None:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    env["MODELSEC_TEST_CLIENT"] = json.dumps(emulator.client_kwargs())
    env.pop("PYTHONWARNINGS", None)
    proc = subprocess.run(
        [sys.executable, "-X", "dev", "-c", SCRIPT],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("groups "), proc.stdout
    for noise in ("Unclosed", "unclosed", "Traceback", "Non-thread-safe", "Exception ignored"):
        assert noise not in proc.stderr, proc.stderr
    assert proc.stderr.count("ModelSecurityClient was not closed") == 1, proc.stderr
