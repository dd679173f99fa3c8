"""The one event loop behind every sync client (hand-written, not generated).

A process-wide anyio ``BlockingPortal`` runs an event loop in a daemon thread named
``modelsec-sync-loop``. Calls cross to it directly (one callback onto the loop
starts a task; the caller blocks on a per-thread pipe the task's completion writes to): about a
fifth of the round trip of the portal's own ``start_task_soon`` (task group, cancel scope,
futures); the portal still owns the loop's life (start, stop). It starts on first use, is forgotten in a forked child (the thread does
not survive ``fork()``; the child starts its own on first use) and is shut down at exit. Sync
calls hand a coroutine to that loop and block on the result, so they work the same from a plain
script, a worker thread, or a thread whose own loop is running (Jupyter, an ``async def`` route);
``asyncio.run`` / ``run_until_complete`` are never used.

Each sync client owns an :class:`AsyncHandle`: its own async client, created on the portal loop
and never shared with the caller's loop. A handle notices (by a generation number) that the loop
it was built on is gone, after a fork, and builds a fresh async client on the new loop.

A sync client that is never closed is closed for its owner, quietly and on the portal loop (the
only thread that may touch its sockets): when it is garbage collected, or at exit. One
``ResourceWarning`` per process says so (shown under ``python -X dev`` or ``-W default``).

Example:
    >>> from modelsec.sync import _portal
    >>> async def answer() -> int:
    ...     return 42
    >>> _portal.run(answer)
    42
"""

from __future__ import annotations

import asyncio
import atexit
import collections
import functools
import os
import threading
import warnings
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import CancelledError, Future
from inspect import isawaitable
from typing import Any, Generic, ParamSpec, TypeVar

import anyio
from anyio.from_thread import BlockingPortal

__all__ = [
    "THREAD_NAME",
    "AsyncHandle",
    "call",
    "generation",
    "get_portal",
    "iterate",
    "run",
    "shutdown",
]

THREAD_NAME = "modelsec-sync-loop"

P = ParamSpec("P")
T = TypeVar("T")
A = TypeVar("A")

_RUNNING_LOOP_MESSAGE = (
    "a modelsec sync client was called from a thread whose event loop is running; the call "
    "blocks that loop until it returns. In async code (Jupyter cells, 'async def' routes) use "
    "modelsec.AsyncModelSecurityClient and 'await' it instead."
)


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


_lock = threading.Lock()
_loop: _LoopThread | None = None
_generation = 0
_warned_running_loop = False
# Every live handle; shutdown() closes the async clients of the owners still open.
_handles: weakref.WeakSet[AsyncHandle[Any]] = weakref.WeakSet()
# Objects inherited from the parent in a forked child: kept alive, never closed or collected
# there (their sockets and loop belong to the parent).
_fork_orphans: list[object] = []
# Transports of the sync clients' async clients (see adopt()), and the closes scheduled for
# those collected unclosed; shutdown() finishes both.
_adopted: weakref.WeakSet[Any] = weakref.WeakSet()
_closing: set[asyncio.Task[Any]] = set()
_warned_unclosed = False
_UNCLOSED_MESSAGE = (
    "a modelsec.ModelSecurityClient was not closed; modelsec closed it {when}. Use "
    "'with ModelSecurityClient() as client:' or call client.close() when done with it."
)


def generation() -> int:
    """A number that changes whenever the loop a handle was built on can no longer be used."""
    return _generation


def get_portal() -> BlockingPortal:
    """The process-wide portal, starting its thread on first use."""
    loop = _loop
    if loop is not None and loop.portal is not None:
        return loop.portal
    return _start()


def _start() -> BlockingPortal:
    global _loop, _generation
    with _lock:
        if _loop is not None and _loop.portal is not None:
            return _loop.portal
        loop = _LoopThread()
        portal = loop.start()
        _loop = loop
        _generation += 1
        return portal


def _check_caller() -> None:
    global _warned_running_loop
    loop = _loop
    if loop is not None and loop.thread.ident == threading.get_ident():
        raise RuntimeError(
            "a modelsec sync client cannot be called from its own event loop thread; "
            "use the async client there"
        )
    if _warned_running_loop:
        return
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    _warned_running_loop = True
    warnings.warn(_RUNNING_LOOP_MESSAGE, RuntimeWarning, stacklevel=4)


def _loop_thread() -> _LoopThread:
    """The running sync loop, starting its thread on first use."""
    while True:
        loop = _loop
        if loop is not None and loop.loop is not None:
            return loop
        _start()


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


def _wait(func: Callable[[], Any], owner: _LoopThread | None = None) -> Any:
    _check_caller()
    return _Call(func, owner or _loop_thread()).wait()


