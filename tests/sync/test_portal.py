"""The portal thread: async iterators, fork, shutdown, and no leaked threads or sessions."""

from __future__ import annotations

import gc
import multiprocessing
import threading
import warnings
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor

import anyio
import anyio.lowlevel
import pytest

from modelsec import NotFoundError
from modelsec.sync import ModelSecurityClient, _portal, shutdown

from .conftest import FakeServer, scan_uuid


def loop_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == _portal.THREAD_NAME]


# -- async iterators cross one item at a time, consumed by one task ------------------------------


async def numbers(n: int, log: list[str], fail_at: int | None = None) -> AsyncIterator[int]:
    # A cancel scope that spans the yields: only works if one task drives the generator.
    try:
        with anyio.CancelScope():
            for i in range(n):
                if i == fail_at:
                    raise NotFoundError("gone", status_code=404, body={"detail": "gone"})
                await anyio.lowlevel.checkpoint()
                yield i
    finally:
        log.append("closed")


def test_iterate_yields_every_item() -> None:
    log: list[str] = []
    assert list(_portal.iterate(numbers, 5, log)) == [0, 1, 2, 3, 4]
    assert log == ["closed"]


def test_iterate_early_exit_closes_the_async_iterator() -> None:
    log: list[str] = []
    it = _portal.iterate(numbers, 100, log)
    assert next(it) == 0
    assert next(it) == 1
    it.close()
    assert log == ["closed"]
    log.clear()
    for i in _portal.iterate(numbers, 100, log):
        if i == 3:
            break
    gc.collect()
    assert log == ["closed"]


def test_iterate_reraises_unchanged() -> None:
    log: list[str] = []
    got: list[int] = []
    it = _portal.iterate(numbers, 5, log, fail_at=2)
    got.append(next(it))
    got.append(next(it))
    with pytest.raises(NotFoundError, match="gone") as info:
        next(it)
    assert got == [0, 1]
    assert info.value.status_code == 404
    assert log == ["closed"]


def test_iterate_awaited() -> None:
    async def make() -> AsyncIterator[int]:
        return numbers(3, [])

    assert list(_portal.iterate_awaited(make)) == [0, 1, 2]


# -- fork ------------------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # fork() of a threaded process
def test_forked_child_gets_its_own_loop(fake: FakeServer) -> None:
    client = ModelSecurityClient(**fake.client_kwargs())
    try:
        assert client.scans.get(scan_uuid(1)).uuid == scan_uuid(1)  # the parent used it
        parent_loop = loop_threads()
        assert len(parent_loop) == 1
        ctx = multiprocessing.get_context("fork")
        receiver, sender = ctx.Pipe(duplex=False)

        def child() -> None:
            try:
                uuid = client.scans.get(scan_uuid(7)).uuid
                pages = len(client.scans.list(limit=10).to_list())
                threads = [t.name for t in threading.enumerate()]
                # pthread idents can repeat across fork; kernel thread ids cannot.
                fresh = loop_threads()[0].native_id != parent_loop[0].native_id
                client.close()
                shutdown()
                sender.send(("ok", uuid, pages, threads.count(_portal.THREAD_NAME), fresh))
            except BaseException as exc:
                sender.send(("error", repr(exc)))

        proc = ctx.Process(target=child)
        proc.start()
        assert receiver.poll(20), "the forked child hung"
        result = receiver.recv()
        proc.join(10)
        assert result == ("ok", scan_uuid(7), 25, 1, True), result
        assert proc.exitcode == 0
        # The parent is unaffected and still uses its own loop and session.
        assert client.scans.get(scan_uuid(2)).uuid == scan_uuid(2)
        assert loop_threads() == parent_loop
        assert fake.token_calls == 2  # one for the parent, one for the child's new client
    finally:
        client.close()


# -- shutdown and leaks ------------------------------------------------------------------------


def _use_from_threads_then_close(fake: FakeServer) -> None:
    client = ModelSecurityClient(**fake.client_kwargs())

    def get(i: int) -> str:
        return client.scans.get(scan_uuid(i)).uuid

    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(get, range(8))) == [scan_uuid(i) for i in range(8)]
    assert len(client.scans.list(limit=10).to_list()) == 25
    transport = client._async._transport
    client.close()
    assert not transport.has_open_session


