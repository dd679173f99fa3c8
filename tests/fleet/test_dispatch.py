"""The dispatcher behind ``executor=`` (default suite: no Dask or Ray needed).

Lost work is submitted again and ends as one result; a function's own error is final; a broken
process pool is replaced; missing extras fail with one line naming the extra.
"""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import json
import os
import pickle
import sys
import types
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

import pytest

from modelsec import AsyncModelSecurityClient, ModelSecurityClient
from modelsec.cli import main
from modelsec.emulator import Emulator, EmulatorThread
from modelsec.fleet import (
    Dispatcher,
    MissingExtraError,
    RayExecutor,
    TaskLostError,
    WorkerLostError,
    as_executor,
    dask_client,
    is_lost_work,
    open_executor,
    process_pool,
)
from modelsec.types._base import converter
from modelsec.workflows import _scan_local
from tests.fleet.conftest import check_batch, local_group
from tests.fleet.models import model_set
from tests.integration.models import malicious_model


class ScriptedExecutor(cf.Executor):
    """Runs calls inline, except that the n-th submission gets the scripted outcome."""

    def __init__(self, script: dict[int, Callable[[cf.Future[Any]], None]]) -> None:
        self.script = script
        self.submitted = 0

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> cf.Future[Any]:
        self.submitted += 1
        future: cf.Future[Any] = cf.Future()
        action = self.script.get(self.submitted)
        if action is not None:
            action(future)
        else:
            try:
                future.set_result(fn(*args, **kwargs))
            except Exception as exc:
                future.set_exception(exc)
        return future


def cancelled_by_cluster(future: cf.Future[Any]) -> None:
    future.cancel()


def broken(future: cf.Future[Any]) -> None:
    future.set_exception(BrokenProcessPool("a child process terminated abruptly"))


async def test_lost_task_is_submitted_again_and_ends_as_one_result() -> None:
    executor = ScriptedExecutor({1: cancelled_by_cluster, 2: broken})
    dispatcher = Dispatcher(executor)
    assert await dispatcher.run(sum, [1, 2]) == 3
    assert executor.submitted == 3
    assert dispatcher.resubmitted == 2


async def test_work_lost_on_every_attempt_ends_as_worker_lost_error() -> None:
    executor = ScriptedExecutor(dict.fromkeys(range(1, 10), cancelled_by_cluster))
    dispatcher = Dispatcher(executor, attempts=3)
    with pytest.raises(WorkerLostError, match="lost 3 times") as info:
        await dispatcher.run(sum, [1], label="/models/a")
    assert isinstance(info.value.__cause__, TaskLostError)
    assert "/models/a" in str(info.value)
    assert executor.submitted == 3


async def test_the_function_s_own_error_is_final() -> None:
    executor = ScriptedExecutor({})
    dispatcher = Dispatcher(executor)
    with pytest.raises(ZeroDivisionError):
        await dispatcher.run(divmod, 1, 0)
    assert executor.submitted == 1
    assert dispatcher.resubmitted == 0


async def test_cancelling_the_caller_cancels_the_submitted_task() -> None:
    pending: list[cf.Future[Any]] = []
    executor = ScriptedExecutor({1: pending.append})
    task = asyncio.ensure_future(Dispatcher(executor).run(sum, [1]))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert pending[0].cancelled()


def _die_once(marker: str, value: int) -> int:
    """Kill this worker process the first time (a crash mid-scan), answer afterwards."""
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return value * 2
    os.close(fd)
    os._exit(1)


async def test_a_broken_process_pool_is_replaced_and_the_caller_s_pool_left_alone(
    tmp_path: Path,
) -> None:
    with process_pool(1) as pool:
        dispatcher = Dispatcher(pool)
        try:
            results = await asyncio.gather(
                *(dispatcher.run(_die_once, str(tmp_path / "died"), i) for i in range(4))
            )
            replacement = dispatcher.current()
        finally:
            dispatcher.close()
        assert results == [0, 2, 4, 6]
        assert dispatcher.pools_replaced == 1  # one replacement for every task of the break
        assert replacement is not pool
        assert replacement is not None and replacement._shutdown_thread  # type: ignore[attr-defined]