def run(fn: Callable[P, Awaitable[T]], /, *args: P.args, **kwargs: P.kwargs) -> T:
    """Await ``fn(*args, **kwargs)`` on the portal loop and return its result (or raise its
    exception unchanged).

    Example:
        >>> import anyio
        >>> run(anyio.sleep, 0)
    """
    result: T = _wait(functools.partial(fn, *args, **kwargs))
    return result


def call(fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
    """Call a plain function on the portal loop's thread and return its result.

    Example:
        >>> call(threading.current_thread).name
        'modelsec-sync-loop'
    """
    result: T = _wait(functools.partial(fn, *args, **kwargs))
    return result


def iterate(fn: Callable[P, AsyncIterator[T]], /, *args: P.args, **kwargs: P.kwargs) -> Iterator[T]:
    """Iterate ``fn(*args, **kwargs)`` (an async iterator) from a sync thread.

    The async iterator is created and consumed by a single task on the portal loop (so task
    groups and cancel scopes inside an async generator stay in one task) and handed over one
    item per portal crossing. Leaving the loop early closes the async iterator on the loop.

    Callbacks passed as keyword arguments named ``on_*`` (``on_progress=``) run in the thread
    that iterates, not on the loop: a call the async iterator makes is queued and run just
    before the next item is handed over (or the iteration ends), in order; an exception it
    raises ends the iteration in the caller, as it would have ended the async iterator.

    Example:
        >>> async def count():
        ...     for i in range(3):
        ...         yield i
        >>> list(iterate(count))
        [0, 1, 2]
    """
    calls: collections.deque[tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]] = (
        collections.deque()
    )
    deferred = {
        name: _defer(value, calls)
        for name, value in kwargs.items()
        if name.startswith("on_") and callable(value)
    }
    call_kwargs: Any = {**kwargs, **deferred}
    return _iterate(functools.partial(fn, *args, **call_kwargs), calls)


def _defer(
    fn: Callable[..., Any],
    calls: collections.deque[tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]],
) -> Callable[..., None]:
    def queued(*args: Any, **kwargs: Any) -> None:
        calls.append((fn, args, kwargs))

    return queued


def _take_queued(
    calls: collections.deque[tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]] | None,
) -> list[tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]]:
    taken = []
    while calls:
        taken.append(calls.popleft())
    return taken


def _run_calls(taken: list[tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]]) -> None:
    for fn, args, kwargs in taken:
        fn(*args, **kwargs)


def iterate_awaited(
    fn: Callable[P, Awaitable[AsyncIterator[T]]], /, *args: P.args, **kwargs: P.kwargs
) -> Iterator[T]:
    """Like :func:`iterate` for a coroutine function that returns an async iterator."""
    return _iterate(functools.partial(fn, *args, **kwargs))


def _iterate(
    make: Callable[[], Any],
    calls: collections.deque[tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]]
    | None = None,
) -> Iterator[Any]:
    send, receive = anyio.create_memory_object_stream[Any](0)

    async def pump() -> None:
        source: Any = None
        try:
            async with send:
                source = make()
                if isawaitable(source):
                    source = await source
                async for item in source:
                    # The callbacks made before this item travel with it: taken here, on the
                    # loop, so a callback made after the hand-over (for the next item) cannot be
                    # run early by the iterating thread.
                    before = _take_queued(calls)
                    await send.send((item, before))
        except anyio.BrokenResourceError:
            pass  # the sync side stopped early
        finally:
            # Not shielded: a generator that yields inside its own cancel scope would have that
            # scope exited under ours. Early exit closes the stream, it does not cancel us.
            aclose = getattr(source, "aclose", None)
            if aclose is not None:
                await aclose()

    _check_caller()
    # One loop for the whole iteration: cleaning up after shutdown() must not start another.
    loop = _loop_thread()
    future = _submit(pump, loop)
    finished = False
    try:
        while True:
            try:
                item, before = _wait(receive.receive, loop)
            except anyio.EndOfStream:
                break
            _run_calls(before)  # the callbacks made before this item, in this thread
            yield item
        _run_calls(_take_queued(calls))  # those made after the last item
        finished = True
        future.result()  # re-raise what the async iterator raised, unchanged
    finally:
        try:
            _wait(receive.close, loop)
            if not finished:
                future.exception()  # wait for the pump (and aclose) to finish
        except (RuntimeError, CancelledError):  # the portal is gone: nothing runs any more
            receive.close()
            send.close()