def test_no_thread_or_session_left_after_close_and_shutdown(fake: FakeServer) -> None:
    shutdown()
    gc.collect()
    baseline = set(threading.enumerate())
    assert not loop_threads()

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _use_from_threads_then_close(fake)
        shutdown()
        gc.collect()
    assert not [w for w in caught if issubclass(w.category, ResourceWarning)]
    assert set(threading.enumerate()) == baseline
    assert not loop_threads()


def test_shutdown_closes_open_clients_and_a_new_loop_starts_later(fake: FakeServer) -> None:
    client = ModelSecurityClient(**fake.client_kwargs())
    client.scans.get(scan_uuid(0))
    transport = client._async._transport
    first = loop_threads()
    shutdown()
    assert not transport.has_open_session  # shutdown closed the forgotten client
    assert not loop_threads()
    assert not first[0].is_alive()
    with ModelSecurityClient(**fake.client_kwargs()) as again:  # a new loop on first use
        assert again.scans.get(scan_uuid(2)).uuid == scan_uuid(2)
        assert len(loop_threads()) == 1
    shutdown()


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # fork() of a threaded process
def test_a_page_made_before_a_fork_walks_its_pages_in_the_child(fake: FakeServer) -> None:
    client = ModelSecurityClient(**fake.client_kwargs())
    try:
        page = client.scans.list(limit=10)  # first page fetched by the parent
        assert len(page.items) == 10
        ctx = multiprocessing.get_context("fork")
        receiver, sender = ctx.Pipe(duplex=False)

        def child() -> None:
            try:
                # The parent's loop and session do not exist here: the next pages come from
                # the client rebuilt on the child's own loop.
                uuids = [s.uuid for s in page]
                nxt = page.next_page()
                client.close()
                shutdown()
                sender.send(("ok", len(uuids), len(set(uuids)), nxt is not None))
            except BaseException as exc:
                sender.send(("error", repr(exc)))

        proc = ctx.Process(target=child)
        proc.start()
        assert receiver.poll(20), "the forked child hung"
        result = receiver.recv()
        proc.join(10)
        assert result == ("ok", 25, 25, True), result
        assert proc.exitcode == 0
        assert len(page.to_list()) == 25  # the parent's page still works on the parent's loop
    finally:
        client.close()


# -- the hop: interrupts and shutdown never leave a caller or a task behind -------------------


class _Interrupted(Exception):
    pass


def test_an_interrupted_caller_cancels_its_task_on_the_loop() -> None:
    import signal
    import time

    cancelled = threading.Event()

    async def slow() -> None:
        try:
            await anyio.sleep(30)
        except BaseException:
            cancelled.set()
            raise

    def interrupt(*_: object) -> None:
        raise _Interrupted

    previous = signal.signal(signal.SIGUSR1, interrupt)
    main = threading.get_ident()
    timer = threading.Timer(0.2, signal.pthread_kill, (main, signal.SIGUSR1))
    try:
        timer.start()
        started = time.monotonic()
        with pytest.raises(_Interrupted):
            _portal.run(slow)
        assert time.monotonic() - started < 20
        assert cancelled.wait(10), "the task kept running on the loop"
        # The interrupted call's late wake-up never reaches the next calls of this thread.
        assert [_portal.run(echo, i) for i in range(3)] == [0, 1, 2]
    finally:
        timer.cancel()
        signal.signal(signal.SIGUSR1, previous)


async def echo(value: int) -> int:
    await anyio.lowlevel.checkpoint()
    return value


def test_threads_that_end_leave_no_file_descriptor_behind() -> None:
    import os

    def count() -> int:
        gc.collect()
        return len(os.listdir("/proc/self/fd"))

    _portal.run(echo, 0)  # the loop and this thread's waker exist before counting
    before = count()
    for _ in range(3):
        with ThreadPoolExecutor(8) as pool:
            assert list(pool.map(lambda i: _portal.run(echo, i), range(32))) == list(range(32))
    assert count() <= before + 2


def test_a_call_in_flight_when_the_loop_shuts_down_ends() -> None:
    from concurrent.futures import CancelledError

    outcome: list[BaseException | None] = []
    entered = threading.Event()

    async def slow() -> None:
        entered.set()
        await anyio.sleep(30)

    def caller() -> None:
        try:
            _portal.run(slow)
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=caller)
    thread.start()
    assert entered.wait(10)
    shutdown()
    thread.join(10)
    assert not thread.is_alive(), "the caller hung after shutdown"
    assert len(outcome) == 1 and isinstance(outcome[0], CancelledError), outcome
    assert _portal.run(anyio.sleep, 0) is None  # a new loop serves later calls