def test_lost_work_is_recognised_by_the_engines_error_types(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class WorkerCrashedError(Exception):
        pass

    class KilledWorker(Exception):
        pass

    monkeypatch.setitem(
        sys.modules, "ray.exceptions", types.SimpleNamespace(WorkerCrashedError=WorkerCrashedError)
    )
    monkeypatch.setitem(
        sys.modules, "distributed", types.SimpleNamespace(KilledWorker=KilledWorker)
    )
    assert is_lost_work(WorkerCrashedError())
    assert is_lost_work(KilledWorker())
    assert is_lost_work(TaskLostError())
    assert not is_lost_work(ValueError())


def test_a_cluster_client_is_asked_for_an_impure_executor() -> None:
    seen: dict[str, Any] = {}

    class Client:
        def get_executor(self, **kwargs: Any) -> cf.Executor:
            seen.update(kwargs)
            return cf.ThreadPoolExecutor(1)

    executor = as_executor(Client())
    assert isinstance(executor, cf.ThreadPoolExecutor)
    executor.shutdown()
    assert seen == {"pure": False}
    with pytest.raises(TypeError, match="concurrent.futures.Executor"):
        as_executor(object())  # type: ignore[arg-type]


def test_scan_details_travel_compactly(tmp_path: Path) -> None:
    path, details = _scan_local(str(malicious_model(tmp_path / "bad")), None, None)
    raw = pickle.dumps((path, details), protocol=pickle.HIGHEST_PROTOCOL)
    assert pickle.loads(raw) == (path, details)
    # No larger than the JSON the create request carries anyway.
    assert len(raw) <= len(json.dumps(converter.unstructure(details)))


# ------------------------------------------------------------------------------------ extras


@pytest.mark.parametrize(
    ("module", "make", "extra"),
    [
        ("ray", lambda: RayExecutor("auto"), "ray"),
        ("distributed", lambda: dask_client("auto"), "dask"),
    ],
)
def test_a_missing_engine_names_its_extra(
    monkeypatch: pytest.MonkeyPatch, module: str, make: Callable[[], Any], extra: str
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # makes `import module` fail
    with pytest.raises(MissingExtraError) as info:
        make()
    assert str(info.value).endswith(f"pip install 'modelsec[{extra}]'")
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("flag", "module", "extra"), [("--dask", "distributed", "dask"), ("--ray", "ray", "ray")]
)
def test_cli_missing_engine_is_one_line_naming_the_extra(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    flag: str,
    module: str,
    extra: str,
) -> None:
    monkeypatch.setitem(sys.modules, module, None)
    code = main(["scan", flag, "auto", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1, err
    assert f"pip install 'modelsec[{extra}]'" in err


def test_cli_rejects_two_engines_and_offline_engines(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(["scan", "--workers", "2", "--ray", "auto", str(tmp_path)]) == 2
    assert "not allowed with argument" in capsys.readouterr().err
    assert main(["scan", "--offline", "--workers", "2", str(tmp_path)]) == 2
    assert "apply to online scans" in capsys.readouterr().err
    assert main(["scan", "--workers", "0", str(tmp_path)]) == 2
    assert "--workers must be >= 1" in capsys.readouterr().err


def test_open_executor_takes_one_engine() -> None:
    with (
        pytest.raises(ValueError, match="choose one executor"),
        open_executor(workers=2, ray="auto"),
    ):
        pass


# ------------------------------------------------------------------------- through the SDK


async def test_scan_many_and_scan_on_a_thread_pool(tmp_path: Path) -> None:
    expected = model_set(tmp_path, 4, pairs=2_000)
    async with (
        Emulator(port=0, settle_delay=0.02, activation_delay=0.0, hub=tmp_path) as emulator,
        AsyncModelSecurityClient(**emulator.client_kwargs()) as client,
    ):
        group = await local_group(client)
        with cf.ThreadPoolExecutor(2, thread_name_prefix="fleet-test") as pool:
            results = [
                r
                async for r in client.scan_many(
                    expected, security_group_uuid=group, poll_interval=0.02, executor=pool
                )
            ]
            check_batch(results, expected, emulator)
            one = await client.scan(
                next(iter(expected)), security_group_uuid=group, poll_interval=0.02, executor=pool
            )
        assert one.outcome == "BLOCKED"


def test_sync_scan_many_on_a_process_pool(tmp_path: Path) -> None:
    expected = model_set(tmp_path, 3, pairs=2_000)
    with (
        EmulatorThread(port=0, settle_delay=0.02, activation_delay=0.0, hub=tmp_path) as emu,
        ModelSecurityClient(**emu.client_kwargs()) as client,
        process_pool(2) as pool,
    ):
        page = client.security_groups.list(search_query="Default LOCAL")
        group = next(g.uuid for g in page.security_groups if g.name == "Default LOCAL")
        results = list(
            client.scan_many(expected, security_group_uuid=group, poll_interval=0.02, executor=pool)
        )
        assert sorted(r.target for r in results) == sorted(expected)
        assert all(r.error is None for r in results)
        assert emu.scan_count() == 3


def test_cli_scan_with_workers(tmp_path: Path) -> None:
    from tests.cli.conftest import base_env, run_cli

    expected = model_set(tmp_path / "models", 3, pairs=2_000)
    with EmulatorThread(port=0, settle_delay=0.02, activation_delay=0.0, hub=tmp_path) as emu:
        kw = emu.client_kwargs()
        env = base_env()
        env.update(
            {
                "PANW_MODEL_SEC_CLIENT_ID": kw["client_id"],
                "PANW_MODEL_SEC_CLIENT_SECRET": kw["client_secret"],
                "PANW_MODEL_SEC_TSG_ID": kw["tsg_id"],
                "PANW_MODEL_SEC_DATA_ENDPOINT": kw["data_endpoint"],
                "PANW_MODEL_SEC_MGMT_ENDPOINT": kw["mgmt_endpoint"],
                "PANW_MODEL_SEC_TOKEN_ENDPOINT": kw["token_endpoint"],
                "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
            }
        )
        r = run_cli(
            "scan", "--workers", "2", "--poll-interval", "0.05", "-f", "json", *expected, env=env
        )
        assert r.code == 1, r.err  # one model is blocked
        doc = json.loads(r.out)
        outcomes = {res["target"]: res["outcome"] for res in doc["results"]}
        assert outcomes == {
            t: "ALLOWED" if kind == "ALLOWED" else "BLOCKED" for t, kind in expected.items()
        }
        assert emu.scan_count() == 3
