"""``scan_many(executor=...)`` on a process pool, a Dask LocalCluster and a local Ray, against the
emulator, with one worker killed mid-batch: one result per target, the right verdicts, one scan
per target on the service.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from modelsec import AsyncModelSecurityClient, ScanProgress
from modelsec.emulator import Emulator
from modelsec.errors import PayloadError
from modelsec.fleet import RayExecutor, process_pool
from modelsec.workflows import ScanResult
from tests.fleet.conftest import check_batch, local_group, require

pytestmark = pytest.mark.fleet

ROOT = Path(__file__).resolve().parents[2]


async def batch(
    client: AsyncModelSecurityClient,
    targets: list[str],
    executor: Any,
    *,
    kill: Callable[[], int] | None = None,
) -> tuple[list[ScanResult], list[int]]:
    """Scan ``targets``; after the first result, ``kill()`` one worker (returns its pid)."""
    group = await local_group(client)
    killed: list[int] = []

    def on_progress(p: ScanProgress) -> None:
        if kill is not None and not killed:
            killed.append(kill())

    results = [
        r
        async for r in client.scan_many(
            targets,
            security_group_uuid=group,
            concurrency=8,
            poll_interval=0.02,
            on_progress=on_progress,
            executor=executor,
        )
    ]
    return results, killed


def gone(pid: int, timeout: float = 30.0) -> bool:
    """Whether ``pid`` has exited (reaped or a zombie) within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as fh:
                if fh.read().split(") ", 1)[1].startswith("Z"):
                    return True
        except (FileNotFoundError, ProcessLookupError):
            return True
        time.sleep(0.05)
    return False


# ------------------------------------------------------------------------------- processes


async def test_process_pool_survives_a_killed_worker(
    client: AsyncModelSecurityClient,
    emulator: Emulator,
    models: dict[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="modelsec.fleet")
    with process_pool(2) as pool:

        def kill() -> int:
            pid = next(iter(pool._processes))  # type: ignore[attr-defined]
            os.kill(pid, signal.SIGKILL)
            return pid

        results, killed = await batch(client, list(models), pool, kill=kill)
    assert killed and gone(killed[0])
    check_batch(results, models, emulator)
    # The pool broke (every queued task failed at once) and a fresh one finished the batch.
    assert any("BrokenProcessPool" in r.getMessage() for r in caplog.records)


async def test_process_pool_reports_a_missing_path_as_that_target_s_error(
    client: AsyncModelSecurityClient, emulator: Emulator, models: dict[str, str], tmp_path: Path
) -> None:
    some = dict(list(models.items())[:2])
    missing = str(tmp_path / "nowhere")
    with process_pool(2) as pool:
        results, _ = await batch(client, [*some, missing], pool)
    by_target = {r.target: r for r in results}
    assert isinstance(by_target[missing].error, PayloadError)
    assert "no such file or directory" in str(by_target[missing].error)
    for target in some:
        assert by_target[target].error is None
    assert emulator.scan_count() == 2


# ------------------------------------------------------------------------------------ Dask


@pytest.fixture(scope="module")
def dask_client() -> Iterator[Any]:
    distributed = require("distributed", "dask")
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        scheduler_port=0,
        dashboard_address=None,
        silence_logs=logging.ERROR,
    )
    client = distributed.Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


async def test_dask_cluster_survives_a_killed_worker(
    client: AsyncModelSecurityClient,
    emulator: Emulator,
    models: dict[str, str],
    dask_client: Any,
) -> None:
    pids: dict[str, int] = dask_client.run(os.getpid)

    def kill() -> int:
        busy = [addr for addr, keys in dask_client.processing().items() if keys] or list(pids)
        pid = pids[busy[0]]
        os.kill(pid, signal.SIGKILL)
        return pid

    # The Client itself (not only its get_executor()) is accepted.
    results, killed = await batch(client, list(models), dask_client, kill=kill)
    assert killed and gone(killed[0])
    check_batch(results, models, emulator)


async def test_dask_executor_and_a_task_error(
    client: AsyncModelSecurityClient,
    emulator: Emulator,
    models: dict[str, str],
    dask_client: Any,
    tmp_path: Path,
) -> None:
    some = dict(list(models.items())[:3])
    missing = str(tmp_path / "nowhere")
    # The same path twice: two tasks (pure=False), two scans, two results.
    first = next(iter(some))
    results, _ = await batch(client, [*some, missing, first], dask_client.get_executor())
    assert len(results) == 5
    errors = [r for r in results if r.error is not None]
    assert [r.target for r in errors] == [missing]
    assert isinstance(errors[0].error, PayloadError)
    assert sum(r.target == first for r in results) == 2
    assert emulator.scan_count() == 4


# ------------------------------------------------------------------------------------- Ray


@pytest.fixture(scope="module")
def ray_executor() -> Iterator[RayExecutor]:
    ray = require("ray", "ray")
    # Workers import modelsec from this checkout, as an installed package would be on a cluster.
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    for attempt in (1, 2, 3):
        try:
            ray.init(
                num_cpus=2,
                include_dashboard=False,
                log_to_driver=False,
                runtime_env={"env_vars": {"PYTHONPATH": path}},
            )
            break
        except Exception as exc:
            # The raylet gives its Python agents 15 s to start; a busy machine can miss that.
            ray.shutdown()
            if attempt == 3:
                pytest.fail(f"Ray did not start on this machine: {exc}", pytrace=False)
    try:
        yield RayExecutor()  # joins the session above (and leaves it running)
    finally:
        ray.shutdown()


def _ray_task_pids() -> list[int]:
    """Ray workers running a task of ours (Ray titles them ``ray::<function>``)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                cmd = fh.read()
        except OSError:
            continue
        if cmd.startswith(b"ray::_scan_local"):
            pids.append(int(entry))
    return pids


async def test_ray_survives_a_killed_worker(
    client: AsyncModelSecurityClient,
    emulator: Emulator,
    models: dict[str, str],
    ray_executor: RayExecutor,
) -> None:
    def kill() -> int:
        deadline = time.monotonic() + 10
        while not (pids := _ray_task_pids()) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert pids, "no Ray worker was running a scan"
        os.kill(pids[0], signal.SIGKILL)
        return pids[0]

    results, killed = await batch(client, list(models), ray_executor, kill=kill)
    assert killed and gone(killed[0])
    check_batch(results, models, emulator)


async def test_ray_unwraps_a_task_error(
    client: AsyncModelSecurityClient,
    emulator: Emulator,
    models: dict[str, str],
    ray_executor: RayExecutor,
    tmp_path: Path,
) -> None:
    some = dict(list(models.items())[:2])
    missing = str(tmp_path / "nowhere")
    results, _ = await batch(client, [*some, missing], ray_executor)
    by_target = {r.target: r for r in results}
    # The scanner's own error, not RayTaskError(PayloadError).
    assert type(by_target[missing].error) is PayloadError
    assert emulator.scan_count() == 2
