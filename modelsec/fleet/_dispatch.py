"""Run the read + scan of local targets on any executor, retrying work a dead worker lost.

One :class:`Dispatcher` serves one batch (``scan`` or ``scan_many``). With no executor it keeps
the historical path: ``anyio.to_thread`` in this process. With an executor, each call is
``executor.submit(fn, *args)`` with plain picklable arguments (a path, the patterns), awaited
without blocking the event loop; only the compact result comes back to the driver.

A worker that dies takes the task with it: ``BrokenProcessPool`` for a process pool (and every
other task of that pool), ``KilledWorker`` / a closed comm for Dask, ``WorkerCrashedError`` /
``NodeDiedError`` / a lost object for Ray, or a task the cluster cancelled. Such a failure is
*lost work*, not a verdict: the call is submitted again (to a fresh pool when the old one broke,
else to the cluster, which places it on a live worker), up to ``attempts`` times, and then ends
as :class:`WorkerLostError`. Errors raised by the function itself (a missing path) are final.
Retrying is safe because the work is a pure read: the create that follows runs once, on the
driver, after the one result that came back.
"""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import logging
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, Union, runtime_checkable

import anyio.to_thread

__all__ = [
    "Dispatcher",
    "ExecutorLike",
    "SupportsGetExecutor",
    "TaskLostError",
    "WorkerLostError",
    "is_lost_work",
]

if TYPE_CHECKING:
    from concurrent.futures.process import ProcessPoolExecutor

log = logging.getLogger("modelsec.fleet")

T = TypeVar("T")


@runtime_checkable
class SupportsGetExecutor(Protocol):
    """A cluster client handing out a ``concurrent.futures.Executor`` (``distributed.Client``)."""

    def get_executor(self, **kwargs: Any) -> cf.Executor:
        """An executor that runs calls on the cluster."""


ExecutorLike = Union[cf.Executor, SupportsGetExecutor]
"""What ``executor=`` accepts: any ``concurrent.futures.Executor``, or a Dask ``Client``."""


class TaskLostError(Exception):
    """The executor cancelled a task nobody asked to cancel (a cluster dropped it)."""


class WorkerLostError(RuntimeError):
    """A target's scan was lost with its worker on every attempt.

    Example:
        >>> err = WorkerLostError("/models/a", 3, TaskLostError("dropped"))
        >>> str(err)
        "the worker scanning '/models/a' was lost 3 times (last: TaskLostError: dropped)"
    """

    def __init__(self, target: str, attempts: int, last: BaseException) -> None:
        super().__init__(
            f"the worker scanning {target!r} was lost {attempts} times "
            f"(last: {type(last).__name__}: {last})"
        )
        self.target = target
        self.attempts = attempts


def _cluster_errors() -> tuple[type[BaseException], ...]:
    # Looked up only in modules already imported: if Dask or Ray is not loaded, its errors
    # cannot occur, and the SDK never imports them itself.
    found: list[type[BaseException]] = []
    names = {
        "distributed": ("KilledWorker", "FutureCancelledError"),
        "distributed.comm.core": ("CommClosedError",),
        "distributed.client": ("FutureCancelledError",),
        "ray.exceptions": (
            "WorkerCrashedError",
            "NodeDiedError",
            "LocalRayletDiedError",
            "ObjectLostError",
            "OwnerDiedError",
            "RayActorError",
            "TaskCancelledError",
            "ObjectFetchTimedOutError",
        ),
    }
    for module_name, attrs in names.items():
        module = sys.modules.get(module_name)
        for attr in attrs:
            cls = getattr(module, attr, None)
            if isinstance(cls, type) and issubclass(cls, BaseException):
                found.append(cls)
    return tuple(found)


def is_lost_work(exc: BaseException) -> bool:
    """Whether ``exc`` means the worker or the task was lost (retry) rather than a result.

    Example:
        >>> from concurrent.futures.process import BrokenProcessPool
        >>> is_lost_work(BrokenProcessPool("a child process terminated abruptly"))
        True
        >>> is_lost_work(FileNotFoundError("model.pkl"))
        False
    """
    if isinstance(exc, (cf.BrokenExecutor, TaskLostError)):
        return True
    return isinstance(exc, _cluster_errors())


def _is_dask_executor(executor: object) -> bool:
    return type(executor).__module__.startswith("distributed.")


def as_executor(executor: ExecutorLike | None) -> cf.Executor | None:
    """The ``concurrent.futures.Executor`` behind ``executor`` (a Dask ``Client`` -> its executor).

    Example:
        >>> pool = cf.ThreadPoolExecutor(1)
        >>> as_executor(pool) is pool
        True
        >>> pool.shutdown()
    """
    if executor is None or isinstance(executor, cf.Executor):
        return executor
    if isinstance(executor, SupportsGetExecutor):
        # pure=False: Dask would otherwise give two submissions of one path the same key, and
        # a resubmission after a lost worker would get back the same failed future.
        return executor.get_executor(pure=False)
    raise TypeError(
        "executor must be a concurrent.futures.Executor or a client with get_executor() "
        f"(distributed.Client), got {type(executor).__name__}"
    )


