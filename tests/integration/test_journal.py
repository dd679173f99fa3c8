"""Resumable batches: ``scan_many(journal=PATH)`` against the emulator, and kill -9 at random."""

from __future__ import annotations

import collections
import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from modelsec import AsyncModelSecurityClient, ScanResult
from modelsec.emulator import Emulator, EmulatorThread
from modelsec.emulator.faults import Faults
from modelsec.journal import Journal, JournalError
from modelsec.workflows import IDEMPOTENCY_LABEL
from tests.integration.conftest import default_group
from tests.integration.models import benign_model, malicious_model

ROOT = Path(__file__).resolve().parents[2]
GOOD, BAD = "hf://good-org/good-model", "hf://bad-org/bad-model"


async def collect(
    batch: AsyncIterator[ScanResult], into: list[ScanResult] | None = None
) -> list[ScanResult]:
    out = [] if into is None else into
    async for r in batch:
        out.append(r)
    return out


def request_count(emulator: Emulator | EmulatorThread) -> int:
    return sum(emulator.stats.requests.values())


def events(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


async def test_a_finished_batch_is_reported_from_its_journal(
    client: AsyncModelSecurityClient, emulator: Emulator, tmp_path: Path
) -> None:
    group = await default_group(client, "HUGGING_FACE")
    journal = tmp_path / "batch.jsonl"
    targets = [GOOD, BAD, GOOD]
    first = await collect(
        client.scan_many(targets, security_group_uuid=group, poll_interval=0.02, journal=journal)
    )
    assert not any(r.from_journal for r in first)
    kinds = collections.Counter(e["event"] for e in events(journal))
    assert kinds == {"batch": 1, "start": 3, "created": 3, "done": 3}
    before = request_count(emulator)
    # A new client (a new process, in effect): not one request, not even for a token.
    async with AsyncModelSecurityClient(**emulator.client_kwargs()) as again:
        second = await collect(
            again.scan_many(targets, security_group_uuid=group, poll_interval=0.02, journal=journal)
        )
    assert request_count(emulator) == before
    assert all(r.from_journal for r in second)
    by_index = {r.index: r for r in first}
    for r in second:
        old = by_index[r.index]
        assert r.target == old.target
        assert r.scan == old.scan
        assert r.violations == old.violations
        assert r.is_blocked == (r.target == BAD)
    assert emulator.scan_count() == 3


async def test_unknown_create_is_reconciled_by_its_label(
    client: AsyncModelSecurityClient, emulator: Emulator, tmp_path: Path
) -> None:
    """A crash between ``start`` and ``created``: the scan exists, or it does not."""
    group = await default_group(client, "HUGGING_FACE")
    landed, lost = uuid.uuid4().hex, uuid.uuid4().hex
    journal = tmp_path / "batch.jsonl"
    # The first run, as a crash left it: both creates were about to be sent; one made it.
    writer = Journal.open(journal, _definition(group))
    for i, rid in enumerate((landed, lost)):
        writer.record(
            {"event": "start", "index": i, "target": GOOD, "request_id": rid, "time": time.time()}
        )
    writer.close()
    made = await client.scans.create(
        model_uri=GOOD, security_group_uuid=group, labels={IDEMPOTENCY_LABEL: landed}
    )
    results = await collect(
        client.scan_many(
            [GOOD, GOOD],
            security_group_uuid=group,
            poll_interval=0.02,
            journal=journal,
            reconcile_window=0.5,
        )
    )
    by_index = {r.index: r for r in results}
    assert by_index[0].scan is not None and by_index[0].scan.uuid == made.uuid  # adopted
    assert by_index[1].is_allowed
    # One scan per target, each under the label the journal gave it before the crash.
    labels = collections.Counter(
        s.labels.get(IDEMPOTENCY_LABEL) for s in emulator.store.iter_scans()
    )
    assert labels == {landed: 1, lost: 1}


async def test_a_refused_create_is_not_reconciled_on_rerun(
    client: AsyncModelSecurityClient, emulator: Emulator, tmp_path: Path
) -> None:
    group = await default_group(client, "HUGGING_FACE")
    journal = tmp_path / "batch.jsonl"
    emulator.faults = Faults(script=[400], methods=["POST"], paths=["/v1/scans"])
    (first,) = await collect(
        client.scan_many([GOOD], security_group_uuid=group, poll_interval=0.02, journal=journal)
    )
    emulator.faults = None
    assert first.error is not None and emulator.scan_count() == 0
    assert [e["event"] for e in events(journal)] == ["batch", "start", "unsent", "error"]

    def label_lookups() -> int:
        return sum(
            n
            for (method, path, _), n in emulator.stats.requests.items()
            if method == "GET" and path == "/aims/data/v1/scans"
        )

    before = label_lookups()
    # The default window (80 s) is not waited for: the 400 proves that nothing was created.
    (second,) = await collect(
        client.scan_many([GOOD], security_group_uuid=group, poll_interval=0.02, journal=journal)
    )
    assert second.is_allowed and not second.from_journal
    assert label_lookups() == before
    assert emulator.scan_count() == 1
    await client.scans.list(labels_query="a:b")  # the counter does count label lookups
    assert label_lookups() == before + 1


async def test_created_but_not_settled_is_waited_for(
    client: AsyncModelSecurityClient, emulator: Emulator, tmp_path: Path
) -> None:
    emulator.settle_delay = 1.0
    group = await default_group(client, "HUGGING_FACE")
    journal = tmp_path / "batch.jsonl"
    first = await collect(
        client.scan_many(
            [GOOD], security_group_uuid=group, timeout=0.2, poll_interval=0.05, journal=journal
        )
    )
    assert first[0].error is not None and first[0].scan is not None  # timed out, scan exists
    second = await collect(
        client.scan_many(
            [GOOD], security_group_uuid=group, timeout=60, poll_interval=0.05, journal=journal
        )
    )
    assert second[0].scan is not None and second[0].scan.uuid == first[0].scan.uuid
    assert emulator.scan_count() == 1  # waited for, not created again


async def test_a_journal_of_another_batch_is_refused(
    client: AsyncModelSecurityClient, emulator: Emulator, tmp_path: Path
) -> None:
    group = await default_group(client, "HUGGING_FACE")
    journal = tmp_path / "batch.jsonl"
    await collect(
        client.scan_many(
            [GOOD, BAD], security_group_uuid=group, poll_interval=0.02, journal=journal
        )
    )
    count = emulator.scan_count()
    # Other options: refused before any request.
    with pytest.raises(JournalError, match="another batch .*labels"):
        await collect(
            client.scan_many(
                [GOOD, BAD], security_group_uuid=group, labels={"team": "ml"}, journal=journal
            )
        )
    # Another target at a known index.
    with pytest.raises(JournalError, match="input 1 is 'hf://x/y' here"):
        await collect(
            client.scan_many([GOOD, "hf://x/y"], security_group_uuid=group, journal=journal)
        )
    # A shorter input than the journal's.
    seen: list[ScanResult] = []
    with pytest.raises(JournalError, match="has input 1 but the input has 1 targets"):
        await collect(client.scan_many([GOOD], security_group_uuid=group, journal=journal), seen)
    assert [r.from_journal for r in seen] == [True]
    assert emulator.scan_count() == count


async def test_torn_last_line_is_ignored_and_a_corrupt_one_refused(
    client: AsyncModelSecurityClient, emulator: Emulator, tmp_path: Path
) -> None:
    group = await default_group(client, "HUGGING_FACE")
    journal = tmp_path / "batch.jsonl"
    await collect(
        client.scan_many([GOOD], security_group_uuid=group, poll_interval=0.02, journal=journal)
    )
    intact = journal.read_bytes()
    with journal.open("ab") as f:
        f.write(b'{"event":"start","index":1,"tar')  # a crash in the middle of a write
    results = await collect(
        client.scan_many(
            [GOOD, BAD], security_group_uuid=group, poll_interval=0.02, journal=journal
        )
    )
    assert sorted((r.index, r.from_journal) for r in results) == [(0, True), (1, False)]
    text = journal.read_bytes()
    assert text.startswith(intact) and b'"tar\n' not in text and text.endswith(b"\n")
    assert all(isinstance(e, dict) for e in events(journal))
    assert emulator.scan_count() == 2
    lines = journal.read_bytes().split(b"\n")
    lines[2] = b"not json"
    journal.write_bytes(b"\n".join(lines))
    with pytest.raises(JournalError, match="line 3 is not a JSON object"):
        await collect(client.scan_many([GOOD, BAD], security_group_uuid=group, journal=journal))


async def test_one_journal_one_batch_at_a_time(
    client: AsyncModelSecurityClient, tmp_path: Path
) -> None:
    group = await default_group(client, "HUGGING_FACE")
    journal = tmp_path / "batch.jsonl"
    holder = Journal.open(journal, _definition(group))
    try:
        with pytest.raises(JournalError, match="in use by another batch"):
            await collect(client.scan_many([GOOD], security_group_uuid=group, journal=journal))
    finally:
        holder.close()


def _definition(group: str) -> dict[str, Any]:
    return {
        "security_group_uuid": group,
        "wait": True,
        "model_name": None,
        "model_author": None,
        "model_version": None,
        "allow_patterns": None,
        "ignore_patterns": None,
        "labels": [],
    }


# ------------------------------------------------------------------------------ kill -9


@pytest.fixture
def emu_thread(tmp_path: Path) -> Iterator[EmulatorThread]:
    hub = tmp_path / "hub"
    benign_model(hub / "huggingface" / "good-org" / "good-model")
    (hub / "huggingface" / "good-org" / "good-model" / "README.md").write_text(
        "---\nlicense: mit\n---\n"
    )
    (hub / "huggingface" / "good-org" / ".verified").write_text("")
    malicious_model(hub / "huggingface" / "bad-org" / "bad-model")
    with EmulatorThread(port=0, settle_delay=0.05, activation_delay=0.05, hub=hub) as e:
        yield e


def _journal_lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def _run_batch(config: Path, kill: tuple[Path, int, float] | None = None) -> list[dict[str, Any]]:
    """Run the batch process to its end, or SIGKILL it once the journal has ``kill[1]``
    lines (plus ``kill[2]`` seconds): kills land anywhere in the batch, not in the startup."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.integration.journal_batch", str(config)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        if kill is None:
            out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err.decode()[-2000:]
        else:
            journal, lines, extra = kill
            deadline = time.monotonic() + 60
            while proc.poll() is None and time.monotonic() < deadline:
                if _journal_lines(journal) >= lines:
                    time.sleep(extra)
                    break
                time.sleep(0.002)
            proc.send_signal(signal.SIGKILL)
            out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    # A line cut by the kill is not a result the caller saw.
    return [json.loads(line) for line in out.decode().splitlines() if line.endswith("}")]


@pytest.mark.slow
def test_kill_9_at_random_points_then_resume(emu_thread: EmulatorThread, tmp_path: Path) -> None:
    rng = random.Random(1613)
    kw = emu_thread.client_kwargs()
    import modelsec

    with modelsec.ModelSecurityClient(**kw) as c:
        page = c.security_groups.list(search_query="Default HUGGING_FACE")
        group = next(g.uuid for g in page if g.name == "Default HUGGING_FACE")
    n = 24
    targets = [GOOD if i % 4 else BAD for i in range(n)]
    # Slow requests spread the batch over many runs: most kills land in the middle of it.
    emu_thread.faults = Faults(latency=0.01, latency_jitter=0.04, seed=3)
    journal = tmp_path / "batch.jsonl"
    config = tmp_path / "batch.json"
    config.write_text(
        json.dumps(
            {
                "client": kw,
                "group": group,
                "targets": targets,
                "journal": str(journal),
                "reconcile_window": 0.5,
                "concurrency": 2,
            }
        )
    )
    reported: dict[int, set[str]] = collections.defaultdict(set)  # by the killed runs
    for _ in range(15):
        at = _journal_lines(journal) + rng.randint(1, 8)
        for r in _run_batch(config, kill=(journal, at, rng.uniform(0, 0.05))):
            reported[r["index"]].add(r["scan"])

    final = _run_batch(config)
    # Every target reported once, settled, none lost.
    assert sorted(r["index"] for r in final) == list(range(n)), final
    for r in final:
        assert r["error"] is None, r
        assert r["outcome"] == ("BLOCKED" if r["index"] % 4 == 0 else "ALLOWED"), r
        assert r["duplicates"] == []
    # A result a killed run reported is the one the final run reports.
    assert reported, "no kill landed after a result"
    for r in final:
        assert reported.get(r["index"], {r["scan"]}) == {r["scan"]}
    # Exactly one scan per target on the service, by its label.
    by_label = collections.Counter(
        s.labels.get(IDEMPOTENCY_LABEL) for s in emu_thread.store.iter_scans()
    )
    assert set(by_label.values()) == {1}, by_label
    assert len(by_label) == n
    assert {r["scan"] for r in final} == {s.uuid for s in emu_thread.store.iter_scans()}
    # The journal knows every target's label: the one its scan carries.
    labels = {}
    for e in events(journal)[1:]:
        if e["event"] == "start":
            labels[e["index"]] = e["request_id"]
    scans = {s.uuid: s.labels.get(IDEMPOTENCY_LABEL) for s in emu_thread.store.iter_scans()}
    assert {r["index"]: scans[r["scan"]] for r in final} == labels
