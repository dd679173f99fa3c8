"""The sync loop's thread, and how one call crosses to it and back.

:class:`_LoopThread` runs ``anyio.run`` with a ``BlockingPortal`` in a daemon thread. A call
crosses directly (:class:`_Call`): one callback onto the loop starts a task, and the caller
blocks on a per-thread pipe (:class:`_Waker`) that the task's completion writes to -- about a
fifth of the round trip of the portal's own ``start_task_soon``. Long-lived tasks (an iteration's
pump) go through :func:`_submit` instead.

Kept apart from :mod:`modelsec.sync._portal`, which owns the process-wide state around this
mechanism (the one loop, its generation, the handles, shutdown and fork); nothing here is
process-wide except each thread's waker, which a forked child forgets (:func:`_forget_wakers`).

Example:
    >>> owner = _LoopThread()
    >>> portal = owner.start()
    >>> async def answer() -> int:
    ...     return 42
    >>> _Call(answer, owner).wait()
    42
    >>> owner.stop(10)
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable
from concurrent.futures import CancelledError, Future
from inspect import isawaitable
from typing import Any

import anyio
from anyio.from_thread import BlockingPortal

__all__ = ["THREAD_NAME"]

THREAD_NAME = "modelsec-sync-loop"


class _LoopThread:
    """One daemon thread running ``anyio.run`` with a ``BlockingPortal`` until stopped."""

    def __init__(self) -> None:
        self.portal: BlockingPortal | None = None
        self.loop: asyncio.AbstractEventLoop | None = None  # where calls are sent
        self.stopping = False  # calls arriving from now on are refused
        self.error: BaseException | None = None
        self._ready = threading.Event()
        self.thread = threading.Thread(target=self._main, name=THREAD_NAME, daemon=True)

    def _main(self) -> None:
        try:
            anyio.run(self._serve)
        except BaseException as exc:  # surfaced to the starting thread
            self.error = exc
        finally:
            self._ready.set()

    async def _serve(self) -> None:
        async with BlockingPortal() as portal:
            self.loop = asyncio.get_running_loop()
            self.portal = portal
            self._ready.set()
            await portal.sleep_until_stopped()

    def start(self) -> BlockingPortal:
        self.thread.start()
        self._ready.wait()
        if self.portal is None:
            raise RuntimeError("the modelsec sync event loop failed to start") from self.error
        return self.portal

    def stop(self, timeout: float | None) -> None:
        self.stopping = True
        portal = self.portal
        if portal is not None:
            try:
                portal.call(portal.stop, True)
            except RuntimeError:  # already stopped
                pass
        self.thread.join(timeout)


async def _invoke(func: Callable[[], Any]) -> Any:
    # Runs in a task of the loop, so that code needing the current task (anyio, sniffio,
    # cancel scopes) behaves as it does in any async caller.
    result = func()
    if isawaitable(result):
        result = await result
    return result


class _Waker:
    """A pipe one caller thread blocks on (``os.read``) until the loop writes one byte.

    Better than a lock for this hand-off: ``os.write`` releases the GIL before it wakes the
    caller, so the caller runs at once instead of waking only to wait for the loop thread's
    GIL (a convoy that costs two more context switches per call on a busy machine).
    """

    __slots__ = ("busy", "read_fd", "write_fd")

    def __init__(self) -> None:
        self.read_fd, self.write_fd = os.pipe()
        self.busy = False

    def __del__(self) -> None:
        # The last reference is gone (its thread ended, or it was abandoned): nothing will
        # write or read it any more.
        for fd in (self.read_fd, self.write_fd):
            try:
                os.close(fd)
            except Exception:  # already closed, or the interpreter is tearing down
                pass


_wakers = threading.local()


def _waker() -> _Waker:
    waker: _Waker | None = getattr(_wakers, "waker", None)
    if waker is None or waker.busy:  # first call of this thread, or a nested one (a handler)
        waker = _Waker()
        if getattr(_wakers, "waker", None) is None:
            _wakers.waker = waker
    return waker


def _forget_wakers() -> None:
    """In a forked child: the inherited pipes are shared with the parent, take fresh ones."""
    global _wakers
    _wakers = threading.local()


class _Call:
    """One call crossing to the loop: a callback there starts a task, the caller blocks on its
    thread's pipe until the task is done. Two thread hand-offs and nothing else: no
    ``concurrent.futures.Future``/``Condition``, no task group (about a fifth of the portal's
    ``start_task_soon`` round trip)."""

    __slots__ = ("_cancelled", "_func", "_owner", "_task", "_waker", "error", "outcome")

    def __init__(self, func: Callable[[], Any], owner: _LoopThread) -> None:
        self._func = func
        self._owner = owner
        self._waker = _waker()
        self._task: asyncio.Task[Any] | None = None
        self._cancelled = False
        self.outcome: asyncio.Task[Any] | None = None
        self.error: BaseException | None = None

    def start(self) -> None:  # on the loop thread
        try:
            if self._owner.stopping:
                raise RuntimeError("the modelsec sync event loop is shutting down")
            if self._cancelled:
                raise CancelledError()
            assert self._owner.loop is not None
            task = self._owner.loop.create_task(_invoke(self._func))
        except BaseException as exc:
            self.error = exc
            os.write(self._waker.write_fd, b"\0")
            return
        self._task = task
        task.add_done_callback(self._finish)

    def _finish(self, task: asyncio.Task[Any]) -> None:  # on the loop thread
        self.outcome = task
        os.write(self._waker.write_fd, b"\0")

    def _cancel(self) -> None:  # on the loop thread
        self._cancelled = True
        if self._task is not None:
            self._task.cancel()

    def wait(self) -> Any:
        loop = self._owner.loop
        assert loop is not None
        waker = self._waker
        waker.busy = True
        loop.call_soon_threadsafe(self.start)  # RuntimeError once the loop is closed
        try:
            os.read(waker.read_fd, 1)
        except BaseException:
            # KeyboardInterrupt (or similar) while waiting: cancel the task on the loop too.
            # The pipe may still receive this call's byte: this thread takes a fresh one.
            if getattr(_wakers, "waker", None) is waker:
                _wakers.waker = None
            try:
                loop.call_soon_threadsafe(self._cancel)
            except RuntimeError:  # the loop is gone: nothing left to cancel
                pass
            raise
        finally:
            waker.busy = False
        if self.error is not None:
            raise self.error
        task = self.outcome
        assert task is not None
        if task.cancelled():  # the loop was shut down under the call
            raise CancelledError()
        return task.result()  # its exception, unchanged, if it raised


def _submit(func: Callable[[], Any], owner: _LoopThread) -> Future[Any]:
    """Start ``func()`` in a task on the loop; a future to wait on (for long-lived tasks)."""
    assert owner.loop is not None
    coro = _invoke(func)
    try:
        return asyncio.run_coroutine_threadsafe(coro, owner.loop)
    except BaseException:
        coro.close()  # never started: no "was never awaited" warning
        raise