class AsyncHandle(Generic[A]):
    """The async object behind a sync client, rebuilt when its loop is gone (after a fork).

    ``build`` runs in the calling thread and may use :func:`call` / :func:`run`; it is re-run
    in a forked child on first use there. Owner handles (root clients) are closed by
    :func:`shutdown` if still open.

    Example:
        >>> handle = AsyncHandle(lambda: call(dict, a=1))
        >>> handle.get()
        {'a': 1}
    """

    def __init__(self, build: Callable[[], A], *, owner: bool = False) -> None:
        self._build = build
        self._lock = threading.Lock()
        self._generation = -1
        self._value: A | None = None
        self.closed = False
        self.owner = owner
        self.get()
        _handles.add(self)

    def get(self) -> A:
        """The async object, built (or rebuilt on a new loop) if need be."""
        value = self._value
        if value is not None and (self._generation == _generation or self.closed):
            return value
        return self._rebuild()

    def _rebuild(self) -> A:
        with self._lock:
            if self._value is not None and self._generation == _generation:
                return self._value
            if self._value is not None:
                _fork_orphans.append(self._value)
            self._value = None
            value = self._build()
            self._value = value
            self._generation = _generation
            return value

    def derive(self, fn: Callable[[A], A | Awaitable[A]]) -> AsyncHandle[A]:
        """A handle whose object is ``fn(this handle's object)``, computed on the loop."""

        def build() -> A:
            parent = self.get()
            result: A = _wait(functools.partial(fn, parent))
            return result

        return AsyncHandle(build)

    def current(self) -> A | None:
        """The object if it lives on the current loop (for shutdown), else None."""
        if self._generation == _generation:
            return self._value
        return None


def _warn_unclosed(when: str, stacklevel: int) -> None:
    global _warned_unclosed
    if not _warned_unclosed:
        _warned_unclosed = True
        message = _UNCLOSED_MESSAGE.format(when=when)
        warnings.warn(message, ResourceWarning, stacklevel=stacklevel + 1)


def adopt(client: Any) -> None:
    """Make a sync client's async client (built on the portal loop) close itself if abandoned.

    Called on the portal loop. Its transport closes its session on this loop when it is
    collected unclosed, instead of aiohttp printing ``Unclosed client session`` (and, under
    ``-X dev``, failing on a cross-thread call) from whichever thread collected it.
    """
    transport = getattr(client, "_transport", None)
    if transport is not None and hasattr(transport, "on_abandoned"):
        transport.on_abandoned = functools.partial(_close_abandoned, asyncio.get_running_loop())
        _adopted.add(transport)


def _close_abandoned(loop: asyncio.AbstractEventLoop, session: Any) -> None:
    # Runs in a weakref finalizer, in any thread: hand the close to the session's own loop.
    if session.closed:
        return
    try:
        loop.call_soon_threadsafe(_start_close, session)
    except RuntimeError:  # that loop is closed: nothing can close the session cleanly
        return
    # Attributed to the code that dropped the last reference (past weakref's frame).
    _warn_unclosed("when it was garbage collected", stacklevel=3)


def _start_close(session: Any) -> None:
    task = asyncio.get_running_loop().create_task(session.close())
    _closing.add(task)
    task.add_done_callback(_closing.discard)


async def _finish_closing() -> None:
    if _closing:
        await asyncio.gather(*_closing, return_exceptions=True)


def _close_adopted(portal: BlockingPortal) -> None:
    """At shutdown: close the sessions of sync clients still open, and finish pending closes."""
    still_open = [t for t in list(_adopted) if t.has_open_session]
    for transport in still_open:
        try:
            portal.call(transport.close)
        except Exception:  # best effort at exit
            pass
    try:
        portal.call(_finish_closing)
    except Exception:
        pass
    if still_open:
        try:
            _warn_unclosed("at exit", stacklevel=2)
        except Exception:  # warnings turned into errors: the closing above is what matters
            pass


def shutdown(timeout: float | None = 10.0) -> None:
    """Close every open sync client's async client and stop the sync event loop thread.

    Runs at interpreter exit; call it yourself to release the thread earlier. A later sync call
    starts a new loop (clients closed here stay closed).

    Example:
        >>> import modelsec.sync
        >>> modelsec.sync.shutdown()
    """
    global _loop, _generation
    with _lock:
        loop = _loop
        if loop is None:
            return
        portal = loop.portal
        if portal is not None:
            _close_adopted(portal)  # first, so that it sees (and warns of) what was left open
            for handle in list(_handles):
                value = handle.current()
                close = getattr(value, "close", None)
                if not handle.owner or handle.closed or close is None:
                    continue
                handle.closed = True
                try:
                    portal.call(close)
                except Exception:  # best effort at exit
                    pass
        loop.stop(timeout)
        _loop = None
        _generation += 1


def _after_fork_in_child() -> None:
    # The loop thread does not exist in the child: forget it (keeping the objects alive, so
    # nothing tries to close the parent's sockets from here) and start afresh on first use.
    global _lock, _loop, _generation, _wakers
    _lock = threading.Lock()
    _wakers = threading.local()  # the inherited pipes are shared with the parent
    if _loop is not None:
        _fork_orphans.append(_loop)
    _loop = None
    _generation += 1
    for handle in list(_handles):
        handle._lock = threading.Lock()
    _adopted.clear()  # the parent's: never closed from here
    _closing.clear()


os.register_at_fork(after_in_child=_after_fork_in_child)
atexit.register(shutdown)
