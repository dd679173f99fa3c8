"""The one event loop behind every sync client (hand-written, not generated).

A process-wide anyio ``BlockingPortal`` runs an event loop in a daemon thread named
``modelsec-sync-loop``. Calls cross to it directly (one callback onto the loop
starts a task; the caller blocks on a per-thread pipe the task's completion writes to): about a
fifth of the round trip of the portal's own ``start_task_soon`` (task group, cancel scope,
futures); the portal still owns the loop's life (start, stop). It starts on first use, is forgotten in a forked child (the thread does
not survive ``fork()``; the child starts its own on first use) and is shut down at exit. Sync
calls hand a coroutine to that loop and block on the result, so they work the same from a plain
script, a worker thread, or a thread whose own loop is running (Jupyter, an ``async def`` route);
``asyncio.run`` / ``run_until_complete`` are never used. The thread and the crossing of one
call live in :mod:`modelsec.sync._crossing`; this module owns the process-wide state.

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
from concurrent.futures import CancelledError
from inspect import isawaitable
from typing import Any, Generic, ParamSpec, TypeVar

import anyio
from anyio.from_thread import BlockingPortal

from modelsec.sync._crossing import (
    THREAD_NAME,
    _Call,
    _forget_wakers,
    _LoopThread,
    _submit,
)

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

P = ParamSpec("P")
T = TypeVar("T")
A = TypeVar("A")

_RUNNING_LOOP_MESSAGE = (
    "a modelsec sync client was called from a thread whose event loop is running; the call "
    "blocks that loop until it returns. In async code (Jupyter cells, 'async def' routes) use "
    "modelsec.AsyncModelSecurityClient and 'await' it instead."
)


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
    global _lock, _loop, _generation
    _lock = threading.Lock()
    _forget_wakers()  # the inherited pipes are shared with the parent
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