def _process_pool_class() -> type[ProcessPoolExecutor] | None:
    # Not imported by the SDK itself (it pulls in multiprocessing): if nobody imported it, no
    # executor can be a process pool.
    module = sys.modules.get("concurrent.futures.process")
    pool_class: type[ProcessPoolExecutor] | None = getattr(module, "ProcessPoolExecutor", None)
    return pool_class


def _fresh_pool_like(pool: ProcessPoolExecutor) -> ProcessPoolExecutor:
    # A broken pool stays broken: build a new one with the same settings.
    from concurrent.futures.process import ProcessPoolExecutor

    kwargs: dict[str, Any] = {
        "max_workers": getattr(pool, "_max_workers", None),
        "mp_context": getattr(pool, "_mp_context", None),
        "initializer": getattr(pool, "_initializer", None),
        "initargs": getattr(pool, "_initargs", ()),
    }
    per_child = getattr(pool, "_max_tasks_per_child", None)
    if per_child is not None:
        kwargs["max_tasks_per_child"] = per_child
    return ProcessPoolExecutor(**kwargs)


async def _outcome(future: cf.Future[T]) -> T:
    """Await a concurrent future from the loop without a thread; cancel it if we are cancelled.

    Unlike ``asyncio.wrap_future``, a task the executor cancelled on its own is reported as
    :class:`TaskLostError`, not as the cancellation of the awaiting task.
    """
    loop = asyncio.get_running_loop()
    waiter: asyncio.Future[T] = loop.create_future()

    def settle(done: cf.Future[T]) -> None:
        if waiter.done():
            return
        if done.cancelled():
            waiter.set_exception(TaskLostError("the executor cancelled the task"))
            return
        exc = done.exception()
        if exc is not None:
            waiter.set_exception(exc)
        else:
            waiter.set_result(done.result())

    def on_done(done: cf.Future[T]) -> None:
        try:
            loop.call_soon_threadsafe(settle, done)
        except RuntimeError:  # the loop is closed: nobody is waiting any more
            pass

    future.add_done_callback(on_done)
    try:
        return await waiter
    except asyncio.CancelledError:
        future.cancel()
        raise


class Dispatcher:
    """Runs one batch's local scans on ``executor``; retries work lost with a worker.

    Example:
        >>> import asyncio
        >>> async def main():
        ...     with cf.ThreadPoolExecutor(2) as pool:
        ...         dispatcher = Dispatcher(pool)
        ...         try:
        ...             return await dispatcher.run(sum, [1, 2, 3])
        ...         finally:
        ...             dispatcher.close()
        >>> asyncio.run(main())
        6
    """

    def __init__(self, executor: ExecutorLike | None, *, attempts: int = 4) -> None:
        if attempts < 1:
            raise ValueError("attempts must be >= 1")
        self.executor = as_executor(executor)
        self.attempts = attempts
        self.resubmitted = 0
        """Calls submitted again after lost work (for logs and tests)."""
        self.pools_replaced = 0
        """Broken process pools replaced by a fresh one."""
        self._replacement: ProcessPoolExecutor | None = None

    def current(self) -> cf.Executor | None:
        """The executor new work goes to (a replacement once the caller's pool broke)."""
        return self._replacement if self._replacement is not None else self.executor

    async def run(self, fn: Callable[..., T], *args: Any, label: str = "") -> T:
        """``fn(*args)`` on the executor, submitted again while its worker is lost."""
        if self.executor is None:
            return await anyio.to_thread.run_sync(fn, *args)
        for attempt in range(1, self.attempts + 1):
            executor = self.current()
            assert executor is not None
            try:
                if _is_dask_executor(executor):
                    future = executor.submit(fn, *args, pure=False)
                else:
                    future = executor.submit(fn, *args)
                return await _outcome(future)
            except Exception as exc:
                if not is_lost_work(exc):
                    raise
                if attempt >= self.attempts:
                    raise WorkerLostError(label or repr(args[:1]), attempt, exc) from exc
                log.warning(
                    "worker lost while scanning %s (%s); submitting again (%d/%d)",
                    label or "a target",
                    type(exc).__name__,
                    attempt + 1,
                    self.attempts,
                )
                self.resubmitted += 1
                self._heal(executor, exc)
        raise AssertionError("unreachable")  # pragma: no cover

    def _heal(self, executor: cf.Executor, exc: BaseException) -> None:
        # Every task of a broken pool fails at once; only the first replaces it (this runs on
        # the event loop thread, with no await between the check and the swap).
        if not isinstance(exc, cf.BrokenExecutor) or executor is not self.current():
            return
        pool_class = _process_pool_class()
        if pool_class is None or not isinstance(executor, pool_class):
            return  # another kind of executor: retrying is all we can do
        self._replacement = _fresh_pool_like(executor)
        self.pools_replaced += 1
        if executor is not self.executor:  # ours: nobody else will shut it down
            executor.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        """Shut down the replacement pool this batch made (never the caller's executor)."""
        pool, self._replacement = self._replacement, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
